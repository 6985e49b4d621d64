/* Task examples -> encoded model inputs (features):
 *   ner  words encoded pre-split; the label on each word's first sub-token,
 *        -100 elsewhere (and on words cut by truncation);
 *   srl  as THUDM frames it: [CLS] sentence words [SEP] predicate word(s)
 *        [SEP], token labels on the sentence words;
 *   cls  text or text pair, longest-first truncation to --max-seq-len;
 *   mc   one sequence per choice: (context, choice);
 *   qa   the sliding windows of apps/tasks/qa/features.c (one feature per window). */
#include <stdlib.h>
#include <string.h>

#include "apps/cli/options.h"
#include "apps/tasks/task.h"

static void feature_free(task_feature *f) {
  for (int k = 0; k < f->nseq; k++) {
    free(f->ids[k]);
    free(f->types[k]);
  }
  free(f->tok_labels);
  free(f->word_of);
}

void task_data_free(task_data *td) {
  for (int64_t i = 0; i < td->n; i++) feature_free(&td->f[i]);
  free(td->f);
  sentence_set_free(&td->ner);
  srl_set_free(&td->srl);
  cls_set_free(&td->cls);
  mc_set_free(&td->mc);
  squad_set_free(&td->squad);
  qa_features_free(&td->qa);
  memset(td, 0, sizeof *td);
}

static pt_status cls_format(const run_args *a, data_format *fmt) {
  if (!a->preset) {
    *fmt = a->task == TASK_MC ? FMT_COPA : FMT_GENERIC_JSONL;
    return PT_OK;
  }
  PT_TRY(data_format_from_name(a->preset, fmt));
  if ((a->task == TASK_MC) != (*fmt == FMT_COPA))
    return pt_error(PT_ERR_ARG, "--preset %s does not fit --task %s", a->preset,
                    app_task_name(a->task));
  return PT_OK;
}

pt_status task_data_read(const run_args *a, const char *path, bool need_labels,
                            task_data *td) {
  memset(td, 0, sizeof *td);
  td->task = a->task;
  td->path = path;
  read_opts ro = {.labels_optional = !need_labels};
  pt_status st = PT_OK;
  switch (a->task) {
    case TASK_NER:
      st = read_ner(path, &ro, &td->ner);
      td->n_examples = td->ner.n;
      td->labelled = td->ner.has_tags;
      break;
    case TASK_SRL:
      st = read_srl(path, &ro, &td->srl);
      td->n_examples = td->srl.n;
      td->labelled = td->srl.has_tags;
      break;
    case TASK_QA:
      st = read_squad(path, &ro, &td->squad);
      td->n_examples = td->squad.n;
      td->labelled = true;
      for (int64_t i = 0; i < td->squad.n; i++)
        if (td->squad.qs[i].n_answers == 0 && !td->squad.qs[i].is_impossible) td->labelled = false;
      break;
    case TASK_CLS: {
      data_format fmt;
      PT_TRY(cls_format(a, &fmt));
      cls_fields fields = {0};
      char *buf = NULL;
      if (fmt == FMT_GENERIC_JSONL) {
        if (!a->text_fields || !a->label_field)
          return pt_error(PT_ERR_ARG,
                          "cls: give --preset NAME or --text-fields A[,B] --label-field L");
        PT_TRY(cls_fields_parse(a->text_fields, a->label_field, &fields, &buf));
      }
      st = read_cls(path, fmt, &fields, &ro, &td->cls);
      free(buf);
      td->n_examples = td->cls.n;
      td->labelled = td->cls.has_labels;
      break;
    }
    case TASK_MC: {
      data_format fmt;
      PT_TRY(cls_format(a, &fmt));
      st = read_mc(path, fmt, &ro, &td->mc);
      td->n_examples = td->mc.n;
      td->labelled = td->mc.has_labels;
      break;
    }
  }
  if (st != PT_OK) return st;
  if (td->n_examples == 0) {
    task_data_free(td);
    return pt_error(PT_ERR_FORMAT, "%s: no examples", path);
  }
  return PT_OK;
}

pt_status task_data_preset_labels(const run_args *a, label_map *map) {
  const char *const *names = NULL;
  int64_t n = 0;
  if (a->task == TASK_CLS && a->preset) {
    data_format fmt;
    PT_TRY(data_format_from_name(a->preset, &fmt));
    data_format_labels(fmt, &names, &n);
  } else if (a->task == TASK_NER && a->preset) {
    PT_TRY(ner_preset_labels(a->preset, &names, &n));
  }
  for (int64_t i = 0; i < n; i++) PT_TRY(label_map_add(map, names[i], NULL));
  return PT_OK;
}

pt_status task_data_map_labels(task_data *td, label_map *map, bool grow) {
  if (!td->labelled) return PT_OK;
  switch (td->task) {
    case TASK_NER:
      PT_TRY(sentences_map_labels(&td->ner, map, grow));
      return grow ? label_map_complete_bio(map) : PT_OK;
    case TASK_SRL:
      PT_TRY(srl_map_labels(&td->srl, map, grow));
      return grow ? label_map_complete_bio(map) : PT_OK;
    case TASK_CLS: return cls_map_labels(&td->cls, map, grow);
    default: return PT_OK;
  }
}

