"""Ring and Verifier shared by threads: answers stay correct while other threads
read and write them, and batch calls (which release the GIL) run concurrently."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import fractal_lba as fl

THREADS = 8


def test_ring_lookups_under_concurrent_changes() -> None:
    ring = fl.Ring(["a", "b", "c"])
    stable = fl.Ring(["a", "b", "c"])
    keys = [f"key-{i}" for i in range(300)]
    expected = {k: stable.pick(k) for k in keys}

    def reader(_: int) -> list[str]:
        return [ring.pick(k) for k in keys]

    def writer(_: int) -> None:
        for _ in range(30):
            ring.add_shard("d")
            ring.set_healthy("d", False)
            ring.remove_shard("d")

    with ThreadPoolExecutor(THREADS) as pool:
        writes = [pool.submit(writer, 0)]
        reads = [pool.submit(reader, i) for i in range(THREADS * 2)]
        for w in writes:
            w.result()
        for r in reads:
            for k, owner in zip(keys, r.result()):
                assert owner in ("a", "b", "c", "d")
                if owner != "d":
                    assert owner == expected[k]  # adding d moves keys only to d
    assert [ring.pick(k) for k in keys] == [expected[k] for k in keys]


def test_verifier_under_threads(record: dict[str, Any]) -> None:
    keys = [f"key-{i}" for i in range(THREADS)]
    verifier = fl.Verifier(hmac_keys=keys[:1])
    signed = {k: dict(record, sig=fl.sign_hmac(record, k)) for k in keys}
    batch = [signed[keys[0]]] * 2000

    def worker(i: int) -> tuple[list[bool], list[str]]:
        verifier.add_hmac_key(keys[i])
        verifier.verify(signed[keys[0]])
        return verifier.verify_many(batch), fl.sign_hmac_many([record] * 500, keys[i])

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(worker, range(THREADS)))
    for i, (oks, sigs) in enumerate(results):
        assert all(oks) and len(oks) == len(batch)
        assert set(sigs) == {signed[keys[i]]["sig"]}
    for k in keys:
        verifier.verify(signed[k])
    assert len(verifier) == THREADS + 1
