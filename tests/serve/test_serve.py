#!/usr/bin/env python3
"""`ptune serve` driven by real clients: curl and Python's http.client.

    test_serve.py PTUNE MAKE_ADAPTER MODEL_DIR

Writes adapters of six methods for the four served tasks on MODEL_DIR
(make_adapter), starts servers on free loopback ports (--port 0, the port
read from the first log line) and checks:
  - results: every task's shape, the same numbers for a request alone and
    inside mixed batches of many concurrent requests, curl's answer equal to
    http.client's;
  - results equal `ptune predict`'s for each task (ner tags, cls labels of
    texts and pairs, qa answers, mc choices), also with the adapters of a
    multi-task run (`ptune train --task-spec`) loaded while serving;
  - every error status: 400, 401, 404, 405, 409, 413 (declared and chunked
    bodies, too many inputs), 422, 503 with Retry-After, 504;
  - the token: every route but /healthz needs it, loading/unloading always;
  - loading and unloading adapters while other threads send requests;
  - one log line per request; the metrics text;
  - SIGTERM with requests in flight: all of them answered 200, exit 0.
Uses only the standard library (Debian's /usr/bin/python3)."""
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

PTUNE, MAKE_ADAPTER, MODEL = sys.argv[1:4]
WORK = tempfile.mkdtemp(prefix="ptune-serve-")
TOKEN = "s3cret-token-for-the-test-0123456789"
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)
    return cond


# ---- adapters -----------------------------------------------------------------
ADAPTERS = {  # name: (method, head, labels, options)
    "ner-ptv2": ("ptv2", "token_classification", 9, ["--pre-seq-len", "6"]),
    "cls-lora": ("lora", "sequence_classification", 2, ["--lora-r", "4"]),
    "cls-prefix": ("prefix", "sequence_classification", 3, ["--num-virtual-tokens", "5"]),
    "qa-prompt": ("prompt", "question_answering", 0, ["--num-virtual-tokens", "4"]),
    "mc-ia3": ("ia3", "multiple_choice", 0, []),
    "ner-lora": ("lora", "token_classification", 9, ["--lora-r", "2"]),
    "cls-bitfit": ("bitfit", "sequence_classification", 2, []),
}


def make_adapters():
    for i, (name, (method, head, n, opts)) in enumerate(ADAPTERS.items()):
        out = os.path.join(WORK, name)
        subprocess.run([MAKE_ADAPTER, MODEL, out, method, head, str(n), str(10 + i)] + opts,
                       check=True)


