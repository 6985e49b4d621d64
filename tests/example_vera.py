#!/usr/bin/env python3
"""examples/vera.c as a user runs it: the program (a whole `ptune` with VeRA
registered from outside the library) trains VeRA on a CoNLL04 slice with the
bundled model, and its adapters are evaluated and used for predictions.

    example_vera.py VERA_EXE REPO_ROOT

Checks, on real outcomes:
  - `methods` lists vera with its options;
  - `train --method vera` runs, every logged loss is finite and the result
    names the method; the adapter (ptune's and peft's layout) holds exactly
    the shared random A and B, d and b for every query and value linear, and
    the classifier, under ptune's and peft's names;
  - A and B keep peft's kaiming bounds, d and b left their start (0.1, 0);
  - the frozen parts did not change: training on from that adapter
    (--init-adapter) moves d and b but leaves A and B bit-identical;
  - `eval --adapter` (either layout) gives the dev F1 the training reported;
    `predict --adapter` tags every dev token with one of the labels.
Standard library only (the safetensors files are read by hand)."""
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile

R, LAYERS, HIDDEN = 16, 4, 224  # --vera-r; the bundled model's shape


def run(*args):
    p = subprocess.run(list(args), capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"FAIL: {' '.join(args[:3])} exited {p.returncode}: {p.stderr.strip()}")
    return p.stdout


def tensors(path):
    """{name: (shape, [floats])} of an F32 safetensors file."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", (name, t["dtype"])
        a, b = t["data_offsets"]
        out[name] = (t["shape"], struct.unpack(f"<{(b - a) // 4}f", data[a:b]))
    return out


def expect(cond, what):
    if not cond:
        sys.exit(f"FAIL: {what}")


def main():
    exe, root = sys.argv[1], sys.argv[2]
    model = os.path.join(root, "assets/tiny-bert-uncased")
    tmp = tempfile.mkdtemp(prefix="ptune_vera_")
    try:
        with open(os.path.join(root, "assets/data/conll04/train.json")) as f:
            train = json.load(f)[:48]
        with open(os.path.join(root, "assets/data/conll04/dev.json")) as f:
            dev = json.load(f)[:32]
        for name, rows in (("train.json", train), ("dev.json", dev)):
            with open(os.path.join(tmp, name), "w") as f:
                json.dump(rows, f)
        tr, dv = os.path.join(tmp, "train.json"), os.path.join(tmp, "dev.json")

        listing = run(exe, "methods")
        expect("\nvera: VeRA" in "\n" + listing, "`methods` does not list vera")
        for flag in ("--vera-r", "--vera-d-initial", "--vera-prng-key"):
            expect(flag in listing.split("\nvera:")[1], f"`methods` lists no {flag} for vera")

        common = ["--task", "ner", "--method", "vera", "--vera-r", str(R), "--model", model,
                  "--train", tr, "--batch-size", "8", "--lr", "3e-2", "--threads", "1",
                  "--log-every", "1", "--quiet"]
        run1 = os.path.join(tmp, "run1")
        result = json.loads(run(exe, "train", *common, "--dev", dv, "--out", run1, "--max-steps",
                                "4", "--save-format", "both").strip().splitlines()[-1])
        expect(result["method"] == "vera" and result["steps"] == 4, f"train result {result}")
        with open(os.path.join(run1, "metrics.jsonl")) as f:
            losses = [r["loss"] for r in map(json.loads, f) if "loss" in r]
        expect(len(losses) == 4 and all(math.isfinite(x) for x in losses), f"losses {losses}")
        f1 = result["best_dev"]
        expect(f1 is not None and 0 <= f1 <= 1, f"best dev F1 {f1}")

        ad = tensors(os.path.join(run1, "last/adapter_model.safetensors"))
        want = {"vera_A", "vera_B", "classifier.weight", "classifier.bias"}
        for layer in range(LAYERS):
            for mod in ("query", "value"):
                for v in ("b", "d"):
                    want.add(f"bert.encoder.layer.{layer}.attention.self.{mod}.vera_lambda_{v}")
        expect(set(ad) == want, f"adapter tensors: extra {sorted(set(ad) - want)}, "
               f"missing {sorted(want - set(ad))}")
        expect(ad["vera_A"][0] == [R, HIDDEN] and ad["vera_B"][0] == [HIDDEN, R], "A, B shapes")
        expect(0 < max(map(abs, ad["vera_A"][1])) <= math.sqrt(6 / HIDDEN), "A's bound")
        expect(0 < max(map(abs, ad["vera_B"][1])) <= math.sqrt(6 / R), "B's bound")
        d0 = ad["bert.encoder.layer.0.attention.self.query.vera_lambda_d"][1]
        b0 = ad["bert.encoder.layer.0.attention.self.query.vera_lambda_b"][1]
        expect(max(abs(x - 0.1) for x in d0) > 1e-4 and max(map(abs, b0)) > 1e-4,
               "d and b did not train")
        peft = tensors(os.path.join(run1, "last/peft/adapter_model.safetensors"))
        expect({"base_model.vera_A", "base_model.vera_B",
                "base_model.model.bert.encoder.layer.3.attention.self.value.vera_lambda_b",
                "base_model.model.classifier.weight"} <= set(peft) and len(peft) == len(ad),
               f"peft names {sorted(peft)}")
        expect(peft["base_model.vera_A"] == ad["vera_A"], "peft's vera_A differs")

        # training on: the vectors move, the random pair does not
        run2 = os.path.join(tmp, "run2")
        run(exe, "train", *common, "--out", run2, "--max-steps", "2", "--seed", "7",
            "--init-adapter", os.path.join(run1, "last"))
        ad2 = tensors(os.path.join(run2, "last/adapter_model.safetensors"))
        expect(ad2["vera_A"] == ad["vera_A"] and ad2["vera_B"] == ad["vera_B"],
               "the frozen A or B changed in training")
        expect(ad2["bert.encoder.layer.0.attention.self.query.vera_lambda_d"] !=
               ad["bert.encoder.layer.0.attention.self.query.vera_lambda_d"], "d did not move")

        # eval and predict read the method from the adapter alone
        scores = []
        for layout in ("best", "best/peft"):
            ev = json.loads(run(exe, "eval", "--task", "ner", "--model", model, "--adapter",
                                os.path.join(run1, layout), "--data", dv, "--threads", "1"))
            scores.append(ev["f1"])
            expect(abs(ev["f1"] - f1) < 1e-8, f"eval of {layout}: F1 {ev['f1']}, training said {f1}")
        pred = os.path.join(tmp, "pred.txt")
        run(exe, "predict", "--task", "ner", "--model", model, "--adapter",
            os.path.join(run1, "last"), "--data", dv, "--output", pred, "--threads", "1")
        with open(os.path.join(run1, "last/adapter_config.json")) as f:
            labels = set(json.load(f)["id2label"].values())
        with open(pred) as f:
            rows = [line.split() for line in f if line.strip()]
        expect(len(rows) == sum(len(s["tokens"]) for s in dev), "predict: not one line per token")
        expect(all(r[-1] in labels for r in rows), "predict: a tag outside the labels")
        print(f"vera example: r {R}, 4 steps on 48 CoNLL04 sentences: loss {losses[0]:.4f} -> "
              f"{losses[-1]:.4f}, dev F1 (32 sentences) {f1:.4f}; eval of both layouts {scores}; "
              f"{len(rows)} tokens predicted")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
