/* Training progress: on a terminal one redrawn line (bar, step/total, loss,
 * lr, tokens/s, ETA), redrawn at most 10 times a second; otherwise a plain
 * line per logged step. */
#include <stdarg.h>
#include <time.h>
#include <unistd.h>

#include "apps/cli/progress.h"

void progress_init(progress *p, FILE *f, int64_t total, int64_t start_step, bool quiet) {
  p->f = f;
  p->tty = isatty(fileno(f));
  p->quiet = quiet;
  p->total = total;
  p->t0 = seconds_now();
  p->last_draw = 0;
  p->start_step = start_step;
  p->tokens = 0;
  p->done = false;
}

static void eta_str(double s, char *buf, size_t cap) {
  long t = (long)(s + 0.5);
  snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
}

void progress_update(progress *p, int64_t step, double loss, double lr, bool log) {
  if (p->quiet || (!p->tty && !log)) return;
  double now = seconds_now(), el = now - p->t0;
  if (p->tty && step < p->total && now - p->last_draw < 0.1) return; /* 10 redraws/s at most */
  p->last_draw = now;
  int64_t done = step - p->start_step;
  double tps = el > 0 ? (double)p->tokens / el : 0;
  double eta = done > 0 ? el / (double)done * (double)(p->total - step) : 0;
  char es[32];
  eta_str(eta, es, sizeof es);
  if (p->tty) {
    int width = 24, fill = p->total > 0 ? (int)(width * step / p->total) : 0;
    char bar[32];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    fprintf(p->f, "\r[%s] %lld/%lld loss %.4f lr %.3g %.0f tok/s ETA %s ", bar, (long long)step,
            (long long)p->total, loss, lr, tps, es);
  } else {
    fprintf(p->f, "step %lld/%lld loss %.4f lr %.3g %.0f tok/s ETA %s\n", (long long)step,
            (long long)p->total, loss, lr, tps, es);
  }
  fflush(p->f);
}

void progress_line(progress *p, const char *fmt, ...) {
  if (p->quiet) return;
  if (p->tty && !p->done) fputc('\n', p->f);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(p->f, fmt, ap);
  va_end(ap);
  fputc('\n', p->f);
  fflush(p->f);
}

void progress_done(progress *p) {
  if (!p->quiet && p->tty && !p->done) fputc('\n', p->f);
  p->done = true;
}
