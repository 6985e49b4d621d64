/* `ptune pretrain`: masked-language-model pretraining of a BERT from plain
 * text; the job is apps/pretrain/mlm.c. */
#include "apps/cmd/commands.h"
#include "apps/pretrain/pretrain.h"
#include "apps/train/ranks.h"

/* Under mpirun every rank must read the same corpus and vocabulary. */
static int pretrain(run_args *a) {
  pt_dist_item files[OPTION_LIST_MAX + 1] = {{"--vocab", a->vocab, NULL, 0}};
  for (int i = 0; i < a->corpus.n; i++) files[1 + i] = (pt_dist_item){"--corpus", a->corpus.v[i], NULL, 0};
  return ranks_run(a, pretrain_run, files, 1 + a->corpus.n);
}

static const command pretrain_command = {
    .name = "pretrain",
    .summary = "pretrain a BERT with masked-language modelling on plain text",
    .usage =
        "pretrain --corpus PATH... --vocab FILE --out DIR (--steps N | --minutes M) [options]\n"
        "Writes a bert model directory (config.json, model.safetensors, vocab.txt) with\n"
        "metrics.jsonl, loss.svg and summary.json; the summary also goes to stdout.",
    .defaults =
        "--layers 4 --hidden 256 --heads 4 --intermediate 1024 --max-seq-len 128 "
        "--batch-size 32 --lr 5e-4 --warmup-frac 0.05 --weight-decay 0.01 "
        "--max-grad-norm 1.0 --dropout 0.1 --heldout-frac 0.02 --mask-prob 0.15 "
        "--save-every 500 --log-every 10 --seed 42 --eval-seed 999 --save-dtype f32 "
        "--bias-init unigram --position-init sinusoid --attention-init offset "
                "--grad-accum 1 --on-nonfinite stop --step-timeout 300",
    .required = "--corpus --vocab --out",
    .run = pretrain,
};
COMMAND_REGISTER(pretrain_command);