# ---- a server -------------------------------------------------------------------
class Server:
    def __init__(self, *extra, adapters=None, token=True, env=None):
        names = list(ADAPTERS) if adapters is None else adapters
        args = [PTUNE, "serve", "--model", MODEL, "--port", "0", "--threads", "2"]
        for n in names:
            args += ["--adapter", "%s=%s" % (n, os.path.join(WORK, n))]
        if token:
            path = os.path.join(WORK, "token")
            with open(path, "w") as f:
                f.write(TOKEN + "\n")
            args += ["--token-file", path]
        self.log_path = os.path.join(WORK, "server-%d.log" % time.monotonic_ns())
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(args + list(extra), stderr=self.log, stdout=self.log, env=env)
        self.port = None
        deadline = time.time() + 120
        while time.time() < deadline and self.proc.poll() is None:
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", open(self.log_path).read())
            if m:
                self.port = int(m.group(1))
                break
            time.sleep(0.05)
        if not self.port:
            print(open(self.log_path).read())
            raise SystemExit("the server did not start")

    def request(self, method, path, body=None, token=TOKEN, headers=None, raw=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        try:
            c.request(method, path, data, h)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered (413) before the whole body was sent: read the answer
        r = c.getresponse()
        text = r.read().decode()
        c.close()
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = text
        return r.status, parsed, dict(r.getheaders())

    def predict(self, adapter, inputs, **kw):
        return self.request("POST", "/v1/predict", {"adapter": adapter, "inputs": inputs}, **kw)

    def stop(self, sig=signal.SIGTERM, timeout=120):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = None
        self.log.close()
        return code

    def log_text(self):
        return open(self.log_path).read()


# ---- inputs of every task --------------------------------------------------------
TEXTS = ["John Smith lives in New York with his family.",
         "The European Union rejects German calls to boycott British lamb .",
         "Élodie moved to Zürich in 2019, then to São Paulo."]
INPUTS = {
    "ner-ptv2": TEXTS + [{"tokens": ["EU", "rejects", "German", "call"]}],
    "ner-lora": TEXTS[:2],
    "cls-lora": ["a gripping, beautifully acted film", ["The cat sat.", "A cat was sitting."],
                 {"text": "dull and far too long", "text_pair": None}],
    "cls-prefix": [{"text": "not bad at all", "text_pair": "it was fine"}, "terrible"],
    "cls-bitfit": ["a biased view", ["two", "texts"]],
    "qa-prompt": [{"question": "Where does John live?",
                   "context": "John Smith lives in New York. He moved there in 2001."},
                  {"id": "q2", "question": "When did he move?",
                   "context": "John Smith lives in New York. He moved there in 2001."}],
    "mc-ia3": [{"premise": "The man broke his toe.", "question": "cause",
                "choices": ["He dropped a hammer on his foot.", "He got a hole in his sock."]},
               {"premise": "I emptied my pockets.", "question": "effect",
                "choices": ["I found a coin.", "I lost my keys."]}],
    # three choices: one row group per choice count, so the batcher keeps
    # these apart from the two-choice requests of the same adapter
    "mc-ia3/3": [{"premise": "I emptied my pockets.",
                  "choices": ["I found a coin.", "I lost my keys.", "I ran home."]}],
}


def adapter_of(key):
    return key.split("/")[0]


def check_shapes(key, res):
    name = adapter_of(key)
    task = name.split("-")[0]
    inputs = INPUTS[key]
    check(res["adapter"] == name and len(res["results"]) == len(inputs), key + ": result count")
    for inp, r in zip(inputs, res["results"]):
        if task == "ner":
            text = inp if isinstance(inp, str) else " ".join(inp["tokens"])
            check(len(r["tokens"]) == len(r["tags"]), name + ": a tag per token")
            for e in r["entities"]:
                check(text[e["start"]:e["end"]] == e["text"],
                      "%s: entity %r is not text[%d:%d]" % (name, e["text"], e["start"], e["end"]))
        elif task == "cls":
            p = r["probabilities"]
            check(abs(sum(p.values()) - 1) < 1e-5, name + ": probabilities sum to 1")
            check(r["label"] == max(p, key=p.get), name + ": the label is the most probable")
        elif task == "qa":
            ctx = inp["context"]
            check(ctx[r["start"]:r["end"]] == r["answer"], name + ": answer is its span")
            check(isinstance(r["score"], float), name + ": a score")
        else:
            p = r["probabilities"]
            check(len(p) == len(inp["choices"]) and abs(sum(p) - 1) < 1e-5,
                  name + ": a probability per choice")
            check(r["label"] == p.index(max(p)), name + ": the most probable choice")


def numbers(res):
    """The numbers of a result, flattened, for comparing two answers."""
    out = []

    def walk(x):
        if isinstance(x, dict):
            for k in sorted(x):
                walk(x[k])
        elif isinstance(x, list):
            for v in x:
                walk(v)
        elif isinstance(x, float):
            out.append(x)
    walk(res)
    return out


def same(a, b, tol=2e-5):
    if json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True):
        return True
    na, nb = numbers(a), numbers(b)
    strip = lambda x: json.loads(re.sub(r"-?\d+\.\d+(e-?\d+)?", "0", json.dumps(x, sort_keys=True)))
    return len(na) == len(nb) and all(abs(x - y) <= tol for x, y in zip(na, nb)) and \
        strip(a) == strip(b)


