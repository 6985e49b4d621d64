#!/usr/bin/env python3
"""Writes tests/fixtures/squad_v2_scores.json: SQuAD 2.0 prediction and
no-answer files for the committed dev-v2.0 excerpt, with the metrics
evaluate-v2.0.py prints for each, for tests/test_squad.c to compare
`ptune score` with. Run from the repository root with /usr/bin/python3.

The scorer below is written from evaluate-v2.0.py's documented behaviour
(normalize_answer, exact match, token F1 with empty answers, the no-answer
threshold, make_eval_dict's HasAns/NoAns splits, find_best_thresh over the
question ids sorted stably by their no-answer score, so ties keep the
file's order); it is a reimplementation, not a copy. The cases draw the
no-answer scores from a few values so most of them tie, and list the ids in
a shuffled order, the case the stable sort decides."""
import collections
import json
import random
import re
import string

DATA = "tests/fixtures/data/squad/dev-v2.0.excerpt.json"
OUT = "tests/fixtures/squad_v2_scores.json"


def normalize(s):
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s, flags=re.UNICODE)
    return " ".join(s.split())


def f1(gold, pred):
    g, p = normalize(gold).split(), normalize(pred).split()
    if not g or not p:
        return float(g == p)
    same = sum((collections.Counter(g) & collections.Counter(p)).values())
    if same == 0:
        return 0.0
    prec, rec = same / len(p), same / len(g)
    return 2 * prec * rec / (prec + rec)


def score(questions, preds, na, thresh):
    has = {q["id"]: bool(q["answers"]) for q in questions}
    exact, f1s = {}, {}
    for q in questions:
        golds = [a["text"] for a in q["answers"] if normalize(a["text"])] or [""]
        p = preds[q["id"]]
        exact[q["id"]] = max(float(normalize(g) == normalize(p)) for g in golds)
        f1s[q["id"]] = max(f1(g, p) for g in golds)

    def thresholded(raw):
        return {k: (float(not has[k]) if na[k] > thresh else v) for k, v in raw.items()}

    def summary(e, f, ids):
        return 100.0 * sum(e[k] for k in ids) / len(ids), 100.0 * sum(f[k] for k in ids) / len(ids)

    e_t, f_t = thresholded(exact), thresholded(f1s)
    out = {}
    out["exact"], out["f1"] = summary(e_t, f_t, list(e_t))
    out["total"] = len(e_t)
    for name, ids in (("HasAns", [k for k in has if has[k]]), ("NoAns", [k for k in has if not has[k]])):
        if ids:
            out[name + "_exact"], out[name + "_f1"] = summary(e_t, f_t, ids)
            out[name + "_total"] = len(ids)

    def best(raw):
        cur = sum(1 for k in has if not has[k])
        best_score, best_t = cur, 0.0
        for k in sorted(na, key=lambda k: na[k]):  # stable: ties in the file's order
            cur += raw[k] if has[k] else (-1 if preds[k] else 0)
            if cur > best_score:
                best_score, best_t = cur, na[k]
        return 100.0 * best_score / len(raw), best_t

    out["best_exact"], out["best_exact_thresh"] = best(exact)
    out["best_f1"], out["best_f1_thresh"] = best(f1s)
    return out


def main():
    with open(DATA, encoding="utf-8") as f:
        questions = [q for a in json.load(f)["data"] for p in a["paragraphs"] for q in p["qas"]]
    rng = random.Random(20261206)
    cases = []
    for _ in range(40):
        preds = {}
        for q in questions:
            if q["answers"]:
                text = q["answers"][0]["text"]
                pool = [text, text, "the " + text + " indeed", text.split()[0], ""]
            else:
                plaus = q.get("plausible_answers") or [{"text": "something"}]
                pool = ["", "", plaus[0]["text"], "something else"]
            preds[q["id"]] = rng.choice(pool)
        ids = [q["id"] for q in questions]
        rng.shuffle(ids)
        na = {k: rng.choice([-2.5, -1.0, 0.0, 0.0, 0.5, 0.5, 1.0, 3.0]) for k in ids}  # ordered
        thresh = rng.choice([1.0, 1.0, 0.5, -1.0])
        cases.append({"predictions": preds, "na_probs": [[k, na[k]] for k in ids],
                      "na_prob_thresh": thresh, "expected": score(questions, preds, na, thresh)})
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump({"data": DATA.split("fixtures/")[1], "cases": cases}, f, ensure_ascii=False,
                  indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
