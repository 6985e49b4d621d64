#!/usr/bin/env bash
# Data parallelism on this machine, measured: one training step of each
# mode (bench/dist_step.c) as
#   1x2  one process, 2 OpenMP threads (ptune as usual on 2 cores)
#   1x1  one process, 1 thread (the per-core reference)
#   2x1  mpirun -np 2, 1 thread each (mpirun binds a core to each), shared memory
#   tcp  the same over TCP on loopback (--mca btl self,tcp), a stand-in for a network
#   seq  the same over shared memory, every bucket sent after backward (--no-overlap)
# in rounds: each round runs every layout of a mode back to back, so the
# layouts of a round see the same machine; the table gives the median over
# rounds of each layout's median step, the wait for the gradient sum (the
# communication backward did not hide) and the speed-up of 2x1 over 1x2.
# The load average is recorded before each round: figures measured while
# other work runs are noise (say so when the machine is never quiet).
#
#   bench/dist_scaling.sh [ROUNDS] [MODES...]     (default 3 rounds; ptv2-small ptv2 full mlm)
#   DIST_STEP=build/bench/dist_step bench/dist_scaling.sh
set -euo pipefail
cd "$(dirname "$0")/.."
EXE=${DIST_STEP:-build/bench/dist_step}
PY=${PYTHON:-/usr/bin/python3}
OUT=${OUT:-bench/results-dist-$(date -u +%Y%m%dT%H%M%SZ).jsonl}
ROUNDS=${1:-3}
shift || true
MODES=("$@")
[ ${#MODES[@]} -gt 0 ] || MODES=(ptv2-small ptv2 full mlm)
[ -x "$EXE" ] || { echo "dist_scaling.sh: $EXE not built (ninja -C build)" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
unset OMP_NUM_THREADS

run() { # layout mode
  local layout=$1 mode=$2 line
  case $layout in
    1x2) line=$(OMP_NUM_THREADS=2 "$EXE" --mode "$mode" --json) ;;
    1x1) line=$(OMP_NUM_THREADS=1 "$EXE" --mode "$mode" --json) ;;
    2x1) line=$(mpirun -np 2 "$EXE" --mode "$mode" --json) ;;
    tcp) line=$(mpirun -np 2 --mca btl self,tcp "$EXE" --mode "$mode" --json) ;;
    seq) line=$(mpirun -np 2 "$EXE" --mode "$mode" --json --no-overlap) ;;
  esac
  echo "{\"layout\": \"$layout\", \"round\": $round, \"load1\": $load, \"run\": $line}" >> "$OUT"
}

for mode in "${MODES[@]}"; do
  for round in $(seq 1 "$ROUNDS"); do
    load=$(cut -d' ' -f1 /proc/loadavg)
    for layout in 1x2 2x1 tcp seq 1x1; do run "$layout" "$mode"; done
    echo "$mode round $round done (load $load)" >&2
  done
done

"$PY" - "$OUT" <<'PYEOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = lambda xs: statistics.median(xs) if xs else float("nan")
modes = []
for r in rows:
    if r["run"]["mode"] not in modes:
        modes.append(r["run"]["mode"])
print(f"raw rows: {sys.argv[1]}; load average before the rounds: "
      f"{min(r['load1'] for r in rows):.2f}-{max(r['load1'] for r in rows):.2f}")
print("| mode | gradient bytes | 1x2 threads | 1x1 | 2x1 shm (wait) | 2x1 tcp (wait) | 2x1 shm, no overlap (wait) | 2x1 / 1x2 |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for m in modes:
    by = {l: [r["run"] for r in rows if r["run"]["mode"] == m and r["layout"] == l]
          for l in ("1x2", "1x1", "2x1", "tcp", "seq")}
    step = {l: med([x["ms_step"] for x in v]) for l, v in by.items()}
    wait = {l: med([x["ms_wait"] for x in v]) for l, v in by.items()}
    gb = by["2x1"][0]["grad_bytes"] if by["2x1"] else 0
    cell = lambda l: f"{step[l]:.0f} ms ({wait[l]:.0f} ms, {100 * wait[l] / step[l]:.1f}%)"
    print(f"| {m} | {gb:,} | {step['1x2']:.0f} ms | {step['1x1']:.0f} ms | {cell('2x1')} | "
          f"{cell('tcp')} | {cell('seq')} | {step['1x2'] / step['2x1']:.2f}x |")
PYEOF
