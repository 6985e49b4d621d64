/* `ptune pretrain`: masked-language-model pretraining of a BERT from plain
 * text; the job is apps/pretrain/mlm.c. */
#include "apps/cmd/commands.h"
#include "apps/pretrain/pretrain.h"

static int pretrain(run_args *a) { return command_exit(a, pretrain_run(a)); }

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
                "--grad-accum 1 --on-nonfinite stop",
    .required = "--corpus --vocab --out",
    .run = pretrain,
};
COMMAND_REGISTER(pretrain_command);
