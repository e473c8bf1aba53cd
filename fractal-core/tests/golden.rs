//! Every case of every file in `golden/` (SPEC §8), reproduced by the core.
//!
//! Each test walks one file, collects every disagreement and fails with the list,
//! so one run shows all broken cases with their tcId and comment.

use std::path::PathBuf;

use fractal_core::{
    Algorithm, Ed25519Keypair, LegacyEncoding, Pcs, Ring, ShardSpec, SigVersion, SignaturePolicy, SigningFields,
    SigningKeyMaterial, Verifier, VerifyParams, VerifyResult, canonical_payload, hex, pcs_id, read_digest, sha256,
    sign_ed25519, sign_ed25519_version, sign_hmac, sign_hmac_digest, sign_hmac_version, validate, verify,
};
use serde_json::{Map, Value, json};

/// Every file in golden/, golden/server/ and golden/client/, and the test that walks it: a new file
/// must be added here.
#[path = "golden/support.rs"]
mod support;
use support::*;

const FILES: &[&str] = &[
    "canonical.json",
    "canonical_v2.json",
    "legacy.json",
    "read.json",
    "reject.json",
    "ring.json",
    "verify.json",
    "server/audit.json",
    "client/protocol.json", // walked by golden_protocol.rs
];

#[test]
fn every_golden_file_is_walked() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../golden");
    let json_in = |sub: &str| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.join(sub))
            .expect("golden/ is readable")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json"))
            .map(|n| if sub.is_empty() { n } else { format!("{sub}/{n}") })
            .collect();
        names.sort();
        names
    };
    let mut found = json_in("");
    found.extend(json_in("server"));
    found.extend(json_in("client"));
    assert_eq!(found, FILES, "golden/*.json and the files this suite walks differ");
}

fn policy(versions: &[&str], encodings: &[&str]) -> SignaturePolicy {
    SignaturePolicy::parse(versions, encodings).expect("policy")
}

