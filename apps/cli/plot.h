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

/* One chart: a title, the y axis label and its series. */
typedef struct {
  const char *title, *ylabel;
  const plot_series *series;
  int n_series;
} plot_panel;

/* Writes the panels, stacked top to bottom, as one SVG (axes with ticks,
 * one polyline per series, a legend) to `path`, atomically. */
pt_status plot_svg(const char *path, const char *xlabel, const plot_panel *panels, int n);

/* ---- curves.c: training curves from metrics.jsonl ---- */

/* A panel of curves: the numbers `keys` (NULL-terminated; legend `labels`)
 * of the metrics lines, or with `object` every real number inside that
 * object of the lines ("eval": the dev metrics), plotted against "step". */
typedef struct {
  const char *title, *ylabel;
  const char *const *keys, *const *labels;
  const char *object;
} curve_panel;

/* Reads metrics.jsonl at `metrics` and plots the panels to `svg`. */
pt_status curves_svg(const char *metrics, const char *svg, const curve_panel *panels, int n);

#endif
