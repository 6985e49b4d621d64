/* ner requests (`ptune serve`): each input is a text, split into words as
 * BERT's basic tokenizer splits it (pt_text_words: white space, each
 * punctuation character alone), or {"tokens": [...]} already split (their
 * text is then the tokens joined by single spaces); each result is the
 * prediction {"tokens", "tags"} with the entities: type, code-point span in
 * the text and the text itself. */
#include <stdlib.h>
#include <string.h>

#include "apps/tasks/inputs.h"
#include "apps/tasks/lines.h"
#include "apps/tasks/ner/ner.h"
#include "nn/pt_json.h"

/* The words of s->text at s->spans, copied. */
static pt_status words_of_text(sentence *s) {
  if (!(s->words = calloc((size_t)(s->n ? s->n : 1), sizeof *s->words)))
    return pt_error(PT_ERR_NOMEM, "inputs: out of memory");
  for (int64_t w = 0; w < s->n; w++) {
    size_t len = (size_t)(s->spans[w].byte_end - s->spans[w].byte_start);
    if (!(s->words[w] = malloc(len + 1))) return pt_error(PT_ERR_NOMEM, "inputs: out of memory");
    memcpy(s->words[w], s->text + s->spans[w].byte_start, len);
    s->words[w][len] = '\0';
  }
  return PT_OK;
}

/* {"tokens": [...]}: the text is the tokens joined by single spaces. */
static pt_status tokens_input(const json_t *toks, const char *where, sentence *s) {
  int64_t n = (int64_t)json_array_size(toks);
  if (!json_is_array(toks) || n == 0)
    return pt_error(PT_ERR_FORMAT, "%s: 'tokens' must be a non-empty array of strings, got %s",
                    where, json_is_array(toks) ? "an empty one" : pt_json_type_name(toks));
  size_t bytes = 0;
  for (int64_t w = 0; w < n; w++) {
    const char *word;
    PT_TRY(json_token(toks, w, where, &word));
    if (!word[0] || strlen(word) != json_string_length(json_array_get(toks, (size_t)w)))
      return pt_error(PT_ERR_FORMAT, "%s: token %lld is empty or holds a NUL character", where,
                      (long long)w);
    bytes += strlen(word) + 1;
  }
  s->text = malloc(bytes);
  s->spans = malloc(sizeof *s->spans * (size_t)n);
  if (!s->text || !s->spans) return pt_error(PT_ERR_NOMEM, "inputs: out of memory");
  int64_t b = 0, c = 0;
  for (int64_t w = 0; w < n; w++) {
    const char *word = json_string_value(json_array_get(toks, (size_t)w));
    size_t len = strlen(word);
    int64_t chars = 0;
    for (size_t k = 0; k < len; k++) chars += ((unsigned char)word[k] & 0xC0) != 0x80;
    s->spans[w] = (pt_text_span){c, c + chars, b, b + (int64_t)len};
    memcpy(s->text + b, word, len);
    s->text[b + (int64_t)len] = w + 1 < n ? ' ' : '\0';
    b += (int64_t)len + 1;
    c += chars + 1;
  }
  s->n = n;
  return words_of_text(s);
}

static pt_status ner_input(const json_t *v, const char *where, int64_t i, void *ctx) {
  sentence_set *set = ctx;
  sentence *s = &set->sents[i];
  memset(s, 0, sizeof *s);
  s->item = i;
  set->n = i + 1;
  if (json_is_object(v)) return tokens_input(json_object_get(v, "tokens"), where, s);
  if (!json_is_string(v))
    return pt_error(PT_ERR_FORMAT, "%s: a ner input is a text or {\"tokens\": [...]}, got %s",
                    where, pt_json_type_name(v));
  PT_TRY(input_text(v, where, "text", &s->text));
  PT_TRY(pt_text_words(s->text, strlen(s->text), &s->spans, &s->n));
  if (s->n == 0) return pt_error(PT_ERR_FORMAT, "%s: the text has no words", where);
  return words_of_text(s);
}

pt_status ner_read_inputs(const task_opts *o, const json_t *inputs, task_data *td) {
  (void)o;
  sentence_set *set = td->examples;
  PT_TRY(inputs_alloc(inputs, sizeof *set->sents, (void **)&set->sents, &set->path));
  PT_TRY(inputs_each(inputs, ner_input, set));
  td->n_examples = set->n;
  return PT_OK;
}

pt_status ner_serve_json(const task_data *td, const eval_result *r, const label_map *map,
                         int64_t i, json_t **out) {
  (void)map;
  const sentence_set *set = td->examples;
  const sentence *s = &set->sents[i];
  PT_TRY(tagging_example_json(s, r->tags[i], out));
  tag_entity *ents;
  int64_t n;
  pt_status st = seqeval_entities(r->tags[i], s->n, &ents, &n);
  json_t *list = st == PT_OK ? json_array() : NULL;
  for (int64_t k = 0; list && k < n; k++) {
    const pt_text_span *a = &s->spans[ents[k].first], *b = &s->spans[ents[k].last];
    json_array_append_new(list, json_pack("{s:s, s:I, s:I, s:s%}", "type", ents[k].type,
                                          "start", (json_int_t)a->char_start, "end",
                                          (json_int_t)b->char_end, "text",
                                          s->text + a->byte_start,
                                          (size_t)(b->byte_end - a->byte_start)));
  }
  free(ents);
  if (st == PT_OK) return result_add(out, "entities", list);
  json_decref(*out);
  *out = NULL;
  return st;
}
