/* Training checkpoints (checkpoint.c): written whole or not at all, and
 * read back by --resume. */
#ifndef APPS_TRAIN_CHECKPOINT_H
#define APPS_TRAIN_CHECKPOINT_H

#include <stdbool.h>
#include <stdint.h>

#include "apps/tasks/labels.h"
#include "models/pt_ptv2.h"
#include "optim/pt_optim.h"
#include "tensor/pt_rng.h"

typedef struct {
  int64_t step, epoch, pos; /* optimizer steps done; data position */
  pt_rng rng;               /* dropout stream */
  double best;
  int64_t best_step;
  bool has_best;
  int64_t skipped; /* updates skipped under --on-nonfinite skip */
} train_state;

/* Writes OUT/ckpt-<step>/ (adapter, optimizer state) and then, atomically,
 * OUT/checkpoint.json pointing at it; the previous checkpoint directory is
 * removed afterwards. */
pt_status checkpoint_save(const char *out, const pt_ptv2_model *m, const pt_optim *o,
                             const label_map *map, const train_state *s);
/* Restores adapter weights, optimizer state and *s from OUT's checkpoint.
 * PT_ERR_IO when there is none. */
pt_status checkpoint_load(const char *out, pt_ptv2_model *m, pt_optim *o, train_state *s);
bool checkpoint_exists(const char *out);

#endif
