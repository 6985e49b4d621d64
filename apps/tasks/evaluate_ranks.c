/* Evaluation shared out over the ranks of an mpirun job (task.h): each rank
 * runs the forward of its batches and sends their outputs (the logits, the
 * span logits) to rank 0, which reads them in batch order exactly as
 * task_evaluate reads its own, scores, and sends the scores back. Outputs,
 * not predictions, travel: every task's predict_batch and predict_end then
 * run unchanged, on one rank, over the whole data. */
#include <stdlib.h>
#include <string.h>

#include "apps/tasks/task.h"
#include "dist/pt_dist.h"

/* A growing byte buffer of one rank's outputs. */
typedef struct {
  char *p;
  size_t n, cap;
} bytes;

static pt_status put(bytes *b, const void *data, size_t n) {
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + n) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return pt_error(PT_ERR_NOMEM, "eval: out of memory for the outputs");
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, data, n);
  b->n += n;
  return PT_OK;
}

/* An output tensor: [present, dtype, ndim, shape...] as int64, then its
 * elements row-major. */
static pt_status put_tensor(bytes *b, const pt_tensor *t) {
  int64_t head[3 + PT_MAX_DIMS] = {t != NULL};
  if (!t) return put(b, head, sizeof(int64_t));
  pt_tensor *c = pt_is_contiguous(t) ? NULL : pt_to_dtype(t, t->dtype);
  if (!pt_is_contiguous(t) && !c) return pt_error_code();
  const pt_tensor *x = c ? c : t;
  head[1] = x->dtype;
  head[2] = x->ndim;
  for (int d = 0; d < x->ndim; d++) head[3 + d] = x->shape[d];
  pt_status st = put(b, head, sizeof(int64_t) * (size_t)(3 + x->ndim));
  if (st == PT_OK) st = put(b, pt_data(x), (size_t)pt_numel(x) * pt_dtype_size(x->dtype));
  pt_tensor_free(c);
  return st;
}

/* The next tensor of a received buffer (*t NULL when absent). */
static pt_status get_tensor(const char **p, const char *end, pt_tensor **t) {
  int64_t head[3 + PT_MAX_DIMS];
  *t = NULL;
  if (end - *p < (ptrdiff_t)sizeof(int64_t))
    return pt_error(PT_ERR_FORMAT, "eval: outputs of a rank cut short");
  memcpy(head, *p, sizeof(int64_t));
  *p += sizeof(int64_t);
  if (!head[0]) return PT_OK;
  memcpy(head + 1, *p, 2 * sizeof(int64_t));
  int nd = (int)head[2];
  if (nd < 0 || nd > PT_MAX_DIMS) return pt_error(PT_ERR_FORMAT, "eval: outputs of a rank garbled");
  memcpy(head + 3, *p + 2 * sizeof(int64_t), (size_t)nd * sizeof(int64_t));
  *p += (size_t)(2 + nd) * sizeof(int64_t);
  int64_t n = 1;
  for (int d = 0; d < nd; d++) n *= head[3 + d];
  size_t bytes_n = (size_t)n * pt_dtype_size((pt_dtype)head[1]);
  if ((size_t)(end - *p) < bytes_n) return pt_error(PT_ERR_FORMAT, "eval: outputs of a rank cut short");
  *t = pt_from_buffer((pt_dtype)head[1], nd, head + 3, *p);
  if (!*t) return pt_error_code();
  *p += bytes_n;
  return PT_OK;
}

/* This rank's batches: forward, outputs into *b. */
static pt_status run_share(pt_model *m, const task_data *td, int64_t batch_size, int64_t pad_id,
                           bytes *b) {
  const task_feature **fb = malloc(sizeof(task_feature *) * (size_t)batch_size);
  if (!fb) return pt_error(PT_ERR_NOMEM, "eval: out of memory");
  pt_status st = PT_OK;
  int size = pt_dist_size(), rank = pt_dist_rank();
  for (int64_t i = (int64_t)rank * batch_size; st == PT_OK && i < td->n; i += size * batch_size) {
    int64_t nb = td->n - i < batch_size ? td->n - i : batch_size;
    pt_model_outputs po = {0};
    st = task_forward_batch(m, td, i, nb, pad_id, fb, &po);
    if (st == PT_OK) st = put_tensor(b, po.logits);
    if (st == PT_OK) st = put_tensor(b, po.start_logits);
    if (st == PT_OK) st = put_tensor(b, po.end_logits);
    pt_model_outputs_free(&po);
  }
  free(fb);
  return st;
}

