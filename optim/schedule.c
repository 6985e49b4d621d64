/* Learning-rate schedules as pure functions of the step index, so resuming
 * from a checkpoint needs only the step count.
 *
 * LINEAR is Hugging Face's get_linear_schedule_with_warmup:
 *   step < warmup: lr·step/warmup, then lr·max(0, (total − step)/(total − warmup)).
 * EXPONENTIAL is torch's ExponentialLR stepped once per epoch:
 *   lr·gamma^floor(step / steps_per_epoch) (after the optional warmup ramp). */
#include <math.h>
#include <string.h>

#include "optim/pt_optim.h"

static int64_t max1(int64_t x) { return x > 1 ? x : 1; }

double pt_schedule_lr(const pt_schedule *s, int64_t step) {
  if (step < 0) step = 0;
  if (s->warmup_steps > 0 && step < s->warmup_steps)
    return s->base_lr * (double)step / (double)max1(s->warmup_steps);
  switch (s->kind) {
    case PT_SCHED_LINEAR: {
      double f = (double)(s->total_steps - step) / (double)max1(s->total_steps - s->warmup_steps);
      return s->base_lr * (f > 0 ? f : 0.0);
    }
    case PT_SCHED_EXPONENTIAL: {
      int64_t epoch = step / max1(s->steps_per_epoch);
      return s->base_lr * pow(s->gamma, (double)epoch);
    }
    case PT_SCHED_CONSTANT:
    default:
      return s->base_lr;
  }
}

static const char *const sched_names[] = {"constant", "linear", "exponential"};

pt_status pt_sched_kind_from_name(const char *name, pt_sched_kind *kind) {
  for (int i = 0; i < 3; i++)
    if (name && !strcmp(name, sched_names[i])) {
      *kind = (pt_sched_kind)i;
      return PT_OK;
    }
  return pt_error(PT_ERR_ARG, "schedule: unknown schedule '%s' (constant, linear, exponential)",
                  name ? name : "(null)");
}

const char *pt_sched_kind_name(pt_sched_kind kind) {
  return (unsigned)kind < 3 ? sched_names[kind] : "?";
}
