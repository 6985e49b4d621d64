/* Line plots written as SVG text by hand: panels stacked top to bottom,
 * each a frame with ticks and labels, one polyline per series and a legend
 * (the training curves of `ptune train` and `ptune pretrain`). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/cli/plot.h"
#include "tensor/pt_file.h"

/* A "nice" tick step (1, 2 or 5 x 10^k) giving about `n` ticks over span. */
static double nice_step(double span, int n) {
  double raw = span / n, p = pow(10, floor(log10(raw))), f = raw / p;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

#define W 720.0
#define PANEL_H 440.0

/* Panel p at vertical offset top. */
static void panel(FILE *f, const plot_panel *p, const char *xlabel, double top) {
  const plot_series *s = p->series;
  int ns = p->n_series;
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (int k = 0; k < ns; k++)
    for (int64_t i = 0; i < s[k].n; i++) {
      if (!isfinite(s[k].x[i]) || !isfinite(s[k].y[i])) continue;
      x0 = fmin(x0, s[k].x[i]);
      x1 = fmax(x1, s[k].x[i]);
      y0 = fmin(y0, s[k].y[i]);
      y1 = fmax(y1, s[k].y[i]);
    }
  if (!(x0 <= x1)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (x1 - x0 < 1e-12) x1 = x0 + 1;
  if (y1 - y0 < 1e-12) y0 -= 0.5, y1 += 0.5;
  double ys = nice_step(y1 - y0, 6), xs = nice_step(x1 - x0, 6);
  y0 = floor(y0 / ys) * ys;
  y1 = ceil(y1 / ys) * ys;
  const double Hh = PANEL_H, L = 70, R = 20, T = top + 40, B = 60;
  double pw = W - L - R, ph = Hh - 40 - B;
#define PX(x) (L + ((x) - x0) / (x1 - x0) * pw)
#define PY(y) (T + (1 - ((y) - y0) / (y1 - y0)) * ph)
  fprintf(f,
          "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\" font-size=\"15\">%s</text>\n"
          "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" stroke=\"black\"/>\n",
          W / 2, top + 22, p->title, L, T, pw, ph);
  for (double y = y0; y <= y1 + ys * 1e-6; y += ys)
    fprintf(f,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
            L, PY(y), L + pw, PY(y), L - 6, PY(y) + 4, fabs(y) < ys * 1e-6 ? 0 : y);
  for (double x = ceil(x0 / xs) * xs; x <= x1 + xs * 1e-6; x += xs)
    fprintf(f,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>"
            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n",
            PX(x), T + ph, PX(x), T + ph + 5, PX(x), T + ph + 18, x);
  fprintf(f,
          "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">%s</text>\n"
          "<text x=\"16\" y=\"%g\" text-anchor=\"middle\" transform=\"rotate(-90 16 %g)\">%s</text>\n",
          L + pw / 2, top + Hh - 14, xlabel, T + ph / 2, T + ph / 2, p->ylabel);
  size_t longest = 0; /* the legend ends inside the frame: ~7 px a character */
  for (int k = 0; k < ns; k++) longest = strlen(s[k].label) > longest ? strlen(s[k].label) : longest;
  double lx = L + pw - 40 - 7.0 * (double)longest;
  for (int k = 0; k < ns; k++) {
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", s[k].color);
    for (int64_t i = 0; i < s[k].n; i++)
      if (isfinite(s[k].x[i]) && isfinite(s[k].y[i]))
        fprintf(f, "%.1f,%.1f ", PX(s[k].x[i]), PY(s[k].y[i]));
    fprintf(f, "\"/>\n");
    double ly = T + 16 + 18 * k;
    fprintf(f,
            "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"%s\" stroke-width=\"2\"/>"
            "<text x=\"%g\" y=\"%g\">%s</text>\n",
            lx, ly, lx + 25, ly, s[k].color, lx + 32, ly + 4, s[k].label);
  }
#undef PX
#undef PY
}

pt_status plot_svg(const char *path, const char *xlabel, const plot_panel *panels, int n) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f) return pt_error(PT_ERR_NOMEM, "%s: out of memory", path);
  fprintf(f,
          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" "
          "font-family=\"sans-serif\" font-size=\"12\">\n"
          "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
          W, PANEL_H * n);
  for (int i = 0; i < n; i++) panel(f, &panels[i], xlabel, PANEL_H * i);
  fprintf(f, "</svg>\n");
  fclose(f);
  pt_status st = pt_write_file_atomic(path, buf, len);
  free(buf);
  return st;
}
