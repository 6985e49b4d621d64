#!/usr/bin/python3
"""Copied from the project's shared reference (shared/reference/bench_torch.py); it imports
torch_ptv2 from tests/fixtures/ptv2 of this repository. ADDITIONS: --batch/--seq/--prefix,
--flush-denormal, --autocast bf16, --layers/--hidden (marked in main()).

Performance anchor: PyTorch (Debian python3-torch 1.13, OpenBLAS) on this machine.

    /usr/bin/python3 bench_torch.py                 # everything, results -> bench_results.json
    /usr/bin/python3 bench_torch.py --mode ptv2     # one measurement in this process (prints JSON)

Modes (each runs in its own process so ru_maxrss is per mode):
  ptv2   P-Tuning v2 train step: BERT-base (H768 L12 nh12 I3072 V28996), pre_seq_len 16 with
         projection (prefix_hidden 512), token-classification head (9 labels), batch 8 x seq 128,
         LM frozen, AdamW on prefix encoder + classifier, train mode (dropout 0.1 on)
  full   same model, every parameter trainable (incl. the prefix encoder), AdamW
  infer  forward only under torch.no_grad(), eval mode, same model and batch
  gemm   sgemm peak: torch.mm / F.linear and cblas_sgemm (ctypes -> libopenblas.so.0)
  profile  (not part of the driver) torch.profiler top ops for one inference batch and one
         P-tuning v2 step:  /usr/bin/python3 bench_torch.py --mode profile > bench_profile.txt
The driver runs every mode twice: with the environment as-is and with OPENBLAS_CORETYPE
and OPENBLAS_L2_SIZE removed from that child's environment only.
"""
import argparse
import contextlib
import ctypes
import ctypes.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time

# PyTorch at its best on this 2-core machine: with libgomp's default active waiting, torch's OpenMP
# pool and OpenBLAS's pthread pool spin against each other and a step takes about twice as long.
# Set before torch loads libgomp; an explicit OMP_WAIT_POLICY in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "ptv2"))
from torch_ptv2 import PTuningV2, make_config  # noqa: E402

THREADS = 2
B, S = 8, 128
BASE = dict(vocab_size=28996, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
            intermediate_size=3072, max_position_embeddings=512)
P, PH, NL = 16, 512, 9
WARMUP, STEPS = 3, 10
AUTOCAST = "none"  # ADDITION: "bf16" runs the forward under torch.autocast (see autocast())


def rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def openblas():
    for name in ("libopenblas.so.0", ctypes.util.find_library("openblas")):
        if name:
            try:
                return ctypes.CDLL(name)
            except OSError:
                pass
    return None


def openblas_info():
    lib = openblas()
    if lib is None:
        return {}
    lib.openblas_get_corename.restype = ctypes.c_char_p
    lib.openblas_get_config.restype = ctypes.c_char_p
    return {"openblas_core": lib.openblas_get_corename().decode(),
            "openblas_config": lib.openblas_get_config().decode().strip(),
            "openblas_threads": lib.openblas_get_num_threads()}


def flops(pre_seq_len, batch=None, seq=None, H=None, L=None, I=None, ph=PH, nl=NL):
    """Analytic FLOPs (1 multiply-add = 2 FLOP); GEMM-like work only."""
    batch = B if batch is None else batch
    seq = S if seq is None else seq
    H = BASE["hidden_size"] if H is None else H
    L = BASE["num_hidden_layers"] if L is None else L
    I = BASE["intermediate_size"] if I is None else I
    T = batch * seq
    lin = L * 2 * T * (4 * H * H + 2 * H * I)          # Q,K,V,O + FFN up/down
    att = L * 4 * batch * seq * (pre_seq_len + seq) * H  # QK^T and PV over P+S keys
    pre = 2 * batch * pre_seq_len * (H * ph + ph * 2 * L * H) if pre_seq_len else 0  # prefix MLP (per batch row)
    head = 2 * T * H * nl
    fwd = lin + att + pre + head
    # full fine-tuning: every GEMM also needs dX and dW -> 3x forward
    full = 3 * fwd
    # frozen LM: linears need dX only (not dW), and layer 0's Q/K/V need no dX at all
    # (its input, the frozen embedding output, needs no gradient); attention GEMMs need both
    # operand gradients; prefix MLP and head need dX and dW.
    ptv2_bwd = (lin - 2 * T * 3 * H * H) + 2 * att + 2 * pre + 2 * head
    return {"forward": fwd, "train_full": full, "train_ptv2": fwd + ptv2_bwd,
            "parts_forward": {"linear": lin, "attention": att, "prefix_mlp": pre, "head": head}}


