#!/usr/bin/env bash
# ptune beside PyTorch on the same machine, in the same run: each mode of
# each implementation in its own process (so peak RSS is per mode), then the
# ratios. PyTorch is measured at its best: bench_torch*.py set
# OMP_WAIT_POLICY=PASSIVE for themselves, and each PyTorch measurement runs
# three times, with the environment as it is, as the tiny-BERT anchor ran it
# (OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset, glibc malloc thresholds
# raised), and that with denormals flushed, keeping the fastest. ptune runs
# once, with the environment as it is (its command flushes denormals).
# Needs Debian's python3-torch for the PyTorch side.
#
#   bench/vs_torch.sh                   # ptv2, full, infer at batch 8 x 128, prefix 16
#   bench/vs_torch.sh --scaling         # also ptv2 at seq 64/128/256/384 and prefix 8/16/64/128
#   bench/vs_torch.sh --mlm             # only MLM pretraining steps of the demo model's shapes
#                                       # (4 x 256 as the anchor, 4 x 224 as bundled; batch 32 x 128)
#   PTUNE=build/apps/ptune bench/vs_torch.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PTUNE=${PTUNE:-build/apps/ptune}
PY=${PYTHON:-/usr/bin/python3}
OUT=${OUT:-bench/results-$(date -u +%Y%m%dT%H%M%SZ).jsonl}
[ -x "$PTUNE" ] || { echo "vs_torch.sh: $PTUNE not built (ninja -C build)" >&2; exit 1; }
"$PY" -c 'import torch' 2>/dev/null || { echo "vs_torch.sh: $PY has no torch (apt-get install python3-torch)" >&2; exit 1; }

# PyTorch's fastest run of three: the environment as it is, the anchor's
# environment, and the anchor's with torch.set_flush_denormal(True) (ptune's
# command flushes denormals): torch_best KEY SCRIPT ARGS...
torch_best() {
  local key=$1 a b c
  shift
  anchor_env() {
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE MALLOC_MMAP_THRESHOLD_=33554432 \
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

run_pair() { # mode seq prefix
  local mode=$1 seq=$2 prefix=$3 p t key=ms_per_step_median
  [ "$mode" = infer ] && key=ms_per_batch_median
  p=$("$PTUNE" bench model --mode "$mode" --seq "$seq" --prefix "$prefix" --json 2>/dev/null | tail -n 1)
  t=$(torch_best "$key" bench/bench_torch.py --mode "$mode" --seq "$seq" --prefix "$prefix")
  echo "{\"mode\": \"$mode\", \"seq\": $seq, \"prefix\": $prefix, \"ptune\": $p, \"torch\": $t}" >> "$OUT"
  "$PY" - "$mode" "$seq" "$prefix" "$p" "$t" <<'PYEOF'
import json, sys
mode, seq, prefix = sys.argv[1:4]
p, t = json.loads(sys.argv[4]), json.loads(sys.argv[5])
key = "ms_per_batch_median" if mode == "infer" else "ms_per_step_median"
print(f"{mode:6s} seq {seq:>4s} prefix {prefix:>4s} | ptune {p[key]:8.1f} ms ({p['ms_min']:.0f}-{p['ms_max']:.0f})"
      f" {p['gflops']:6.1f} GFLOP/s {p['peak_rss_mib']:6.0f} MiB | torch {t[key]:8.1f} ms"
      f" ({t['ms_min']:.0f}-{t['ms_max']:.0f}) {t['gflops']:6.1f} GFLOP/s {t['peak_rss_mib']:6.0f} MiB"
      f" ({t['env']}) | speed-up {t[key] / p[key]:.2f}x, RSS {p['peak_rss_mib'] / t['peak_rss_mib']:.2f}x")
PYEOF
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

echo "ptune vs PyTorch, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores; raw rows in $OUT"
if [ "${1:-}" = "--mlm" ]; then
  run_mlm 4 256
  run_mlm 4 224
  exit 0
fi
for mode in ptv2 full infer; do run_pair "$mode" 128 16; done
if [ "${1:-}" = "--scaling" ]; then
  for seq in 64 256 384; do run_pair ptv2 "$seq" 16; done
  for prefix in 8 64 128; do run_pair ptv2 128 "$prefix"; done
fi
