"""Records as dicts: strict conversion, typed errors naming the field, the API surface."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import pytest

import fractal_lba as fl
from conftest import sample_record

INT_FIELDS = ["epoch", "attempt", "seed"]
NUMBER_FIELDS = ["coh_star", "D_hat", "r", "budget"]
STRING_FIELDS = ["pcs_id", "schema", "version", "shard_id", "sent_at", "regime", "merkle_root", "sig"]
REQUIRED = ["pcs_id", "schema", "version", "shard_id", "epoch", "merkle_root", "coh_star", "D_hat", "r", "budget"]
# The eight fields of the v1 payload (SPEC §3.1): the only ones v1 signing reads.
# (v2 signs, and reads, the whole record: see test_v2.py.)
SIGNED = {"pcs_id", "merkle_root", "epoch", "shard_id", "D_hat", "coh_star", "r", "budget"}


def signing_calls() -> list[tuple[str, Any]]:
    """Every v1 entry point, which reads only the eight v1 fields (and `sig`), each
    taking one record and raising for it like the single-record functions do."""
    seed, public = fl.generate_ed25519_keypair()
    verifier = fl.Verifier(hmac_keys=["k"], ed25519_public_keys=[public], versions=[1])

    def with_sig(r: Any) -> Any:
        # A well-formed `sig` so that only the signed fields can make the check raise
        # a ValidationError (a wrong signature raises SignatureError: the test fails).
        return dict(r, sig="A" * 43 + "=") if isinstance(r, dict) else r

    return [
        ("canonical_payload", lambda r: fl.canonical_payload(r, version=1)),
        ("digest", lambda r: fl.digest(r, version=1)),
        ("sign_hmac", lambda r: fl.sign_hmac(r, "k", version=1)),
        ("sign_hmac_many", lambda r: fl.sign_hmac_many([sample_record(), r], "k", version=1)),
        ("sign_ed25519", lambda r: fl.sign_ed25519(r, seed, version=1)),
        ("Verifier.verify", lambda r: verifier.verify(with_sig(r))),
        ("Verifier.verify_many", lambda r: verifier.verify_many([sample_record(), with_sig(r)])),
    ]


def assert_signing_refuses(rec: dict[str, Any], field: str, kind: str = "invalid_field") -> None:
    """Each signing entry point raises ValidationError naming `field`; the batches
    also name the record's index (1)."""
    for name, call in signing_calls():
        e = raises(fl.ValidationError, kind, field, call, rec)
        if name.endswith("_many"):
            assert str(e).startswith("records[1]: "), (name, str(e))


def assert_signing_ignores(rec: dict[str, Any], clean: dict[str, Any]) -> None:
    """`rec` signs (v1) and verifies exactly like `clean` (its eight v1 fields are the same)."""
    sig = fl.sign_hmac(clean, "k", version=1)
    assert fl.canonical_payload(rec, version=1) == fl.canonical_payload(clean, version=1)
    assert fl.digest(rec, version=1) == fl.digest(clean, version=1)
    assert fl.sign_hmac(rec, "k", version=1) == sig
    assert fl.sign_hmac_many([rec, clean], "k", version=1) == [sig, sig]
    seed, public = fl.generate_ed25519_keypair()
    assert fl.sign_ed25519(rec, seed, version=1) == fl.sign_ed25519(clean, seed, version=1)
    verifier = fl.Verifier(hmac_keys=["k"], ed25519_public_keys=[public], versions=[1])
    verifier.verify(dict(rec, sig=sig))
    other = fl.sign_hmac(clean, "other", version=1)
    assert verifier.verify_many([dict(rec, sig=sig), dict(rec, sig=other)]) == [True, False]


def raises(exc: type[fl.FractalError], kind: str, field: str | None, fn: Any, *args: Any) -> fl.FractalError:
    with pytest.raises(exc) as e:
        fn(*args)
    assert e.value.kind == kind, str(e.value)
    assert e.value.field == field, str(e.value)
    if field is not None:
        assert f"`{field}`" in str(e.value)
    return e.value


