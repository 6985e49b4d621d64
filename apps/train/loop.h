/* The one training loop of `ptune train` and `ptune pretrain` (loop.c).
 * A job (train/finetune.c, pretrain/mlm.c) supplies the model's steps
 * through hooks; the loop owns everything around them, the same for both:
 *
 *   step = micro-batches 0..grad_accum-1, each forward + backward
 *          (loop_backward: the gradients are added up in a fixed order)
 *        -> their sum over the ranks (dist/), averaged (sum_micro_batches)
 *        -> clipping to max_grad_norm (the norm computed in any case)
 *        -> a NaN/Inf loss or gradient norm: stop (an error naming the step
 *           and the last checkpoint) or, with --on-nonfinite skip, drop the
 *           update and count it
 *        -> the optimizer update at the schedule's learning rate;
 *   then the metrics line and progress every log_every steps, evaluation
 *   (every eval_every steps, at epoch ends, at the last step), the best
 *   evaluation kept, checkpoints (checkpoint.h) every save_every steps,
 *   --stop-after, and --resume from OUT's checkpoint: a resumed run ends
 *   bit for bit where an uninterrupted one does.
 *
 * Under `mpirun -np N` (ranks.h) every rank runs this loop: rank r runs its
 * share of a step's micro-batches (grad_accum / N of them, in order), the
 * gradients are summed across ranks in rank order by dist/'s buckets
 * (sent while backward runs) and every rank takes the same update; the
 * job's evaluate hook shards its data; rank 0 alone writes (the metrics
 * log, checkpoints, save_best, the curves and finish). Micro-batch k of a
 * step draws the dropout stream micro_rng gives it, on whichever rank it
 * runs, so -np N with one micro-batch per rank ends with the bits of one
 * process with --grad-accum N. */
#ifndef APPS_TRAIN_LOOP_H
#define APPS_TRAIN_LOOP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "apps/cli/metrics_log.h"
#include "apps/cli/options.h"
#include "apps/cli/progress.h"
#include "apps/train/checkpoint.h"
#include "dist/pt_dist.h"

/* One micro-batch's forward + backward. */
typedef struct {
  double loss;    /* its mean loss */
  double metric;  /* the job's per-batch figure (step_metric), if it has one */
  int64_t tokens; /* non-padding tokens, for tokens/s */
} micro_result;

/* What the loop tells the job at the end. */
typedef struct {
  const train_state *state;
  double seconds;      /* wall time of this run */
  double step_seconds; /* of it, in steps */
  double eval_seconds; /* of it, in evaluations */
  const json_t *best;  /* the best evaluation's metrics, or NULL */
  metrics_log *log;    /* OUT/metrics.jsonl, for the job's summary */
} loop_report;

typedef struct train_job train_job;

struct train_job {
  const char *name;       /* "train", "pretrain": the messages' prefix */
  const char *weights;    /* what an update changes, for messages: "adapter", "model" */
  const char *out;        /* OUT */
  pt_optim *opt;          /* over the trainable tensors */
  pt_schedule sched;      /* total_steps: the run's length */
  int64_t grad_accum;     /* micro-batches per step */
  int64_t log_every, eval_every, save_every, stop_after;
  double max_grad_norm;   /* <= 0: no clipping (the norm is still checked) */
  nonfinite_policy on_nonfinite;
  bool quiet, resume;
  bool log_first_step;    /* a metrics line after step 1 too */
  bool eval_first;        /* evaluate the untrained model at step 0 (the curve's start) */
  bool checkpoint_at_end; /* also at --stop-after and the last step, so --resume continues
                           * a stopped run from where it stopped or extends a finished one */
  const char *step_metric; /* the name of micro_result.metric in the metrics lines, or NULL */
  const char *config;     /* the options a checkpoint must have been made with, or NULL */
  checkpoint_weights weights_io;
  void *ctx;
  /* set by the loop, for loop_backward */
  pt_dist_grads *grads;
  bool last_micro;

  /* Forward + backward (loop_backward) of micro-batch k (0 .. grad_accum-1)
   * of step s->step + 1, its dropout drawn from `rng`; s is as at the
   * step's start (a rank runs only some of the k). *done when the step's
   * data has run out before k (the end of an epoch) and nothing ran. */
  pt_status (*micro_batch)(train_job *j, train_state *s, int k, pt_rng *rng, micro_result *r,
                           bool *done);
  /* After a step's micro-batches, on every rank: the data position moves
   * past the step's data (NULL: the job finds its data from s->step). */
  void (*end_step)(train_job *j, train_state *s);
  /* Clips the step's gradients to max_norm (INFINITY: none) and gives
   * their norm; NULL: the optimizer's parameters as one (pt_optim_clip_grad_norm).
   * A multi-task run clips each adapter's on its own. */
  pt_status (*clip)(train_job *j, double max_norm, double *norm);
  /* Whether the data of an epoch is used up (NULL: no epochs); next_epoch
   * starts the next one. */
  bool (*epoch_end)(train_job *j, const train_state *s);
  void (*next_epoch)(train_job *j, train_state *s);
  /* Evaluates into `line` (the metrics line, "step" and "epoch" in it) and
   * *metrics (a new reference, or NULL); *primary (higher is better) when
   * *has_primary. NULL: no evaluation. */
  pt_status (*evaluate)(train_job *j, const train_state *s, json_t *line, progress *pg,
                        json_t **metrics, double *primary, bool *has_primary);
  /* A new best evaluation (NULL: nothing to do). */
  pt_status (*save_best)(train_job *j);
  /* The curves from metrics.jsonl; called at the end and on resume. */
  pt_status (*draw_curves)(train_job *j);
  /* After the last step: the job's outputs and result. */
  pt_status (*finish)(train_job *j, const loop_report *r);
};

/* The backward of a micro-batch's loss (instead of pt_backward): the
 * trainable gradients go into the step's sum (with several ranks, into
 * buckets sent while backward runs). */
pt_status loop_backward(train_job *j, pt_tensor *loss);

/* x rounded to `digits` decimals as a JSON number (null when not finite):
 * what a job's result shows of a measured figure. */
json_t *json_rounded(double x, int digits);

/* --resume: the weights, the optimizer state and *s from OUT's checkpoint
 * (an error naming OUT/checkpoint.json when there is none). */
pt_status loop_resume(train_job *j, train_state *s);
/* Runs the job's steps from s->step to j->sched.total_steps: from a fresh
 * state (s->rng seeded by the job), or after loop_resume with j->resume. */
pt_status train_loop(train_job *j, train_state *s);

#endif
