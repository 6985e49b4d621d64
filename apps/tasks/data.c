/* A task's data file read and encoded into features through its row: read,
 * label ids, then every example (qa: every window) encoded in parallel. */
#include <stdlib.h>
#include <string.h>

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
  if (td->task && td->examples) td->task->free_examples(td->examples);
  free(td->examples);
  memset(td, 0, sizeof *td);
}

/* Reads td's examples with `read` (a file's or a request's), then checks
 * that there are some. */
static pt_status data_read(const task_def *t, const char *path, task_data *td,
                           pt_status (*read)(const void *src, task_data *td), const void *src) {
  memset(td, 0, sizeof *td);
  td->task = t;
  td->path = path;
  if (!(td->examples = calloc(1, t->examples_size)))
    return pt_error(PT_ERR_NOMEM, "%s: out of memory", path);
  pt_status st = read(src, td);
  if (st == PT_OK && td->n_examples == 0) st = pt_error(PT_ERR_FORMAT, "%s: no examples", path);
  if (st != PT_OK) task_data_free(td);
  return st;
}

typedef struct {
  const task_opts *o;
  const char *path;
  bool need_labels;
  const json_t *inputs;
} data_source;

static pt_status read_file(const void *src, task_data *td) {
  const data_source *s = src;
  return td->task->read(s->o, s->path, s->need_labels, td);
}

static pt_status read_inputs(const void *src, task_data *td) {
  const data_source *s = src;
  if (!td->task->read_inputs)
    return pt_error(PT_ERR_ARG, "the %s task is not served", td->task->name);
  return td->task->read_inputs(s->o, s->inputs, td);
}

pt_status task_data_read(const task_def *t, const task_opts *o, const char *path,
                         bool need_labels, task_data *td) {
  data_source s = {o, path, need_labels, NULL};
  return data_read(t, path, td, read_file, &s);
}

pt_status task_data_from_inputs(const task_def *t, const task_opts *o, const json_t *inputs,
                                task_data *td) {
  data_source s = {o, "inputs", false, inputs};
  return data_read(t, "inputs", td, read_inputs, &s);
}

pt_status task_preset_labels(const task_def *t, const task_opts *o, label_map *map) {
  return t->preset_labels ? t->preset_labels(o, map) : PT_OK;
}

pt_status task_data_map_labels(task_data *td, label_map *map, bool grow) {
  if (!td->labelled || !td->task->map_labels) return PT_OK;
  return td->task->map_labels(td, map, grow);
}

/* Copies n values of src (NULL: zeros) into a new array. */
static int64_t *dup64(const int64_t *src, int64_t n) {
  int64_t *d = malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
  if (d) {
    if (src)
      memcpy(d, src, sizeof(int64_t) * (size_t)n);
    else
      memset(d, 0, sizeof(int64_t) * (size_t)n);
  }
  return d;
}

pt_status feature_add_sequence(task_feature *f, const pt_encoding *e) {
  if (f->nseq == FEATURE_MAX_SEQ)
    return pt_error(PT_ERR_ARG, "features: more than %d sequences in one example", FEATURE_MAX_SEQ);
  int k = f->nseq++;
  f->len[k] = e->n;
  f->ids[k] = dup64(e->ids, e->n);
  f->types[k] = dup64(e->type_ids, e->n);
  if (!f->ids[k] || !f->types[k]) return pt_error(PT_ERR_NOMEM, "features: out of memory");
  return PT_OK;
}

static pt_status encode_one(const task_data *td, const pt_tokenizer *tok, const task_opts *o,
                            int64_t i, task_feature *f) {
  f->label = -1;
  f->example = i;
  return td->task->encode(td, tok, o, i, f);
}

pt_status task_data_encode(task_data *td, const pt_tokenizer *tok, const task_opts *o) {
  int64_t n = td->n_examples;
  if (td->task->count_features) PT_TRY(td->task->count_features(td, tok, o, &n));
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
  for (int64_t i = 0; i < n; i++) sts[i] = encode_one(td, tok, o, i, &td->f[i]);
  pt_status st = PT_OK;
  for (int64_t i = 0; i < n && st == PT_OK; i++)
    if (sts[i] != PT_OK) {
      task_feature scratch = {0};
      st = encode_one(td, tok, o, i, &scratch);
      feature_free(&scratch);
      if (st == PT_OK)
        st = pt_error(sts[i], "%s: example %lld could not be encoded", td->path, (long long)i + 1);
    }
  free(sts);
  return st;
}