# ---- the checks ------------------------------------------------------------------
def test_results_and_mixed_batches(s):
    alone = {}
    for key in INPUTS:
        st, res, _ = s.predict(adapter_of(key), INPUTS[key])
        if check(st == 200, "%s: status %s %s" % (key, st, res)):
            check_shapes(key, res)
            alone[key] = res
    st, res, _ = s.predict("mc-ia3", INPUTS["mc-ia3"] + INPUTS["mc-ia3/3"])
    check(st == 422 and "same number of choices" in res["error"]["message"],
          "one request with 2 and 3 choices: %s" % st)
    # the same requests many at a time from many threads: mixed batches
    got, lock = [], threading.Lock()

    def worker(k):
        keys = list(INPUTS)
        for i in range(6):
            key = keys[(k + i) % len(keys)]
            st, res, _ = s.predict(adapter_of(key), INPUTS[key])
            with lock:
                got.append((key, st, res))
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(12)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    bad = [(n, st) for n, st, res in got if st != 200 or not same(res, alone[n])]
    check(not bad, "mixed batches differ from requests alone: %s" % bad[:3])
    st, metrics, _ = s.request("GET", "/metrics")
    m = re.search(r"ptune_batch_adapters_sum (\S+)\nptune_batch_adapters_count (\S+)", metrics)
    check(m and float(m.group(1)) > float(m.group(2)),
          "some batches mixed several adapters (metrics: %r)" % ((m.groups() if m else None),))
    # curl gives the same answer as http.client
    body = json.dumps({"adapter": "ner-ptv2", "inputs": INPUTS["ner-ptv2"]})
    out = subprocess.run(["curl", "-s", "-H", "Authorization: Bearer " + TOKEN, "-H",
                          "Content-Type: application/json", "--data-binary", body,
                          "http://127.0.0.1:%d/v1/predict" % s.port],
                         capture_output=True, text=True, check=True).stdout
    check(same(json.loads(out), alone["ner-ptv2"]), "curl's answer differs: " + out[:200])
    return alone


