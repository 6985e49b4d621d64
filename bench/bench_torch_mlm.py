#!/usr/bin/python3
"""PyTorch's side of `ptune bench model --mode mlm`: one masked-LM pretraining step of the demo
model's shape, timed as bench_torch.py times its modes (median of 10 steps after 3 warm-ups).

    /usr/bin/python3 bench/bench_torch_mlm.py [--layers 4] [--hidden 256] [--batch 32] [--seq 128]

The model is the HF-named BERT encoder of tests/fixtures/ptv2/torch_ptv2.py plus Hugging Face's
BertForMaskedLM head (transform dense -> GELU -> LayerNorm -> decoder tied to the word
embeddings + bias) run on the masked rows only, as ptune pretrain and the PyTorch anchor
(shared/reference/tiny-bert-anchor.md) do. Dropout 0, AdamW (lr 1e-4, wd 0.01), clip 1.0;
the same masking pattern as ptune's bench (15% of positions, spread evenly). Prints one JSON
line with bench_torch.py's keys.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # PyTorch at its best here (see bench_torch.py)
import torch  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "ptv2"))
from torch_ptv2 import MaskedLM, make_config  # noqa: E402

WARMUP, STEPS, VOCAB, MASK_ID = 3, 10, 30522, 103


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--flush-denormal", action="store_true")  # as ptune's command does
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(a.flush_denormal)
    H, L, B, S = a.hidden, a.layers, a.batch, a.seq
    cfg = make_config("bert", vocab_size=VOCAB, hidden_size=H, num_hidden_layers=L, num_attention_heads=4,
                      intermediate_size=4 * H, max_position_embeddings=max(S, 128))
    cfg["hidden_dropout_prob"] = cfg["attention_probs_dropout_prob"] = 0.0
    torch.manual_seed(0)
    model = MaskedLM(cfg)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.endswith("LayerNorm.weight"):
                p.fill_(1.0)
            elif n.endswith("bias"):
                p.zero_()
            else:
                p.normal_(0.0, 0.02)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, VOCAB, (B, S), generator=g)
    masked = torch.tensor([(i * 150) // 1000 != ((i + 1) * 150) // 1000 for i in range(B * S)]).view(B, S)
    labels = torch.where(masked, ids, torch.full_like(ids, -100))
    ids = torch.where(masked, torch.full_like(ids, MASK_ID), ids)
    mask, types = torch.ones(B, S, dtype=torch.long), torch.zeros(B, S, dtype=torch.long)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    model.train()
    times = []
    for i in range(WARMUP + STEPS):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = model(ids, mask, types, labels)["loss"]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if i >= WARMUP:
            times.append(time.perf_counter() - t0)
    ms = statistics.median(times) * 1e3
    T, Tm, I = B * S, int(masked.sum()), 4 * H
    gflop = 3 * (L * 2 * T * (4 * H * H + 2 * H * I) + L * 4 * B * S * S * H + 2 * Tm * H * H + 2 * Tm * H * VOCAB) / 1e9
    print(json.dumps({"impl": "torch", "mode": "mlm", "ms_per_step_median": ms, "ms_min": min(times) * 1e3,
                      "ms_max": max(times) * 1e3, "tokens_per_s": T / (ms / 1e3), "gflop_per_step": gflop,
                      "gflops": gflop / (ms / 1e3), "trainable_params": sum(p.numel() for p in model.parameters()),
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                      "threads": torch.get_num_threads(), "batch": B, "seq": S, "layers": L, "hidden": H,
                      "torch": torch.__version__, "flush_denormal": a.flush_denormal}))


if __name__ == "__main__":
    main()
