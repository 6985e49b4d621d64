#!/usr/bin/python3
"""Reference numbers for tests/test_index.c (attention_matches_torch).

Run with Debian's /usr/bin/python3 and python3-torch (1.13). Builds the
inputs from closed-form patterns (the C test builds the same ones), runs
P-Tuning v2 style attention in float64 exactly as Hugging Face BERT does it
with THUDM's prefix (keys/values concatenated after the prefix, an additive
mask over P+T keys, softmax, ·values), backpropagates L = Σ w·out with
w[i] = cos(0.11 i), and prints C arrays: out, dq, dk, dv, dprefix_k,
dprefix_v (row-major, [B, NH, R, HD])."""
import math

import torch

B, NH, S, T, P, HD = 1, 2, 3, 4, 2, 4


def pattern(shape, c):
    n = math.prod(shape)
    return torch.tensor([math.sin(0.37 * i + c) for i in range(n)],
                        dtype=torch.float64).reshape(shape).requires_grad_(True)


q = pattern((B, NH, S, HD), 0.1)
k = pattern((B, NH, T, HD), 0.2)
v = pattern((B, NH, T, HD), 0.3)
pk = pattern((B, NH, P, HD), 0.4)
pv = pattern((B, NH, P, HD), 0.5)
mask = torch.zeros(B, 1, 1, P + T, dtype=torch.float64)
mask[..., -1] = -1e9  # the last token key is padding
scale = 1 / math.sqrt(HD)

keys = torch.cat([pk, k], dim=2)
values = torch.cat([pv, v], dim=2)
scores = torch.matmul(q, keys.transpose(-1, -2)) * scale + mask
probs = torch.softmax(scores, dim=-1)
out = torch.matmul(probs, values)
w = torch.tensor([math.cos(0.11 * i) for i in range(out.numel())],
                 dtype=torch.float64).reshape(out.shape)
(out * w).sum().backward()

for name, t in [("out", out), ("dq", q.grad), ("dk", k.grad), ("dv", v.grad),
                ("dpk", pk.grad), ("dpv", pv.grad)]:
    vals = ", ".join(repr(x) for x in t.detach().reshape(-1).tolist())
    print(f"static const double torch_{name}[{t.numel()}] = {{{vals}}};")
