"""A typed user of the SDK: `mypy --strict` must accept this file (test_typing.py)."""

from __future__ import annotations

import fractal_lba as fl
from fractal_lba.types import PCS, VerifyResult


def sign_and_check(key: str) -> tuple[PCS, VerifyResult, str]:
    rec: PCS = fl.build_pcs(merkle_root="a" * 64, epoch=1, shard_id="s", scales=[2, 4, 8],
                            N_j={"2": 3, "4": 5, "8": 9}, coh_star=0.7, r=0.5, params=fl.VerifyParams(tol_d=0.2))
    rec["sig"] = fl.sign_hmac(rec, key)
    fl.Verifier(hmac_keys=[key]).verify(rec)
    ok: list[bool] = fl.Verifier(hmac_keys=[key]).verify_many([rec])
    assert ok
    out: VerifyResult = fl.verify(rec)
    seed, public = fl.generate_ed25519_keypair()
    ring = fl.Ring(["a", {"name": "b", "weight": 2}], vnodes=10)
    owner: str = ring.pick(rec["pcs_id"])
    try:
        fl.validate(fl.parse_pcs(b"{}"))
    except fl.ValidationError as e:
        field: str | None = e.field
        kind: str = e.kind
        print(field, kind, seed, public)
    return rec, out, owner


def submit_and_read(url: str, rec: PCS) -> tuple[int, VerifyResult | None, bool]:
    client = fl.Client(url, tenant="acme", alg="hmac", key="k", timeout=2.5, max_retries=1, jitter_seed=7)
    try:
        answer: fl.SubmitResult = client.submit(rec)
    except fl.RateLimitedError as e:
        wait: float | None = e.retry_after
        print(wait, e.status)
        raise
    except fl.ApiError as e:
        status: int | None = e.status
        body: str = e.body
        print(status, body, e.code)
        raise
    except fl.ClientTimeoutError as e:
        print(e.kind)
        raise
    result: VerifyResult = answer.result
    print(result["accepted"], answer.to_dict())
    return answer.status, client.get(rec["pcs_id"]), client.health()


async def submit_async(url: str, rec: PCS) -> bool:
    client = fl.AsyncClient(url, alg="ed25519", key="seed", base_delay=0.05)
    answer = await client.submit(rec)
    found: VerifyResult | None = await client.get(rec["pcs_id"])
    healthy: bool = await client.health()
    return answer.dedup_hit and found is not None and healthy
