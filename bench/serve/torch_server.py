#!/usr/bin/python3
"""The PyTorch baseline of the serving benchmark (bench/serve/run.sh): the same
HTTP API as `ptune serve` (POST /v1/predict {"adapter", "inputs"}, GET
/healthz, GET /metrics with process_resident_memory_bytes) over the same
adapter directories (ptune's layout) and model directory, with the project's
plain-PyTorch reference model (tests/fixtures/methods/peft_ref.py on
tests/fixtures/ptv2/torch_ptv2.py, bit-identical to Hugging Face's BERT).

It batches as a server without mixed batches can: a batcher thread takes the
oldest waiting request's adapter and every queued request for that adapter
(up to --max-batch-rows rows, waiting at most --max-wait-ms for more), so one
batch is one adapter, as peft (prefix and prompt methods) and llama.cpp
(LoRA) batch. The backbone's tensors are shared by every adapter's model.

Tokenization is a plain-Python WordPiece (BERT uncased/cased as HF's
BertTokenizer) with a cache of the texts seen, so repeated benchmark texts
cost the baseline nothing there: its figures measure the model, the
batching and the server, in PyTorch's favour.

    /usr/bin/python3 bench/serve/torch_server.py --model DIR --adapter NAME=DIR ... \\
        [--port 0] [--threads 2] [--max-batch-rows 64] [--max-wait-ms 2]

Results per task: ner {"tokens", "tags", "entities"}; cls {"label",
"probabilities"}; qa {"answer", "start", "end", "score"} (one window, the best
span of at most 30 tokens); the same shapes as ptune serve's.
"""
import argparse
import functools
import json
import os
import queue
import resource
import struct
import sys
import threading
import time
import unicodedata
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "fixtures", "methods"))
from peft_ref import TaskModel, ptune_name  # noqa: E402


# ---- files ------------------------------------------------------------------------
_NP = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I64": "<i8", "I32": "<i4"}


def read_safetensors(path):
    """name -> float32/int64 torch tensor (F16 and BF16 widened)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    data = memoryview(raw)[8 + n:]
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        if info["dtype"] == "BF16":
            u16 = np.frombuffer(data[b:e], dtype="<u2").astype(np.uint32) << 16
            arr = u16.view(np.float32)
        else:
            arr = np.frombuffer(data[b:e], dtype=_NP[info["dtype"]])
        arr = arr.reshape(info["shape"])
        out[name] = torch.from_numpy(arr.astype(np.float32 if arr.dtype.kind == "f" else np.int64))
    return out


# ---- tokenizer (HF BertTokenizer: basic tokenizer + WordPiece) -----------------------
class WordPiece:
    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "vocab.txt"), encoding="utf-8") as f:
            self.vocab = {line.rstrip("\n"): i for i, line in enumerate(f)}
        # ptune's rule (and bert-base-cased's): cased when a token outside
        # [brackets] holds an ASCII capital
        self.lower = not any(any("A" <= c <= "Z" for c in t) and not t.startswith("[")
                             for t in self.vocab)
        cfg = os.path.join(model_dir, "tokenizer_config.json")
        if os.path.exists(cfg):
            self.lower = json.load(open(cfg)).get("do_lower_case", self.lower)
        self.cls, self.sep, self.unk = self.vocab["[CLS]"], self.vocab["[SEP]"], self.vocab["[UNK]"]

    @staticmethod
    def _punct(c):
        o = ord(c)
        return (33 <= o <= 47) or (58 <= o <= 64) or (91 <= o <= 96) or (123 <= o <= 126) or \
            unicodedata.category(c).startswith("P")

    def words(self, text):
        """(word, start, end) as BERT's basic tokenizer splits, spans in code points."""
        out, i, n = [], 0, len(text)
        while i < n:
            c = text[i]
            if c.isspace():
                i += 1
                continue
            if self._punct(c) or 0x4E00 <= ord(c) <= 0x9FFF:
                out.append((c, i, i + 1))
                i += 1
                continue
            j = i
            while j < n and not text[j].isspace() and not self._punct(text[j]) and \
                    not 0x4E00 <= ord(text[j]) <= 0x9FFF:
                j += 1
            out.append((text[i:j], i, j))
            i = j
        return out

    @functools.lru_cache(maxsize=1 << 16)
    def pieces(self, word):
        if self.lower:
            word = "".join(c for c in unicodedata.normalize("NFD", word.lower())
                           if unicodedata.category(c) != "Mn")
        if len(word) > 100:
            return (self.unk,)
        ids, start = [], 0
        while start < len(word):
            end, cur = len(word), None
            while start < end:
                sub = word[start:end] if start == 0 else "##" + word[start:end]
                if sub in self.vocab:
                    cur = self.vocab[sub]
                    break
                end -= 1
            if cur is None:
                return (self.unk,)
            ids.append(cur)
            start = end
        return tuple(ids)

    @functools.lru_cache(maxsize=1 << 14)
    def encode(self, text, pair=None, max_len=128):
        """ids, type ids, and for each token its word (-1 for specials)."""
        a = [(p, w) for w, (word, _, _) in enumerate(self.words(text)) for p in self.pieces(word)]
        b = [(p, w) for w, (word, _, _) in enumerate(self.words(pair)) for p in self.pieces(word)] \
            if pair is not None else []
        room = max_len - (3 if pair is not None else 2)
        while len(a) + len(b) > room:  # longest first
            (a if len(a) > len(b) else b).pop()
        ids = [self.cls] + [p for p, _ in a] + [self.sep]
        word_of = [-1] + [w for _, w in a] + [-1]
        types = [0] * len(ids)
        if pair is not None:
            ids += [p for p, _ in b] + [self.sep]
            types += [1] * (len(b) + 1)
            word_of += [-1] * (len(b) + 1)
        return tuple(ids), tuple(types), tuple(word_of)


