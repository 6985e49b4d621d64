#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/<harness>/ (small valid files
taken from tests/fixtures or built here, and known-bad ones). Regression
inputs found by fuzzing are committed beside them as crash-*/regress-* and are
not touched by this script. Run from anywhere: python3 tests/fuzz/make_seeds.py"""
import json, os, struct

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures")
OUT = os.path.join(HERE, "corpus")


def put(harness, name, data):
    d = os.path.join(OUT, harness)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def fix(*p, lines=None):
    with open(os.path.join(FIX, *p), "rb") as f:
        data = f.read()
    if lines is not None:
        data = b"".join(data.splitlines(keepends=True)[:lines])
    return data


# ---- safetensors -----------------------------------------------------------
def st(header, data=b"", pad=True):
    h = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


f32 = struct.pack("<4f", 1.0, -2.0, 0.5, 3.0)
put("safetensors", "f32", st({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}, f32))
put("safetensors", "meta-multi", st({
    "__metadata__": {"format": "pt", "k": "v"},
    "a": {"dtype": "F64", "shape": [2], "data_offsets": [0, 16]},
    "b": {"dtype": "I64", "shape": [1], "data_offsets": [16, 24]},
    "c": {"dtype": "I32", "shape": [2], "data_offsets": [24, 32]},
    "d": {"dtype": "F16", "shape": [2], "data_offsets": [32, 36]},
    "e": {"dtype": "BF16", "shape": [2], "data_offsets": [36, 40]},
    "s": {"dtype": "F32", "shape": [], "data_offsets": [40, 44]},
    "z": {"dtype": "F32", "shape": [0, 3], "data_offsets": [44, 44]}},
    struct.pack("<2d", 1.5, -2.5) + struct.pack("<q", -7) + struct.pack("<2i", 3, 4)
    + struct.pack("<2e", 1.0, 2.0) + b"\x80\x3f\x00\x40" + struct.pack("<f", 9.0)))
put("safetensors", "unaligned", st({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}},
                                   b"\x00" + f32[:8], pad=False))
put("safetensors", "nan", st({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}},
                             struct.pack("<2f", float("nan"), float("inf"))))
put("safetensors", "bad-trunc-header", struct.pack("<Q", 64) + b'{"w":')
put("safetensors", "bad-huge-header", struct.pack("<Q", 1 << 62) + b"{}")
put("safetensors", "bad-offsets-past-end",
    st({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, f32[:8]))
put("safetensors", "bad-overlap", st({
    "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
    "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, f32))
put("safetensors", "bad-shape-mismatch",
    st({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 16]}}, f32))
put("safetensors", "bad-dtype", st({"w": {"dtype": "U8", "shape": [16], "data_offsets": [0, 16]}}, f32))
put("safetensors", "bad-overflow-shape",
    st({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 16]}}, f32))
put("safetensors", "bad-neg-shape", st({"w": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}}, f32))
put("safetensors", "bad-empty", b"")
put("safetensors", "prefix", fix("ptv2", "bert_seqcls_p8_noproj", "prefix.safetensors"))
put("safetensors", "inputs", fix("ptv2", "bert_qa_p4_proj", "inputs.safetensors"))

# ---- json (config.json) ------------------------------------------------------
put("json", "config-bert", fix("ptv2", "bert_qa_p4_proj", "config.json"))
put("json", "config-roberta", fix("ptv2", "roberta_qa_p8_noproj", "config.json"))
put("json", "types", '{"hidden_size": 768.0, "layer_norm_eps": 1e-12, "do_lower_case": true,'
    ' "model_type": "bert", "pad_token_id": null, "id2label": {"0": "O"}, "x": [1, [2, {"y": -0}]]}')
put("json", "bad-dup", '{"a": 1, "a": 2}')
put("json", "bad-trunc", '{"hidden_size": 7')
put("json", "bad-types", '{"hidden_size": "768", "layer_norm_eps": true, "vocab_size": 1e400,'
    ' "num_hidden_layers": 9223372036854775808, "pre_seq_len": 1.5}')
put("json", "bad-utf8", b'{"model_type": "\xff\xfe"}')
put("json", "bad-nul", b'{"a\\u0000b": 1}\x00')
put("json", "array", "[1, 2, 3]")

# ---- conll (first byte: 0 .conll, 1 .json, 2 .jsonl, 3 .txt; bit 2 labels optional;
#      bits 3-4 the tag column from the end (0: read_ner), bit 5 tags as written,
#      bits 6-7 strict mode and its scheme when the gold column is read)
put("conll", "conll2003", b"\x00" + fix("data", "conll2003", "eng.train.excerpt"))
put("conll", "conll04-json", b"\x01" + fix("data", "conll2004", "conll04_train.excerpt.json"))
put("conll", "spert-jsonl", b"\x02" + b'{"tokens": ["John", "lives", "in", "New", "York"], '
    b'"entities": [{"start": 0, "end": 1, "type": "Peop"}, {"start": 3, "end": 5, "type": "Loc"}]}\n'
    b'{"tokens": ["a"], "tags": ["U-X"]}\n')
put("conll", "bioes", b"\x03" + b"EU S-ORG\nrejects O\nGerman B-MISC\ncall E-MISC\n\nPeter B-PER\nI-PER I-PER\n")
put("conll", "no-tags", b"\x04" + b"-DOCSTART- -X- O O\n\nEU\nrejects\n\n")
put("conll", "bad-tag", b"\x00" + b"EU X-ORG\n")
put("conll", "bad-json", b"\x01" + b'[{"tokens": ["a", "b"], "tags": ["O"]}]')
put("conll", "bad-entity", b"\x02" + b'{"tokens": ["a"], "entities": [{"start": 0, "end": 5, "type": "T"}]}\n')
PRED = (b"-DOCSTART- -X- -X- O O\n\nEU NNP I-NP I-ORG B-ORG\nrejects VBZ I-VP O O\n"
        b"German JJ I-NP I-MISC I-MISC\ncall NN I-NP O O\n\nPeter NNP I-NP I-PER S-PER\n")
put("conll", "predictions-gold", b"\x10" + PRED)
put("conll", "predictions-strict", b"\x50" + PRED)
put("conll", "predictions-last", b"\x28" + PRED)

# ---- srl (first byte: bit 0 labels optional)
put("srl", "train", b"\x00" + fix("data", "conll2005-srl", "train.excerpt.jsonl", lines=3))
put("srl", "line13", b"\x00" + fix("data", "conll2005-srl", "train.line13.jsonl"))
put("srl", "dev81", b"\x00" + fix("data", "conll2005-srl", "dev.line81.jsonl"))
put("srl", "pairs", b"\x00" + b'{"tokens": ["He", "pulled", "it", "off"], "verb_indicator": [[0, 1, 0, 1], '
    b'["He", "pulled", "it", "off"]], "tags": [["B-A0", "B-V", "B-A1", "B-C-V"], ["He", "pulled", "it", "off"]]}\n')
put("srl", "no-tags", b"\x01" + b'{"tokens": ["a", "b"], "verb_indicator": [0, 1]}\n')
put("srl", "bad-len", b"\x00" + b'{"tokens": ["a", "b"], "verb_indicator": [0, 1, 1], "tags": ["O"]}\n')

# ---- glue (first byte: format index (mod 10) in the order of fuzz_glue.c's
# formats[]; bit 7 labels optional)
G = {"jsonl": 0, "boolq": 1, "cb": 2, "rte": 3, "wic": 4, "wsc": 5, "copa": 6, "sst2": 7,
     "glue-rte": 8, "cola": 9}
put("glue", "generic", bytes([G["jsonl"]]) + b'{"sentence1": "a b", "sentence2": "c", "label": 1}\n'
    b'{"sentence1": "x", "sentence2": "y", "label": "pos", "idx": 4}\n')
put("glue", "boolq", bytes([G["boolq"]]) + fix("data", "superglue", "BoolQ.val.excerpt.jsonl", lines=1))
for name, fn in [("cb", "CB"), ("rte", "RTE"), ("wic", "WiC"), ("wsc", "WSC"), ("copa", "COPA")]:
    put("glue", name, bytes([G[name]]) + fix("data", "superglue", fn + ".val.excerpt.jsonl", lines=3))
put("glue", "sst2", bytes([G["sst2"]]) + fix("data", "glue", "SST-2.dev.excerpt.tsv"))
put("glue", "glue-rte", bytes([G["glue-rte"]]) + fix("data", "glue", "RTE.dev.excerpt.tsv", lines=3))
put("glue", "cola", bytes([G["cola"]]) + fix("data", "glue", "CoLA.dev.excerpt.tsv"))
put("glue", "unlabelled", bytes([G["cb"] | 0x80]) + b'{"premise": "p", "hypothesis": "h", "idx": 0}\n')
put("glue", "bad-label", bytes([G["boolq"]]) + b'{"question": "q", "passage": "p", "label": "maybe"}\n')
put("glue", "bad-tsv-cols", bytes([G["glue-rte"]]) + b"index\tsentence1\n0\ta\tb\tc\n")
put("glue", "bad-copa", bytes([G["copa"]]) + b'{"premise": "p", "choice1": "a", "choice2": "b", "question": "why", "label": 2}\n')

# ---- tokenizer loading (mode byte: bits 0-1 kind 0 vocab.txt / 1 vocab.json +
# merges.txt / 2 tokenizer.json; sections split by "\n@@@@\n")
S = b"\n@@@@\n"
wp_vocab = b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n,\n!\nun\n##aff\n##able\ncafe\n"
put("tok_load", "wordpiece", b"\x00" + wp_vocab)
put("tok_load", "wordpiece-cfg", b"\x08" + wp_vocab + S + b'{"do_lower_case": false, "unk_token": "[UNK]"}'
    + S + b"Hello, world! unaffable caf\xc3\xa9 [MASK]")
bpe_vocab = json.dumps({"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 4, "H": 5, "e": 6,
                        "l": 7, "o": 8, "He": 9, "ll": 10, "Hell": 11, "Hello": 12, "\u0120": 13,
                        "w": 14, "\u0120w": 15}).encode()
bpe_merges = b"#version: 0.2\nH e\nl l\nHe ll\nHell o\n\xc4\xa0 w\n"
put("tok_load", "bpe", b"\x01" + bpe_vocab + S + bpe_merges)
put("tok_load", "bpe-cfg", b"\x11" + bpe_vocab + S + bpe_merges + S
    + b'{"add_prefix_space": true, "mask_token": {"content": "<mask>"}}' + S + b"Hello w <mask>")
tj_wp = json.dumps({"model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                              "max_input_chars_per_word": 100,
                              "vocab": {t: i for i, t in enumerate(wp_vocab.decode().split())}},
                    "normalizer": {"type": "BertNormalizer", "lowercase": True, "strip_accents": None},
                    "added_tokens": [{"id": 0, "content": "[PAD]", "special": True}]}).encode()
put("tok_load", "tokenizer-json-wp", b"\x02" + tj_wp)
tj_bpe = json.dumps({"model": {"type": "BPE", "vocab": json.loads(bpe_vocab),
                               "merges": ["H e", ["l", "l"], "He ll", "Hell o"]},
                     "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False}}).encode()
put("tok_load", "tokenizer-json-bpe", b"\x02" + tj_bpe)
put("tok_load", "bad-no-unk", b"\x00" + b"[CLS]\n[SEP]\nhello\n")
put("tok_load", "bad-vocab-json", b"\x05" + b'{"<s>": "zero"}' + S + b"a b\n")
put("tok_load", "bad-merges", b"\x01" + bpe_vocab + S + b"onlyone\n")
put("tok_load", "bad-utf8", b"\x00" + b"[UNK]\n[CLS]\n[SEP]\n\xff\xfe\n")
put("tok_load", "bad-tj-model", b"\x02" + b'{"model": {"type": "Unigram", "vocab": []}}')

# ---- tokenizer encoding (byte 0: bits 6-7 tokenizer 0 cased / 1 uncased /
# 2 roberta, bit 0 no special tokens, bit 1 max_length, bits 2-3 truncation,
# bits 4-5 length; byte 1: padding and prefix-space bits)
texts = [b"Hello, world! unaffable caf\xc3\xa9",
         "Ünïcödé 中文字 emoji 🤗 \u200b\u00a0 tabs\tand\nnewlines".encode(),
         b"[CLS] a [MASK] b [SEP] <mask> </s> <s>",
         b"\xff\xfe invalid \xc3 utf8 \xed\xa0\x80 surrogate \xf4\x90\x80\x80 \x00 nul",
         b"a" * 300 + b" " + b"verylongword" * 20,
         b"Who wrote it? The 1st answer... isn't (really) \"quoted\" -- 3.14 $5 100%"]
for i, t in enumerate(texts):
    for tk in range(3):
        put("tok_encode", "t%d-k%d" % (i, tk), bytes([tk << 6 | (i & 3) << 2 | (i & 1) << 1 | 0x30, i & 3]) + t)

# ---- squad (mode byte: bit 0 labels optional, bit 1 na_probs, bit 2 roberta,
# bits 3-5 window length, bits 6-7 stride; sections: SQuAD JSON, predictions,
# na_prob scores, split by "\n@@@@\n")
def squad(version, paras, title="T"):
    return json.dumps({"version": version, "data": [{"title": title, "paragraphs": paras}]}).encode()


ctx = "Normans came from Normandy in France. They were descended from Norse raiders."
v1 = squad("1.1", [{"context": ctx, "qas": [
    {"id": "q1", "question": "Where is Normandy?", "answers": [{"text": "France", "answer_start": 30}]},
    {"id": "q2", "question": "Who were the Normans descended from?",
     "answers": [{"text": "Norse raiders", "answer_start": 63}, {"text": "Norse", "answer_start": 63}]}]}])
put("squad", "v1", b"\x00" + v1 + S + b'{"q1": "France", "q2": "Vikings"}' + S + b'{"q1": 0.1, "q2": 0.9}')
v2 = squad("v2.0", [{"context": "Caf\u00e9 \u4e2d\u6587 \U0001f917 na\u00efve text about nothing in particular.", "qas": [
    {"id": "a", "question": "What?", "answers": [{"text": "\u4e2d\u6587", "answer_start": 5}], "is_impossible": False},
    {"id": "b", "question": "Why not?", "answers": [], "plausible_answers": [{"text": "text", "answer_start": 16}],
     "is_impossible": True}]}])
put("squad", "v2-unicode", b"\x86" + v2 + S + b'{"a": "", "b": ""}' + S + b'{"a": 0.5, "b": 1}')
put("squad", "dev-v1.1", b"\x0c" + squad(
    "1.1", json.loads(fix("data", "squad", "dev-v1.1.excerpt.json"))["data"][0]["paragraphs"][:1]))
put("squad", "dev-v2.0", b"\x18" + squad(
    "v2.0", json.loads(fix("data", "squad", "dev-v2.0.excerpt.json"))["data"][0]["paragraphs"][:1]))
put("squad", "bad-outside", b"\x00" + squad("1.1", [{"context": "short", "qas": [
    {"id": "x", "question": "q", "answers": [{"text": "short", "answer_start": 3}]}]}]))
put("squad", "bad-dup-id", b"\x00" + squad("1.1", [{"context": "ab", "qas": [
    {"id": "x", "question": "q", "answers": [{"text": "a", "answer_start": 0}]},
    {"id": "x", "question": "q", "answers": [{"text": "b", "answer_start": 1}]}]}]))
put("squad", "bad-types", b"\x00" + b'{"data": [{"paragraphs": [{"context": 5, "qas": {}}]}]}')

# ---- config (byte 0 bit 0: 0 config.json, 1 adapter_config.json)
put("config", "bert", b"\x00" + fix("ptv2", "bert_qa_p4_proj", "config.json"))
put("config", "roberta", b"\x00" + fix("ptv2", "roberta_qa_p8_noproj", "config.json"))
put("config", "bad-heads", b"\x00" + b'{"model_type": "bert", "hidden_size": 10, "num_attention_heads": 3}')
adapter = {"method": "ptv2", "task": "token_classification", "pre_seq_len": 8, "prefix_projection": True,
           "prefix_hidden_size": 16, "model_type": "bert", "hidden_size": 32, "num_hidden_layers": 2,
           "num_attention_heads": 4, "id2label": {"0": "O", "1": "B-PER", "2": "I-PER"}}
put("config", "adapter", b"\x01" + json.dumps(adapter, indent=2).encode())
put("config", "adapter-baked-qa", b"\x01" + json.dumps(dict(adapter, task="question_answering", baked=True,
                                                            model_type="roberta", id2label=None)).encode())
put("config", "adapter-bad-labels", b"\x01" + json.dumps(dict(adapter, id2label={"0": "O", "5": "X"})).encode())
put("config", "adapter-bad-method", b"\x01" + json.dumps(dict(adapter, method="lora", pre_seq_len=-1)).encode())

# ---- serve (byte 0: bit 0 the adapter-load body, bits 1-2 the task: 0 ner,
# 1 cls, 2 qa, 3 mc; then the request body)
def body(task, obj):
    kind = {"ner": 0, "cls": 1, "qa": 2, "mc": 3}[task]
    return bytes([kind << 1]) + json.dumps(obj, ensure_ascii=False).encode()


put("serve", "ner", body("ner", {"adapter": "a", "inputs": [
    "John Smith lives in New York.", "Caf\u00e9 \u4e2d\u6587 U.S.-based, (x)", {"tokens": ["EU", "rejects"]}]}))
put("serve", "cls", body("cls", {"adapter": "a", "inputs": [
    "a text", ["a", "pair"], {"text": "t", "text_pair": None}], "timeout_ms": 50}))
put("serve", "qa", body("qa", {"adapter": "a", "inputs": [
    {"question": "Where?", "context": "In Paris, since 2001.", "id": "q"}]}))
put("serve", "mc", body("mc", {"adapter": "a", "inputs": [
    {"premise": "p", "question": "cause", "choices": ["a", "b"]}, {"premise": "p", "choices": ["a", "b", "c"]}]}))
put("serve", "load", b"\x01" + json.dumps({"path": "/tmp/adapter"}).encode())
put("serve", "bad-json", b"\x00" + b'{"adapter": "a", "inputs": [')
put("serve", "bad-key", body("cls", {"adapter": "a", "inputs": ["x"], "extra": 1}))
put("serve", "bad-qa", body("qa", {"adapter": "a", "inputs": ["not an object", {"question": 1}]}))
put("serve", "bad-mc", body("mc", {"adapter": "a", "inputs": [{"premise": "p", "choices": ["one"]}]}))
put("serve", "bad-timeout", body("ner", {"adapter": "a", "inputs": ["x"], "timeout_ms": -1}))
put("serve", "bad-load", b"\x01" + b'{"path": ""}')
