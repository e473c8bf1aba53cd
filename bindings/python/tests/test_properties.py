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
finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12) | st.floats(
    allow_nan=False, allow_infinity=False, min_value=-1e-3, max_value=1e-3
)
epochs = st.integers(min_value=0, max_value=2**53 - 1)


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    merkle_root, shard_id, epoch = draw(text), draw(text), draw(epochs)
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
    assert fl.canonical_payload(rec) == ref.canonical_payload(rec)
    sig = fl.sign_hmac(rec, key)
    assert sig == ref.sign_hmac(rec, key)
    signed = dict(rec, sig=sig)
    fl.Verifier(hmac_keys=[key]).verify(signed)
    assert ref.verify_hmac(signed, [key])


@SETTINGS
@given(rec=records(), field=st.sampled_from(["pcs_id", "merkle_root", "shard_id", "epoch", "D_hat", "coh_star", "r", "budget"]),
       data=st.data())
def test_changing_a_signed_field_breaks_the_signature(rec: dict[str, Any], field: str, data: st.DataObject) -> None:
    seed = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
    verifier = fl.Verifier(hmac_keys=["k"], ed25519_public_keys=[fl.ed25519_public_key(seed)])
    new = data.draw({"pcs_id": text, "merkle_root": text, "shard_id": text, "epoch": epochs}.get(field, finite))
    tampered = dict(rec, **{field: new})
    same = fl.canonical_payload(tampered) == fl.canonical_payload(rec)
    for sig in (fl.sign_hmac(rec, "k"), fl.sign_ed25519(rec, seed)):
        verifier.verify(dict(rec, sig=sig))
        if same:  # e.g. a number change below 1e-9 after rounding: still the same payload
            verifier.verify(dict(tampered, sig=sig))
        else:
            with pytest.raises(fl.SignatureError):
                verifier.verify(dict(tampered, sig=sig))


@SETTINGS
@given(rec=records(), seed=st.integers(-(2**63), 2**63 - 1), v_star=st.lists(finite, max_size=4), regime=text)
def test_unsigned_fields_do_not_matter(rec: dict[str, Any], seed: int, v_star: list[float], regime: str) -> None:
    assert fl.sign_hmac(dict(rec, seed=seed, v_star=v_star, regime=regime), "k") == fl.sign_hmac(rec, "k")


@SETTINGS
@given(rec=records())
def test_json_round_trip(rec: dict[str, Any]) -> None:
    parsed = fl.parse_pcs(json.dumps(rec))
    assert parsed == rec
    assert fl.canonical_payload(parsed) == fl.canonical_payload(rec)


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
                          "invalid_key", "ring", "invalid_argument"}
        assert isinstance(str(e), str)


@SETTINGS
@given(value=json_values, patch=st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=4))
def test_arbitrary_input_never_crashes(value: Any, patch: dict[str, Any]) -> None:
    verifier = fl.Verifier(hmac_keys=["k"])
    for candidate in (value, dict(sample_record(), **patch)):
        for fn in (fl.canonical_payload, fl.digest, fl.validate, fl.verify, verifier.verify,
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
    assert fl.canonical_payload(rec).startswith(b'{"D_hat":' + ref.es_number(ref.round9(x)).encode() + b',')
    assert not math.copysign(1.0, ref.round9(x)) < 0 or ref.round9(x) != 0