def build(trainable_lm):
    cfg = make_config("bert", pre_seq_len=P, prefix_projection=True, prefix_hidden_size=PH, num_labels=NL,
                      task="token_classification", **BASE)
    torch.manual_seed(0)
    model = PTuningV2(cfg, freeze_lm=not trainable_lm)
    with torch.no_grad():  # HF-style init: N(0, 0.02) weights, zero bias, LN = 1/0
        for n, p in model.named_parameters():
            if n.endswith("LayerNorm.weight"):
                p.fill_(1.0)
            elif n.endswith("bias"):
                p.zero_()
            else:
                p.normal_(0.0, 0.02)
    g = torch.Generator().manual_seed(1)
    batch = {"input_ids": torch.randint(0, BASE["vocab_size"], (B, S), generator=g),
             "attention_mask": torch.ones(B, S, dtype=torch.long),
             "token_type_ids": torch.zeros(B, S, dtype=torch.long),
             "labels": torch.randint(0, NL, (B, S), generator=g)}
    return model, batch


def autocast():
    """ADDITION for ptune's bf16 rows: PyTorch's mixed precision on CPU (bf16 linears and
    matmuls, f32 weights cast per call) around the forward pass, or nothing."""
    if AUTOCAST == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def bench_train(trainable_lm):
    model, batch = build(trainable_lm)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=5e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    rss_build = rss_mib()
    times = []
    for i in range(WARMUP + STEPS):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with autocast():
            out = model(**batch)
        out["loss"].backward()
        opt.step()
        t1 = time.perf_counter()
        if i >= WARMUP:
            times.append(t1 - t0)
    ms = statistics.median(times) * 1e3
    f = flops(P)["train_full" if trainable_lm else "train_ptv2"]
    return {"ms_per_step_median": ms, "ms_min": min(times) * 1e3, "ms_max": max(times) * 1e3,
            "tokens_per_s": B * S / (ms / 1e3), "gflop_per_step": f / 1e9, "gflops": f / 1e9 / (ms / 1e3),
            "trainable_params": sum(p.numel() for p in params),
            "total_params": sum(p.numel() for p in model.parameters()),
            "rss_after_build_mib": rss_build, "peak_rss_mib": rss_mib()}


def bench_infer():
    model, batch = build(False)
    model.eval()
    rss_build = rss_mib()
    times = []
    with torch.no_grad(), autocast():
        for i in range(WARMUP + STEPS):
            t0 = time.perf_counter()
            model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
            t1 = time.perf_counter()
            if i >= WARMUP:
                times.append(t1 - t0)
    ms = statistics.median(times) * 1e3
    f = flops(P)["forward"]
    return {"ms_per_batch_median": ms, "ms_min": min(times) * 1e3, "ms_max": max(times) * 1e3,
            "tokens_per_s": B * S / (ms / 1e3), "gflop_per_batch": f / 1e9, "gflops": f / 1e9 / (ms / 1e3),
            "rss_after_build_mib": rss_build, "peak_rss_mib": rss_mib()}


def _time(fn, reps):
    fn()
    fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def bench_gemm():
    res = {}
    shapes = {  # name: (M, N, K) ; C[M,N] = A[M,K] @ B[K,N]
        "1024^3": (1024, 1024, 1024),
        "ffn_up 1024x3072x768": (1024, 3072, 768),     # tokens x I x H (x @ W1^T)
        "ffn_down 1024x768x3072": (1024, 768, 3072),   # tokens x H x I
        "qkv 1024x768x768": (1024, 768, 768),
    }
    lib = openblas()
    for threads in (THREADS, 1):
        torch.set_num_threads(threads)
        if lib is not None:
            lib.openblas_set_num_threads(threads)
        for name, (M, N, K) in shapes.items():
            fl = 2.0 * M * N * K
            a = torch.randn(M, K)
            w = torch.randn(N, K)  # nn.Linear layout (out, in): y = a @ w^T
            b = w.t().contiguous()
            c = torch.empty(M, N)
            t_mm = _time(lambda: torch.mm(a, b, out=c), 20)
            t_lin = _time(lambda: torch.nn.functional.linear(a, w), 20)
            r = {"torch_mm_gflops": fl / t_mm / 1e9, "torch_linear_gflops": fl / t_lin / 1e9}
            if lib is not None:
                RowMajor, NoTrans, Trans = 101, 111, 112
                f = lib.cblas_sgemm
                f.restype = None
                f.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                              ctypes.c_float, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int,
                              ctypes.c_float, ctypes.c_void_p, ctypes.c_int]
                pa, pb, pw, pc = a.data_ptr(), b.data_ptr(), w.data_ptr(), c.data_ptr()
                t_nn = _time(lambda: f(RowMajor, NoTrans, NoTrans, M, N, K, 1.0, pa, K, pb, N, 0.0, pc, N), 20)
                t_nt = _time(lambda: f(RowMajor, NoTrans, Trans, M, N, K, 1.0, pa, K, pw, K, 0.0, pc, N), 20)
                r["cblas_NN_gflops"] = fl / t_nn / 1e9
                r["cblas_NT_gflops"] = fl / t_nt / 1e9
            res[f"{threads}t {name}"] = r
    torch.set_num_threads(THREADS)
    if lib is not None:
        lib.openblas_set_num_threads(THREADS)
    res["peak_rss_mib"] = rss_mib()
    return res