def test_errors(s):
    def expect(code, st, res, what):
        ok = check(st == code, "%s: want %d, got %s %s" % (what, code, st, res))
        if ok and code != 200:
            check(isinstance(res, dict) and res["error"]["code"] == code and
                  res["error"]["message"], what + ": JSON error with a message")

    st, res, _ = s.request("POST", "/v1/predict", raw="{not json")
    expect(400, st, res, "malformed JSON")
    st, res, _ = s.request("POST", "/v1/predict", {"adapter": 3, "inputs": ["x"]})
    expect(400, st, res, "adapter of the wrong type")
    st, res, _ = s.request("POST", "/v1/predict", {"adapter": "cls-lora", "inputs": "x"})
    expect(400, st, res, "inputs not an array")
    st, res, _ = s.request("POST", "/v1/predict", {"adapter": "cls-lora", "inputs": []})
    expect(400, st, res, "empty inputs")
    st, res, _ = s.request("POST", "/v1/predict", {"adapter": "cls-lora", "inputs": ["x"], "k": 1})
    expect(400, st, res, "an unknown key")
    st, res, _ = s.predict("no-such", ["x"])
    expect(404, st, res, "unknown adapter")
    st, res, _ = s.request("GET", "/v2/nothing")
    expect(404, st, res, "unknown route")
    st, res, h = s.request("GET", "/v1/predict")
    expect(405, st, res, "GET /v1/predict")
    check(h.get("Allow") == "POST", "405 names the methods allowed")
    st, res, _ = s.predict("qa-prompt", ["just a string"])
    expect(422, st, res, "a qa input that is a string")
    check("inputs[0]" in res["error"]["message"], "422 names the input")
    st, res, _ = s.predict("mc-ia3", [{"premise": "p", "choices": ["only one"]}])
    expect(422, st, res, "one choice")
    st, res, _ = s.predict("ner-ptv2", [{"tokens": []}])
    expect(422, st, res, "no tokens")
    st, res, _ = s.predict("cls-lora", ["x"] * 65)
    expect(413, st, res, "65 inputs")
    big = json.dumps({"adapter": "cls-lora", "inputs": ["y" * (1 << 20)]})
    st, res, _ = s.request("POST", "/v1/predict", raw=big)
    expect(413, st, res, "a body over the limit")
    # the same without a declared length (chunked), through curl
    path = os.path.join(WORK, "big.json")
    with open(path, "w") as f:
        f.write(big)
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H",
                          "Authorization: Bearer " + TOKEN, "-H", "Transfer-Encoding: chunked",
                          "--data-binary", "@" + path, "http://127.0.0.1:%d/v1/predict" % s.port],
                         capture_output=True, text=True).stdout
    check(out == "413", "chunked body over the limit: " + out)
    st, res, _ = s.request("POST", "/v1/predict", {"adapter": "cls-lora", "inputs": ["x"],
                                                  "timeout_ms": 0})
    expect(504, st, res, "a deadline already past")
    st, res, _ = s.request("POST", "/v1/adapters/cls-lora", {"path": os.path.join(WORK, "cls-lora")})
    expect(409, st, res, "loading a name in use")
    st, res, _ = s.request("POST", "/v1/adapters/x", {"path": os.path.join(WORK, "missing")})
    expect(422, st, res, "loading a directory that is not an adapter")
    ft = os.path.join(WORK, "finetune")
    subprocess.run([MAKE_ADAPTER, MODEL, ft, "finetune", "sequence_classification", "2", "1"],
                   check=True)
    st, res, _ = s.request("POST", "/v1/adapters/ft", {"path": ft})
    expect(422, st, res, "loading a finetune adapter onto the shared backbone")
    check("biases of its linears" in res["error"]["message"], "the refusal says why: %s" % res)
    st, res, _ = s.request("POST", "/v1/adapters/x", {"dir": "y"})
    expect(400, st, res, "a load body without path")
    st, res, _ = s.request("DELETE", "/v1/adapters/never-loaded")
    expect(404, st, res, "unloading an unknown adapter")
    # the server serves on
    st, res, _ = s.predict("cls-lora", ["still serving"])
    expect(200, st, res, "after the errors")


def test_token(s):
    st, _, _ = s.request("GET", "/healthz", token=None)
    check(st == 200, "healthz without the token")
    for method, path, body in [("GET", "/v1/adapters", None), ("GET", "/metrics", None),
                               ("POST", "/v1/predict", {"adapter": "cls-lora", "inputs": ["x"]}),
                               ("DELETE", "/v1/adapters/cls-lora", None)]:
        for token in (None, "wrong-token-wrong-token"):
            st, res, h = s.request(method, path, body, token=token)
            check(st == 401 and h.get("WWW-Authenticate") == "Bearer",
                  "%s %s with token %s: %s" % (method, path, token, st))
    st, res, _ = s.request("GET", "/v1/adapters")
    names = [a["name"] for a in res["adapters"]] if st == 200 else []
    check(names == list(ADAPTERS), "the adapters listed: %s" % names)
    for a in res.get("adapters", []):
        check(a["trainable_parameters"] > 0 and a["method"] and a["task"], "description of " + a["name"])


