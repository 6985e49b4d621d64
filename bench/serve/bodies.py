#!/usr/bin/python3
"""Request bodies of the serving benchmark, one JSON line each, from the
project's data: CoNLL04 dev sentences (ner), SST-2 dev sentences (cls), SQuAD
1.1 dev excerpt questions with contexts cut to their answer's sentence (qa,
so that one window holds them on a 128-position model). Every body has
INPUTS inputs, so rows/s = INPUTS x requests/s.

    bodies.py MODEL_DIR ADAPTERS.json OUT_MIXED OUT_SINGLE SINGLE_NAME [INPUTS]

ADAPTERS.json: {"name": "ner"|"cls"|"qa", ...}. OUT_MIXED cycles over every
adapter; OUT_SINGLE holds the same bodies for SINGLE_NAME alone, a
classification adapter: the same texts (a question and its context as a
text pair, encoded as question answering encodes them), so that the two
traffics differ in their adapters only, not in their lengths.
Prints {"mixed": T, "single": T}: the mean tokens per body (specials
included, as the baseline's tokenizer counts them)."""
import json
import os
import random
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def texts():
    ner = [" ".join(s["tokens"]) for s in json.load(open(os.path.join(ROOT, "assets/data/conll04/dev.json")))]
    cls = [l.split("\t")[0].strip() for l in open(os.path.join(ROOT, "assets/data/sst2/dev.tsv"))][1:]
    squad = json.load(open(os.path.join(ROOT, "tests/fixtures/data/squad/dev-v1.1.excerpt.json")))
    qa = []
    for art in squad["data"]:
        for p in art["paragraphs"]:
            ctx = p["context"]
            for q in p["qas"]:
                a = q["answers"][0]
                s = ctx.rfind(". ", 0, a["answer_start"]) + 2 if ctx.rfind(". ", 0, a["answer_start"]) >= 0 else 0
                e = ctx.find(". ", a["answer_start"])
                qa.append({"question": q["question"], "context": ctx[s:e + 1 if e >= 0 else len(ctx)]})
    return {"ner": [t for t in ner if len(t.split()) <= 40], "cls": cls,
            "qa": [x for x in qa if len(x["context"].split()) <= 60]}


def main():
    model, adapters = sys.argv[1], json.load(open(sys.argv[2]))
    out_mixed, out_single, single_name = sys.argv[3:6]
    k = int(sys.argv[6]) if len(sys.argv) > 6 else 4
    pool = texts()
    rnd = random.Random(7)

    def body(name):
        return json.dumps({"adapter": name, "inputs": rnd.sample(pool[adapters[name]], k)})

    names = sorted(adapters)
    mixed = [body(names[i % len(names)]) for i in range(64 * len(names))]
    rnd.shuffle(mixed)
    def as_cls(line):
        b = json.loads(line)
        return json.dumps({"adapter": single_name, "inputs": [
            x if isinstance(x, str) else [x["question"], x["context"]] for x in b["inputs"]]})
    single = [as_cls(line) for line in mixed]
    for path, lines in ((out_mixed, mixed), (out_single, single)):
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from torch_server import WordPiece
    tok = WordPiece(model)

    def tokens(line):
        b = json.loads(line)
        n = 0
        for x in b["inputs"]:
            a, p = (x, None) if isinstance(x, str) else (x[0], x[1]) if isinstance(x, list) \
                else (x["question"], x["context"])
            n += len(tok.encode(a, p, 512)[0])
        return n
    print(json.dumps({"mixed": sum(map(tokens, mixed)) / len(mixed),
                      "single": sum(map(tokens, single)) / len(single)}))


main()
