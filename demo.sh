#!/usr/bin/env bash
# Fresh machine -> installed packages, a release build, and the main job:
# P-Tuning v2 (deep prefix tuning, frozen backbone) on CoNLL04 NER with the
# tiny BERT that ptune pretrained itself (assets/tiny-bert-uncased).
#
#   bash demo.sh                    # the pretrained backbone
#   bash demo.sh --random-backbone  # the same run on a randomly initialised
#                                   # backbone: what pretraining buys
# Any other ptune train option given here is passed on (e.g. --epochs 5).
# Progress goes to stderr; the last line on stdout is the result as JSON
# (best dev entity F1 with per-type scores, trainable parameters and share).
set -euo pipefail
cd "$(dirname "$0")"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $(cat .ci/packages) >/dev/null
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null

out=runs/demo-ner
for a in "$@"; do [ "$a" = --random-backbone ] && out=runs/demo-ner-random; done
rm -rf "$out"
echo "P-Tuning v2 on CoNLL04 NER (922 train / 231 dev sentences), backbone assets/tiny-bert-uncased" >&2
./build/apps/ptune train --task ner --model assets/tiny-bert-uncased \
  --train assets/data/conll04/train.json --dev assets/data/conll04/dev.json --out "$out" \
  --method ptv2 --pre-seq-len 16 --lr 2e-2 --batch-size 16 --epochs 20 \
  --schedule linear --max-grad-norm 1.0 --dropout 0.1 --seed 42 "$@"