def profile():
    """Top ops by self CPU time: one inference batch and one P-tuning v2 train step."""
    from torch.profiler import ProfilerActivity, profile as tprof
    lines = []
    model, batch = build(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=5e-3, weight_decay=0.01)

    def step():
        opt.zero_grad(set_to_none=True)
        model(**batch)["loss"].backward()
        opt.step()

    model.eval()
    with torch.no_grad():
        model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
        with tprof(activities=[ProfilerActivity.CPU]) as pr:
            model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    lines.append("== inference forward (eval, no_grad)")
    lines.append(pr.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))
    model.train()
    step()
    with tprof(activities=[ProfilerActivity.CPU]) as pr:
        step()
    lines.append("== P-tuning v2 train step (train mode)")
    lines.append(pr.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))
    return "\n".join(lines)


def child(mode):
    torch.set_num_threads(THREADS)
    info = {"mode": mode, "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
            "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE"), **openblas_info()}
    if mode == "ptv2":
        info.update(bench_train(False))
    elif mode == "full":
        info.update(bench_train(True))
    elif mode == "infer":
        info.update(bench_infer())
    elif mode == "gemm":
        info.update(bench_gemm())
    return info


def driver(out_path):
    results = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "flops": flops(P), "runs": {}}
    for env_name in ("as_is", "openblas_env_unset"):
        env = dict(os.environ)
        if env_name == "openblas_env_unset":
            env.pop("OPENBLAS_CORETYPE", None)
            env.pop("OPENBLAS_L2_SIZE", None)
        for mode in ("gemm", "infer", "ptv2", "full"):
            p = subprocess.run([sys.executable, os.path.abspath(__file__), "--mode", mode], env=env,
                               capture_output=True, text=True)
            if p.returncode != 0:
                print(p.stderr, file=sys.stderr)
                raise SystemExit(f"{mode} failed")
            r = json.loads(p.stdout.strip().splitlines()[-1])
            results["runs"][f"{env_name}/{mode}"] = r
            brief = {k: (round(v, 1) if isinstance(v, float) else v) for k, v in r.items()
                     if k in ("ms_per_step_median", "ms_per_batch_median", "tokens_per_s", "gflops", "peak_rss_mib",
                              "openblas_core")}
            print(env_name, mode, json.dumps(brief), flush=True)
            with open(out_path, "w") as f:
                json.dump(results, f, indent=2)
    return results


def main():
    global B, S, P, AUTOCAST
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["ptv2", "full", "infer", "gemm", "profile"])
    ap.add_argument("--out", default="bench_results.json")
    # Added for ptune's scaling table: batch, sequence and prefix length.
    ap.add_argument("--batch", type=int, default=B)
    ap.add_argument("--seq", type=int, default=S)
    ap.add_argument("--prefix", type=int, default=P)
    # Added for ptune's comparison: ptune's command flushes denormals, so PyTorch is also
    # measured with torch.set_flush_denormal(True) (vs_torch.sh keeps the faster run).
    ap.add_argument("--flush-denormal", action="store_true")
    # Added for ptune's bf16 rows and RoBERTa-large-shaped rows: autocast, layers, hidden
    # (heads hidden/64, intermediate 4·hidden, as `ptune bench model`).
    ap.add_argument("--autocast", choices=["none", "bf16"], default="none")
    ap.add_argument("--layers", type=int, default=BASE["num_hidden_layers"])
    ap.add_argument("--hidden", type=int, default=BASE["hidden_size"])
    a = ap.parse_args()
    B, S, P, AUTOCAST = a.batch, a.seq, a.prefix, a.autocast
    BASE.update(num_hidden_layers=a.layers, hidden_size=a.hidden, num_attention_heads=max(1, a.hidden // 64),
                intermediate_size=4 * a.hidden)
    torch.set_flush_denormal(a.flush_denormal)
    BASE["max_position_embeddings"] = max(512, P + S)
    if a.mode == "profile":
        torch.set_num_threads(THREADS)
        print(profile())
    elif a.mode:
        print(json.dumps({**child(a.mode), "flush_denormal": a.flush_denormal, "autocast": AUTOCAST,
                          "layers": a.layers, "hidden": a.hidden}))
    else:
        driver(a.out)


if __name__ == "__main__":
    main()
