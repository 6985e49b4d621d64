#!/usr/bin/env bash
# `mpirun -np N ptune train|pretrain` end to end on the bundled tiny model
# (tests/meson.build runs each case as its own test under an outer timeout).
#
#   np2        -np 2 ends with the adapter of one process with --grad-accum 2,
#              bit for bit; rank 0 alone writes (one result line)
#   np3        the same for -np 3 --oversubscribe against --grad-accum 3
#   pretrain   pretrain -np 2 against --grad-accum 2 (the whole model, the
#              held-out scores)
#   resume     a rank SIGKILLed mid-run; --resume under mpirun ends with the
#              adapter of the uninterrupted run
#   watchdog   a SIGSTOPped rank: the job ends after --step-timeout 8 with one
#              line naming the rank and the step
#   mismatch   ranks given different data (same path, other directory) or
#              options: one line, non-zero exit, nothing written
#
# The single-process references run with one thread, as each rank does
# (mpirun binds one core each): bit-identity is for equal thread counts.
# Usage: train.sh CASE PTUNE MPIRUN SOURCE_ROOT
set -uo pipefail
case_=$1 exe=$2 mpirun=$3 src=$4
T=$(mktemp -d "${TMPDIR:-/tmp}/ptune_dist_train.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
fail() {
  echo "FAIL $case_: $*"
  for f in "$T"/*.err; do [ -f "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }; done
  exit 1
}

M=$src/assets/tiny-bert-uncased
D=$src/assets/data/conll04
TRAIN=(train --task ner --model "$M" --train "$D/train.json" --batch-size 4 --pre-seq-len 4
  --max-seq-len 32 --dropout 0.1 --quiet)
one() { OMP_NUM_THREADS=1 "$exe" "$@"; }
mpi() { timeout 300 "$mpirun" "$@"; }
# 24 dev sentences: 6 batches of 4, shared out over the ranks (quick under ASan)
python3 -c 'import json, sys; json.dump(json.load(open(sys.argv[1]))[:24], open(sys.argv[2], "w"))' \
  "$D/dev.json" "$T/dev24.json" || fail "cannot cut the dev set"
same() { # same A B WHAT: byte-identical files
  cmp -s "$1" "$2" || fail "$3: $1 and $2 differ"
}
# rank_pid OUT R: the process of rank R of the job writing OUT
rank_pid() {
  local pid
  for pid in $(pgrep -f -- "--out $1"); do
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = ptune ] || continue
    tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" &&
      echo "$pid" && return 0
  done
  return 1
}
# wait_checkpoint OUT: until OUT/checkpoint.json exists (240 s at most: the
# sanitizer tree on a busy machine starts slowly)
wait_checkpoint() {
  local end=$((SECONDS + 240))
  while [ "$SECONDS" -lt "$end" ]; do
    [ -f "$1/checkpoint.json" ] && return 0
    sleep 0.05
  done
  fail "no checkpoint appeared in $1"
}

case $case_ in
np2 | np3)
  n=${case_#np}
  over=()
  [ "$n" -gt 2 ] && over=(--oversubscribe)
  args=("${TRAIN[@]}" --dev "$T/dev24.json" --max-steps 6 --save-every 3 --eval-every 3)
  one "${args[@]}" --grad-accum "$n" --out "$T/one" >"$T/one.out" 2>"$T/one.err" ||
    fail "ptune train --grad-accum $n failed"
  mpi -np "$n" "${over[@]}" "$exe" "${args[@]}" --out "$T/mpi" >"$T/mpi.out" 2>"$T/mpi.err" ||
    fail "mpirun -np $n ptune train failed"
  same "$T/one/last/adapter_model.safetensors" "$T/mpi/last/adapter_model.safetensors" "last adapter"
  same "$T/one/best/adapter_model.safetensors" "$T/mpi/best/adapter_model.safetensors" "best adapter"
  [ "$(grep -c '"best_dev"' "$T/mpi.out")" -eq 1 ] || fail "not one result line on stdout"
  # the dev metrics (sharded over the ranks) equal the single process's
  diff <(grep -o '"eval": {[^}]*' "$T/one/metrics.jsonl") \
    <(grep -o '"eval": {[^}]*' "$T/mpi/metrics.jsonl") >/dev/null ||
    fail "dev metrics differ"
  [ "$(grep -c '"eval"' "$T/mpi/metrics.jsonl")" -eq 2 ] || fail "not 2 evaluations logged"
  echo "np$n: adapters and dev metrics bit-identical to --grad-accum $n"
  ;;
pretrain)
  P=(pretrain --corpus "$src/tests/fixtures/data/corpus/1945-Truman.txt"
    --vocab "$M/vocab.txt" --layers 1 --hidden 32 --heads 2 --intermediate 64
    --max-seq-len 32 --batch-size 4 --steps 4 --save-every 2 --heldout-frac 0.3 --quiet)
  one "${P[@]}" --grad-accum 2 --out "$T/one" >/dev/null 2>"$T/one.err" ||
    fail "ptune pretrain --grad-accum 2 failed"
  mpi -np 2 "$exe" "${P[@]}" --out "$T/mpi" >"$T/mpi.out" 2>"$T/mpi.err" ||
    fail "mpirun -np 2 ptune pretrain failed"
  same "$T/one/model.safetensors" "$T/mpi/model.safetensors" "pretrained model"
  # the held-out evaluation (sharded over the ranks) equals the single process's
  diff <(grep -o '"heldout_loss": [^,]*, "heldout_acc": [^,]*' "$T/one/metrics.jsonl") \
    <(grep -o '"heldout_loss": [^,]*, "heldout_acc": [^,]*' "$T/mpi/metrics.jsonl") >/dev/null ||
    fail "held-out metrics differ"
  [ "$(grep -c '"heldout_loss"' "$T/mpi/metrics.jsonl")" -ge 2 ] || fail "no held-out evaluations"
  [ "$(grep -c '"heldout_loss"' "$T/mpi.out")" -eq 1 ] || fail "not one summary on stdout"
  echo "pretrain: -np 2 model bit-identical to --grad-accum 2"
  ;;
resume)
  args=("${TRAIN[@]}" --max-steps 16 --save-every 2)
  one "${args[@]}" --grad-accum 2 --out "$T/one" >/dev/null 2>"$T/one.err" ||
    fail "the uninterrupted run failed"
  mpi -np 2 "$exe" "${args[@]}" --out "$T/mpi" >/dev/null 2>"$T/kill.err" &
  job=$!
  # once a checkpoint exists, SIGKILL rank 1
  wait_checkpoint "$T/mpi"
  victim=$(rank_pid "$T/mpi" 1) || fail "rank 1 not found"
  kill -KILL "$victim"
  wait "$job"
  status=$?
  [ "$status" -ne 0 ] || fail "the run ended normally before the kill (make it longer)"
  step=$(grep -o '"step": *[0-9]*' "$T/mpi/checkpoint.json" | grep -o '[0-9]*$')
  [ "$step" -lt 16 ] || fail "the kill came after the last step"
  mpi -np 2 "$exe" "${args[@]}" --out "$T/mpi" --resume >/dev/null 2>"$T/resume.err" ||
    fail "mpirun --resume failed"
  same "$T/one/last/adapter_model.safetensors" "$T/mpi/last/adapter_model.safetensors" \
    "resumed adapter"
  echo "resume: killed at a checkpoint of step $step (status $status); resumed to the uninterrupted adapter"
  ;;
watchdog)
  args=("${TRAIN[@]}" --max-steps 100000 --save-every 2 --step-timeout 8)
  start=$(date +%s)
  mpi -np 2 "$exe" "${args[@]}" --out "$T/mpi" >/dev/null 2>"$T/mpi.err" &
  job=$!
  wait_checkpoint "$T/mpi"
  victim=$(rank_pid "$T/mpi" 1) || fail "rank 1 not found"
  kill -STOP "$victim"
  wait "$job"
  status=$?
  kill -KILL "$victim" 2>/dev/null
  took=$(($(date +%s) - start))
  [ "$status" -ne 0 ] || fail "the job exited 0"
  [ "$status" -ne 124 ] || fail "the job hung until the outer timeout"
  lines=$(grep -c '^ptune train: .*rank 1 is stopped, hung or far behind' "$T/mpi.err")
  [ "$lines" -eq 1 ] || fail "$lines lines naming rank 1, not 1"
  grep -q "^ptune train: mpi: rank 0 waited [0-9]* s at step [0-9]* for rank 1" "$T/mpi.err" ||
    fail "the line does not name the step and rank 1"
  [ "$took" -lt 100 ] || fail "took $took s"
  echo "watchdog: ended after $took s (status $status): $(grep '^ptune train' "$T/mpi.err")"
  ;;
mismatch)
  # the same command line in two directories whose train.json differ
  mkdir -p "$T/a" "$T/b"
  cp "$D/train.json" "$T/a/train.json"
  cp "$D/dev.json" "$T/b/train.json"
  args=(train --task ner --model "$M" --train train.json --max-steps 2 --batch-size 4
    --pre-seq-len 4 --max-seq-len 32 --out out)
  mpi -np 1 -wdir "$T/a" "$exe" "${args[@]}" : -np 1 -wdir "$T/b" "$exe" "${args[@]}" \
    >"$T/data.out" 2>"$T/data.err"
  status=$?
  [ "$status" -ne 0 ] && [ "$status" -ne 124 ] || fail "different data: status $status"
  [ "$(grep -c '^ptune train: ' "$T/data.err")" -eq 1 ] || fail "different data: not one line"
  grep -q "^ptune train: mpi: ranks disagree: rank 1's --train (train.json) differs" "$T/data.err" ||
    fail "different data: the line does not name --train"
  [ ! -e "$T/a/out" ] && [ ! -e "$T/b/out" ] || fail "different data: something was written"
  # different options
  mpi -np 1 -wdir "$T/a" "$exe" "${args[@]}" --lr 0.1 : -np 1 -wdir "$T/a" "$exe" "${args[@]}" \
    >"$T/opt.out" 2>"$T/opt.err"
  status=$?
  [ "$status" -ne 0 ] && [ "$status" -ne 124 ] || fail "different options: status $status"
  [ "$(grep -c '^ptune train: ' "$T/opt.err")" -eq 1 ] || fail "different options: not one line"
  grep -q "rank 1's command line differs from rank 0's" "$T/opt.err" ||
    fail "different options: the line does not say so"
  [ ! -e "$T/a/out" ] || fail "different options: something was written"
  # --grad-accum that the ranks cannot share
  mpi -np 2 "$exe" "${TRAIN[@]}" --max-steps 2 --grad-accum 3 --out "$T/a/out" \
    >/dev/null 2>"$T/accum.err"
  status=$?
  [ "$status" -ne 0 ] && [ "$status" -ne 124 ] || fail "--grad-accum 3 on 2 ranks: status $status"
  grep -q "^ptune train: --grad-accum 3: the micro-batches of a step cannot be shared by 2 ranks" \
    "$T/accum.err" || fail "--grad-accum 3 on 2 ranks: no line saying so"
  [ ! -e "$T/a/out" ] || fail "--grad-accum 3 on 2 ranks: something was written"
  echo "mismatch: $(grep '^ptune train' "$T/data.err")"
  ;;
*)
  echo "unknown case $case_"
  exit 2
  ;;
esac
