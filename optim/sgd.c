/* SGD with torch.optim.SGD semantics.
 *
 * For a parameter p with gradient g:
 *   d ← g + wd·p                          (wd = 0 for excluded params)
 *   with momentum μ: buf ← d at the parameter's first step, afterwards
 *                    buf ← μ·buf + (1 − dampening)·d;
 *                    d ← d + μ·buf (Nesterov) or d ← buf
 *   p ← p − lr·d */
#include "optim/optim_internal.h"

pt_optim *pt_sgd_new(const pt_sgd_opts *opts) {
  if (!opts) {
    pt_error(PT_ERR_ARG, "sgd: options are required (at least lr)");
    return NULL;
  }
  pt_sgd_opts d = *opts;
  if (!(d.lr >= 0) || !(d.momentum >= 0) || !(d.weight_decay >= 0) || !(d.dampening >= 0)) {
    pt_error(PT_ERR_ARG, "sgd: invalid options lr %g, momentum %g, dampening %g, weight_decay %g",
             d.lr, d.momentum, d.dampening, d.weight_decay);
    return NULL;
  }
  if (d.nesterov && (d.momentum <= 0 || d.dampening != 0)) {
    pt_error(PT_ERR_ARG, "sgd: Nesterov momentum requires a momentum and zero dampening");
    return NULL;
  }
  pt_optim *o = pt_optim_alloc(PT_OPTIM_SGD);
  if (!o) return NULL;
  o->sgd = d;
  o->nbufs = d.momentum != 0 ? 1 : 0;
  o->buf_names[0] = "momentum";
  return o;
}

typedef struct {
  double wd, mom, omd, neg_lr;
  int first, nesterov;
} sgd_coef;

/* p, g, buf (NULL without momentum): n contiguous elements each. */
#define SGD_KERNEL(T)                                                                \
  static void sgd_##T(int64_t n, T *p, const T *g, T *buf, const sgd_coef *c) {       \
    const T wd = (T)c->wd, mom = (T)c->mom, omd = (T)c->omd, neg_lr = (T)c->neg_lr;  \
    const int first = c->first, nesterov = c->nesterov;                              \
    _Pragma("omp parallel for simd schedule(static) if (n >= PT_OPTIM_PAR_MIN)")    \
    for (int64_t i = 0; i < n; i++) {                                                \
      T d = wd != 0 ? g[i] + wd * p[i] : g[i];                                       \
      if (buf) {                                                                     \
        T b = first ? d : buf[i] * mom + omd * d;                                    \
        buf[i] = b;                                                                  \
        d = nesterov ? d + mom * b : b;                                              \
      }                                                                              \
      p[i] = p[i] + neg_lr * d;                                                      \
    }                                                                                \
  }
SGD_KERNEL(float)
SGD_KERNEL(double)

pt_status pt_sgd_step_slot(pt_optim *o, pt_optim_slot *s) {
  pt_status st;
  pt_tensor *g = pt_optim_grad("sgd", s->param, &st);
  if (!g) return st;
  int64_t t = pt_optim_counter(s->step);
  pt_optim_counter_set(s->step, t + 1);
  sgd_coef c = {
      .wd = s->decay ? o->sgd.weight_decay : 0.0,
      .mom = o->sgd.momentum,
      .omd = 1.0 - o->sgd.dampening,
      .neg_lr = -o->sgd.lr,
      .first = t == 0,
      .nesterov = o->sgd.nesterov,
  };
  int64_t n = pt_numel(s->param);
  void *buf = s->buf[0] ? pt_data(s->buf[0]) : NULL;
  if (s->param->dtype == PT_F32)
    sgd_float(n, pt_data(s->param), pt_data(g), buf, &c);
  else
    sgd_double(n, pt_data(s->param), pt_data(g), buf, &c);
  pt_tensor_free(g);
  return PT_OK;
}
