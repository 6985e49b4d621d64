#!/usr/bin/env bash
# docs/methods.md's table of every registered PEFT method on the bundled model
# (assets/tiny-bert-uncased, 4 layers x 224), one recorded run each:
#
#   CoNLL04 NER   assets/data/conll04 (922 train, 231 dev sentences): entity F1
#                 of the best and of the last epoch
#   SST-2         the first $SST2_TRAIN examples of assets/data/sst2/train.excerpt.tsv,
#                 dev = the whole GLUE dev set (872): accuracy, best and last
#   COPA          assets/data/copa (400 train, 100 val): accuracy, best and last
#
# with the trainable parameters and their share, wall time, CPU time and peak
# RSS of each run, plus the P-Tuning v2 paper's two ablations: prompt depth on
# CoNLL04 (ptv2's prefix in the top k or bottom k of the 4 layers, k = 1..3;
# k = 4 is the main row) and the verbalizer head against the linear [CLS]
# head on SST-2 (ptv2 and prompt tuning; the linear rows are the main rows).
#
#   bench/methods_table.sh [BUILD_DIR]     (default build) runs everything
#   bench/methods_table.sh --table         the tables of the last runs again
#
# Environment: EPOCHS_NER (default 8), EPOCHS_SST2 (4), EPOCHS_COPA (10),
# SST2_TRAIN (2000), THREADS (2), METHODS (every registered method, from
# `ptune methods`), SMOKE=1 (a check of the script itself: 48 training and
# 32 dev examples of each task (COPA 48/20), one epoch). The same epochs for every method of a task; each method
# its own learning rate (lr_of below: the values of the methods' papers and
# peft's examples, not tuned here). Everything else as the demo: batch 16,
# linear decay, no warmup, clip 1.0, dropout 0.1, seed 42, one evaluation per
# epoch. 35 runs; about 25 minutes on 2 quiet cores with the defaults.
#
# Writes runs/methods-table/results.jsonl (one raw row per run: the name,
# the options, `ptune train`'s result line, the last epoch's metric, wall/CPU
# seconds and peak RSS from /usr/bin/time) and runs/methods-table/table.md
# (the Markdown tables, dated, with the commit and this command).
set -euo pipefail
cd "$(dirname "$0")/.."
out=runs/methods-table
results=$out/results.jsonl

