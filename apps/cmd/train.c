/* `ptune train`: fits an adapter (or the whole model) on a task; the job is
 * apps/train/finetune.c, the loop apps/train/loop.c. */
#include "apps/cmd/commands.h"
#include "apps/train/ranks.h"
#include "apps/train/train.h"

static pt_status run_train(run_args *a) { return train_run(a); }

/* Under mpirun every rank must read the same data, model and adapter. */
static int train(run_args *a) {
  const pt_dist_item files[] = {{"--train", a->train, NULL, 0},
                                {"--dev", a->dev, NULL, 0},
                                {"--model", a->model, NULL, 0},
                                {"--init-adapter", a->init_adapter, NULL, 0}};
  return ranks_run(a, run_train, files, 4);
}

static const command train_command = {
    .name = "train",
    .summary = "train a P-Tuning v2 / prompt / fine-tuned model on a task (--task)",
    .usage =
        "train --task T --model DIR --train FILE [--dev FILE] --out DIR [options]\n"
        "train --model DIR --out DIR --task-spec NAME:task=T,train=FILE,... [--task-spec ...]\n"
        "Writes OUT/metrics.jsonl, OUT/curves.svg, OUT/best and OUT/last (adapters; with\n"
        "--task-spec OUT/NAME/best and OUT/NAME/last, every adapter trained in the same\n"
        "batches) and checkpoints; the last line on stdout is the result as JSON.",
    .defaults =
        "--method ptv2 --pre-seq-len 16 --prefix-hidden-size 512 --epochs 3 "
        "--batch-size 8 --grad-accum 1 --lr 0.01 --optimizer adamw --weight-decay 0 "
        "--momentum 0 --max-grad-norm 0 --on-nonfinite stop --warmup 0 "
        "--schedule constant --gamma 0.95 --doc-stride 128 --n-best 20 "
        "--max-answer-len 30 --null-threshold 0 --seed 42 --eval-every 0 "
        "--save-every 200 --log-every 10 --step-timeout 300",
    .required = "--model --out", /* --task --train, or --task-spec */
    .run = train,
};
COMMAND_REGISTER(train_command);
