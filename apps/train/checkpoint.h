/* Training checkpoints (checkpoint.c), one format for `train` and
 * `pretrain`: OUT/ckpt-<step>/ holds the trainable weights (in the job's
 * own layout: an adapter, or a model.safetensors) and optimizer.safetensors
 * (the optimizer state by name); OUT/checkpoint.json, written atomically
 * and last, names that directory and holds the loop state. A run killed at
 * any moment resumes from the last complete checkpoint; a checkpoint that
 * cannot be written whole (a full disk) is removed again and the previous
 * one stays current. */
#ifndef APPS_TRAIN_CHECKPOINT_H
#define APPS_TRAIN_CHECKPOINT_H

#include <stdbool.h>
#include <stdint.h>

#include "optim/pt_optim.h"
#include "tensor/pt_rng.h"

/* Where a training run is; everything --resume needs besides the weights
 * and the optimizer state. */
typedef struct {
  int64_t step;          /* optimizer steps done */
  int64_t epoch, pos;    /* the data position of jobs that walk epochs */
  int64_t total;         /* the steps of the run (0 in checkpoints that predate it) */
  pt_rng rng;            /* the dropout stream */
  double best;           /* the best primary dev metric so far */
  int64_t best_step;
  bool has_best;
  int64_t skipped;       /* updates skipped under --on-nonfinite skip */
  int64_t tokens;        /* tokens trained on */
  double train_seconds;  /* seconds spent in steps, over the runs of a resumed job */
} train_state;

/* How a job writes its trainable weights into a checkpoint directory (which
 * exists) and reads them back. */
typedef struct {
  pt_status (*save)(void *ctx, const char *dir);
  pt_status (*load)(void *ctx, const char *dir);
  void *ctx;
} checkpoint_weights;

/* Writes OUT/ckpt-<step>/ and then, atomically, OUT/checkpoint.json; the
 * previous checkpoint directory is removed afterwards. `config` (may be
 * NULL) records the options the run must be resumed with. */
pt_status checkpoint_save(const char *out, const checkpoint_weights *w, const pt_optim *o,
                          const train_state *s, const char *config);
/* Restores the weights, the optimizer state and *s from OUT's checkpoint;
 * PT_ERR_IO when there is none, PT_ERR_ARG when its config differs from
 * `config` (NULL: not checked). */
pt_status checkpoint_load(const char *out, const checkpoint_weights *w, pt_optim *o,
                          train_state *s, const char *config);
bool checkpoint_exists(const char *out);

#endif