/* Copies n values of src (NULL: zeros) into a new array. */
static int64_t *dup64(const int64_t *src, int64_t n) {
  int64_t *d = malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
  if (d) {
    if (src) memcpy(d, src, sizeof(int64_t) * (size_t)n);
    else memset(d, 0, sizeof(int64_t) * (size_t)n);
  }
  return d;
}

static pt_status take_encoding(task_feature *f, const pt_encoding *e) {
  int k = f->nseq++;
  f->len[k] = e->n;
  f->ids[k] = dup64(e->ids, e->n);
  f->types[k] = dup64(e->type_ids, e->n);
  if (!f->ids[k] || !f->types[k]) return pt_error(PT_ERR_NOMEM, "features: out of memory");
  return PT_OK;
}

/* Token labels on each word's first sub-token of segment 0. */
static pt_status word_labels(task_feature *f, const int64_t *word_ids, const int64_t *seq_ids,
                             const int32_t *tag_ids) {
  int64_t n = f->len[0];
  f->tok_labels = malloc(sizeof(int64_t) * (size_t)n);
  f->word_of = malloc(sizeof(int64_t) * (size_t)n);
  if (!f->tok_labels || !f->word_of) return pt_error(PT_ERR_NOMEM, "features: out of memory");
  int64_t prev = -1;
  for (int64_t i = 0; i < n; i++) {
    int64_t w = seq_ids[i] == 0 ? word_ids[i] : -1;
    bool first = w >= 0 && w != prev;
    f->word_of[i] = first ? w : -1;
    f->tok_labels[i] = first && tag_ids ? tag_ids[w] : -100;
    prev = w;
  }
  return PT_OK;
}

static pt_status encode_ner(task_data *td, const pt_tokenizer *tok, const run_args *a,
                            int64_t i, task_feature *f) {
  const sentence *s = &td->ner.sents[i];
  pt_encode_opts o = {.max_length = a->max_seq_len, .truncation = PT_TRUNC_LONGEST_FIRST};
  pt_encoding e = {0};
  pt_status st = pt_tokenizer_encode_words(tok, (const char *const *)s->words, s->n, &o, &e);
  if (st == PT_OK) st = take_encoding(f, &e);
  if (st == PT_OK) st = word_labels(f, e.word_ids, e.seq_ids, s->tag_ids);
  pt_encoding_free(&e);
  return st;
}

/* [CLS] words [SEP] predicate [SEP] (RoBERTa: <s> words </s></s> pred </s>),
 * the sentence cut so the whole fits max_seq_len. */
static pt_status encode_srl(task_data *td, const pt_tokenizer *tok, const run_args *a,
                            int64_t i, task_feature *f) {
  const srl_example *x = &td->srl.ex[i];
  pt_encode_opts raw = {.no_special_tokens = true};
  pt_encoding ws = {0}, ps = {0};
  const char *pw[64];
  int64_t npw = 0;
  for (int64_t w = 0; w < x->s.n && npw < 64; w++)
    if (x->verb_mask[w]) pw[npw++] = x->s.words[w];
  pt_status st = pt_tokenizer_encode_words(tok, (const char *const *)x->s.words, x->s.n, &raw, &ws);
  if (st == PT_OK && npw) st = pt_tokenizer_encode_words(tok, pw, npw, &raw, &ps);
  if (st != PT_OK) {
    pt_encoding_free(&ws);
    return st;
  }
  bool bpe = pt_tokenizer_kind_of(tok) == PT_TOK_BPE;
  int64_t cls = pt_tokenizer_cls_id(tok), sep = pt_tokenizer_sep_id(tok);
  int64_t specials = bpe ? 4 : 3;
  int64_t keep_b = ps.n, keep_a = ws.n;
  if (keep_a + keep_b + specials > a->max_seq_len) {
    keep_a = a->max_seq_len - specials - keep_b;
    if (keep_a < 1) {
      pt_encoding_free(&ws);
      pt_encoding_free(&ps);
      return pt_error(PT_ERR_ARG, "%s: example %lld: predicate too long for --max-seq-len %lld",
                      td->path, (long long)i + 1, (long long)a->max_seq_len);
    }
  }
  int64_t n = keep_a + keep_b + specials;
  int64_t *ids = malloc(sizeof(int64_t) * (size_t)n), *types = calloc((size_t)n, sizeof(int64_t));
  int64_t *wid = malloc(sizeof(int64_t) * (size_t)n), *sid = malloc(sizeof(int64_t) * (size_t)n);
  if (!ids || !types || !wid || !sid) st = pt_error(PT_ERR_NOMEM, "features: out of memory");
  if (st == PT_OK) {
    int64_t p = 0;
    ids[p] = cls, wid[p] = -1, sid[p++] = -1;
    for (int64_t t = 0; t < keep_a; t++) ids[p] = ws.ids[t], wid[p] = ws.word_ids[t], sid[p++] = 0;
    ids[p] = sep, wid[p] = -1, sid[p++] = -1;
    if (bpe) ids[p] = sep, wid[p] = -1, sid[p++] = -1;
    int64_t b0 = p;
    for (int64_t t = 0; t < keep_b; t++) ids[p] = ps.ids[t], wid[p] = -1, sid[p++] = 1;
    ids[p] = sep, wid[p] = -1, sid[p++] = -1;
    if (!bpe)
      for (int64_t t = b0; t < n; t++) types[t] = 1;
    f->nseq = 1;
    f->len[0] = n;
    f->ids[0] = ids;
    f->types[0] = types;
    ids = types = NULL;
    st = word_labels(f, wid, sid, x->s.tag_ids);
  }
  free(ids);
  free(types);
  free(wid);
  free(sid);
  pt_encoding_free(&ws);
  pt_encoding_free(&ps);
  return st;
}

