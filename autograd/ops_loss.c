/* cross_entropy: mean negative log-likelihood of class targets under
 * softmax(logits), with ignore_index and label smoothing, as
 * torch.nn.functional.cross_entropy(logits, targets, ignore_index=...,
 * label_smoothing=ε, reduction='mean') for logits [..., C].
 *
 * Per kept row r (target t ≠ ignore_index), with lse = log Σ_c exp(x_c):
 *   loss_r = (1 − ε)·(lse − x_t) + ε·mean_c(lse − x_c)
 * and the result is Σ loss_r / (number of kept rows): NaN when every row
 * is ignored (0/0, as in PyTorch).
 *
 * Forward was that, so the gradient of a kept row is
 *   dx_c = g/count · (softmax(x)_c − (1 − ε)·[c = t] − ε/C)
 * and ignored rows get zero. Saved: 0 the contiguous logits, 1 the targets
 * (I64, contiguous), 2 lse per row (F64); iarg[0] = ignore_index,
 * iarg[1] = count; farg[0] = ε. */
#include <math.h>

#include "tensor/pt_vmath.h"

#include "autograd/pt_autograd.h"
#include "autograd/pt_op_table.h"
#include "autograd/pt_ops.h"
#include "autograd/pt_ops_norm.h"

#define PAR_MIN 32768
#define CE_CHUNK 256 /* logits per exp buffer */

/* rows of C logits -> lse[r] and loss[r] (0 for ignored rows). */
#define DEFINE_CE(T, SFX, EXP)                                                             \
  static void ce_fwd_##SFX(const T *x, const int64_t *t, int64_t N, int64_t C,             \
                           int64_t ignore, double eps, double *lse, double *loss) {        \
    _Pragma("omp parallel for if (N * C > PAR_MIN) schedule(static)")                     \
    for (int64_t r = 0; r < N; r++) {                                                      \
      const T *xr = x + r * C;                                                             \
      if (t[r] == ignore) {                                                                \
        lse[r] = 0;                                                                        \
        loss[r] = 0;                                                                       \
        continue;                                                                          \
      }                                                                                    \
      T m = -INFINITY;                                                                     \
      _Pragma("omp simd reduction(max : m)")                                               \
      for (int64_t c = 0; c < C; c++) m = xr[c] > m ? xr[c] : m;                           \
      double s = 0, sx = 0;                                                                \
      _Pragma("omp simd reduction(+ : sx)")                                                \
      for (int64_t c = 0; c < C; c++) sx += xr[c];                                         \
      /* exp into a small buffer, then sum: both loops vectorize */                        \
      for (int64_t c0 = 0; c0 < C; c0 += CE_CHUNK) {                                       \
        T e[CE_CHUNK];                                                                     \
        int64_t w = C - c0 < CE_CHUNK ? C - c0 : CE_CHUNK;                                 \
        for (int64_t c = 0; c < w; c++) e[c] = EXP(xr[c0 + c] - m);                        \
        _Pragma("omp simd reduction(+ : s)")                                               \
        for (int64_t c = 0; c < w; c++) s += e[c];                                         \
      }                                                                                    \
      double l = (double)m + log(s);                                                       \
      lse[r] = l;                                                                          \
      loss[r] = (1.0 - eps) * (l - (double)xr[t[r]]) + eps * (l - sx / (double)C);         \
    }                                                                                      \
  }                                                                                        \
  static void ce_bwd_##SFX(const T *x, const int64_t *t, const double *lse, T *dx,         \
                           int64_t N, int64_t C, int64_t ignore, double eps, double scale) { \
    _Pragma("omp parallel for if (N * C > PAR_MIN) schedule(static)")                     \
    for (int64_t r = 0; r < N; r++) {                                                      \
      const T *xr = x + r * C;                                                             \
      T *dr = dx + r * C;                                                                  \
      if (t[r] == ignore) {                                                                \
        for (int64_t c = 0; c < C; c++) dr[c] = 0;                                         \
        continue;                                                                          \
      }                                                                                    \
      T l = (T)lse[r], sc = (T)scale, off = (T)(eps / (double)C);                          \
      for (int64_t c = 0; c < C; c++) dr[c] = sc * (EXP(xr[c] - l) - off);                 \
      dr[t[r]] -= sc * (T)(1.0 - eps);                                                     \
    }                                                                                      \
  }

