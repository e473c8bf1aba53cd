"""Hypothesis properties, with the benchmark's pure-Python SPEC §3–4 as an oracle
(itself checked against every golden canonical case first)."""

from __future__ import annotations

import json
import math
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fractal_lba as fl
from conftest import GOLDEN, load_golden, sample_record

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

text = st.text(st.characters(codec="utf-8"), max_size=40)  # no lone surrogates
ids = st.text(st.characters(codec="utf-8"), min_size=1, max_size=32)  # 1-128 bytes (SPEC §1)
finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12) | st.floats(
    allow_nan=False, allow_infinity=False, min_value=-1e-3, max_value=1e-3
)
epochs = st.integers(min_value=0, max_value=2**53 - 1)


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    merkle_root, shard_id, epoch = draw(ids), draw(ids), draw(epochs)
    rec = sample_record()
    rec.update(
        merkle_root=merkle_root,
        shard_id=shard_id,
        epoch=epoch,
        pcs_id=fl.pcs_id(merkle_root, epoch, shard_id),
        D_hat=draw(finite),
        coh_star=draw(finite),
        r=draw(finite),
        budget=draw(finite),
    )
    return rec


def test_reference_matches_every_golden_canonical_case(ref: ModuleType) -> None:
    if not (GOLDEN / "canonical.json").exists():
        pytest.fail("golden/canonical.json is missing")
    data = load_golden("canonical.json")
    for group in data["testGroups"]:
        for t in group["tests"]:
            assert ref.canonical_payload(t["record"]) == t["expected"]["canonical"].encode(), t["tcId"]
            assert ref.sign_hmac(t["record"], group["hmac_key"]) == t["expected"]["sig_hmac"], t["tcId"]


@SETTINGS
@given(rec=records(), key=st.text(st.characters(codec="utf-8"), min_size=1, max_size=20))
def test_sdk_agrees_with_the_pure_python_reference(ref: ModuleType, rec: dict[str, Any], key: str) -> None:
    assert fl.canonical_payload(rec, version=1) == ref.canonical_payload(rec)
    sig = fl.sign_hmac(rec, key, version=1)
    assert sig == ref.sign_hmac(rec, key)
    signed = dict(rec, sig=sig)
    fl.Verifier(hmac_keys=[key], versions=[1]).verify(signed)
    assert ref.verify_hmac(signed, [key])


@SETTINGS
@given(rec=records(), field=st.sampled_from(["pcs_id", "merkle_root", "shard_id", "epoch", "D_hat", "coh_star", "r", "budget"]),
       data=st.data())
def test_changing_a_signed_field_breaks_the_signature(rec: dict[str, Any], field: str, data: st.DataObject) -> None:
    seed = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
    verifier = fl.Verifier(hmac_keys=["k"], ed25519_public_keys=[fl.ed25519_public_key(seed)], versions=(1, 2))
    new = data.draw({"pcs_id": text, "merkle_root": ids, "shard_id": ids, "epoch": epochs}.get(field, finite))
    tampered = dict(rec, **{field: new})
    for version in (1, 2):
        same = fl.canonical_payload(tampered, version=version) == fl.canonical_payload(rec, version=version)
        assert same == (tampered == rec) or version == 1  # v2 does not round: any change shows
        _check_tampering(verifier, rec, tampered, same, seed, version)


def _check_tampering(verifier: Any, rec: dict[str, Any], tampered: dict[str, Any], same: bool, seed: str,
                     version: int) -> None:
    for sig in (fl.sign_hmac(rec, "k", version=version), fl.sign_ed25519(rec, seed, version=version)):
        verifier.verify(dict(rec, sig=sig))
        if same:  # e.g. a number change below 1e-9 after rounding: still the same payload
            verifier.verify(dict(tampered, sig=sig))
        else:
            with pytest.raises(fl.SignatureError):
                verifier.verify(dict(tampered, sig=sig))


@SETTINGS
@given(rec=records(), seed=st.integers(-(2**63), 2**63 - 1), v_star=st.lists(finite, max_size=4), regime=text)
def test_unsigned_fields_do_not_matter(rec: dict[str, Any], seed: int, v_star: list[float], regime: str) -> None:
    changed = dict(rec, seed=seed, v_star=v_star, regime=regime)
    assert fl.sign_hmac(changed, "k", version=1) == fl.sign_hmac(rec, "k", version=1)
    if changed != rec and abs(seed) < 2**53:
        assert fl.sign_hmac(changed, "k") != fl.sign_hmac(rec, "k")