def test_load_unload_under_traffic(s):
    statuses, lock, stop = {}, threading.Lock(), threading.Event()

    def traffic(name):
        while not stop.is_set():
            st, res, _ = s.predict(name, INPUTS[name])
            with lock:
                statuses.setdefault(name, []).append(st)

    names = ["cls-lora", "ner-ptv2", "cls-prefix"]
    ts = [threading.Thread(target=traffic, args=(n,)) for n in names for _ in range(2)]
    [t.start() for t in ts]
    time.sleep(0.3)
    for round in range(3):
        st, res, _ = s.request("DELETE", "/v1/adapters/cls-prefix")
        check(st == 200 and res == {"unloaded": "cls-prefix"}, "unload under traffic: %s" % st)
        time.sleep(0.1)
        st, res, _ = s.request("POST", "/v1/adapters/cls-prefix",
                               {"path": os.path.join(WORK, "cls-prefix")})
        check(st == 201 and res.get("name") == "cls-prefix", "reload under traffic: %s %s" % (st, res))
        # a new name for an existing directory, through curl
        out = subprocess.run(["curl", "-s", "-w", "\n%{http_code}", "-X", "POST", "-H",
                              "Authorization: Bearer " + TOKEN, "--data-binary",
                              json.dumps({"path": os.path.join(WORK, "ner-lora")}),
                              "http://127.0.0.1:%d/v1/adapters/extra-%d" % (s.port, round)],
                             capture_output=True, text=True).stdout
        check(out.endswith("\n201"), "curl load: " + out)
        st, res, _ = s.predict("extra-%d" % round, INPUTS["ner-lora"])
        check(st == 200, "predict with a freshly loaded adapter: %s" % st)
        time.sleep(0.1)
    stop.set()
    [t.join() for t in ts]
    for name, sts in statuses.items():
        allowed = {200, 404} if name == "cls-prefix" else {200}
        check(set(sts) <= allowed and sts.count(200) > 0,
              "%s under load/unload: %s" % (name, sorted(set(sts))))
    st, res, _ = s.request("GET", "/v1/adapters")
    check(st == 200 and len(res["adapters"]) == len(ADAPTERS) + 3, "adapters after loading three")


def test_log_and_metrics(s, count_before):
    lines = [l for l in s.log_text().splitlines() if l.startswith(("GET ", "POST ", "DELETE "))]
    check(len(lines) >= count_before, "one log line per request (%d lines)" % len(lines))
    check(any(re.fullmatch(r"POST /v1/predict 200 adapter=ner-ptv2 rows=\d+ \d+\.\d ms", l)
              for l in lines), "a predict log line: %s" % lines[:2])
    st, text, h = s.request("GET", "/metrics")
    check(st == 200 and h.get("Content-Type", "").startswith("text/plain"), "metrics served")
    for want in ['ptune_requests_total{route="predict",code="200"}',
                 'ptune_requests_total{route="predict",code="422"}',
                 "ptune_request_duration_seconds_bucket{le=\"+Inf\"}", "ptune_batch_rows_count",
                 'ptune_adapter_rows_total{adapter="mc-ia3"}', "ptune_queue_depth 0",
                 "process_resident_memory_bytes"]:
        check(want in text, "metrics hold " + want)


def test_queue_full_and_deadline():
    # one slot, and a batch that waits 1.5 s for company: the second request
    # finds the queue full; a 200 ms deadline cannot be met
    # started without an OpenMP wait policy: the executable bounds the
    # spinning itself (tests/early_env.sh checks the setting)
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    s = Server("--queue-size", "1", "--max-wait-ms", "1500", adapters=["cls-lora"], token=False,
               env=env)
    try:
        first = {}
        t = threading.Thread(target=lambda: first.update(r=s.predict("cls-lora", ["a"], token=None)))
        t.start()
        time.sleep(0.5)
        st, res, h = s.predict("cls-lora", ["b"], token=None)
        check(st == 503 and h.get("Retry-After") == "1", "a full queue: %s %s" % (st, h))
        t.join()
        check(first["r"][0] == 200, "the queued request: %s" % (first["r"][0],))
        st, res, _ = s.request("POST", "/v1/predict", {"adapter": "cls-lora", "inputs": ["c"],
                                                      "timeout_ms": 200}, token=None)
        check(st == 504, "a deadline shorter than the batching wait: %s" % st)
        st, res, _ = s.request("POST", "/v1/adapters/x", {"path": WORK}, token=None)
        check(st == 401, "loading without --token-file: %s" % st)
    finally:
        check(s.stop() == 0, "exit status after SIGTERM")


