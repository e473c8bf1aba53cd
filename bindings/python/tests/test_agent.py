"""The e2e agent (`e2e/agents/agent.py`) honours its stdin/stdout contract,
checked against a scripted loopback server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

import fractal_lba as fl
from conftest import OK_BODY, Answer, Scripted, error_body

AGENT = Path(__file__).resolve().parent.parent.parent.parent / "e2e" / "agents" / "agent.py"
Start = Callable[[list[Answer]], Scripted]


def agent(cmd: Any) -> tuple[int, list[str], str]:
    proc = subprocess.run([sys.executable, str(AGENT)], input=json.dumps(cmd).encode(),
                          capture_output=True, timeout=60, check=False)
    return proc.returncode, proc.stdout.decode().splitlines(), proc.stderr.decode()


def answer(cmd: dict[str, Any]) -> dict[str, Any]:
    code, lines, err = agent(cmd)
    assert code == 0, err
    assert len(lines) == 1, lines
    out: dict[str, Any] = json.loads(lines[0])
    return out


@pytest.mark.parametrize("alg", ["hmac", "ed25519"])
def test_sign(record: dict[str, Any], alg: str) -> None:
    seed, public = fl.generate_ed25519_keypair()
    key = "k\u00e9y" if alg == "hmac" else seed
    out = answer({"op": "sign", "alg": alg, "key": key, "record": record})
    assert out["ok"] is True
    assert {k: v for k, v in out["record"].items() if k != "sig"} == record
    verifier = fl.Verifier(hmac_keys=[key]) if alg == "hmac" else fl.Verifier(ed25519_public_keys=[public])
    verifier.verify(out["record"])


@pytest.mark.parametrize("use_async", [False, True])
def test_submit_get_health(scripted: Start, record: dict[str, Any], use_async: bool) -> None:
    srv = scripted([
        Answer(503, error_body("store_unavailable", "x")),
        Answer(202, OK_BODY, {"X-Dedup": "hit"}),
        Answer(200, OK_BODY),
        Answer(404, ""),
        Answer(200, ""),
    ])
    base = {"url": srv.url, "tenant": "acme", "async": use_async}
    out = answer({**base, "op": "submit", "alg": "hmac", "key": "k", "record": record,
                  "timeout_ms": 5000, "retry": {"max_retries": 2, "base_delay_ms": 10, "max_delay_ms": 20},
                  "jitter_seed": 3})
    assert out == {"ok": True, "status": 202, "result": json.loads(OK_BODY), "dedup_hit": True}
    assert answer({**base, "op": "get", "pcs_id": record["pcs_id"]}) == {"ok": True, "result": json.loads(OK_BODY)}
    assert answer({**base, "op": "get", "pcs_id": "0" * 64}) == {"ok": True, "result": None}
    assert answer({**base, "op": "health"}) == {"ok": True, "healthy": True}
    reqs = srv.requests()
    assert len(reqs) == 5
    fl.Verifier(hmac_keys=["k"]).verify(json.loads(reqs[0].body))


def test_sdk_errors_are_answers(scripted: Start, record: dict[str, Any]) -> None:
    srv = scripted([Answer(401, error_body("signature_invalid", "no")),
                    Answer(200, OK_BODY, delay=3.0), Answer(200, OK_BODY, delay=3.0)])
    out = answer({"op": "submit", "url": srv.url, "tenant": None, "alg": None, "key": None, "record": record})
    assert out == {"ok": False, "error": {"type": "ServerSignatureError", "kind": "signature", "status": 401,
                                          "message": "server refused the signature (signature_invalid): no"}}
    out = answer({"op": "submit", "url": srv.url, "record": record, "timeout_ms": 200,
                  "retry": {"max_retries": 1, "base_delay_ms": 10, "max_delay_ms": 20}})
    assert (out["ok"], out["error"]["type"], out["error"]["kind"], out["error"]["status"]) == (
        False, "ClientTimeoutError", "timeout", None)
    out = answer({"op": "submit", "url": srv.url, "record": dict(record, r=1.5)})
    assert (out["error"]["type"], out["error"]["kind"]) == ("ValidationError", "validation")
    assert "`r`" in out["error"]["message"]
    out = answer({"op": "sign", "alg": None, "key": None, "record": record})
    assert (out["error"]["type"], out["error"]["kind"]) == ("InvalidArgumentError", "invalid_argument")
    assert len(srv.requests()) == 3


def test_a_broken_command_is_a_non_zero_exit() -> None:
    assert agent({"op": "frobnicate"})[0] != 0
    assert agent(["not", "an", "object"])[0] != 0
