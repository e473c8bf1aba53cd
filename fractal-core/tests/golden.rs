//! Every case of every file in `golden/` (SPEC §8), reproduced by the core.
//!
//! Each test walks one file, collects every disagreement and fails with the list,
//! so one run shows all broken cases with their tcId and comment.

use std::path::PathBuf;

use fractal_core::{
    Ed25519Keypair, Pcs, Ring, ShardSpec, SigVersion, SignaturePolicy, Verifier, VerifyParams, VerifyResult,
    canonical_payload, hex, pcs_id, sha256, sign_ed25519_version, sign_hmac_version, validate, verify,
};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../golden").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    let count: usize = doc["testGroups"].as_array().expect("testGroups").iter().map(|g| g["tests"].as_array().expect("tests").len()).sum();
    assert_eq!(doc["numberOfTests"].as_u64(), Some(count as u64), "{name}: numberOfTests");
    doc
}

fn groups(doc: &Value) -> &Vec<Value> {
    doc["testGroups"].as_array().expect("testGroups")
}

fn tests(group: &Value) -> &Vec<Value> {
    group["tests"].as_array().expect("tests")
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("`{key}` is not a string in {v}"))
}

fn label(file: &str, t: &Value) -> String {
    format!("{file} #{} ({})", t["tcId"], s(t, "comment"))
}

fn finish(file: &str, checked: usize, failures: Vec<String>) {
    assert!(checked > 0, "{file}: no case was checked");
    assert!(failures.is_empty(), "{} of {checked} cases of {file} disagree:\n{}", failures.len(), failures.join("\n"));
}

/// The record with one signed field changed (each change must break the signature).
fn tampered(p: &Pcs) -> Vec<(&'static str, Pcs)> {
    let mut out = Vec::new();
    let mut one = |name, f: &dyn Fn(&mut Pcs)| {
        let mut q = p.clone();
        f(&mut q);
        out.push((name, q));
    };
    one("pcs_id", &|q| q.pcs_id.push('0'));
    one("merkle_root", &|q| q.merkle_root.push('b'));
    one("epoch", &|q| q.epoch = if q.epoch == 0 { 1 } else { q.epoch - 1 });
    one("shard_id", &|q| q.shard_id.push('x'));
    one("D_hat", &|q| q.d_hat += 1e-6 + q.d_hat.abs() * 1e-9);
    one("coh_star", &|q| q.coh_star += 1e-6 + q.coh_star.abs() * 1e-9);
    one("r", &|q| q.r -= 1e-6 + q.r.abs() * 1e-9);
    one("budget", &|q| q.budget -= 1e-6 + q.budget.abs() * 1e-9);
    out
}

#[test]
fn canonical_vectors() {
    let doc = load("canonical.json");
    let mut failures = Vec::new();
    let mut checked = 0;
    for g in groups(&doc) {
        let key = s(g, "hmac_key").as_bytes();
        let seed = s(g, "ed25519_seed");
        let kp = Ed25519Keypair::from_seed_b64(seed).expect("group seed");
        assert_eq!(kp.public_b64(), s(g, "ed25519_public"), "group public key is the seed's");
        let mut verifier = Verifier::new();
        verifier.add_hmac_key(key).expect("hmac key");
        verifier.add_ed25519_public_key(s(g, "ed25519_public")).expect("public key");
        verifier.set_policy(SignaturePolicy::any_version());
        for t in tests(g) {
            checked += 1;
            let at = label("canonical.json", t);
            let e = &t["expected"];
            let pcs = match Pcs::from_value(t["record"].clone()) {
                Ok(p) => p,
                Err(err) => {
                    failures.push(format!("{at}: record does not parse: {err}"));
                    continue;
                }
            };
            let mut bad = |what: &str, got: String, want: &str| {
                if got != want {
                    failures.push(format!("{at}: {what}\n   core:   {got}\n   golden: {want}"));
                }
            };
            bad("pcs_id", pcs_id(&pcs.merkle_root, pcs.epoch, &pcs.shard_id), s(e, "pcs_id"));
            let payload = canonical_payload(&pcs, SigVersion::V1).map(|b| String::from_utf8(b).expect("UTF-8"));
            bad("canonical", payload.clone().unwrap_or_else(|e| e.to_string()), s(e, "canonical"));
            bad("digest_hex", hex(&sha256(payload.unwrap_or_default().as_bytes())), s(e, "digest_hex"));
            bad("sig_hmac", sign_hmac_version(&pcs, key, SigVersion::V1).unwrap_or_else(|e| e.to_string()), s(e, "sig_hmac"));
            bad("sig_ed25519", sign_ed25519_version(&pcs, seed, SigVersion::V1).unwrap_or_else(|e| e.to_string()), s(e, "sig_ed25519"));
            bad("result", s(t, "result").into(), "valid");

            for sig in [s(e, "sig_hmac"), s(e, "sig_ed25519")] {
                let mut signed = pcs.clone();
                signed.sig = Some(sig.to_string());
                if let Err(err) = verifier.verify(&signed) {
                    failures.push(format!("{at}: the verifier refuses the golden signature {sig}: {err}"));
                }
                for (field, changed) in tampered(&signed) {
                    if verifier.verify(&changed).is_ok() {
                        failures.push(format!("{at}: signature {sig} still verifies after `{field}` changed"));
                    }
                }
            }
        }
    }
    finish("canonical.json", checked, failures);
}