DEFINE_CE(float, f32, pt_expf)
DEFINE_CE(double, f64, exp)

static pt_status ce_backward(pt_node *n, const pt_tensor *g, pt_tensor **gin) {
  const pt_tensor *x = n->saved[0];
  int64_t C = x->ndim ? x->shape[x->ndim - 1] : 1, N = C ? pt_numel(x) / C : 0;
  double scale = pt_get(g, 0) / (double)n->iarg[1];
  pt_tensor *dx = pt_empty_like(x);
  if (!dx) return pt_error_code();
  if (x->dtype == PT_F32)
    ce_bwd_f32(pt_data(x), pt_data(n->saved[1]), pt_data(n->saved[2]), pt_data(dx), N, C,
               n->iarg[0], n->farg[0], scale);
  else
    ce_bwd_f64(pt_data(x), pt_data(n->saved[1]), pt_data(n->saved[2]), pt_data(dx), N, C,
               n->iarg[0], n->farg[0], scale);
  gin[0] = dx;
  return PT_OK;
}

PT_OP_DEFINE(op_cross_entropy, "cross_entropy", ce_backward);

/* Checks shapes, dtypes, ε and every target; returns the targets as a
 * contiguous I64 copy (new) or NULL with the message set. */
static pt_tensor *checked_targets(const pt_tensor *logits, const pt_tensor *targets,
                                  int64_t ignore_index, double eps) {
  char s1[96], s2[96];
  if (!pt_dtype_is_float(logits->dtype)) {
    pt_error(PT_ERR_DTYPE, "cross_entropy: logits must be F32 or F64, got %s",
             pt_dtype_name(logits->dtype));
    return NULL;
  }
  if (targets->dtype != PT_I64 && targets->dtype != PT_I32) {
    pt_error(PT_ERR_DTYPE, "cross_entropy: targets must be I64 or I32 class indices, got %s",
             pt_dtype_name(targets->dtype));
    return NULL;
  }
  bool fit = logits->ndim >= 1 && targets->ndim == logits->ndim - 1;
  for (int d = 0; fit && d < targets->ndim; d++) fit = targets->shape[d] == logits->shape[d];
  if (!fit) {
    pt_error(PT_ERR_SHAPE,
             "cross_entropy: targets of shape %s do not match logits of shape %s "
             "(targets take the logits' shape without the last dim)",
             pt_shape_str(targets, s1, sizeof s1), pt_shape_str(logits, s2, sizeof s2));
    return NULL;
  }
  if (!(eps >= 0.0 && eps <= 1.0)) {
    pt_error(PT_ERR_ARG, "cross_entropy: label_smoothing must be in [0, 1], got %g", eps);
    return NULL;
  }
  pt_tensor *t = pt_to_dtype(targets, PT_I64);
  if (!t) return NULL;
  int64_t C = logits->shape[logits->ndim - 1], N = pt_numel(t);
  const int64_t *tv = pt_data(t);
  for (int64_t i = 0; i < N; i++) {
    if (tv[i] == ignore_index || (tv[i] >= 0 && tv[i] < C)) continue;
    int64_t pos[PT_MAX_DIMS], rest = i;
    for (int d = targets->ndim - 1; d >= 0; d--) {
      pos[d] = rest % targets->shape[d];
      rest /= targets->shape[d];
    }
    pt_error(PT_ERR_ARG,
             "cross_entropy: target %lld at position %s is out of range for %lld classes "
             "(logits %s, ignore_index %lld)",
             (long long)tv[i], pt_dims_str(targets->ndim, pos, s1, sizeof s1), (long long)C,
             pt_shape_str(logits, s2, sizeof s2), (long long)ignore_index);
    pt_tensor_free(t);
    return NULL;
  }
  return t;
}

