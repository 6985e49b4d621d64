#!/usr/bin/env bash
# The serving benchmark (docs/serving.md has its table): `ptune serve` and the
# PyTorch baseline (bench/serve/torch_server.py: the reference model, one
# adapter per batch) side by side in one run, on the same 16 adapters across
# ner, cls and qa (6 + 6 + 4 of the methods ptv2, lora, prompt, prefix, ia3),
# the same model and the same request bodies (bench/serve/bodies.py: 4 inputs
# each), driven by wrk (bench/serve/load.lua) at each concurrency for SECONDS:
#   - mixed traffic over the 16 adapters, both servers;
#   - single-adapter traffic, ptune: the same bodies' texts sent to one
#     classification adapter (the 0.9x goal: mixed vs single, rows/s);
#   - RSS sampled every second (after a warm-up): its spread over the run;
#   - RSS with 16 adapters loaded against one (the 1.1x goal).
# Before the load, every body is sent once to both servers and their answers
# compared (labels, tags, answers; probabilities within 1e-3).
#
#   bench/serve/run.sh [--seconds 60] [--models "tiny base"] [--concurrency "1 8 64"]
#                      [--threads 2] [--warmup 30] [--out bench/serve/results-DATE.jsonl]
#
# Each measured run follows a warm-up at the same load (--warmup seconds).
# Writes the raw rows (one JSON line per run, with its RSS samples) to OUT
# and the dated table, with the command, the machine and its load, to OUT
# with .md for .jsonl (printed too): what docs/serving.md's table is from.
#
# tiny: assets/tiny-bert-uncased (4 x 224, 128 positions); base: a BERT-base
# shaped model with random weights (bench/serve/make_model.py, 12 x 768).
# Needs a release build in BUILD (default build/: apps/ptune and
# tests/serve_make_adapter), wrk, curl and Debian's python3-torch. Timing
# figures need a quiet machine: the script prints the load average it saw.
# Both servers sleep between batches: `ptune serve` bounds its spinning by
# itself (apps/main.c), the baseline gets OMP_WAIT_POLICY=PASSIVE
# (TORCH_OMP_WAIT_POLICY and PTUNE_OMP_WAIT_POLICY override).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${BUILD:-$root/build}"
seconds=60 models="tiny base" conc="1 8 64" threads=2 warmup=""
out="$here/results-$(date -u +%Y%m%dT%H%MZ).jsonl"
command_line="bench/serve/run.sh${1+$(printf ' %q' "$@")}"
started="$(date -u +%FT%TZ)" load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --models) models="$2"; shift 2 ;;
    --concurrency) conc="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) sed -n '2,32p' "$0"; exit 2 ;;
  esac
done
# 30 s: on the BERT-base shape at 64 connections a request takes 7-13 s, and
# the heap reaches its high-water mark only after a few of them
[ -n "$warmup" ] || warmup=$(( seconds >= 30 ? 30 : 2 ))
ptune="$build/apps/ptune"
make_adapter="$build/tests/serve_make_adapter"
py=/usr/bin/python3
for f in "$ptune" "$make_adapter"; do
  [ -x "$f" ] || { echo "run.sh: $f is missing (meson setup build && ninja -C build)" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "run.sh: wrk is missing (apt-get install wrk)" >&2; exit 1; }
# the OpenBLAS kernels ptune serves with (named by ptune where OpenBLAS
# mistakes the CPU: tensor/pt_blas_core.h); PyTorch links the same OpenBLAS
core=$(env -u OPENBLAS_CORETYPE OPENBLAS_VERBOSE=2 "$ptune" --help 2>&1 >/dev/null | sed -n 's/^Core: //p')
work="$(mktemp -d /tmp/ptune-serve-bench-XXXXXX)"
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
: >"$out"
echo "serve bench: $(date -u +%FT%TZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg);" \
     "$seconds s per run, concurrency $conc, $threads compute threads, OpenBLAS core ${core:-?};" \
     "results -> $out" >&2