/* Rank 0: every rank's outputs (all = their concatenation, counts[r] bytes
 * from rank r) read in batch order, then the scores. */
static pt_status read_all(const task_data *td, const label_map *map, const task_opts *o,
                          int64_t batch_size, const char *all, const size_t *counts,
                          eval_result *out) {
  const task_def *t = td->task;
  int size = pt_dist_size();
  const char *at[64], *end[64];
  size_t off = 0;
  for (int r = 0; r < size; off += counts[r], r++) at[r] = all + off, end[r] = at[r] + counts[r];
  const task_feature **fb = malloc(sizeof(task_feature *) * (size_t)batch_size);
  pt_status st = fb ? t->predict_begin(td, map, out) : pt_error(PT_ERR_NOMEM, "eval: out of memory");
  for (int64_t i = 0, b = 0; st == PT_OK && i < td->n; i += batch_size, b++) {
    int64_t nb = td->n - i < batch_size ? td->n - i : batch_size;
    for (int64_t k = 0; k < nb; k++) fb[k] = &td->f[i + k];
    int r = (int)(b % size);
    pt_model_outputs po = {0};
    st = get_tensor(&at[r], end[r], &po.logits);
    if (st == PT_OK) st = get_tensor(&at[r], end[r], &po.start_logits);
    if (st == PT_OK) st = get_tensor(&at[r], end[r], &po.end_logits);
    if (st == PT_OK) st = t->predict_batch(td, map, fb, nb, &po, out);
    pt_model_outputs_free(&po);
  }
  free(fb);
  if (st == PT_OK && t->predict_end) st = t->predict_end(td, o, out);
  if (st == PT_OK) st = task_score_predictions(td, map, o, out);
  return st;
}

/* What rank 0 sends back: the scores. */
typedef struct {
  double primary;
  char name[64];
  uint64_t json_len;
} verdict;

pt_status task_evaluate_ranks(pt_model *m, const task_data *td, const label_map *map,
                              const task_opts *o, int64_t batch_size, int64_t pad_id,
                              eval_result *out) {
  int size = pt_dist_size();
  if (size == 1) return task_evaluate(m, td, map, o, batch_size, pad_id, out);
  if (size > 64) return pt_error(PT_ERR_ARG, "eval: more than 64 ranks");
  memset(out, 0, sizeof *out);
  out->n = td->n_examples;
  bytes mine = {0};
  pt_status st = pt_dist_agree(run_share(m, td, batch_size, pad_id, &mine));
  void *all = NULL;
  size_t counts[64];
  if (st == PT_OK) st = pt_dist_gather(mine.p, mine.n, &all, counts);
  free(mine.p);
  if (st == PT_OK && pt_dist_rank() == 0) st = read_all(td, map, o, batch_size, all, counts, out);
  free(all);
  st = pt_dist_agree(st);
  verdict v = {0};
  if (st == PT_OK && pt_dist_rank() == 0) {
    v.primary = out->primary;
    snprintf(v.name, sizeof v.name, "%s", out->primary_name ? out->primary_name : "");
    v.json_len = strlen(out->json);
  }
  if (st == PT_OK) st = pt_dist_bcast(&v, sizeof v, 0);
  if (st == PT_OK && pt_dist_rank() != 0) {
    out->json = calloc(v.json_len + 1, 1);
    if (!out->json) st = pt_error(PT_ERR_NOMEM, "eval: out of memory");
    /* the task's names are static strings; elsewhere one of our own */
    static char name[sizeof v.name];
    memcpy(name, v.name, sizeof name);
    out->primary_name = name;
    out->primary = v.primary;
  }
  if (st == PT_OK) st = pt_dist_bcast(out->json, v.json_len, 0);
  if (st != PT_OK) eval_result_free(out);
  return st;
}