def test_sample_record_signs_like_spec_example(record: dict[str, Any]) -> None:
    want = (
        '{"D_hat":1.41,"budget":0.42,"coh_star":0.73,"epoch":1,"merkle_root":"' + "a" * 64
        + '","pcs_id":"' + record["pcs_id"] + '","r":0.87,"shard_id":"shard-001"}'
    )
    assert fl.canonical_payload(record, version=1) == want.encode()
    assert fl.digest(record, version=1) == hashlib.sha256(want.encode()).digest()


@pytest.mark.parametrize("field", INT_FIELDS)
@pytest.mark.parametrize("value", [1.0, True, False, "1", [1]])
def test_integer_fields_refuse_floats_bools_and_strings(record: dict[str, Any], field: str, value: Any) -> None:
    bad = dict(record, **{field: value})
    raises(fl.ValidationError, "invalid_field", field, fl.validate, bad)
    raises(fl.ValidationError, "invalid_field", field, fl.verify, bad)
    if field in SIGNED:
        assert_signing_refuses(bad, field)
    else:
        assert_signing_ignores(bad, record)


@pytest.mark.parametrize("field", NUMBER_FIELDS)
@pytest.mark.parametrize("value", [True, "0.5", None.__class__, [0.5]])
def test_number_fields_refuse_bools_and_strings(record: dict[str, Any], field: str, value: Any) -> None:
    record[field] = value
    raises(fl.ValidationError, "invalid_field", field, fl.validate, record)
    assert_signing_refuses(record, field)


@pytest.mark.parametrize("field", NUMBER_FIELDS)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_numbers_must_be_finite(record: dict[str, Any], field: str, value: float) -> None:
    record[field] = value
    raises(fl.ValidationError, "invalid_field", field, fl.validate, record)
    assert_signing_refuses(record, field)


@pytest.mark.parametrize("field", NUMBER_FIELDS)
def test_integers_are_numbers(record: dict[str, Any], field: str) -> None:
    as_float = dict(record, **{field: 1.0})
    as_int = dict(record, **{field: 1})
    assert fl.canonical_payload(as_float) == fl.canonical_payload(as_int)


@pytest.mark.parametrize("field", STRING_FIELDS)
def test_lone_surrogates_are_refused(record: dict[str, Any], field: str) -> None:
    bad = dict(record, **{field: "ok\ud800"})
    raises(fl.ValidationError, "invalid_field", field, fl.validate, bad)
    if field in SIGNED:
        assert_signing_refuses(bad, field)
    elif field == "sig":
        raises(fl.ValidationError, "invalid_field", "sig", fl.Verifier(hmac_keys=["k"]).verify, bad)
        e = raises(fl.ValidationError, "invalid_field", "sig", fl.Verifier(hmac_keys=["k"]).verify_many, [record, bad])
        raises(fl.ValidationError, "invalid_field", "sig", fl.sign_hmac, bad, "k")  # v2 reads the whole record
        assert str(e).startswith("records[1]: ")
        assert_signing_ignores(bad, record)
    else:
        assert_signing_ignores(bad, record)


@pytest.mark.parametrize("field", STRING_FIELDS)
def test_string_fields_refuse_other_types(record: dict[str, Any], field: str) -> None:
    bad = dict(record, **{field: 7})
    raises(fl.ValidationError, "invalid_field", field, fl.validate, bad)
    if field in SIGNED:
        assert_signing_refuses(bad, field)
    elif field == "sig":
        raises(fl.ValidationError, "invalid_field", "sig", fl.Verifier(hmac_keys=["k"]).verify, bad)
        assert_signing_ignores(bad, record)
    else:
        assert_signing_ignores(bad, record)


@pytest.mark.parametrize("field", REQUIRED)
def test_missing_or_none_required_fields_are_named(record: dict[str, Any], field: str) -> None:
    missing = {k: v for k, v in record.items() if k != field}
    e = raises(fl.ValidationError, "invalid_field", field, fl.validate, missing)
    assert "missing" in str(e)
    raises(fl.ValidationError, "invalid_field", field, fl.verify, dict(record, **{field: None}))
    if field in SIGNED:
        for rec in (missing, dict(record, **{field: None})):
            assert_signing_refuses(rec, field)
            assert "missing" in str(raises(fl.ValidationError, "invalid_field", field, fl.sign_hmac, rec, "k"))
    else:
        assert_signing_ignores(missing, record)