# ---- adapters: name -> task (adapters.json) and the --adapter arguments ----------
specs=(
  "ner-ptv2-a ptv2 token_classification 9 --pre-seq-len 16"
  "ner-ptv2-b ptv2 token_classification 9 --pre-seq-len 8"
  "ner-lora-a lora token_classification 9 --lora-r 8"
  "ner-lora-b lora token_classification 9 --lora-r 4"
  "ner-prompt prompt token_classification 9 --num-virtual-tokens 8"
  "ner-prefix prefix token_classification 9 --num-virtual-tokens 8"
  "cls-lora-a lora sequence_classification 2 --lora-r 8"
  "cls-lora-b lora sequence_classification 2 --lora-r 16"
  "cls-ptv2-a ptv2 sequence_classification 2 --pre-seq-len 16"
  "cls-ptv2-b ptv2 sequence_classification 2 --pre-seq-len 4"
  "cls-ia3 ia3 sequence_classification 2"
  "cls-prompt prompt sequence_classification 2 --num-virtual-tokens 16"
  "qa-ptv2-a ptv2 question_answering 0 --pre-seq-len 16"
  "qa-ptv2-b ptv2 question_answering 0 --pre-seq-len 8"
  "qa-lora lora question_answering 0 --lora-r 8"
  "qa-prompt prompt question_answering 0 --num-virtual-tokens 8"
)
make_adapters() { # MODEL_DIR DEST
  local i=0 json="{" sep="" args=()
  for s in "${specs[@]}"; do
    read -r name method head n opts <<<"$s"
    # shellcheck disable=SC2086
    "$make_adapter" "$1" "$2/$name" "$method" "$head" "$n" "$((100 + i))" $opts
    json+="$sep\"$name\": \"${name%%-*}\""
    sep=", "
    args+=(--adapter "$name=$2/$name")
    i=$((i + 1))
  done
  echo "$json}" >"$2/adapters.json"
  printf '%s\n' "${args[@]}" >"$2/adapter_args"
}

# ---- servers --------------------------------------------------------------------
start_server() { # KIND MODEL_DIR LOG ARGS... ; sets server_pid, port
  local kind="$1" model="$2" log="$3"
  shift 3
  if [ "$kind" = ptune ]; then
    env ${PTUNE_OMP_WAIT_POLICY:+OMP_WAIT_POLICY=$PTUNE_OMP_WAIT_POLICY} \
      "$ptune" serve --model "$model" --port 0 --threads "$threads" "$@" 2>"$log" &
  else
    # libgomp's spinning workers cost PyTorch 5-10x on a shared machine (DESIGN.md, "Speed"):
    # the baseline runs with passive waiting, its faster setting here
    env OMP_WAIT_POLICY="${TORCH_OMP_WAIT_POLICY:-PASSIVE}" ${core:+OPENBLAS_CORETYPE="$core"} \
      "$py" "$here/torch_server.py" --model "$model" --port 0 --threads "$threads" "$@" 2>"$log" &
  fi
  server_pid=$!
  for _ in $(seq 600); do
    port="$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$log" 2>/dev/null | grep -o '[0-9]*$' || true)"
    [ -n "$port" ] && return 0
    kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.2
  done
  echo "run.sh: $kind did not start" >&2
  exit 1
}
stop_server() {
  kill -TERM "$server_pid"
  local code=0
  wait "$server_pid" || code=$?
  server_pid=""
  return $code
}
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

# The requests wrk left queued when it stopped are still being answered: one
# more request, answered after them (both servers start a batch with the
# oldest waiting request), so that the next window measures its own load only.
drain() { # BODIES
  curl -s -o /dev/null --max-time 600 -H "Content-Type: application/json" \
    --data-binary "$(head -1 "$1")" "http://127.0.0.1:$port/v1/predict" || true
}