# ---- models -------------------------------------------------------------------------
class Adapter:
    def __init__(self, name, path, cfg, backbone, shared):
        self.name, self.path = name, path
        conf = json.load(open(os.path.join(path, "adapter_config.json")))
        if conf.get("format") != "ptune":
            raise SystemExit(f"{path}: only ptune's adapter layout is served by the baseline")
        self.task = conf["task"]
        self.labels = [conf["id2label"][str(i)] for i in range(len(conf.get("id2label", {})))]
        spec = dict(conf)
        spec["num_labels"] = max(len(self.labels), 1)
        m = TaskModel(cfg, spec)
        # the shared backbone's tensors, then the method on top of them
        own = dict(m.lm.named_parameters())
        for n, p in own.items():
            key = f"{cfg['model_type']}.{n}"
            mod = m.lm.get_submodule(n.rpartition(".")[0]) if "." in n else m.lm
            if key not in shared:  # a tensor the checkpoint lacks keeps the first model's init
                shared[key] = torch.nn.Parameter(backbone.get(key, p.data), requires_grad=False)
            mod._parameters[n.rpartition(".")[2]] = shared[key]
        m.attach()
        tensors = read_safetensors(os.path.join(path, "adapter_model.safetensors"))
        params = {ptune_name(n): p for n, p in m.named_parameters()}
        with torch.no_grad():
            for n, t in tensors.items():
                params[n].copy_(t)
        m.eval()
        self.model = m
        self.max_len = cfg["max_position_embeddings"] - getattr(m, "P", 0)
        self.max_len = min(self.max_len, 384 if self.task == "question_answering" else 128)


# ---- requests -----------------------------------------------------------------------
class Job:
    def __init__(self, adapter, feats):
        self.adapter, self.feats = adapter, feats
        self.done = threading.Event()
        self.out = None
        self.error = None


def features(tok, a, inputs):
    feats = []
    for x in inputs:
        if a.task == "token_classification":
            text = x if isinstance(x, str) else " ".join(x["tokens"])
            feats.append(("ner", text) + tok.encode(text, None, a.max_len))
        elif a.task == "sequence_classification":
            t, p = (x, None) if isinstance(x, str) else (x[0], x[1]) if isinstance(x, list) else \
                (x["text"], x.get("text_pair"))
            feats.append(("cls", t) + tok.encode(t, p, a.max_len))
        elif a.task == "question_answering":
            q, c = x["question"], x["context"]
            feats.append(("qa", c) + tok.encode(q, c, a.max_len))
        else:
            raise ValueError(f"{a.name}: task {a.task} is not served by the baseline")
    return feats


def entities(tags, spans, text):
    out, cur = [], None
    for i, t in enumerate(tags + ["O"]):
        if cur and (t == "O" or t.startswith("B-") or t[2:] != cur[0]):
            s, e = spans[cur[1]][0], spans[i - 1][1]
            out.append({"type": cur[0], "start": s, "end": e, "text": text[s:e]})
            cur = None
        if t != "O" and (cur is None):
            cur = (t[2:], i)
    return out


def results(tok, a, feats, logits, start, end):
    res = []
    for i, f in enumerate(feats):
        kind, text, ids, types, word_of = f
        n = len(ids)
        if kind == "ner":
            words = tok.words(text)
            pred = logits[i, :n].argmax(-1).tolist()
            tags = ["O"] * len(words)
            seen = set()
            for t, w in enumerate(word_of):
                if w >= 0 and w not in seen:
                    seen.add(w)
                    tags[w] = a.labels[pred[t]]
            res.append({"tokens": [w for w, _, _ in words], "tags": tags,
                        "entities": entities(tags, [(s, e) for _, s, e in words], text)})
        elif kind == "cls":
            p = torch.softmax(logits[i], -1).tolist()
            res.append({"label": a.labels[max(range(len(p)), key=p.__getitem__)],
                        "probabilities": dict(zip(a.labels, p))})
        else:  # the best span of the context (type 1), at most 30 tokens
            ctx = [t for t in range(n) if types[t] == 1 and t < n - 1]
            s_l, e_l = start[i, :n], end[i, :n]
            best, span = -1e30, (0, 0)
            top = sorted(ctx, key=lambda t: -float(s_l[t]))[:20]
            tope = sorted(ctx, key=lambda t: -float(e_l[t]))[:20]
            for s in top:
                for e in tope:
                    if s <= e < s + 30 and float(s_l[s] + e_l[e]) > best:
                        best, span = float(s_l[s] + e_l[e]), (s, e)
            words = tok.words(text)
            ws, we = word_of[span[0]], word_of[span[1]]
            cs, ce = (words[ws][1], words[we][2]) if ws >= 0 and we >= 0 else (0, 0)
            res.append({"answer": text[cs:ce], "start": cs, "end": ce, "score": best})
    return res