def test_epoch_bounds(record: dict[str, Any]) -> None:
    for epoch in (0, 2**53 - 1):
        rec = dict(record, epoch=epoch)
        rec["pcs_id"] = fl.pcs_id(rec["merkle_root"], epoch, rec["shard_id"])
        fl.validate(rec)
        assert f'"epoch":{epoch},'.encode() in fl.canonical_payload(rec)
    for epoch in (-1, 2**53, 2**64, 2**100):
        raises(fl.ValidationError, "invalid_field", "epoch", fl.canonical_payload, dict(record, epoch=epoch))
        raises(fl.ValidationError, "invalid_field", "epoch", fl.pcs_id, "m", epoch, "s")


def test_sixty_four_bit_integers(record: dict[str, Any]) -> None:
    fl.validate(dict(record, seed=-(2**63), attempt=2**63 - 1))
    raises(fl.ValidationError, "invalid_field", "seed", fl.validate, dict(record, seed=2**63))
    raises(fl.ValidationError, "invalid_field", "attempt", fl.validate, dict(record, attempt=-(2**63) - 1))


def test_nested_paths_are_named(record: dict[str, Any]) -> None:
    cases: list[tuple[str, Any, str]] = [
        ("scales", [2, 4.0], "scales[1]"),
        ("scales", [2, True], "scales[1]"),
        ("scales", "2,4", "scales"),
        ("v_star", [0.1, "x"], "v_star[1]"),
        ("N_j", {"2": 3, "4": 5.0}, "N_j.4"),
        ("N_j", {2: 3}, "N_j (a key)"),
        ("N_j", [3, 5], "N_j"),
        ("ft", {"outbox_seq": 1.0}, "ft.outbox_seq"),
        ("ft", {"degraded": 1}, "ft.degraded"),
        ("ft", {"fallbacks": ["a", 1]}, "ft.fallbacks[1]"),
        ("ft", {"clock_skew_ms": "3"}, "ft.clock_skew_ms"),
        ("ft", [1], "ft"),
    ]
    for key, value, field in cases:
        bad = dict(record, **{key: value})
        raises(fl.ValidationError, "invalid_field", field, fl.validate, bad)
        raises(fl.ValidationError, "invalid_field", field, fl.verify, bad)
        e = raises(fl.ValidationError, "invalid_field", field, fl.verify_many, [record, bad])
        assert str(e).startswith("records[1]: ")
        # Signing reads only the eight signed fields: a bad unsigned field is validate's.
        assert_signing_ignores(bad, record)


def test_v1_signing_reads_only_the_signed_fields(record: dict[str, Any]) -> None:
    # Only the eight v1 fields: everything else may be absent or anything at all.
    bare = {k: record[k] for k in SIGNED}
    assert_signing_ignores(bare, record)
    junk = dict(bare, schema=1, version=None, scales="x", N_j=[1], v_star={"a": object()}, ft=3, attempt=1.5,
                seed=2**70, sent_at=b"x", regime=["sticky"])
    assert_signing_ignores(junk, record)
    raises(fl.ValidationError, "invalid_field", "schema", fl.validate, junk)
    # v2 signs the whole record: it refuses what it cannot send.
    raises(fl.ValidationError, "invalid_field", "schema", fl.sign_hmac, junk, "k")


@pytest.mark.parametrize("field", sorted(SIGNED))
def test_signing_refuses_each_malformed_signed_field(record: dict[str, Any], field: str) -> None:
    if field == "epoch":
        bad_values: list[Any] = [1.0, True, "1", -1, 2**53, 2**64, [1]]
    elif field in NUMBER_FIELDS:
        bad_values = [True, False, "0.5", [0.5], math.nan, math.inf, -math.inf, 10**400]
    else:
        bad_values = [7, 7.5, True, b"abc", ["a"], "ok\udfff"]
    for value in bad_values:
        bad = dict(record, **{field: value})
        assert_signing_refuses(bad, field)
        raises(fl.ValidationError, "invalid_field", field, fl.validate, bad)


