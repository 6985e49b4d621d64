/* Wall-clock seconds and medians, for progress and the benchmarks
 * (timing.c). */
#ifndef APPS_CLI_TIMING_H
#define APPS_CLI_TIMING_H

/* Seconds on the monotonic clock. */
double seconds_now(void);
/* The median of x[0..n) (n >= 1); sorts x in place, ascending. */
double median(double *x, int n);

#endif
