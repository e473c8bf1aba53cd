"""Shared fixtures. The suite runs against the *installed* wheel: `make test-python`
runs pytest from a temporary directory with --import-mode=importlib, so neither
this folder nor the source package is on sys.path."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
# Relative to this file: bindings/python/tests -> repository root.
GOLDEN = HERE / ".." / ".." / ".." / "golden"
BENCH = HERE / ".." / "bench" / "bench.py"


def load_reference() -> ModuleType:
    """The pure-Python SPEC §3–4 implementation of the benchmark, as an oracle."""
    spec = importlib.util.spec_from_file_location("fractal_bench_reference", BENCH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def ref() -> ModuleType:
    return load_reference()


def sample_record() -> dict[str, Any]:
    """The seed's sample record (SPEC §3 example), written out by hand."""
    import hashlib

    merkle_root = "a" * 64
    return {
        "pcs_id": hashlib.sha256(f"{merkle_root}|1|shard-001".encode()).hexdigest(),
        "schema": "fractal-lba-kakeya",
        "version": "0.1",
        "shard_id": "shard-001",
        "epoch": 1,
        "attempt": 1,
        "sent_at": "2025-01-01T00:00:00Z",
        "seed": 42,
        "scales": [2, 4, 8, 16, 32],
        "N_j": {"2": 3, "4": 5, "8": 9, "16": 17, "32": 31},
        "coh_star": 0.73,
        "v_star": [0.12, 0.98],
        "D_hat": 1.41,
        "r": 0.87,
        "regime": "mixed",
        "budget": 0.42,
        "merkle_root": merkle_root,
        "ft": {"outbox_seq": 7, "degraded": False, "fallbacks": ["a"], "clock_skew_ms": -3},
    }


@pytest.fixture
def record() -> dict[str, Any]:
    return sample_record()


def golden_files() -> list[Path]:
    return sorted(GOLDEN.glob("*.json"))


def load_golden(name: str) -> dict[str, Any]:
    with open(GOLDEN / name, encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


def golden_cases(name: str) -> list[Any]:
    """pytest params `(group, test)` for every test of every group of a file."""
    path = GOLDEN / name
    if not path.exists():
        return [pytest.param(None, None, id=f"{name}:missing")]
    data = load_golden(name)
    return [
        pytest.param(group, test, id=f"{name}:{test['tcId']}")
        for group in data["testGroups"]
        for test in group["tests"]
    ]


# --- A scripted HTTP server on loopback, for the client tests ---------------------

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator, Optional


@dataclass
class Answer:
    """One scripted answer: status, extra headers, body, and a delay before it."""

    status: int
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    # Called (in the server thread) before answering; for rendezvous tests.
    before: Optional[Callable[[], None]] = None


@dataclass
class Seen:
    """One request as it arrived."""

    at: float
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    client_port: int


OK_BODY = '{"accepted":true,"escalated":false,"recomputed_D_hat":1.41,"recomputed_budget":0.42}'
ESCALATED_BODY = '{"accepted":true,"escalated":true,"reason":"regime mismatch"}'


def error_body(code: str, message: str) -> str:
    return json.dumps({"error": {"code": code, "message": message}})


class Scripted:
    """Answers each request with the next scripted answer (a 599 once the script
    is used up, so that an unexpected extra request fails the test) and records
    what arrived, with its arrival time."""

    def __init__(self, script: list[Answer]) -> None:
        self.script = list(script)
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is visible

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with outer.lock:
                    outer.seen.append(Seen(time.monotonic(), self.command, self.path,
                                           {k.lower(): v for k, v in self.headers.items()},
                                           body, self.client_address[1]))
                    answer = outer.script.pop(0) if outer.script else Answer(599, "script exhausted")
                if answer.before is not None:
                    answer.before()
                if answer.delay:
                    time.sleep(answer.delay)
                data = answer.body.encode()
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in answer.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (timeout, cancellation)

            do_GET = _handle
            do_POST = _handle

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def requests(self) -> list[Seen]:
        with self.lock:
            return list(self.seen)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted() -> Iterator[Callable[[list[Answer]], Scripted]]:
    servers: list[Scripted] = []

    def start(script: list[Answer]) -> Scripted:
        s = Scripted(script)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.close()


def backoff_schedule(seed: int, base_ms: int, cap_ms: int) -> list[int]:
    """The delays (ms) golden/client/protocol.json gives for a seed and 3 retries."""
    groups = json.loads((GOLDEN / "client" / "protocol.json").read_text())["testGroups"]
    want = {"max_retries": 3, "base_delay_ms": base_ms, "max_delay_ms": cap_ms}
    case = next(t for g in groups if g["type"] == "backoff" for t in g["tests"]
                if t["seed"] == str(seed) and want.items() <= t["policy"].items())
    return [c["delay_ms"] for c in case["calls"] if c["delay_ms"] is not None]