def test_signing_refuses_signed_numbers_too_large_to_round(record: dict[str, Any]) -> None:
    # Finite but x × 1e9 overflows: the core's canonicalization refuses it (SPEC §3 step 2).
    verifier = fl.Verifier(hmac_keys=["k"], versions=[1])
    for field in NUMBER_FIELDS:
        bad = dict(record, **{field: 1e300})
        for name, call in signing_calls():
            if name != "Verifier.verify_many":
                raises(fl.ValidationError, "invalid_field", field, call, bad)
        # verify_many answers False for a record whose payload cannot be built.
        good = dict(record, sig=fl.sign_hmac(record, "k", version=1))
        assert verifier.verify_many([good, dict(bad, sig="A" * 43 + "=")]) == [True, False]
        # v2 does not round: 1e300 signs as sent.
        assert fl.canonical_payload(bad).count(b"1e+300") == 1


def test_signature_check_refuses_a_malformed_sig(record: dict[str, Any]) -> None:
    verifier = fl.Verifier(hmac_keys=["k"])
    for value in (7, b"sig", ["x"], True):
        bad = dict(record, sig=value)
        raises(fl.ValidationError, "invalid_field", "sig", verifier.verify, bad)
        e = raises(fl.ValidationError, "invalid_field", "sig", verifier.verify_many, [record, bad])
        assert str(e).startswith("records[1]: ")
        raises(fl.ValidationError, "invalid_field", "sig", fl.validate, bad)


def test_not_a_dict() -> None:
    for value in (None, [], "{}", b"{}", 3):
        for name, call in signing_calls():
            e = raises(fl.ValidationError, "invalid_json", None, call, value)
            if name.endswith("_many"):
                assert str(e).startswith("records[1]: ")
        raises(fl.ValidationError, "invalid_json", None, fl.validate, value)


def test_unknown_and_unsigned_fields_do_not_change_the_v1_signature(record: dict[str, Any]) -> None:
    sig = fl.sign_hmac(record, "k", version=1)
    assert fl.sign_hmac(dict(record, extra={"anything": [1, 2]}, seed=9, v_star=[], regime="x"), "k", version=1) == sig
    assert fl.sign_hmac(dict(record, D_hat=record["D_hat"] + 4e-10), "k", version=1) == sig  # rounds to 9 decimals
    # v2 signs every one of those changes.
    v2 = fl.sign_hmac(record, "k")
    for changed in (dict(record, extra={"anything": [1, 2]}), dict(record, seed=9), dict(record, v_star=[]),
                    dict(record, regime="x"), dict(record, D_hat=record["D_hat"] + 4e-10)):
        assert fl.sign_hmac(changed, "k") != v2


def test_parse_pcs_is_strict_and_round_trips(record: dict[str, Any]) -> None:
    text = json.dumps(record)
    parsed = fl.parse_pcs(text)
    assert parsed == record
    assert fl.parse_pcs(text.encode()) == record
    assert fl.parse_pcs(bytearray(text.encode())) == record
    assert fl.parse_pcs(json.dumps(dict(record, unknown=[1, {"a": None}]))) == dict(record, unknown=[1, {"a": None}])
    raises(fl.ValidationError, "invalid_json", None, fl.parse_pcs, "{")
    raises(fl.ValidationError, "invalid_json", None, fl.parse_pcs, "\ud800")
    raises(fl.ValidationError, "invalid_json", None, fl.parse_pcs, 12)
    raises(fl.ValidationError, "invalid_field", "epoch", fl.parse_pcs, text.replace('"epoch": 1', '"epoch": 1.0'))


def test_validate_checks_ranges(record: dict[str, Any]) -> None:
    fl.validate(record)
    for field, value in [("coh_star", 1.06), ("coh_star", -0.1), ("r", 1.5), ("budget", -0.01), ("regime", "calm"),
                         ("schema", "other"), ("pcs_id", "0" * 64)]:
        raises(fl.ValidationError, "validation", field, fl.validate, dict(record, **{field: value}))
    raises(fl.ValidationError, "validation", "scales", fl.validate, dict(record, scales=[], N_j={}))


