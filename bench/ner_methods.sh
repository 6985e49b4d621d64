#!/usr/bin/env bash
# docs/methods.md's "P-Tuning v2 against the other methods" table: every method
# on CoNLL04 NER (assets/data/conll04, dev = the anchor's 231 sentences) with
# the bundled backbone, one recorded run each, then a prefix-length sweep.
#
#   bench/ner_methods.sh [BUILD_DIR] [EPOCHS]     (defaults: build, 20)
#   bench/ner_methods.sh --table                  the table of the last runs
#
# Each run is `ptune train` with the demo's settings except for the method
# and its learning rate; its final JSON line (best dev F1, trainable share,
# time) is appended to runs/ner-methods/results.jsonl and the table is
# printed as Markdown at the end, with the last epoch's dev F1 next to the
# best (the best is picked on dev, so it flatters). Runs take two to four
# minutes each on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
out=runs/ner-methods
results=$out/results.jsonl
rundir() { echo "$out/$(echo "$1" | tr -c 'A-Za-z0-9\n' '-')"; }

table() {
  echo "| run | trainable | share | best dev F1 (epoch) | last-epoch dev F1 | steps | time (s) |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
  while IFS= read -r l; do
    name=$(sed -E 's/^\{"name": "([^"]*)".*/\1/' <<<"$l")
    get() { grep -oE "\"$1\": [^,}]*" <<<"$l" | tail -n 1 | sed -E 's/.*: //'; }
    # the last dev evaluation in the run's metrics.jsonl
    last=$(grep '"eval"' "$(rundir "$name")/metrics.jsonl" | tail -n 1 | grep -oE '"f1":[^,}]*' |
      head -n 1 | sed -E 's/.*://')
    per_epoch=$(( $(get steps) / $(grep -c '"eval"' "$(rundir "$name")/metrics.jsonl") ))
    printf '| %s | %s | %s%% | %.4f (%s) | %.4f | %s | %s |\n' "$name" "$(get trainable)" \
      "$(get trainable_pct)" "$(get best_dev)" "$(( $(get best_step) / per_epoch ))" "$last" \
      "$(get steps)" "$(get time_s)"
  done <"$results"
}
if [ "${1:-}" = --table ]; then
  table
  exit 0
fi
build=${1:-build}
epochs=${2:-20}
ptune=$build/apps/ptune
model=assets/tiny-bert-uncased
mkdir -p "$out"
: >"$results"

# name | options (the rest is common)
runs=(
  "ptv2 P16|--method ptv2 --pre-seq-len 16 --lr 2e-2"
  "ptv2 P16 + MLP|--method ptv2 --pre-seq-len 16 --prefix-projection --prefix-hidden-size 512 --lr 1e-2"
  "prompt tuning P16|--method prompt --pre-seq-len 16 --lr 2e-2"
  "full fine-tuning|--method finetune --lr 2e-4"
  "ptv2 P16, random backbone|--method ptv2 --pre-seq-len 16 --lr 2e-2 --random-backbone"
  "ptv2 P4|--method ptv2 --pre-seq-len 4 --lr 2e-2"
  "ptv2 P32|--method ptv2 --pre-seq-len 32 --lr 2e-2"
  "ptv2 P64|--method ptv2 --pre-seq-len 64 --lr 2e-2"
)
for r in "${runs[@]}"; do
  name=${r%%|*}
  opts=${r#*|}
  dir=$(rundir "$name")
  rm -rf "$dir"
  echo "== $name: ptune train ... $opts" >&2
  # shellcheck disable=SC2086
  line=$("$ptune" train --task ner --model "$model" --train assets/data/conll04/train.json \
    --dev assets/data/conll04/dev.json --out "$dir" --batch-size 16 --epochs "$epochs" \
    --schedule linear --max-grad-norm 1.0 --dropout 0.1 --seed 42 --quiet $opts | tail -n 1)
  echo "$line" >&2
  printf '{"name": "%s", "options": "%s", "result": %s}\n' "$name" "$opts" "$line" >>"$results"
done

table
