/* What sgd.c, adamw.c and optim.c share: the optimizer record. Private to
 * optim/. */
#ifndef PT_OPTIM_INTERNAL_H
#define PT_OPTIM_INTERNAL_H

#include "optim/pt_optim.h"

/* Elementwise update loops run in parallel from this many elements on. */
#define PT_OPTIM_PAR_MIN 32768

#define PT_OPTIM_MAX_BUFS 2

typedef struct {
  pt_tensor *param; /* own reference */
  bool decay;
  pt_tensor *step;                     /* I64 [1]: steps this param took */
  pt_tensor *buf[PT_OPTIM_MAX_BUFS];   /* adamw: m, v; sgd: momentum */
} pt_optim_slot;

typedef struct {
  char *name;
  pt_tensor *t; /* borrowed from a slot or o->steps */
} pt_optim_state_entry;

struct pt_optim {
  pt_optim_kind kind;
  const char *prefix;        /* "sgd" / "adamw" */
  const char *buf_names[PT_OPTIM_MAX_BUFS];
  int nbufs;
  pt_sgd_opts sgd;
  pt_adamw_opts adamw;
  pt_optim_slot *slots;
  int count, cap;
  pt_tensor *steps; /* I64 [1] */
  pt_optim_state_entry *state;
  int nstate, state_cap;
};

/* Allocates the record with its step counter; NULL on failure. */
pt_optim *pt_optim_alloc(pt_optim_kind kind);

/* Reads/writes an I64 [1] counter. */
static inline int64_t pt_optim_counter(const pt_tensor *t) { return *(const int64_t *)pt_data(t); }
static inline void pt_optim_counter_set(pt_tensor *t, int64_t v) { *(int64_t *)pt_data(t) = v; }

/* p's gradient as a contiguous tensor (new reference) or NULL if none;
 * *st is set on failure. Checks shape and dtype against p. */
pt_tensor *pt_optim_grad(const char *who, const pt_tensor *p, pt_status *st);

/* One parameter's update (adamw.c, sgd.c); the slot has a gradient or is
 * skipped by the callee (returns PT_OK when p->grad is NULL). */
pt_status pt_adamw_step_slot(pt_optim *o, pt_optim_slot *s);
pt_status pt_sgd_step_slot(pt_optim *o, pt_optim_slot *s);

#endif