def test_hmac_keys() -> None:
    rec = sample_record()
    raises(fl.InvalidKeyError, "invalid_key", None, fl.sign_hmac, rec, "")
    raises(fl.InvalidKeyError, "invalid_key", None, fl.sign_hmac, rec, 5)
    raises(fl.InvalidKeyError, "invalid_key", None, fl.sign_hmac, rec, "\udc00")
    with pytest.raises(fl.InvalidKeyError):
        fl.Verifier(hmac_keys=[""])
    assert fl.sign_hmac(rec, "κλειδί") == fl.sign_hmac(rec, "κλειδί".encode())


def test_signature_errors(record: dict[str, Any]) -> None:
    for version in (1, 2):
        v = fl.Verifier(hmac_keys=["k"], versions=[version])
        raises(fl.SignatureError, "signature_missing", "sig", v.verify, record)
        raises(fl.SignatureError, "signature_missing", "sig", v.verify, dict(record, sig=""))
        raises(fl.SignatureError, "signature_missing", "sig", v.verify, dict(record, sig=None))
        sig = fl.sign_hmac(record, "k", version=version)
        raises(fl.SignatureError, "signature_invalid", "sig", fl.Verifier(versions=[version]).verify, dict(record, sig=sig))
        prefix = "v2:" if version == 2 else ""
        assert sig.startswith(prefix) and len(sig) == len(prefix) + 44
        mac = sig[len(prefix):]
        for bad in (mac.rstrip("="), " " + mac, mac.replace("+", "-").replace("/", "_") + "x", "AAAA", mac + "\n"):
            if bad != mac:
                raises(fl.SignatureError, "signature_invalid", "sig", v.verify, dict(record, sig=prefix + bad))
        assert v.verify_many([dict(record, sig=sig), record, dict(record, sig=prefix + "AAAA")]) == [True, False, False]


def test_key_rotation_and_ed25519(record: dict[str, Any]) -> None:
    seed, public = fl.generate_ed25519_keypair()
    assert fl.ed25519_public_key(seed) == public
    other_seed, other_public = fl.generate_ed25519_keypair()
    assert seed != other_seed
    v = fl.Verifier(hmac_keys=["old", b"new"], ed25519_public_keys=[other_public])
    assert len(v) == 3
    for sig in (fl.sign_hmac(record, "old"), fl.sign_hmac(record, "new"), fl.sign_ed25519(record, other_seed)):
        v.verify(dict(record, sig=sig))
    with pytest.raises(fl.SignatureError):
        v.verify(dict(record, sig=fl.sign_ed25519(record, seed)))
    v.add_ed25519_public_key(public)
    v.verify(dict(record, sig=fl.sign_ed25519(record, seed)))
    for bad in ("", "AAAA", public + "=", 7):
        with pytest.raises(fl.InvalidKeyError) as e:
            v.add_ed25519_public_key(bad)
        assert e.value.kind == "invalid_key"
        with pytest.raises(fl.InvalidKeyError):
            fl.sign_ed25519(record, bad)


def test_verify_outcomes(record: dict[str, Any]) -> None:
    built = fl.build_pcs(merkle_root="a" * 64, epoch=1, shard_id="shard-001", scales=[2, 4, 8, 16, 32],
                         N_j={"2": 3, "4": 5, "8": 9, "16": 17, "32": 31}, coh_star=0.73, r=0.87)
    out = fl.verify(built)
    assert out["accepted"] is True and out["escalated"] is False and "reason" not in out
    assert out["recomputed_D_hat"] == built["D_hat"]
    bad = fl.verify(dict(built, D_hat=built["D_hat"] + 1))
    assert bad["accepted"] is False and bad["escalated"] is True and bad["reason"].startswith("D_hat mismatch")
    assert fl.verify(dict(built, D_hat=built["D_hat"] + 1), fl.VerifyParams(tol_d=2))["reason"].startswith("regime")
    assert fl.verify_many([built, dict(built, budget=0.9)]) == [out, fl.verify(dict(built, budget=0.9))]


