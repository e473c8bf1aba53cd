"""Benchmark: fractal_lba against a pure-Python implementation of SPEC §3–4.

Prints a table of microseconds per record for HMAC signing and signature
verification, one record per call and in batches. Nothing here asserts a timing;
it does check that both implementations produce the same signatures.

    python bench/bench.py [--records N] [--repeat R]

The pure-Python implementation below (hashlib, hmac, json, base64) is also used by
the test suite as an independent oracle, checked against the golden vectors.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import math
import platform
import sys
import time
from typing import Any, Callable, Mapping, Sequence

# --------------------------------------------------------------------------
# Pure-Python SPEC §3–4
# --------------------------------------------------------------------------


def round9(x: float) -> float:
    """roundHalfAwayFromZero(x × 1e9) / 1e9 in binary64; −0 becomes 0 (SPEC §3.2)."""
    if not math.isfinite(x):
        raise ValueError("NaN and Infinity cannot be signed")
    y = x * 1e9
    if not math.isfinite(y):
        raise ValueError("too large to be rounded to 9 decimals")
    a = abs(y)
    f = math.floor(a)
    if a - f >= 0.5:  # exact: a − floor(a) is representable
        f += 1
    r = math.copysign(f, y) / 1e9
    return 0.0 if r == 0 else r


def es_number(x: float) -> str:
    """ECMAScript Number.prototype.toString of a finite binary64 (SPEC §3.3)."""
    if x == 0:
        return "0"
    text = repr(float(x))  # shortest round-trip digits, like ECMAScript
    sign = "-" if text.startswith("-") else ""
    text = text.lstrip("-")
    mantissa, _, exp_text = text.partition("e")
    exp = int(exp_text) if exp_text else 0
    int_part, _, frac_part = mantissa.partition(".")
    digits = int_part + frac_part
    stripped = digits.lstrip("0")
    n = len(int_part) + exp - (len(digits) - len(stripped))  # value = 0.DIGITS × 10^n
    digits = stripped.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        body = digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if e >= 0 else "-") + str(abs(e))
    return sign + body


def js_string(s: str) -> str:
    """ECMAScript JSON.stringify of a string: Python's json with ensure_ascii=False
    escapes exactly `"`, `\\`, and the code points below U+0020 (lowercase hex)."""
    return json.dumps(s, ensure_ascii=False)


def canonical_payload(rec: Mapping[str, Any]) -> bytes:
    """The canonical signing payload (SPEC §3): keys in UTF-16 order, no whitespace."""
    epoch = rec["epoch"]
    if type(epoch) is not int or not 0 <= epoch <= 2**53 - 1:
        raise ValueError("epoch must be an integer in [0, 2^53-1]")
    return (
        '{"D_hat":' + es_number(round9(rec["D_hat"]))
        + ',"budget":' + es_number(round9(rec["budget"]))
        + ',"coh_star":' + es_number(round9(rec["coh_star"]))
        + ',"epoch":' + str(epoch)
        + ',"merkle_root":' + js_string(rec["merkle_root"])
        + ',"pcs_id":' + js_string(rec["pcs_id"])
        + ',"r":' + es_number(round9(rec["r"]))
        + ',"shard_id":' + js_string(rec["shard_id"])
        + "}"
    ).encode("utf-8")


def sign_hmac(rec: Mapping[str, Any], key: str) -> str:
    """base64(HMAC-SHA256(UTF-8(key), SHA-256(payload))) (SPEC §4)."""
    d = hashlib.sha256(canonical_payload(rec)).digest()
    return base64.b64encode(hmac.new(key.encode("utf-8"), d, hashlib.sha256).digest()).decode("ascii")


def verify_hmac(rec: Mapping[str, Any], keys: Sequence[str]) -> bool:
    """True if `rec["sig"]` is strict base64 of an HMAC under any of `keys`."""
    sig = rec.get("sig")
    if not isinstance(sig, str) or not sig:
        return False
    try:
        raw = base64.b64decode(sig, validate=True)
    except ValueError:
        return False
    if len(raw) != 32 or base64.b64encode(raw).decode("ascii") != sig:
        return False  # non-canonical padding bits
    d = hashlib.sha256(canonical_payload(rec)).digest()
    ok = False
    for k in keys:
        ok |= hmac.compare_digest(hmac.new(k.encode("utf-8"), d, hashlib.sha256).digest(), raw)
    return ok


# --------------------------------------------------------------------------
# Benchmark
# --------------------------------------------------------------------------


def make_records(n: int) -> list[dict[str, Any]]:
    import fractal_lba as fl

    out = []
    for i in range(n):
        rec = dict(
            fl.build_pcs(
                merkle_root=hashlib.sha256(b"%d" % i).hexdigest(),
                epoch=i,
                shard_id="shard-%03d" % (i % 16),
                scales=[2, 4, 8, 16, 32],
                N_j={"2": 3, "4": 5 + i % 3, "8": 9, "16": 17, "32": 31},
                coh_star=0.5 + (i % 50) / 100,
                r=(i % 97) / 97,
                v_star=[0.12, 0.98],
                seed=i,
            )
        )
        out.append(rec)
    return out


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv: Sequence[str] | None = None) -> None:
    import fractal_lba as fl

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    n, repeat = args.records, args.repeat
    key = "tenant-secret-key"

    records = make_records(n)
    # The pure-Python reference implements v1 (SPEC §3.1): the comparison is v1
    # against v1; the v2 rows (the SDK's default, the whole record) are the SDK's alone.
    sdk_sigs = fl.sign_hmac_many(records, key, version=1)
    py_sigs = [sign_hmac(r, key) for r in records]
    if sdk_sigs != py_sigs:
        sys.exit("pure-Python and SDK signatures differ: the comparison would be meaningless")
    signed = [dict(r, sig=s) for r, s in zip(records, sdk_sigs)]
    verifier = fl.Verifier(hmac_keys=[key], versions=(1, 2))
    if not all(verifier.verify_many(signed)) or not all(verify_hmac(r, [key]) for r in signed):
        sys.exit("a signature did not verify")
    signed_v2 = [dict(r, sig=s) for r, s in zip(records, fl.sign_hmac_many(records, key))]
    if not all(verifier.verify_many(signed_v2)):
        sys.exit("a v2 signature did not verify")

    py_sign, sdk_verify = sign_hmac, verifier.verify

    def sdk_sign(r: dict[str, Any], k: str) -> str:
        return fl.sign_hmac(r, k, version=1)

    def sdk_verify_single() -> None:
        for r in signed:
            sdk_verify(r)

    rows = [
        (
            "sign_hmac, one record per call",
            best_of(repeat, lambda: [py_sign(r, key) for r in records]),
            best_of(repeat, lambda: [sdk_sign(r, key) for r in records]),
        ),
        (
            "sign_hmac_many, one batch",
            best_of(repeat, lambda: [py_sign(r, key) for r in records]),
            best_of(repeat, lambda: fl.sign_hmac_many(records, key, version=1)),
        ),
        (
            "Verifier.verify, one record per call",
            best_of(repeat, lambda: [verify_hmac(r, [key]) for r in signed]),
            best_of(repeat, sdk_verify_single),
        ),
        (
            "Verifier.verify_many, one batch",
            best_of(repeat, lambda: [verify_hmac(r, [key]) for r in signed]),
            best_of(repeat, lambda: verifier.verify_many(signed)),
        ),
        ("v2: sign_hmac, one record per call", None, best_of(repeat, lambda: [fl.sign_hmac(r, key) for r in records])),
        ("v2: sign_hmac_many, one batch", None, best_of(repeat, lambda: fl.sign_hmac_many(records, key))),
        ("v2: Verifier.verify_many, one batch", None, best_of(repeat, lambda: verifier.verify_many(signed_v2))),
    ]

    print(
        f"fractal_lba {fl.__version__} vs pure Python (hashlib/hmac/json) — "
        f"{n} records, best of {repeat}, CPython {platform.python_version()} on {platform.machine()}"
    )
    print()
    header = f"| {'operation':<38} | {'pure Python µs/rec':>18} | {'fractal_lba µs/rec':>18} | {'speed-up':>8} |"
    print(header)
    print(f"|{'-' * 40}|{'-' * 19}:|{'-' * 19}:|{'-' * 9}:|")
    for name, py_t, sdk_t in rows:
        sdk_us = sdk_t / n * 1e6
        if py_t is None:
            print(f"| {name:<38} | {'—':>18} | {sdk_us:>18.2f} | {'—':>8} |")
            continue
        py_us = py_t / n * 1e6
        print(f"| {name:<38} | {py_us:>18.2f} | {sdk_us:>18.2f} | {py_us / sdk_us:>7.1f}× |")


if __name__ == "__main__":
    main()
