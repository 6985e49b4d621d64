/* SQuAD question -> model windows, as Hugging Face's run_qa builds them
 * (prepare_train_features / prepare_validation_features with a fast
 * tokenizer: truncation="only_second", stride, return_overflowing_tokens,
 * return_offsets_mapping, padding="max_length"). */
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "apps/tasks/qa/squad.h"

qa_feature_opts qa_feature_opts_default(void) {
  return (qa_feature_opts){.max_seq_len = 384, .doc_stride = 128, .pad_to_max_length = true};
}

static void feature_free(qa_feature *f) {
  free(f->ids);
  free(f->type_ids);
  free(f->attention_mask);
  free(f->offsets);
  free(f->is_context);
}

void qa_features_free(qa_features *fs) {
  if (!fs) return;
  for (int64_t i = 0; i < fs->n; i++) feature_free(&fs->f[i]);
  free(fs->f);
  memset(fs, 0, sizeof *fs);
}

/* Python's str.lstrip(): skips leading white space (str.isspace). */
static const char *lstrip(const char *s) {
  for (;;) {
    utf8proc_int32_t c;
    utf8proc_ssize_t m = utf8proc_iterate((const utf8proc_uint8_t *)s, -1, &c);
    if (m <= 0 || c == 0) return s;
    bool space = c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F) || c == 0x85 ||
                 c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
                 c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
    if (!space) return s;
    s += m;
  }
}

/* Copies positions [a, b) of enc into f at position *k. */
static void put(qa_feature *f, int64_t *k, const pt_encoding *enc, int64_t a, int64_t b) {
  for (int64_t i = a; i < b; i++, (*k)++) {
    f->ids[*k] = enc->ids[i];
    f->type_ids[*k] = enc->type_ids[i];
    f->attention_mask[*k] = 1;
    bool ctx = enc->seq_ids[i] == 1;
    f->is_context[*k] = ctx;
    f->offsets[2 * *k] = ctx ? enc->char_offsets[2 * i] : -1;
    f->offsets[2 * *k + 1] = ctx ? enc->char_offsets[2 * i + 1] : -1;
  }
}

/* prepare_train_features: the token span of the answer [start_char, end_char)
 * in window f, or the [CLS] index 0 when it is not wholly inside. HF's
 * loops read the offsets of every position, and special tokens and padding
 * have (0,0) there: when the answer starts in the window's last context
 * token its start loop runs through them to the last position, as HF's does. */
static void targets(qa_feature *f, int64_t start_char, int64_t end_char) {
  f->start_pos = f->end_pos = 0;
  if (start_char < 0 || f->ctx_first < 0) return;
  int64_t ts = f->ctx_first, te = f->ctx_last;
#define OFF(i, j) (f->is_context[i] ? f->offsets[2 * (i) + (j)] : 0)
  if (!(OFF(ts, 0) <= start_char && OFF(te, 1) >= end_char)) return;
  while (ts < f->n && OFF(ts, 0) <= start_char) ts++;
  f->start_pos = ts - 1;
  while (te >= 0 && OFF(te, 1) >= end_char) te--;
  f->end_pos = te + 1;
#undef OFF
}