def test_verify_params() -> None:
    p = fl.VerifyParams()
    assert p.to_dict() == {"tol_d": 0.15, "tol_coh": 0.05, "alpha": 0.30, "beta": 0.50, "gamma": 0.20,
                           "base": 0.10, "d0": 2.2, "budget_tol": 0.01}
    assert fl.VerifyParams(tol_d=1) == fl.VerifyParams(tol_d=1.0) != p
    assert "tol_d=0.15" in repr(p)
    for name, value in [("tol_d", -1), ("alpha", math.nan), ("budget_tol", True), ("d0", "2")]:
        raises(fl.InvalidArgumentError, "invalid_argument", name, lambda: fl.VerifyParams(**{name: value}))
    with pytest.raises(TypeError):
        fl.VerifyParams(tolerance=1)  # type: ignore[call-arg]


def test_build_pcs_errors_name_the_field() -> None:
    base: dict[str, Any] = dict(merkle_root="m", epoch=1, shard_id="s", scales=[2, 4], N_j={"2": 3, "4": 9},
                                coh_star=0.5, r=0.5)
    rec = fl.build_pcs(**base, ft={"degraded": True}, sent_at="2026-01-01T00:00:00Z", v_star=[1, 2.5])
    assert rec["ft"] == {"degraded": True} and rec["v_star"] == [1.0, 2.5] and rec["version"] == "0.1"
    assert rec["pcs_id"] == hashlib.sha256(b"m|1|s").hexdigest()
    fl.validate(rec)
    for key, value, kind, field in [
        ("epoch", 1.0, "invalid_field", "epoch"),
        ("scales", [2], "validation", "scales"),
        ("N_j", {"2": 3}, "validation", "N_j.4"),
        ("N_j", {"2": 3, "4": 0}, "validation", "N_j.4"),
        ("coh_star", 2.0, "validation", "coh_star"),
        ("r", "x", "invalid_field", "r"),
        ("shard_id", "\ud800", "invalid_field", "shard_id"),
    ]:
        raises(fl.ValidationError, kind, field, lambda: fl.build_pcs(**dict(base, **{key: value})))


def test_batches_name_the_bad_index(record: dict[str, Any]) -> None:
    records = [record, dict(record, epoch=1.0)]
    for call in (lambda: fl.sign_hmac_many(records, "k"), lambda: fl.verify_many(records),
                 lambda: fl.Verifier(hmac_keys=["k"]).verify_many(records)):
        e = raises(fl.ValidationError, "invalid_field", "epoch", call)
        assert str(e).startswith("records[1]: ")
    # Tuples and other iterables too; a finite number too large to round is named
    # with its index as well (it fails after the fields are read).
    for batch in (tuple(records), iter(records)):
        e = raises(fl.ValidationError, "invalid_field", "epoch", fl.sign_hmac_many, batch, "k")
        assert str(e).startswith("records[1]: ")
    e = raises(fl.ValidationError, "invalid_field", "D_hat",
               lambda: fl.sign_hmac_many([record, record, dict(record, D_hat=1e300)], "k", version=1))
    assert str(e).startswith("records[2]: ")
    e = raises(fl.ValidationError, "invalid_field", "seed", fl.sign_hmac_many, [record, record, dict(record, seed=2**53)], "k")
    assert str(e).startswith("records[2]: ")
    raises(fl.ValidationError, "invalid_field", "records", fl.sign_hmac_many, 3, "k")
    raises(fl.ValidationError, "invalid_field", "records", fl.Verifier(hmac_keys=["k"]).verify_many, 3)
    # A large batch (split across threads) gives the same answers in the same order.
    many = [dict(record, epoch=i, D_hat=i / 7) for i in range(5000)]
    sigs = fl.sign_hmac_many(many, "k")
    assert sigs == [fl.sign_hmac(r, "k") for r in many]
    checked = [dict(r, sig=s) for r, s in zip(many, sigs)]
    checked[4321]["D_hat"] = 0.5
    checked[17]["sig"] = ""
    want = [True] * len(many)
    want[4321] = want[17] = False
    assert fl.Verifier(hmac_keys=["k"]).verify_many(checked) == want
    assert fl.Verifier(hmac_keys=["k"]).verify_many(r for r in checked) == want
    assert fl.sign_hmac_many((r for r in many), "k") == sigs
    # An iterable that fails midway: its exception propagates, small batch or large.
    for size in (1, 3000):
        def failing() -> Any:
            yield from many[:size]
            raise RuntimeError("boom")
        with pytest.raises(RuntimeError, match="boom"):
            fl.sign_hmac_many(failing(), "k")
        with pytest.raises(RuntimeError, match="boom"):
            fl.Verifier(hmac_keys=["k"]).verify_many(failing())
    # A bad record late in a large batch (read while earlier ones are being signed).
    for i in (0, 1023, 4999):
        bad = many[:i] + [dict(many[i], shard_id=None)] + many[i + 1:]
        for call in (lambda: fl.sign_hmac_many(bad, "k"), lambda: fl.Verifier(hmac_keys=["k"]).verify_many(bad),
                     lambda: fl.sign_hmac_many(iter(bad), "k")):
            e = raises(fl.ValidationError, "invalid_field", "shard_id", call)
            assert str(e).startswith(f"records[{i}]: ")
    assert fl.sign_hmac_many([record, record], "k") == [fl.sign_hmac(record, "k")] * 2
    assert fl.sign_hmac_many((r for r in [record]), b"k") == [fl.sign_hmac(record, "k")]
    assert fl.sign_hmac_many([], "k") == []
    raises(fl.InvalidKeyError, "invalid_key", None, fl.sign_hmac_many, [record], "")


