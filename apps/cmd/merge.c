/* `ptune merge`: an adapter of a method that folds into the weights (lora,
 * ia3, bitfit) merged into its base model, written as a plain Hugging Face
 * model directory (the head included, id2label in config.json). */
#include "apps/cmd/commands.h"
#include "models/pt_model_io.h"

static pt_status merge(const run_args *a) {
  pt_adapter_info info;
  PT_TRY(pt_adapter_info_read(a->adapter, a->model, &info));
  pt_backbone bb;
  pt_model m;
  pt_status st = info.method->merge
                     ? PT_OK
                     : pt_error(PT_ERR_ARG, "%s: %s cannot be merged into the weights (lora, ia3 "
                                "and bitfit can)", a->adapter, info.method->name);
  if (st == PT_OK)
    st = pt_backbone_load(&bb, a->model, pt_backbone_parts_for(info.head.task, info.head.kind),
                          false, -1, 0);
  if (st == PT_OK) {
    st = pt_model_load(&m, &bb, a->adapter, &info, 0);
    if (st == PT_OK) {
      st = pt_model_save_merged(&m, a->model, a->out, info.nlabels,
                                (const char *const *)info.id2label);
      pt_model_free(&m);
    }
    pt_backbone_free(&bb);
  }
  if (st == PT_OK)
    fprintf(stderr, "merge: %s (%s) folded into %s, written to %s\n", a->adapter, info.method->name,
            a->model, a->out);
  pt_adapter_info_free(&info);
  return st;
}

static int run(run_args *a) { return command_exit(a, merge(a)); }

static const command merge_command = {
    .name = "merge",
    .summary = "fold a lora/ia3/bitfit adapter into its model: a plain Hugging Face directory",
    .usage = "merge --model DIR --adapter DIR --out DIR",
    .defaults = "",
    .required = "--model --adapter --out",
    .run = run,
};
COMMAND_REGISTER(merge_command);
