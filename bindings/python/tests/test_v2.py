"""Contract v2 through the Python API: the version argument, what v2 signs (the whole
record, unknown fields as sent), the SPEC §1 limits on dicts, the verifier's policy,
and batches of either version."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

import fractal_lba as fl
from conftest import sample_record

SEED = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="


def raises(exc: type[fl.FractalError], kind: str, field: str | None, fn: Any, *args: Any, **kw: Any) -> fl.FractalError:
    with pytest.raises(exc) as e:
        fn(*args, **kw)
    assert (e.value.kind, e.value.field) == (kind, field), str(e.value)
    if field is not None:
        assert f"`{field}`" in str(e.value)
    return e.value


def signers() -> list[Any]:
    """Every call that takes `version`, as f(record, version=...)."""
    return [
        lambda r, **kw: fl.canonical_payload(r, **kw),
        lambda r, **kw: fl.digest(r, **kw),
        lambda r, **kw: fl.sign_hmac(r, "k", **kw),
        lambda r, **kw: fl.sign_hmac_many([r], "k", **kw),
        lambda r, **kw: fl.sign_ed25519(r, SEED, **kw),
    ]


@pytest.mark.parametrize("version", [0, 3, -1, 2**70, True, False, 2.0, "2", "v2", [2], b"2"])
def test_version_must_be_1_or_2(record: dict[str, Any], version: Any) -> None:
    for call in signers():
        raises(fl.InvalidArgumentError, "invalid_argument", "version", call, record, version=version)
    # The argument is checked before the records or the key are read.
    raises(fl.InvalidArgumentError, "invalid_argument", "version", fl.sign_hmac_many, [None], "", version=version)


def test_v2_is_the_default(record: dict[str, Any]) -> None:
    for call in signers():
        assert call(record) == call(record, version=2) != call(record, version=1)
    sig = fl.sign_hmac(record, "k")
    assert sig.startswith("v2:") and len(sig) == 3 + 44
    ed = fl.sign_ed25519(record, SEED)
    assert ed.startswith("v2:") and len(ed) == 3 + 88
    v1 = fl.sign_ed25519(record, SEED, version=1)
    assert len(v1) == 88 and ":" not in v1
    # The v2 digest is SHA-256 of the domain prefix and the payload.
    import hashlib

    assert fl.digest(record) == hashlib.sha256(b"fractal-lba/pcs/v2\n" + fl.canonical_payload(record)).digest()
    assert fl.digest(record, version=1) == hashlib.sha256(fl.canonical_payload(record, version=1)).digest()


def test_v2_payload_is_the_record_but_its_delivery_fields(record: dict[str, Any]) -> None:
    payload = json.loads(fl.canonical_payload(record))
    assert set(payload) == set(record) - {"sig", "attempt", "sent_at", "ft"}
    assert payload == {k: v for k, v in record.items() if k not in ("sig", "attempt", "sent_at", "ft")}
    # Keys sorted, no whitespace, numbers as given (no rounding).
    text = fl.canonical_payload(dict(record, D_hat=1.4100000004)).decode()
    assert '"D_hat":1.4100000004,' in text and " " not in text
    assert text.index('"D_hat"') < text.index('"N_j"') < text.index('"budget"')
    delivery = dict(record, attempt=9, sent_at="2030-01-01T00:00:00Z", ft={"degraded": True}, sig="v2:x")
    assert fl.canonical_payload(delivery) == fl.canonical_payload(record)


def test_tampering_after_v2_signing_is_detected(record: dict[str, Any]) -> None:
    seed_pub = fl.ed25519_public_key(SEED)
    verifier = fl.Verifier(hmac_keys=["k"], ed25519_public_keys=[seed_pub])
    for sig in (fl.sign_hmac(record, "k"), fl.sign_ed25519(record, SEED)):
        signed = dict(record, sig=sig)
        verifier.verify(signed)
        changes = {
            "regime": dict(signed, regime="sticky"),
            "scales": dict(signed, scales=[2, 4, 8, 16, 32, 64]),
            "N_j": dict(signed, N_j=dict(record["N_j"], **{"32": 30})),
            "v_star": dict(signed, v_star=[0.12, 0.99]),
            "seed": dict(signed, seed=43),
            "schema": dict(signed, schema="x"),
            "version": dict(signed, version="0.2"),
            "unknown added": dict(signed, note="hi"),
            "regime removed": {k: v for k, v in signed.items() if k != "regime"},
            "D_hat below round9": dict(signed, D_hat=record["D_hat"] + 1e-12),
        }
        for what, changed in changes.items():
            with pytest.raises(fl.SignatureError) as e:
                verifier.verify(changed)
            assert e.value.kind == "signature_invalid", what
        assert verifier.verify_many([signed, *changes.values()]) == [True] + [False] * len(changes)
        # The delivery fields may change on the way.
        verifier.verify(dict(signed, attempt=2, sent_at="2030-01-01T00:00:00Z", ft={"outbox_seq": 3}))


def test_unknown_fields_round_trip_and_are_signed(record: dict[str, Any]) -> None:
    extra = {"zz_obj": {"b": [1, 2.5, None, True, False, "é\u2028"], "a": {}}, "aa_list": [], "mid_null": None,
             "big": 2**53 - 1, "neg": -(2**53) + 1, "tuple": (1, 2)}
    rec = dict(record, **extra)
    parsed = fl.parse_pcs(json.dumps(rec))
    # Tuples become lists; everything else comes back as given.
    assert parsed == dict(rec, tuple=[1, 2])
    assert fl.canonical_payload(parsed) == fl.canonical_payload(rec)
    payload = fl.canonical_payload(rec).decode()
    assert '"mid_null":null' in payload and '"zz_obj":{"a":{},"b":[1,2.5,null,true,false,"é\u2028"]}' in payload
    sig = fl.sign_hmac(rec, "k")
    fl.Verifier(hmac_keys=["k"]).verify(dict(parsed, sig=sig))
    # Without an unknown field, the signature no longer holds (and v1 never saw them).
    for k in extra:
        without = {kk: v for kk, v in rec.items() if kk != k}
        with pytest.raises(fl.SignatureError):
            fl.Verifier(hmac_keys=["k"]).verify(dict(without, sig=sig))
        assert fl.sign_hmac(without, "k", version=1) == fl.sign_hmac(rec, "k", version=1)
    # A key with the value None is absent, for the SPEC's fields: the record is sent without it.
    assert fl.canonical_payload(dict(record, regime=None)) == fl.canonical_payload(
        {k: v for k, v in record.items() if k != "regime"})


def test_parse_pcs_keeps_absent_optional_fields_absent(record: dict[str, Any]) -> None:
    bare = {k: v for k, v in record.items() if k not in ("seed", "scales", "N_j", "v_star", "regime", "attempt")}
    parsed = fl.parse_pcs(json.dumps(bare))
    assert parsed == bare
    assert fl.canonical_payload(parsed) == fl.canonical_payload(bare)
    assert b'"seed"' not in fl.canonical_payload(parsed)
    # Present with default values, they are signed.
    zeros = dict(bare, seed=0, scales=[], N_j={}, v_star=[], regime="")
    assert fl.parse_pcs(json.dumps(zeros)) == zeros
    assert fl.canonical_payload(zeros) != fl.canonical_payload(bare)


@pytest.mark.parametrize(
    ("value", "path"),
    [
        (2**64, "zz"),
        (-(2**63) - 1, "zz"),
        ([1, {"a": [math.nan]}], "zz[1].a[0]"),
        ({"k": math.inf}, "zz.k"),
        (b"bytes", "zz"),
        ({1, 2}, "zz"),
        ({"a": {1: "x"}}, "zz.a"),
        ({"a": "\ud800"}, "zz.a"),
        (object(), "zz"),
    ],
)
def test_unknown_values_must_be_json(record: dict[str, Any], value: Any, path: str) -> None:
    bad = dict(record, zz=value)
    for call in (fl.validate, fl.verify, fl.canonical_payload, lambda r: fl.sign_hmac(r, "k"),
                 lambda r: fl.sign_hmac_many([r], "k"), lambda r: fl.Client("http://127.0.0.1:9").submit(r)):
        raises(fl.ValidationError, "invalid_field", path, call, bad)
    # v1 does not read them.
    assert fl.sign_hmac(bad, "k", version=1) == fl.sign_hmac(record, "k", version=1)


def test_deep_or_cyclic_values_are_refused_not_recursed(record: dict[str, Any]) -> None:
    deep: Any = 1
    for _ in range(200):
        deep = [deep]
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    for value in (deep, cyclic):
        with pytest.raises(fl.ValidationError) as exc:
            fl.canonical_payload(dict(record, zz=value))
        assert exc.value.kind == "invalid_field" and exc.value.field is not None and exc.value.field.startswith("zz[0]")
        assert "nests deeper" in str(exc.value)
    fl.canonical_payload(dict(record, zz=[[[[1]]]]))


def test_non_str_record_keys_are_refused(record: dict[str, Any]) -> None:
    bad = dict(record)
    bad[7] = "x"  # type: ignore[index]
    raises(fl.ValidationError, "invalid_field", "record", fl.sign_hmac, bad, "k")


def test_integers_beyond_2_53_cannot_be_signed_with_v2(record: dict[str, Any]) -> None:
    without_2 = {k: v for k, v in record["N_j"].items() if k != "2"}
    cases = [
        ("seed", dict(record, seed=2**53)),
        ("N_j.2", dict(record, N_j=dict(record["N_j"], **{"2": 2**53}))),
        ("zz.n", dict(record, zz={"n": -(2**53)})),
        ("scales[0]", dict(record, scales=[2**60] + record["scales"][1:], N_j=without_2)),
    ]
    for field, rec in cases:
        for call in signers():
            raises(fl.ValidationError, "invalid_field", field, call, rec)
        fl.sign_hmac(rec, "k", version=1)  # v1 does not sign them
        assert fl.parse_pcs(json.dumps(rec)) == rec  # the parser reads them (SPEC §1: 64-bit)
    fl.sign_hmac(dict(record, seed=2**53 - 1, zz=-(2**53) + 1), "k")


@pytest.mark.parametrize("field", ["scales", "v_star", "N_j"])
def test_sixty_five_entries_are_refused(record: dict[str, Any], field: str) -> None:
    scales = list(range(1, 65))
    ok = dict(record, scales=scales, N_j={str(s): s for s in scales}, v_star=[0.5] * 64)
    fl.sign_hmac(ok, "k")
    fl.validate(ok)
    if field == "scales":
        bad = dict(ok, scales=scales + [65])
    elif field == "v_star":
        bad = dict(ok, v_star=[0.5] * 65)
    else:
        bad = dict(ok, scales=scales + [65], N_j={str(s): s for s in range(1, 66)})
    expect = "scales" if field == "N_j" else field  # 65 N_j entries need 65 scales: scales fails first
    for call in (fl.validate, fl.verify, fl.parse_pcs, lambda r: fl.sign_hmac(r, "k"), lambda r: fl.sign_ed25519(r, SEED)):
        arg = json.dumps(bad) if call is fl.parse_pcs else bad
        e = raises(fl.ValidationError, "invalid_field", expect, call, arg)
        assert isinstance(e, fl.FractalError) and "64" in str(e)


def test_other_limits_of_spec_1(record: dict[str, Any]) -> None:
    cases = [
        (dict(record, shard_id=""), "shard_id"),
        (dict(record, merkle_root="m" * 129), "merkle_root"),
        (dict(record, scales=[2, 0]), "scales[1]"),
        (dict(record, N_j=dict(record["N_j"], **{"3": 1})), "N_j.3"),
        (dict(record, N_j=dict(record["N_j"], **{"2": 0})), "N_j.2"),
        (dict(record, N_j=dict(record["N_j"], **{"02": 1})), "N_j.02"),
    ]
    for rec, field in cases:
        for call in (fl.validate, fl.canonical_payload, lambda r: fl.sign_hmac(r, "k")):
            raises(fl.ValidationError, "invalid_field", field, call, rec)
    # v1 reads shard_id and merkle_root, and applies their limit too.
    for rec, field in cases[:2]:
        raises(fl.ValidationError, "invalid_field", field, fl.sign_hmac, rec, "k", version=1)
    for field in ("coh_star", "D_hat", "r", "budget"):
        missing = {k: v for k, v in record.items() if k != field}
        for version in (1, 2):
            raises(fl.ValidationError, "invalid_field", field, fl.sign_hmac, missing, "k", version=version)


def test_policy_arguments(record: dict[str, Any]) -> None:
    assert fl.Verifier().versions == (2,) and fl.Verifier().accept_encodings == ()
    assert fl.Verifier(versions=["v2", 1, "v1"]).versions == (1, 2)
    assert fl.Verifier(versions=iter([1])).versions == (1,)
    assert fl.Verifier(accept_encodings=["seed-go", "seed-python", "seed-go"]).accept_encodings == ("seed-python", "seed-go")
    assert repr(fl.Verifier(hmac_keys=["k"], versions=(1, 2))) == "Verifier(<1 keys>, versions=(1, 2), accept_encodings=())"
    for versions in ([], [3], ["v3"], [True], "v2", 2, [2.0], [None]):
        raises(fl.InvalidArgumentError, "invalid_argument", "versions", fl.Verifier, versions=versions)
    for encodings in (["seed-rust"], "seed-go", [1], 5):
        raises(fl.InvalidArgumentError, "invalid_argument", "accept_encodings", fl.Verifier, accept_encodings=encodings)


def test_policy_decides(record: dict[str, Any]) -> None:
    v1 = dict(record, sig=fl.sign_hmac(record, "k", version=1))
    v2 = dict(record, sig=fl.sign_hmac(record, "k"))
    v3 = dict(record, sig="v3:" + "A" * 44)
    only2, only1, both = (fl.Verifier(hmac_keys=["k"], versions=v) for v in ((2,), (1,), (1, 2)))
    only2.verify(v2)
    e = raises(fl.UnsupportedSignatureVersionError, "unsupported_signature_version", "sig", only2.verify, v1)
    assert "v1" in str(e) and isinstance(e, fl.SignatureError)
    raises(fl.UnsupportedSignatureVersionError, "unsupported_signature_version", "sig", only1.verify, v2)
    only1.verify(v1)
    both.verify(v1)
    both.verify(v2)
    for v in (only2, only1, both):
        raises(fl.UnsupportedSignatureVersionError, "unsupported_signature_version", "sig", v.verify, v3)
    assert only2.verify_many([v1, v2, v3]) == [False, True, False]
    assert only1.verify_many([v1, v2, v3]) == [True, False, False]
    assert both.verify_many([v1, v2, v3, record]) == [True, True, False, False]
    # A v2 signature does not verify as v1 after its prefix is stripped, nor the reverse.
    raises(fl.SignatureError, "signature_invalid", "sig", both.verify, dict(record, sig=v2["sig"][3:]))
    raises(fl.SignatureError, "signature_invalid", "sig", both.verify, dict(record, sig="v2:" + v1["sig"]))


def test_batches_of_either_version(record: dict[str, Any]) -> None:
    many = [dict(record, epoch=i, D_hat=i / 7, zz={"i": i}) for i in range(3000)]
    for m in many:
        m["pcs_id"] = fl.pcs_id(m["merkle_root"], m["epoch"], m["shard_id"])
    for version in (1, 2):
        sigs = fl.sign_hmac_many(many, "k", version=version)
        assert sigs == [fl.sign_hmac(r, "k", version=version) for r in many]
        assert fl.sign_hmac_many(iter(many), b"k", version=version) == sigs
    v1s = fl.sign_hmac_many(many, "k", version=1)
    v2s = fl.sign_hmac_many(many, "k")
    mixed = [dict(r, sig=(v1s if i % 2 else v2s)[i]) for i, r in enumerate(many)]
    mixed[1001]["zz"] = {"i": -1}  # v1-signed: unknown fields are not covered
    mixed[1000]["zz"] = {"i": -1}  # v2-signed: broken
    mixed[2000]["regime"] = "sticky"  # v2-signed: broken
    want_both = [True] * len(many)
    want_both[1000] = want_both[2000] = False
    assert fl.Verifier(hmac_keys=["k"], versions=(1, 2)).verify_many(mixed) == want_both
    want_v2 = [i % 2 == 0 for i in range(len(many))]
    want_v2[1000] = want_v2[2000] = False
    assert fl.Verifier(hmac_keys=["k"]).verify_many(mixed) == want_v2
    # A record that v2 cannot read is named by its index, in a large batch too.
    bad = many[:2500] + [dict(many[2500], zz=b"x")] + many[2501:]
    e = raises(fl.ValidationError, "invalid_field", "zz", fl.sign_hmac_many, bad, "k")
    assert str(e).startswith("records[2500]: ")
    fl.sign_hmac_many(bad, "k", version=1)


def test_sample_record_is_unchanged_by_signing() -> None:
    rec = sample_record()
    before = json.dumps(rec, sort_keys=True)
    for call in signers():
        call(rec)
    assert json.dumps(rec, sort_keys=True) == before
