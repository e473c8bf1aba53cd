"""The Python SDK's agent for the cross-SDK end-to-end suite.

Reads ONE JSON command from stdin, runs it with ``fractal_lba`` and writes ONE
JSON object on one line to stdout. Exit code 0 whenever the command ran, also
when the SDK raised (the error is the answer); non-zero only if the agent itself
is broken (unreadable command, unknown op, a bug).

Command: ``op`` ("sign" | "submit" | "get" | "health"), ``url``, ``tenant``,
``alg`` ("hmac" | "ed25519" | null), ``key``, ``record``, ``pcs_id``,
``timeout_ms`` (per attempt), ``retry`` ({max_retries, base_delay_ms,
max_delay_ms}), ``jitter_seed``. Python only, ignored elsewhere: ``"async":
true`` runs submit/get/health through ``AsyncClient`` instead of ``Client``.

Run: ``build/venv-test/bin/python e2e/agents/agent.py < command.json``.
Nothing here prints a record or a key: only results and error messages.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import fractal_lba as fl


def client_options(cmd: dict[str, Any]) -> dict[str, Any]:
    opts: dict[str, Any] = {"tenant": cmd.get("tenant"), "alg": cmd.get("alg"), "key": cmd.get("key")}
    if cmd.get("timeout_ms") is not None:
        opts["timeout"] = cmd["timeout_ms"] / 1000
    retry = cmd.get("retry") or {}
    if retry.get("max_retries") is not None:
        opts["max_retries"] = retry["max_retries"]
    if retry.get("base_delay_ms") is not None:
        opts["base_delay"] = retry["base_delay_ms"] / 1000
    if retry.get("max_delay_ms") is not None:
        opts["max_delay"] = retry["max_delay_ms"] / 1000
    if cmd.get("jitter_seed") is not None:
        opts["jitter_seed"] = cmd["jitter_seed"]
    return opts


def sign(cmd: dict[str, Any]) -> dict[str, Any]:
    record, alg, key = cmd.get("record"), cmd.get("alg"), cmd.get("key")
    if alg == "hmac":
        sig = fl.sign_hmac(record, key)  # type: ignore[arg-type]
    elif alg == "ed25519":
        sig = fl.sign_ed25519(record, key)  # type: ignore[arg-type]
    else:
        err = fl.InvalidArgumentError('invalid argument `alg`: must be "hmac" or "ed25519" to sign')
        err.field = "alg"
        raise err
    return {"ok": True, "record": dict(record, sig=sig)}  # type: ignore[arg-type]


async def call_async(cmd: dict[str, Any], op: str) -> dict[str, Any]:
    client = fl.AsyncClient(cmd["url"], **client_options(cmd))
    if op == "submit":
        return {"ok": True, **(await client.submit(cmd["record"])).to_dict()}
    if op == "get":
        return {"ok": True, "result": await client.get(cmd["pcs_id"])}
    return {"ok": True, "healthy": await client.health()}


def call(cmd: dict[str, Any], op: str) -> dict[str, Any]:
    if cmd.get("async"):
        return asyncio.run(call_async(cmd, op))
    client = fl.Client(cmd["url"], **client_options(cmd))
    if op == "submit":
        return {"ok": True, **client.submit(cmd["record"]).to_dict()}
    if op == "get":
        return {"ok": True, "result": client.get(cmd["pcs_id"])}
    return {"ok": True, "healthy": client.health()}


def run(cmd: dict[str, Any]) -> dict[str, Any]:
    op = cmd.get("op")
    try:
        if op == "sign":
            return sign(cmd)
        if op in ("submit", "get", "health"):
            return call(cmd, op)
    except fl.FractalError as e:
        return {"ok": False, "error": {"type": type(e).__name__, "kind": e.kind,
                                       "status": e.status, "message": str(e)}}
    raise SystemExit(f"agent: unknown op {op!r}")


def main() -> None:
    cmd = json.loads(sys.stdin.read())
    if not isinstance(cmd, dict):
        raise SystemExit("agent: the command must be a JSON object")
    sys.stdout.write(json.dumps(run(cmd), separators=(",", ":"), allow_nan=False) + "\n")


if __name__ == "__main__":
    main()
