#!/usr/bin/env bash
# ptune beside PyTorch on the same machine, in the same run: each mode of
# each implementation in its own process (so peak RSS is per mode), medians
# of 10 steps after 3 warm-ups, then the ratios as one dated markdown table
# (bench/vs_torch_table.py) and the raw rows as JSONL. PyTorch is measured at
# its best: bench_torch*.py set OMP_WAIT_POLICY=PASSIVE for themselves, and
# each PyTorch measurement runs three times, with the environment as it is,
# as the tiny-BERT anchor ran it (OPENBLAS_L2_SIZE unset, glibc malloc
# thresholds raised) with the OpenBLAS kernels ptune runs with
# (OPENBLAS_CORETYPE), and that with denormals flushed, keeping
# the fastest. ptune runs once, with the environment as it is (its command
# flushes denormals and bounds libgomp's spinning by itself).
# Needs Debian's python3-torch for the PyTorch side.
#
#   bench/vs_torch.sh            # the issue-19 table, about 50 minutes on 2 quiet cores:
#                                #  f32:  ptv2, full, infer (BERT-base, batch 8 x 128, prefix 16);
#                                #        ptune also with libgomp's default spinning
#                                #        (GOMP_SPINCOUNT=300000, the setting before) and
#                                #        with OMP_WAIT_POLICY=PASSIVE
#                                #  bf16: ptv2, infer, ptune --backbone-dtype bf16 against PyTorch's
#                                #        f32 best and PyTorch under bf16 autocast
#                                #  large: ptv2 and infer, RoBERTa-large-shaped (24 x 1024),
#                                #        f32 and bf16
#                                #  contention: ptv2, infer in f32 with a busy loop on one core
#                                #        (both sides); ptune also with libgomp's default
#                                #        spinning and with OMP_WAIT_POLICY=PASSIVE
#   bench/vs_torch.sh --tiny     # the same rows at a tiny shape (1 x 64, batch 2 x 16): checks
#                                # the script end to end (a few minutes quiet, 40 on a loaded
#                                # machine); its figures mean nothing
#   bench/vs_torch.sh --scaling  # f32 ptv2 at seq 64/128/256/384 and prefix 8/16/64/128
#   bench/vs_torch.sh --mlm      # only MLM pretraining steps of the demo model's shapes
#                                # (4 x 256 as the anchor, 4 x 224 as bundled; batch 32 x 128)
#   PTUNE=build/apps/ptune OUT=rows.jsonl bench/vs_torch.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PTUNE=${PTUNE:-build/apps/ptune}
PY=${PYTHON:-/usr/bin/python3}
OUT=${OUT:-bench/results-$(date -u +%Y%m%dT%H%M%SZ).jsonl}
[ -x "$PTUNE" ] || { echo "vs_torch.sh: $PTUNE not built (ninja -C build)" >&2; exit 1; }
"$PY" -c 'import torch' 2>/dev/null || { echo "vs_torch.sh: $PY has no torch (apt-get install python3-torch)" >&2; exit 1; }

# the shapes: BERT-base and RoBERTa-large-shaped, or tiny ones for --tiny
BASE="--layers 12 --hidden 768" LARGE="--layers 24 --hidden 1024" BATCH=8 SEQ=128 PREFIX=16
PSTEPS="" # ptune's step counts: bench model's defaults (10 after 3), as bench_torch.py's
if [ "${1:-}" = --tiny ]; then
  BASE="--layers 1 --hidden 64" LARGE="--layers 2 --hidden 128" BATCH=2 SEQ=16 PREFIX=4
fi

BUSY_PID=""
stop_busy() { [ -n "$BUSY_PID" ] && kill "$BUSY_PID" 2>/dev/null; BUSY_PID=""; }
trap stop_busy EXIT

