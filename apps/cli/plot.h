/* SVG line plots of training curves (plot_svg.c). */
#ifndef APPS_CLI_PLOT_H
#define APPS_CLI_PLOT_H

#include <stdint.h>

#include "tensor/pt_status.h"

typedef struct {
  const char *label, *color;
  const double *x, *y;
  int64_t n;
} plot_series;

/* Writes an SVG line plot (axes with ticks, one polyline per series, a
 * legend) to `path`, atomically. */
pt_status plot_svg(const char *path, const char *title, const char *xlabel, const char *ylabel,
                      const plot_series *s, int ns);

#endif
