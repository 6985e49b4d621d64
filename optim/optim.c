/* The optimizer record shared by SGD and AdamW: parameter list, named state
 * entries, zero_grad, and the state save/restore interface. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optim/optim_internal.h"

static pt_status state_push(pt_optim *o, const char *kind, const char *pname, pt_tensor *t);

pt_optim *pt_optim_alloc(pt_optim_kind kind) {
  pt_optim *o = calloc(1, sizeof *o);
  if (!o) {
    pt_error(PT_ERR_NOMEM, "optim: out of memory");
    return NULL;
  }
  o->kind = kind;
  o->prefix = kind == PT_OPTIM_SGD ? "sgd" : "adamw";
  o->steps = pt_zeros(PT_I64, PT_DIMS(1));
  if (!o->steps || state_push(o, "steps", NULL, o->steps) != PT_OK) {
    pt_optim_free(o);
    return NULL;
  }
  return o;
}

void pt_optim_free(pt_optim *o) {
  if (!o) return;
  for (int i = 0; i < o->count; i++) {
    pt_optim_slot *s = &o->slots[i];
    pt_tensor_free(s->param);
    pt_tensor_free(s->step);
    for (int b = 0; b < PT_OPTIM_MAX_BUFS; b++) pt_tensor_free(s->buf[b]);
  }
  for (int i = 0; i < o->nstate; i++) free(o->state[i].name);
  free(o->state);
  free(o->slots);
  pt_tensor_free(o->steps);
  free(o);
}

static pt_status state_push(pt_optim *o, const char *kind, const char *pname, pt_tensor *t) {
  if (o->nstate == o->state_cap) {
    int cap = o->state_cap ? 2 * o->state_cap : 16;
    pt_optim_state_entry *e = realloc(o->state, sizeof *e * (size_t)cap);
    if (!e) return pt_error(PT_ERR_NOMEM, "optim: out of memory");
    o->state = e;
    o->state_cap = cap;
  }
  size_t len = strlen(o->prefix) + strlen(kind) + (pname ? strlen(pname) : 0) + 3;
  char *name = malloc(len);
  if (!name) return pt_error(PT_ERR_NOMEM, "optim: out of memory");
  if (pname)
    snprintf(name, len, "%s.%s.%s", o->prefix, kind, pname);
  else
    snprintf(name, len, "%s.%s", o->prefix, kind);
  for (int i = 0; i < o->nstate; i++)
    if (!strcmp(o->state[i].name, name)) {
      pt_status st = pt_error(PT_ERR_ARG, "optim: two parameters would share the state name '%s'", name);
      free(name);
      return st;
    }
  o->state[o->nstate].name = name;
  o->state[o->nstate].t = t;
  o->nstate++;
  return PT_OK;
}

static void slot_clear(pt_optim_slot *s) {
  pt_tensor_free(s->param);
  pt_tensor_free(s->step);
  for (int b = 0; b < PT_OPTIM_MAX_BUFS; b++) pt_tensor_free(s->buf[b]);
  memset(s, 0, sizeof *s);
}

pt_status pt_optim_add_param(pt_optim *o, pt_tensor *p, const char *name, bool decay) {
  if (!o || !p) return pt_error(PT_ERR_ARG, "optim: add_param given NULL");
  char shape[96];
  if (!pt_dtype_is_float(p->dtype))
    return pt_error(PT_ERR_DTYPE, "optim: parameter '%s' is %s, not F32/F64",
                    name ? name : p->name ? p->name : "?", pt_dtype_name(p->dtype));
  if (!pt_is_contiguous(p))
    return pt_error(PT_ERR_ARG, "optim: parameter '%s' %s is not contiguous",
                    name ? name : p->name ? p->name : "?", pt_shape_str(p, shape, sizeof shape));
  char fallback[32];
  if (!name) name = p->name;
  if (!name) {
    snprintf(fallback, sizeof fallback, "param%d", o->count);
    name = fallback;
  }
  if (o->count == o->cap) {
    int cap = o->cap ? 2 * o->cap : 8;
    pt_optim_slot *s = realloc(o->slots, sizeof *s * (size_t)cap);
    if (!s) return pt_error(PT_ERR_NOMEM, "optim: out of memory");
    o->slots = s;
    o->cap = cap;
  }
  pt_optim_slot *s = &o->slots[o->count];
  memset(s, 0, sizeof *s);
  s->decay = decay;
  s->step = pt_zeros(PT_I64, PT_DIMS(1));
  bool ok = s->step != NULL;
  for (int b = 0; ok && b < o->nbufs; b++) ok = (s->buf[b] = pt_zeros_like(p)) != NULL;
  if (!ok) {
    slot_clear(s);
    return pt_error_code();
  }
  int nstate_before = o->nstate;
  pt_status st = state_push(o, "step", name, s->step);
  for (int b = 0; st == PT_OK && b < o->nbufs; b++) st = state_push(o, o->buf_names[b], name, s->buf[b]);
  if (st != PT_OK) {
    while (o->nstate > nstate_before) free(o->state[--o->nstate].name);
    slot_clear(s);
    return st;
  }
  s->param = pt_tensor_ref(p);
  o->count++;
  return PT_OK;
}

bool pt_decay_hf(const char *name, void *ctx) {
  (void)ctx;
  if (!name) return true;
  static const char *const no_decay[] = {"bias", "LayerNorm.weight", "layer_norm.weight",
                                         "LayerNorm.gamma", "LayerNorm.beta"};
  for (size_t i = 0; i < sizeof no_decay / sizeof no_decay[0]; i++)
    if (strstr(name, no_decay[i])) return false;
  return true;
}

pt_status pt_optim_add_params(pt_optim *o, int n, pt_tensor *const *params, pt_decay_filter filter,
                              void *ctx) {
  for (int i = 0; i < n; i++) {
    const char *name = params[i] ? params[i]->name : NULL;
    bool decay = filter ? filter(name, ctx) : true;
    PT_TRY(pt_optim_add_param(o, params[i], name, decay));
  }
  return PT_OK;
}

pt_tensor *pt_optim_grad(const char *who, const pt_tensor *p, pt_status *st) {
  *st = PT_OK;
  pt_tensor *g = p->grad;
  if (!g) return NULL;
  if (g->dtype != p->dtype || !pt_same_shape(g, p)) {
    char s1[96], s2[96];
    *st = pt_error(PT_ERR_SHAPE, "%s: gradient %s %s does not match parameter %s %s%s%s", who,
                   pt_dtype_name(g->dtype), pt_shape_str(g, s1, sizeof s1), pt_dtype_name(p->dtype),
                   pt_shape_str(p, s2, sizeof s2), p->name ? " " : "", p->name ? p->name : "");
    return NULL;
  }
  pt_tensor *c = pt_raw_contiguous(g);
  if (!c) *st = pt_error_code();
  return c;
}

void pt_optim_zero_grad(pt_optim *o) {
  if (!o) return;
  for (int i = 0; i < o->count; i++) {
    pt_tensor_free(o->slots[i].param->grad);
    o->slots[i].param->grad = NULL;
  }
}

pt_optim_kind pt_optim_get_kind(const pt_optim *o) { return o->kind; }

double pt_optim_get_lr(const pt_optim *o) {
  return o->kind == PT_OPTIM_SGD ? o->sgd.lr : o->adamw.lr;
}

void pt_optim_set_lr(pt_optim *o, double lr) {
  if (o->kind == PT_OPTIM_SGD)
    o->sgd.lr = lr;
  else
    o->adamw.lr = lr;
}

int64_t pt_optim_steps(const pt_optim *o) { return pt_optim_counter(o->steps); }
int pt_optim_param_count(const pt_optim *o) { return o->count; }
pt_tensor *pt_optim_param(const pt_optim *o, int i) {
  return i >= 0 && i < o->count ? o->slots[i].param : NULL;
}
bool pt_optim_param_decays(const pt_optim *o, int i) {
  return i >= 0 && i < o->count && o->slots[i].decay;
}

int pt_optim_state_count(const pt_optim *o) { return o->nstate; }
const char *pt_optim_state_name(const pt_optim *o, int i) {
  return i >= 0 && i < o->nstate ? o->state[i].name : NULL;
}
pt_tensor *pt_optim_state_tensor(const pt_optim *o, int i) {
  return i >= 0 && i < o->nstate ? o->state[i].t : NULL;
}

pt_status pt_optim_state_set(pt_optim *o, const char *name, const pt_tensor *value) {
  if (!o || !name || !value) return pt_error(PT_ERR_ARG, "optim: state_set given NULL");
  for (int i = 0; i < o->nstate; i++) {
    if (strcmp(o->state[i].name, name)) continue;
    pt_tensor *dst = o->state[i].t;
    if (!pt_same_shape(dst, value)) {
      char s1[96], s2[96];
      return pt_error(PT_ERR_SHAPE, "optim: state '%s' has shape %s, the saved tensor %s", name,
                      pt_shape_str(dst, s1, sizeof s1), pt_shape_str(value, s2, sizeof s2));
    }
    return pt_copy_into(dst, value);
  }
  return pt_error(PT_ERR_ARG, "optim: no state entry named '%s'", name);
}

pt_status pt_optim_step(pt_optim *o) {
  if (!o) return pt_error(PT_ERR_ARG, "optim: step given NULL");
  for (int i = 0; i < o->count; i++) {
    pt_optim_slot *s = &o->slots[i];
    PT_TRY(o->kind == PT_OPTIM_SGD ? pt_sgd_step_slot(o, s) : pt_adamw_step_slot(o, s));
  }
  pt_optim_counter_set(o->steps, pt_optim_counter(o->steps) + 1);
  return PT_OK;
}