# The OpenBLAS kernels ptune runs with (it names them itself where OpenBLAS
# mistakes the CPU: tensor/pt_blas_core.h). PyTorch links the same OpenBLAS,
# so its best runs get the same kernels.
CORE=$(env -u OPENBLAS_CORETYPE OPENBLAS_VERBOSE=2 "$PTUNE" --help 2>&1 >/dev/null | sed -n 's/^Core: //p')
ANCHOR_CORE=(-u OPENBLAS_CORETYPE)
[ -n "$CORE" ] && ANCHOR_CORE=(OPENBLAS_CORETYPE="$CORE")

# PyTorch's fastest run of three: the environment as it is, the anchor's
# environment (with ptune's OpenBLAS kernels), and that with
# torch.set_flush_denormal(True) (ptune's command flushes denormals):
# torch_best KEY SCRIPT ARGS...
torch_best() {
  local key=$1 a b c
  shift
  anchor_env() {
    env -u OPENBLAS_L2_SIZE "${ANCHOR_CORE[@]}" MALLOC_MMAP_THRESHOLD_=33554432 \
      MALLOC_TRIM_THRESHOLD_=4294967296 MALLOC_TOP_PAD_=268435456 "$@"
  }
  a=$("$PY" "$@" | tail -n 1)
  b=$(anchor_env "$PY" "$@" | tail -n 1)
  c=$(anchor_env "$PY" "$@" --flush-denormal | tail -n 1)
  "$PY" -c 'import json, sys
k = sys.argv[1]
runs = [json.loads(r) for r in sys.argv[2:]]
for r, env in zip(runs, ("as_is", "anchor", "anchor+flush_denormal")):
    r["env"] = env
print(json.dumps(min(runs, key=lambda r: r[k])))' "$key" "$a" "$b" "$c"
}

key_of() { [ "$1" = infer ] && echo ms_per_batch_median || echo ms_per_step_median; }