pt_tensor *pt_cross_entropy(pt_tensor *logits, const pt_tensor *targets, int64_t ignore_index,
                            double label_smoothing) {
  if (!logits || !targets) return NULL;
  pt_tensor *t = checked_targets(logits, targets, ignore_index, label_smoothing);
  if (!t) return NULL;
  int64_t C = logits->shape[logits->ndim - 1], N = pt_numel(t);
  pt_tensor *x = pt_raw_contiguous(logits);
  pt_tensor *lse = x ? pt_empty(PT_F64, 1, &N) : NULL;
  pt_tensor *loss = lse ? pt_empty(PT_F64, 1, &N) : NULL;
  pt_tensor *out = loss ? pt_empty(logits->dtype, 0, NULL) : NULL;
  pt_status st = out ? PT_OK : pt_error_code();
  if (out) {
    if (x->dtype == PT_F32)
      ce_fwd_f32(pt_data(x), pt_data(t), N, C, ignore_index, label_smoothing, pt_data(lse),
                 pt_data(loss));
    else
      ce_fwd_f64(pt_data(x), pt_data(t), N, C, ignore_index, label_smoothing, pt_data(lse),
                 pt_data(loss));
    /* summed in row order so the result does not depend on the thread count */
    const int64_t *tv = pt_data(t);
    const double *lv = pt_data(loss);
    double total = 0;
    int64_t count = 0;
    for (int64_t r = 0; r < N; r++)
      if (tv[r] != ignore_index) {
        total += lv[r];
        count++;
      }
    pt_set(out, 0, count ? total / (double)count : NAN);
    pt_node *n = pt_node_new(&op_cross_entropy, 2, (pt_tensor *[]){logits, (pt_tensor *)targets}, &st);
    if (n) {
      n->iarg[0] = ignore_index;
      n->iarg[1] = count;
      n->farg[0] = label_smoothing;
      st = pt_node_save(n, 0, x);
      if (st == PT_OK) st = pt_node_save(n, 1, t);
      if (st == PT_OK) st = pt_node_save(n, 2, lse);
    }
    out = pt_node_finish(n, st, out);
  }
  pt_tensor_free(t);
  pt_tensor_free(x);
  pt_tensor_free(lse);
  pt_tensor_free(loss);
  return out;
}

/* ---- gradient-check cases ----
 * 0: logits [4,5], one target ignored (-100), no smoothing;
 * 1: strided logits [2,3,4], two targets ignored, label smoothing 0.1;
 * 2: logits [6] with a 0-dim target, label smoothing 0.25, ignore_index 2
 *    (a valid class id that is not the target);
 * 3: I32 targets [3], ignore_index 0 hits one row, smoothing 0.05.
 * Targets are an I64/I32 input that does not require grad. */

static const double ce_eps[] = {0.0, 0.1, 0.25, 0.05};
static const int64_t ce_ignore[] = {-100, -100, 2, 0};

static int ce_inputs(pt_rng *rng, int variant, pt_tensor **in) {
  switch (variant) {
    case 0: {
      in[0] = pt_case_rand(rng, PT_DIMS(4, 5), true);
      int64_t t[] = {1, -100, 4, 0};
      in[1] = pt_from_buffer(PT_I64, PT_DIMS(4), t);
      break;
    }
    case 1: {
      in[0] = pt_case_rand_strided(rng, PT_DIMS(2, 3, 4), true);
      int64_t t[] = {3, -100, 0, 2, 1, -100};
      in[1] = pt_from_buffer(PT_I64, PT_DIMS(2, 3), t);
      break;
    }
    case 2: {
      in[0] = pt_case_rand(rng, PT_DIMS(6), true);
      int64_t t = 4;
      in[1] = pt_from_buffer(PT_I64, 0, NULL, &t);
      break;
    }
    default: {
      in[0] = pt_case_rand(rng, PT_DIMS(3, 4), true);
      int32_t t[] = {2, 0, 3};
      in[1] = pt_from_buffer(PT_I32, PT_DIMS(3), t);
    }
  }
  if (in[0]) /* spread the logits so the softmax is far from uniform */
    for (int64_t i = 0; i < pt_numel(in[0]); i++) pt_set(in[0], i, 2.0 * pt_get(in[0], i));
  return 2;
}

static pt_tensor *ce_fn(pt_tensor *const *in, int n, void *ctx) {
  (void)n;
  int v = *(const int *)ctx;
  return pt_cross_entropy(in[0], in[1], ce_ignore[v], ce_eps[v]);
}

const pt_op_case pt_op_cases_loss[] = {
    {"cross_entropy", ce_inputs, ce_fn, 4, 0, 0},
    {0},
};
