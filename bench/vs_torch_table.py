#!/usr/bin/python3
"""The markdown table of one bench/vs_torch.sh run, from its JSONL rows.

    vs_torch_table.py ROWS.jsonl [DATE] [COMMIT]

One line per row: ptune's median (min-max) beside PyTorch's f32 best and,
for bf16 rows, PyTorch under bf16 autocast, each with its speed-up (PyTorch's
median / ptune's), the peak RSS of both and their ratio, ptune's share of
the GEMM peak it measured after its steps (f32, or bf16 for a bf16
backbone), and ptune's medians with the other libgomp settings the row
names (the spinning before, passive waiting). Rows of --mlm runs are
skipped (their script prints them)."""
import json
import sys


def ms(r):
    k = "ms_per_batch_median" if "ms_per_batch_median" in r else "ms_per_step_median"
    return r[k]


def cell(r):
    return f"{ms(r):.0f} ({r['ms_min']:.0f}–{r['ms_max']:.0f})"


def main():
    path = sys.argv[1]
    date = sys.argv[2] if len(sys.argv) > 2 else ""
    commit = sys.argv[3] if len(sys.argv) > 3 else ""
    rows = [json.loads(l) for l in open(path) if l.strip()]
    rows = [r for r in rows if "group" in r]
    print(f"### {date}, ptune {commit}: `bench/vs_torch.sh`\n")
    print("Medians of 10 steps after 3 warm-ups, ms; speed-up = PyTorch / ptune. "
          f"Raw rows: `{path}`.\n")
    print("| rows | mode | shape | ptune | PyTorch f32 (best env) | speed-up | "
          "PyTorch bf16 autocast | speed-up | ptune peak RSS | PyTorch f32 peak RSS | RSS ratio | "
          "share of GEMM peak | ptune, other waits |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        p, t, tb = r["ptune"], r["torch"], r.get("torch_bf16")
        shape = f"{p['layers']}×{p['hidden']}, {r['batch']}×{r['seq']}, prefix {r['prefix']}"
        bf = f"{cell(tb)} | {ms(tb) / ms(p):.2f}×" if tb else "– | –"
        waits = "; ".join(f"{k}: {ms(v):.0f}" for k, v in r.get("ptune_waits", {}).items()) or "–"
        print(f"| {r['group']} | {r['mode']} | {shape} | {cell(p)} | {cell(t)}, {t.get('env', '')} ({t.get('openblas_core', '?')}) | "
              f"{ms(t) / ms(p):.2f}× | {bf} | {p['peak_rss_mib']:.0f} MiB | "
              f"{t['peak_rss_mib']:.0f} MiB | {p['peak_rss_mib'] / t['peak_rss_mib']:.2f}× | "
              f"{p['share_of_peak']:.2f} | {waits} |")


if __name__ == "__main__":
    main()
