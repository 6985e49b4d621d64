#!/usr/bin/env python3
"""Writes tests/fixtures/conlleval_cases.json: random NER predictions files
in conlleval's format (-DOCSTART- lines, blank lines between sentences,
"word POS gold pred" columns; IOB1 or IOB2 gold, predictions drawn from the
whole B-/I-/O alphabet so ill-formed ones occur) with the counts conlleval
prints for each: phrases (gold chunks), found (predicted chunks) and
correct, overall and per type. tests/test_conll.c scores every file with
`ptune score --task ner` (gold from the file) and compares. Run from the
repository root with /usr/bin/python3.

The counting below follows conlleval's documented chunk rules (a chunk
starts at B-, at I- after O, at E- after E- or O, at a type change; it
ends before B- or O after B-/I-, and at a type change; a prediction is
correct when its chunk starts and ends with the gold one, of the same
type); it is written from that description, not copied from the script."""
import collections
import json
import random
import re

OUT = "tests/fixtures/conlleval_cases.json"
TYPES = ["PER", "ORG", "LOC", "MISC"]


def split(tag):
    m = re.match(r"^([^-]*)-(.*)$", tag)
    return (m.group(1), m.group(2)) if m else (tag, "")


def ends(prev, cur, ptype, ctype):
    return ((prev, cur) in {("B", "B"), ("B", "O"), ("I", "B"), ("I", "O"), ("E", "E"), ("E", "I"),
                            ("E", "O")}
            or (prev not in ("O", ".") and ptype != ctype))


def starts(prev, cur, ptype, ctype):
    return ((prev, cur) in {("B", "B"), ("I", "B"), ("O", "B"), ("O", "I"), ("E", "E"), ("E", "I"),
                            ("O", "E")}
            or (cur not in ("O", ".") and ptype != ctype))


def conlleval_counts(text):
    phrases, found, correct = collections.Counter(), collections.Counter(), collections.Counter()
    inside = False
    lc, lg, lct, lgt = "O", "O", "", ""
    for line in text.split("\n") + [""]:
        f = line.split()
        if not f:
            f = ["-X-", "O", "O"]
        g, gt = split(f[-1])
        c, ct = split(f[-2])
        if inside:
            if ends(lc, c, lct, ct) and ends(lg, g, lgt, gt) and lgt == lct:
                inside = False
                correct[lct] += 1
            elif ends(lc, c, lct, ct) != ends(lg, g, lgt, gt) or gt != ct:
                inside = False
        if starts(lc, c, lct, ct) and starts(lg, g, lgt, gt) and gt == ct:
            inside = True
        if starts(lc, c, lct, ct):
            phrases[ct] += 1
        if starts(lg, g, lgt, gt):
            found[gt] += 1
        lc, lg, lct, lgt = c, g, ct, gt
    if inside:
        correct[lct] += 1
    return phrases, found, correct


def gold_sentence(rng, n, iob1):
    """Well-formed gold: entities of random types and lengths."""
    tags, prev = [], None
    while len(tags) < n:
        if rng.random() < 0.5:
            tags.append("O")
            prev = None
            continue
        t = rng.choice(TYPES)
        k = min(n - len(tags), rng.randint(1, 3))
        first = "B" if not iob1 or prev == t else "I"  # IOB1: B only between two of a type
        tags += [first + "-" + t] + ["I-" + t] * (k - 1)
        prev = t
    return tags


def main():
    rng = random.Random(1999)
    alphabet = ["O"] * 4 + [p + "-" + t for p in "BI" for t in TYPES]
    cases = []
    for case in range(60):
        iob1 = case % 2 == 0
        lines = []
        for doc in range(rng.randint(1, 3)):
            lines += ["-DOCSTART- -X- -X- O O", ""]
            for _ in range(rng.randint(1, 4)):
                gold = gold_sentence(rng, rng.randint(1, 12), iob1)
                for j, g in enumerate(gold):
                    p = g if rng.random() < 0.6 else rng.choice(alphabet)
                    lines.append("w%d NN %s %s" % (j, g, p))
                lines.append("")
        text = "\n".join(lines)
        phrases, found, correct = conlleval_counts(text)
        types = sorted(set(phrases) | set(found))
        cases.append({"file": text, "iob1": iob1,
                      "phrases": sum(phrases.values()), "found": sum(found.values()),
                      "correct": sum(correct.values()),
                      "per_type": {t: [phrases[t], found[t], correct[t]] for t in types}})
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump({"cases": cases}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
