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


def test_batches_while_other_threads_replace_the_fields(record: dict[str, Any]) -> None:
    # Batches read the signed fields, then sign with the GIL released while other
    # threads replace those very strings in the records: each signature must still
    # be that of a mix of the two versions (the batch keeps what it read alive;
    # the two fields are replaced one after the other, so a record may be read in
    # between).
    other = dict(record, merkle_root="b" * 64, shard_id="shard-002")
    sig_a = fl.sign_hmac(record, "k")
    mixes = {fl.sign_hmac(dict(record, merkle_root=m, shard_id=s), "k")
             for m in ("a" * 64, "b" * 64) for s in ("shard-001", "shard-002")}
    assert len(mixes) == 4
    records = [dict(record) for _ in range(3000)]
    signed = [dict(r, sig=sig_a) for r in records]
    stop = False

    def mutate(_: int) -> int:
        rounds = 0
        while not stop:
            for rec in records + signed:
                # Fresh, unshared strings: replacing them frees the old ones.
                src = other if rounds % 2 == 0 else record
                rec["merkle_root"] = "".join(list(src["merkle_root"]))
                rec["shard_id"] = "".join(list(src["shard_id"]))
            rounds += 1
        return rounds

    verifier = fl.Verifier(hmac_keys=["k"])
    with ThreadPoolExecutor(2) as pool:
        mutator = pool.submit(mutate, 0)
        try:
            for _ in range(20):
                assert set(fl.sign_hmac_many(records, "k")) <= mixes
                assert len(verifier.verify_many(signed)) == len(signed)
        finally:
            stop = True
        assert mutator.result() >= 1