class Batcher(threading.Thread):
    """One adapter per batch: the oldest job's adapter, all its queued jobs."""

    def __init__(self, max_rows, max_wait):
        super().__init__(daemon=True)
        self.q, self.lock = [], threading.Condition()
        self.max_rows, self.max_wait = max_rows, max_wait

    def submit(self, job):
        with self.lock:
            self.q.append((time.monotonic(), job))
            self.lock.notify()

    def take(self):
        with self.lock:
            while not self.q:
                self.lock.wait()
            t0, first = self.q[0]
            while time.monotonic() < t0 + self.max_wait and \
                    sum(len(j.feats) for _, j in self.q if j.adapter is first.adapter) < self.max_rows:
                self.lock.wait(t0 + self.max_wait - time.monotonic())
            batch, rows, rest = [], 0, []
            for t, j in self.q:
                if j.adapter is first.adapter and (not batch or rows + len(j.feats) <= self.max_rows):
                    batch.append(j)
                    rows += len(j.feats)
                else:
                    rest.append((t, j))
            self.q = rest
            return first.adapter, batch

    def run(self):
        while True:
            a, jobs = self.take()
            try:
                feats = [f for j in jobs for f in j.feats]
                S = max(len(f[2]) for f in feats)
                ids = torch.zeros(len(feats), S, dtype=torch.long)
                types = torch.zeros_like(ids)
                mask = torch.zeros_like(ids)
                for r, f in enumerate(feats):
                    ids[r, :len(f[2])] = torch.tensor(f[2])
                    types[r, :len(f[3])] = torch.tensor(f[3])
                    mask[r, :len(f[2])] = 1
                with torch.no_grad():
                    out = a.model(ids, mask, types)
                k = 0
                for j in jobs:
                    n = len(j.feats)
                    sl = lambda t: t[k:k + n] if t is not None else None  # noqa: E731
                    j.out = (sl(out["logits"]), sl(out.get("start_logits")), sl(out.get("end_logits")))
                    k += n
            except Exception as e:  # noqa: BLE001 - the request answers 500 with it
                for j in jobs:
                    j.error = str(e)
            for j in jobs:
                j.done.set()


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--adapter", action="append", default=[])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8081)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-batch-rows", type=int, default=64)
    ap.add_argument("--max-wait-ms", type=float, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = json.load(open(os.path.join(args.model, "config.json")))
    cfg.setdefault("hidden_dropout_prob", 0.0)
    cfg.setdefault("attention_probs_dropout_prob", 0.0)
    backbone = read_safetensors(os.path.join(args.model, "model.safetensors"))
    tok = WordPiece(args.model)
    shared, adapters = {}, {}
    for spec in args.adapter:
        name, _, path = spec.partition("=")
        adapters[name] = Adapter(name, path, cfg, backbone, shared)
    del backbone
    batcher = Batcher(args.max_batch_rows, args.max_wait_ms / 1000.0)
    batcher.start()
    counts = {"requests": 0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def reply(self, code, obj, ctype="application/json"):
            body = (json.dumps(obj) + "\n").encode() if ctype == "application/json" else obj.encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/healthz":
                return self.reply(200, {"status": "ok", "adapters": len(adapters)})
            if self.path == "/metrics":
                return self.reply(200, "process_resident_memory_bytes %d\ntorch_requests_total %d\n"
                                  % (rss_bytes(), counts["requests"]), "text/plain")
            self.reply(404, {"error": {"code": 404, "message": "no route"}})

        def do_POST(self):
            n = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(n)
            if self.path != "/v1/predict":
                return self.reply(404, {"error": {"code": 404, "message": "no route"}})
            try:
                req = json.loads(body)
                a = adapters[req["adapter"]]
                feats = features(tok, a, req["inputs"])
            except KeyError as e:
                return self.reply(404, {"error": {"code": 404, "message": str(e)}})
            except (ValueError, TypeError) as e:
                return self.reply(400, {"error": {"code": 400, "message": str(e)}})
            job = Job(a, feats)
            batcher.submit(job)
            job.done.wait()
            counts["requests"] += 1
            if job.error:
                return self.reply(500, {"error": {"code": 500, "message": job.error}})
            self.reply(200, {"adapter": a.name, "results": results(tok, a, feats, *job.out)})

    ThreadingHTTPServer.daemon_threads = True
    srv = ThreadingHTTPServer((args.host, args.port), Handler)
    print("torch_server: listening on http://%s:%d (%d adapters)" % (
        args.host, srv.server_address[1], len(adapters)), file=sys.stderr, flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
    main()
