/* Training curves: the numbers of metrics.jsonl lines against their "step",
 * one series per key, gathered into panels and drawn by plot_svg. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "apps/cli/plot.h"

/* One series being read: (step, value) pairs. */
typedef struct {
  const char *label; /* borrowed: a panel label or a key of the metrics lines */
  char *key;         /* owned copy of the key */
  double *x, *y;
  int64_t n, cap;
} series;

typedef struct {
  series *s;
  int n, cap;
} series_list;

static series *find_or_add(series_list *l, const char *key, const char *label) {
  for (int i = 0; i < l->n; i++)
    if (!strcmp(l->s[i].key, key)) return &l->s[i];
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 8;
    series *s = realloc(l->s, sizeof *s * (size_t)cap);
    if (!s) return NULL;
    l->s = s;
    l->cap = cap;
  }
  series *s = &l->s[l->n];
  memset(s, 0, sizeof *s);
  if (!(s->key = strdup(key))) return NULL;
  s->label = label ? label : s->key;
  l->n++;
  return s;
}

static pt_status add_point(series *s, double x, double y) {
  if (s->n == s->cap) {
    int64_t cap = s->cap ? 2 * s->cap : 256;
    double *nx = realloc(s->x, sizeof *nx * (size_t)cap);
    if (nx) s->x = nx;
    double *ny = nx ? realloc(s->y, sizeof *ny * (size_t)cap) : NULL;
    if (ny) s->y = ny;
    if (!nx || !ny) return pt_error(PT_ERR_NOMEM, "curves: out of memory");
    s->cap = cap;
  }
  s->x[s->n] = x;
  s->y[s->n++] = y;
  return PT_OK;
}

static void series_free(series_list *l) {
  for (int i = 0; i < l->n; i++) {
    free(l->s[i].key);
    free(l->s[i].x);
    free(l->s[i].y);
  }
  free(l->s);
}

/* The values of one metrics line for panel p, added to its series. */
static pt_status read_line(const json_t *j, const curve_panel *p, series_list *l) {
  const json_t *step = json_object_get(j, "step");
  if (!json_is_integer(step)) return PT_OK; /* a summary */
  double x = (double)json_integer_value(step);
  if (p->object) {
    const json_t *o = json_object_get(j, p->object), *v;
    const char *key;
    json_object_foreach((json_t *)o, key, v) {
      if (!json_is_real(v)) continue; /* counts (support, total) are integers */
      series *s = find_or_add(l, key, NULL);
      if (!s) return pt_error(PT_ERR_NOMEM, "curves: out of memory");
      PT_TRY(add_point(s, x, json_real_value(v)));
    }
    return PT_OK;
  }
  for (int k = 0; p->keys[k]; k++) {
    series *s = find_or_add(l, p->keys[k], p->labels ? p->labels[k] : NULL);
    if (!s) return pt_error(PT_ERR_NOMEM, "curves: out of memory");
    const json_t *v = json_object_get(j, p->keys[k]);
    if (json_is_number(v)) PT_TRY(add_point(s, x, json_number_value(v)));
  }
  return PT_OK;
}

static const char *const colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                     "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

pt_status curves_svg(const char *metrics, const char *svg, const curve_panel *panels, int n) {
  struct stat sb;
  if (stat(metrics, &sb) != 0 || !S_ISREG(sb.st_mode))
    return pt_error(PT_ERR_IO, "%s: not a regular file", metrics);
  FILE *f = fopen(metrics, "rb");
  if (!f) return pt_error(PT_ERR_IO, "%s: cannot open", metrics);
  series_list *lists = calloc((size_t)n, sizeof *lists);
  pt_status st = lists ? PT_OK : pt_error(PT_ERR_NOMEM, "curves: out of memory");
  char *line = NULL;
  size_t cap = 0;
  while (st == PT_OK && getline(&line, &cap, f) > 0) {
    json_t *j = json_loads(line, 0, NULL);
    for (int p = 0; j && st == PT_OK && p < n; p++) st = read_line(j, &panels[p], &lists[p]);
    json_decref(j);
  }
  free(line);
  fclose(f);
  int total = 0;
  for (int p = 0; st == PT_OK && p < n; p++) total += lists[p].n;
  plot_series *ps = st == PT_OK ? calloc((size_t)total + 1, sizeof *ps) : NULL;
  plot_panel *pp = st == PT_OK ? calloc((size_t)n, sizeof *pp) : NULL;
  if (st == PT_OK && (!ps || !pp)) st = pt_error(PT_ERR_NOMEM, "curves: out of memory");
  for (int p = 0, k = 0; st == PT_OK && p < n; p++) {
    pp[p] = (plot_panel){panels[p].title, panels[p].ylabel, ps + k, lists[p].n};
    for (int i = 0; i < lists[p].n; i++, k++) {
      const series *s = &lists[p].s[i];
      ps[k] = (plot_series){s->label, colors[i % 10], s->x, s->y, s->n};
    }
  }
  if (st == PT_OK) st = plot_svg(svg, "step", pp, n);
  free(ps);
  free(pp);
  for (int p = 0; lists && p < n; p++) series_free(&lists[p]);
  free(lists);
  return st;
}
