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

READERS = {"canonical.json", "canonical_v2.json", "legacy.json", "read.json", "verify.json", "ring.json", "reject.json"}

# Signed fields and a replacement that changes the canonical payload.
SIGNED_FIELD_CHANGES = {
    "pcs_id": lambda v: _other_text(v),
    "merkle_root": lambda v: _other_text(v),
    "shard_id": lambda v: _other_text(v),
    "epoch": lambda v: v + 1 if v < fl.MAX_EPOCH else v - 1,
    "D_hat": lambda v: _bump(v),
    "coh_star": lambda v: _bump(v),
    "r": lambda v: _bump(v),
    "budget": lambda v: _bump(v),
}


# Any valid Ed25519 seed, and a signature that is well-formed base64 of 32 bytes.
_SEED = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
_WELL_FORMED_SIG = "A" * 43 + "="


def _other_text(v: str) -> str:
    """`v` with its last character replaced: as long, and different."""
    return v[:-1] + ("0" if v[-1:] != "0" else "1")


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
    """canonical.json is v1 (SPEC §3.1): signed with version=1, checked by a verifier
    that accepts v1; the default (v2-only) verifier refuses the same signatures."""
    _present(test)
    rec = test["record"]
    exp = test["expected"]
    assert fl.pcs_id(rec["merkle_root"], rec["epoch"], rec["shard_id"]) == exp["pcs_id"]
    payload = fl.canonical_payload(rec, version=1)
    assert payload == exp["canonical"].encode("utf-8")
    assert fl.digest(rec, version=1).hex() == exp["digest_hex"]
    assert fl.sign_hmac(rec, group["hmac_key"], version=1) == exp["sig_hmac"]
    assert fl.sign_hmac(rec, group["hmac_key"].encode("utf-8"), version=1) == exp["sig_hmac"]
    assert fl.sign_hmac_many([rec], group["hmac_key"], version=1) == [exp["sig_hmac"]]
    assert fl.sign_ed25519(rec, group["ed25519_seed"], version=1) == exp["sig_ed25519"]
    assert fl.ed25519_public_key(group["ed25519_seed"]) == group["ed25519_public"]

    # The core's JSON parser and the dict conversion agree on the record.
    assert fl.canonical_payload(fl.parse_pcs(json.dumps(rec)), version=1) == payload

    keys = {"hmac_keys": [group["hmac_key"]], "ed25519_public_keys": [group["ed25519_public"]]}
    v2_only = fl.Verifier(**keys)
    for versions in ((1,), (1, 2), ("v1", "v2")):
        verifier = fl.Verifier(**keys, versions=versions)
        for sig in (exp["sig_hmac"], exp["sig_ed25519"]):
            signed = dict(rec, sig=sig)
            verifier.verify(signed)
            assert verifier.verify_many([signed]) == [True]
            with pytest.raises(fl.UnsupportedSignatureVersionError) as u:
                v2_only.verify(signed)
            assert (u.value.kind, u.value.field) == ("unsupported_signature_version", "sig")
            assert v2_only.verify_many([signed]) == [False]
            for field, change in SIGNED_FIELD_CHANGES.items():
                tampered = dict(signed, **{field: change(rec[field])})
                assert fl.canonical_payload(tampered, version=1) != payload, field
                with pytest.raises(fl.SignatureError) as e:
                    verifier.verify(tampered)
                assert e.value.kind == "signature_invalid"
                assert e.value.field == "sig"
                assert verifier.verify_many([tampered]) == [False]