pt_status qa_question_features(const pt_tokenizer *tok, const squad_set *set, int64_t qi,
                               const qa_feature_opts *opts, qa_features *out) {
  if (qi < 0 || qi >= set->n)
    return pt_error(PT_ERR_ARG, "qa features: question %lld out of range [0, %lld)", (long long)qi,
                    (long long)set->n);
  const squad_question *q = &set->qs[qi];
  const squad_paragraph *p = &set->paras[q->para];
  const char *question = lstrip(q->question);
  pt_encoding enc = {0};
  PT_TRY(pt_tokenizer_encode(tok, question, strlen(question), p->context, p->len, NULL, &enc));
  /* layout: prefix (specials + question + specials), context, suffix */
  int64_t c0 = -1, c1 = -1;
  for (int64_t i = 0; i < enc.n; i++)
    if (enc.seq_ids[i] == 1) {
      if (c0 < 0) c0 = i;
      c1 = i + 1;
    }
  int64_t n_ctx = c0 < 0 ? 0 : c1 - c0;
  if (c0 < 0) c0 = c1 = enc.n; /* no context tokens: one window, all prefix */
  int64_t fixed = enc.n - n_ctx;
  int64_t room = opts->max_seq_len - fixed; /* context tokens per window */
  pt_status s = PT_OK;
  if (n_ctx > 0 && room <= 0)
    s = pt_error(PT_ERR_ARG,
                 "qa features: question '%.60s' (id %s) takes %lld of max_seq_len %lld tokens",
                 q->question, q->id, (long long)fixed, (long long)opts->max_seq_len);
  else if (n_ctx > room && opts->doc_stride >= room)
    s = pt_error(PT_ERR_ARG,
                 "qa features: doc_stride %lld must be less than the %lld context tokens a "
                 "window holds (question id %s)",
                 (long long)opts->doc_stride, (long long)room, q->id);
  if (s) {
    pt_encoding_free(&enc);
    return s;
  }
  /* the first gold answer, for training targets (HF: answers[0]) */
  int64_t start_char = -1, end_char = -1;
  if (q->n_answers > 0) {
    start_char = q->answers[0].start;
    int64_t n = 0;
    for (const char *c = q->answers[0].text; *c; c++)
      if (((unsigned char)*c & 0xC0) != 0x80) n++;
    end_char = start_char + n;
  }
  int64_t pad = pt_tokenizer_pad_id(tok);
  if (pad < 0 && opts->pad_to_max_length) {
    pt_encoding_free(&enc);
    return pt_error(PT_ERR_ARG,
                    "qa features: padding needs a pad token and the vocabulary has none");
  }
  for (int64_t start = 0;;) {
    int64_t stop = n_ctx <= room ? n_ctx : start + room < n_ctx ? start + room : n_ctx;
    int64_t len = fixed + (stop - start);
    int64_t n = opts->pad_to_max_length && len < opts->max_seq_len ? opts->max_seq_len : len;
    if (out->n == out->cap) {
      int64_t c = out->cap ? out->cap * 2 : 8;
      qa_feature *nf = realloc(out->f, (size_t)c * sizeof *nf);
      if (!nf) {
        s = pt_error(PT_ERR_NOMEM, "qa features: out of memory");
        break;
      }
      out->f = nf, out->cap = c;
    }
    qa_feature *f = &out->f[out->n];
    memset(f, 0, sizeof *f);
    f->question = qi;
    f->n = n;
    f->ids = calloc((size_t)n, sizeof *f->ids);
    f->type_ids = calloc((size_t)n, sizeof *f->type_ids);
    f->attention_mask = calloc((size_t)n, sizeof *f->attention_mask);
    f->offsets = malloc((size_t)n * 2 * sizeof *f->offsets);
    f->is_context = calloc((size_t)n, 1);
    if (!f->ids || !f->type_ids || !f->attention_mask || !f->offsets || !f->is_context) {
      feature_free(f);
      s = pt_error(PT_ERR_NOMEM, "qa features: out of memory");
      break;
    }
    out->n++;
    int64_t k = 0;
    put(f, &k, &enc, 0, c0);
    f->ctx_first = stop > start ? k : -1;
    put(f, &k, &enc, c0 + start, c0 + stop);
    f->ctx_last = stop > start ? k - 1 : -2;
    put(f, &k, &enc, c1, enc.n);
    for (; k < n; k++) {
      f->ids[k] = pad;
      f->offsets[2 * k] = f->offsets[2 * k + 1] = -1;
    }
    targets(f, start_char, end_char);
    if (stop >= n_ctx) break;
    start += room - opts->doc_stride;
  }
  pt_encoding_free(&enc);
  return s;
}
