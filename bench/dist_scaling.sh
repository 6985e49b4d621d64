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
# communication backward did not hide) with its share of the step, the time
# the sum was in flight (overlapping backward), and the speed-up of 2x1
# over 1x2. Then the model of docs/distributed.md from the measured 1x2
# step and the gradient bytes: speed-up on N machines at 10 and 25 Gbit/s.
# The load average is recorded before each round: figures measured while
# other work runs are noise (say so when the machine is never quiet).
#
#   bench/dist_scaling.sh [ROUNDS] [MODES...]   (default 3 rounds; ptv2-small full mlm)
#   TINY=1 bench/dist_scaling.sh 1              (a tiny model, one step: checks the script)
#   DIST_STEP=build/bench/dist_step bench/dist_scaling.sh
# Modes: ptv2-small (P-Tuning v2 on the bundled model's shape, 4 x 224),
# ptv2 (BERT-base with the 512-wide MLP), full (BERT-base fine-tuning), mlm
# (pretraining, the bundled shape).
set -euo pipefail
cd "$(dirname "$0")/.."
EXE=${DIST_STEP:-build/bench/dist_step}
PY=${PYTHON:-/usr/bin/python3}
OUT=${OUT:-bench/results-dist-$(date -u +%Y%m%dT%H%M%SZ).jsonl}
ROUNDS=${1:-3}
shift || true
MODES=("$@")
[ ${#MODES[@]} -gt 0 ] || MODES=(ptv2-small full mlm)
EXTRA=()
[ -n "${TINY:-}" ] && EXTRA=(--tiny --steps 1 --warmup 0)
[ -x "$EXE" ] || { echo "dist_scaling.sh: $EXE not built (ninja -C build)" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
unset OMP_NUM_THREADS
# dist_step links the library, not the ptune command, so it is given the
# OpenBLAS kernels ptune names for this CPU (tensor/pt_blas_core.h) here
PTUNE=${PTUNE:-build/apps/ptune}
if [ -z "${OPENBLAS_CORETYPE:-}" ] && [ -x "$PTUNE" ]; then
  core=$(OPENBLAS_VERBOSE=2 "$PTUNE" --help 2>&1 >/dev/null | sed -n 's/^Core: //p')
  [ -n "$core" ] && export OPENBLAS_CORETYPE=$core
fi

# the command of each layout (also printed above the table)
command_of() { # layout mode
  local m=(--mode "$2" --json "${EXTRA[@]}")
  case $1 in
    1x2) echo "OMP_NUM_THREADS=2 $EXE ${m[*]}" ;;
    1x1) echo "OMP_NUM_THREADS=1 $EXE ${m[*]}" ;;
    2x1) echo "mpirun -np 2 $EXE ${m[*]}" ;;
    tcp) echo "mpirun -np 2 --mca btl self,tcp $EXE ${m[*]}" ;;
    seq) echo "mpirun -np 2 $EXE ${m[*]} --no-overlap" ;;
  esac
}

run() { # layout mode
  local layout=$1 mode=$2 line
  line=$(env $(command_of "$layout" "$mode"))
  echo "{\"layout\": \"$layout\", \"round\": $round, \"load1\": $load, \"run\": $line}" >> "$OUT"
}

date -u +"dist_scaling.sh, %Y-%m-%d %H:%M UTC, $(nproc) cores, $ROUNDS round(s), OpenBLAS core ${OPENBLAS_CORETYPE:-as OpenBLAS picks}${TINY:+, TINY (not a measurement)}"
for layout in 1x2 1x1 2x1 tcp seq; do echo "  $layout: $(command_of "$layout" MODE)"; done

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
print()
print("Measured: median step; in brackets the wait for the gradient sum and its share of the "
      "step; 'in flight' is the time from the first bucket sent to the last summed (overlapping "
      "backward)")
print()
print("| mode | gradient bytes | 1x2 threads | 1x1 | 2x1 shm (wait, share) | 2x1 shm in flight "
      "| 2x1 tcp (wait, share) | 2x1 tcp in flight | 2x1 shm, no overlap (wait, share) | 2x1 / 1x2 | tcp / 1x2 |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
measured = {}
for m in modes:
    by = {l: [r["run"] for r in rows if r["run"]["mode"] == m and r["layout"] == l]
          for l in ("1x2", "1x1", "2x1", "tcp", "seq")}
    step = {l: med([x["ms_step"] for x in v]) for l, v in by.items()}
    wait = {l: med([x["ms_wait"] for x in v]) for l, v in by.items()}
    comm = {l: med([x.get("ms_comm", float("nan")) for x in v]) for l, v in by.items()}
    gb = by["2x1"][0]["grad_bytes"] if by["2x1"] else 0
    measured[m] = (step["1x2"], gb)
    cell = lambda l: f"{step[l]:.1f} ms ({wait[l]:.1f} ms, {100 * wait[l] / step[l]:.1f}%)"
    print(f"| {m} | {gb:,} | {step['1x2']:.1f} ms | {step['1x1']:.1f} ms | {cell('2x1')} | "
          f"{comm['2x1']:.1f} ms | {cell('tcp')} | {comm['tcp']:.1f} ms | {cell('seq')} | "
          f"{step['1x2'] / step['2x1']:.2f}x | {step['1x2'] / step['tcp']:.2f}x |")

# docs/distributed.md: the step's compute C (the measured 1x2 step) split
# over N machines, a ring allreduce of S bytes at b bit/s with 50 us per
# message; overlap hides up to the backward time (about 2/3 of C/N).
ALPHA = 50e-6
def ring(n, nbytes, bps):
    return 2 * (n - 1) / n * nbytes * 8 / bps + 2 * (n - 1) * ALPHA
print()
print("Modelled from the measured 1x2 step (docs/distributed.md): speed-up on N machines, "
      "without overlap / with overlap")
print()
ns = (2, 4, 8, 16, 64)
print("| mode | link | " + " | ".join(f"N = {n}" for n in ns) + " | sum at N = 64 |")
print("| --- | --- | " + " | ".join("---:" for n in ns) + " | ---: |")
for m, (c_ms, nbytes) in measured.items():
    c = c_ms / 1e3
    for gbit in (10, 25):
        cells = []
        for n in ns:
            t = ring(n, nbytes, gbit * 1e9)
            plain, over = c / n + t, c / n + max(0.0, t - 2 * c / (3 * n))
            cells.append(f"{c / plain:.1f} / {c / over:.1f}")
        print(f"| {m} | {gbit} Gbit/s | " + " | ".join(cells) +
              f" | {1e3 * ring(64, nbytes, gbit * 1e9):.1f} ms |")
PYEOF
