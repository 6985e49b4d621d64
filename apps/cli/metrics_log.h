/* OUT/metrics.jsonl of train and pretrain (metrics_log.c). */
#ifndef APPS_CLI_METRICS_LOG_H
#define APPS_CLI_METRICS_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "tensor/pt_status.h"

/* OUT/metrics.jsonl. A failed write warns once (pt_warn) and later lines are
 * dropped; training is not stopped for it. */
typedef struct {
  FILE *f;
  char path[4200];
  bool failed;
} metrics_log;

/* Opens PATH fresh (resume_step < 0) or, for a resumed run, keeps the lines
 * up to resume_step and appends. Close with metrics_log_close. */
pt_status metrics_log_open(metrics_log *l, const char *path, int64_t resume_step);
/* Writes one line (fmt includes the newline) and flushes it. */
void metrics_log_printf(metrics_log *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void metrics_log_close(metrics_log *l);

#endif
