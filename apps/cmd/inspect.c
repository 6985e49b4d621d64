/* `ptune inspect --model DIR [--adapter DIR]`: the architecture, parameter
 * counts per part, and what a PEFT method trains (count and share). With an
 * adapter (ptune's layout or peft's), its method, options, head and labels;
 * without one, --method and its options say which adapter to count. Only
 * config.json is read: no weights are loaded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/cmd/commands.h"
#include "models/pt_hf.h"
#include "models/pt_model_io.h"

static int64_t count_prefix(const pt_params *ps, const char *prefix) {
  int64_t n = 0;
  for (int i = 0; i < ps->count; i++)
    if (!strncmp(ps->items[i]->name, prefix, strlen(prefix))) n += pt_numel(ps->items[i]);
  return n;
}

static void print_model(const run_args *a, const pt_backbone *bb, const pt_model *m) {
  const pt_bert_config *bc = &bb->bert.cfg;
  char pre[32];
  printf("model: %s (%s)\n", a->model, pt_arch_name(bc->arch));
  printf(
      "  vocab %lld, hidden %lld, layers %lld, heads %lld, intermediate %lld, positions %lld, "
      "types %lld\n",
      (long long)bc->vocab_size, (long long)bc->hidden_size, (long long)bc->num_layers,
      (long long)bc->num_heads, (long long)bc->intermediate_size, (long long)bc->max_position,
      (long long)bc->type_vocab_size);
  printf("  dropout hidden %g, attention %g; layer_norm_eps %g\n", bc->hidden_dropout,
         bc->attention_dropout, bc->layer_norm_eps);
  snprintf(pre, sizeof pre, "%s.embeddings.", bb->bert.prefix);
  printf("parameters:\n  embeddings      %12lld\n", (long long)count_prefix(&bb->params, pre));
  snprintf(pre, sizeof pre, "%s.encoder.", bb->bert.prefix);
  printf("  encoder layers  %12lld\n", (long long)count_prefix(&bb->params, pre));
  snprintf(pre, sizeof pre, "%s.pooler.", bb->bert.prefix);
  printf("  pooler          %12lld\n", (long long)count_prefix(&bb->params, pre));
  if (bb->parts.mlm_head)
    printf("  masked-LM head  %12lld\n", (long long)(pt_params_numel(&bb->params, false) -
                                                    count_prefix(&bb->params, bb->bert.prefix)));
  printf("  method          %12lld\n", (long long)pt_params_numel(&m->params, false));
  printf("  head            %12lld\n", (long long)pt_params_numel(&m->head.params, false));
  printf("  total           %12lld\n", (long long)pt_model_numel(m, false));
}

static void print_adapter(const run_args *a, const pt_model *m, const pt_adapter_info *info) {
  printf("adapter: %s%s", a->adapter ? "" : "(would be) ", m->method->name);
  if (info) printf(" (%s layout)", pt_adapter_layout_name(info->layout));
  printf(", task %s, head %s\n", pt_task_name(m->head.cfg.task), pt_head_kind_name(m->head.cfg.kind));
  printf("options:");
  int shown = 0;
  for (const pt_option *o = m->method->options; o->key; o++) {
    char *v = pt_option_text(o, m->opts);
    printf("%s%s %s", shown++ ? ", " : " ", o->key, v && *v ? v : "(none)");
    free(v);
  }
  printf("%s\n", shown ? "" : " none");
  if (info && info->nlabels) {
    printf("labels: %d (from %s)", info->nlabels, info->labels_from ? info->labels_from : "?");
    for (int i = 0; i < info->nlabels && i < 12; i++) printf("%s%s", i ? " " : ": ", info->id2label[i]);
    if (info->nlabels > 12) printf(" ...");
    printf("\n");
  }
  int64_t total = pt_model_numel(m, false), train = pt_model_numel(m, true);
  printf("trainable: %lld of %lld parameters (%.4f%%) in %d tensors\n", (long long)train,
         (long long)total, 100.0 * (double)train / (double)total, pt_model_ntrainable(m));
}

static pt_status inspect(const run_args *a) {
  pt_bert_config bc;
  PT_TRY(pt_bert_config_load(a->model, &bc));
  pt_adapter_info info = {0};
  const pt_method *me = a->method;
  const void *opts = a->method_opts;
  int64_t words[2] = {0, 0};
  pt_head_config head = {a->task ? a->task->head : PT_TASK_SEQUENCE_CLASSIFICATION,
                         (pt_head_kind)a->head, 2, words, 0};
  if (a->adapter) {
    PT_TRY(pt_adapter_info_read(a->adapter, a->model, &info));
    me = info.method;
    opts = info.opts;
    head = info.head;
  }
  pt_backbone bb;
  pt_model m = {0};
  pt_status st = pt_adapter_info_check_base(&info, &bc, a->adapter);
  if (st == PT_OK) st = pt_backbone_init(&bb, &bc, pt_backbone_parts_for(head.task, head.kind), 0);
  pt_model_config mc = {head, 0, NULL, NULL, true};
  if (st == PT_OK) {
    st = pt_model_new(&m, &bb, me, opts, &mc);
    if (st != PT_OK) pt_backbone_free(&bb);
  }
  if (st == PT_OK) {
    print_model(a, &bb, &m);
    print_adapter(a, &m, a->adapter ? &info : NULL);
    pt_model_free(&m);
    pt_backbone_free(&bb);
  }
  pt_adapter_info_free(&info);
  return st;
}

static int run(run_args *a) { return command_exit(a, inspect(a)); }

static const command inspect_command = {
    .name = "inspect",
    .summary = "architecture, a method's options and (trainable) parameter counts",
    .usage = "inspect --model DIR [--adapter DIR] [--task T --method M [its options]]",
    .defaults = "",
    .required = "--model",
    .run = run,
};
COMMAND_REGISTER(inspect_command);