render() {
  python3 - "$results" "$out" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
runs = sys.argv[2]
head = rows[0]["meta"] if rows and "meta" in rows[0] else {}
rows = [r for r in rows if "meta" not in r]

def cell(r):
    res = r["result"]
    metric = r["metric"]
    best = res["dev"][metric] if res.get("dev") else float("nan")
    per_epoch = res["steps"] // r["epochs"]
    return best, (res["best_step"] + per_epoch - 1) // per_epoch, r["last"]

def fmt_int(n): return f"{n:,}"

print(f"Measured {head.get('date', '?')} at commit {head.get('commit', '?')}: "
      f"`{head.get('command', 'bench/methods_table.sh')}` "
      f"({head.get('threads', '?')} threads; epochs: CoNLL04 {head.get('epochs_ner')}, "
      f"SST-2 {head.get('epochs_sst2')} on {head.get('sst2_train')} training sentences, "
      f"COPA {head.get('epochs_copa')}).")
print()
main = [r for r in rows if r["group"] == "main"]
methods = []
for r in main:
    if r["method"] not in methods: methods.append(r["method"])
by = {(r["method"], r["task"]): r for r in main}
print("| method | lr | trainable (NER) | share | CoNLL04 F1 best (epoch) | last | SST-2 acc best (epoch) | last | COPA acc best (epoch) | last | time NER / SST-2 / COPA (s) | CPU (s) | peak RSS (MiB) |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for m in methods:
    cells, times, cpu, rss = [], [], 0.0, 0
    first = None
    for t in ("ner", "sst2", "copa"):
        r = by.get((m, t))
        if not r:
            cells += ["n/a", "n/a"]; times.append("n/a"); continue
        first = first or r
        b, e, l = cell(r)
        cells += [f"{b:.4f} ({e})", f"{l:.4f}"]
        times.append(f"{r['wall_s']:.0f}")
        cpu += r["cpu_s"]; rss = max(rss, r["peak_rss_kib"])
    res = first["result"]
    print(f"| {m} | {first['lr']:g} | {fmt_int(res['trainable'])} | {res['trainable_pct']:.2f}% | "
          + " | ".join(cells) + f" | {' / '.join(times)} | {cpu:.0f} | {rss / 1024:.0f} |")
print()
depth = [r for r in rows if r["group"] == "depth"]
if depth:
    print("Prompt depth (CoNLL04, ptv2, the same settings as its main row):")
    print()
    print("| layers with a prefix | trainable | CoNLL04 F1 best (epoch) | last |")
    print("| --- | ---: | ---: | ---: |")
    for r in depth:
        b, e, l = cell(r)
        print(f"| {r['name']} | {fmt_int(r['result']['trainable'])} | {b:.4f} ({e}) | {l:.4f} |")
    if ("ptv2", "ner") in by:
        r = by[("ptv2", "ner")]
        b, e, l = cell(r)
        print(f"| all 4 (the main row) | {fmt_int(r['result']['trainable'])} | {b:.4f} ({e}) | {l:.4f} |")
    print()
verb = [r for r in rows if r["group"] == "verbalizer"]
if verb:
    print("Verbalizer against linear head (SST-2; label words terrible / great):")
    print()
    print("| method | head | trainable | SST-2 acc best (epoch) | last |")
    print("| --- | --- | ---: | ---: | ---: |")
    for r in verb:
        for head_name, x in (("linear [CLS] (main row)", by.get((r["method"], "sst2"))), ("verbalizer (MLM head)", r)):
            if not x: continue
            b, e, l = cell(x)
            print(f"| {r['method']} | {head_name} | {fmt_int(x['result']['trainable'])} | {b:.4f} ({e}) | {l:.4f} |")
EOF
}

if [ "${1:-}" = --table ]; then
  render
  exit 0
fi
build=${1:-build}
ptune=$build/apps/ptune
model=assets/tiny-bert-uncased
epochs_ner=${EPOCHS_NER:-8}
epochs_sst2=${EPOCHS_SST2:-4}
epochs_copa=${EPOCHS_COPA:-10}
sst2_train=${SST2_TRAIN:-2000}
threads=${THREADS:-2}
[ -x "$ptune" ] || { echo "methods_table: no $ptune (build first)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "methods_table: needs /usr/bin/time (peak RSS)" >&2; exit 1; }
mkdir -p "$out"
# the SST-2 training excerpt: a prefix of the committed one
head -n "$((sst2_train + 1))" assets/data/sst2/train.excerpt.tsv >"$out/sst2-train.tsv"
ner_train=assets/data/conll04/train.json ner_dev=assets/data/conll04/dev.json
sst2_dev=assets/data/sst2/dev.tsv copa_train=assets/data/copa/train.jsonl copa_dev=assets/data/copa/val.jsonl
if [ "${SMOKE:-0}" = 1 ]; then # the script end to end in minutes: a few examples of each, 1 epoch
  epochs_ner=1 epochs_sst2=1 epochs_copa=1 sst2_train=48
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); json.dump(d[:48], open(sys.argv[2], 'w'))" \
    "$ner_train" "$out/ner-train.json"
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); json.dump(d[:32], open(sys.argv[2], 'w'))" \
    "$ner_dev" "$out/ner-dev.json"
  head -n 49 assets/data/sst2/train.excerpt.tsv >"$out/sst2-train.tsv"
  head -n 33 "$sst2_dev" >"$out/sst2-dev.tsv"
  head -n 48 "$copa_train" >"$out/copa-train.jsonl"
  head -n 20 "$copa_dev" >"$out/copa-dev.jsonl"
  ner_train=$out/ner-train.json ner_dev=$out/ner-dev.json sst2_dev=$out/sst2-dev.tsv
  copa_train=$out/copa-train.jsonl copa_dev=$out/copa-dev.jsonl
fi
methods=${METHODS:-$("$ptune" methods | grep -E '^[a-z0-9-]+: ' | sed 's/:.*//')}

