"""Fixtures of the cross-SDK end-to-end suite.

The orchestrator depends on no SDK: it drives each one through its agent
program (``e2e/agents/``) over stdin/stdout, runs the real ``fractal`` binary,
and serves scripted answers from a loopback HTTP server of its own.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
FRACTAL = Path(os.environ.get("FRACTAL_BIN", ROOT / "target" / "release" / "fractal"))
EXAMPLE = json.loads((ROOT / "server" / "examples" / "record.json").read_text())

AGENTS: dict[str, list[str]] = {
    "python": [os.environ.get("E2E_PYTHON", str(ROOT / "build" / "venv-e2e" / "bin" / "python")),
               str(ROOT / "e2e" / "agents" / "agent.py")],
    "node": ["node", str(ROOT / "e2e" / "agents" / "agent.mjs")],
    "go": [os.environ.get("E2E_GO_AGENT", str(ROOT / "build" / "e2e-agent-go"))],
    "kotlin": [os.environ.get("E2E_KOTLIN_AGENT", str(ROOT / "build" / "e2e-agent-kotlin"))],
}
SDKS = list(AGENTS)

HMAC_SECRET = "e2e-shared-secret-\u00e9"  # non-ASCII on purpose: keys are UTF-8 bytes


def pcs_id(merkle_root: str, epoch: int, shard_id: str) -> str:
    """SPEC §2, computed here independently of every SDK."""
    return hashlib.sha256(f"{merkle_root}|{epoch}|{shard_id}".encode()).hexdigest()


_counter = iter(range(1, 1 << 30))


def fresh_record(tag: str) -> dict[str, Any]:
    """The example record with a new merkle root, so a new pcs_id."""
    rec = json.loads(json.dumps(EXAMPLE))
    rec["merkle_root"] = hashlib.sha256(f"{tag}-{next(_counter)}-{time.time_ns()}".encode()).hexdigest()
    rec["pcs_id"] = pcs_id(rec["merkle_root"], rec["epoch"], rec["shard_id"])
    return rec


def run_agent(sdk: str, command: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
    proc = subprocess.run(
        AGENTS[sdk], input=json.dumps(command).encode(), capture_output=True, timeout=timeout
    )
    assert proc.returncode == 0, f"{sdk} agent failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}"
    lines = [l for l in proc.stdout.decode().splitlines() if l.strip()]
    assert lines, f"{sdk} agent printed nothing; stderr: {proc.stderr.decode()[-2000:]}"
    return json.loads(lines[-1])


@dataclass
class Server:
    url: str
    ed25519_seed: str
    ed25519_public: str


@pytest.fixture(scope="session")
def ed25519_keys() -> tuple[str, str]:
    out = subprocess.run([str(FRACTAL), "keygen"], capture_output=True, check=True)
    keys = json.loads(out.stdout)
    return keys["seed"], keys["public"]


@pytest.fixture(scope="session")
def server(ed25519_keys: tuple[str, str]) -> Iterator[Server]:
    seed, public = ed25519_keys
    with tempfile.TemporaryDirectory(prefix="fractal-e2e-") as tmp:
        cfg = Path(tmp) / "fractal.toml"
        cfg.write_text(
            f"""
listen = "127.0.0.1:0"
data_dir = "{tmp}/data"
signature_policy = "none"

[[tenants]]
id = "default"
algorithm = "none"

[[tenants]]
id = "hmac-tenant"
algorithm = "hmac"
keys = [{json.dumps(HMAC_SECRET)}]

[[tenants]]
id = "ed-tenant"
algorithm = "ed25519"
keys = ["{public}"]
"""
        )
        proc = subprocess.Popen(
            [str(FRACTAL), "serve", "--config", str(cfg)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        try:
            url = None
            deadline = time.monotonic() + 30
            assert proc.stdout is not None
            while time.monotonic() < deadline:
                line = proc.stdout.readline()
                if not line:
                    break
                m = re.search(r"listening on (http://\S+)", line)
                if m:
                    url = m.group(1)
                    break
            assert url, "fractal serve did not report its address"
            # Keep draining stdout so the server never blocks on a full pipe.
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
            yield Server(url=url, ed25519_seed=seed, ed25519_public=public)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


@dataclass
class Seen:
    at: float
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Scripted:
    """A loopback server answering one scripted reply per request."""

    url: str
    seen: list[Seen] = field(default_factory=list)
    script: list[tuple[int, dict[str, str], str, float]] = field(default_factory=list)

    def load(self, script: list[tuple[int, dict[str, str], str, float]]) -> None:
        self.seen.clear()
        self.script[:] = script


@pytest.fixture()
def scripted() -> Iterator[Scripted]:
    state = Scripted(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                state.seen.append(Seen(time.monotonic(), self.command, self.path,
                                       {k.lower(): v for k, v in self.headers.items()}, body))
                status, headers, reply, delay = state.script.pop(0) if state.script else (
                    500, {}, '{"error":{"code":"script_exhausted","message":"no more answers"}}', 0.0)
            if delay:
                time.sleep(delay)
            data = reply.encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test)

        do_GET = _answer
        do_POST = _answer

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


def backoff_schedule(seed: int, base_ms: int, cap_ms: int) -> list[int]:
    """The delays (ms) golden/client/protocol.json gives for a seed and 3 retries:
    every SDK must sleep at least these (the vectors are checked by the oracle)."""
    groups = json.loads((ROOT / "golden" / "client" / "protocol.json").read_text())["testGroups"]
    want = {"max_retries": 3, "base_delay_ms": base_ms, "max_delay_ms": cap_ms}
    case = next(t for g in groups if g["type"] == "backoff" for t in g["tests"]
                if t["seed"] == str(seed) and want.items() <= t["policy"].items())
    return [c["delay_ms"] for c in case["calls"] if c["delay_ms"] is not None]
