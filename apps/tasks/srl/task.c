/* The srl task: a BIO role tag per word for one predicate (token
 * classification head over "[CLS] words [SEP] predicate [SEP]", as THUDM
 * frames it). Data: CoNLL-2005 JSON Lines; metric argument span F1 with the
 * predicate's own V spans left out; predictions {"tokens",
 * "verb_indicator", "tags"} lines. */
#include <stdlib.h>
#include <string.h>

#include "apps/tasks/srl/srl.h"

void srl_set_free(srl_set *set) {
  for (int64_t i = 0; i < set->n; i++) {
    sentence_free(&set->ex[i].s);
    free(set->ex[i].verb_mask);
  }
  free(set->ex);
  free(set->path);
  memset(set, 0, sizeof *set);
}

pt_status srl_map_labels(srl_set *set, label_map *map, bool grow) {
  /* a view of the sentences as a sentence_set, sharing their storage */
  if (!set->has_tags) return pt_error(PT_ERR_ARG, "%s: has no tags to map", set->path);
  for (int64_t i = 0; i < set->n; i++) {
    sentence_set one = {&set->ex[i].s, 1, set->path, true};
    PT_TRY(sentences_map_labels(&one, map, grow));
  }
  return PT_OK;
}

static pt_status srl_read(const task_opts *o, const char *path, bool need_labels, task_data *td) {
  (void)o;
  srl_set *set = td->examples;
  PT_TRY(read_srl(path, &(read_opts){.labels_optional = !need_labels}, set));
  td->n_examples = set->n;
  td->labelled = set->has_tags;
  return PT_OK;
}

static void srl_free(void *examples) { srl_set_free(examples); }

static pt_status srl_labels(task_data *td, label_map *map, bool grow) {
  PT_TRY(srl_map_labels(td->examples, map, grow));
  return grow ? label_map_complete_bio(map) : PT_OK;
}

/* [CLS] words [SEP] predicate [SEP] (RoBERTa: <s> words </s></s> pred </s>),
 * the sentence cut so the whole fits max_seq_len. */
static pt_status srl_encode(const task_data *td, const pt_tokenizer *tok, const task_opts *o,
                            int64_t i, task_feature *f) {
  const srl_set *set = td->examples;
  const srl_example *x = &set->ex[i];
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
  if (keep_a + keep_b + specials > o->max_seq_len) {
    keep_a = o->max_seq_len - specials - keep_b;
    if (keep_a < 1) {
      pt_encoding_free(&ws);
      pt_encoding_free(&ps);
      return pt_error(PT_ERR_ARG, "%s: example %lld: predicate too long for --max-seq-len %lld",
                      td->path, (long long)i + 1, (long long)o->max_seq_len);
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
    st = tagging_word_labels(f, wid, sid, x->s.tag_ids);
  }
  free(ids);
  free(types);
  free(wid);
  free(sid);
  pt_encoding_free(&ws);
  pt_encoding_free(&ps);
  return st;
}

static const sentence *srl_sentence(const task_data *td, int64_t i) {
  const srl_set *set = td->examples;
  return &set->ex[i].s;
}

static pt_status srl_predict_begin(const task_data *td, const label_map *map, eval_result *r) {
  return tagging_predict_begin(td, map, r, srl_sentence);
}

static pt_status srl_score(const task_data *td, const label_map *map, const task_opts *o,
                           const eval_result *r, task_score *s) {
  (void)map;
  (void)o;
  return tagging_score(td, r, srl_sentence, srl_span_f1, s);
}

/* The lines of `ptune predict`, aligned with the data's line by line. */
static pt_status srl_read_predictions(const task_data *td, label_map *map, const task_opts *o,
                                      const char *path, eval_result *r) {
  (void)o;
  const srl_set *gold = td->examples;
  srl_set pred;
  PT_TRY(read_srl_predictions(path, &pred));
  sentence *view = malloc(sizeof(sentence) * (size_t)pred.n); /* shallow: the sentences */
  pt_status st = view ? PT_OK : pt_error(PT_ERR_NOMEM, "%s: out of memory", path);
  for (int64_t i = 0; view && i < pred.n; i++) view[i] = pred.ex[i].s;
  if (st == PT_OK) st = tagging_align(td, srl_sentence, &(sentence_set){view, pred.n, pred.path, true},
                                      false, map, r);
  for (int64_t i = 0; st == PT_OK && i < gold->n; i++)
    if (memcmp(pred.ex[i].verb_mask, gold->ex[i].verb_mask, (size_t)gold->ex[i].s.n) != 0)
      st = pt_error(PT_ERR_FORMAT, "%s:%lld: verb_indicator marks other words than %s:%lld",
                    path, (long long)pred.ex[i].s.line, td->path, (long long)gold->ex[i].s.line);
  free(view);
  srl_set_free(&pred);
  return st;
}

/* {"tokens": [...], "verb_indicator": [...], "tags": [...]} */
static pt_status srl_line(const srl_example *x, char **tags, json_t **out) {
  json_t *toks = json_array(), *verb = json_array(), *tg = json_array();
  for (int64_t w = 0; toks && verb && tg && w < x->s.n; w++) {
    json_array_append_new(toks, json_string(x->s.words[w]));
    json_array_append_new(verb, json_integer(x->verb_mask[w]));
    json_array_append_new(tg, json_string(tags[w]));
  }
  *out = json_pack("{s:o, s:o, s:o}", "tokens", toks, "verb_indicator", verb, "tags", tg);
  return *out ? PT_OK : pt_error(PT_ERR_NOMEM, "predict: out of memory");
}

static pt_status srl_result_json(const task_data *td, const eval_result *r, const label_map *map,
                                 int64_t i, json_t **out) {
  (void)map;
  const srl_set *set = td->examples;
  return srl_line(&set->ex[i], r->tags[i], out);
}

static const task_def srl_task = {
    .name = "srl",
    .data_help = "CoNLL-2005 JSON Lines (tokens, verb_indicator, tags)",
    .head = PT_TASK_TOKEN_CLASSIFICATION,
    .max_seq_len = 128,
    .adapter_labels = true,
    .examples_size = sizeof(srl_set),
    .read = srl_read,
    .free_examples = srl_free,
    .map_labels = srl_labels,
    .encode = srl_encode,
    .predict_begin = srl_predict_begin,
    .predict_batch = tagging_predict_batch,
    .score = srl_score,
    .write = task_write_jsonl,
    .read_predictions = srl_read_predictions,
    .example_json = srl_result_json,
    .check_fixture = "conll2005-srl/train.excerpt.jsonl",
    .check_gold_score = 1.0,
    .bad_input =
        "{\"tokens\": [\"He\", \"ran\"], \"verb_indicator\": [0, 1], \"tags\": [\"B-A0\", "
        "\"B-V\"]}\n{\"tokens\": [\"He\", \"ran\"], \"verb_indicator\": [0, 2], \"tags\": "
        "[\"B-A0\", \"B-V\"]}\n",
    .bad_input_name = "bad.jsonl",
    .bad_error = "bad.jsonl:2: verb_indicator[1] must be 0 or 1",
};
TASK_REGISTER(srl_task);