@SETTINGS
@given(rec=records())
def test_json_round_trip(rec: dict[str, Any]) -> None:
    parsed = fl.parse_pcs(json.dumps(rec))
    assert parsed == rec
    assert fl.canonical_payload(parsed) == fl.canonical_payload(rec)
    assert fl.canonical_payload(parsed, version=1) == fl.canonical_payload(rec, version=1)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8) | st.integers(), children, max_size=4),
    max_leaves=12,
)
FIELDS = ["pcs_id", "schema", "version", "shard_id", "epoch", "attempt", "sent_at", "seed", "scales", "N_j", "coh_star",
          "v_star", "D_hat", "r", "regime", "budget", "merkle_root", "sig", "ft"]


def _survives(fn: Any, *args: Any) -> None:
    """Any outcome is fine except a crash or an exception outside FractalError."""
    try:
        fn(*args)
    except fl.FractalError as e:
        assert e.kind in {"invalid_json", "invalid_field", "validation", "signature_missing", "signature_invalid",
                          "unsupported_signature_version", "invalid_key", "ring", "invalid_argument"}
        assert isinstance(str(e), str)


@SETTINGS
@given(value=json_values, patch=st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=4))
def test_arbitrary_input_never_crashes(value: Any, patch: dict[str, Any]) -> None:
    verifier = fl.Verifier(hmac_keys=["k"], versions=(1, 2))
    for candidate in (value, dict(sample_record(), **patch), dict(sample_record(), **{"zz": value})):
        for fn in (fl.canonical_payload, fl.digest, fl.validate, fl.verify, verifier.verify,
                   lambda r: fl.canonical_payload(r, version=1), lambda r: fl.sign_hmac_many([r], "k", version=1),
                   lambda r: fl.sign_hmac(r, "k"), lambda r: fl.sign_hmac_many([r], "k"), lambda r: fl.verify_many([r]),
                   lambda r: verifier.verify_many([r]), fl.parse_pcs, lambda r: fl.Ring([r]), fl.ed25519_public_key):
            _survives(fn, candidate)


@SETTINGS
@given(data=st.binary(max_size=200) | st.text(max_size=200))
def test_parse_pcs_never_crashes(data: Any) -> None:
    _survives(fl.parse_pcs, data)


@SETTINGS
@given(x=st.floats(allow_nan=False, allow_infinity=False, min_value=-1e11, max_value=1e11))
def test_reference_round9_matches_the_core(ref: ModuleType, x: float) -> None:
    rec = dict(sample_record(), D_hat=x)
    assert fl.canonical_payload(rec, version=1).startswith(b'{"D_hat":' + ref.es_number(ref.round9(x)).encode() + b',')
    assert not math.copysign(1.0, ref.round9(x)) < 0 or ref.round9(x) != 0


# JSON values as json.loads gives them (what an unknown field may hold).
json_like = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | finite | text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=12,
)


@SETTINGS
@given(rec=records(), extra=st.dictionaries(text.filter(lambda k: k not in FIELDS), json_like, max_size=4),
       seed=st.sampled_from(["AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="]))
def test_v2_unknown_fields_round_trip_and_are_signed(rec: dict[str, Any], extra: dict[str, Any], seed: str) -> None:
    full = dict(rec, **extra)
    # Through JSON text and the core's parser: the same dict, the same v2 payload.
    parsed = fl.parse_pcs(json.dumps(full))
    assert parsed == full
    assert fl.canonical_payload(parsed) == fl.canonical_payload(full)
    sig = fl.sign_ed25519(full, seed)
    verifier = fl.Verifier(ed25519_public_keys=[fl.ed25519_public_key(seed)])
    verifier.verify(dict(parsed, sig=sig))
    assert verifier.verify_many([dict(full, sig=sig)]) == [True]
    # Every unknown field is signed: dropping one breaks the signature.
    for k in extra:
        without = {kk: v for kk, v in full.items() if kk != k}
        with pytest.raises(fl.SignatureError):
            verifier.verify(dict(without, sig=sig))
