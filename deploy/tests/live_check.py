"""Checks of deploy/ and docs/openapi.json against a live `fractal serve` (make test-ops).

Starts the real server on a loopback port with a temporary data dir and a config
with three tenants (`default`: no signatures; `acme`: HMAC; `tiny`: a daily quota
of 2) and Basic auth on /metrics, then:

1. `GET /openapi.json` is byte for byte docs/openapi.json, and every documented
   operation is routed (an undocumented method on it gets 405, not the 404 fallback);
2. schemathesis, generated from docs/openapi.json, runs against the server (once
   with generated tenants, once as the HMAC tenant): no 5xx, no undocumented
   status, content type or header, no body that contradicts its schema;
3. hand-made traffic that reaches every documented answer schemathesis cannot make
   by itself (signed submits and reads, dedup hits, 413, 415, 429, metrics 401) is
   checked against the same schemas (jsonschema);
4. every metric the Grafana dashboards query is exported by the server after that
   traffic, and every dashboard query is valid PromQL (`promtool check rules`).

Usage: live_check.py --fractal BIN --schemathesis BIN --promtool BIN [--max-examples N]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = ROOT / "docs" / "openapi.json"
DASHBOARDS = sorted((ROOT / "deploy" / "grafana").glob("*.json"))
RECORD = json.loads((ROOT / "server" / "examples" / "record.json").read_text())
HMAC_KEY = "ops-check-hmac-key"
METRICS_USER, METRICS_PASSWORD = "prometheus", "ops-check-metrics-password"

CONFIG = f"""
signature_policy = "none"
body_limit = 4096
[store]
checkpoint_secs = 1
[metrics]
username = "{METRICS_USER}"
password_env = "OPS_CHECK_METRICS_PASSWORD"
[[tenants]]
id = "default"
algorithm = "none"
cors_origins = ["https://app.example"]
[[tenants]]
id = "acme"
algorithm = "hmac"
keys = ["{HMAC_KEY}"]
[[tenants]]
id = "tiny"
algorithm = "none"
daily_quota = 2
"""

FAILURES: list[str] = []


def fail(msg: str) -> None:
    FAILURES.append(msg)
    print(f"FAIL: {msg}", file=sys.stderr)


class Server:
    """`fractal serve` on 127.0.0.1:0 in a temp dir; stopped with SIGTERM."""

    def __init__(self, fractal: str) -> None:
        self.dir = tempfile.TemporaryDirectory(prefix="fractal-ops-")
        cfg = Path(self.dir.name) / "config.toml"
        cfg.write_text(CONFIG)
        env = dict(os.environ, OPS_CHECK_METRICS_PASSWORD=METRICS_PASSWORD, FRACTAL_LOG="warn")
        self.stderr = open(Path(self.dir.name) / "stderr.log", "w+")
        self.proc = subprocess.Popen(
            [fractal, "serve", "--config", str(cfg), "--listen", "127.0.0.1:0", "--data-dir", f"{self.dir.name}/data"],
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            env=env,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        m = re.search(r"listening on (http://\S+)", line)
        if not m:
            self.proc.kill()
            self.stderr.seek(0)
            raise SystemExit(f"fractal serve did not start: {line!r} {self.stderr.read()}")
        self.url = m.group(1)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
            fail("fractal serve did not stop within 30 s of SIGTERM")
        if code != 0:
            self.stderr.seek(0)
            fail(f"fractal serve exited {code} after SIGTERM: {self.stderr.read()[-2000:]}")
        self.dir.cleanup()


def request(
    url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def pcs_id(merkle_root: str, epoch: int, shard_id: str) -> str:
    return hashlib.sha256(f"{merkle_root}|{epoch}|{shard_id}".encode()).hexdigest()


def record(i: int) -> dict[str, Any]:
    r = dict(RECORD, epoch=1000 + i, shard_id=f"ops-{i}")
    r["pcs_id"] = pcs_id(r["merkle_root"], r["epoch"], r["shard_id"])
    return r


def read_authorization(tenant: str, pid: str, key: str, t: int) -> str:
    """SPEC §6.1 with the standard library."""
    digest = hashlib.sha256(f"fractal-lba/read/v1\n{tenant}\n{pid}\n{t}".encode()).digest()
    return f"Fractal t={t}, sig={base64.b64encode(hmac.new(key.encode(), digest, hashlib.sha256).digest()).decode()}"


class Spec:
    """The committed OpenAPI document and its response schemas."""

    def __init__(self) -> None:
        self.doc = json.loads(OPENAPI.read_text())

    def resolve(self, node: Any) -> Any:
        while isinstance(node, dict) and "$ref" in node:
            node = self.resolve_ref(node["$ref"])
        return node

    def resolve_ref(self, ref: str) -> Any:
        node = self.doc
        for key in ref.removeprefix("#/").split("/"):
            node = node[key]
        return node

    def check(self, label: str, path: str, method: str, status: int, headers: dict[str, str], body: bytes) -> None:
        """Fails unless the answer is one the document describes, schema and headers included."""
        op = self.doc["paths"][path][method]
        resp = op["responses"].get(str(status))
        if resp is None:
            return fail(f"{label}: {method.upper()} {path} answered {status}, not in {sorted(op['responses'])}")
        resp = self.resolve(resp)
        for name, h in resp.get("headers", {}).items():
            h = self.resolve(h)
            value = headers.get(name.lower())
            if value is None:
                if h.get("required"):
                    fail(f"{label}: {status} lacks the required header {name}")
                continue
            try:
                jsonschema.validate(value, h["schema"])
            except jsonschema.ValidationError as e:
                fail(f"{label}: header {name}: {e.message}")
        if "content" not in resp:
            if body:
                fail(f"{label}: {status} is documented without a body, got {body[:80]!r}")
            return
        (ctype, media), = resp["content"].items()
        got = headers.get("content-type", "").split(";")[0].strip()
        if got != ctype:
            return fail(f"{label}: content type {got!r}, documented {ctype!r}")
        if ctype == "application/json":
            schema = dict(media["schema"], components=self.doc["components"])
            try:
                jsonschema.validate(json.loads(body), schema, cls=jsonschema.Draft202012Validator)
            except (jsonschema.ValidationError, ValueError) as e:
                fail(f"{label}: body does not match the schema of {status}: {getattr(e, 'message', e)}")


def check_document(srv: Server) -> None:
    status, headers, body = request(f"{srv.url}/openapi.json")
    if status != 200 or body != OPENAPI.read_bytes():
        fail("GET /openapi.json differs from docs/openapi.json (run `make openapi`)")
    spec = json.loads(body)
    for path, ops in spec["paths"].items():
        concrete = path.replace("{pcs_id}", "0" * 64)
        undocumented = "delete" if "delete" not in ops else "patch"
        status, _, body = request(f"{srv.url}{concrete}", method=undocumented.upper())
        if status != 405:
            fail(f"{undocumented.upper()} {path}: {status} {body[:80]!r}, expected 405 (is the path routed?)")
    print(f"openapi: served document is docs/openapi.json; {len(spec['paths'])} documented paths are routed")


def statuses(srv: Server) -> dict[str, float]:
    creds = base64.b64encode(f"{METRICS_USER}:{METRICS_PASSWORD}".encode()).decode()
    _, _, body = request(f"{srv.url}/metrics", headers={"Authorization": f"Basic {creds}"})
    found = re.findall(r'^flk_http_responses_total\{status="(\w+)"\} (\S+)$', body.decode(), re.M)
    return {k: float(v) for k, v in found}


def run_schemathesis(srv: Server, st: str, max_examples: int) -> None:
    checks = ",".join(
        [
            "not_a_server_error",
            "status_code_conformance",
            "content_type_conformance",
            "response_headers_conformance",
            "response_schema_conformance",
        ]
    )
    base = [st, "run", str(OPENAPI), "--url", srv.url, "--checks", checks, "--max-examples", str(max_examples)]
    # One worker: with several threads, CPython 3.11's ast.parse (which hypothesis calls to
    # describe its filters) can fail with "AST constructor recursion depth mismatch".
    base += ["--seed", "20240601", "--workers", "1", "--no-color", "--suppress-health-check", "all"]
    for label, extra in [("generated tenants", []), ("HMAC tenant", ["-H", "X-Tenant-Id: acme"])]:
        started, before = time.monotonic(), statuses(srv)
        proc = subprocess.run(base + extra, capture_output=True, text=True)
        after = statuses(srv)
        seen = {k: int(after[k] - before.get(k, 0)) for k in sorted(after) if after[k] > before.get(k, 0)}
        tail = "\n".join(proc.stdout.strip().splitlines()[-6:])
        print(f"schemathesis ({label}, {time.monotonic() - started:.0f} s; submit/read answers by status {seen}):\n{tail}")
        if proc.returncode != 0:
            print(proc.stdout[-20000:], proc.stderr[-5000:], sep="\n", file=sys.stderr)
            fail(f"schemathesis ({label}) found answers that contradict docs/openapi.json")


def traffic(srv: Server, spec: Spec) -> None:
    """Every documented answer schemathesis does not reach by itself, checked against the document."""
    submit, get = "/v1/pcs/submit", "/v1/pcs/{pcs_id}"
    json_ct = {"Content-Type": "application/json"}
    n = 0

    def check(label: str, path: str, method: str, url: str, expect: int, **kw: Any) -> dict[str, str]:
        nonlocal n
        status, headers, body = request(srv.url + url, method=method.upper(), **kw)
        n += 1
        if status != expect:
            fail(f"{label}: {status} {body[:200]!r}, expected {expect}")
        spec.check(label, path, method, status, headers, body)
        return headers

    # Default tenant, no signatures: a first submit, then its dedup hit, then the read.
    r = record(1)
    body = json.dumps(r).encode()
    check("submit", submit, "post", submit, 200, body=body, headers=json_ct)
    h = check("dedup hit", submit, "post", submit, 200, body=body, headers=json_ct)
    if h.get("x-dedup") != "hit":
        fail("a duplicate submit lacks X-Dedup: hit")
    check("read", get, "get", f"/v1/pcs/{r['pcs_id']}", 200)
    check("read missing", get, "get", f"/v1/pcs/{'0' * 64}", 404)
    # An escalated record (budget far from its recomputation): 202.
    esc = dict(record(2), budget=0.9)
    check("escalated", submit, "post", submit, 202, body=json.dumps(esc).encode(), headers=json_ct)
    # Refusals.
    check("bad json", submit, "post", submit, 400, body=b"{", headers=json_ct)
    check("bad field", submit, "post", submit, 400, body=json.dumps(dict(r, epoch=-1)).encode(), headers=json_ct)
    check("media type", submit, "post", submit, 415, body=body, headers={"Content-Type": "text/plain"})
    check("too large", submit, "post", submit, 413, body=b" " * 5000, headers=json_ct)
    check("unknown tenant", submit, "post", submit, 403, body=body, headers={**json_ct, "X-Tenant-Id": "nobody"})
    check("unknown tenant read", get, "get", f"/v1/pcs/{r['pcs_id']}", 403, headers={"X-Tenant-Id": "nobody"})
    # Quota: the third authenticated submission of `tiny` today is refused.
    for i in range(3):
        rec = json.dumps(record(10 + i)).encode()
        check(f"quota {i}", submit, "post", submit, 429 if i == 2 else 200, body=rec, headers={**json_ct, "X-Tenant-Id": "tiny"})
    # HMAC tenant: unsigned and wrongly signed refused; a v2-signed record stored,
    # read with a signed read, refused without one.
    acme = {**json_ct, "X-Tenant-Id": "acme"}
    signed_rec = record(20)
    check("unsigned", submit, "post", submit, 401, body=json.dumps(signed_rec).encode(), headers=acme)
    check("bad sig", submit, "post", submit, 401, body=json.dumps(dict(signed_rec, sig="v2:AAAA")).encode(), headers=acme)
    signed = subprocess.run(
        [FRACTAL, "sign", "--key-env", "OPS_CHECK_HMAC"],
        input=json.dumps(signed_rec),
        capture_output=True,
        text=True,
        env=dict(os.environ, OPS_CHECK_HMAC=HMAC_KEY),
        check=True,
    ).stdout.encode()
    check("signed", submit, "post", submit, 200, body=signed, headers=acme)
    pid = signed_rec["pcs_id"]
    check("unsigned read", get, "get", f"/v1/pcs/{pid}", 401, headers={"X-Tenant-Id": "acme"})
    auth = read_authorization("acme", pid, HMAC_KEY, int(time.time()))
    check("signed read", get, "get", f"/v1/pcs/{pid}", 200, headers={"X-Tenant-Id": "acme", "Authorization": auth})
    # Tenants are isolated: the default tenant does not see acme's outcome.
    check("isolation", get, "get", f"/v1/pcs/{pid}", 404)
    # CORS: a preflight from a listed origin is granted; an answer to that origin carries it.
    pre = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    h = check("preflight", submit, "options", submit, 204, headers=pre)
    if h.get("access-control-allow-origin") != "https://app.example":
        fail("a preflight from a listed origin lacks Access-Control-Allow-Origin")
    check("preflight read", get, "options", f"/v1/pcs/{r['pcs_id']}", 204, headers=pre)
    # Probes and metrics.
    check("health", "/health", "get", "/health", 200)
    check("ready", "/ready", "get", "/ready", 200)
    check("metrics unauthenticated", "/metrics", "get", "/metrics", 401)
    creds = base64.b64encode(f"{METRICS_USER}:{METRICS_PASSWORD}".encode()).decode()
    check("metrics", "/metrics", "get", "/metrics", 200, headers={"Authorization": f"Basic {creds}"})
    check("openapi", "/openapi.json", "get", "/openapi.json", 200)
    print(f"traffic: {n} requests, every answer matches docs/openapi.json")


# PromQL words that are not metric names.
PROMQL_WORDS = set(
    """sum min max avg group stddev stdvar count count_values bottomk topk quantile by without on ignoring
    group_left group_right bool and or unless offset rate irate increase delta idelta deriv predict_linear
    histogram_quantile histogram_count histogram_sum histogram_fraction abs absent absent_over_time ceil
    floor round clamp clamp_min clamp_max exp ln log2 log10 sqrt label_replace label_join sort sort_desc
    time timestamp vector scalar resets changes avg_over_time min_over_time max_over_time sum_over_time
    count_over_time quantile_over_time last_over_time present_over_time stddev_over_time inf nan""".split()
)


def dashboard_queries() -> list[tuple[str, str]]:
    out = []
    for path in DASHBOARDS:
        dash = json.loads(path.read_text())

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                if isinstance(node.get("expr"), str) and node["expr"].strip():
                    out.append((path.name, node["expr"]))
                if isinstance(node.get("query"), dict) and "query" in node["query"]:
                    out.append((path.name, node["query"]["query"]))
                for v in node.values():
                    walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)

        walk(dash)
    return out


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression (or a label_values() variable query) reads."""
    m = re.fullmatch(r"\s*label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)?.*\)\s*", expr, re.S)
    if m:
        return {m.group(1)} if m.group(1) else set()
    e = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)  # strings
    e = re.sub(r"\{[^}]*\}", " ", e)  # label matchers
    e = re.sub(r"\[[^\]]*\]", " ", e)  # ranges
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\$\{?\w+\}?", " ", e)  # dashboard variables
    names = set()
    for tok in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", e):
        if tok.group(1).lower() not in PROMQL_WORDS and not re.fullmatch(r"\d+[smhdwy]", tok.group(1)):
            names.add(tok.group(1))
    return names