# ptune_run [ENV=VALUE...] -- bench model ARGS: the JSON line
ptune_run() {
  local envs=()
  while [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  env "${envs[@]}" "$PTUNE" bench model $PSTEPS "$@" --json 2>/dev/null | tail -n 1
}

# row GROUP MODE DTYPE SHAPE [OTHER_WAITS]: one table row. SHAPE is
# "--layers L --hidden H"; the PyTorch f32 best of the same mode and
# dimensions is measured once and reused by the bf16 row (TORCH_F32[dims]),
# except under contention. OTHER_WAITS: ENV=VALUE settings ptune also runs with.
declare -A TORCH_F32
row() {
  local group=$1 mode=$2 dtype=$3 shape=$4 waits=${5:-} key p t tb="null" others="{}" id
  key=$(key_of "$mode")
  local dims="--mode $mode --batch $BATCH --seq $SEQ --prefix $PREFIX $shape"
  p=$(ptune_run -- $dims --backbone-dtype "$dtype")
  id="$group $mode seq $SEQ prefix $PREFIX ${shape//--/}"
  if [ "$group" = contention ] || [ -z "${TORCH_F32[$dims]:-}" ]; then
    t=$(torch_best "$key" bench/bench_torch.py --mode "$mode" --batch "$BATCH" --seq "$SEQ" --prefix "$PREFIX" $shape)
    [ "$group" = contention ] || TORCH_F32[$dims]=$t
  else
    t=${TORCH_F32[$dims]}
  fi
  [ "$dtype" = bf16 ] &&
    tb=$(torch_best "$key" bench/bench_torch.py --mode "$mode" --batch "$BATCH" --seq "$SEQ" --prefix "$PREFIX" $shape --autocast bf16)
  if [ -n "$waits" ]; then # ptune with other libgomp settings, same conditions
    others="{"
    local w sep=""
    for w in $waits; do
      others+="$sep\"$w\": $(ptune_run "$w" -- $dims --backbone-dtype "$dtype")"
      sep=", "
    done
    others+="}"
  fi
  echo "{\"group\": \"$group\", \"mode\": \"$mode\", \"backbone_dtype\": \"$dtype\", \"batch\": $BATCH, \"seq\": $SEQ, \"prefix\": $PREFIX, \"ptune\": $p, \"torch\": $t, \"torch_bf16\": $tb, \"ptune_waits\": $others}" >>"$OUT"
  "$PY" - "$key" "$p" "$t" "$tb" "$id" <<'PYEOF'
import json, sys
k, p, t, tb, name = sys.argv[1], *map(json.loads, sys.argv[2:5]), sys.argv[5]
line = f"{name:40s} ptune {p[k]:9.1f} ms | torch f32 {t[k]:9.1f} ms ({t['env']}) {t[k] / p[k]:.2f}x"
if tb:
    line += f" | torch bf16 {tb[k]:9.1f} ms {tb[k] / p[k]:.2f}x"
print(line + f" | RSS {p['peak_rss_mib']:.0f} / {t['peak_rss_mib']:.0f} MiB", flush=True)
PYEOF
}

run_pair() { # f32 ptv2 at a sequence length and prefix (--scaling)
  local SEQ=$2 PREFIX=$3
  row scaling "$1" f32 "$BASE"
}

run_mlm() { # layers hidden
  local p t
  p=$("$PTUNE" bench model --mode mlm --layers "$1" --hidden "$2" --json 2>/dev/null | tail -n 1)
  t=$(torch_best ms_per_step_median bench/bench_torch_mlm.py --layers "$1" --hidden "$2")
  echo "{\"mode\": \"mlm\", \"layers\": $1, \"hidden\": $2, \"ptune\": $p, \"torch\": $t}" >> "$OUT"
  "$PY" - "$1" "$2" "$p" "$t" <<'PYEOF'
import json, sys
L, H = sys.argv[1:3]
p, t = json.loads(sys.argv[3]), json.loads(sys.argv[4])
k = "ms_per_step_median"
print(f"mlm    {L} x {H:>4s} batch 32x128 | ptune {p[k]:8.1f} ms ({p['ms_min']:.0f}-{p['ms_max']:.0f})"
      f" {p['tokens_per_s']:6.0f} tok/s {p['peak_rss_mib']:6.0f} MiB | torch {t[k]:8.1f} ms"
      f" ({t['ms_min']:.0f}-{t['ms_max']:.0f}) {t['tokens_per_s']:6.0f} tok/s {t['peak_rss_mib']:6.0f} MiB"
      f" ({t['env']}) | speed-up {t[k] / p[k]:.2f}x, params {p['total_params']} vs {t['trainable_params']}")
PYEOF
}

START="$(date -u '+%Y-%m-%d %H:%M UTC')"
echo "ptune vs PyTorch, $START, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); OpenBLAS core ${CORE:-?}; raw rows in $OUT"
case "${1:-}" in
  --mlm)
    run_mlm 4 256
    run_mlm 4 224
    exit 0
    ;;
  --scaling)
    for seq in 64 128 256 384; do run_pair ptv2 "$seq" 16; done
    for prefix in 8 64 128; do run_pair ptv2 128 "$prefix"; done
    ;;
  "" | --tiny)
    SPIN_BEFORE=GOMP_SPINCOUNT=300000 # libgomp's default, what ptune ran with before
    for mode in ptv2 full infer; do row f32 "$mode" f32 "$BASE" "$SPIN_BEFORE OMP_WAIT_POLICY=PASSIVE"; done
    for mode in ptv2 infer; do row bf16 "$mode" bf16 "$BASE"; done
    for dtype in f32 bf16; do
      for mode in ptv2 infer; do row "large $dtype" "$mode" "$dtype" "$LARGE"; done
    done
    # one core taken by a busy loop for the contention rows (both sides)
    taskset -c "$(($(nproc) - 1))" bash -c 'while :; do :; done' &
    BUSY_PID=$!
    for mode in ptv2 infer; do
      row contention "$mode" f32 "$BASE" "$SPIN_BEFORE OMP_WAIT_POLICY=PASSIVE"
    done
    stop_busy
    ;;
  *)
    echo "vs_torch.sh: unknown option $1 (--tiny, --scaling, --mlm)" >&2
    exit 2
    ;;
esac
echo
"$PY" bench/vs_torch_table.py "$OUT" "$START" "$(git rev-parse --short HEAD 2>/dev/null || echo '?')"
