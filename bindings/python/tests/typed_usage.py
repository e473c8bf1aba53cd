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