fn group_verifier(g: &Value) -> Verifier {
    let mut v = Verifier::new();
    v.add_hmac_key(s(g, "hmac_key").as_bytes()).expect("hmac key");
    v.add_ed25519_public_key(s(g, "ed25519_public")).expect("public key");
    v
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
                match verifier.verify_with(&signed, &SignaturePolicy::default()) {
                    Err(err) if err.kind() == "unsupported_signature_version" => {}
                    other => failures.push(format!("{at}: v1 signature {sig} under the default policy: {other:?}")),
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

/// JSON-level changes of a v2-signed record: each must break the signature.
fn v2_tampered(rec: &Map<String, Value>) -> Vec<(String, Map<String, Value>)> {
    let mut out = Vec::new();
    let mut one = |name: &str, f: &dyn Fn(&mut Map<String, Value>)| {
        let mut m = rec.clone();
        f(&mut m);
        out.push((name.to_string(), m));
    };
    let str_change = |m: &mut Map<String, Value>, k: &str| {
        let mut v = m[k].as_str().expect("string").to_string();
        if v.len() < 128 {
            v.push('b');
        } else {
            v.pop();
        }
        m.insert(k.into(), json!(v));
    };
    let num_change = |m: &mut Map<String, Value>, k: &str| {
        let x = m[k].as_f64().expect("number");
        m.insert(k.into(), json!(if x == 0.0 { 1e-9 } else { x * 0.5 }));
    };
    one("pcs_id", &|m| str_change(m, "pcs_id"));
    one("merkle_root", &|m| str_change(m, "merkle_root"));
    one("shard_id", &|m| str_change(m, "shard_id"));
    one("epoch", &|m| {
        let e = m["epoch"].as_u64().expect("epoch");
        m.insert("epoch".into(), json!(if e == 0 { 1 } else { e - 1 }));
    });
    for k in ["D_hat", "coh_star", "r", "budget"] {
        one(k, &|m| num_change(m, k));
    }
    one("schema", &|m| str_change(m, "schema"));
    one("version", &|m| {
        let v = format!("{}x", m["version"].as_str().expect("version"));
        m.insert("version".into(), json!(v));
    });
    one("regime", &|m| match m.get("regime").and_then(Value::as_str) {
        Some("mixed") => drop(m.insert("regime".into(), json!("sticky"))),
        Some(_) => drop(m.insert("regime".into(), json!("mixed"))),
        None => drop(m.insert("regime".into(), json!("sticky"))),
    });
    if rec.contains_key("regime") {
        one("regime removed", &|m| drop(m.remove("regime")));
    }
    one("seed", &|m| match m.get("seed").and_then(Value::as_i64) {
        Some(x) if x > 0 => drop(m.insert("seed".into(), json!(x - 1))),
        Some(x) => drop(m.insert("seed".into(), json!(x + 1))),
        None => drop(m.insert("seed".into(), json!(0))),
    });
    if rec.contains_key("seed") {
        one("seed removed", &|m| drop(m.remove("seed")));
    }
    one("v_star", &|m| match m.get_mut("v_star").and_then(Value::as_array_mut) {
        Some(a) if a.len() < 64 => a.push(json!(0.5)),
        Some(a) => drop(a.pop()),
        None => drop(m.insert("v_star".into(), json!([]))),
    });
    match rec.get("scales").and_then(Value::as_array) {
        Some(a) if !a.is_empty() => one("scales: last scale and its N_j entry removed", &|m| {
            let last = m["scales"].as_array_mut().expect("scales").pop().expect("non-empty");
            if let Some(n) = m.get_mut("N_j").and_then(Value::as_object_mut) {
                n.remove(&last.to_string());
            }
        }),
        Some(_) => one("scales removed", &|m| drop(m.remove("scales"))),
        None => one("scales added", &|m| drop(m.insert("scales".into(), json!([2])))),
    }
    match rec.get("N_j").and_then(Value::as_object) {
        Some(n) if !n.is_empty() => one("an N_j value", &|m| {
            let n = m.get_mut("N_j").and_then(Value::as_object_mut).expect("N_j");
            let (_, v) = n.iter_mut().next().expect("non-empty");
            let x = v.as_i64().expect("count");
            *v = json!(if x > 1 { x - 1 } else { x + 1 });
        }),
        Some(_) => one("N_j removed", &|m| drop(m.remove("N_j"))),
        None => one("N_j added", &|m| drop(m.insert("N_j".into(), json!({})))),
    }
    one("an unknown field added", &|m| drop(m.insert("zz_tamper".into(), Value::Null)));
    const KNOWN: &[&str] = &["pcs_id", "schema", "version", "shard_id", "epoch", "attempt", "sent_at", "seed", "scales", "N_j", "coh_star", "v_star", "D_hat", "r", "regime", "budget", "merkle_root", "sig", "ft"];
    if let Some(k) = rec.keys().find(|k| !KNOWN.contains(&k.as_str())).cloned() {
        one(&format!("unknown field {k:?} removed"), &|m| drop(m.remove(&k)));
        one(&format!("unknown field {k:?} set to another value"), &|m| {
            let other = if m[&k] == json!("other") { json!("other2") } else { json!("other") };
            m.insert(k.clone(), other);
        });
    }
    out
}

#[test]
fn canonical_v2_vectors() {
    let doc = load("canonical_v2.json");
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut tampers = 0;
    for g in groups(&doc) {
        let key = s(g, "hmac_key").as_bytes();
        let seed = s(g, "ed25519_seed");
        assert_eq!(Ed25519Keypair::from_seed_b64(seed).expect("seed").public_b64(), s(g, "ed25519_public"));
        let verifier = group_verifier(g); // default policy: v2 only
        for t in tests(g) {
            checked += 1;
            let at = label("canonical_v2.json", t);
            let e = &t["expected"];
            let pcs = match Pcs::from_json(s(t, "record_text").as_bytes()) {
                Ok(p) => p,
                Err(err) => {
                    failures.push(format!("{at}: record_text does not parse: {err}"));
                    continue;
                }
            };
            let mut bad = |what: &str, got: String, want: &str| {
                if got != want {
                    failures.push(format!("{at}: {what}\n   core:   {got}\n   golden: {want}"));
                }
            };
            let text = |r: fractal_core::Result<Vec<u8>>| r.map(|b| String::from_utf8(b).expect("UTF-8")).unwrap_or_else(|e| e.to_string());
            bad("pcs_id", pcs_id(&pcs.merkle_root, pcs.epoch, &pcs.shard_id), s(e, "pcs_id"));
            bad("canonical", text(canonical_payload(&pcs, SigVersion::V2)), s(e, "canonical"));
            bad("canonical from `record`", text(Pcs::from_value(t["record"].clone()).and_then(|p| canonical_payload(&p, SigVersion::V2))), s(e, "canonical"));
            bad("digest_hex", fractal_core::digest(&pcs, SigVersion::V2).map(|d| hex(&d)).unwrap_or_else(|e| e.to_string()), s(e, "digest_hex"));
            bad("sig_hmac (default version)", sign_hmac(&pcs, key).unwrap_or_else(|e| e.to_string()), s(e, "sig_hmac"));
            bad("sig_ed25519 (default version)", sign_ed25519(&pcs, seed).unwrap_or_else(|e| e.to_string()), s(e, "sig_ed25519"));
            bad("result", s(t, "result").into(), "valid");

            let rec: Map<String, Value> = serde_json::from_str(s(t, "record_text")).expect("record_text is a JSON object");
            for sig in [s(e, "sig_hmac"), s(e, "sig_ed25519")] {
                let mut signed = rec.clone();
                signed.insert("sig".into(), json!(sig));
                let check = |m: &Map<String, Value>| Pcs::from_value(Value::Object(m.clone())).and_then(|p| verifier.verify(&p));
                if let Err(err) = check(&signed) {
                    failures.push(format!("{at}: the default verifier refuses {sig}: {err}"));
                }
                match Pcs::from_value(Value::Object(signed.clone())).and_then(|p| verifier.verify_with(&p, &policy(&["v1"], &[]))) {
                    Err(err) if err.kind() == "unsupported_signature_version" => {}
                    other => failures.push(format!("{at}: v2 signature under a v1-only policy: {other:?}")),
                }
                let mut delivery = signed.clone();
                delivery.insert("attempt".into(), json!(99));
                delivery.insert("sent_at".into(), json!("2000-01-01T00:00:00Z"));
                delivery.insert("ft".into(), json!({"degraded": true, "outbox_seq": 5}));
                if let Err(err) = check(&delivery) {
                    failures.push(format!("{at}: changing attempt, sent_at and ft broke {sig}: {err}"));
                }
                for (field, changed) in v2_tampered(&signed) {
                    // A change the §1 parser refuses cannot reach the verifier at all.
                    if Pcs::from_value(Value::Object(changed.clone())).is_err() {
                        continue;
                    }
                    tampers += 1;
                    if check(&changed).is_ok() {
                        failures.push(format!("{at}: signature {sig} still verifies after `{field}` changed"));
                    }
                }
            }
        }
    }
    assert!(tampers > checked * 2 * 15, "only {tampers} tamper checks ran over {checked} cases");
    finish("canonical_v2.json", checked, failures);
}

#[test]
fn legacy_vectors() {
    let doc = load("legacy.json");
    let mut failures = Vec::new();
    let mut checked = 0;
    for g in groups(&doc) {
        let key = s(g, "hmac_key").as_bytes();
        let kp = Ed25519Keypair::from_seed_b64(s(g, "ed25519_seed")).expect("seed");
        let verifier = group_verifier(g);
        for t in tests(g) {
            checked += 1;
            let at = label("legacy.json", t);
            let e = &t["expected"];
            let enc: LegacyEncoding = match serde_json::from_value(t["encoding"].clone()) {
                Ok(enc) => enc,
                Err(err) => {
                    failures.push(format!("{at}: unknown encoding {}: {err}", t["encoding"]));
                    continue;
                }
            };
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
            let fields = SigningFields::from(&pcs);
            let payload = enc.payload(&fields).map(|p| String::from_utf8(p).expect("UTF-8")).unwrap_or_else(|| "(not encodable)".into());
            bad("payload", payload.clone(), s(e, "payload"));
            bad("canonical_v1", canonical_payload(&pcs, SigVersion::V1).map(|b| String::from_utf8(b).expect("UTF-8")).unwrap_or_else(|e| e.to_string()), s(e, "canonical_v1"));
            let digest = sha256(payload.as_bytes());
            bad("digest_hex", hex(&digest), s(e, "digest_hex"));
            bad("sig_hmac", sign_hmac_digest(&digest, key).unwrap_or_else(|e| e.to_string()), s(e, "sig_hmac"));
            bad("sig_ed25519", kp.sign_digest(&digest), s(e, "sig_ed25519"));
            for sig in [s(e, "sig_hmac"), s(e, "sig_ed25519")] {
                let mut signed = pcs.clone();
                signed.sig = Some(sig.to_string());
                let run = |p: &SignaturePolicy| verifier.verify_with(&signed, p).map_err(|e| e.kind());
                let listed = run(&policy(&["v1"], &[enc.as_str()]));
                if listed != Ok((SigVersion::V1, Some(enc))) {
                    failures.push(format!("{at}: {sig} with {} listed: {listed:?}", enc.as_str()));
                }
                // With both listed, the one reported must write these bytes (on
                // ASCII text with only U+2028/U+2029 the two encodings coincide).
                let both = run(&policy(&["v1", "v2"], &["seed-python", "seed-go"]));
                match both {
                    Ok((SigVersion::V1, Some(got))) if got.payload(&fields).as_deref() == Some(payload.as_bytes()) => {}
                    other => failures.push(format!("{at}: {sig} with both encodings listed: {other:?}")),
                }
                for (name, p, want) in [
                    ("v1 without encodings", policy(&["v1"], &[]), "signature_invalid"),
                    ("the default policy", SignaturePolicy::default(), "unsupported_signature_version"),
                ] {
                    if run(&p) != Err(want) {
                        failures.push(format!("{at}: {sig} under {name}: {:?}, expected {want}", run(&p)));
                    }
                }
                let other = LegacyEncoding::ALL.into_iter().find(|&o| o != enc).expect("two encodings");
                if other.payload(&fields).as_deref() != Some(payload.as_bytes()) && run(&policy(&["v1"], &[other.as_str()])) != Err("signature_invalid") {
                    failures.push(format!("{at}: {sig} accepted with only {} listed", other.as_str()));
                }
            }
        }
    }
    finish("legacy.json", checked, failures);
}

#[test]
fn read_vectors() {
    let doc = load("read.json");
    let mut failures = Vec::new();
    let mut checked = 0;
    for g in groups(&doc) {
        assert_eq!(g["skew_secs"].as_u64(), Some(fractal_core::sign::READ_SKEW_SECS));
        let hmac = SigningKeyMaterial::parse(Algorithm::Hmac, s(g, "hmac_key")).expect("hmac key");
        let ed = SigningKeyMaterial::parse(Algorithm::Ed25519, s(g, "ed25519_seed")).expect("seed");
        let verifier = group_verifier(g);
        for t in tests(g) {
            checked += 1;
            let at = label("read.json", t);
            let (tenant, id, now) = (s(t, "tenant"), s(t, "pcs_id"), t["now"].as_u64().expect("now"));
            match s(t, "result") {
                "valid" => {
                    let e = &t["expected"];
                    let time = t["t"].as_u64().expect("t");
                    let mut bad = |what: &str, got: String, want: &str| {
                        if got != want {
                            failures.push(format!("{at}: {what}\n   core:   {got}\n   golden: {want}"));
                        }
                    };
                    bad("digest_hex", hex(&read_digest(tenant, id, time)), s(e, "digest_hex"));
                    bad("authorization_hmac", hmac.read_authorization(tenant, id, time).unwrap_or_else(|e| e.to_string()), s(e, "authorization_hmac"));
                    bad("authorization_ed25519", ed.read_authorization(tenant, id, time).unwrap_or_else(|e| e.to_string()), s(e, "authorization_ed25519"));
                    for h in [s(e, "authorization_hmac"), s(e, "authorization_ed25519")] {
                        if let Err(err) = verifier.verify_read(tenant, id, Some(h), now) {
                            failures.push(format!("{at}: {h} refused at now={now}: {err}"));
                        }
                    }
                }
                "invalid" => {
                    let header = t["header"].as_str();
                    let got = verifier.verify_read(tenant, id, header, now).map_err(|e| e.kind());
                    if got != Err(s(t, "error_kind")) {
                        failures.push(format!("{at}: header {header:?} at now={now}: core {got:?}, golden {}", t["error_kind"]));
                    }
                }
                other => failures.push(format!("{at}: result {other}")),
            }
        }
    }
    finish("read.json", checked, failures);
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
                "pick" => ring.pick(key).map(Value::from),
                "pick_n" => ring.pick_n(key, t["n"].as_u64().expect("n") as usize).map(Value::from),
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
            if s(t, "stage") != "parse"
                && s(t, "stage") != "key"
                && let Err(e) = parsed()
            {
                failures.push(format!("{at}: input does not parse ({e}), so stage {} is not reached", s(t, "stage")));
                continue;
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

#[test]
fn audit_vectors() {
    use fractal_core::audit::{Entry, Seal, Segment, entry_hash, seal_message, verify_chain};
    let file = "server/audit.json";
    let doc = load(file);
    let (mut checked, mut failures) = (0, Vec::new());
    for g in groups(&doc) {
        for t in tests(g) {
            let at = label(file, t);
            let mut fail = |what: String| failures.push(format!("{at}: {what}"));
            match s(g, "type") {
                "entries" => {
                    let e: Entry = serde_json::from_value(t["entry"].clone()).expect("entry");
                    let b = e.to_bytes().expect("canonical");
                    if b != s(t, "entry_bytes").as_bytes() {
                        fail(format!("bytes {}", String::from_utf8_lossy(&b)));
                    }
                    if hex(&entry_hash(&b)) != s(t, "entry_sha256") {
                        fail("sha256".into());
                    }
                }
                "seals" => {
                    let kp = Ed25519Keypair::from_seed_b64(s(g, "ed25519_seed")).expect("seed");
                    let (seg, first, last) =
                        (t["segment"].as_u64().unwrap(), t["first_seq"].as_u64().unwrap(), t["last_seq"].as_u64().unwrap());
                    if seal_message(seg, first, last, s(t, "last_hash")) != s(t, "message").as_bytes() {
                        fail("message".into());
                    }
                    let seal = Seal::sign(&kp, seg, first, last, s(t, "last_hash"));
                    if seal.to_bytes() != s(t, "seal_bytes").as_bytes() {
                        fail("seal bytes".into());
                    }
                    if !seal.verify(&kp.public_bytes()) {
                        fail("the seal does not verify".into());
                    }
                }
                "chains" => {
                    let pk: [u8; 32] = fractal_core::b64decode(s(g, "ed25519_public")).unwrap().try_into().unwrap();
                    let segments: Vec<Segment> = t["segments"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|x| Segment {
                            index: x["index"].as_u64().unwrap(),
                            entries: x["entries"].as_str().map(|v| v.as_bytes().to_vec()),
                            seal: x["seal"].as_str().map(|v| v.as_bytes().to_vec()),
                        })
                        .collect();
                    let got = verify_chain(&segments, &pk, t["anchor"].as_str().map(str::as_bytes));
                    let got = match got {
                        Ok(v) => json!({"valid": {"entries": v.entries, "last_seq": v.last_seq, "last_hash": v.last_hash, "unsealed_tail": v.unsealed_tail}}),
                        Err(f) => json!({"invalid": {"object": f.object, "segment": f.segment, "seq": f.seq}}),
                    };
                    let want = match s(t, "result") {
                        "valid" => json!({"valid": t["expected"]}),
                        _ => json!({"invalid": t["first_bad"]}),
                    };
                    if got != want {
                        fail(format!("got {got}, want {want}"));
                    }
                }
                other => fail(format!("unknown group type {other}")),
            }
            checked += 1;
        }
    }
    finish(file, checked, failures);
}
