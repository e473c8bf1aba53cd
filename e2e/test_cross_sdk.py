"""Cross-SDK end-to-end tests: Python, Node, Go and Kotlin against the real server and
against a scripted loopback server (retries, timeouts)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.request
from typing import Any

import pytest

from conftest import HMAC_SECRET, SDKS, Scripted, Server, backoff_schedule, fresh_record, run_agent

OK_BODY = '{"accepted":true,"escalated":false,"recomputed_D_hat":0.866733469,"recomputed_budget":0.285}'


def tenant_and_key(server: Server, alg: str) -> tuple[str, str]:
    return ("hmac-tenant", HMAC_SECRET) if alg == "hmac" else ("ed-tenant", server.ed25519_seed)


def ok(answer: dict[str, Any]) -> dict[str, Any]:
    assert answer.get("ok") is True, answer
    return answer


def read_authorization(tenant: str, pcs_id: str, key: str, t: int) -> str:
    """SPEC §6.1 written out here with the standard library, independent of every SDK."""
    digest = hashlib.sha256(f"fractal-lba/read/v1\n{tenant}\n{pcs_id}\n{t}".encode()).digest()
    mac = hmac.new(key.encode(), digest, hashlib.sha256).digest()
    return f"Fractal t={t}, sig={base64.b64encode(mac).decode()}"


def raw_get(server: Server, tenant: str, pcs_id: str, hmac_key: str | None = None) -> tuple[int, Any]:
    headers = {"X-Tenant-Id": tenant}
    if hmac_key is not None:
        headers["Authorization"] = read_authorization(tenant, pcs_id, hmac_key, int(time.time()))
    req = urllib.request.Request(f"{server.url}/v1/pcs/{pcs_id}", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


# --- against the real server -------------------------------------------------


@pytest.mark.parametrize("alg", ["hmac", "ed25519"])
def test_same_record_from_every_sdk_stores_once(server: Server, alg: str) -> None:
    tenant, key = tenant_and_key(server, alg)
    rec = fresh_record(f"same-{alg}")
    answers = {
        sdk: ok(run_agent(sdk, {"op": "submit", "url": server.url, "tenant": tenant, "alg": alg,
                                "key": key, "record": rec}))
        for sdk in SDKS
    }
    first, *others = SDKS
    assert answers[first]["dedup_hit"] is False
    assert answers[first]["status"] == 200
    assert answers[first]["result"]["accepted"] is True
    for sdk in others:
        assert answers[sdk]["dedup_hit"] is True, sdk
        assert answers[sdk]["status"] == answers[first]["status"], sdk
        assert answers[sdk]["result"] == answers[first]["result"], sdk
    # Every SDK reads back the same stored outcome, signing its read (SPEC §6.1);
    # so does a plain HTTP client that signs with the standard library.
    for sdk in SDKS:
        got = ok(run_agent(sdk, {"op": "get", "url": server.url, "tenant": tenant, "alg": alg, "key": key,
                                 "pcs_id": rec["pcs_id"]}))
        assert got["result"] == answers[first]["result"], sdk
        unsigned = run_agent(sdk, {"op": "get", "url": server.url, "tenant": tenant, "pcs_id": rec["pcs_id"]})
        assert unsigned["ok"] is False and unsigned["error"]["status"] == 401, (sdk, unsigned)
    status, body = raw_get(server, tenant, rec["pcs_id"])
    assert (status, body["error"]["code"]) == (401, "signature_missing")
    if alg == "hmac":
        assert raw_get(server, tenant, rec["pcs_id"], HMAC_SECRET) == (200, answers[first]["result"])
        assert raw_get(server, tenant, rec["pcs_id"], "not-the-key")[0] == 401
    # Another tenant cannot see it.
    assert raw_get(server, "default", rec["pcs_id"])[0] == 404


@pytest.mark.parametrize("alg", ["hmac", "ed25519"])
def test_every_sdk_signs_the_same_bytes(server: Server, alg: str) -> None:
    _, key = tenant_and_key(server, alg)
    rec = fresh_record(f"bytes-{alg}")
    sigs = {sdk: ok(run_agent(sdk, {"op": "sign", "alg": alg, "key": key, "record": rec}))["record"]["sig"]
            for sdk in SDKS}
    assert len(set(sigs.values())) == 1, sigs


@pytest.mark.parametrize("alg", ["hmac", "ed25519"])
@pytest.mark.parametrize("signer", SDKS)
def test_records_signed_by_one_sdk_are_accepted_when_submitted_by_any(server: Server, alg: str, signer: str) -> None:
    tenant, key = tenant_and_key(server, alg)
    for submitter in SDKS:
        rec = fresh_record(f"cross-{alg}-{signer}-{submitter}")
        signed = ok(run_agent(signer, {"op": "sign", "alg": alg, "key": key, "record": rec}))["record"]
        answer = ok(run_agent(submitter, {"op": "submit", "url": server.url, "tenant": tenant, "alg": None,
                                          "key": None, "record": signed}))
        assert (answer["status"], answer["dedup_hit"]) == (200, False), (signer, submitter, answer)
        # The same signature on a record with one signed field changed is refused.
        tampered = dict(signed, budget=round(signed["budget"] + 0.001, 6))
        refused = run_agent(submitter, {"op": "submit", "url": server.url, "tenant": tenant, "alg": None,
                                        "key": None, "record": tampered})
        assert refused["ok"] is False, refused
        assert (refused["error"]["kind"], refused["error"]["status"]) == ("signature", 401), refused


# --- against a scripted server -----------------------------------------------


def submit_to(scripted: Scripted, sdk: str, **extra: Any) -> dict[str, Any]:
    cmd = {"op": "submit", "url": scripted.url, "tenant": "acme", "alg": "hmac", "key": "k",
           "record": fresh_record("scripted")}
    cmd.update(extra)
    return run_agent(sdk, cmd)


def gaps(scripted: Scripted) -> list[float]:
    return [b.at - a.at for a, b in zip(scripted.seen, scripted.seen[1:])]


@pytest.mark.parametrize("sdk", SDKS)
def test_retry_after_is_honoured_on_503_and_429(scripted: Scripted, sdk: str) -> None:
    scripted.load([
        (503, {"Retry-After": "1"}, '{"error":{"code":"store_unavailable","message":"later"}}', 0),
        (429, {"Retry-After": "1"}, '{"error":{"code":"rate_limited","message":"slow down"}}', 0),
        (200, {}, OK_BODY, 0),
    ])
    answer = ok(submit_to(scripted, sdk))
    assert answer["status"] == 200
    assert len(scripted.seen) == 3
    assert all(g >= 0.95 for g in gaps(scripted)), gaps(scripted)
    # Every attempt is the same request.
    assert len({s.body for s in scripted.seen}) == 1
    first = scripted.seen[0]
    assert (first.method, first.path) == ("POST", "/v1/pcs/submit")
    assert first.headers["content-type"] == "application/json"
    assert first.headers["x-tenant-id"] == "acme"
    assert first.headers["user-agent"].startswith(f"fractal-lba-{sdk}/")


@pytest.mark.parametrize("sdk", SDKS)
def test_every_sdk_follows_the_same_jittered_schedule(scripted: Scripted, sdk: str) -> None:
    seed, base, cap = 424242, 400, 1500
    expected = backoff_schedule(seed, base, cap)
    down = '{"error":{"code":"store_unavailable","message":"later"}}'
    scripted.load([(503, {}, down, 0)] * 3 + [(202, {}, OK_BODY, 0)])
    answer = ok(submit_to(scripted, sdk, retry={"max_retries": 3, "base_delay_ms": base, "max_delay_ms": cap},
                          jitter_seed=seed))
    assert answer["status"] == 202
    assert len(scripted.seen) == 4
    for got, want in zip(gaps(scripted), expected):
        assert want / 1000 - 0.01 <= got <= want / 1000 + 0.4, (gaps(scripted), expected)


@pytest.mark.parametrize("sdk", SDKS)
def test_gives_up_after_max_retries(scripted: Scripted, sdk: str) -> None:
    down = '{"error":{"code":"store_unavailable","message":"later"}}'
    scripted.load([(503, {}, down, 0)] * 5)
    answer = submit_to(scripted, sdk, retry={"max_retries": 2, "base_delay_ms": 10, "max_delay_ms": 20})
    assert answer["ok"] is False
    assert (answer["error"]["kind"], answer["error"]["status"]) == ("api", 503), answer
    assert len(scripted.seen) == 3


@pytest.mark.parametrize("sdk", SDKS)
@pytest.mark.parametrize("status,code,kind", [(401, "signature_invalid", "signature"), (400, "invalid_field", "invalid")])
def test_400_and_401_are_never_retried(scripted: Scripted, sdk: str, status: int, code: str, kind: str) -> None:
    scripted.load([(status, {}, json.dumps({"error": {"code": code, "message": "field `r`"}}), 0),
                   (200, {}, OK_BODY, 0)])
    answer = submit_to(scripted, sdk, retry={"max_retries": 3, "base_delay_ms": 10, "max_delay_ms": 20})
    assert answer["ok"] is False
    assert (answer["error"]["kind"], answer["error"]["status"]) == (kind, status), answer
    assert len(scripted.seen) == 1


@pytest.mark.parametrize("sdk", SDKS)
def test_each_attempt_times_out(scripted: Scripted, sdk: str) -> None:
    scripted.load([(200, {}, OK_BODY, 3.0)] * 2)
    answer = submit_to(scripted, sdk, timeout_ms=300,
                       retry={"max_retries": 1, "base_delay_ms": 10, "max_delay_ms": 20})
    assert answer["ok"] is False
    assert answer["error"]["kind"] == "timeout", answer
    assert len(scripted.seen) == 2
    assert gaps(scripted)[0] < 2.5


@pytest.mark.parametrize("sdk", SDKS)
def test_invalid_records_are_refused_before_sending(scripted: Scripted, sdk: str) -> None:
    scripted.load([(200, {}, OK_BODY, 0)])
    rec = fresh_record("invalid")
    rec["r"] = 1.5
    answer = submit_to(scripted, sdk, record=rec)
    assert answer["ok"] is False
    assert answer["error"]["kind"] == "validation", answer
    assert "r" in answer["error"]["message"]
    assert scripted.seen == []