#[test]
fn verify_vectors() {
    let doc = load("verify.json");
    let mut failures = Vec::new();
    let mut checked = 0;
    for g in groups(&doc) {
        let params: VerifyParams = serde_json::from_value(g["params"].clone()).expect("group params");
        params.check().expect("group params are valid");
        for t in tests(g) {
            checked += 1;
            let at = label("verify.json", t);
            let want: VerifyResult = serde_json::from_value(t["expected"].clone()).expect("expected VerifyResult");
            let got = match Pcs::from_value(t["record"].clone()) {
                Ok(p) => verify(&p, &params),
                Err(err) => {
                    failures.push(format!("{at}: record does not parse: {err}"));
                    continue;
                }
            };
            if got != want {
                failures.push(format!("{at}\n   core:   {got:?}\n   golden: {want:?}"));
            }
            let valid = want.accepted && !want.escalated;
            if s(t, "result") != if valid { "valid" } else { "invalid" } {
                failures.push(format!("{at}: result {} disagrees with the outcome", s(t, "result")));
            }
        }
    }
    finish("verify.json", checked, failures);
}

#[test]
fn ring_vectors() {
    let doc = load("ring.json");
    let mut failures = Vec::new();
    let mut checked = 0;
    for g in groups(&doc) {
        let shards: Vec<ShardSpec> = serde_json::from_value(g["shards"].clone()).expect("shards");
        let vnodes = u32::try_from(g["vnodes"].as_u64().expect("vnodes")).expect("vnodes fits");
        let ring = Ring::with_shards(vnodes, &shards).expect("ring builds");
        for t in tests(g) {
            checked += 1;
            let at = label("ring.json", t);
            let key = s(t, "key").as_bytes();
            let got = match s(t, "op") {
                "pick" => ring.pick(key).map(|x| Value::from(x)),
                "pick_n" => ring.pick_n(key, t["n"].as_u64().expect("n") as usize).map(|v| Value::from(v)),
                op => panic!("{at}: unknown op {op}"),
            };
            let ok = match (&got, s(t, "result")) {
                (Ok(v), "valid") => *v == t["expected"],
                (Err(e), "invalid") => Some(e.kind()) == t["error_kind"].as_str(),
                _ => false,
            };
            if !ok {
                failures.push(format!("{at}\n   core:   {got:?}\n   golden: {} {} {}", t["result"], t["expected"], t["error_kind"]));
            }
        }
    }
    finish("ring.json", checked, failures);
}

#[test]
fn reject_vectors() {
    let doc = load("reject.json");
    let mut failures = Vec::new();
    let mut checked = 0;
    for g in groups(&doc) {
        let mut verifier = Verifier::new();
        verifier.add_hmac_key(s(g, "hmac_key").as_bytes()).expect("hmac key");
        verifier.add_ed25519_public_key(s(g, "ed25519_public")).expect("public key");
        for t in tests(g) {
            checked += 1;
            let at = label("reject.json", t);
            let input = s(t, "input");
            let parsed = || Pcs::from_json(input.as_bytes());
            let outcome: Result<(), fractal_core::Error> = match s(t, "stage") {
                "parse" => parsed().map(drop),
                "validate" => parsed().and_then(|p| validate(&p)),
                "sign_v1" => parsed().and_then(|p| canonical_payload(&p, SigVersion::V1).map(drop)),
                "sign_v2" => parsed().and_then(|p| canonical_payload(&p, SigVersion::V2).map(drop)),
                "verify_signature" => {
                    let policy = &t["policy"];
                    let names = |k: &str| -> Vec<String> {
                        policy[k].as_array().expect("policy lists").iter().map(|x| x.as_str().expect("name").to_string()).collect()
                    };
                    let policy = SignaturePolicy::parse(&names("versions"), &names("encodings")).expect("policy");
                    parsed().and_then(|p| verifier.verify_with(&p, &policy).map(drop))
                }
                "key" => match s(t, "key_type") {
                    "seed" => Ed25519Keypair::from_seed_b64(input).map(drop),
                    "public" => Verifier::new().add_ed25519_public_key(input).map(drop),
                    other => panic!("{at}: unknown key_type {other}"),
                },
                other => panic!("{at}: unknown stage {other}"),
            };
            // Stages after `parse` must get past the parser: a parse error there
            // would mean the case tests the wrong thing.
            if s(t, "stage") != "parse" && s(t, "stage") != "key" {
                if let Err(e) = parsed() {
                    failures.push(format!("{at}: input does not parse ({e}), so stage {} is not reached", s(t, "stage")));
                    continue;
                }
            }
            match outcome {
                Ok(()) => failures.push(format!("{at}: accepted, expected {}", t["error_kind"])),
                Err(e) => {
                    let want = (t["error_kind"].as_str(), t["field"].as_str());
                    if (Some(e.kind()), e.field()) != want {
                        failures.push(format!("{at}\n   core:   ({}, {:?}) {e}\n   golden: {want:?}", e.kind(), e.field()));
                    }
                }
            }
            if s(t, "result") != "invalid" {
                failures.push(format!("{at}: a reject case must be invalid"));
            }
        }
    }
    finish("reject.json", checked, failures);
}