static pt_status encode_pair(const pt_tokenizer *tok, const run_args *a, const char *ta,
                             const char *tb, task_feature *f) {
  pt_encode_opts o = {.max_length = a->max_seq_len, .truncation = PT_TRUNC_LONGEST_FIRST};
  pt_encoding e = {0};
  pt_status st = pt_tokenizer_encode(tok, ta, strlen(ta), tb, tb ? strlen(tb) : 0, &o, &e);
  if (st == PT_OK) st = take_encoding(f, &e);
  pt_encoding_free(&e);
  return st;
}

static pt_status encode_one(task_data *td, const pt_tokenizer *tok, const run_args *a,
                            int64_t i, task_feature *f) {
  f->label = -1;
  f->example = i;
  switch (td->task) {
    case TASK_NER: return encode_ner(td, tok, a, i, f);
    case TASK_SRL: return encode_srl(td, tok, a, i, f);
    case TASK_CLS: {
      const cls_example *x = &td->cls.ex[i];
      f->label = x->label_id;
      pt_status st = encode_pair(tok, a, x->text_a, x->text_b, f);
      if (st != PT_OK)
        return pt_error_context(st, "%s:%lld", td->path, (long long)(x->line ? x->line : i + 1));
      return PT_OK;
    }
    case TASK_MC: {
      const mc_example *x = &td->mc.ex[i];
      if (x->n_choices > FEATURE_MAX_SEQ || x->n_choices < 1)
        return pt_error(PT_ERR_FORMAT, "%s:%lld: %lld choices (at most %d)", td->path,
                        (long long)x->line, (long long)x->n_choices, FEATURE_MAX_SEQ);
      f->label = x->label;
      for (int64_t c = 0; c < x->n_choices; c++) {
        pt_status st = encode_pair(tok, a, x->context, x->choices[c], f);
        if (st != PT_OK) return pt_error_context(st, "%s:%lld", td->path, (long long)x->line);
      }
      return PT_OK;
    }
    case TASK_QA: {
      const qa_feature *w = &td->qa.f[i];
      pt_encoding e = {.n = w->n, .ids = w->ids, .type_ids = w->type_ids};
      f->start = w->start_pos;
      f->end = w->end_pos;
      return take_encoding(f, &e);
    }
  }
  return PT_OK;
}

pt_status task_data_encode(task_data *td, const pt_tokenizer *tok, const run_args *a) {
  int64_t n = td->n_examples;
  if (td->task == TASK_QA) {
    qa_feature_opts qo = {a->max_seq_len, a->doc_stride, false};
    for (int64_t q = 0; q < td->squad.n; q++) {
      pt_status st = qa_question_features(tok, &td->squad, q, &qo, &td->qa);
      if (st != PT_OK) return pt_error_context(st, "%s: question %s", td->path, td->squad.qs[q].id);
    }
    n = td->qa.n;
  }
  td->f = calloc((size_t)(n > 0 ? n : 1), sizeof(task_feature));
  pt_status *sts = calloc((size_t)(n > 0 ? n : 1), sizeof(pt_status));
  if (!td->f || !sts) {
    free(sts);
    return pt_error(PT_ERR_NOMEM, "features: out of memory");
  }
  td->n = n;
  /* Examples encode independently (the tokenizer is safe to share between
   * threads); the first failure is then redone serially for its message. */
#pragma omp parallel for schedule(dynamic, 16) if (n > 64)
  for (int64_t i = 0; i < n; i++) sts[i] = encode_one(td, tok, a, i, &td->f[i]);
  pt_status st = PT_OK;
  for (int64_t i = 0; i < n && st == PT_OK; i++)
    if (sts[i] != PT_OK) {
      task_feature scratch = {0};
      st = encode_one(td, tok, a, i, &scratch);
      feature_free(&scratch);
      if (st == PT_OK) st = pt_error(sts[i], "%s: example %lld could not be encoded", td->path,
                                     (long long)i + 1);
    }
  free(sts);
  return st;
}
