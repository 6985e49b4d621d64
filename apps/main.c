/* `ptune COMMAND ...`: dispatches to the subcommands. */
#include <stdio.h>
#include <string.h>

#include "apps/cmd/commands.h"
#include "tensor/pt_fpmode.h"

typedef struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} command;

static const command commands[] = {
    {"gradcheck", cmd_gradcheck, "check every op's gradient against finite differences"},
    {"bench", cmd_bench, "measure matmul and row-op speed against cblas and memcpy"},
    {"tokenize", cmd_tokenize, "tokenize jsonl texts (and pairs) with a BERT or RoBERTa tokenizer"},
    {"train", cmd_train, "train a P-Tuning v2 / prompt / fine-tuned model on ner, qa, cls, mc or srl"},
    {"eval", cmd_eval, "score an adapter on labelled data (one JSON line)"},
    {"predict", cmd_predict, "label data with an adapter"},
    {"score", cmd_score, "score a predictions file against labelled data (eval's JSON line)"},
    {"inspect", cmd_inspect, "architecture and (trainable) parameter counts"},
    {"pretrain", cmd_pretrain, "pretrain a BERT with masked-language modelling on plain text"},
    {"fill-mask", cmd_fill_mask, "a masked-LM model's top guesses for each [MASK] of a text"},
};

static void usage(FILE *f) {
  fprintf(f, "usage: ptune [--keep-denormals] COMMAND [ARGS]   (ptune COMMAND --help for details)\n\n"
             "Denormal floats are flushed to zero (a training step meeting them can run 3x\n"
             "slower); --keep-denormals keeps IEEE arithmetic.\n\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv) {
  bool keep_denormals = argc > 1 && !strcmp(argv[1], "--keep-denormals");
  if (keep_denormals) {
    argc--;
    argv++;
  }
  /* first, so every thread created later inherits it (see pt_fpmode.h) */
  pt_set_flush_denormal(!keep_denormals);
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "ptune: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