# Changes of a v2-signed record, each of which must break its signature (and
# each a record that can still be sent: within SPEC §1's limits).
def _v2_changes(rec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    changes = {f"{k} changed": dict(rec, **{k: change(rec[k])}) for k, change in SIGNED_FIELD_CHANGES.items()}
    changes["regime changed"] = dict(rec, regime="non_sticky" if rec.get("regime") != "non_sticky" else "sticky")
    scales = list(rec.get("scales", []))
    if len(scales) < fl.MAX_ENTRIES:
        changes["scales changed"] = dict(rec, scales=scales + [10**6])
    else:
        n_j_keys = set(rec.get("N_j", {}))
        free = [i for i, s in enumerate(scales) if str(s) not in n_j_keys]
        if free:
            changes["scales changed"] = dict(rec, scales=scales[: free[0]] + scales[free[0] + 1:])
    n_j = dict(rec.get("N_j", {}))
    if n_j:
        k = sorted(n_j)[0]
        n_j[k] += -1 if n_j[k] > 1 else 1
        changes["N_j changed"] = dict(rec, N_j=n_j)
    v_star = list(rec.get("v_star", []))
    changes["v_star changed"] = dict(rec, v_star=v_star[:-1] if len(v_star) == fl.MAX_ENTRIES else v_star + [0.5])
    seed = rec.get("seed", 0)
    changes["seed changed"] = dict(rec, seed=seed - 1 if seed > 0 else seed + 1)
    changes["schema changed"] = dict(rec, schema=rec["schema"] + "x")
    changes["version changed"] = dict(rec, version=rec["version"] + "x")
    changes["unknown field added"] = dict(rec, zz_added=1)
    for k in rec:
        if k not in FIELDS:
            changes[f"unknown {k} changed"] = dict(rec, **{k: [rec[k]]})
            changes[f"unknown {k} removed"] = {kk: v for kk, v in rec.items() if kk != k}
    for k in ("seed", "scales", "N_j", "v_star", "regime"):
        if k in rec:
            # N_j keys must be scales (SPEC §1): without scales, without N_j too.
            gone = {k, "N_j"} if k == "scales" else {k}
            changes[f"{k} removed"] = {kk: v for kk, v in rec.items() if kk not in gone}
    return changes


@pytest.mark.parametrize(("group", "test"), golden_cases("canonical_v2.json"))
def test_canonical_v2(group: Any, test: Any) -> None:
    _present(test)
    exp = test["expected"]
    from_text = fl.parse_pcs(test["record_text"])
    for rec in (from_text, test["record"]):
        assert fl.pcs_id(rec["merkle_root"], rec["epoch"], rec["shard_id"]) == exp["pcs_id"]
        assert fl.canonical_payload(rec) == exp["canonical"].encode("utf-8")
        assert fl.canonical_payload(rec, version=2) == exp["canonical"].encode("utf-8")
        assert fl.digest(rec).hex() == exp["digest_hex"]
        assert fl.sign_hmac(rec, group["hmac_key"]) == exp["sig_hmac"]
        assert fl.sign_hmac(rec, group["hmac_key"].encode("utf-8"), version=2) == exp["sig_hmac"]
        assert fl.sign_hmac_many([rec, rec], group["hmac_key"]) == [exp["sig_hmac"]] * 2
        assert fl.sign_ed25519(rec, group["ed25519_seed"]) == exp["sig_ed25519"]
    # The dict of parse_pcs holds what the text holds (unknown fields, omissions).
    assert from_text == test["record"] or fl.canonical_payload(from_text) == fl.canonical_payload(test["record"])
    assert set(from_text) == set(test["record"])

    rec = test["record"]
    verifier = fl.Verifier(hmac_keys=[group["hmac_key"]], ed25519_public_keys=[group["ed25519_public"]])
    v1_only = fl.Verifier(hmac_keys=[group["hmac_key"]], ed25519_public_keys=[group["ed25519_public"]], versions=[1])
    for sig in (exp["sig_hmac"], exp["sig_ed25519"]):
        assert sig.startswith("v2:")
        signed = dict(rec, sig=sig)
        verifier.verify(signed)
        verifier.verify(dict(from_text, sig=sig))
        assert verifier.verify_many([signed, dict(from_text, sig=sig)]) == [True, True]
        with pytest.raises(fl.UnsupportedSignatureVersionError):
            v1_only.verify(signed)
        # The delivery fields are not signed.
        delivery = dict(signed, attempt=rec.get("attempt", 1) + 1, sent_at="2030-01-01T00:00:00Z",
                        ft={"outbox_seq": 99, "degraded": True})
        verifier.verify(delivery)
        for what, changed in _v2_changes(signed).items():
            assert fl.canonical_payload(changed) != fl.canonical_payload(rec), what
            with pytest.raises(fl.SignatureError) as e:
                verifier.verify(changed)
            assert (e.value.kind, e.value.field) == ("signature_invalid", "sig"), what
            assert verifier.verify_many([changed]) == [False], what


FIELDS = {"pcs_id", "schema", "version", "shard_id", "epoch", "attempt", "sent_at", "seed", "scales", "N_j", "coh_star",
          "v_star", "D_hat", "r", "regime", "budget", "merkle_root", "sig", "ft"}


@pytest.mark.parametrize(("group", "test"), golden_cases("legacy.json"))
def test_legacy(group: Any, test: Any) -> None:
    _present(test)
    rec = test["record"]
    exp = test["expected"]
    enc = test["encoding"]
    assert enc in ("seed-python", "seed-go")
    # SDKs never produce these payloads: the v1 payload differs.
    assert fl.canonical_payload(rec, version=1) == exp["canonical_v1"].encode("utf-8")
    assert exp["canonical_v1"] != exp["payload"]
    keys = {"hmac_keys": [group["hmac_key"]], "ed25519_public_keys": [group["ed25519_public"]]}
    accepting = fl.Verifier(**keys, versions=["v1"], accept_encodings=[enc])
    assert accepting.versions == (1,) and accepting.accept_encodings == (enc,)
    both = fl.Verifier(**keys, versions=(1, 2), accept_encodings=("seed-go", "seed-python"))
    plain_v1 = fl.Verifier(**keys, versions=["v1"])
    default = fl.Verifier(**keys)
    for sig in (exp["sig_hmac"], exp["sig_ed25519"]):
        signed = dict(rec, sig=sig)
        accepting.verify(signed)
        both.verify(signed)
        assert accepting.verify_many([signed]) == [True]
        with pytest.raises(fl.SignatureError) as e:
            plain_v1.verify(signed)
        assert e.value.kind == "signature_invalid"
        assert plain_v1.verify_many([signed]) == [False]
        with pytest.raises(fl.UnsupportedSignatureVersionError):
            default.verify(signed)
        # The encoding binds the same eight values: a change still breaks it.
        for field, change in SIGNED_FIELD_CHANGES.items():
            with pytest.raises(fl.SignatureError):
                accepting.verify(dict(signed, **{field: change(rec[field])}))


@pytest.mark.parametrize(("group", "test"), golden_cases("read.json"))
def test_read(group: Any, test: Any) -> None:
    _present(test)
    verifier = fl.Verifier(hmac_keys=[group["hmac_key"]], ed25519_public_keys=[group["ed25519_public"]])
    tenant, pcs_id, now = test["tenant"], test["pcs_id"], test["now"]
    assert group["skew_secs"] == fl.READ_SKEW_SECS
    if test["result"] == "valid":
        exp = test["expected"]
        t = test["t"]
        assert fl.read_digest(tenant, pcs_id, t).hex() == exp["digest_hex"]
        hmac_header = fl.sign_read_hmac(tenant, pcs_id, group["hmac_key"], t=t)
        assert hmac_header == exp["authorization_hmac"]
        assert fl.sign_read_hmac(tenant, pcs_id, group["hmac_key"].encode("utf-8"), t=t) == hmac_header
        ed_header = fl.sign_read_ed25519(tenant, pcs_id, group["ed25519_seed"], t=t)
        assert ed_header == exp["authorization_ed25519"]
        for header in (hmac_header, ed_header):
            verifier.verify_read(tenant, pcs_id, header, now=now)
            # Bound to the tenant and the pcs_id.
            with pytest.raises(fl.SignatureError):
                verifier.verify_read(tenant + "x", pcs_id, header, now=now)
            with pytest.raises(fl.SignatureError):
                verifier.verify_read(tenant, pcs_id + "0", header, now=now)
    else:
        with pytest.raises(fl.SignatureError) as e:
            verifier.verify_read(tenant, pcs_id, test["header"], now=now)
        assert (e.value.kind, e.value.field) == (test["error_kind"], "sig")


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
    "unsupported_signature_version": fl.UnsupportedSignatureVersionError,
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
        # by the whole-record readers always (v2 signing among them), by v1 signing
        # when the field is one of the eight, by the signature check when it is
        # `sig`. v1 signing reads only the eight fields, so a bad other field leaves
        # the v1 signature as without it.
        as_dict = _json_object(text)
        field = test["field"] or ""
        root = field.split(".")[0].split("[")[0]
        # In a dict, None means "absent" (the record is sent without the key), so a
        # JSON null is a parse case only for the text.
        if as_dict is not None and test["error_kind"] == "invalid_field" and as_dict.get(root, 0) is not None:
            v1 = fl.Verifier(hmac_keys=["k"], versions=[1])
            v2 = fl.Verifier(hmac_keys=["k"])
            calls: list[Any] = [fl.validate, lambda r: fl.verify(r), lambda r: fl.verify_many([r]),
                                fl.canonical_payload, fl.digest, lambda r: fl.sign_hmac(r, "k"),
                                lambda r: fl.sign_hmac_many([r], "k"), lambda r: fl.sign_ed25519(r, _SEED)]
            if root != "sig":
                calls += [lambda r: v2.verify(dict(r, sig="v2:" + _WELL_FORMED_SIG)),
                          lambda r: v2.verify_many([dict(r, sig="v2:" + _WELL_FORMED_SIG)])]
            if root in SIGNED_FIELD_CHANGES:
                calls += [lambda r: fl.canonical_payload(r, version=1), lambda r: fl.digest(r, version=1),
                          lambda r: fl.sign_hmac(r, "k", version=1), lambda r: fl.sign_hmac_many([r], "k", version=1),
                          lambda r: fl.sign_ed25519(r, _SEED, version=1),
                          lambda r: v1.verify(dict(r, sig=_WELL_FORMED_SIG)),
                          lambda r: v1.verify_many([dict(r, sig=_WELL_FORMED_SIG)])]
            elif root == "sig":
                calls += [v1.verify, lambda r: v1.verify_many([r]), v2.verify, lambda r: v2.verify_many([r])]
            else:
                without = {k: v for k, v in as_dict.items() if k != root}
                if all(k in without for k in SIGNED_FIELD_CHANGES):
                    assert fl.sign_hmac(as_dict, "k", version=1) == fl.sign_hmac(without, "k", version=1)
                    assert fl.sign_hmac_many([as_dict], "k", version=1) == [fl.sign_hmac(without, "k", version=1)]
            for call in calls:
                with pytest.raises(exc_type) as e:
                    call(as_dict)
                _expect(e, test)
    elif stage == "validate":
        rec = fl.parse_pcs(text)
        with pytest.raises(exc_type) as e:
            fl.validate(rec)
        _expect(e, test)
    elif stage == "sign_v1":
        rec = fl.parse_pcs(text)
        for call in (lambda r: fl.canonical_payload(r, version=1), lambda r: fl.digest(r, version=1),
                     lambda r: fl.sign_hmac(r, "k", version=1), lambda r: fl.sign_hmac_many([r], "k", version=1),
                     lambda r: fl.sign_ed25519(r, _SEED, version=1),
                     lambda r: fl.Verifier(hmac_keys=["k"], versions=[1]).verify(dict(r, sig=_WELL_FORMED_SIG))):
            with pytest.raises(exc_type) as e:
                call(rec)
            _expect(e, test)
    elif stage == "sign_v2":
        rec = fl.parse_pcs(text)
        for call in (fl.canonical_payload, fl.digest, lambda r: fl.sign_hmac(r, "k"),
                     lambda r: fl.sign_hmac_many([r], "k", version=2), lambda r: fl.sign_ed25519(r, _SEED),
                     lambda r: fl.Verifier(hmac_keys=["k"]).verify(dict(r, sig="v2:" + _WELL_FORMED_SIG))):
            with pytest.raises(exc_type) as e:
                call(rec)
            _expect(e, test)
        # The same values as a plain dict (json.loads) fail the same way.
        as_dict = _json_object(text)
        if as_dict is not None:
            with pytest.raises(exc_type) as e:
                fl.sign_hmac(as_dict, "k")
            _expect(e, test)
        assert fl.Verifier(hmac_keys=["k"]).verify_many([dict(rec, sig="v2:" + _WELL_FORMED_SIG)]) == [False]
    elif stage == "verify_signature":
        rec = fl.parse_pcs(text)
        policy = test["policy"]
        verifier = fl.Verifier(hmac_keys=[group["hmac_key"]], ed25519_public_keys=[group["ed25519_public"]],
                               versions=policy["versions"], accept_encodings=policy["encodings"])
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