# Each method's learning rate, from its paper or peft's examples (AdamW):
# P-Tuning v2 2e-2 (THUDM's CoNLL04 script uses 2e-2 for its small models;
# the demo's), peft's prefix and prompt tuning 3e-2 (peft's examples),
# P-tuning with its MLP encoder 1e-2 (as ptv2 with its MLP), LoRA 1e-3 (top
# of the 5e-4..1e-3 peft uses), IA3 3e-3 (T-Few), BitFit 1e-3 (its paper's
# largest), Houlsby adapters 1e-3 (the paper's sweep 3e-5..3e-3), full
# fine-tuning 1e-4 (top of BERT's 5e-5..1e-4 range). A method not listed gets 1e-3.
lr_of() {
  case $1 in
  ptv2) echo 2e-2 ;;
  prefix | prompt) echo 3e-2 ;;
  p-tuning) echo 1e-2 ;;
  lora | bitfit | adapter) echo 1e-3 ;;
  ia3) echo 3e-3 ;;
  finetune) echo 1e-4 ;;
  *) echo 1e-3 ;;
  esac
}

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit="$commit+changes"
printf '{"meta": {"date": "%s", "commit": "%s", "command": "SMOKE=%s bench/methods_table.sh %s", "threads": %s, "epochs_ner": %s, "epochs_sst2": %s, "epochs_copa": %s, "sst2_train": %s}}\n' \
  "$(date -u +%Y-%m-%dT%H:%MZ)" "$commit" "${SMOKE:-0}" "$build" "$threads" "$epochs_ner" "$epochs_sst2" \
  "$epochs_copa" "$sst2_train" >"$results"

# run GROUP NAME TASK METHOD EPOCHS METRIC [options...]
run() {
  local group=$1 name=$2 task=$3 method=$4 epochs=$5 metric=$6
  shift 6
  local dir lr data
  dir=$out/$(echo "$group-$task-$name" | tr -c 'A-Za-z0-9\n' '-')
  lr=$(lr_of "$method")
  case $task in
  ner) data=(--task ner --train "$ner_train" --dev "$ner_dev") ;;
  sst2) data=(--task cls --preset sst2 --train "$out/sst2-train.tsv" --dev "$sst2_dev" --max-seq-len 64) ;;
  copa) data=(--task mc --preset copa --train "$copa_train" --dev "$copa_dev" --max-seq-len 64) ;;
  esac
  rm -rf "$dir"
  echo "== $group $task $name: --method $method --lr $lr $*" >&2
  local line
  line=$(/usr/bin/time -f '%M %e %U %S' -o "$dir.time" "$ptune" train "${data[@]}" --model "$model" \
    --out "$dir" --method "$method" --lr "$lr" --epochs "$epochs" --batch-size 16 \
    --schedule linear --max-grad-norm 1.0 --dropout 0.1 --seed 42 --threads "$threads" --quiet \
    "$@" | tail -n 1)
  echo "$line" >&2
  local rss wall user sys last
  read -r rss wall user sys <"$dir.time"
  # the last epoch's metric: the last evaluation in metrics.jsonl
  last=$(grep '"eval"' "$dir/metrics.jsonl" | tail -n 1 |
    python3 -c "import json,sys; print(json.load(sys.stdin)['eval']['$metric'])")
  printf '{"group": "%s", "name": "%s", "task": "%s", "method": "%s", "options": "%s", "lr": %s, "epochs": %s, "metric": "%s", "last": %s, "wall_s": %s, "cpu_s": %s, "peak_rss_kib": %s, "result": %s}\n' \
    "$group" "$name" "$task" "$method" "$*" "$lr" "$epochs" "$metric" "$last" "$wall" \
    "$(awk "BEGIN {print $user + $sys}")" "$rss" "$line" >>"$results"
}

for m in $methods; do
  run main "$m" ner "$m" "$epochs_ner" f1
  run main "$m" sst2 "$m" "$epochs_sst2" accuracy
  run main "$m" copa "$m" "$epochs_copa" accuracy
done
# prompt depth: ptv2's prefix in the top or bottom k layers
for k in 1 2 3; do
  for side in top bottom; do
    run depth "$side $k" ner ptv2 "$epochs_ner" f1 --prefix-layers "$side:$k"
  done
done
# the verbalizer head: the label words scored by the masked-LM head at a [MASK] after [CLS]
for m in ptv2 prompt; do
  run verbalizer "$m" sst2 "$m" "$epochs_sst2" accuracy --head verbalizer --label-words terrible,great
done

render | tee "$out/table.md"
