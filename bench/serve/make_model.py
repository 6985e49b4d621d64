#!/usr/bin/python3
"""A BERT-base-shaped model with random weights (HF initialization: N(0, 0.02),
LayerNorm 1/0, zero biases) for the serving benchmark's throughput figures:
12 layers x 768, 12 heads, 3072 intermediate, 512 positions, pooler,
bert-base-uncased's vocabulary (tests/fixtures/vocab). About 440 MB.

    make_model.py OUT_DIR"""
import json
import os
import shutil
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "fixtures", "ptv2"))
from torch_ptv2 import save_safetensors  # noqa: E402

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
vocab = os.path.join(HERE, "..", "..", "tests", "fixtures", "vocab", "bert-base-uncased", "vocab.txt")
shutil.copy(vocab, os.path.join(out, "vocab.txt"))
V = sum(1 for _ in open(vocab, encoding="utf-8"))
H, L, I, P = 768, 12, 3072, 512
cfg = {"architectures": ["BertModel"], "model_type": "bert", "vocab_size": V, "hidden_size": H,
       "num_hidden_layers": L, "num_attention_heads": 12, "intermediate_size": I,
       "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
       "max_position_embeddings": P, "type_vocab_size": 2, "initializer_range": 0.02,
       "layer_norm_eps": 1e-12, "pad_token_id": 0, "position_embedding_type": "absolute"}
json.dump(cfg, open(os.path.join(out, "config.json"), "w"), indent=2)
g = torch.Generator().manual_seed(0)
t = {}


def normal(*shape):
    return torch.randn(*shape, generator=g) * 0.02


t["bert.embeddings.word_embeddings.weight"] = normal(V, H)
t["bert.embeddings.word_embeddings.weight"][0] = 0
t["bert.embeddings.position_embeddings.weight"] = normal(P, H)
t["bert.embeddings.token_type_embeddings.weight"] = normal(2, H)
t["bert.embeddings.LayerNorm.weight"] = torch.ones(H)
t["bert.embeddings.LayerNorm.bias"] = torch.zeros(H)
for l in range(L):
    p = f"bert.encoder.layer.{l}."
    for name, (o, i) in {"attention.self.query": (H, H), "attention.self.key": (H, H),
                         "attention.self.value": (H, H), "attention.output.dense": (H, H),
                         "intermediate.dense": (I, H), "output.dense": (H, I)}.items():
        t[p + name + ".weight"] = normal(o, i)
        t[p + name + ".bias"] = torch.zeros(o)
    for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
        t[p + ln + ".weight"] = torch.ones(H)
        t[p + ln + ".bias"] = torch.zeros(H)
t["bert.pooler.dense.weight"] = normal(H, H)
t["bert.pooler.dense.bias"] = torch.zeros(H)
save_safetensors(os.path.join(out, "model.safetensors"), t, {"format": "pt"})
print(out)
