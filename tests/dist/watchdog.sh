#!/usr/bin/env bash
# The watchdog of dist/: in a 3-rank job rank 1 stops itself (SIGSTOP) at
# step 2; the others must end the job within the 2 s step timeout (plus
# start-up) with a line naming rank 1 and step 2, and a non-zero status.
# Usage: watchdog.sh MPIRUN STOP_RANK_EXE
set -uo pipefail
mpirun=$1 exe=$2
err=$(mktemp)
trap 'rm -f "$err"' EXIT
start=$(date +%s)
timeout 120 "$mpirun" -np 3 --oversubscribe "$exe" 2 1 2>"$err"
status=$?
took=$(( $(date +%s) - start ))
fail() { echo "watchdog: $*"; cat "$err"; exit 1; }
[ "$status" -ne 0 ] || fail "the job exited 0"
[ "$status" -ne 124 ] || fail "the job hung until the outer timeout"
grep -q "^ptune: mpi: rank [02] waited [0-9]* s at step 2 for rank 1 (sum): rank 1 is stopped, hung or far behind" "$err" ||
  fail "no line naming rank 1 and step 2"
[ "$took" -lt 60 ] || fail "took $took s"
echo "watchdog: the job ended after $took s (status $status): $(grep '^ptune: mpi' "$err" | head -n 1)"