def test_sigterm_drains():
    s = Server("--max-wait-ms", "400", adapters=["ner-ptv2", "cls-lora"], token=False)
    results, lock = [], threading.Lock()

    def one(k):
        name = ["ner-ptv2", "cls-lora"][k % 2]
        st, res, _ = s.predict(name, INPUTS[name], token=None)
        with lock:
            results.append(st)
    ts = [threading.Thread(target=one, args=(k,)) for k in range(8)]
    [t.start() for t in ts]
    time.sleep(0.15)  # inside the 400 ms batching wait: all 8 in flight
    s.proc.send_signal(signal.SIGTERM)
    [t.join() for t in ts]
    code = s.stop()
    check(results == [200] * 8, "requests in flight at SIGTERM: %s" % results)
    check(code == 0, "exit status after draining: %s" % code)
    log = s.log_text()
    check("finishing" in log and "stopped" in log, "the drain is logged")
    try:
        http.client.HTTPConnection("127.0.0.1", s.port, timeout=5).request("GET", "/healthz")
        check(False, "the port still accepts after the exit")
    except OSError:
        pass


# ---- results equal `ptune predict`'s --------------------------------------------
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "data")
NER_SENTENCES = [["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."],
                 ["John", "Smith", "lives", "in", "New", "York", "."], ["Paris"]]
CLS_ROWS = [("a gripping, beautifully acted film", None), ("dull and far too long", None),
            ("The cat sat.", "A cat was sitting."), ("not bad at all", "it was fine")]
QA_CONTEXT = "John Smith lives in New York. He moved there in 2001 with his two dogs."
QA_QUESTIONS = [("q1", "Where does John live?"), ("q2", "When did he move?"),
                ("q3", "How many dogs does he have?")]
MC_ROWS = [("The man broke his toe.", "cause", ["He dropped a hammer on his foot.",
                                                  "He got a hole in his sock."]),
           ("I emptied my pockets.", "effect", ["I found a coin.", "I lost my keys."]),
           ("The sun rose.", "effect", ["It got light.", "It got dark."])]


def run_predict(task, adapter_dir, rows, name, *opts):
    """`ptune predict` on a data file with `rows` (its text); the output's text."""
    data = os.path.join(WORK, name + ".data")
    out = os.path.join(WORK, name + ".out")
    with open(data, "w") as f:
        f.write(rows)
    subprocess.run([PTUNE, "predict", "--task", task, "--model", MODEL, "--adapter", adapter_dir,
                    "--data", data, "--output", out] + list(opts), check=True,
                   stderr=subprocess.DEVNULL)
    return open(out).read()


def ner_predict_tags(out):
    """The predicted (last) column of a CoNLL predictions file, per sentence."""
    sents, cur = [], []
    for line in out.splitlines():
        if line.strip():
            cur.append(line.split()[-1])
        elif cur:
            sents.append(cur)
            cur = []
    return sents + ([cur] if cur else [])


def check_ner_equal(s, name, adapter_dir):
    rows = "\n\n".join("\n".join(w + " O" for w in sent) for sent in NER_SENTENCES) + "\n"
    want = ner_predict_tags(run_predict("ner", adapter_dir, rows, name))
    st, res, _ = s.predict(name, [{"tokens": sent} for sent in NER_SENTENCES])
    got = [r["tags"] for r in res["results"]] if st == 200 else st
    check(got == want, "%s: tags %s, ptune predict's %s" % (name, got, want))


def check_cls_equal(s, name, adapter_dir):
    """Single texts, then text pairs (--text-fields a,b; a pair in a request)."""
    for fields, rows in (("a", [(a, None) for a, _ in CLS_ROWS]),
                         ("a,b", [(a, b) for a, b in CLS_ROWS if b])):
        data = "".join(json.dumps({"a": a, "b": b, "label": "x"}) + "\n" for a, b in rows)
        out = run_predict("cls", adapter_dir, data, "%s-%d" % (name, len(fields)), "--text-fields",
                          fields, "--label-field", "label")
        want = [json.loads(l)["label"] for l in out.splitlines()]
        st, res, _ = s.predict(name, [a if b is None else [a, b] for a, b in rows])
        got = [r["label"] for r in res["results"]] if st == 200 else st
        check(got == want and len(want) == len(rows),
              "%s (%s): labels %s, ptune predict's %s" % (name, fields, got, want))


