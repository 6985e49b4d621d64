/* Progress of long work on stderr (progress.c): a redrawn bar on a terminal,
 * plain lines otherwise. */
#ifndef APPS_CLI_PROGRESS_H
#define APPS_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "apps/cli/timing.h"

typedef struct {
  FILE *f;
  bool tty, quiet, done;
  int64_t total;
  double t0, last_draw;
  int64_t start_step;
  int64_t tokens;
} progress;

void progress_init(progress *p, FILE *f, int64_t total, int64_t start_step, bool quiet);
/* Redraws the bar (tty) or prints a line (log == true, otherwise). */
void progress_update(progress *p, int64_t step, double loss, double lr, bool log);
void progress_line(progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Ends the bar (a no-op after the first call). */
void progress_done(progress *p);

#endif