# ---- one wrk run -> one JSON line -------------------------------------------------
load() { # MODEL KIND TRAFFIC C BODIES
  local t=$(( $4 < 2 ? 1 : 2 ))
  # a warm-up at the same load first: the allocator's heap grows to the
  # largest batches' working set and stays (tensor/tensor.c keeps freed
  # memory for reuse), so RSS is judged after it
  wrk -t "$t" -c "$4" -d "${warmup}s" --timeout 30s -s "$here/load.lua" \
    "http://127.0.0.1:$port" -- "$5" >/dev/null
  drain "$5"
  local samples="$work/rss.$$"
  (while kill -0 "$server_pid" 2>/dev/null; do rss_kb "$server_pid"; sleep 1; done) >"$samples" &
  local sampler=$!
  local res
  res="$(wrk -t "$t" -c "$4" -d "${seconds}s" --timeout 30s -s "$here/load.lua" \
           "http://127.0.0.1:$port" -- "$5" | tail -1)"
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  "$py" - "$1" "$2" "$3" "$4" "$res" "$samples" "$work/tokens.json" >>"$out" <<'EOF'
import json, sys
model, kind, traffic, c, res, samples, tokens = sys.argv[1:]
r = json.loads(res)
r["tokens_per_s"] = json.load(open(tokens))[traffic] * r["requests"] / r["seconds"]
rss = [int(x) for x in open(samples).read().split()]
rss = rss[max(1, len(rss) // 10):] or rss  # after the run's first tenth
mean = sum(rss) / len(rss)
r.update(model=model, server=kind, traffic=traffic, concurrency=int(c), inputs_per_request=4,
         req_per_s=r["requests"] / r["seconds"], rows_per_s=4 * r["requests"] / r["seconds"],
         rss_mb_mean=mean / 1024, rss_spread_pct=100 * (max(rss) - min(rss)) / mean,
         rss_mb_first=rss[0] / 1024, rss_mb_last=rss[-1] / 1024,
         rss_mb_every_s=[round(int(x) / 1024, 1) for x in open(samples).read().split()])
print(json.dumps(r))
EOF
  tail -1 "$out" | "$py" -c 'import json,sys; r=json.load(sys.stdin); print("  %-5s %-6s %-6s c=%-3d %8.1f req/s %8.1f rows/s %8.0f tok/s  p50 %7.2f ms  p99 %7.2f ms  503 %d  other %d  socket %d  RSS %.0f MB (spread %.1f%%)" % (r["server"], r["model"], r["traffic"], r["concurrency"], r["req_per_s"], r["rows_per_s"], r["tokens_per_s"], r["p50_ms"], r["p99_ms"], r["status_503"], r["status_other"], r["socket_errors"], r["rss_mb_mean"], r["rss_spread_pct"]))' >&2
}

warm() { # BODIES
  wrk -t 1 -c 4 -d 5s -s "$here/load.lua" "http://127.0.0.1:$port" -- "$1" >/dev/null
  drain "$1"
}

# the answers of both servers to every distinct body, compared
agree() { # PTUNE_PORT TORCH_PORT BODIES
  "$py" - "$@" <<'EOF'
import http.client, json, sys
p1, p2, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def ask(port, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    c.request("POST", "/v1/predict", body, {"Content-Type": "application/json"})
    return json.loads(c.getresponse().read())
def same(a, b):
    for x, y in zip(a["results"], b["results"]):
        for k in ("label", "tags", "answer"):
            if k in x and x[k] != y[k]:
                return False
        for k in ("probabilities",):
            if k in x and any(abs(x[k][n] - y[k][n]) > 1e-3 for n in x[k]):
                return False
    return len(a["results"]) == len(b["results"])
bodies = sorted(set(open(path).read().split("\n")) - {""})[:64]
ok = sum(same(ask(p1, b), ask(p2, b)) for b in bodies)
print("  answers of ptune and the baseline agree on %d of %d bodies" % (ok, len(bodies)), file=sys.stderr)
EOF
}

for model in $models; do
  case "$model" in
    tiny) mdir="$root/assets/tiny-bert-uncased" ;;
    base) mdir="$work/bert-base"; "$py" "$here/make_model.py" "$mdir" >/dev/null ;;
    *) echo "run.sh: unknown model $model (tiny, base)" >&2; exit 2 ;;
  esac
  adir="$work/adapters-$model"
  mkdir -p "$adir"
  make_adapters "$mdir" "$adir"
  mapfile -t aargs <"$adir/adapter_args"
  "$py" "$here/bodies.py" "$mdir" "$adir/adapters.json" "$work/mixed.jsonl" "$work/single.jsonl" \
    cls-lora-a 4 >"$work/tokens.json"
  echo "model $model ($mdir): 16 adapters" >&2

  # the baseline first, kept running for the agreement check
  start_server torch "$mdir" "$work/torch.log" "${aargs[@]}"
  torch_pid=$server_pid torch_port=$port
  start_server ptune "$mdir" "$work/ptune.log" "${aargs[@]}"
  agree "$port" "$torch_port" "$work/mixed.jsonl"
  for kind in ptune torch; do
    if [ "$kind" = torch ]; then
      stop_server || echo "run.sh: ptune serve exited $?" >&2
      server_pid=$torch_pid port=$torch_port
    fi
    warm "$work/mixed.jsonl"
    for c in $conc; do
      load "$model" "$kind" mixed "$c" "$work/mixed.jsonl"
      if [ "$kind" = ptune ]; then load "$model" "$kind" single "$c" "$work/single.jsonl"; fi
    done
    if [ "$kind" = ptune ]; then
      rss16=$(rss_kb "$server_pid")
    else
      kill "$server_pid"
      wait "$server_pid" 2>/dev/null || true
      server_pid=""
    fi
  done
  # memory: one adapter against sixteen, after the same warm-up
  start_server ptune "$mdir" "$work/ptune1.log" --adapter "cls-lora-a=$adir/cls-lora-a"
  warm "$work/single.jsonl"
  rss1=$(rss_kb "$server_pid")
  stop_server || true
  start_server ptune "$mdir" "$work/ptune16.log" "${aargs[@]}"
  warm "$work/single.jsonl"
  rss16w=$(rss_kb "$server_pid")
  stop_server || true
  "$py" -c "import json; print(json.dumps({'model': '$model', 'server': 'ptune', 'memory': True,
    'rss_mb_1_adapter': $rss1 / 1024, 'rss_mb_16_adapters': $rss16w / 1024,
    'rss_mb_16_after_load': $rss16 / 1024, 'ratio_16_to_1': $rss16w / $rss1}))" >>"$out"
  echo "  ptune RSS: 1 adapter $((rss1 / 1024)) MB, 16 adapters $((rss16w / 1024)) MB" >&2
