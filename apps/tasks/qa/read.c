/* SQuAD v1.1 / v2.0 reader: {"version", "data": [{"title", "paragraphs":
 * [{"context", "qas": [{"id", "question", "answers": [{"text",
 * "answer_start"}], "is_impossible"?, "plausible_answers"?}]}]}]}, every
 * field type-checked and every answer checked against its context. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_ds.h>

#include "apps/tasks/qa/squad.h"
#include "apps/tasks/lines.h"
#include "nn/pt_json.h"

void squad_set_free(squad_set *set) {
  if (!set) return;
  for (int64_t i = 0; i < set->n; i++) {
    squad_question *q = &set->qs[i];
    free(q->id);
    free(q->question);
    for (int64_t a = 0; a < q->n_answers; a++) free(q->answers[a].text);
    for (int64_t a = 0; a < q->n_plausible; a++) free(q->plausible[a].text);
    free(q->answers);
    free(q->plausible);
  }
  for (int64_t i = 0; i < set->n_paras; i++) {
    free(set->paras[i].context);
    free(set->paras[i].char_to_byte);
  }
  for (int64_t i = 0; i < set->n_articles; i++) free(set->titles[i]);
  free(set->qs);
  free(set->paras);
  free(set->titles);
  free(set->path);
  free(set->version);
  memset(set, 0, sizeof *set);
}

/* Grows *p (elements of `size`) to hold at least n+1. */
static pt_status grow(void **p, int64_t n, int64_t *cap, size_t size) {
  if (n < *cap) return PT_OK;
  int64_t c = *cap ? *cap * 2 : 64;
  void *np = realloc(*p, (size_t)c * size);
  if (!np) return pt_error(PT_ERR_NOMEM, "squad: out of memory");
  *p = np;
  *cap = c;
  return PT_OK;
}

/* Byte offset of every code point of a valid UTF-8 string (jansson has
 * checked it), plus the end. NULL with PT_ERR_NOMEM. */
static int32_t *char_offsets(const char *s, size_t len, int64_t *n_chars) {
  int32_t *map = malloc((len + 1) * sizeof *map);
  if (!map) {
    pt_error(PT_ERR_NOMEM, "squad: out of memory");
    return NULL;
  }
  int64_t n = 0;
  for (size_t i = 0; i < len; i++)
    if (((unsigned char)s[i] & 0xC0) != 0x80) map[n++] = (int32_t)i;
  map[n] = (int32_t)len;
  *n_chars = n;
  return map;
}

pt_status squad_paragraph_init(squad_paragraph *p, const char *context, size_t len) {
  memset(p, 0, sizeof *p);
  p->len = len;
  if (!(p->context = malloc(len + 1))) return pt_error(PT_ERR_NOMEM, "squad: out of memory");
  memcpy(p->context, context, len);
  p->context[len] = '\0';
  p->char_to_byte = char_offsets(p->context, len, &p->n_chars);
  return p->char_to_byte ? PT_OK : PT_ERR_NOMEM;
}

/* A short excerpt of `s` for messages: at most 40 bytes, cut on a code
 * point boundary. */
