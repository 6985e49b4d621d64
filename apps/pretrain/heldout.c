/* The held-out set of `ptune pretrain`: held-out sequences masked once
 * (--eval-seed), the unigram baseline on them, and the model's loss and
 * accuracy over them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "apps/pretrain/pretrain.h"
#include "dist/pt_dist.h"
#include "autograd/pt_autograd.h"


pt_status heldout_make(const mlm_corpus *c, const masker *mk, uint64_t eval_seed,
                              heldout_set *h) {
  memset(h, 0, sizeof *h);
  h->n = c->n_heldout;
  h->S = c->max_len;
  size_t cells = (size_t)(h->n * h->S);
  h->ids = malloc((cells ? cells : 1) * sizeof *h->ids);
  h->labels = malloc((cells ? cells : 1) * sizeof *h->labels);
  h->mask_labels = malloc((cells ? cells : 1) * sizeof *h->mask_labels);
  if (!h->ids || !h->labels || !h->mask_labels)
    return pt_error(PT_ERR_NOMEM, "pretrain: out of memory");
  for (int64_t i = 0; i < h->n; i++)
    masker_apply(mk, c->ids + c->heldout[i] * h->S, h->S, eval_seed, (uint64_t)i,
                    h->ids + i * h->S, h->labels + i * h->S);
  /* the unigram baseline: always the most frequent training token; its loss
   * uses the add-one smoothed training frequencies */
  int64_t total = 0, best = 0;
  for (int64_t v = 0; v < c->vocab_size; v++) {
    total += c->counts[v];
    if (c->counts[v] > c->counts[best]) best = v;
  }
  double nll = 0;
  int64_t hit = 0, hit_mask = 0;
  for (size_t k = 0; k < cells; k++) {
    int64_t l = h->labels[k];
    bool is_mask = l >= 0 && h->ids[k] == mk->mask_id;
    h->mask_labels[k] = is_mask ? l : -100;
    if (l < 0) continue;
    h->n_masked++;
    h->n_mask_token += is_mask;
    hit += l == best;
    hit_mask += is_mask && l == best;
    nll -= log((double)(c->counts[l] + 1) / (double)(total + c->vocab_size));
  }
  h->unigram_id = best;
  h->unigram_loss = h->n_masked ? nll / (double)h->n_masked : NAN;
  h->unigram_acc = h->n_masked ? (double)hit / (double)h->n_masked : NAN;
  h->unigram_acc_mask = h->n_mask_token ? (double)hit_mask / (double)h->n_mask_token : NAN;
  return PT_OK;
}

void heldout_free(heldout_set *h) {
  free(h->ids);
  free(h->labels);
  free(h->mask_labels);
  memset(h, 0, sizeof *h);
}

/* Mean loss and accuracy over the held-out positions with a label in
 * `labels` (eval mode). Under mpirun batch b runs on rank b mod N and the
 * per-batch sums travel in a sum across ranks in which each slot has one
 * contributor (x + 0 = x), so every rank folds the bits one process would. */
static pt_status eval_labels(const pt_mlm_model *m, const heldout_set *h, const int64_t *labels,
                             int64_t B, double *loss, double *acc) {
  int64_t nbatch = (h->n + B - 1) / B;
  double *per = calloc((size_t)(3 * nbatch + 1), sizeof *per); /* loss sum, masked, correct */
  if (!per) return pt_error(PT_ERR_NOMEM, "pretrain: out of memory");
  int size = pt_dist_size(), rank = pt_dist_rank();
  pt_status st = PT_OK;
  pt_no_grad_enter();
  for (int64_t b = rank; b < nbatch && st == PT_OK; b += size) {
    int64_t i = b * B, nb = h->n - i < B ? h->n - i : B;
    pt_tensor *ids = pt_from_buffer(PT_I64, 2, PT_SHAPE(nb, h->S), h->ids + i * h->S);
    pt_tensor *lab = pt_from_buffer(PT_I64, 2, PT_SHAPE(nb, h->S), (int64_t *)labels + i * h->S);
    bool any = false;
    for (int64_t k = 0; k < nb * h->S; k++) any |= labels[i * h->S + k] >= 0;
    pt_mlm_outputs o = {0};
    if (!ids || !lab)
      st = pt_error_code();
    else if (any)
      st = pt_mlm_forward(m, ids, NULL, lab, (pt_nn_mode){.training = false}, false, &o);
    if (st == PT_OK && any) {
      per[3 * b] = pt_get(o.loss, 0) * (double)o.n_masked;
      per[3 * b + 1] = (double)o.n_masked;
      per[3 * b + 2] = (double)o.n_correct;
    }
    pt_mlm_outputs_free(&o);
    pt_tensor_free(ids);
    pt_tensor_free(lab);
  }
  pt_no_grad_exit();
  if (size > 1) {
    st = pt_dist_agree(st);
    if (st == PT_OK) st = pt_dist_sum_f64(per, 3 * nbatch);
  }
  double sum = 0;
  int64_t n = 0, ok = 0;
  for (int64_t b = 0; b < nbatch; b++) {
    sum += per[3 * b];
    n += (int64_t)per[3 * b + 1];
    ok += (int64_t)per[3 * b + 2];
  }
  free(per);
  *loss = n ? sum / (double)n : NAN;
  *acc = n ? (double)ok / (double)n : NAN;
  return st;
}

pt_status heldout_evaluate(const pt_mlm_model *m, const heldout_set *h, int64_t B,
                           heldout_score *r) {
  double unused;
  PT_TRY(eval_labels(m, h, h->labels, B, &r->loss, &r->acc));
  if (!h->n_mask_token) {
    r->acc_mask = NAN;
    return PT_OK;
  }
  return eval_labels(m, h, h->mask_labels, B, &unused, &r->acc_mask);
}

