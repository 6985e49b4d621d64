/* Gradient buckets: each micro-batch's gradients are moved into flat
 * buffers as backward finishes them (pt_backward_hooked), and in the last
 * micro-batch of a step a full bucket starts its ordered sum across ranks
 * while backward still computes the layers below.
 *
 * With one rank nothing is sent, so there are no buckets: the gradients
 * stay in the tensors and later micro-batches are folded into them with
 * the same additions (no copy, no second gradient-sized buffer).
 *
 * A bucket of K parameters holds [their gradients | K presence counts | the
 * micro-batch count]. The counts are summed with the gradients (small
 * integers in floats: exact), so after the sum every rank knows which
 * parameters got a gradient anywhere and how many micro-batches there were,
 * with no extra message. */
#include <stdlib.h>
#include <string.h>

#include "dist/dist_internal.h"

#define DEFAULT_BUCKET_BYTES ((size_t)25 << 20)

typedef struct {
  int first, count;   /* params [first, first + count) of the bucket order */
  int64_t ngrad;      /* gradient elements; then count flags, then 1 counter */
  pt_storage *store;
  dist_sum sum;
  int ready;          /* params final in the current last micro-batch */
  bool sent, done;
} bucket;

typedef struct {
  pt_tensor *param;
  int index; /* in bucket order */
} param_key;

struct pt_dist_grads {
  int n;
  pt_tensor **param;  /* bucket order: the given order reversed */
  int *bucket_of;
  int64_t *offset;    /* first element in its bucket */
  bool *seen;         /* final in the current micro-batch */
  param_key *keys;    /* sorted by address, for the hook's lookup */
  int nb;
  bucket *b;
  int micro;          /* local micro-batches begun this step */
  bool last;          /* the current micro-batch is the last */
  bool local;         /* one rank: no buckets, the fold happens in place */
  pt_tensor **stash;  /* local: the sum of the micro-batches before this one */
  double t_first_send;
  pt_dist_grads_stats stats;
};

static int by_param(const void *a, const void *b) {
  const param_key *x = a, *y = b;
  return x->param == y->param ? 0 : (uintptr_t)x->param < (uintptr_t)y->param ? -1 : 1;
}

static float *bucket_data(const bucket *b) { return b->store->data; }

void pt_dist_grads_free(pt_dist_grads *g) {
  if (!g) return;
  for (int i = 0; i < g->nb; i++) {
    pt_storage_unref(g->b[i].store);
    dist_sum_free(&g->b[i].sum);
  }
  free(g->b);
  free(g->param);
  free(g->bucket_of);
  free(g->offset);
  free(g->seen);
  free(g->keys);
  for (int i = 0; g->stash && i < g->n; i++) pt_tensor_free(g->stash[i]);
  free(g->stash);
  free(g);
}

static pt_status check_params(pt_tensor *const *params, int n) {
  if (n < 1) return pt_error(PT_ERR_ARG, "mpi: gradient buckets over %d parameters", n);
  for (int i = 0; i < n; i++) {
    const pt_tensor *p = params[i];
    if (!p) return pt_error(PT_ERR_ARG, "mpi: gradient buckets: parameter %d is NULL", i);
    if (p->dtype != PT_F32 || !pt_is_contiguous(p) || !pt_requires_grad(p))
      return pt_error(PT_ERR_ARG,
                      "mpi: gradient buckets: parameter %s must be F32, contiguous and require "
                      "grad",
                      p->name ? p->name : "(unnamed)");
  }
  return PT_OK;
}

/* Packs the params, last first, into buckets of about `cap` bytes. */
static pt_status make_buckets(pt_dist_grads *g, size_t cap) {
  g->b = calloc((size_t)g->n, sizeof *g->b);
  if (!g->b) return pt_error(PT_ERR_NOMEM, "mpi: out of memory");
  for (int i = 0; i < g->n; i++) {
    size_t bytes = (size_t)pt_numel(g->param[i]) * sizeof(float);
    bucket *cur = g->nb ? &g->b[g->nb - 1] : NULL;
    if (!cur || (cur->ngrad > 0 && (size_t)cur->ngrad * sizeof(float) + bytes > cap)) {
      cur = &g->b[g->nb++];
      cur->first = i;
    }
    g->bucket_of[i] = g->nb - 1;
    g->offset[i] = cur->ngrad;
    cur->ngrad += pt_numel(g->param[i]);
    cur->count++;
  }
  for (int k = 0; k < g->nb && !g->local; k++) {
    bucket *b = &g->b[k];
    int64_t total = b->ngrad + b->count + 1;
    b->store = pt_storage_new((size_t)total * sizeof(float));
    if (!b->store) return pt_error(PT_ERR_NOMEM, "mpi: out of memory for a %lld-element bucket",
                                   (long long)total);
    b->sum = (dist_sum){.buf = b->store->data, .n = total, .dt = DIST_F32,
                        .tag = DIST_TAG_BUCKET + 2 * k};
  }
  return PT_OK;
}

