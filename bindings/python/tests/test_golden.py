"""Every case of every file in golden/ (SPEC §8), read through a relative path.

The expected values come from the files (checked there by an oracle independent of
the core), never from the code under test.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import fractal_lba as fl
from conftest import GOLDEN, golden_cases, golden_files, load_golden

READERS = {"canonical.json", "verify.json", "ring.json", "reject.json"}

# Signed fields and a replacement that changes the canonical payload.
SIGNED_FIELD_CHANGES = {
    "pcs_id": lambda v: v + "0",
    "merkle_root": lambda v: v + "0",
    "shard_id": lambda v: v + "x",
    "epoch": lambda v: v + 1 if v < fl.MAX_EPOCH else v - 1,
    "D_hat": lambda v: _bump(v),
    "coh_star": lambda v: _bump(v),
    "r": lambda v: _bump(v),
    "budget": lambda v: _bump(v),
}


# Any valid Ed25519 seed, and a signature that is well-formed base64 of 32 bytes.
_SEED = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
_WELL_FORMED_SIG = "A" * 43 + "="


def _bump(v: float) -> float:
    return v + 1 if abs(v) < 1e15 else v / 2


def _present(case: Any) -> None:
    if case is None:
        pytest.fail(f"golden file missing under {GOLDEN}")


def test_golden_directory_has_every_file_and_every_file_a_reader() -> None:
    names = {p.name for p in golden_files()}
    assert READERS <= names, f"missing golden files: {sorted(READERS - names)}"
    assert names <= READERS, f"golden files this suite does not read: {sorted(names - READERS)}"


@pytest.mark.parametrize("name", sorted(READERS))
def test_golden_file_counts_match(name: str) -> None:
    if not (GOLDEN / name).exists():
        pytest.fail(f"golden/{name} is missing")
    data = load_golden(name)
    tests = [t for g in data["testGroups"] for t in g["tests"]]
    assert data["numberOfTests"] == len(tests)
    ids = [t["tcId"] for t in tests]
    assert len(ids) == len(set(ids)), "tcId must be unique in a file"
    for t in tests:
        assert t["result"] in ("valid", "invalid")
        assert set(t["flags"]) <= set(data.get("notes", {})), t["tcId"]


@pytest.mark.parametrize(("group", "test"), golden_cases("canonical.json"))
def test_canonical(group: Any, test: Any) -> None:
    _present(test)
    rec = test["record"]
    exp = test["expected"]
    assert fl.pcs_id(rec["merkle_root"], rec["epoch"], rec["shard_id"]) == exp["pcs_id"]
    payload = fl.canonical_payload(rec)
    assert payload == exp["canonical"].encode("utf-8")
    assert fl.digest(rec).hex() == exp["digest_hex"]
    assert fl.sign_hmac(rec, group["hmac_key"]) == exp["sig_hmac"]
    assert fl.sign_hmac(rec, group["hmac_key"].encode("utf-8")) == exp["sig_hmac"]
    assert fl.sign_ed25519(rec, group["ed25519_seed"]) == exp["sig_ed25519"]
    assert fl.ed25519_public_key(group["ed25519_seed"]) == group["ed25519_public"]

    # The core's JSON parser and the dict conversion agree on the record.
    assert fl.canonical_payload(fl.parse_pcs(json.dumps(rec))) == payload

    verifier = fl.Verifier(hmac_keys=[group["hmac_key"]], ed25519_public_keys=[group["ed25519_public"]])
    for sig in (exp["sig_hmac"], exp["sig_ed25519"]):
        signed = dict(rec, sig=sig)
        verifier.verify(signed)
        assert verifier.verify_many([signed]) == [True]
        for field, change in SIGNED_FIELD_CHANGES.items():
            tampered = dict(signed, **{field: change(rec[field])})
            assert fl.canonical_payload(tampered) != payload, field
            with pytest.raises(fl.SignatureError) as e:
                verifier.verify(tampered)
            assert e.value.kind == "signature_invalid"
            assert e.value.field == "sig"
            assert verifier.verify_many([tampered]) == [False]


@pytest.mark.parametrize(("group", "test"), golden_cases("verify.json"))
def test_verify(group: Any, test: Any) -> None:
    _present(test)
    params = fl.VerifyParams(**group.get("params", {}))
    got = fl.verify(test["record"], params)
    exp = test["expected"]
    assert got["accepted"] is exp["accepted"]
    assert got["escalated"] is exp["escalated"]
    for key in ("recomputed_D_hat", "recomputed_budget", "reason"):
        assert (key in got) == (key in exp), key
        if key in exp:
            assert got[key] == exp[key], key
    assert set(got) <= {"accepted", "escalated", "recomputed_D_hat", "recomputed_budget", "reason"}
    assert (test["result"] == "valid") == (exp["accepted"] and not exp["escalated"])
    assert fl.verify_many([test["record"]], params) == [got]


@pytest.mark.parametrize(("group", "test"), golden_cases("ring.json"))
def test_ring(group: Any, test: Any) -> None:
    _present(test)
    ring = fl.Ring(group["shards"], vnodes=group["vnodes"])
    op = test["op"]
    assert op in ("pick", "pick_n"), op

    def run() -> Any:
        if op == "pick":
            return ring.pick(test["key"])
        return ring.pick_n(test["key"], test["n"])

    if test["result"] == "valid":
        assert run() == test["expected"]
        assert (ring.pick(test["key"].encode("utf-8")) if op == "pick" else ring.pick_n(test["key"].encode("utf-8"), test["n"])) == test["expected"]
    else:
        assert test["error_kind"] == "ring"
        with pytest.raises(fl.RingError) as e:
            run()
        assert e.value.kind == "ring"


def _expect(exc: pytest.ExceptionInfo[fl.FractalError], test: Any) -> None:
    assert exc.value.kind == test["error_kind"], str(exc.value)
    assert exc.value.field == test["field"], str(exc.value)
    if test["field"] is not None:
        assert f"`{test['field']}`" in str(exc.value) or test["field"] in str(exc.value)


EXCEPTION_OF_KIND = {
    "invalid_json": fl.ValidationError,
    "invalid_field": fl.ValidationError,
    "validation": fl.ValidationError,
    "signature_missing": fl.SignatureError,
    "signature_invalid": fl.SignatureError,
    "invalid_key": fl.InvalidKeyError,
}


@pytest.mark.parametrize(("group", "test"), golden_cases("reject.json"))
def test_reject(group: Any, test: Any) -> None:
    _present(test)
    assert test["result"] == "invalid"
    stage = test["stage"]
    exc_type = EXCEPTION_OF_KIND[test["error_kind"]]
    text = test["input"]
    if stage == "parse":
        with pytest.raises(exc_type) as e:
            fl.parse_pcs(text)
        _expect(e, test)
        # The same bytes fail the same way.
        if isinstance(text, str) and text.encode("utf-8", "surrogatepass") == text.encode("utf-8", "replace"):
            with pytest.raises(exc_type) as e:
                fl.parse_pcs(text.encode("utf-8"))
            _expect(e, test)
        # A dict holding the same JSON is refused by the dict conversion the same way:
        # by the whole-record readers always, by signing when the field is signed,
        # by the signature check when it is `sig`. Signing reads only the signed
        # fields, so a bad unsigned field leaves the signature as without it.
        as_dict = _json_object(text)
        if as_dict is not None and test["error_kind"] == "invalid_field":
            field = test["field"]
            root = field.split(".")[0].split("[")[0]
            verifier = fl.Verifier(hmac_keys=["k"])
            calls: list[Any] = [fl.validate, lambda r: fl.verify(r), lambda r: fl.verify_many([r])]
            if root in SIGNED_FIELD_CHANGES:
                calls += [fl.canonical_payload, fl.digest, lambda r: fl.sign_hmac(r, "k"),
                          lambda r: fl.sign_hmac_many([r], "k"), lambda r: fl.sign_ed25519(r, _SEED),
                          lambda r: verifier.verify(dict(r, sig=_WELL_FORMED_SIG)),
                          lambda r: verifier.verify_many([dict(r, sig=_WELL_FORMED_SIG)])]
            elif root == "sig":
                calls += [verifier.verify, lambda r: verifier.verify_many([r])]
            else:
                without = {k: v for k, v in as_dict.items() if k != root}
                assert fl.sign_hmac(as_dict, "k") == fl.sign_hmac(without, "k")
                assert fl.sign_hmac_many([as_dict], "k") == [fl.sign_hmac(without, "k")]
            for call in calls:
                with pytest.raises(exc_type) as e:
                    call(as_dict)
                _expect(e, test)
    elif stage == "validate":
        rec = fl.parse_pcs(text)
        with pytest.raises(exc_type) as e:
            fl.validate(rec)
        _expect(e, test)
    elif stage == "sign":
        rec = fl.parse_pcs(text)
        for call in (fl.canonical_payload, fl.digest, lambda r: fl.sign_hmac(r, "k"),
                     lambda r: fl.sign_hmac_many([r], "k"), lambda r: fl.sign_ed25519(r, _SEED),
                     lambda r: fl.Verifier(hmac_keys=["k"]).verify(dict(r, sig=_WELL_FORMED_SIG))):
            with pytest.raises(exc_type) as e:
                call(rec)
            _expect(e, test)
    elif stage == "verify_signature":
        rec = fl.parse_pcs(text)
        keys: dict[str, Any] = {"hmac_keys": [group["hmac_key"]]}
        if group.get("ed25519_public"):
            keys["ed25519_public_keys"] = [group["ed25519_public"]]
        verifier = fl.Verifier(**keys)
        with pytest.raises(exc_type) as e:
            verifier.verify(rec)
        _expect(e, test)
        assert verifier.verify_many([rec]) == [False]
    elif stage == "key":
        assert test["key_type"] in ("seed", "public")
        if test["key_type"] == "seed":
            calls = [fl.ed25519_public_key, lambda k: fl.sign_ed25519(fl.parse_pcs(_any_record()), k)]
        else:
            calls = [lambda k: fl.Verifier().add_ed25519_public_key(k), lambda k: fl.Verifier(ed25519_public_keys=[k])]
        for call in calls:
            with pytest.raises(exc_type) as e:
                call(text)
            _expect(e, test)
    else:
        pytest.fail(f"unknown stage {stage!r}: this suite must learn to read it")


def _any_record() -> str:
    from conftest import sample_record

    return json.dumps(sample_record())


def _json_object(text: str) -> dict[str, Any] | None:
    """The JSON object in `text`, or None when Python's json would not read it the
    way the contract does (not JSON, not an object, or a duplicate key)."""
    duplicate = False

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal duplicate
        keys = [k for k, _ in items]
        duplicate = duplicate or len(keys) != len(set(keys))
        return dict(items)

    try:
        value = json.loads(text, object_pairs_hook=pairs)
    except ValueError:
        return None
    return value if isinstance(value, dict) and not duplicate else None