def test_exception_hierarchy() -> None:
    for cls in (fl.ValidationError, fl.SignatureError, fl.InvalidKeyError, fl.RingError, fl.InvalidArgumentError,
                fl.UnsupportedSignatureVersionError):
        assert issubclass(cls, fl.FractalError) and issubclass(cls, Exception)
        assert cls.__module__ == "fractal_lba"
    assert issubclass(fl.UnsupportedSignatureVersionError, fl.SignatureError)
    assert fl.UnsupportedSignatureVersionError.kind == "unsupported_signature_version"
    assert fl.FractalError.field is None


def test_ring_api() -> None:
    ring = fl.Ring(["a", {"name": "b", "weight": 2}, {"name": "c", "healthy": False}], vnodes=10)
    assert len(ring) == 3
    assert ring.stats() == {"shards": 3, "healthy_shards": 2, "points": 40, "vnodes": 10}
    assert ring.shards() == [{"name": "a", "weight": 1, "healthy": True}, {"name": "b", "weight": 2, "healthy": True},
                             {"name": "c", "weight": 1, "healthy": False}]
    keys = [f"k{i}" for i in range(200)]
    assert {ring.pick(k) for k in keys} == {"a", "b"}
    assert all(len(set(ring.pick_n(k, 2))) == 2 for k in keys)
    raises(fl.RingError, "ring", None, ring.pick_n, "k", 3)
    raises(fl.InvalidArgumentError, "invalid_argument", "n", ring.pick_n, "k", 0)
    after = fl.Ring(["a", {"name": "b", "weight": 2}, {"name": "c", "healthy": False}], vnodes=10)
    after.add_shard("d")
    moves = ring.plan(after, keys)
    assert moves and all(m["to"] == "d" and m["from"] in ("a", "b") for m in moves)
    assert ring.plan(ring, keys) == []
    ring.set_healthy("a", False)
    ring.set_healthy("b", False)
    raises(fl.RingError, "ring", None, ring.pick, "k")
    raises(fl.RingError, "ring", None, ring.remove_shard, "zz")
    raises(fl.RingError, "ring", None, ring.add_shard, "a")
    raises(fl.InvalidArgumentError, "invalid_argument", "weight", ring.add_shard, "e", 0)
    raises(fl.InvalidArgumentError, "invalid_argument", "vnodes", lambda: fl.Ring(vnodes=0))
    raises(fl.InvalidArgumentError, "invalid_argument", "shards[0]", lambda: fl.Ring([3]))
    raises(fl.InvalidArgumentError, "invalid_argument", "healthy", ring.set_healthy, "a", 1)
    raises(fl.InvalidArgumentError, "invalid_argument", "key", ring.pick, 3)
    raises(fl.RingError, "ring", None, fl.Ring().pick, "k")