pt_dist_grads *pt_dist_grads_new(pt_tensor *const *params, int n, size_t bucket_bytes) {
  if (check_params(params, n) != PT_OK) return NULL;
  pt_dist_grads *g = calloc(1, sizeof *g);
  if (!g) {
    pt_error(PT_ERR_NOMEM, "mpi: out of memory");
    return NULL;
  }
  g->n = n;
  g->param = malloc(sizeof *g->param * (size_t)n);
  g->bucket_of = malloc(sizeof *g->bucket_of * (size_t)n);
  g->offset = malloc(sizeof *g->offset * (size_t)n);
  g->seen = calloc((size_t)n, sizeof *g->seen);
  g->keys = malloc(sizeof *g->keys * (size_t)n);
  g->local = dist_g.size == 1;
  g->stash = calloc((size_t)n, sizeof *g->stash);
  pt_status st = g->param && g->bucket_of && g->offset && g->seen && g->keys && g->stash
                     ? PT_OK
                     : pt_error(PT_ERR_NOMEM, "mpi: out of memory");
  for (int i = 0; st == PT_OK && i < n; i++) {
    g->param[i] = params[n - 1 - i];
    g->keys[i] = (param_key){g->param[i], i};
  }
  if (st == PT_OK) {
    qsort(g->keys, (size_t)n, sizeof *g->keys, by_param);
    for (int i = 1; st == PT_OK && i < n; i++)
      if (g->keys[i].param == g->keys[i - 1].param)
        st = pt_error(PT_ERR_ARG, "mpi: gradient buckets: parameter %s given twice",
                      g->keys[i].param->name ? g->keys[i].param->name : "(unnamed)");
  }
  if (st == PT_OK) st = make_buckets(g, bucket_bytes ? bucket_bytes : DEFAULT_BUCKET_BYTES);
  if (st != PT_OK) {
    pt_dist_grads_free(g);
    return NULL;
  }
  g->stats.buckets = g->local ? 0 : g->nb;
  for (int k = 0; k < g->nb; k++) g->stats.bytes += (size_t)g->b[k].ngrad * sizeof(float);
  return g;
}

/* Starts bucket k's sum: its micro-batch counter says how many local
 * micro-batches went in. */
static pt_status send_bucket(pt_dist_grads *g, int k, bool contributes) {
  bucket *b = &g->b[k];
  bucket_data(b)[b->ngrad + b->count] = (float)g->micro;
  if (g->t_first_send == 0) g->t_first_send = dist_now();
  b->sent = true;
  return dist_sum_start(&b->sum, contributes);
}

/* Lets the buckets in flight move on (no blocking). */
static pt_status poll(pt_dist_grads *g) {
  for (int k = 0; k < g->nb; k++) {
    bucket *b = &g->b[k];
    if (b->sent && !b->done) PT_TRY(dist_sum_progress(&b->sum, &b->done));
  }
  return PT_OK;
}

/* The hook: `leaf`'s gradient of this micro-batch is final. */
static pt_status on_ready(pt_tensor *leaf, void *ctx) {
  pt_dist_grads *g = ctx;
  param_key key = {leaf, 0};
  param_key *hit = bsearch(&key, g->keys, (size_t)g->n, sizeof key, by_param);
  if (!hit || !leaf->grad) return PT_OK; /* not ours, or no gradient after all */
  int i = hit->index;
  double t0 = dist_now();
  pt_tensor *grad = leaf->grad;
  if (grad->dtype != PT_F32 || !pt_is_contiguous(grad) || pt_numel(grad) != pt_numel(leaf))
    return pt_error(PT_ERR_STATE, "mpi: gradient of %s is not a contiguous F32 tensor of its shape",
                    leaf->name ? leaf->name : "(unnamed)");
  bucket *b = &g->b[g->bucket_of[i]];
  float *slot = bucket_data(b) + g->offset[i];
  if (g->micro == 1)
    memcpy(slot, pt_data(grad), sizeof(float) * (size_t)pt_numel(grad));
  else
    dist_add(DIST_F32, slot, pt_data(grad), pt_numel(grad));
  bucket_data(b)[b->ngrad + (i - b->first)] += 1.0f;
  leaf->grad = NULL;
  pt_tensor_free(grad);
  g->seen[i] = true;
  g->stats.pack_s += dist_now() - t0;
  if (g->last && ++b->ready == b->count) {
    PT_TRY(send_bucket(g, g->bucket_of[i], true));
    g->stats.sent_early++;
  }
  return poll(g);
}

/* x = x + 0: what adding an absent (zero) gradient does to a sum (-0
 * becomes +0), kept so that one rank gives the bits of many. */
static void add_zero(float *x, int64_t n) {
  for (int64_t j = 0; j < n; j++) x[j] = x[j] + 0.0f;
}

/* One rank: micro-batch 1 leaves its gradients where backward puts them;
 * from micro-batch 2 on the sum so far waits aside (stash) while backward
 * makes fresh gradients, then takes them in: stash + fresh, stash + 0 for
 * an absent one, 0 + fresh when none came before (as the buckets do). */
