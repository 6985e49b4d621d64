/* The ner prediction file, as conlleval reads it: every word line ends with
 * the gold tag (when the data has tags) and the predicted one, the gold in
 * IOB2 whatever the input's scheme (the tags ptune scores against), and
 * -DOCSTART- lines get a predicted "O" so every line has the same columns.
 * Written atomically. */
#include <stdlib.h>
#include <string.h>

#include "apps/tasks/ner/ner.h"

static pt_status check_tag(const char *t, int64_t i, int64_t j) {
  if (!t || !t[0] || strpbrk(t, " \t\n"))
    return pt_error(PT_ERR_ARG, "predictions: sentence %lld word %lld has an empty or blank tag",
                    (long long)i, (long long)j);
  return PT_OK;
}

/* Columns of a line split on spaces and tabs. */
static int64_t count_columns(const char *line) {
  int64_t k = 0;
  for (const char *p = line; *p;) {
    p += strspn(p, " \t");
    if (!*p) break;
    k++;
    p += strcspn(p, " \t");
  }
  return k;
}

static bool is_docstart(const char *line) {
  const char *first = line + strspn(line, " \t");
  size_t k = strcspn(first, " \t");
  return k == 10 && strncmp(first, "-DOCSTART-", 10) == 0;
}

/* The columns of the file's first word line (0 when it has none). */
static pt_status word_columns(const char *path, int64_t *k) {
  line_reader r;
  PT_TRY(lines_open(&r, path));
  pt_status st;
  *k = 0;
  for (;;) {
    size_t len;
    bool eof;
    if ((st = lines_next(&r, &len, &eof)) != PT_OK || eof) break;
    if (!is_blank(r.buf) && !is_docstart(r.buf)) {
      *k = count_columns(r.buf);
      break;
    }
  }
  lines_close(&r);
  return st;
}

/* A -DOCSTART- line with its predicted "O": the line itself when it has
 * the word lines' columns (CoNLL-2003's "-DOCSTART- -X- -X- O"), else one
 * made to have them ("-DOCSTART- -X- ... O"). */
static pt_status docstart_line(text_buffer *b, const char *line, size_t len, int64_t k_words,
                               bool labelled) {
  while (len && (line[len - 1] == ' ' || line[len - 1] == '\t')) len--;
  if (count_columns(line) == k_words) {
    PT_TRY(text_put(b, line, len));
  } else {
    PT_TRY(text_puts(b, "-DOCSTART-"));
    for (int64_t c = 1; c < k_words - (labelled ? 1 : 0); c++) PT_TRY(text_puts(b, " -X-"));
    if (labelled) PT_TRY(text_puts(b, " O"));
  }
  return text_puts(b, " O");
}

/* The CoNLL source again: each word line with its last column (the tag)
 * replaced by the IOB2 gold tag and the prediction appended. */
static pt_status conll_copy(const sentence_set *set, char **const *pred, text_buffer *b) {
  int64_t k_words;
  PT_TRY(word_columns(set->path, &k_words));
  line_reader r;
  PT_TRY(lines_open(&r, set->path));
  pt_status st = PT_OK;
  int64_t i = 0, j = 0; /* next sentence / word */
  for (;;) {
    size_t len;
    bool eof;
    if ((st = lines_next(&r, &len, &eof)) != PT_OK || eof) break;
    const char *line = r.buf;
    if (is_blank(line)) {
      if ((st = text_puts(b, "\n")) != PT_OK) break;
      continue;
    }
    if (is_docstart(line)) {
      if ((st = docstart_line(b, line, len, k_words, set->has_tags)) != PT_OK) break;
      if ((st = text_puts(b, "\n")) != PT_OK) break;
      continue;
    }
    if (i >= set->n || set->sents[i].line + j != r.line) {
      st = pt_error(PT_ERR_STATE, "%s:%lld: the file changed since it was read", set->path,
                    (long long)r.line);
      break;
    }
    const sentence *s = &set->sents[i];
    if ((st = check_tag(pred[i][j], i, j)) != PT_OK) break;
    while (len && (line[len - 1] == ' ' || line[len - 1] == '\t')) len--;
    if (s->tags && s->tags[j]) { /* everything up to the last column, then the gold */
      size_t last = len;
      while (last && line[last - 1] != ' ' && line[last - 1] != '\t') last--;
      st = text_put(b, line, last);
      if (st == PT_OK) st = text_puts(b, s->tags[j]);
    } else {
      st = text_put(b, line, len);
    }
    if (st == PT_OK) st = text_puts(b, " ");
    if (st == PT_OK) st = text_puts(b, pred[i][j]);
    if (st == PT_OK) st = text_puts(b, "\n");
    if (st != PT_OK) break;
    if (++j == s->n) i++, j = 0;
  }
  if (st == PT_OK && i != set->n)
    st = pt_error(PT_ERR_STATE, "%s: the file changed since it was read", set->path);
  lines_close(&r);
  return st;
}

pt_status write_ner_predictions(const sentence_set *set, char **const *pred, const char *out_path) {
  text_buffer b = {0};
  pt_status st = PT_OK;
  if (!ends_with(set->path, ".json") && !ends_with(set->path, ".jsonl")) {
    st = conll_copy(set, pred, &b);
  } else {
    for (int64_t i = 0; i < set->n && st == PT_OK; i++) {
      const sentence *s = &set->sents[i];
      for (int64_t j = 0; j < s->n && st == PT_OK; j++) {
        /* "word gold pred" (or "word pred" for unlabelled input) */
        if ((st = check_tag(pred[i][j], i, j)) != PT_OK) break;
        char *word = conll_word(s->words[j]);
        if (!word) st = PT_ERR_NOMEM;
        if (st == PT_OK) st = text_puts(&b, word);
        if (st == PT_OK && s->tags && s->tags[j]) {
          st = text_puts(&b, " ");
          if (st == PT_OK) st = text_puts(&b, s->tags[j]);
        }
        if (st == PT_OK) st = text_puts(&b, " ");
        if (st == PT_OK) st = text_puts(&b, pred[i][j]);
        if (st == PT_OK) st = text_puts(&b, "\n");
        free(word);
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