done

# ---- the table -----------------------------------------------------------------------
md="${out%.jsonl}.md"
[ "$md" != "$out" ] || md="$out.md"
{
  echo "# \`ptune serve\` load benchmark, $started"
  echo
  echo "- command: \`$command_line\` (ptune $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'),"
  echo "  $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), torch $("$py" -c 'import torch; print(torch.__version__)'))"
  echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //');"
  echo "  load average $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
  echo "- each cell: wrk for $seconds s after a $warmup s warm-up at the same load, bodies of 4"
  echo "  inputs, $threads compute threads per server; raw rows (with RSS every second):"
  echo "  \`$(basename "$out")\`"
  echo
"$py" - "$out" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
runs = [r for r in rows if "traffic" in r]
mem = {r["model"]: r for r in rows if r.get("memory")}
print("| model | concurrency | ptune mixed rows/s | p50 / p99 ms | ptune single rows/s | mixed/single "
      "(rows, tokens) | PyTorch rows/s | p50 / p99 ms | ptune/PyTorch | errors (503) | RSS MB "
      "(spread) |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for model in dict.fromkeys(r["model"] for r in runs):
    for c in dict.fromkeys(r["concurrency"] for r in runs if r["model"] == model):
        get = lambda s, t: next((r for r in runs if r["model"] == model and r["concurrency"] == c
                                 and r["server"] == s and r["traffic"] == t), None)
        pm, ps, tm = get("ptune", "mixed"), get("ptune", "single"), get("torch", "mixed")
        ratio = lambda a, b: "%.2f" % (a / b) if b else "-"  # no request finished: no ratio
        err = lambda r: "%d (%d)" % (r["status_other"] + r["socket_errors"], r["status_503"]) if r else "-"
        print("| %s | %d | %.0f | %.1f / %.1f | %s | %s | %s | %s | %s | %s / %s | %.0f (%.1f%%) / %s |" % (
            model, c, pm["rows_per_s"], pm["p50_ms"], pm["p99_ms"],
            "%.0f" % ps["rows_per_s"] if ps else "-",
            "%s, %s" % (ratio(pm["rows_per_s"], ps["rows_per_s"]),
                        ratio(pm["tokens_per_s"], ps["tokens_per_s"])) if ps else "-",
            "%.0f" % tm["rows_per_s"] if tm else "-",
            "%.1f / %.1f" % (tm["p50_ms"], tm["p99_ms"]) if tm else "-",
            ratio(pm["rows_per_s"], tm["rows_per_s"]) if tm else "-",
            err(pm), err(tm), pm["rss_mb_mean"], pm["rss_spread_pct"],
            "%.0f" % tm["rss_mb_mean"] if tm else "-"))
for model, m in mem.items():
    print("\n%s: ptune RSS with 1 adapter %.0f MB, with 16 adapters %.0f MB (%.3fx)" % (
        model, m["rss_mb_1_adapter"], m["rss_mb_16_adapters"], m["ratio_16_to_1"]))
EOF
} | tee "$md"
echo "run.sh: the table is in $md, the raw rows in $out" >&2
