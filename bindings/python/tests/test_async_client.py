"""`AsyncClient` against a scripted loopback server: the same protocol as the
blocking client, run off the event loop, and cancellation."""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from typing import Any, Callable

import pytest

import fractal_lba as fl
from conftest import OK_BODY, Answer, Scripted, error_body

Start = Callable[[list[Answer]], Scripted]
FAST = {"base_delay": 0.02, "max_delay": 0.05}


def test_methods_are_coroutine_functions() -> None:
    for name in ("submit", "get", "health"):
        assert inspect.iscoroutinefunction(getattr(fl.AsyncClient, name)), name


def test_submit_signs_and_retries_honouring_retry_after(scripted: Start, record: dict[str, Any]) -> None:
    seed, public = fl.generate_ed25519_keypair()
    srv = scripted([
        Answer(503, error_body("store_unavailable", "later"), {"Retry-After": "1"}),
        Answer(200, OK_BODY, {"X-Dedup": "hit"}),
    ])

    async def main() -> fl.SubmitResult:
        client = fl.AsyncClient(srv.url, tenant="acme", alg="ed25519", key=seed, **FAST)
        return await asyncio.create_task(client.submit(record))

    out = asyncio.run(main())
    assert (out.status, out.dedup_hit, out.result) == (200, True, json.loads(OK_BODY))
    first, second = srv.requests()
    assert second.at - first.at >= 0.95
    assert first.headers["user-agent"].startswith(f"fractal-lba-python/{fl.__version__} ")
    assert first.headers["x-tenant-id"] == "acme"
    assert first.headers["content-type"] == "application/json"
    fl.Verifier(ed25519_public_keys=[public]).verify(json.loads(first.body))


def test_errors_are_the_same_typed_errors(scripted: Start, record: dict[str, Any]) -> None:
    srv = scripted([
        Answer(401, error_body("signature_missing", "no sig")),
        Answer(400, error_body("invalid_json", "bad")),
        Answer(503, error_body("store_unavailable", "x")),
        Answer(503, error_body("store_unavailable", "x")),
    ])

    async def main() -> list[BaseException]:
        client = fl.AsyncClient(srv.url, max_retries=1, **FAST)
        errors: list[BaseException] = []
        for _ in range(3):
            try:
                await client.submit(record)
            except fl.FractalError as e:
                errors.append(e)
        return errors

    sig, invalid, api = asyncio.run(main())
    assert isinstance(sig, fl.ServerSignatureError) and sig.code == "signature_missing"
    assert isinstance(invalid, fl.ServerValidationError) and invalid.status == 400
    assert isinstance(api, fl.ApiError) and api.status == 503
    assert len(srv.requests()) == 4  # 401 and 400 once each, 503 twice


def test_invalid_record_raises_and_sends_nothing(scripted: Start, record: dict[str, Any]) -> None:
    srv = scripted([Answer(200, OK_BODY)])

    async def main() -> None:
        await fl.AsyncClient(srv.url).submit(dict(record, coh_star=2.0))

    with pytest.raises(fl.ValidationError) as e:
        asyncio.run(main())
    assert e.value.field == "coh_star"
    assert srv.requests() == []


def test_get_and_health(scripted: Start, record: dict[str, Any]) -> None:
    srv = scripted([Answer(200, OK_BODY), Answer(404, ""), Answer(200, "")])

    async def main() -> tuple[Any, Any, bool]:
        client = fl.AsyncClient(srv.url)
        return await client.get(record["pcs_id"]), await client.get("f" * 64), await client.health()

    assert asyncio.run(main()) == (json.loads(OK_BODY), None, True)


def test_timeout_after_the_retries(scripted: Start, record: dict[str, Any]) -> None:
    srv = scripted([Answer(200, OK_BODY, delay=3.0)] * 2)

    async def main() -> None:
        await fl.AsyncClient(srv.url, timeout=0.2, max_retries=1, **FAST).submit(record)

    started = time.monotonic()
    with pytest.raises(fl.ClientTimeoutError) as e:
        asyncio.run(main())
    assert e.value.kind == "timeout"
    assert len(srv.requests()) == 2
    assert time.monotonic() - started < 2.5


def test_cancellation_stops_waiting_promptly(scripted: Start, record: dict[str, Any]) -> None:
    srv = scripted([Answer(200, OK_BODY, delay=5.0), Answer(200, "")])

    async def main() -> float:
        client = fl.AsyncClient(srv.url, timeout=30)
        started = time.monotonic()
        with pytest.raises(asyncio.TimeoutError) as e:
            await asyncio.wait_for(client.submit(record), 0.3)
        assert not isinstance(e.value, fl.FractalError)  # asyncio's timeout, not the client's
        elapsed = time.monotonic() - started
        # The client stays usable after a cancelled call.
        assert await client.health() is True
        return elapsed

    assert asyncio.run(main()) < 2.0
    assert len(srv.requests()) == 2


def test_the_event_loop_keeps_running_while_a_call_waits(scripted: Start, record: dict[str, Any]) -> None:
    srv = scripted([Answer(200, OK_BODY, delay=0.5)])

    async def main() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.02)
                ticks += 1

        t = asyncio.create_task(ticker())
        await fl.AsyncClient(srv.url).submit(record)
        t.cancel()
        return ticks

    assert asyncio.run(main()) >= 5


def test_concurrent_calls(scripted: Start, record: dict[str, Any]) -> None:
    n = 8
    srv = scripted([Answer(200, OK_BODY)] * n)

    async def main() -> list[fl.SubmitResult]:
        client = fl.AsyncClient(srv.url, alg="hmac", key="k")
        return await asyncio.gather(*(client.submit(record) for _ in range(n)))

    assert [r.status for r in asyncio.run(main())] == [200] * n
    assert len(srv.requests()) == n


def test_cancellation_drops_the_call_and_its_retries(scripted: Start, record: dict[str, Any]) -> None:
    # Each answer asks for a retry in 1 s; once cancelled, no retry may arrive.
    later = Answer(503, error_body("store_unavailable", "later"), {"Retry-After": "1"})
    srv = scripted([later] * 4)

    async def main() -> None:
        client = fl.AsyncClient(srv.url)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(client.submit(record), 0.3)
        await asyncio.sleep(1.8)

    asyncio.run(main())
    assert len(srv.requests()) == 1
