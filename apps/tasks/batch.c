/* Features -> one padded batch: input ids (pad id), attention mask (0 on
 * padding), token types and the labels the model head takes (token labels,
 * -100 on padding; answer start/end; a class or choice), padded to the
 * longest sequence in the batch. */
#include <string.h>

#include "apps/tasks/task.h"

void task_batch_free(task_batch *b) {
  pt_tensor *t[] = {b->ids, b->mask, b->types, b->labels, b->starts, b->ends};
  for (int i = 0; i < 6; i++) pt_tensor_free(t[i]);
  memset(b, 0, sizeof *b);
}

pt_status task_batch_make(const task_feature *const *feats, int64_t n, pt_task_kind head,
                          int64_t pad_id, bool with_labels, task_batch *out) {
  memset(out, 0, sizeof *out);
  if (n < 1) return pt_error(PT_ERR_ARG, "batch: no features");
  int64_t S = 1, C = feats[0]->nseq;
  for (int64_t i = 0; i < n; i++) {
    if (feats[i]->nseq != C)
      return pt_error(PT_ERR_SHAPE, "batch: examples with %d and %d choices in one batch", (int)C,
                      feats[i]->nseq);
    for (int k = 0; k < feats[i]->nseq; k++)
      if (feats[i]->len[k] > S) S = feats[i]->len[k];
  }
  bool mc = head == PT_TASK_MULTIPLE_CHOICE;
  int nd = mc ? 3 : 2;
  int64_t shape[3] = {n, mc ? C : S, S};
  out->ids = pt_full(PT_I64, nd, shape, (double)(pad_id < 0 ? 0 : pad_id));
  out->mask = pt_zeros(PT_I64, nd, shape);
  out->types = pt_zeros(PT_I64, nd, shape);
  if (!out->ids || !out->mask || !out->types) goto fail;
  int64_t *ids = pt_data(out->ids), *mask = pt_data(out->mask), *types = pt_data(out->types);
  for (int64_t i = 0; i < n; i++)
    for (int k = 0; k < C; k++) {
      const task_feature *f = feats[i];
      int64_t row = (i * C + k) * S;
      memcpy(ids + row, f->ids[k], sizeof(int64_t) * (size_t)f->len[k]);
      memcpy(types + row, f->types[k], sizeof(int64_t) * (size_t)f->len[k]);
      for (int64_t t = 0; t < f->len[k]; t++) mask[row + t] = 1;
      out->tokens += f->len[k];
    }
  if (with_labels) {
    if (head == PT_TASK_TOKEN_CLASSIFICATION) {
      out->labels = pt_full(PT_I64, 2, shape, -100);
      if (!out->labels) goto fail;
      int64_t *lab = pt_data(out->labels);
      for (int64_t i = 0; i < n; i++)
        memcpy(lab + i * S, feats[i]->tok_labels, sizeof(int64_t) * (size_t)feats[i]->len[0]);
    } else if (head == PT_TASK_QUESTION_ANSWERING) {
      out->starts = pt_empty(PT_I64, 1, shape);
      out->ends = pt_empty(PT_I64, 1, shape);
      if (!out->starts || !out->ends) goto fail;
      for (int64_t i = 0; i < n; i++) {
        ((int64_t *)pt_data(out->starts))[i] = feats[i]->start;
        ((int64_t *)pt_data(out->ends))[i] = feats[i]->end;
      }
    } else {
      out->labels = pt_empty(PT_I64, 1, shape);
      if (!out->labels) goto fail;
      for (int64_t i = 0; i < n; i++) {
        if (feats[i]->label < 0) {
          task_batch_free(out);
          return pt_error(PT_ERR_ARG, "batch: example %lld has no label",
                          (long long)feats[i]->example);
        }
        ((int64_t *)pt_data(out->labels))[i] = feats[i]->label;
      }
    }
  }
  out->b = (pt_model_batch){out->ids, out->mask, out->types, out->labels, out->starts, out->ends};
  return PT_OK;
fail:
  task_batch_free(out);
  return pt_error(PT_ERR_NOMEM, "batch: out of memory");
}
