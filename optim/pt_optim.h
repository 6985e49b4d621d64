/* Optimizers (SGD, AdamW), learning-rate schedules and gradient clipping.
 *
 * An optimizer holds a list of parameter tensors (its own references, taken
 * with pt_tensor_ref and dropped by pt_optim_free) and one state entry per
 * parameter. pt_optim_step updates every parameter in place from its ->grad
 * (contiguous, as backward leaves it); parameters whose grad is NULL are
 * skipped and their state does not advance, as in PyTorch.
 *
 * Semantics follow torch.optim.SGD and torch.optim.AdamW (PyTorch 1.13,
 * single-tensor path). Arithmetic runs in the parameter's dtype (F32 or F64)
 * with the scalar coefficients computed in double.
 *
 * State for checkpoints: every state tensor has a name, e.g.
 *   "adamw.steps"             optimizer steps taken (I64 [1])
 *   "adamw.step.<param>"      steps this parameter has taken (I64 [1])
 *   "adamw.m.<param>"         first moment   (param's shape and dtype)
 *   "adamw.v.<param>"         second moment
 *   "sgd.momentum.<param>"    momentum buffer (only with momentum != 0)
 * Enumerate them with pt_optim_state_count / _name / _tensor and write them
 * with any tensor writer; restore with pt_optim_state_set. All state exists
 * (zeroed) from the moment a parameter is added, so a fresh optimizer over
 * the same parameters can take a saved state back entry by entry.
 *
 * This header knows tensors only: it does not depend on nn/. */
#ifndef PT_OPTIM_H
#define PT_OPTIM_H

#include <stdbool.h>
#include <stdint.h>

#include "tensor/pt_tensor.h"

typedef enum { PT_OPTIM_SGD, PT_OPTIM_ADAMW } pt_optim_kind;

typedef struct pt_optim pt_optim;

typedef struct {
  double lr;
  double momentum;     /* 0: plain SGD */
  double dampening;    /* applied from the second step on, as in torch */
  double weight_decay; /* L2 added to the gradient: d = g + wd·p */
  bool nesterov;       /* needs momentum > 0 and dampening == 0 */
} pt_sgd_opts;

typedef struct {
  double lr;
  double beta1, beta2; /* torch defaults 0.9, 0.999 */
  double eps;          /* torch default 1e-8 */
  double weight_decay; /* decoupled: p ← p·(1 − lr·wd); torch default 1e-2 */
} pt_adamw_opts;

/* torch's defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, wd 1e-2. */
pt_adamw_opts pt_adamw_defaults(void);

/* New optimizers with no parameters (NULL with a message on bad options).
 * Free with pt_optim_free. */
pt_optim *pt_sgd_new(const pt_sgd_opts *opts);
pt_optim *pt_adamw_new(const pt_adamw_opts *opts);
void pt_optim_free(pt_optim *o);

/* Adds one parameter (F32/F64, contiguous). `name` names its state entries;
 * NULL uses p->name, or "param<i>" when p has none. `decay` false excludes
 * it from weight decay (biases, LayerNorm weights). Names must be unique. */
pt_status pt_optim_add_param(pt_optim *o, pt_tensor *p, const char *name, bool decay);

/* Decides whether a named parameter gets weight decay. */
typedef bool (*pt_decay_filter)(const char *name, void *ctx);
/* Hugging Face's convention (no_decay = ["bias", "LayerNorm.weight"]): false
 * for names containing "bias", "LayerNorm.weight", "layer_norm.weight" or
 * "LayerNorm.gamma"/"LayerNorm.beta"; ctx unused. */
bool pt_decay_hf(const char *name, void *ctx);

/* Adds n parameters, named by their ->name (or "param<i>"), each with decay
 * decided by `filter` (NULL: all decay). */
pt_status pt_optim_add_params(pt_optim *o, int n, pt_tensor *const *params, pt_decay_filter filter,
                              void *ctx);

/* One update of every parameter that has a gradient. */
pt_status pt_optim_step(pt_optim *o);
/* Drops every parameter's gradient (sets ->grad to NULL). */
void pt_optim_zero_grad(pt_optim *o);

pt_optim_kind pt_optim_get_kind(const pt_optim *o);
double pt_optim_get_lr(const pt_optim *o);
void pt_optim_set_lr(pt_optim *o, double lr); /* the schedule's job */
int64_t pt_optim_steps(const pt_optim *o);    /* pt_optim_step calls so far */
int pt_optim_param_count(const pt_optim *o);
pt_tensor *pt_optim_param(const pt_optim *o, int i); /* borrowed */
bool pt_optim_param_decays(const pt_optim *o, int i);

/* ---- state for checkpoints ---- */
int pt_optim_state_count(const pt_optim *o);
/* Name and tensor of entry i (both borrowed; valid until pt_optim_free).
 * Writing into the tensor changes the optimizer's state. */
const char *pt_optim_state_name(const pt_optim *o, int i);
pt_tensor *pt_optim_state_tensor(const pt_optim *o, int i);
/* Copies `value` into the entry called `name` (same shape; dtype converted).
 * PT_ERR_ARG for an unknown name, PT_ERR_SHAPE for another shape. */
pt_status pt_optim_state_set(pt_optim *o, const char *name, const pt_tensor *value);

/* ---- gradient clipping (clip.c) ---- */

/* torch.nn.utils.clip_grad_norm_ with norm_type 2: the global L2 norm of
 * every gradient (params without ->grad are ignored) is returned in *norm;
 * when max_norm / (norm + 1e-6) < 1 every gradient is scaled by it. The sum
 * runs in double in fixed chunks, so the result does not depend on the
 * thread count. norm may be NULL. */
pt_status pt_clip_grad_norm(pt_tensor *const *params, int n, double max_norm, double *norm);
/* The same over an optimizer's parameters. */
pt_status pt_optim_clip_grad_norm(pt_optim *o, double max_norm, double *norm);

/* ---- learning-rate schedules (schedule.c) ---- */

typedef enum {
  PT_SCHED_CONSTANT,   /* lr (after an optional linear warmup) */
  PT_SCHED_LINEAR,     /* HF get_linear_schedule_with_warmup */
  PT_SCHED_EXPONENTIAL /* lr · gamma^epoch, epoch = step / steps_per_epoch */
} pt_sched_kind;

typedef struct {
  pt_sched_kind kind;
  double base_lr;
  int64_t warmup_steps;    /* linear ramp from 0 over these steps (all kinds) */
  int64_t total_steps;     /* LINEAR: lr reaches 0 here */
  double gamma;            /* EXPONENTIAL: factor per epoch (THUDM: 0.95) */
  int64_t steps_per_epoch; /* EXPONENTIAL: optimizer steps per epoch */
} pt_schedule;

/* The learning rate for the optimizer step with 0-based index `step`, as a
 * torch LambdaLR that has been stepped `step` times would give it. */
double pt_schedule_lr(const pt_schedule *s, int64_t step);
/* "constant", "linear", "exponential" → kind; PT_ERR_ARG otherwise. */
pt_status pt_sched_kind_from_name(const char *name, pt_sched_kind *kind);
const char *pt_sched_kind_name(pt_sched_kind kind);

#endif
