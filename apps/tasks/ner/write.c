/* The ner prediction file: the CoNLL source again with a predicted-tag
 * column, or "word [gold] pred" lines for JSON input, written atomically. */
#include <stdlib.h>
#include <string.h>

#include "apps/tasks/ner/ner.h"

static pt_status check_tag(const char *t, int64_t i, int64_t j) {
  if (!t || !t[0] || strpbrk(t, " \t\n"))
    return pt_error(PT_ERR_ARG, "predictions: sentence %lld word %lld has an empty or blank tag",
                    (long long)i, (long long)j);
  return PT_OK;
}

/* The CoNLL source again, with pred appended to each word line. */
static pt_status conll_copy(const sentence_set *set, char **const *pred, text_buffer *b) {
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
    if ((st = text_put(b, line, len)) != PT_OK) break;
    if (word) {
      if (i >= set->n || set->sents[i].line + j != r.line) {
        st = pt_error(PT_ERR_STATE, "%s:%lld: the file changed since it was read", set->path,
                      (long long)r.line);
        break;
      }
      if ((st = check_tag(pred[i][j], i, j)) != PT_OK) break;
      if ((st = text_puts(b, " ")) != PT_OK || (st = text_puts(b, pred[i][j])) != PT_OK) break;
      if (++j == set->sents[i].n) i++, j = 0;
    }
    if ((st = text_puts(b, "\n")) != PT_OK) break;
  }
  if (st == PT_OK && i != set->n)
    st = pt_error(PT_ERR_STATE, "%s: the file changed since it was read", set->path);
  lines_close(&r);
  return st;
}

pt_status write_ner_predictions(const sentence_set *set, char **const *pred,
                                   const char *out_path) {
  text_buffer b = {0};
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
          st = text_puts(&b, cols[c]);
          if (st == PT_OK) st = text_puts(&b, c + 1 < ncol ? " " : "\n");
        }
      }
      if (st == PT_OK) st = text_puts(&b, "\n");
    }
  }
  if (st != PT_OK) {
    free(b.p);
    return st;
  }
  return text_write(&b, out_path);
}