static void excerpt(char *buf, size_t cap, const char *s, size_t len) {
  size_t n = len < 40 ? len : 40;
  while (n > 0 && n < len && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
  snprintf(buf, cap, "%.*s%s", (int)n, s, n < len ? "..." : "");
}

typedef struct {
  const char *path;
  char where[160];
  squad_set *set;
  int64_t cap_q, cap_p, cap_a;
  struct {
    char *key;
    int64_t value;
  } * ids; /* id -> question index */
} reader;

static pt_status fail(reader *r, const char *what) {
  return pt_error(PT_ERR_FORMAT, "%s: %s: %s", r->path, r->where, what);
}

/* "where: must be an object, got <type>". */
static pt_status not_object(reader *r, const json_t *v) {
  char msg[96];
  snprintf(msg, sizeof msg, "must be an object, got %s", pt_json_type_name(v));
  return fail(r, msg);
}

/* obj[key] must be of type `want` (a json_is_* test); names the type. */
static json_t *field(reader *r, json_t *obj, const char *key, int (*is)(const json_t *),
                     const char *want, bool required, pt_status *s) {
  json_t *v = json_object_get(obj, key);
  *s = PT_OK;
  if (!v || json_is_null(v)) {
    if (required) {
      char msg[128];
      snprintf(msg, sizeof msg, "missing '%s'", key);
      *s = fail(r, msg);
    }
    return NULL;
  }
  if (!is(v)) {
    char msg[160];
    snprintf(msg, sizeof msg, "'%s' must be %s, got %s", key, want, pt_json_type_name(v));
    *s = fail(r, msg);
    return NULL;
  }
  return v;
}

static int is_array(const json_t *v) { return json_is_array(v); }
static int is_string(const json_t *v) { return json_is_string(v); }
static int is_integer(const json_t *v) { return json_is_integer(v); }
static int is_bool(const json_t *v) { return json_is_boolean(v); }

/* Reads an answers-like array into *out and checks each against the context. */
static pt_status read_answers(reader *r, json_t *arr, const char *key, const squad_paragraph *p,
                              squad_answer **out, int64_t *n_out) {
  size_t n = json_array_size(arr);
  *out = NULL;
  *n_out = 0;
  if (n == 0) return PT_OK;
  squad_answer *as = calloc(n, sizeof *as);
  if (!as) return pt_error(PT_ERR_NOMEM, "squad: out of memory");
  *out = as;
  size_t base = strlen(r->where);
  for (size_t i = 0; i < n; i++) {
    snprintf(r->where + base, sizeof r->where - base, ".%s[%zu]", key, i);
    json_t *a = json_array_get(arr, i);
    pt_status s;
    if (!json_is_object(a)) return not_object(r, a);
    json_t *t = field(r, a, "text", is_string, "a string", true, &s);
    if (!t) return s;
    json_t *st = field(r, a, "answer_start", is_integer, "an integer", true, &s);
    if (!st) return s;
    int64_t start = json_integer_value(st);
    const char *text = json_string_value(t);
    size_t tlen = json_string_length(t);
    if (memchr(text, '\0', tlen)) return fail(r, "'text' holds a NUL character");
    as[i].text = strdup_checked(text);
    if (!as[i].text) return PT_ERR_NOMEM;
    as[i].start = start;
    *n_out = (int64_t)i + 1;
    char msg[320], ex[64], got[64];
    if (tlen == 0) return fail(r, "answer text is empty");
    if (start < 0 || start >= p->n_chars) {
      snprintf(msg, sizeof msg, "answer_start %lld is outside the context (length %lld)",
               (long long)start, (long long)p->n_chars);
      return fail(r, msg);
    }
    size_t b0 = (size_t)p->char_to_byte[start];
    excerpt(ex, sizeof ex, text, tlen);
    if (tlen > p->len - b0) {
      snprintf(msg, sizeof msg,
               "answer '%s' at answer_start %lld runs past the end of the context (length %lld)",
               ex, (long long)start, (long long)p->n_chars);
      return fail(r, msg);
    }
    if (memcmp(p->context + b0, text, tlen) != 0 ||
        (b0 + tlen < p->len && ((unsigned char)p->context[b0 + tlen] & 0xC0) == 0x80)) {
      excerpt(got, sizeof got, p->context + b0, tlen);
      snprintf(msg, sizeof msg,
               "answer text '%s' does not match the context at answer_start %lld ('%s')", ex,
               (long long)start, got);
      return fail(r, msg);
    }
  }
  r->where[base] = '\0';
  return PT_OK;
}

static pt_status read_qa(reader *r, json_t *qa, int64_t pi, int64_t ai, int64_t pj, int64_t qj,
                         const read_opts *opts) {
  squad_set *set = r->set;
  pt_status s;
  if (!json_is_object(qa)) return not_object(r, qa);
  json_t *id = field(r, qa, "id", is_string, "a string", true, &s);
  if (!id) return s;
  json_t *question = field(r, qa, "question", is_string, "a string", true, &s);
  if (!question) return s;
  json_t *answers = field(r, qa, "answers", is_array, "an array", !opts->labels_optional, &s);
  if (s) return s;
  json_t *imp = field(r, qa, "is_impossible", is_bool, "true or false", false, &s);
  if (s) return s;
  json_t *plaus = field(r, qa, "plausible_answers", is_array, "an array", false, &s);
  if (s) return s;
  const char *ids = json_string_value(id);
  if (!ids[0]) return fail(r, "empty 'id'");
  if (strlen(ids) != json_string_length(id) ||
      strlen(json_string_value(question)) != json_string_length(question))
    return fail(r, "'id' or 'question' holds a NUL character");
  ptrdiff_t prev = shgeti(r->ids, ids);
  if (prev >= 0) {
    const squad_question *o = &set->qs[r->ids[prev].value];
    char msg[320];
    snprintf(msg, sizeof msg,
             "duplicate id '%.80s' (first at data[%lld].paragraphs[%lld].qas[%lld])", ids,
             (long long)o->article, (long long)o->para_in_article, (long long)o->qa_in_para);
    return fail(r, msg);
  }
  PT_TRY(grow((void **)&set->qs, set->n, &r->cap_q, sizeof *set->qs));
  squad_question *q = &set->qs[set->n];
  memset(q, 0, sizeof *q);
  set->n++;
  q->para = pi;
  q->article = ai;
  q->para_in_article = pj;
  q->qa_in_para = qj;
  q->is_impossible = imp && json_is_true(imp);
  if (imp) set->v2 = true;
  q->id = strdup_checked(ids);
  q->question = strdup_checked(json_string_value(question));
  if (!q->id || !q->question) return PT_ERR_NOMEM;
  shput(r->ids, q->id, set->n - 1);
  const squad_paragraph *p = &set->paras[pi];
  if (answers) PT_TRY(read_answers(r, answers, "answers", p, &q->answers, &q->n_answers));
  if (plaus) PT_TRY(read_answers(r, plaus, "plausible_answers", p, &q->plausible, &q->n_plausible));
  if (q->is_impossible && q->n_answers > 0) {
    char msg[96];
    snprintf(msg, sizeof msg, "is_impossible is true but it has %lld answer(s)",
             (long long)q->n_answers);
    return fail(r, msg);
  }
  if (!q->is_impossible && q->n_answers == 0 && !opts->labels_optional)
    return fail(r, "no answers and is_impossible is not true");
  return PT_OK;
}

static pt_status read_data(reader *r, json_t *data, const read_opts *opts) {
  squad_set *set = r->set;
  pt_status s;
  size_t n_art = json_array_size(data);
  set->titles = calloc(n_art ? n_art : 1, sizeof *set->titles);
  if (!set->titles) return pt_error(PT_ERR_NOMEM, "squad: out of memory");
  for (size_t ai = 0; ai < n_art; ai++) {
    json_t *art = json_array_get(data, ai);
    snprintf(r->where, sizeof r->where, "data[%zu]", ai);
    if (!json_is_object(art)) return not_object(r, art);
    json_t *title = field(r, art, "title", is_string, "a string", false, &s);
    if (s) return s;
    set->titles[ai] = strdup_checked(title ? json_string_value(title) : "");
    if (!set->titles[ai]) return PT_ERR_NOMEM;
    set->n_articles = (int64_t)ai + 1;
    json_t *paras = field(r, art, "paragraphs", is_array, "an array", true, &s);
    if (!paras) return s;
    for (size_t pj = 0; pj < json_array_size(paras); pj++) {
      json_t *para = json_array_get(paras, pj);
      snprintf(r->where, sizeof r->where, "data[%zu].paragraphs[%zu]", ai, pj);
      if (!json_is_object(para)) return not_object(r, para);
      json_t *ctx = field(r, para, "context", is_string, "a string", true, &s);
      if (!ctx) return s;
      json_t *qas = field(r, para, "qas", is_array, "an array", true, &s);
      if (!qas) return s;
      size_t clen = json_string_length(ctx);
      if (memchr(json_string_value(ctx), '\0', clen))
        return fail(r, "'context' holds a NUL character");
      if (clen >= (size_t)INT32_MAX) return fail(r, "'context' is longer than 2 GiB");
      PT_TRY(grow((void **)&set->paras, set->n_paras, &r->cap_p, sizeof *set->paras));
      squad_paragraph *p = &set->paras[set->n_paras];
      set->n_paras++;
      PT_TRY(squad_paragraph_init(p, json_string_value(ctx), clen));
      p->article = (int64_t)ai;
      for (size_t qj = 0; qj < json_array_size(qas); qj++) {
        snprintf(r->where, sizeof r->where, "data[%zu].paragraphs[%zu].qas[%zu]", ai, pj, qj);
        PT_TRY(read_qa(r, json_array_get(qas, qj), set->n_paras - 1, (int64_t)ai, (int64_t)pj,
                       (int64_t)qj, opts));
      }
    }
  }
  return PT_OK;
}

pt_status read_squad(const char *path, const read_opts *opts, squad_set *out) {
  static const read_opts no_opts = {0};
  if (!opts) opts = &no_opts;
  memset(out, 0, sizeof *out);
  json_t *root = pt_json_load_object(path);
  if (!root) return pt_error_code();
  reader r = {.path = path, .set = out};
  sh_new_strdup(r.ids);
  pt_status s = PT_OK;
  out->path = strdup_checked(path);
  if (!out->path) s = PT_ERR_NOMEM;
  if (!s) {
    json_t *ver = json_object_get(root, "version");
    if (ver && !json_is_string(ver))
      s = pt_error(PT_ERR_FORMAT, "%s: 'version' must be a string, got %s", path,
                   pt_json_type_name(ver));
    else {
      out->version = strdup_checked(ver ? json_string_value(ver) : "");
      if (!out->version)
        s = PT_ERR_NOMEM;
      else if (strncmp(out->version, "v2", 2) == 0 || strncmp(out->version, "2", 1) == 0)
        out->v2 = true;
    }
  }
  if (!s) {
    json_t *data = json_object_get(root, "data");
    if (!data)
      s = pt_error(PT_ERR_FORMAT,
                   "%s: missing 'data' (a SQuAD file is {\"version\", \"data\": [...]})", path);
    else if (!json_is_array(data))
      s = pt_error(PT_ERR_FORMAT, "%s: 'data' must be an array, got %s", path,
                   pt_json_type_name(data));
    else
      s = read_data(&r, data, opts);
  }
  if (!s && out->n == 0) s = pt_error(PT_ERR_FORMAT, "%s: no questions", path);
  shfree(r.ids);
  json_decref(root);
  if (s) squad_set_free(out);
  return s;
}
