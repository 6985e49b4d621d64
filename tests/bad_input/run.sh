#!/usr/bin/env bash
# Bad input on the command line: builds, in a temporary directory, broken
# copies of the committed fixtures (safetensors, JSON configs, vocabularies,
# data files) around a tiny valid model and adapter, runs the real ptune
# commands on them and checks that each one fails cleanly: exit status
# 1..127 (no signal), stderr exactly one non-empty line naming the offending
# file (or option) and the problem, and the --out/--output target not left
# half-written. One line per case (ok/FAIL); exits 1 if any case fails.
#
#   tests/bad_input/run.sh PTUNE_EXE FIXTURES_DIR
#
# Bash and coreutils only (printf, head, dd, truncate, cp, od).
set -u
EXE=${1:?usage: run.sh PTUNE_EXE FIXTURES_DIR}
FX=${2:?usage: run.sh PTUNE_EXE FIXTURES_DIR}
T=$(mktemp -d "${TMPDIR:-/tmp}/ptune_bad_input.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
export OMP_NUM_THREADS=1
fails=0
cases=0

# ---- safetensors surgery ---------------------------------------------------

# header_len FILE: the 8-byte little-endian header length.
header_len() { od -An -tu8 -N8 "$1" | tr -d ' '; }
# header FILE: the JSON header text.
header() { tail -c +9 "$1" | head -c "$(header_len "$1")"; }
# u64le N: N as 8 little-endian bytes (on stdout).
u64le() {
  local n=$1 i s=""
  for i in 0 1 2 3 4 5 6 7; do
    s+=$(printf '\\x%02x' $(((n >> (8 * i)) & 255)))
    :
  done
  printf "$s"
}
# st_build HEADER_JSON DATA_FILE OUT: a safetensors file from a header and a
# data section (the header padded with spaces to a multiple of 8).
st_build() {
  local h=$1 pad
  pad=$(((8 - ${#h} % 8) % 8))
  h+=$(printf '%*s' "$pad" '')
  { u64le "${#h}"; printf '%s' "$h"; cat "$2"; } >"$3"
}
# st_data FILE OUT: the data section of FILE.
st_data() { tail -c +$((9 + $(header_len "$1"))) "$1" >"$2"; }
# poke FILE OFFSET BYTES: overwrites bytes (printf escapes) at OFFSET.
poke() { printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }

# ---- the tiny valid model and adapter ---------------------------------------

M=$T/model
mkdir -p "$M"
SRC=$FX/ptv2/bert_seqcls_p4_proj
cp "$SRC/config.json" "$M/config.json"
# The fixture's model.safetensors without its pooler and classifier (the
# head is the adapter's; an unused pooler would add a warning line for ner):
# header cut before "bert.pooler.dense.weight", data cut at its offset.
st_data "$SRC/model.safetensors" "$T/data.bin"
H=$(header "$SRC/model.safetensors")
H=${H%%,\"bert.pooler.dense.weight\"*}}
END=${H##*\"data_offsets\":\[}
END=${END%%\]*}
END=${END#*,}
head -c "$END" "$T/data.bin" >"$T/data.cut"
st_build "$H" "$T/data.cut" "$M/model.safetensors"
{
  printf '%s\n' '[PAD]' '[UNK]' '[CLS]' '[SEP]' '[MASK]'
  for w in the a of to and in is was for on eu german call british lamb . , peter \
    blackburn brussels rejects boycott sheep council it at he said with by from; do
    printf '%s\n' "$w"
  done
  for ((i = 0; i < 100; i++)); do printf 'w%d\n' "$i"; done
} | head -n 100 >"$M/vocab.txt"

CONLL=$FX/data/conll2003/eng.train.excerpt
SQUAD=$FX/data/squad/dev-v1.1.excerpt.json
CORPUS=$FX/data/corpus/1945-Truman.txt

# A copy of the model dir whose FILE is replaced: newmodel NAME -> path.
newmodel() {
  local d=$T/m_$1
  rm -rf "$d"
  cp -r "$M" "$d"
  printf '%s' "$d"
}

# Train commands run without --quiet: a failure must be one line all the same.
train1() { # train1 MODEL OUT [extra...]: one NER step
  local m=$1 o=$2
  shift 2
  "$EXE" train --task ner --model "$m" --train "$CONLL" --out "$o" --max-steps 1 \
    --batch-size 2 --pre-seq-len 4 --max-seq-len 32 "$@"
}

ADAPTER=$T/base_run/last
if ! train1 "$M" "$T/base_run" >/dev/null 2>"$T/setup.err" || [ ! -d "$ADAPTER" ]; then
  echo "FAIL setup: training the tiny adapter failed: $(cat "$T/setup.err")"
  exit 1
fi

# ---- the check --------------------------------------------------------------

# check NAME TARGET NEEDLE... -- COMMAND...
# Runs COMMAND; TARGET ('-' for none) is the output path that must be absent
# afterwards, or unchanged if it existed before. Each NEEDLE must occur in
# the one-line stderr.
check() {
  local name=$1 target=$2
  shift 2
  local needles=()
  while [ "$1" != "--" ]; do
    needles+=("$1")
    shift
  done
  shift
  local before=""
  [ "$target" != - ] && [ -e "$target" ] && before=$(cksum <"$target" 2>/dev/null || echo dir)
  "$@" >"$T/out.txt" 2>"$T/err.txt" </dev/null
  local rc=$? why="" msg nl
  msg=$(cat "$T/err.txt")
  nl=$(wc -l <"$T/err.txt")
  if [ "$rc" -eq 0 ]; then
    why="exit status 0"
  elif [ "$rc" -ge 128 ]; then
    why="exit status $rc (signal)"
  elif [ "$nl" -ne 1 ] || [ -z "$msg" ]; then
    why="stderr has $nl lines"
  else
    local n
    for n in "${needles[@]}"; do
      [[ "$msg" == *"$n"* ]] || why="message lacks '$n'"
    done
  fi
  if [ -z "$why" ] && [ "$target" != - ]; then
    if [ -n "$before" ]; then
      [ "$(cksum <"$target" 2>/dev/null || echo dir)" = "$before" ] || why="$target changed"
    elif [ -e "$target" ]; then
      why="$target was written"
    fi
  fi
  cases=$((cases + 1))
  if [ -z "$why" ]; then
    echo "ok   $name: $msg"
  else
    fails=$((fails + 1))
    echo "FAIL $name: $why; stderr: $(head -c 600 "$T/err.txt")"
  fi
}

# ---- safetensors ---------------------------------------------------------------

O=$T/out # train's output dir: OUT/last must never appear
ST=model.safetensors

m=$(newmodel trunc)
truncate -s 50000 "$m/$ST"
check "truncated safetensors" "$O/last" "$m/$ST" -- train1 "$m" "$O"

m=$(newmodel hlen)
poke "$m/$ST" 0 '\x00\x00\x10\x00\x00\x00\x00\x00'
check "header length past the end" "$O/last" "$m/$ST" "header" -- train1 "$m" "$O"

m=$(newmodel hhuge)
poke "$m/$ST" 0 '\xff\xff\xff\xff\xff\xff\xff\x7f'
check "header length 2^63" "$O/last" "$m/$ST" "header" -- train1 "$m" "$O"

m=$(newmodel short8)
head -c 5 "$M/$ST" >"$m/$ST"
check "file shorter than its length field" "$O/last" "$m/$ST" -- train1 "$m" "$O"

m=$(newmodel past)
LNB=bert.encoder.layer.1.output.LayerNorm.bias # the last tensor: [89728,89856]
st_build "${H/\[89728,89856\]/[89728,99999]}" "$T/data.cut" "$m/$ST"
check "tensor offsets past the end" "$O/last" "$m/$ST" "$LNB" "past the end" -- train1 "$m" "$O"

m=$(newmodel overlap)
st_build "${H/\[89728,89856\]/[89700,89828]}" "$T/data.cut" "$m/$ST"
check "overlapping tensors" "$O/last" "$m/$ST" "overlap" -- train1 "$m" "$O"

m=$(newmodel dtype)
st_build "${H/\"F32\",\"shape\":\[32\],\"data_offsets\":\[89728,89856\]/\"I32\",\"shape\":[32],\"data_offsets\":[89728,89856]}" \
  "$T/data.cut" "$m/$ST"
check "integer dtype for a weight" "$O/last" "$m/$ST" "$LNB" -- train1 "$m" "$O"

m=$(newmodel shape)
printf '%s' "$(sed 's/"vocab_size": 100/"vocab_size": 120/' "$M/config.json")" >"$m/config.json"
check "shape not matching config.json" "$O/last" "$m/$ST" "word_embeddings" -- train1 "$m" "$O"

m=$(newmodel nan)
poke "$m/$ST" $((8 + $(header_len "$m/$ST") + 400)) '\x00\x00\xc0\x7f'
check "NaN weight" "$O/last" "$m/$ST" "NaN" "word_embeddings" -- train1 "$m" "$O"

m=$(newmodel inf)
poke "$m/$ST" $((8 + $(header_len "$m/$ST") + 89728 + 4)) '\x00\x00\x80\xff'
check "Inf weight" "$O/last" "$m/$ST" "Inf" "$LNB" -- train1 "$m" "$O"

m=$(newmodel empty_st)
: >"$m/$ST"
check "empty model.safetensors" "$O/last" "$m/$ST" -- train1 "$m" "$O"

m=$(newmodel dir_st)
rm "$m/$ST"
mkdir "$m/$ST"
check "model.safetensors is a directory" "$O/last" "$m/$ST" -- train1 "$m" "$O"

m=$(newmodel bad_header_json)
st_build "${H:0:200}" "$T/data.cut" "$m/$ST"
check "malformed safetensors header" "$O/last" "$m/$ST" -- train1 "$m" "$O"

# ---- config.json -------------------------------------------------------------

m=$(newmodel cfg_malformed)
printf '{"hidden_size": 32,\n' >"$m/config.json"
check "malformed config.json" "$O/last" "$m/config.json" -- train1 "$m" "$O"
check "malformed config.json (inspect)" - "$m/config.json" -- "$EXE" inspect --model "$m"

m=$(newmodel cfg_type)
printf '%s' "$(sed 's/"hidden_size": 32/"hidden_size": "32"/' "$M/config.json")" >"$m/config.json"
check "config.json hidden_size a string" "$O/last" "$m/config.json" "hidden_size" -- train1 "$m" "$O"

m=$(newmodel cfg_array)
printf '[1, 2]\n' >"$m/config.json"
check "config.json an array" - "$m/config.json" -- "$EXE" inspect --model "$m"

m=$(newmodel cfg_empty)
: >"$m/config.json"
check "empty config.json" "$O/last" "$m/config.json" -- train1 "$m" "$O"

m=$(newmodel cfg_dir)
rm "$m/config.json"
mkdir "$m/config.json"
check "config.json is a directory" - "$m/config.json" -- "$EXE" inspect --model "$m"

m=$(newmodel cfg_missing)
rm "$m/config.json"
check "missing config.json" "$O/last" "$m/config.json" -- train1 "$m" "$O"

m=$(newmodel cfg_zero_heads)
printf '%s' "$(sed 's/"num_attention_heads": 4/"num_attention_heads": 5/' "$M/config.json")" >"$m/config.json"
check "hidden_size not a multiple of the heads" - "$m/config.json" "num_attention_heads" -- "$EXE" inspect --model "$m"

# ---- vocab.txt and tokenizer_config.json ----------------------------------------

TOKIN=$T/texts.jsonl
printf '{"text": "the council rejects it"}\n' >"$TOKIN"
TOKOUT=$T/tokens.jsonl

m=$(newmodel vocab_nocls)
grep -v -x '\[CLS\]' "$M/vocab.txt" >"$m/vocab.txt"
check "vocab.txt without [CLS]" "$TOKOUT" "$m/vocab.txt" "[CLS]" -- "$EXE" tokenize --model "$m" --input "$TOKIN" --output "$TOKOUT"

m=$(newmodel vocab_nosep)
grep -v -x '\[SEP\]' "$M/vocab.txt" >"$m/vocab.txt"
check "vocab.txt without [SEP]" "$O/last" "$m/vocab.txt" "[SEP]" -- train1 "$m" "$O"

m=$(newmodel vocab_nounk)
grep -v -x '\[UNK\]' "$M/vocab.txt" >"$m/vocab.txt"
check "vocab.txt without [UNK]" "$TOKOUT" "$m/vocab.txt" "[UNK]" -- "$EXE" tokenize --model "$m" --input "$TOKIN" --output "$TOKOUT"

m=$(newmodel vocab_empty)
: >"$m/vocab.txt"
check "empty vocab.txt" "$TOKOUT" "$m/vocab.txt" -- "$EXE" tokenize --model "$m" --input "$TOKIN" --output "$TOKOUT"

m=$(newmodel vocab_dir)
rm "$m/vocab.txt"
mkdir "$m/vocab.txt"
check "vocab.txt is a directory" "$TOKOUT" "$m/vocab.txt" -- "$EXE" tokenize --model "$m" --input "$TOKIN" --output "$TOKOUT"

m=$(newmodel tokcfg_malformed)
printf '{"do_lower_case": tru' >"$m/tokenizer_config.json"
check "malformed tokenizer_config.json" "$TOKOUT" "$m/tokenizer_config.json" -- "$EXE" tokenize --model "$m" --input "$TOKIN" --output "$TOKOUT"

m=$(newmodel tokcfg_type)
printf '{"do_lower_case": "yes"}\n' >"$m/tokenizer_config.json"
check "tokenizer_config.json do_lower_case a string" "$TOKOUT" "$m/tokenizer_config.json" "do_lower_case" -- "$EXE" tokenize --model "$m" --input "$TOKIN" --output "$TOKOUT"

printf '{"text": "the council"}\n{"text": 5}\n' >"$T/bad_texts.jsonl"
check "tokenize input with a number for text" "$TOKOUT" "bad_texts.jsonl:2" -- "$EXE" tokenize --model "$M" --input "$T/bad_texts.jsonl" --output "$TOKOUT"
check "tokenize input missing" "$TOKOUT" "$T/none.jsonl" -- "$EXE" tokenize --model "$M" --input "$T/none.jsonl" --output "$TOKOUT"

# ---- adapter_config.json --------------------------------------------------------

newadapter() { # newadapter NAME -> a copy of the adapter
  local d=$T/a_$1
  rm -rf "$d"
  cp -r "$ADAPTER" "$d"
  printf '%s' "$d"
}
PRED=$T/pred.jsonl

a=$(newadapter malformed)
printf '{"pre_seq_len": 4,' >"$a/adapter_config.json"
check "malformed adapter_config.json" - "$a/adapter_config.json" -- "$EXE" eval --task ner --model "$M" --adapter "$a" --data "$CONLL"

a=$(newadapter type)
printf '%s' "$(sed 's/"pre_seq_len": *4/"pre_seq_len": "4"/' "$ADAPTER/adapter_config.json")" >"$a/adapter_config.json"
check "adapter_config.json pre_seq_len a string" "$PRED" "$a/adapter_config.json" "pre_seq_len" -- "$EXE" predict --task ner --model "$M" --adapter "$a" --data "$CONLL" --output "$PRED"

a=$(newadapter empty)
: >"$a/adapter_config.json"
check "empty adapter_config.json" "$PRED" "$a/adapter_config.json" -- "$EXE" predict --task ner --model "$M" --adapter "$a" --data "$CONLL" --output "$PRED"

a=$(newadapter weights_trunc)
truncate -s 100 "$a/adapter_model.safetensors"
check "truncated adapter_model.safetensors" "$PRED" "$a/adapter_model.safetensors" -- "$EXE" predict --task ner --model "$M" --adapter "$a" --data "$CONLL" --output "$PRED"

a=$(newadapter weights_nan)
poke "$a/adapter_model.safetensors" $((8 + $(header_len "$a/adapter_model.safetensors") + 8)) '\x00\x00\xc0\x7f'
check "NaN in the adapter" "$PRED" "$a/adapter_model.safetensors" "NaN" -- "$EXE" predict --task ner --model "$M" --adapter "$a" --data "$CONLL" --output "$PRED"

a=$(newadapter missing)
rm "$a/adapter_config.json"
check "missing adapter_config.json" - "$a/adapter_config.json" -- "$EXE" eval --task ner --model "$M" --adapter "$a" --data "$CONLL"

# ---- methods: options and adapters ------------------------------------------------

# trainm OUT [extra...]: one NER step of any method (no method options of its own)
trainm() {
  local o=$1
  shift
  "$EXE" train --task ner --model "$M" --train "$CONLL" --out "$o" --max-steps 1 \
    --batch-size 2 --max-seq-len 32 "$@"
}
check "unknown --method" "$O/last" "--method" "'vera'" "lora" -- trainm "$O" --method vera
check "an option of another method" "$O/last" "--pre-seq-len" "lora" -- trainm "$O" --method lora --pre-seq-len 4
check "--lora-r negative" "$O/last" "--lora-r" "-2" -- trainm "$O" --method lora --lora-r -2
check "--lora-r not a number" "$O/last" "--lora-r" -- trainm "$O" --method lora --lora-r eight
check "--lora-bias not a choice" "$O/last" "--lora-bias" "some" -- trainm "$O" --method lora --lora-bias some
check "--target-modules matching nothing" "$O/last" "--target-modules" "attention.nothing" -- trainm "$O" --method lora --target-modules attention.nothing
check "--target-modules a bad regular expression" "$O/last" "--target-modules" -- trainm "$O" --method lora --target-modules '.*(query'
check "--prefix-layers past the top" "$O/last" "--prefix-layers" "top:3" -- trainm "$O" --method ptv2 --prefix-layers top:3
check "--prefix-layers a layer that does not exist" "$O/last" "--prefix-layers" "0,5" -- trainm "$O" --method ptv2 --prefix-layers 0,5
check "--prefix-layers not a layer list" "$O/last" "--prefix-layers" "middle" -- trainm "$O" --method ptv2 --prefix-layers middle
check "--label-words fewer than the labels" "$O/last" "--label-words" -- "$EXE" train --task cls --preset rte --model "$M" --train "$FX/data/superglue/RTE.val.excerpt.jsonl" --out "$O" --max-steps 1 --batch-size 2 --max-seq-len 32 --method lora --head verbalizer --label-words the
check "--label-words with the linear head" "$O/last" "--label-words" -- "$EXE" train --task cls --preset rte --model "$M" --train "$FX/data/superglue/RTE.val.excerpt.jsonl" --out "$O" --max-steps 1 --batch-size 2 --max-seq-len 32 --method lora --label-words the,a
check "--save-format unknown" "$O/last" "--save-format" "onnx" -- trainm "$O" --method lora --save-format onnx
check "--save-format peft for a method without peft's layout" "$O/last" "adapter" "peft" -- trainm "$O" --method adapter --save-format peft

# adapters of other methods, in both layouts
LORA=$T/lora_run/last
trainm "$T/lora_run" --method lora --lora-r 2 --save-format both --quiet >/dev/null 2>"$T/setup.err" ||
  echo "FAIL setup: training the LoRA adapter failed: $(cat "$T/setup.err")"

newlora() { # newlora NAME [peft] -> a copy of the LoRA adapter (or of its peft layout)
  local d=$T/l_$1
  rm -rf "$d"
  cp -r "$LORA${2:+/peft}" "$d"
  printf '%s' "$d"
}
a=$(newlora method)
printf '%s' "$(sed 's/"method": "lora"/"method": "vera"/' "$LORA/adapter_config.json")" >"$a/adapter_config.json"
check "adapter of an unknown method" "$PRED" "$a/adapter_config.json" "'vera'" -- "$EXE" predict --task ner --model "$M" --adapter "$a" --data "$CONLL" --output "$PRED"
a=$(newlora rank)
printf '%s' "$(sed 's/"r": 2/"r": 3/' "$LORA/adapter_config.json")" >"$a/adapter_config.json"
check "adapter_config.json r not the tensors' rank" "$PRED" "$a/adapter_model.safetensors" "lora_A" -- "$EXE" predict --task ner --model "$M" --adapter "$a" --data "$CONLL" --output "$PRED"
a=$(newlora rtype)
printf '%s' "$(sed 's/"r": 2/"r": "two"/' "$LORA/adapter_config.json")" >"$a/adapter_config.json"
check "adapter_config.json r a string" "$PRED" "$a/adapter_config.json" "'r'" -- "$EXE" predict --task ner --model "$M" --adapter "$a" --data "$CONLL" --output "$PRED"
a=$(newlora rneg)
printf '%s' "$(sed 's/"r": 2/"r": -2/' "$LORA/adapter_config.json")" >"$a/adapter_config.json"
check "adapter_config.json r negative" "$PRED" "$a/adapter_config.json" "r" -- "$EXE" predict --task ner --model "$M" --adapter "$a" --data "$CONLL" --output "$PRED"
a=$(newlora width)
printf '%s' "$(sed 's/"hidden_size": 32/"hidden_size": 64/' "$LORA/adapter_config.json")" >"$a/adapter_config.json"
check "adapter made for another encoder" "$PRED" "$a" "H=64" -- "$EXE" predict --task ner --model "$M" --adapter "$a" --data "$CONLL" --output "$PRED"
a=$(newlora ptype peft)
printf '%s' "$(sed 's/"peft_type": "LORA"/"peft_type": "LOHA"/' "$LORA/peft/adapter_config.json")" >"$a/adapter_config.json"
check "peft adapter of a type ptune does not read" "$PRED" "$a/adapter_config.json" "LOHA" -- "$EXE" predict --task ner --model "$M" --adapter "$a" --data "$CONLL" --output "$PRED"
a=$(newlora nolabels peft)
printf '{"peft_type": "LORA", "task_type": "TOKEN_CLS", "r": 2, "lora_alpha": 8, "lora_dropout": 0.0, "target_modules": ["query", "value"], "bias": "none"}\n' >"$a/adapter_config.json"
m=$(newmodel noid2label)
printf '%s\n' "$(sed -e '/"id2label"/,/}/d' -e '/"label2id"/,/}/d' "$M/config.json")" >"$m/config.json"
check "peft adapter without labels, base model without id2label" "$PRED" "$a" "id2label" -- "$EXE" predict --task ner --model "$m" --adapter "$a" --data "$CONLL" --output "$PRED"
a=$(newlora missing_tensor peft)
printf '%s' "$(sed 's/"target_modules": \[/"target_modules": ["key", /' "$LORA/peft/adapter_config.json")" >"$a/adapter_config.json"
check "peft adapter missing a target's tensors" "$PRED" "$a/adapter_model.safetensors" "key.lora_A" -- "$EXE" predict --task ner --model "$M" --adapter "$a" --data "$CONLL" --output "$PRED"

# merge: only methods that fold into the weights
check "merge of a method that cannot merge" "$T/merged" "ptv2" "merge" -- "$EXE" merge --model "$M" --adapter "$ADAPTER" --out "$T/merged"
check "merge of a missing adapter" "$T/merged" "$T/none" -- "$EXE" merge --model "$M" --adapter "$T/none" --out "$T/merged"

# ---- data files ------------------------------------------------------------------

printf 'EU B-ORG\nrejects\n\n' >"$T/notag.conll"
check "CoNLL line without a tag column" "$O/last" "notag.conll:2" -- "$EXE" train --task ner --model "$M" --train "$T/notag.conll" --out "$O" --max-steps 1

: >"$T/empty.conll"
check "empty training file" "$O/last" "empty.conll" -- "$EXE" train --task ner --model "$M" --train "$T/empty.conll" --out "$O" --max-steps 1

check "training file is a directory" "$O/last" "$T" -- "$EXE" train --task ner --model "$M" --train "$T" --out "$O" --max-steps 1

check "missing training file" "$O/last" "$T/none.conll" -- "$EXE" train --task ner --model "$M" --train "$T/none.conll" --out "$O" --max-steps 1

printf '{"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": "the council met", "qas": [{"id": "q1", "question": "who met?", "answers": [{"text": "council", "answer_start": 4}]}, {"id": "q2", "question": "when?", "answers": [{"text": "yesterday", "answer_start": 40}]}]}]}]}\n' >"$T/squad_out.json"
check "SQuAD answer outside its context" "$O/last" "squad_out.json" "qas[1]" "outside the context" -- "$EXE" train --task qa --model "$M" --train "$T/squad_out.json" --out "$O" --max-steps 1 --pre-seq-len 4 --max-seq-len 32 --doc-stride 8

printf '{"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": "the council met", "qas": [{"id": "q1", "question": "who met?", "answers": [{"text": "council", "answer_start": 9}]}]}]}]}\n' >"$T/squad_mismatch.json"
check "SQuAD answer text not at answer_start" "$O/last" "squad_mismatch.json" -- "$EXE" train --task qa --model "$M" --train "$T/squad_mismatch.json" --out "$O" --max-steps 1 --pre-seq-len 4 --max-seq-len 32 --doc-stride 8

printf 'EU B-ALIEN\nrejects O\n\n' >"$T/alien.conll"
check "label unknown to the adapter (eval)" - "alien.conll" "B-ALIEN" -- "$EXE" eval --task ner --model "$M" --adapter "$ADAPTER" --data "$T/alien.conll"

printf '{"data": 5}\n' >"$T/squad_type.json"
check "SQuAD file with data a number" "$O/last" "squad_type.json" "data" -- "$EXE" train --task qa --model "$M" --train "$T/squad_type.json" --out "$O" --max-steps 1 --pre-seq-len 4 --max-seq-len 32 --doc-stride 8

printf '{"premise": "the council", "hypothesis": "it met", "label": "entailment", "idx": 0}\n{"premise": "a", "hypothesis": "b", "label": 3.5, "idx": 1}\n' >"$T/rte_type.jsonl"
check "RTE jsonl with a number for the label" "$O/last" "rte_type.jsonl:2" -- "$EXE" train --task cls --preset rte --model "$M" --train "$T/rte_type.jsonl" --out "$O" --max-steps 1 --pre-seq-len 4 --max-seq-len 32

: >"$T/empty_eval.conll"
check "eval on an empty file" - "empty_eval.conll" -- "$EXE" eval --task ner --model "$M" --adapter "$ADAPTER" --data "$T/empty_eval.conll"

mkdir -p "$T/pred_dir"
check "predict --output is a directory" - "$T/pred_dir" -- "$EXE" predict --task ner --model "$M" --adapter "$ADAPTER" --data "$CONLL" --output "$T/pred_dir"

printf 'not a directory\n' >"$T/out_file"
check "train --out is a file" "$T/out_file" "$T/out_file" -- train1 "$M" "$T/out_file"

m=$(newmodel index_malformed)
rm "$m/$ST"
printf '{"weight_map": {"bert.embeddings.word_embeddings.weight": 5}}\n' >"$m/model.safetensors.index.json"
check "sharded index with a number for a shard" "$O/last" "$m/model.safetensors.index.json" -- train1 "$m" "$O"

m=$(newmodel cfg_layers)
printf '%s' "$(sed 's/"num_hidden_layers": 2/"num_hidden_layers": -2/' "$M/config.json")" >"$m/config.json"
check "config.json with negative num_hidden_layers" - "$m/config.json" "num_hidden_layers" -- "$EXE" inspect --model "$m"

# ---- options ----------------------------------------------------------------------

check "--pre-seq-len over the position limit" "$O/last" "--pre-seq-len" "max_position_embeddings" -- "$EXE" train --task ner --model "$M" --train "$CONLL" --out "$O" --max-steps 1 --pre-seq-len 100
check "--max-seq-len over the position limit" "$O/last" "--max-seq-len" "max_position_embeddings" -- "$EXE" train --task ner --model "$M" --train "$CONLL" --out "$O" --max-steps 1 --max-seq-len 100
check "--batch-size not a number" "$O/last" "--batch-size" -- "$EXE" train --task ner --model "$M" --train "$CONLL" --out "$O" --batch-size x
check "missing model directory" "$O/last" "$T/nomodel" -- train1 "$T/nomodel" "$O"
check "--backbone-dtype not f32 or bf16" "$O/last" "--backbone-dtype" "f16" -- "$EXE" train --task ner --model "$M" --train "$CONLL" --out "$O" --max-steps 1 --backbone-dtype f16
check "--backbone-dtype bf16 with full fine-tuning" "$O/last" "--backbone-dtype bf16" "master copy" -- "$EXE" train --task ner --model "$M" --train "$CONLL" --out "$O" --max-steps 1 --method finetune --backbone-dtype bf16
"$EXE" train --task ner --model "$M" --train "$CONLL" --out "$T/ft" --max-steps 1 --method finetune --quiet >/dev/null 2>&1
check "eval: --backbone-dtype bf16 with a full fine-tuning adapter" - "--backbone-dtype" -- "$EXE" eval --task ner --model "$M" --adapter "$T/ft/last" --data "$CONLL" --backbone-dtype bf16
check "bench model: --backbone-dtype bf16 with --mode mlm" - "--backbone-dtype bf16" "mlm" -- "$EXE" bench model --mode mlm --layers 1 --hidden 32 --steps 1 --warmup 0 --backbone-dtype bf16

# predict over an existing output: the old file stays as it was
printf 'previous predictions\n' >"$PRED"
check "predict keeps the old output on failure" "$PRED" "notag.conll:2" -- "$EXE" predict --task ner --model "$M" --adapter "$ADAPTER" --data "$T/notag.conll" --output "$PRED"
rm -f "$PRED"

# ---- pretrain -------------------------------------------------------------------------

check "pretrain: missing corpus" "$T/pre/model.safetensors" "$T/none.txt" -- "$EXE" pretrain --steps 1 --vocab "$M/vocab.txt" --corpus "$T/none.txt" --out "$T/pre"
: >"$T/empty.txt"
check "pretrain: empty corpus" "$T/pre/model.safetensors" "empty.txt" -- "$EXE" pretrain --steps 1 --vocab "$M/vocab.txt" --corpus "$T/empty.txt" --out "$T/pre"
mkdir "$T/no_txt"
check "pretrain: corpus directory without text files" "$T/pre/model.safetensors" "$T/no_txt" -- "$EXE" pretrain --steps 1 --vocab "$M/vocab.txt" --corpus "$T/no_txt" --out "$T/pre"
mkdir "$T/nomask"
grep -v -x '\[MASK\]' "$M/vocab.txt" >"$T/nomask/vocab.txt"
check "pretrain: vocab without [MASK]" "$T/pre/model.safetensors" "$T/nomask/vocab.txt" "[MASK]" -- "$EXE" pretrain --steps 1 --vocab "$T/nomask/vocab.txt" --corpus "$CORPUS" --out "$T/pre"

# ---- fill-mask ------------------------------------------------------------------------

check "fill-mask: checkpoint without the MLM head" - "$M" "cls.predictions" -- "$EXE" fill-mask --model "$M" "the [MASK] ."
MLM=$T/mlm
mkdir "$MLM"
cp "$FX/mlm/config.json" "$FX/mlm/model.safetensors" "$M/vocab.txt" "$MLM/"
check "fill-mask: text without [MASK]" - "no [MASK]" -- "$EXE" fill-mask --model "$MLM" "the sheep ."
check "fill-mask: --top-k 0" - "--top-k" -- "$EXE" fill-mask --model "$MLM" --top-k 0 "the [MASK] ."
check "fill-mask: missing model directory" - "$T/nomodel" -- "$EXE" fill-mask --model "$T/nomodel" "the [MASK] ."

# ---- score: predictions files that do not fit the data -----------------------------

S=$T/score
mkdir -p "$S"
printf 'EU B-ORG\nrejects O\n\nPeter B-PER\nBlackburn I-PER\n' >"$S/gold.conll"
printf 'EU B-ORG B-ORG\nrejects O O\n\nPeter B-PER B-PER\n' >"$S/short_sentence.txt"
check "score ner: a sentence with another word count" - "short_sentence.txt:4" "sentence 2 has 1 words" "gold.conll:4" -- "$EXE" score --task ner --data "$S/gold.conll" --predictions "$S/short_sentence.txt"
printf 'EU B-ORG\nrejects O\n\nPeter B-PER\nBrown I-PER\n' >"$S/other_word.txt"
check "score ner: another word" - "other_word.txt:5" "'Brown'" "'Blackburn'" -- "$EXE" score --task ner --data "$S/gold.conll" --predictions "$S/other_word.txt"
printf 'EU B-ORG\nrejects O\n' >"$S/one_sentence.txt"
check "score ner: sentences missing" - "one_sentence.txt" "ends after 1 sentences" "gold.conll:4" -- "$EXE" score --task ner --data "$S/gold.conll" --predictions "$S/one_sentence.txt"
printf 'EU B-ORG\nrejects O\n\nPeter B-PER\nBlackburn I-PER\n\nextra O\n' >"$S/extra_sentence.txt"
check "score ner: a sentence too many" - "extra_sentence.txt:7" "sentence 3" -- "$EXE" score --task ner --data "$S/gold.conll" --predictions "$S/extra_sentence.txt"
printf 'EU B-ORG\nrejects Q-X\n\nPeter B-PER\nBlackburn I-PER\n' >"$S/bad_tag.txt"
check "score ner: a predicted tag that is no tag" - "bad_tag.txt:2" "Q-X" -- "$EXE" score --task ner --data "$S/gold.conll" --predictions "$S/bad_tag.txt"
printf 'EU S-ORG\nrejects O\n\nPeter B-PER\nBlackburn E-PER\n' >"$S/iobes.txt"
check "score ner: strict IOB2 on IOBES tags" - "iobes.txt:1" "S-ORG" "IOB2" -- "$EXE" score --task ner --data "$S/gold.conll" --predictions "$S/iobes.txt" --ner-mode strict
printf 'EU B-ORG\nrejects O\n' >"$S/two_columns.txt"
check "score ner without --data: no gold column" - "two_columns.txt:1" "3 columns" -- "$EXE" score --task ner --predictions "$S/two_columns.txt"
check "score: --ner-mode unknown" - "--ner-mode" "lenient" -- "$EXE" score --task ner --data "$S/gold.conll" --predictions "$S/iobes.txt" --ner-mode lenient
check "score: --scheme unknown" - "--scheme" "IOB3" -- "$EXE" score --task ner --data "$S/gold.conll" --predictions "$S/iobes.txt" --ner-mode strict --scheme IOB3
check "score: predictions file missing" - "$S/none.txt" -- "$EXE" score --task ner --data "$S/gold.conll" --predictions "$S/none.txt"
check "score: --predictions missing" - "--predictions" -- "$EXE" score --task ner --data "$S/gold.conll"

SQ2=$FX/data/squad/dev-v2.0.excerpt.json
printf '{"not-a-question": "x"}\n' >"$S/qa_unknown.json"
check "score qa: an id that is not a question" - "qa_unknown.json" "'not-a-question'" -- "$EXE" score --task qa --data "$SQUAD" --predictions "$S/qa_unknown.json"
printf '{}\n' >"$S/qa_empty.json"
check "score qa: a question without an answer" - "qa_empty.json" "no entry for question id" -- "$EXE" score --task qa --data "$SQUAD" --predictions "$S/qa_empty.json"
check "score qa: --na-prob with SQuAD 1.1" - "dev-v1.1.excerpt.json" "--na-prob" -- "$EXE" score --task qa --data "$SQUAD" --predictions "$S/qa_empty.json" --na-prob "$S/qa_empty.json"
check "score cls: --na-prob" - "--na-prob" "cls" -- "$EXE" score --task cls --preset rte --data "$FX/data/superglue/RTE.val.excerpt.jsonl" --predictions "$S/qa_empty.json" --na-prob "$S/qa_empty.json"
check "score cls: --ner-mode" - "--ner-mode" "cls" -- "$EXE" score --task cls --preset rte --data "$FX/data/superglue/RTE.val.excerpt.jsonl" --predictions "$S/qa_empty.json" --ner-mode strict
check "eval qa: --scheme" - "--scheme" "qa" -- "$EXE" eval --task qa --model "$M" --adapter "$S/none" --data "$S/qa_empty.json" --scheme IOBES
"$EXE" train --task qa --model "$M" --train "$SQUAD" --out "$S/qa_run" --max-steps 1 --batch-size 2 \
  --pre-seq-len 4 --max-seq-len 32 --doc-stride 8 --quiet >/dev/null 2>&1
check "predict qa: --na-prob-output with SQuAD 1.1" "$S/na.json" "dev-v1.1.excerpt.json" "--na-prob-output" -- "$EXE" predict --task qa --model "$M" --adapter "$S/qa_run/last" --data "$SQUAD" --output "$S/qa_pred.json" --na-prob-output "$S/na.json"
[ -e "$S/qa_pred.json" ] && { fails=$((fails + 1)); echo "FAIL predict qa: --na-prob-output with SQuAD 1.1 wrote its --output"; }

RTE=$FX/data/superglue/RTE.val.excerpt.jsonl
printf '{"idx": 0, "label": "entailment"}\n{"idx": 1, "label": "maybe"}\n' >"$S/rte_label.jsonl"
check "score cls: a label the preset does not have" - "rte_label.jsonl:2" "'maybe'" -- "$EXE" score --task cls --preset rte --data "$RTE" --predictions "$S/rte_label.jsonl"
printf '{"idx": 0, "label": "entailment"}\n{"idx": 0, "label": "entailment"}\n' >"$S/rte_twice.jsonl"
check "score cls: an idx twice" - "rte_twice.jsonl:2" "idx 0 again" -- "$EXE" score --task cls --preset rte --data "$RTE" --predictions "$S/rte_twice.jsonl"
printf '{"idx": 0, "label": "entailment"}\n' >"$S/rte_missing.jsonl"
check "score cls: an example without a prediction" - "rte_missing.jsonl" "no prediction for idx 1" -- "$EXE" score --task cls --preset rte --data "$RTE" --predictions "$S/rte_missing.jsonl"
printf '{"idx": 999, "label": "entailment"}\n' >"$S/rte_unknown.jsonl"
check "score cls: an idx not in the data" - "rte_unknown.jsonl:1" "idx 999" -- "$EXE" score --task cls --preset rte --data "$RTE" --predictions "$S/rte_unknown.jsonl"
check "score cls: no --data" - "--data" -- "$EXE" score --task cls --preset rte --predictions "$S/rte_unknown.jsonl"
printf '{"idx": 0, "label": 2}\n' >"$S/copa_choice.jsonl"
check "score mc: a choice out of range" - "copa_choice.jsonl:1" "label 2" -- "$EXE" score --task mc --preset copa --data "$FX/data/superglue/COPA.val.excerpt.jsonl" --predictions "$S/copa_choice.jsonl"
printf '{"tokens": ["He", "ran"], "verb_indicator": [0, 1], "tags": ["B-A0", "B-V"]}\n' >"$S/srl_gold.jsonl"
printf '{"tokens": ["He", "ran", "off"], "verb_indicator": [0, 1, 0], "tags": ["B-A0", "B-V", "O"]}\n' >"$S/srl_len.jsonl"
check "score srl: another word count" - "srl_len.jsonl:1" "3 words" "srl_gold.jsonl:1" -- "$EXE" score --task srl --data "$S/srl_gold.jsonl" --predictions "$S/srl_len.jsonl"
printf '{"tokens": ["He", "ran"], "verb_indicator": [1, 0], "tags": ["B-A0", "B-V"]}\n' >"$S/srl_verb.jsonl"
check "score srl: another predicate" - "srl_verb.jsonl:1" "verb_indicator" -- "$EXE" score --task srl --data "$S/srl_gold.jsonl" --predictions "$S/srl_verb.jsonl"

echo "$((cases - fails)) of $cases cases ok"
[ "$fails" -eq 0 ]