static pt_status local_backward(pt_dist_grads *g, pt_tensor *loss) {
  if (g->micro == 2)
    for (int i = 0; i < g->n; i++) g->stash[i] = g->param[i]->grad, g->param[i]->grad = NULL;
  PT_TRY(pt_backward(loss, NULL, false));
  if (g->micro == 1) return PT_OK;
  double t0 = dist_now();
  for (int i = 0; i < g->n; i++) {
    pt_tensor *p = g->param[i], *fresh = p->grad, *sum = g->stash[i];
    p->grad = NULL;
    if (fresh && (fresh->dtype != PT_F32 || !pt_is_contiguous(fresh))) {
      pt_tensor_free(fresh);
      return pt_error(PT_ERR_STATE, "mpi: gradient of %s is not a contiguous F32 tensor",
                      p->name ? p->name : "(unnamed)");
    }
    if (sum && fresh) {
      dist_add(DIST_F32, pt_data(sum), pt_data(fresh), pt_numel(sum));
      pt_tensor_free(fresh);
    } else if (sum) {
      add_zero(pt_data(sum), pt_numel(sum));
    } else if (fresh) {
      /* 0 + x: the zeros of the micro-batches that had none */
      float *x = pt_data(fresh);
      for (int64_t j = 0; j < pt_numel(fresh); j++) x[j] = 0.0f + x[j];
      g->stash[i] = fresh;
    }
  }
  g->stats.pack_s += dist_now() - t0;
  return PT_OK;
}

pt_status pt_dist_grads_backward(pt_dist_grads *g, pt_tensor *loss, bool last) {
  if (g->local) {
    g->micro++;
    return local_backward(g, loss);
  }
  if (g->micro++ == 0)
    for (int k = 0; k < g->nb; k++) /* presence counts start at zero */
      memset(bucket_data(&g->b[k]) + g->b[k].ngrad, 0, sizeof(float) * (size_t)(g->b[k].count + 1));
  g->last = last;
  pt_status st = pt_backward_hooked(loss, NULL, false, on_ready, g);
  if (st != PT_OK) return st;
  /* parameters this micro-batch did not reach count as zeros; x + 0 (not
   * "nothing") so that -0 becomes +0 exactly as in a sum across ranks */
  for (int i = 0; i < g->n; i++) {
    if (g->seen[i]) {
      g->seen[i] = false;
      continue;
    }
    const bucket *b = &g->b[g->bucket_of[i]];
    float *slot = bucket_data(b) + g->offset[i];
    int64_t m = pt_numel(g->param[i]);
    if (g->micro == 1)
      memset(slot, 0, sizeof(float) * (size_t)m);
    else
      add_zero(slot, m);
  }
  if (!last) return PT_OK;
  for (int k = 0; k < g->nb; k++)
    if (!g->b[k].sent) PT_TRY(send_bucket(g, k, true));
  return poll(g);
}

pt_status pt_dist_grads_finish(pt_dist_grads *g, int64_t *micro) {
  if (g->local) {
    for (int i = 0; g->micro >= 2 && i < g->n; i++) {
      pt_tensor_free(g->param[i]->grad);
      g->param[i]->grad = g->stash[i];
      g->stash[i] = NULL;
    }
    if (micro) *micro = g->micro;
    g->micro = 0;
    g->stats.steps++;
    return PT_OK;
  }
  double t0 = dist_now();
  for (int k = 0; k < g->nb; k++) /* no micro-batch: take part, add nothing */
    if (!g->b[k].sent) PT_TRY(send_bucket(g, k, g->micro > 0));
  for (int k = 0; k < g->nb; k++)
    if (!g->b[k].done) PT_TRY(dist_sum_wait(&g->b[k].sum, "gradient sum"));
  double t_done = 0;
  for (int k = 0; k < g->nb; k++) {
    g->b[k].done = true;
    if (g->b[k].sum.t_done > t_done) t_done = g->b[k].sum.t_done;
  }
  pt_status st = PT_OK;
  for (int i = 0; i < g->n; i++) {
    const bucket *b = &g->b[g->bucket_of[i]];
    pt_tensor *p = g->param[i];
    pt_tensor_free(p->grad);
    p->grad = NULL;
    if (bucket_data(b)[b->ngrad + (i - b->first)] > 0 && st == PT_OK) {
      p->grad = pt_tensor_wrap(b->store, PT_F32, g->offset[i], p->ndim, p->shape, NULL);
      if (!p->grad) st = pt_error_code();
    }
  }
  if (micro) *micro = (int64_t)bucket_data(&g->b[0])[g->b[0].ngrad + g->b[0].count];
  for (int k = 0; k < g->nb; k++) g->b[k].ready = 0, g->b[k].sent = g->b[k].done = false;
  g->stats.steps++;
  g->stats.wait_s += dist_now() - t0;
  if (g->t_first_send > 0) g->stats.comm_s += t_done - g->t_first_send;
  g->t_first_send = 0;
  g->micro = 0;
  g->last = false;
  return st;
}

pt_dist_grads_stats pt_dist_grads_get_stats(const pt_dist_grads *g) { return g->stats; }
