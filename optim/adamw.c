/* AdamW with torch.optim.AdamW semantics (decoupled weight decay).
 *
 * For a parameter p with gradient g at its step t (1-based):
 *   p ← p·(1 − lr·wd)                      (wd = 0 for excluded params)
 *   m ← β1·m + (1 − β1)·g
 *   v ← β2·v + (1 − β2)·g²
 *   p ← p − (lr / (1 − β1ᵗ)) · m / (sqrt(v) / sqrt(1 − β2ᵗ) + eps)
 * The bias corrections are computed in double, the elementwise update in
 * the parameter's dtype, in the order torch evaluates it. */
#include <math.h>

#include "optim/optim_internal.h"

pt_adamw_opts pt_adamw_defaults(void) {
  return (pt_adamw_opts){.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 1e-2};
}

pt_optim *pt_adamw_new(const pt_adamw_opts *opts) {
  pt_adamw_opts d = opts ? *opts : pt_adamw_defaults();
  if (!(d.lr >= 0) || !(d.eps >= 0) || !(d.weight_decay >= 0) || !(d.beta1 >= 0 && d.beta1 < 1) ||
      !(d.beta2 >= 0 && d.beta2 < 1)) {
    pt_error(PT_ERR_ARG,
             "adamw: invalid options lr %g, betas (%g, %g), eps %g, weight_decay %g (want lr, eps, "
             "wd >= 0 and betas in [0, 1))",
             d.lr, d.beta1, d.beta2, d.eps, d.weight_decay);
    return NULL;
  }
  pt_optim *o = pt_optim_alloc(PT_OPTIM_ADAMW);
  if (!o) return NULL;
  o->adamw = d;
  o->nbufs = 2;
  o->buf_names[0] = "m";
  o->buf_names[1] = "v";
  return o;
}

typedef struct {
  double decay_mul, b1, omb1, b2, omb2, bc2_sqrt, eps, neg_step;
} adamw_coef;

/* p, g, m, v: n contiguous elements each; one pass, p/m/v in place. */
#define ADAMW_KERNEL(T, SQRT)                                                         \
  static void adamw_##T(int64_t n, T *p, const T *g, T *m, T *v, const adamw_coef *c) { \
    const T decay_mul = (T)c->decay_mul, b1 = (T)c->b1, omb1 = (T)c->omb1;           \
    const T b2 = (T)c->b2, omb2 = (T)c->omb2, bc2 = (T)c->bc2_sqrt, eps = (T)c->eps;  \
    const T neg_step = (T)c->neg_step;                                                \
    _Pragma("omp parallel for simd schedule(static) if (n >= PT_OPTIM_PAR_MIN)")     \
    for (int64_t i = 0; i < n; i++) {                                                \
      T pi = p[i] * decay_mul;                                                        \
      T mi = m[i] * b1 + omb1 * g[i];                                                 \
      T vi = v[i] * b2 + omb2 * g[i] * g[i];                                          \
      T denom = SQRT(vi) / bc2 + eps;                                                 \
      m[i] = mi;                                                                      \
      v[i] = vi;                                                                      \
      p[i] = pi + neg_step * mi / denom;                                              \
    }                                                                                 \
  }
ADAMW_KERNEL(float, sqrtf)
ADAMW_KERNEL(double, sqrt)

pt_status pt_adamw_step_slot(pt_optim *o, pt_optim_slot *s) {
  pt_status st;
  pt_tensor *g = pt_optim_grad("adamw", s->param, &st);
  if (!g) return st;
  const pt_adamw_opts *a = &o->adamw;
  int64_t t = pt_optim_counter(s->step) + 1;
  pt_optim_counter_set(s->step, t);
  double bc1 = 1.0 - pow(a->beta1, (double)t);
  double bc2 = 1.0 - pow(a->beta2, (double)t);
  adamw_coef c = {
      .decay_mul = 1.0 - a->lr * (s->decay ? a->weight_decay : 0.0),
      .b1 = a->beta1,
      .omb1 = 1.0 - a->beta1,
      .b2 = a->beta2,
      .omb2 = 1.0 - a->beta2,
      .bc2_sqrt = sqrt(bc2),
      .eps = a->eps,
      .neg_step = -(a->lr / bc1),
  };
  int64_t n = pt_numel(s->param);
  if (s->param->dtype == PT_F32)
    adamw_float(n, pt_data(s->param), pt_data(g), pt_data(s->buf[0]), pt_data(s->buf[1]), &c);
  else
    adamw_double(n, pt_data(s->param), pt_data(g), pt_data(s->buf[0]), pt_data(s->buf[1]), &c);
  pt_tensor_free(g);
  return PT_OK;
}