def check_dashboards(srv: Server, promtool: str) -> None:
    creds = base64.b64encode(f"{METRICS_USER}:{METRICS_PASSWORD}".encode()).decode()
    status, _, body = request(f"{srv.url}/metrics", headers={"Authorization": f"Basic {creds}"})
    exported = {
        line.split("{")[0].split(" ")[0]
        for line in body.decode().splitlines()
        if line and not line.startswith("#")
    }
    queries = dashboard_queries()
    if not DASHBOARDS or not queries:
        return fail("no Grafana dashboard queries found under deploy/grafana/")
    used: set[str] = set()
    for name, expr in queries:
        names = metric_names(expr)
        if not names:
            fail(f"{name}: query names no metric: {expr!r}")
        for metric in names - exported:
            fail(f"{name}: {metric} is not exported by the server (query {expr!r})")
        used |= names
    # Every query is valid PromQL: promtool parses each as a recording rule.
    rules = {"groups": [{"name": "dashboard", "rules": []}]}
    for i, (_, expr) in enumerate(queries):
        if expr.strip().startswith("label_values("):
            continue
        e = expr.replace("$__rate_interval", "5m").replace("$__interval", "1m")
        e = re.sub(r"\$\{?(\w+)\}?", ".*", e)
        rules["groups"][0]["rules"].append({"record": f"dashboard:query_{i}", "expr": e})
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        yaml.safe_dump(rules, f)
    proc = subprocess.run([promtool, "check", "rules", f.name], capture_output=True, text=True)
    os.unlink(f.name)
    if proc.returncode != 0:
        fail(f"a dashboard query is not valid PromQL:\n{proc.stdout}{proc.stderr}")
    print(f"grafana: {len(queries)} queries in {len(DASHBOARDS)} dashboard(s) read {len(used)} metrics, all exported; PromQL valid")


def main() -> int:
    global FRACTAL
    ap = argparse.ArgumentParser()
    ap.add_argument("--fractal", required=True)
    ap.add_argument("--schemathesis", required=True)
    ap.add_argument("--promtool", required=True)
    ap.add_argument("--max-examples", type=int, default=30)
    args = ap.parse_args()
    FRACTAL = args.fractal
    spec = Spec()
    srv = Server(args.fractal)
    try:
        check_document(srv)
        traffic(srv, spec)
        run_schemathesis(srv, args.schemathesis, args.max_examples)
        check_dashboards(srv, args.promtool)
    finally:
        srv.stop()
    if FAILURES:
        print(f"live checks: {len(FAILURES)} failed", file=sys.stderr)
        return 1
    print("live checks: all passed")
    return 0


FRACTAL = ""

if __name__ == "__main__":
    sys.exit(main())
