"""Misuses the stubs must catch: `mypy --strict` must report an error on each line
marked `# E` (test_typing.py counts them)."""

from __future__ import annotations

import fractal_lba as fl

fl.pcs_id("m", "1", "s")  # E
fl.sign_hmac({}, 3)  # E
r: int = fl.sign_hmac({}, "k")  # E
fl.Verifier(hmac_keys=[3]).verify({})  # E
fl.Ring(["a"]).pick_n("k")  # E
fl.verify({}, params={"tol_d": 1})  # E
fl.VerifyParams(tolerance=1)  # E
x: str = fl.verify({})["accepted"]  # E
fl.build_pcs(merkle_root="m")  # E
fl.Client("http://h", timeout="1")  # E
fl.Client(base_url="http://h", retries=3)  # E
s: str = fl.Client("http://h").submit({}).status  # E
fl.Client("http://h").get(1)  # E
h: bool = fl.AsyncClient("http://h").health()  # E
fl.AsyncClient("http://h", jitter_seed=1.5)  # E
fl.ApiError("x").body + 1  # E