def test_multitask_adapters(s):
    """Adapters of a multi-task run (ptune train --task-spec) load while
    serving and answer as `ptune predict` does with them."""
    out = os.path.join(WORK, "mt")
    conll = os.path.join(FIXTURES, "conll2003", "eng.train.excerpt")
    sst = os.path.join(FIXTURES, "glue", "SST-2.dev.excerpt.tsv")
    subprocess.run([PTUNE, "train", "--model", MODEL, "--out", out, "--max-steps", "2",
                    "--batch-size", "2", "--lr", "0.05", "--quiet", "--threads", "1",
                    "--task-spec", "ner:task=ner,train=%s,method=lora,lora-r=2,max-seq-len=64" % conll,
                    "--task-spec", "sst:task=cls,preset=sst2,train=%s,method=prefix,"
                    "num-virtual-tokens=3" % sst],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for name in ("ner", "sst"):
        st, res, _ = s.request("POST", "/v1/adapters/mt-" + name,
                               {"path": os.path.join(out, name, "last")})
        check(st == 201, "loading the multi-task run's %s adapter: %s %s" % (name, st, res))
    check_ner_equal(s, "mt-ner", os.path.join(out, "ner", "last"))
    check_cls_equal(s, "mt-sst", os.path.join(out, "sst", "last"))


def test_equal_to_predict(s):
    """Each task's results are `ptune predict`'s for the same inputs and adapter."""
    check_ner_equal(s, "ner-ptv2", os.path.join(WORK, "ner-ptv2"))
    check_ner_equal(s, "ner-lora", os.path.join(WORK, "ner-lora"))
    for name in ("cls-lora", "cls-prefix", "cls-bitfit"):
        check_cls_equal(s, name, os.path.join(WORK, name))
    # qa: SQuAD's file, {id: answer}
    squad = {"version": "1.1", "data": [{"title": "t", "paragraphs": [{
        "context": QA_CONTEXT, "qas": [{"id": i, "question": q, "answers": [
            {"text": "New York", "answer_start": QA_CONTEXT.index("New York")}]}
            for i, q in QA_QUESTIONS]}]}]}
    want = json.loads(run_predict("qa", os.path.join(WORK, "qa-prompt"), json.dumps(squad), "qa"))
    st, res, _ = s.predict("qa-prompt", [{"id": i, "question": q, "context": QA_CONTEXT}
                                         for i, q in QA_QUESTIONS])
    got = {i: r["answer"] for (i, _), r in zip(QA_QUESTIONS, res["results"])} if st == 200 else st
    check(got == want, "qa-prompt: answers %s, ptune predict's %s" % (got, want))
    # mc: COPA's rows
    rows = "".join(json.dumps({"premise": p, "question": q, "choice1": c[0], "choice2": c[1],
                               "label": 0}) + "\n" for p, q, c in MC_ROWS)
    out = run_predict("mc", os.path.join(WORK, "mc-ia3"), rows, "mc", "--preset", "copa")
    want = [json.loads(l)["label"] for l in out.splitlines()]
    st, res, _ = s.predict("mc-ia3", [{"premise": p, "question": q, "choices": c}
                                      for p, q, c in MC_ROWS])
    got = [r["label"] for r in res["results"]] if st == 200 else st
    check(got == want, "mc-ia3: choices %s, ptune predict's %s" % (got, want))


def main():
    make_adapters()
    s = Server()
    try:
        test_token(s)
        test_results_and_mixed_batches(s)
        test_errors(s)
        test_load_unload_under_traffic(s)
        test_log_and_metrics(s, 50)
        test_equal_to_predict(s)
        test_multitask_adapters(s)
    finally:
        check(s.stop() == 0, "exit status after SIGTERM")
    test_queue_full_and_deadline()
    test_sigterm_drains()
    if failures:
        print("%d check(s) failed; logs in %s" % (len(failures), WORK))
        sys.exit(1)
    shutil.rmtree(WORK)
    print("serve: every check passed")


main()
