/* Prediction files for `ptune predict`: CoNLL with a predicted-tag column
 * (ner) and JSON Lines of {idx, label} (cls, mc), written atomically. */
#include <stdlib.h>
#include <string.h>

#include "apps/tasks/data.h"
#include "apps/tasks/lines.h"
#include "tensor/pt_file.h"

typedef struct {
  char *p;
  size_t n, cap;
} buffer;

static pt_status put(buffer *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return pt_error(PT_ERR_NOMEM, "predictions: out of memory for %zu bytes", cap);
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
  return PT_OK;
}

static pt_status puts_(buffer *b, const char *s) { return put(b, s, strlen(s)); }

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

static pt_status check_tag(const char *t, int64_t i, int64_t j) {
  if (!t || !t[0] || strpbrk(t, " \t\n"))
    return pt_error(PT_ERR_ARG, "predictions: sentence %lld word %lld has an empty or blank tag",
                    (long long)i, (long long)j);
  return PT_OK;
}

/* The CoNLL source again, with pred appended to each word line. */
static pt_status conll_copy(const sentence_set *set, char **const *pred, buffer *b) {
  line_reader r;
  PT_TRY(lines_open(&r, set->path));
  pt_status st = PT_OK;
  int64_t i = 0, j = 0; /* next sentence / word */
  for (;;) {
    size_t len;
    bool eof;
    if ((st = lines_next(&r, &len, &eof)) != PT_OK || eof) break;
    char *line = r.buf;
    const char *first = line + strspn(line, " \t"); /* the reader's first column */
    size_t k = strcspn(first, " \t");
    bool word = k > 0 && !(k == 10 && strncmp(first, "-DOCSTART-", 10) == 0);
    if ((st = put(b, line, len)) != PT_OK) break;
    if (word) {
      if (i >= set->n || set->sents[i].line + j != r.line) {
        st = pt_error(PT_ERR_STATE, "%s:%lld: the file changed since it was read", set->path,
                      (long long)r.line);
        break;
      }
      if ((st = check_tag(pred[i][j], i, j)) != PT_OK) break;
      if ((st = puts_(b, " ")) != PT_OK || (st = puts_(b, pred[i][j])) != PT_OK) break;
      if (++j == set->sents[i].n) i++, j = 0;
    }
    if ((st = puts_(b, "\n")) != PT_OK) break;
  }
  if (st == PT_OK && i != set->n)
    st = pt_error(PT_ERR_STATE, "%s: the file changed since it was read", set->path);
  lines_close(&r);
  return st;
}

pt_status write_ner_predictions(const sentence_set *set, char **const *pred,
                                   const char *out_path) {
  buffer b = {0};
  pt_status st = PT_OK;
  if (!ends_with(set->path, ".json") && !ends_with(set->path, ".jsonl")) {
    st = conll_copy(set, pred, &b);
  } else {
    for (int64_t i = 0; i < set->n && st == PT_OK; i++) {
      const sentence *s = &set->sents[i];
      for (int64_t j = 0; j < s->n && st == PT_OK; j++) {
        /* "word gold pred" (or "word pred" for unlabelled input) */
        const char *cols[3] = {s->words[j], s->tags[j] ? s->tags[j] : pred[i][j], pred[i][j]};
        int ncol = s->tags[j] ? 3 : 2;
        if ((st = check_tag(pred[i][j], i, j)) != PT_OK) break;
        for (int c = 0; c < ncol && st == PT_OK; c++) {
          st = puts_(&b, cols[c]);
          if (st == PT_OK) st = puts_(&b, c + 1 < ncol ? " " : "\n");
        }
      }
      if (st == PT_OK) st = puts_(&b, "\n");
    }
  }
  if (st == PT_OK) st = pt_write_file_atomic(out_path, b.p ? b.p : "", b.n);
  free(b.p);
  return st;
}

/* {"idx": idx, "label": label} as one compact line. */
static pt_status json_line(buffer *b, int64_t idx, json_t *label) {
  json_t *o = json_pack("{s:I, s:o}", "idx", (json_int_t)idx, "label", label);
  char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(o);
  if (!s) return pt_error(PT_ERR_NOMEM, "predictions: out of memory");
  pt_status st = puts_(b, s);
  free(s);
  return st ? st : puts_(b, "\n");
}

pt_status write_cls_predictions(const cls_set *set, const int64_t *pred,
                                   const label_map *map, const char *out_path) {
  buffer b = {0};
  pt_status st = PT_OK;
  for (int64_t i = 0; i < set->n && st == PT_OK; i++) {
    if (pred[i] < 0 || pred[i] >= map->n) {
      st = pt_error(PT_ERR_ARG, "predictions: example %lld has label id %lld, outside [0, %lld)",
                    (long long)i, (long long)pred[i], (long long)map->n);
      break;
    }
    st = json_line(&b, set->ex[i].idx, json_string(map->names[pred[i]]));
  }
  if (st == PT_OK) st = pt_write_file_atomic(out_path, b.p ? b.p : "", b.n);
  free(b.p);
  return st;
}

pt_status write_mc_predictions(const mc_set *set, const int64_t *pred,
                                  const char *out_path) {
  buffer b = {0};
  pt_status st = PT_OK;
  for (int64_t i = 0; i < set->n && st == PT_OK; i++) {
    if (pred[i] < 0 || pred[i] >= set->ex[i].n_choices) {
      st = pt_error(PT_ERR_ARG, "predictions: example %lld picks choice %lld of %lld",
                    (long long)i, (long long)pred[i], (long long)set->ex[i].n_choices);
      break;
    }
    st = json_line(&b, set->ex[i].idx, json_integer(pred[i]));
  }
  if (st == PT_OK) st = pt_write_file_atomic(out_path, b.p ? b.p : "", b.n);
  free(b.p);
  return st;
}
