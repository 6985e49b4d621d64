#!/usr/bin/env python3
"""Cuts the SQuAD test excerpts in tests/fixtures/data/squad/ from the shared
data (run from the repository root; see tests/fixtures/data/squad/PROVENANCE.md).
Articles and paragraphs are kept whole and unchanged; only the lists are cut."""
import json

SHARED = "/work/shared/data"
OUT = "tests/fixtures/data/squad"


def cut(src, dst, picks):
    with open(src, encoding="utf-8") as f:
        d = json.load(f)
    data = []
    for ai, paras in picks:
        art = d["data"][ai]
        data.append({"title": art["title"], "paragraphs": [art["paragraphs"][p] for p in paras]})
    with open(dst, "w", encoding="utf-8") as f:
        json.dump({"version": d["version"], "data": data}, f, ensure_ascii=False, indent=1)
        f.write("\n")


cut(f"{SHARED}/squad-v1.1/dev-v1.1.json", f"{OUT}/dev-v1.1.excerpt.json", [(0, [0]), (1, [0, 1])])
cut(f"{SHARED}/squad-v2.0-dev-partial/dev-v2.0.json", f"{OUT}/dev-v2.0.excerpt.json", [(0, [0, 1])])
