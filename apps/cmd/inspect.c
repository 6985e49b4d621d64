/* `ptune inspect --model DIR [--adapter DIR]`: the architecture, parameter
 * counts per part, and what a PEFT method trains (count and share). Without
 * an adapter, the method options (--method, --pre-seq-len, ...) say which
 * adapter to count. Only config.json is read: no weights are loaded. */
#include <stdio.h>
#include <string.h>

#include "apps/cmd/commands.h"
#include "models/pt_adapter.h"
#include "models/pt_hf.h"

static int64_t count_prefix(const pt_params *ps, const char *prefix) {
  int64_t n = 0;
  for (int i = 0; i < ps->count; i++)
    if (!strncmp(ps->items[i]->name, prefix, strlen(prefix))) n += pt_numel(ps->items[i]);
  return n;
}

static pt_status inspect(const run_args *a) {
  pt_bert_config bc;
  PT_TRY(pt_bert_config_load(a->model, &bc));
  pt_ptv2_config cfg = {a->method,
                        a->task ? a->task->head : PT_TASK_SEQUENCE_CLASSIFICATION,
                        a->pre_seq_len,
                        a->prefix_projection,
                        a->prefix_hidden_size,
                        2};
  pt_adapter_config ac = {0};
  if (a->adapter) {
    PT_TRY(pt_adapter_config_read(a->adapter, &ac));
    cfg = ac.cfg;
    pt_status st = pt_adapter_check_base(&ac, &bc, a->adapter);
    if (st != PT_OK) {
      pt_adapter_config_free(&ac);
      return st;
    }
  }
  pt_ptv2_model m;
  pt_status st = pt_ptv2_model_init(&m, &bc, &cfg, 0);
  if (st != PT_OK) {
    pt_adapter_config_free(&ac);
    return st;
  }
  int64_t total = pt_params_numel(&m.params, false), train = pt_params_numel(&m.params, true);
  char pre[32];
  printf("model: %s (%s)\n", a->model, pt_arch_name(bc.arch));
  printf(
      "  vocab %lld, hidden %lld, layers %lld, heads %lld, intermediate %lld, positions %lld, "
      "types %lld\n",
      (long long)bc.vocab_size, (long long)bc.hidden_size, (long long)bc.num_layers,
      (long long)bc.num_heads, (long long)bc.intermediate_size, (long long)bc.max_position,
      (long long)bc.type_vocab_size);
  printf("  dropout hidden %g, attention %g; layer_norm_eps %g\n", bc.hidden_dropout,
         bc.attention_dropout, bc.layer_norm_eps);
  snprintf(pre, sizeof pre, "%s.embeddings.", m.bert.prefix);
  printf("parameters:\n  embeddings      %12lld\n", (long long)count_prefix(&m.params, pre));
  snprintf(pre, sizeof pre, "%s.encoder.", m.bert.prefix);
  printf("  encoder layers  %12lld\n", (long long)count_prefix(&m.params, pre));
  snprintf(pre, sizeof pre, "%s.pooler.", m.bert.prefix);
  printf("  pooler          %12lld\n", (long long)count_prefix(&m.params, pre));
  printf("  prefix encoder  %12lld\n", (long long)count_prefix(&m.params, "prefix_encoder"));
  printf("  head            %12lld\n", (long long)(count_prefix(&m.params, "classifier") +
                                                   count_prefix(&m.params, "qa_outputs")));
  printf("  total           %12lld\n", (long long)total);
  printf("adapter: %s%s, task %s, pre_seq_len %lld, prefix_projection %s",
         a->adapter ? "" : "(would be) ", pt_method_name(cfg.method), pt_task_name(cfg.task),
         (long long)cfg.pre_seq_len, cfg.prefix_projection ? "true" : "false");
  if (cfg.prefix_projection) printf(" (hidden %lld)", (long long)cfg.prefix_hidden_size);
  if (a->adapter) {
    printf(", %d labels", ac.nlabels);
    for (int i = 0; i < ac.nlabels && i < 12; i++) printf("%s%s", i ? " " : ": ", ac.id2label[i]);
    if (ac.nlabels > 12) printf(" ...");
    if (ac.baked) printf(" (baked)");
  }
  printf("\ntrainable: %lld of %lld parameters (%.4f%%)\n", (long long)train, (long long)total,
         100.0 * (double)train / (double)total);
  pt_ptv2_model_free(&m);
  pt_adapter_config_free(&ac);
  return PT_OK;
}

static int run(run_args *a) { return command_exit(a, inspect(a)); }

static const command inspect_command = {
    .name = "inspect",
    .summary = "architecture and (trainable) parameter counts",
    .usage = "inspect --model DIR [--adapter DIR] [--task T --method M ...]",
    .defaults = "--method ptv2 --pre-seq-len 16 --prefix-hidden-size 512",
    .required = "--model",
    .run = run,
};
COMMAND_REGISTER(inspect_command);
