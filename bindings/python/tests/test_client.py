"""`Client` (blocking) against a scripted loopback server: what it sends (signed
body, headers), how it reads answers, the retry schedule (Retry-After, backoff,
giving up), what is never retried, timeouts, and the typed errors."""

from __future__ import annotations

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import pytest

import fractal_lba as fl
from conftest import ESCALATED_BODY, OK_BODY, Answer, Scripted, backoff_schedule, error_body

Start = Callable[[list[Answer]], Scripted]
FAST = {"base_delay": 0.02, "max_delay": 0.05}


def sent_record(seen: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(seen.body)
    return body


def test_submit_signs_with_hmac_and_sends_the_sdk_headers(scripted: Start, record: dict[str, Any]) -> None:
    srv = scripted([Answer(200, OK_BODY, {"X-Dedup": "hit"})])
    client = fl.Client(srv.url, tenant="acme", alg="hmac", key="s3cret")
    out = client.submit(record)
    assert isinstance(out, fl.SubmitResult)
    assert (out.status, out.dedup_hit) == (200, True)
    assert out.result == json.loads(OK_BODY)
    [req] = srv.requests()
    assert (req.method, req.path) == ("POST", "/v1/pcs/submit")
    assert req.headers["content-type"] == "application/json"
    assert req.headers["x-tenant-id"] == "acme"
    assert req.headers["user-agent"] == f"fractal-lba-python/{fl.__version__} (core {fl.CORE_VERSION})"
    sent = sent_record(req)
    fl.Verifier(hmac_keys=["s3cret"]).verify(sent)
    with pytest.raises(fl.SignatureError):
        fl.Verifier(hmac_keys=["other"]).verify(sent)
    # The caller's dict is not modified; the body is the record plus its signature.
    assert "sig" not in record
    assert fl.parse_pcs(req.body) == fl.parse_pcs(json.dumps(dict(record, sig=sent["sig"])))


def test_submit_signs_with_ed25519(scripted: Start, record: dict[str, Any]) -> None:
    seed, public = fl.generate_ed25519_keypair()
    srv = scripted([Answer(202, ESCALATED_BODY)])
    out = fl.Client(srv.url, alg="ed25519", key=seed).submit(record)
    assert (out.status, out.dedup_hit) == (202, False)
    assert out.result == {"accepted": True, "escalated": True, "reason": "regime mismatch"}
    [req] = srv.requests()
    assert "x-tenant-id" not in req.headers  # no tenant: the server's default
    fl.Verifier(ed25519_public_keys=[public]).verify(sent_record(req))


def test_without_a_key_the_record_is_sent_as_is(scripted: Start, record: dict[str, Any]) -> None:
    presigned = dict(record, sig=fl.sign_hmac(record, "elsewhere"))
    srv = scripted([Answer(200, OK_BODY)])
    fl.Client(srv.url).submit(presigned)
    assert sent_record(srv.requests()[0])["sig"] == presigned["sig"]


def test_retry_after_on_503_and_429_is_honoured(scripted: Start, record: dict[str, Any]) -> None:
    srv = scripted([
        Answer(503, error_body("store_unavailable", "try later"), {"Retry-After": "1"}),
        Answer(429, error_body("rate_limited", "slow down"), {"Retry-After": "1"}),
        Answer(200, OK_BODY),
    ])
    out = fl.Client(srv.url, alg="hmac", key="k", **FAST).submit(record)
    assert out.status == 200
    reqs = srv.requests()
    assert len(reqs) == 3
    for a, b in zip(reqs, reqs[1:]):
        assert b.at - a.at >= 0.95, "Retry-After not honoured"
    assert len({r.body for r in reqs}) == 1  # the same signed body every time


def test_backoff_follows_the_seeded_full_jitter_schedule(scripted: Start, record: dict[str, Any]) -> None:
    down = Answer(503, error_body("store_unavailable", "x"))
    srv = scripted([down, down, down, Answer(200, OK_BODY)])
    fl.Client(srv.url, max_retries=3, base_delay=0.2, max_delay=0.5, jitter_seed=7).submit(record)
    reqs = srv.requests()
    expected = [ms / 1000 for ms in backoff_schedule(7, 200, 500)]
    assert len(reqs) == 4
    for (a, b), d in zip(zip(reqs, reqs[1:]), expected):
        assert b.at - a.at >= d - 0.005, (b.at - a.at, d)


def test_gives_up_after_max_retries_with_the_last_error(scripted: Start, record: dict[str, Any]) -> None:
    body = error_body("store_unavailable", "disk full")
    srv = scripted([Answer(503, body)] * 4)
    with pytest.raises(fl.ApiError) as e:
        fl.Client(srv.url, max_retries=3, **FAST).submit(record)
    assert (e.value.kind, e.value.status, e.value.code) == ("api", 503, "store_unavailable")
    assert e.value.body == body
    assert "disk full" in str(e.value)
    assert len(srv.requests()) == 4  # 1 attempt + 3 retries

    srv = scripted([Answer(429, error_body("rate_limited", "slow"), {"Retry-After": "0"})] * 3)
    with pytest.raises(fl.RateLimitedError) as r:
        fl.Client(srv.url, max_retries=2, **FAST).submit(record)
    assert (r.value.kind, r.value.status, r.value.retry_after) == ("rate_limited", 429, 0.0)
    assert len(srv.requests()) == 3


def test_retry_after_beyond_the_limit_ends_the_call(scripted: Start, record: dict[str, Any]) -> None:
    srv = scripted([Answer(429, error_body("rate_limited", "later"), {"Retry-After": "120"})])
    with pytest.raises(fl.RateLimitedError) as e:
        fl.Client(srv.url, max_retry_after=60).submit(record)
    assert e.value.retry_after == 120.0
    assert len(srv.requests()) == 1


def test_401_is_never_retried(scripted: Start, record: dict[str, Any]) -> None:
    srv = scripted([Answer(401, error_body("signature_invalid", "does not verify")), Answer(200, OK_BODY)])
    with pytest.raises(fl.ServerSignatureError) as e:
        fl.Client(srv.url, alg="hmac", key="wrong", **FAST).submit(record)
    assert isinstance(e.value, fl.SignatureError)
    assert (e.value.kind, e.value.status, e.value.code) == ("signature", 401, "signature_invalid")
    assert len(srv.requests()) == 1


def test_400_is_never_retried(scripted: Start, record: dict[str, Any]) -> None:
    srv = scripted([Answer(400, error_body("invalid_field", "invalid field `epoch`")), Answer(200, OK_BODY)])
    with pytest.raises(fl.ServerValidationError) as e:
        fl.Client(srv.url, **FAST).submit(record)
    assert isinstance(e.value, fl.ValidationError)
    assert (e.value.kind, e.value.status, e.value.code) == ("invalid", 400, "invalid_field")
    assert "`epoch`" in str(e.value)
    assert len(srv.requests()) == 1


def test_403_is_an_api_error_not_retried(scripted: Start, record: dict[str, Any]) -> None:
    srv = scripted([Answer(403, error_body("unknown_tenant", "no such tenant"))])
    with pytest.raises(fl.ApiError) as e:
        fl.Client(srv.url, tenant="nobody", **FAST).submit(record)
    assert (e.value.status, e.value.code) == (403, "unknown_tenant")
    assert len(srv.requests()) == 1


def test_an_answer_that_is_not_a_verify_result_is_an_api_error(scripted: Start, record: dict[str, Any]) -> None:
    srv = scripted([Answer(200, "<html>proxy</html>")])
    with pytest.raises(fl.ApiError) as e:
        fl.Client(srv.url).submit(record)
    assert (e.value.status, e.value.code, e.value.body) == (200, "invalid_response", "<html>proxy</html>")


def test_a_slow_server_times_out_after_the_retries(scripted: Start, record: dict[str, Any]) -> None:
    srv = scripted([Answer(200, OK_BODY, delay=3.0)] * 2)
    started = time.monotonic()
    with pytest.raises(fl.ClientTimeoutError) as e:
        fl.Client(srv.url, timeout=0.2, max_retries=1, **FAST).submit(record)
    elapsed = time.monotonic() - started
    assert isinstance(e.value, fl.TransportError) and isinstance(e.value, TimeoutError)
    assert (e.value.kind, e.value.status) == ("timeout", None)
    assert len(srv.requests()) == 2
    assert elapsed < 2.5, "the per-attempt timeout did not bound the call"


def test_connection_refused_is_a_transport_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = fl.Client(f"http://127.0.0.1:{port}", max_retries=1, **FAST)
    with pytest.raises(fl.TransportError) as e:
        client.health()
    assert not isinstance(e.value, fl.ClientTimeoutError)
    assert e.value.kind == "transport"


def test_invalid_record_raises_before_anything_is_sent(scripted: Start, record: dict[str, Any]) -> None:
    srv = scripted([Answer(200, OK_BODY)])
    client = fl.Client(srv.url, alg="hmac", key="k")
    with pytest.raises(fl.ValidationError) as e:
        client.submit(dict(record, r=1.5))
    assert (e.value.kind, e.value.field) == ("validation", "r")
    with pytest.raises(fl.ValidationError) as e:
        client.submit(dict(record, epoch="1"))
    assert (e.value.kind, e.value.field) == ("invalid_field", "epoch")
    with pytest.raises(fl.ValidationError):
        client.submit([record])  # type: ignore[arg-type]
    assert srv.requests() == []


def test_submit_signs_v2_by_default_and_v1_on_request(scripted: Start, record: dict[str, Any]) -> None:
    unknown = dict(record, zz_note={"from": "py", "n": [1, None, True]})
    srv = scripted([Answer(200, OK_BODY)] * 3)
    fl.Client(srv.url, alg="hmac", key="s3cret").submit(unknown)
    fl.Client(srv.url, alg="hmac", key="s3cret", signature_version=2).submit(unknown)
    fl.Client(srv.url, alg="hmac", key="s3cret", signature_version=1).submit(unknown)
    v2a, v2b, v1 = [sent_record(r) for r in srv.requests()]
    # v2 signs exactly what is sent, unknown field included; v1 the eight fields.
    assert v2a == v2b and v2a["sig"].startswith("v2:") and v2a["zz_note"] == unknown["zz_note"]
    assert v2a["sig"] == fl.sign_hmac(unknown, "s3cret")
    assert v1["sig"] == fl.sign_hmac(unknown, "s3cret", version=1) and not v1["sig"].startswith("v2:")
    fl.Verifier(hmac_keys=["s3cret"]).verify(v2a)
    with pytest.raises(fl.SignatureError):
        fl.Verifier(hmac_keys=["s3cret"]).verify(dict(v2a, zz_note="changed"))
    with pytest.raises(fl.UnsupportedSignatureVersionError):
        fl.Verifier(hmac_keys=["s3cret"]).verify(v1)
    fl.Verifier(hmac_keys=["s3cret"], versions=[1]).verify(v1)


def test_get_is_signed_with_the_clients_key(scripted: Start, record: dict[str, Any]) -> None:
    seed, public = fl.generate_ed25519_keypair()
    srv = scripted([Answer(200, ESCALATED_BODY)] * 3)
    before = int(time.time())
    fl.Client(srv.url, tenant="acme", alg="hmac", key="s3cret").get(record["pcs_id"])
    fl.Client(srv.url, alg="ed25519", key=seed).get(record["pcs_id"])
    fl.Client(srv.url, tenant="acme").get(record["pcs_id"])
    hmac_req, ed_req, plain_req = srv.requests()
    after = int(time.time())
    hmac_verifier = fl.Verifier(hmac_keys=["s3cret"])
    header = hmac_req.headers["authorization"]
    t = int(header.split("t=")[1].split(",")[0])
    assert before <= t <= after
    assert header == fl.sign_read_hmac("acme", record["pcs_id"], "s3cret", t=t)
    hmac_verifier.verify_read("acme", record["pcs_id"], header, now=t)
    with pytest.raises(fl.SignatureError):  # bound to the tenant
        hmac_verifier.verify_read("default", record["pcs_id"], header, now=t)
    # Without a tenant the read is signed for "default".
    fl.Verifier(ed25519_public_keys=[public]).verify_read("default", record["pcs_id"], ed_req.headers["authorization"])
    assert "authorization" not in plain_req.headers


def test_read_signatures(record: dict[str, Any]) -> None:
    v = fl.Verifier(hmac_keys=["k"])
    header = fl.sign_read_hmac("t1", record["pcs_id"], "k", t=1000)
    assert header.startswith("Fractal t=1000, sig=")
    v.verify_read("t1", record["pcs_id"], header, now=1000 + fl.READ_SKEW_SECS)
    with pytest.raises(fl.SignatureError) as e:
        v.verify_read("t1", record["pcs_id"], header, now=1001 + fl.READ_SKEW_SECS)
    assert e.value.kind == "signature_invalid"
    for missing in (None, ""):
        with pytest.raises(fl.SignatureError) as e:
            v.verify_read("t1", record["pcs_id"], missing)
        assert e.value.kind == "signature_missing"
    now = fl.sign_read_hmac("t1", record["pcs_id"], "k")  # t defaults to the clock
    v.verify_read("t1", record["pcs_id"], now)
    for bad_t in (-1, 1.5, True, "1"):
        with pytest.raises(fl.InvalidArgumentError) as e:
            fl.sign_read_hmac("t1", "p", "k", t=bad_t)
        assert e.value.field == "t"
        with pytest.raises(fl.InvalidArgumentError):
            v.verify_read("t1", "p", header, now=bad_t)
    with pytest.raises(fl.InvalidKeyError):
        fl.sign_read_hmac("t1", "p", "")
    with pytest.raises(fl.InvalidKeyError):
        fl.sign_read_ed25519("t1", "p", "nope")
    with pytest.raises(fl.InvalidArgumentError) as e:
        fl.read_digest(7, "p", 1)
    assert e.value.field == "tenant"


def test_get_and_health(scripted: Start, record: dict[str, Any]) -> None:
    srv = scripted([
        Answer(200, ESCALATED_BODY),
        Answer(404, error_body("not_found", "no such record")),
        Answer(200, '{"status":"ok"}'),
        Answer(503, ""),
    ])
    client = fl.Client(srv.url, tenant="acme")
    assert client.get(record["pcs_id"]) == json.loads(ESCALATED_BODY)
    assert client.get("0" * 64) is None
    assert client.health() is True
    assert client.health() is False
    reqs = srv.requests()
    assert [(r.method, r.path) for r in reqs] == [
        ("GET", f"/v1/pcs/{record['pcs_id']}"), ("GET", "/v1/pcs/" + "0" * 64), ("GET", "/health"), ("GET", "/health")]
    assert all(r.headers["x-tenant-id"] == "acme" for r in reqs)
    with pytest.raises(fl.InvalidArgumentError) as e:
        client.get("../admin")
    assert e.value.field == "pcs_id"
    assert len(srv.requests()) == 4


def test_connections_are_reused(scripted: Start, record: dict[str, Any]) -> None:
    srv = scripted([Answer(200, OK_BODY)] * 3)
    client = fl.Client(srv.url)
    for _ in range(3):
        client.submit(record)
    assert len({r.client_port for r in srv.requests()}) == 1


def test_threads_share_a_client_and_the_gil_is_released(scripted: Start, record: dict[str, Any]) -> None:
    # The server runs in this process: each answer waits until all four requests
    # are in flight at once, which only happens if submit releases the GIL.
    n = 4
    barrier = threading.Barrier(n, timeout=10)
    srv = scripted([Answer(200, OK_BODY, before=barrier.wait)] * n)
    client = fl.Client(srv.url, alg="hmac", key="k", max_retries=0)
    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(lambda _: client.submit(record), range(n)))
    assert [r.status for r in results] == [200] * n
    assert not barrier.broken


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"base_url": "ftp://example.com"}, fl.InvalidArgumentError, "base_url"),
        ({"base_url": 8080}, fl.InvalidArgumentError, "base_url"),
        ({"timeout": 0}, fl.InvalidArgumentError, "timeout"),
        ({"timeout": "1"}, fl.InvalidArgumentError, "timeout"),
        ({"connect_timeout": float("nan")}, fl.InvalidArgumentError, "connect_timeout"),
        ({"max_retries": -1}, fl.InvalidArgumentError, "max_retries"),
        ({"max_retries": True}, fl.InvalidArgumentError, "max_retries"),
        ({"base_delay": -0.1}, fl.InvalidArgumentError, "base_delay"),
        ({"jitter_seed": 2**64}, fl.InvalidArgumentError, "jitter_seed"),
        ({"tenant": "two words"}, fl.InvalidArgumentError, "tenant"),
        ({"alg": "rsa", "key": "k"}, fl.InvalidArgumentError, "alg"),
        ({"alg": "hmac"}, fl.InvalidArgumentError, "key"),
        ({"key": "k"}, fl.InvalidArgumentError, "alg"),
        ({"alg": "hmac", "key": ""}, fl.InvalidKeyError, None),
        ({"alg": "ed25519", "key": "not base64"}, fl.InvalidKeyError, None),
        ({"signature_version": 3}, fl.InvalidArgumentError, "signature_version"),
        ({"signature_version": "v2"}, fl.InvalidArgumentError, "signature_version"),
        ({"signature_version": True}, fl.InvalidArgumentError, "signature_version"),
    ],
)
def test_constructor_arguments_are_checked(kwargs: dict[str, Any], error: type, field: Any) -> None:
    args = {"base_url": "http://127.0.0.1:8080", **kwargs}
    for cls in (fl.Client, fl.AsyncClient):
        with pytest.raises(error) as e:
            cls(**args)
        assert e.value.field == field
        if field:
            assert f"`{field}`" in str(e.value)


def test_submit_result_value_semantics(scripted: Start, record: dict[str, Any]) -> None:
    srv = scripted([Answer(200, OK_BODY)] * 2)
    client = fl.Client(srv.url)
    a, b = client.submit(record), client.submit(record)
    assert a == b
    assert a.to_dict() == {"status": 200, "result": json.loads(OK_BODY), "dedup_hit": False}
    assert repr(a).startswith("SubmitResult(status=200, result={'accepted': True")
    a.result["accepted"] = False  # a fresh dict each time: the result cannot be changed
    assert a.result["accepted"] is True


def test_repr_never_shows_the_key() -> None:
    c = fl.Client("http://127.0.0.1:8080", tenant="acme", alg="hmac", key="top-secret")
    assert "top-secret" not in repr(c) and "acme" in repr(c)
