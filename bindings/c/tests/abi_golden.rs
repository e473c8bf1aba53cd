//! Every golden case of every file in `../../golden`, driven through the C ABI
//! exactly as a C caller would (raw pointers, status codes, error and buffer
//! frees). `make check-memory` runs this binary under valgrind, so the golden
//! walk doubles as the memory check of the ABI. It is a plain program
//! (`harness = false`): no test-harness threads to blur valgrind's leak report.

use std::ffi::CStr;
use std::path::Path;
use std::ptr;

use fractal::*;
use serde_json::Value;

fn golden_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../golden")
}

fn new_err() -> FractalError {
    FractalError { field: ptr::null_mut(), message: ptr::null_mut() }
}

/// Status, then the error's field (taken and freed).
fn take_err(st: FractalStatus, err: &mut FractalError) -> (FractalStatus, Option<String>) {
    let field = if err.field.is_null() {
        None
    } else {
        Some(unsafe { CStr::from_ptr(err.field) }.to_str().unwrap().to_string())
    };
    if st != FractalStatus::Ok {
        assert!(!err.message.is_null(), "a failure always carries a message");
    }
    unsafe { fractal_error_free(err) };
    assert!(err.field.is_null() && err.message.is_null());
    (st, field)
}

fn ok(st: FractalStatus, err: &mut FractalError, what: &str) {
    let msg = if err.message.is_null() {
        String::new()
    } else {
        unsafe { CStr::from_ptr(err.message) }.to_string_lossy().into_owned()
    };
    let (st, _) = take_err(st, err);
    assert_eq!(st, FractalStatus::Ok, "{what}: {msg}");
}

fn take_bytes(b: &mut FractalBytes) -> Vec<u8> {
    let v = if b.ptr.is_null() { Vec::new() } else { unsafe { std::slice::from_raw_parts(b.ptr, b.len) }.to_vec() };
    unsafe { fractal_bytes_free(b) };
    assert!(b.ptr.is_null() && b.len == 0);
    v
}

fn status_of(kind: &str) -> FractalStatus {
    match kind {
        "invalid_json" => FractalStatus::InvalidJson,
        "invalid_field" => FractalStatus::InvalidField,
        "validation" => FractalStatus::Validation,
        "signature_missing" => FractalStatus::SignatureMissing,
        "signature_invalid" => FractalStatus::SignatureInvalid,
        "unsupported_signature_version" => FractalStatus::UnsupportedSignatureVersion,
        "invalid_key" => FractalStatus::InvalidKey,
        "ring" => FractalStatus::Ring,
        "invalid_argument" => FractalStatus::InvalidArgument,
        other => panic!("unknown error kind {other}"),
    }
}

fn load(name: &str) -> Value {
    let text = std::fs::read(golden_dir().join(name)).unwrap_or_else(|e| panic!("golden/{name}: {e}"));
    serde_json::from_slice(&text).unwrap()
}

fn groups(file: &Value) -> &Vec<Value> {
    file["testGroups"].as_array().unwrap()
}

struct Fields {
    pcs_id: String,
    merkle_root: String,
    shard_id: String,
    epoch: u64,
    nums: [f64; 4], // D_hat, coh_star, r, budget
}

impl Fields {
    fn of(record: &[u8]) -> Fields {
        let mut out = FractalBytes { ptr: ptr::null_mut(), len: 0 };
        let mut err = new_err();
        ok(unsafe { fractal_parse_json(record.as_ptr(), record.len(), &mut out, &mut err) }, &mut err, "parse");
        let v: Value = serde_json::from_slice(&take_bytes(&mut out)).unwrap();
        Fields {
            pcs_id: v["pcs_id"].as_str().unwrap().into(),
            merkle_root: v["merkle_root"].as_str().unwrap().into(),
            shard_id: v["shard_id"].as_str().unwrap().into(),
            epoch: v["epoch"].as_u64().unwrap(),
            nums: ["D_hat", "coh_star", "r", "budget"].map(|k| v[k].as_f64().unwrap()),
        }
    }

    fn c(&self) -> FractalFields {
        FractalFields {
            pcs_id: self.pcs_id.as_ptr(),
            pcs_id_len: self.pcs_id.len(),
            merkle_root: self.merkle_root.as_ptr(),
            merkle_root_len: self.merkle_root.len(),
            shard_id: self.shard_id.as_ptr(),
            shard_id_len: self.shard_id.len(),
            epoch: self.epoch,
            d_hat: self.nums[0],
            coh_star: self.nums[1],
            r: self.nums[2],
            budget: self.nums[3],
        }
    }
}

/// A verifier holding the HMAC key (and the public key when not empty) with the
/// default policy (v2 only).
fn verifier(hmac_key: &str, public: &str) -> *const FractalVerifier {
    verifier_with(hmac_key, public, None).unwrap()
}

/// A verifier under a policy given as JSON; the status and field on failure.
fn verifier_with(
    hmac_key: &str,
    public: &str,
    policy: Option<&str>,
) -> Result<*const FractalVerifier, (FractalStatus, Option<String>)> {
    let b = fractal_verifier_builder_new();
    let mut err = new_err();
    if let Some(p) = policy {
        let st = unsafe { fractal_verifier_builder_set_policy(b, p.as_ptr(), p.len(), &mut err) };
        if st != FractalStatus::Ok {
            unsafe { fractal_verifier_builder_free(b) };
            return Err(take_err(st, &mut err));
        }
    }
    ok(
        unsafe { fractal_verifier_builder_add_hmac_key(b, hmac_key.as_ptr(), hmac_key.len(), &mut err) },
        &mut err,
        "hmac key",
    );
    if !public.is_empty() {
        ok(
            unsafe { fractal_verifier_builder_add_ed25519_public_key(b, public.as_ptr(), public.len(), &mut err) },
            &mut err,
            "public key",
        );
    }
    Ok(unsafe { fractal_verifier_builder_build(b) })
}

const V1_ONLY: &str = r#"{"versions":["v1"]}"#;
type Failed = (FractalStatus, Option<String>);

fn canonical_json(record: &[u8], version: u32) -> Result<Vec<u8>, Failed> {
    let mut out = FractalBytes { ptr: ptr::null_mut(), len: 0 };
    let mut err = new_err();
    let st = unsafe { fractal_canonical_json(record.as_ptr(), record.len(), version, &mut out, &mut err) };
    if st == FractalStatus::Ok {
        Ok(take_bytes(&mut out))
    } else {
        assert!(out.ptr.is_null());
        Err(take_err(st, &mut err))
    }
}

fn digest_json(record: &[u8], version: u32) -> Result<String, Failed> {
    let mut d = [0u8; FRACTAL_DIGEST_LEN];
    let mut err = new_err();
    let st = unsafe { fractal_digest_json(record.as_ptr(), record.len(), version, d.as_mut_ptr(), d.len(), &mut err) };
    if st == FractalStatus::Ok { Ok(fractal_core::hex(&d)) } else { Err(take_err(st, &mut err)) }
}

/// The `sig` of a record given as JSON, HMAC under `key`; the buffer is exactly
/// as long as the version needs, so a longer answer would fail.
fn sign_hmac_json(record: &[u8], key: &str, version: u32) -> Result<String, Failed> {
    let mut sig = vec![0u8; if version == FRACTAL_SIG_V1 { FRACTAL_HMAC_SIG_LEN } else { FRACTAL_HMAC_SIG_V2_LEN }];
    let mut len = usize::MAX;
    let mut err = new_err();
    let st = unsafe {
        fractal_sign_hmac_json(
            record.as_ptr(),
            record.len(),
            key.as_ptr(),
            key.len(),
            version,
            sig.as_mut_ptr(),
            sig.len(),
            &mut len,
            &mut err,
        )
    };
    if st != FractalStatus::Ok {
        return Err(take_err(st, &mut err));
    }
    assert_eq!(len, sig.len(), "out_len");
    Ok(String::from_utf8(sig).unwrap())
}

fn sign_ed25519_json(key: *const FractalEd25519Key, record: &[u8], version: u32) -> Result<String, Failed> {
    let mut sig = [0u8; FRACTAL_SIG_MAX_LEN];
    let mut len = usize::MAX;
    let mut err = new_err();
    let st = unsafe {
        fractal_ed25519_key_sign_json(
            key,
            record.as_ptr(),
            record.len(),
            version,
            sig.as_mut_ptr(),
            sig.len(),
            &mut len,
            &mut err,
        )
    };
    if st != FractalStatus::Ok {
        return Err(take_err(st, &mut err));
    }
    let want = if version == FRACTAL_SIG_V1 { FRACTAL_ED25519_SIG_LEN } else { FRACTAL_ED25519_SIG_V2_LEN };
    assert_eq!(len, want, "out_len");
    Ok(String::from_utf8(sig[..len].to_vec()).unwrap())
}

fn verify_json(v: *const FractalVerifier, record: &Value) -> Result<(), Failed> {
    let json = serde_json::to_vec(record).unwrap();
    let mut err = new_err();
    let st = unsafe { fractal_verifier_verify_json(v, json.as_ptr(), json.len(), &mut err) };
    if st == FractalStatus::Ok { Ok(()) } else { Err(take_err(st, &mut err)) }
}

fn with_sig(record: &Value, sig: &str) -> Value {
    let mut r = record.clone();
    r["sig"] = Value::String(sig.into());
    r
}

fn ed25519_key(seed: &str) -> *mut FractalEd25519Key {
    let mut key: *mut FractalEd25519Key = ptr::null_mut();
    let mut err = new_err();
    ok(unsafe { fractal_ed25519_key_from_seed(seed.as_ptr(), seed.len(), &mut key, &mut err) }, &mut err, "seed");
    key
}

fn bad_sig() -> Failed {
    (FractalStatus::SignatureInvalid, Some("sig".into()))
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or("")
}

/// golden/canonical.json: the v1 payload (SPEC §3.1), through the `_fields_v1`
/// functions and the JSON ones with `FRACTAL_SIG_V1`.
fn canonical_cases() {
    let file = load("canonical.json");
    let mut n = 0;
    for g in groups(&file) {
        let (hmac_key, seed, public) = (s(g, "hmac_key"), s(g, "ed25519_seed"), s(g, "ed25519_public"));
        let key = ed25519_key(seed);
        let mut err = new_err();
        let mut pubbuf = [0u8; FRACTAL_ED25519_KEY_LEN];
        ok(unsafe { fractal_ed25519_key_public(key, pubbuf.as_mut_ptr(), pubbuf.len(), &mut err) }, &mut err, "public");
        assert_eq!(std::str::from_utf8(&pubbuf).unwrap(), public);
        let v = verifier_with(hmac_key, public, Some(V1_ONLY)).unwrap();
        let v2_only = verifier(hmac_key, public);
        assert_eq!(unsafe { fractal_verifier_key_count(v) }, 2);

        for t in g["tests"].as_array().unwrap() {
            n += 1;
            let tc = t["tcId"].as_u64().unwrap();
            let exp = &t["expected"];
            let record = serde_json::to_vec(&t["record"]).unwrap();
            let f = Fields::of(&record);

            let mut id = [0u8; FRACTAL_PCS_ID_LEN];
            ok(
                unsafe {
                    fractal_pcs_id(
                        f.merkle_root.as_ptr(),
                        f.merkle_root.len(),
                        f.epoch,
                        f.shard_id.as_ptr(),
                        f.shard_id.len(),
                        id.as_mut_ptr(),
                        id.len(),
                        &mut err,
                    )
                },
                &mut err,
                "pcs_id",
            );
            assert_eq!(std::str::from_utf8(&id).unwrap(), s(exp, "pcs_id"), "tc{tc} pcs_id");

            let mut out = FractalBytes { ptr: ptr::null_mut(), len: 0 };
            ok(unsafe { fractal_canonical_fields_v1(f.c(), &mut out, &mut err) }, &mut err, "canonical fields");
            assert_eq!(take_bytes(&mut out), s(exp, "canonical").as_bytes(), "tc{tc} canonical");
            assert_eq!(
                canonical_json(&record, FRACTAL_SIG_V1).unwrap(),
                s(exp, "canonical").as_bytes(),
                "tc{tc} canonical (json)"
            );

            let mut d = [0u8; FRACTAL_DIGEST_LEN];
            ok(unsafe { fractal_digest_fields_v1(f.c(), d.as_mut_ptr(), d.len(), &mut err) }, &mut err, "digest");
            assert_eq!(fractal_core::hex(&d), s(exp, "digest_hex"), "tc{tc} digest");
            assert_eq!(digest_json(&record, FRACTAL_SIG_V1).unwrap(), s(exp, "digest_hex"), "tc{tc} digest (json)");

            let mut sig = [0u8; FRACTAL_HMAC_SIG_LEN];
            ok(
                unsafe {
                    fractal_sign_hmac_fields_v1(
                        f.c(),
                        hmac_key.as_ptr(),
                        hmac_key.len(),
                        sig.as_mut_ptr(),
                        sig.len(),
                        &mut err,
                    )
                },
                &mut err,
                "hmac",
            );
            assert_eq!(std::str::from_utf8(&sig).unwrap(), s(exp, "sig_hmac"), "tc{tc} hmac");
            assert_eq!(
                sign_hmac_json(&record, hmac_key, FRACTAL_SIG_V1).unwrap(),
                s(exp, "sig_hmac"),
                "tc{tc} hmac (json)"
            );

            let mut esig = [0u8; FRACTAL_ED25519_SIG_LEN];
            ok(
                unsafe { fractal_ed25519_key_sign_fields_v1(key, f.c(), esig.as_mut_ptr(), esig.len(), &mut err) },
                &mut err,
                "ed25519",
            );
            assert_eq!(std::str::from_utf8(&esig).unwrap(), s(exp, "sig_ed25519"), "tc{tc} ed25519");
            assert_eq!(
                sign_ed25519_json(key, &record, FRACTAL_SIG_V1).unwrap(),
                s(exp, "sig_ed25519"),
                "tc{tc} ed25519 (json)"
            );

            for sig in [s(exp, "sig_hmac"), s(exp, "sig_ed25519")] {
                ok(
                    unsafe { fractal_verifier_verify_fields_v1(v, f.c(), sig.as_ptr(), sig.len(), &mut err) },
                    &mut err,
                    "verify",
                );
                let signed = with_sig(&t["record"], sig);
                verify_json(v, &signed).unwrap_or_else(|e| panic!("tc{tc} verify json: {e:?}"));
                // The default policy (v2 only) refuses a v1 signature, both paths.
                let unsupported = (FractalStatus::UnsupportedSignatureVersion, Some("sig".into()));
                assert_eq!(verify_json(v2_only, &signed), Err(unsupported.clone()), "tc{tc} v2-only json");
                let st =
                    unsafe { fractal_verifier_verify_fields_v1(v2_only, f.c(), sig.as_ptr(), sig.len(), &mut err) };
                assert_eq!(take_err(st, &mut err), unsupported, "tc{tc} v2-only fields");
                // Tampering with any one signed field must break the signature.
                for field in 0..8 {
                    let (tampered, json) = tamper_v1(&f, &t["record"], field);
                    let st = unsafe {
                        fractal_verifier_verify_fields_v1(v, tampered.c(), sig.as_ptr(), sig.len(), &mut err)
                    };
                    assert_eq!(take_err(st, &mut err), bad_sig(), "tc{tc} tampered field {field}");
                    assert_eq!(
                        verify_json(v, &with_sig(&json, sig)),
                        Err(bad_sig()),
                        "tc{tc} tampered json field {field}"
                    );
                }
            }
        }
        unsafe {
            fractal_ed25519_key_free(key);
            fractal_verifier_free(v);
            fractal_verifier_free(v2_only);
        }
    }
    assert_eq!(n, file["numberOfTests"].as_u64().unwrap());
}

/// Changes an id of 1–128 bytes, keeping it within the limits.
fn change_id(id: &mut String) {
    if id.len() < fractal_core::MAX_ID_BYTES {
        id.push('0');
    } else {
        id.pop();
    }
}

/// Changes one of the eight v1 fields (by index) beyond what 9-decimal
/// rounding hides, in the fields and in the record.
fn tamper_v1(f: &Fields, record: &Value, which: usize) -> (Fields, Value) {
    let mut t = Fields {
        pcs_id: f.pcs_id.clone(),
        merkle_root: f.merkle_root.clone(),
        shard_id: f.shard_id.clone(),
        epoch: f.epoch,
        nums: f.nums,
    };
    let mut r = record.clone();
    let nudge = |x: f64| if x.abs() < 1e15 { x + 0.5 } else { x / 2.0 };
    match which {
        0 => t.pcs_id.push('0'),
        1 => change_id(&mut t.merkle_root),
        2 => change_id(&mut t.shard_id),
        3 => t.epoch = if t.epoch == fractal_core::MAX_EPOCH { t.epoch - 1 } else { t.epoch + 1 },
        i => t.nums[i - 4] = nudge(t.nums[i - 4]),
    }
    r["pcs_id"] = Value::String(t.pcs_id.clone());
    r["merkle_root"] = Value::String(t.merkle_root.clone());
    r["shard_id"] = Value::String(t.shard_id.clone());
    r["epoch"] = Value::from(t.epoch);
    for (k, x) in ["D_hat", "coh_star", "r", "budget"].into_iter().zip(t.nums) {
        r[k] = Value::from(x);
    }
    (t, r)
}

fn verify_cases() {
    let file = load("verify.json");
    let mut n = 0;
    for g in groups(&file) {
        let mut params = FractalVerifyParams {
            tol_d: 0.0,
            tol_coh: 0.0,
            alpha: 0.0,
            beta: 0.0,
            gamma: 0.0,
            base: 0.0,
            d0: 0.0,
            budget_tol: 0.0,
        };
        assert_eq!(unsafe { fractal_verify_params_default(&mut params) }, FractalStatus::Ok);
        if let Some(p) = g["params"].as_object() {
            for (k, v) in p {
                let v = v.as_f64().unwrap();
                match k.as_str() {
                    "tol_d" => params.tol_d = v,
                    "tol_coh" => params.tol_coh = v,
                    "alpha" => params.alpha = v,
                    "beta" => params.beta = v,
                    "gamma" => params.gamma = v,
                    "base" => params.base = v,
                    "d0" => params.d0 = v,
                    "budget_tol" => params.budget_tol = v,
                    other => panic!("unknown parameter {other}"),
                }
            }
        }
        for t in g["tests"].as_array().unwrap() {
            n += 1;
            let record = serde_json::to_vec(&t["record"]).unwrap();
            let mut out = FractalVerifyResult {
                accepted: false,
                escalated: false,
                has_recomputed_d_hat: false,
                recomputed_d_hat: 0.0,
                has_recomputed_budget: false,
                recomputed_budget: 0.0,
                reason: ptr::null_mut(),
            };
            let mut err = new_err();
            ok(
                unsafe { fractal_verify_json(record.as_ptr(), record.len(), &params, &mut out, &mut err) },
                &mut err,
                "verify",
            );
            let exp = &t["expected"];
            let tc = &t["tcId"];
            assert_eq!(out.accepted, exp["accepted"].as_bool().unwrap(), "tc{tc}");
            assert_eq!(out.escalated, exp["escalated"].as_bool().unwrap(), "tc{tc}");
            assert_eq!(
                out.has_recomputed_d_hat.then_some(out.recomputed_d_hat),
                exp["recomputed_D_hat"].as_f64(),
                "tc{tc}"
            );
            assert_eq!(
                out.has_recomputed_budget.then_some(out.recomputed_budget),
                exp["recomputed_budget"].as_f64(),
                "tc{tc}"
            );
            let reason =
                (!out.reason.is_null()).then(|| unsafe { CStr::from_ptr(out.reason) }.to_str().unwrap().to_string());
            assert_eq!(reason.as_deref(), exp["reason"].as_str(), "tc{tc}");
            unsafe { fractal_verify_result_free(&mut out) };
            assert!(out.reason.is_null());
        }
    }
    assert_eq!(n, file["numberOfTests"].as_u64().unwrap());
}

fn ring_cases() {
    let file = load("ring.json");
    let mut n = 0;
    for g in groups(&file) {
        let mut ring: *mut FractalRing = ptr::null_mut();
        let mut err = new_err();
        let vnodes = g["vnodes"].as_u64().unwrap_or(150) as u32;
        ok(unsafe { fractal_ring_new(vnodes, &mut ring, &mut err) }, &mut err, "ring");
        for sh in g["shards"].as_array().unwrap() {
            let name = s(sh, "name");
            let w = sh["weight"].as_u64().unwrap_or(1) as u32;
            ok(unsafe { fractal_ring_add_shard(ring, name.as_ptr(), name.len(), w, &mut err) }, &mut err, "add");
            if sh["healthy"].as_bool() == Some(false) {
                ok(
                    unsafe { fractal_ring_set_healthy(ring, name.as_ptr(), name.len(), false, &mut err) },
                    &mut err,
                    "mark",
                );
            }
        }
        for t in g["tests"].as_array().unwrap() {
            n += 1;
            let key = s(t, "key");
            let mut out = FractalBytes { ptr: ptr::null_mut(), len: 0 };
            let st = match s(t, "op") {
                "pick" => unsafe { fractal_ring_pick(ring, key.as_ptr(), key.len(), &mut out, &mut err) },
                "pick_n" => unsafe {
                    fractal_ring_pick_n(
                        ring,
                        key.as_ptr(),
                        key.len(),
                        t["n"].as_u64().unwrap() as usize,
                        &mut out,
                        &mut err,
                    )
                },
                other => panic!("unknown op {other}"),
            };
            if s(t, "result") == "invalid" {
                assert_eq!(take_err(st, &mut err).0, status_of(s(t, "error_kind")), "tc{}", t["tcId"]);
                assert!(out.ptr.is_null());
                continue;
            }
            ok(st, &mut err, "ring op");
            let got = take_bytes(&mut out);
            let got: Value = if s(t, "op") == "pick" {
                Value::String(String::from_utf8(got).unwrap())
            } else {
                serde_json::from_slice(&got).unwrap()
            };
            assert_eq!(got, t["expected"], "tc{}", t["tcId"]);
        }
        // The rest of the handle's surface, once per group.
        let mut stats = FractalRingStats { shards: 0, healthy_shards: 0, points: 0, vnodes: 0 };
        ok(unsafe { fractal_ring_stats(ring, &mut stats, &mut err) }, &mut err, "stats");
        assert_eq!(stats.shards, g["shards"].as_array().unwrap().len());
        let keys = br#"["k1","k2","k3"]"#;
        let mut out = FractalBytes { ptr: ptr::null_mut(), len: 0 };
        ok(unsafe { fractal_ring_plan(ring, ring, keys.as_ptr(), keys.len(), &mut out, &mut err) }, &mut err, "plan");
        assert_eq!(take_bytes(&mut out), b"[]");
        unsafe { fractal_ring_free(ring) };
    }
    assert_eq!(n, file["numberOfTests"].as_u64().unwrap());
}

fn reject_cases() {
    let file = load("reject.json");
    let mut n = 0;
    for g in groups(&file) {
        for t in g["tests"].as_array().unwrap() {
            n += 1;
            let tc = &t["tcId"];
            let input = s(t, "input");
            let want = (status_of(s(t, "error_kind")), t["field"].as_str().map(String::from));
            let mut err = new_err();
            let mut out = FractalBytes { ptr: ptr::null_mut(), len: 0 };
            let got = match s(t, "stage") {
                "parse" => {
                    let st = unsafe { fractal_parse_json(input.as_ptr(), input.len(), &mut out, &mut err) };
                    assert!(out.ptr.is_null());
                    take_err(st, &mut err)
                }
                "validate" => {
                    take_err(unsafe { fractal_validate_json(input.as_ptr(), input.len(), &mut err) }, &mut err)
                }
                "sign_v1" | "sign" => {
                    // The v1 payload: the JSON path and the fields path agree.
                    let first = canonical_json(input.as_bytes(), FRACTAL_SIG_V1).unwrap_err();
                    let f = Fields::of(input.as_bytes());
                    let mut sig = [0u8; FRACTAL_HMAC_SIG_LEN];
                    let st = unsafe {
                        fractal_sign_hmac_fields_v1(f.c(), b"k".as_ptr(), 1, sig.as_mut_ptr(), sig.len(), &mut err)
                    };
                    assert_eq!(take_err(st, &mut err), first, "tc{tc}: fields and JSON paths disagree");
                    assert_eq!(
                        sign_hmac_json(input.as_bytes(), "k", FRACTAL_SIG_V1).unwrap_err(),
                        first,
                        "tc{tc}: sign json"
                    );
                    first
                }
                "sign_v2" => {
                    // Parses, but the v2 payload cannot be made: every v2 path says why.
                    ok(
                        unsafe { fractal_parse_json(input.as_ptr(), input.len(), &mut out, &mut err) },
                        &mut err,
                        "parse",
                    );
                    take_bytes(&mut out);
                    let first = canonical_json(input.as_bytes(), FRACTAL_SIG_V2).unwrap_err();
                    assert_eq!(digest_json(input.as_bytes(), FRACTAL_SIG_V2).unwrap_err(), first, "tc{tc}: digest");
                    assert_eq!(
                        sign_hmac_json(input.as_bytes(), "k", FRACTAL_SIG_V2).unwrap_err(),
                        first,
                        "tc{tc}: hmac"
                    );
                    first
                }
                "verify_signature" => {
                    let policy = t.get("policy").filter(|p| !p.is_null()).map(|p| p.to_string());
                    let v = verifier_with(s(g, "hmac_key"), s(g, "ed25519_public"), policy.as_deref()).unwrap();
                    let r = take_err(
                        unsafe { fractal_verifier_verify_json(v, input.as_ptr(), input.len(), &mut err) },
                        &mut err,
                    );
                    unsafe { fractal_verifier_free(v) };
                    r
                }
                "key" => match s(t, "key_type") {
                    "seed" => {
                        let mut key: *mut FractalEd25519Key = ptr::null_mut();
                        let st =
                            unsafe { fractal_ed25519_key_from_seed(input.as_ptr(), input.len(), &mut key, &mut err) };
                        assert!(key.is_null());
                        take_err(st, &mut err)
                    }
                    "public" => {
                        let b = fractal_verifier_builder_new();
                        let st = unsafe {
                            fractal_verifier_builder_add_ed25519_public_key(b, input.as_ptr(), input.len(), &mut err)
                        };
                        unsafe { fractal_verifier_builder_free(b) };
                        take_err(st, &mut err)
                    }
                    other => panic!("unknown key_type {other}"),
                },
                other => panic!("unknown stage {other}"),
            };
            assert_eq!(got, want, "tc{tc} {}", s(t, "comment"));
        }
    }
    assert_eq!(n, file["numberOfTests"].as_u64().unwrap());
}

/// golden/canonical_v2.json: the v2 payload (SPEC §3.2) of the exact wire text,
/// signed and verified under the default policy; any change to a signed field
/// (an unknown one, an omitted optional one added) breaks the signature, a
/// change to a delivery field does not.
fn canonical_v2_cases() {
    let file = load("canonical_v2.json");
    let mut n = 0;
    for g in groups(&file) {
        let (hmac_key, seed, public) = (s(g, "hmac_key"), s(g, "ed25519_seed"), s(g, "ed25519_public"));
        let key = ed25519_key(seed);
        let v = verifier(hmac_key, public);
        let v1_only = verifier_with(hmac_key, public, Some(V1_ONLY)).unwrap();
        for t in g["tests"].as_array().unwrap() {
            n += 1;
            let tc = t["tcId"].as_u64().unwrap();
            let exp = &t["expected"];
            let text = s(t, "record_text").as_bytes();
            let want = s(exp, "canonical").as_bytes();
            assert_eq!(canonical_json(text, FRACTAL_SIG_V2).unwrap(), want, "tc{tc} canonical");
            // The record as the library writes it back signs the same.
            let mut out = FractalBytes { ptr: ptr::null_mut(), len: 0 };
            let mut err = new_err();
            ok(unsafe { fractal_parse_json(text.as_ptr(), text.len(), &mut out, &mut err) }, &mut err, "parse");
            let reparsed = take_bytes(&mut out);
            assert_eq!(canonical_json(&reparsed, FRACTAL_SIG_V2).unwrap(), want, "tc{tc} canonical after parse_json");
            let object = serde_json::to_vec(&t["record"]).unwrap();
            assert_eq!(canonical_json(&object, FRACTAL_SIG_V2).unwrap(), want, "tc{tc} canonical of `record`");
            assert_eq!(digest_json(text, FRACTAL_SIG_V2).unwrap(), s(exp, "digest_hex"), "tc{tc} digest");
            assert_eq!(sign_hmac_json(text, hmac_key, FRACTAL_SIG_V2).unwrap(), s(exp, "sig_hmac"), "tc{tc} hmac");
            assert_eq!(sign_ed25519_json(key, text, FRACTAL_SIG_V2).unwrap(), s(exp, "sig_ed25519"), "tc{tc} ed25519");

            let record: Value = serde_json::from_slice(text).unwrap();
            for sig in [s(exp, "sig_hmac"), s(exp, "sig_ed25519")] {
                assert!(sig.starts_with("v2:"), "tc{tc}: a v2 sig carries its prefix");
                verify_json(v, &with_sig(&record, sig)).unwrap_or_else(|e| panic!("tc{tc} verify: {e:?}"));
                let unsupported = (FractalStatus::UnsupportedSignatureVersion, Some("sig".into()));
                assert_eq!(verify_json(v1_only, &with_sig(&record, sig)), Err(unsupported), "tc{tc} v1-only");
                // The fields path cannot check a v2 signature, and says so.
                let f = Fields::of(text);
                let st = unsafe { fractal_verifier_verify_fields_v1(v, f.c(), sig.as_ptr(), sig.len(), &mut err) };
                assert_eq!(
                    take_err(st, &mut err),
                    (FractalStatus::InvalidArgument, Some("sig".into())),
                    "tc{tc} fields"
                );
                for (what, changed) in tamper_v2(&record) {
                    assert_eq!(verify_json(v, &with_sig(&changed, sig)), Err(bad_sig()), "tc{tc}: after {what}");
                }
                for (what, changed) in delivery_changes(&record) {
                    verify_json(v, &with_sig(&changed, sig)).unwrap_or_else(|e| panic!("tc{tc}: after {what}: {e:?}"));
                }
                // A stripped prefix makes it a v1 signature, which does not verify
                // (or whose v1 payload cannot even be made: D_hat beyond round9).
                let v_any = verifier_with(hmac_key, public, Some(r#"{"versions":["v1","v2"]}"#)).unwrap();
                let got = verify_json(v_any, &with_sig(&record, &sig[3..])).unwrap_err();
                assert!(
                    matches!(got.0, FractalStatus::SignatureInvalid | FractalStatus::InvalidField),
                    "tc{tc}: prefix stripped: {got:?}"
                );
                unsafe { fractal_verifier_free(v_any) };
            }
        }
        unsafe {
            fractal_ed25519_key_free(key);
            fractal_verifier_free(v);
            fractal_verifier_free(v1_only);
        }
    }
    assert_eq!(n, file["numberOfTests"].as_u64().unwrap());
}

/// Copies of `record` with one signed field changed (each still parses).
fn tamper_v2(record: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut change = |what: &str, f: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut r = record.clone();
        f(r.as_object_mut().unwrap());
        out.push((what.to_string(), r));
    };
    let obj = record.as_object().unwrap();
    for k in ["pcs_id", "schema", "version"] {
        change(k, &|r| r[k] = Value::String(format!("{}0", r[k].as_str().unwrap())));
    }
    for k in ["merkle_root", "shard_id"] {
        change(k, &|r| {
            let mut id = r[k].as_str().unwrap().to_string();
            change_id(&mut id);
            r[k] = Value::String(id);
        });
    }
    change("epoch", &|r| {
        let e = r["epoch"].as_u64().unwrap();
        r["epoch"] = Value::from(if e == fractal_core::MAX_EPOCH { e - 1 } else { e + 1 });
    });
    for k in ["D_hat", "coh_star", "r", "budget"] {
        // v2 signs numbers as sent: the smallest change counts.
        change(k, &|r| r[k] = Value::from(next_toward_0(r[k].as_f64().unwrap())));
    }
    match obj.get("regime").and_then(Value::as_str) {
        Some(reg) => change("regime", &|r| r["regime"] = Value::from(if reg == "sticky" { "mixed" } else { "sticky" })),
        None => change("regime added", &|r| drop(r.insert("regime".into(), Value::from("")))),
    }
    match obj.get("seed") {
        Some(seed) => {
            let s = seed.as_i64().unwrap();
            change("seed", &|r| r["seed"] = Value::from(if s > 0 { s - 1 } else { s + 1 }));
        }
        None => change("seed added", &|r| drop(r.insert("seed".into(), Value::from(0)))),
    }
    let scales: Vec<i64> = obj.get("scales").map(|v| serde_json::from_value(v.clone()).unwrap()).unwrap_or_default();
    if obj.contains_key("scales") && scales.len() < fractal_core::MAX_ENTRIES {
        let next = (1..).find(|s| !scales.contains(s)).unwrap(); // a new small scale
        change("scales", &|r| r["scales"].as_array_mut().unwrap().push(Value::from(next)));
    } else if !obj.contains_key("scales") {
        change("scales added", &|r| drop(r.insert("scales".into(), Value::Array(Vec::new()))));
    }
    match obj.get("N_j").and_then(Value::as_object) {
        Some(nj) if !nj.is_empty() => {
            let k = nj.keys().next().unwrap().clone();
            change("N_j", &|r| {
                let c = r["N_j"][&k].as_i64().unwrap();
                r["N_j"][&k] = Value::from(if c > 1 { c - 1 } else { c + 1 });
            });
        }
        Some(_) => {}
        None => change("N_j added", &|r| drop(r.insert("N_j".into(), Value::Object(Default::default())))),
    }
    match obj.get("v_star").and_then(Value::as_array) {
        Some(vs) if vs.len() < fractal_core::MAX_ENTRIES => {
            change("v_star", &|r| r["v_star"].as_array_mut().unwrap().push(Value::from(0.5)))
        }
        Some(_) => {}
        None => change("v_star added", &|r| drop(r.insert("v_star".into(), Value::Array(Vec::new())))),
    }
    for k in obj.keys().filter(|k| !fractal_core::KNOWN_FIELDS.contains(&k.as_str())) {
        change(&format!("unknown field {k} removed"), &|r| drop(r.remove(k)));
        change(&format!("unknown field {k} changed"), &|r| r[k] = Value::from("tampered"));
    }
    change("unknown field added", &|r| drop(r.insert("zz_added".into(), Value::from(1))));
    // A present optional field left out (scales only where no N_j key needs it).
    let nj_empty = obj.get("N_j").and_then(Value::as_object).is_none_or(|m| m.is_empty());
    for k in ["seed", "N_j", "v_star", "regime", "scales"] {
        if obj.contains_key(k) && (k != "scales" || nj_empty) {
            change(&format!("{k} removed"), &|r| drop(r.remove(k)));
        }
    }
    out
}

/// Copies of `record` with a delivery field changed: v2 does not sign them.
fn delivery_changes(record: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (k, v) in [
        ("attempt", Value::from(7)),
        ("sent_at", Value::from("2030-01-01T00:00:00Z")),
        ("ft", serde_json::json!({"outbox_seq": 3, "degraded": true})),
    ] {
        let mut r = record.clone();
        r[k] = v;
        out.push((k.to_string(), r));
    }
    out
}

/// The neighbouring binary64 of `x` toward zero (away from it for 0): always
/// finite.
fn next_toward_0(x: f64) -> f64 {
    if x == 0.0 { f64::from_bits(1) } else { f64::from_bits(x.to_bits() - 1) }
}

/// golden/legacy.json: the seed's v1 encodings (SPEC §4.1) are accepted only
/// where the policy lists them, through the JSON and the fields paths.
fn legacy_cases() {
    let file = load("legacy.json");
    let mut n = 0;
    for g in groups(&file) {
        let (hmac_key, public) = (s(g, "hmac_key"), s(g, "ed25519_public"));
        let plain = verifier_with(hmac_key, public, Some(V1_ONLY)).unwrap();
        let v2_only = verifier(hmac_key, public);
        for t in g["tests"].as_array().unwrap() {
            n += 1;
            let tc = t["tcId"].as_u64().unwrap();
            let enc = s(t, "encoding");
            let policy = serde_json::json!({"versions": ["v1"], "encodings": [enc]}).to_string();
            let v = verifier_with(hmac_key, public, Some(&policy)).unwrap();
            let both = r#"{"versions":["v1","v2"],"encodings":["seed-python","seed-go"]}"#;
            let all = verifier_with(hmac_key, public, Some(both)).unwrap();
            let record = serde_json::to_vec(&t["record"]).unwrap();
            let f = Fields::of(&record);
            let mut err = new_err();
            for sig in [s(&t["expected"], "sig_hmac"), s(&t["expected"], "sig_ed25519")] {
                let signed = with_sig(&t["record"], sig);
                let valid = s(t, "result") != "invalid";
                for verifier in [v, all] {
                    let got = verify_json(verifier, &signed);
                    let st = unsafe {
                        fractal_verifier_verify_fields_v1(verifier, f.c(), sig.as_ptr(), sig.len(), &mut err)
                    };
                    let fields = take_err(st, &mut err);
                    if valid {
                        got.unwrap_or_else(|e| panic!("tc{tc} {enc}: {e:?}"));
                        assert_eq!(fields.0, FractalStatus::Ok, "tc{tc} {enc} (fields)");
                    } else {
                        assert_eq!(got, Err(bad_sig()), "tc{tc} {enc}");
                        assert_eq!(fields, bad_sig(), "tc{tc} {enc} (fields)");
                    }
                }
                // Without the encoding in the policy the same bytes are refused,
                // and the default policy refuses v1 altogether.
                assert_eq!(verify_json(plain, &signed), Err(bad_sig()), "tc{tc} {enc}: not listed");
                let unsupported = (FractalStatus::UnsupportedSignatureVersion, Some("sig".into()));
                assert_eq!(verify_json(v2_only, &signed), Err(unsupported), "tc{tc} {enc}: default policy");
                let st = unsafe { fractal_verifier_verify_fields_v1(plain, f.c(), sig.as_ptr(), sig.len(), &mut err) };
                assert_eq!(take_err(st, &mut err), bad_sig(), "tc{tc} {enc}: not listed (fields)");
            }
            unsafe {
                fractal_verifier_free(v);
                fractal_verifier_free(all);
            }
        }
        unsafe {
            fractal_verifier_free(plain);
            fractal_verifier_free(v2_only);
        }
    }
    assert_eq!(n, file["numberOfTests"].as_u64().unwrap());
}

fn read_authorization_hmac(key: &str, tenant: &str, pcs_id: &str, t: u64) -> String {
    let mut out = FractalBytes { ptr: ptr::null_mut(), len: 0 };
    let mut err = new_err();
    ok(
        unsafe {
            fractal_sign_read_hmac(
                key.as_ptr(),
                key.len(),
                tenant.as_ptr(),
                tenant.len(),
                pcs_id.as_ptr(),
                pcs_id.len(),
                t,
                &mut out,
                &mut err,
            )
        },
        &mut err,
        "sign read",
    );
    String::from_utf8(take_bytes(&mut out)).unwrap()
}

fn verify_read(v: *const FractalVerifier, tenant: &str, pcs_id: &str, header: &str, now: u64) -> Result<(), Failed> {
    let mut err = new_err();
    let st = unsafe {
        fractal_verifier_verify_read(
            v,
            tenant.as_ptr(),
            tenant.len(),
            pcs_id.as_ptr(),
            pcs_id.len(),
            header.as_ptr(),
            header.len(),
            now,
            &mut err,
        )
    };
    if st == FractalStatus::Ok { Ok(()) } else { Err(take_err(st, &mut err)) }
}

/// golden/read.json: signed reads (SPEC §6.1): the digest, both algorithms'
/// header values, the client's GET carrying them, and the refusals.
fn read_cases() {
    let file = load("read.json");
    let mut n = 0;
    for g in groups(&file) {
        let (hmac_key, seed, public) = (s(g, "hmac_key"), s(g, "ed25519_seed"), s(g, "ed25519_public"));
        let key = ed25519_key(seed);
        let v = verifier(hmac_key, public);
        for t in g["tests"].as_array().unwrap() {
            n += 1;
            let tc = t["tcId"].as_u64().unwrap();
            let (tenant, pcs_id) = (s(t, "tenant"), s(t, "pcs_id"));
            if s(t, "result") == "invalid" {
                let want = (status_of(s(t, "error_kind")), Some("sig".to_string()));
                let got = verify_read(v, tenant, pcs_id, s(t, "header"), t["now"].as_u64().unwrap());
                assert_eq!(got, Err(want), "tc{tc} {}", s(t, "comment"));
                continue;
            }
            let at = t["t"].as_u64().unwrap();
            let exp = &t["expected"];
            let mut d = [0u8; FRACTAL_DIGEST_LEN];
            let mut err = new_err();
            ok(
                unsafe {
                    fractal_read_digest(
                        tenant.as_ptr(),
                        tenant.len(),
                        pcs_id.as_ptr(),
                        pcs_id.len(),
                        at,
                        d.as_mut_ptr(),
                        d.len(),
                        &mut err,
                    )
                },
                &mut err,
                "read digest",
            );
            assert_eq!(fractal_core::hex(&d), s(exp, "digest_hex"), "tc{tc} digest");
            let hmac = read_authorization_hmac(hmac_key, tenant, pcs_id, at);
            assert_eq!(hmac, s(exp, "authorization_hmac"), "tc{tc} hmac");
            let mut out = FractalBytes { ptr: ptr::null_mut(), len: 0 };
            ok(
                unsafe {
                    fractal_ed25519_key_sign_read(
                        key,
                        tenant.as_ptr(),
                        tenant.len(),
                        pcs_id.as_ptr(),
                        pcs_id.len(),
                        at,
                        &mut out,
                        &mut err,
                    )
                },
                &mut err,
                "ed25519 read",
            );
            let ed = String::from_utf8(take_bytes(&mut out)).unwrap();
            assert_eq!(ed, s(exp, "authorization_ed25519"), "tc{tc} ed25519");
            let now = t["now"].as_u64().unwrap();
            for header in [&hmac, &ed] {
                verify_read(v, tenant, pcs_id, header, now).unwrap_or_else(|e| panic!("tc{tc} at now: {e:?}"));
                verify_read(v, tenant, pcs_id, header, at).unwrap_or_else(|e| panic!("tc{tc}: {e:?}"));
                verify_read(v, tenant, pcs_id, header, at + 300).unwrap_or_else(|e| panic!("tc{tc} +300 s: {e:?}"));
                assert_eq!(verify_read(v, tenant, pcs_id, header, at + 301), Err(bad_sig()), "tc{tc} stale");
                assert_eq!(
                    verify_read(v, &format!("{tenant}x"), pcs_id, header, at),
                    Err(bad_sig()),
                    "tc{tc} other tenant"
                );
                assert_eq!(
                    verify_read(v, tenant, &format!("{pcs_id}0"), header, at),
                    Err(bad_sig()),
                    "tc{tc} other id"
                );
                assert_eq!(
                    verify_read(v, tenant, pcs_id, "", at),
                    Err((FractalStatus::SignatureMissing, Some("sig".into()))),
                    "tc{tc} missing"
                );
            }
            // The client's GET signs the read for its tenant at the given time.
            let ascii = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_graphic());
            let url_safe =
                |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if ascii(tenant) && url_safe(pcs_id) {
                let cfg =
                    serde_json::json!({"base_url": "http://h", "tenant": tenant, "sdk_name": "c", "sdk_version": "0"})
                        .to_string();
                for (alg, k, want) in
                    [(FRACTAL_ALGORITHM_HMAC, hmac_key, &hmac), (FRACTAL_ALGORITHM_ED25519, seed, &ed)]
                {
                    let c = client(&cfg, alg, k).unwrap();
                    let mut sub: *mut FractalSubmission = ptr::null_mut();
                    ok(
                        unsafe { fractal_client_get(c, pcs_id.as_ptr(), pcs_id.len(), at, 1, &mut sub, &mut err) },
                        &mut err,
                        "get",
                    );
                    assert_eq!(header(&request_of(sub).0, "authorization"), Some(want.as_str()), "tc{tc} client get");
                    unsafe {
                        fractal_submission_free(sub);
                        fractal_client_free(c);
                    }
                }
            }
        }
        unsafe {
            fractal_ed25519_key_free(key);
            fractal_verifier_free(v);
        }
    }
    assert_eq!(n, file["numberOfTests"].as_u64().unwrap());
}

fn every_golden_file_is_walked() {
    let mut names: Vec<String> = std::fs::read_dir(golden_dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert_eq!(names, GOLDEN_FILES, "a golden file without a runner here, or one missing");
}

const GOLDEN_FILES: [&str; 7] =
    ["canonical.json", "canonical_v2.json", "legacy.json", "read.json", "reject.json", "ring.json", "verify.json"];

fn null_arguments_are_errors_not_crashes() {
    let mut err = new_err();
    let mut out = FractalBytes { ptr: ptr::null_mut(), len: 0 };
    let st = unsafe { fractal_parse_json(ptr::null(), 5, &mut out, &mut err) };
    assert_eq!(take_err(st, &mut err), (FractalStatus::InvalidArgument, Some("json".into())));
    let st = unsafe { fractal_parse_json(b"{}".as_ptr(), 2, ptr::null_mut(), &mut err) };
    assert_eq!(take_err(st, &mut err), (FractalStatus::InvalidArgument, Some("out".into())));
    let st = unsafe { fractal_ring_pick(ptr::null(), ptr::null(), 0, &mut out, &mut err) };
    assert_eq!(take_err(st, &mut err), (FractalStatus::InvalidArgument, Some("ring".into())));
    let st = unsafe { fractal_verifier_verify_json(ptr::null(), ptr::null(), 0, ptr::null_mut()) };
    assert_eq!(st, FractalStatus::InvalidArgument, "a NULL err is allowed");
    let mut small = [0u8; 10];
    let b = fractal_verifier_builder_new();
    let st = unsafe { fractal_verifier_builder_add_hmac_key(b, ptr::null(), 0, &mut err) };
    assert_eq!(take_err(st, &mut err).0, FractalStatus::InvalidKey);
    unsafe { fractal_verifier_builder_free(b) };
    let mut key: *mut FractalEd25519Key = ptr::null_mut();
    ok(unsafe { fractal_ed25519_key_generate(&mut key, &mut err) }, &mut err, "generate");
    let st = unsafe { fractal_ed25519_key_seed(key, small.as_mut_ptr(), small.len(), &mut err) };
    assert_eq!(take_err(st, &mut err), (FractalStatus::InvalidArgument, Some("out".into())));
    unsafe {
        fractal_ed25519_key_free(key);
        fractal_ed25519_key_free(ptr::null_mut());
        fractal_ring_free(ptr::null_mut());
        fractal_verifier_free(ptr::null());
        fractal_bytes_free(ptr::null_mut());
        fractal_error_free(ptr::null_mut());
    }
    // Versions, policies and the new out-parameters.
    let rec = br#"{"pcs_id":"p"}"#;
    let st = unsafe { fractal_canonical_json(rec.as_ptr(), rec.len(), 3, &mut out, &mut err) };
    assert_eq!(take_err(st, &mut err), (FractalStatus::InvalidArgument, Some("version".into())));
    let mut sig = [0u8; FRACTAL_SIG_MAX_LEN];
    let st = unsafe {
        fractal_sign_hmac_json(
            rec.as_ptr(),
            rec.len(),
            b"k".as_ptr(),
            1,
            FRACTAL_SIG_V2,
            sig.as_mut_ptr(),
            sig.len(),
            ptr::null_mut(),
            &mut err,
        )
    };
    assert_eq!(take_err(st, &mut err), (FractalStatus::InvalidArgument, Some("out_len".into())));
    for (policy, field) in [
        ("{", "policy_json"),
        ("[]", "policy_json"),
        (r#"{"versions":["v1"],"colour":1}"#, "policy_json"),
        (r#"{"encodings":["seed-go"]}"#, "signature_versions"),
        (r#"{"versions":[]}"#, "signature_versions"),
        (r#"{"versions":["v3"]}"#, "signature_versions"),
        (r#"{"versions":"v1"}"#, "signature_versions"),
        (r#"{"versions":["v1"],"encodings":["seed-rust"]}"#, "accept_encodings"),
    ] {
        assert_eq!(
            verifier_with("k", "", Some(policy)).unwrap_err(),
            (FractalStatus::InvalidArgument, Some(field.into())),
            "{policy}"
        );
    }
    let st = unsafe { fractal_verifier_builder_set_policy(ptr::null_mut(), b"{}".as_ptr(), 2, &mut err) };
    assert_eq!(take_err(st, &mut err), (FractalStatus::InvalidArgument, Some("builder".into())));
    let st = unsafe {
        fractal_verifier_verify_read(ptr::null(), ptr::null(), 0, ptr::null(), 0, ptr::null(), 0, 0, &mut err)
    };
    assert_eq!(take_err(st, &mut err), (FractalStatus::InvalidArgument, Some("verifier".into())));
    let st = unsafe { fractal_sign_read_hmac(ptr::null(), 0, ptr::null(), 0, ptr::null(), 0, 0, &mut out, &mut err) };
    assert_eq!(take_err(st, &mut err).0, FractalStatus::InvalidKey, "an empty HMAC key");
    // An unknown `vN:` prefix is refused as unsupported, whatever the policy.
    let v = verifier_with("k", "", Some(r#"{"versions":["v1","v2"]}"#)).unwrap();
    let unknown = serde_json::json!({"pcs_id":"p","schema":"s","version":"0.1","shard_id":"s","epoch":1,"coh_star":0.5,
        "D_hat":1.0,"r":0.5,"budget":0.5,"merkle_root":"m","sig":"v3:AAAA"});
    assert_eq!(verify_json(v, &unknown), Err((FractalStatus::UnsupportedSignatureVersion, Some("sig".into()))));
    unsafe { fractal_verifier_free(v) };
    // An error struct reused without freeing in between does not leak.
    let st = unsafe { fractal_parse_json(b"[".as_ptr(), 1, &mut out, &mut err) };
    assert_ne!(st, FractalStatus::Ok);
    let st = unsafe { fractal_parse_json(b"{".as_ptr(), 1, &mut out, &mut err) };
    assert_ne!(take_err(st, &mut err).0, FractalStatus::Ok);
}

// ---------------------------------------------------------------------------
// The client protocol through the ABI.

fn new_step() -> FractalStep {
    FractalStep {
        kind: FractalStepKind::Retry,
        delay_ms: 0,
        retries: 0,
        json: FractalBytes { ptr: ptr::null_mut(), len: 0 },
    }
}

/// A client from a config JSON and a key; the status and field on failure.
fn client(config: &str, alg: u32, key: &str) -> Result<*mut FractalClient, (FractalStatus, Option<String>)> {
    let mut c: *mut FractalClient = ptr::null_mut();
    let mut err = new_err();
    let st =
        unsafe { fractal_client_new(config.as_ptr(), config.len(), alg, key.as_ptr(), key.len(), &mut c, &mut err) };
    if st == FractalStatus::Ok {
        assert!(!c.is_null());
        Ok(c)
    } else {
        assert!(c.is_null());
        Err(take_err(st, &mut err))
    }
}

fn submission(
    c: *const FractalClient,
    record: &[u8],
    seed: u64,
) -> Result<*mut FractalSubmission, (FractalStatus, Option<String>)> {
    let mut sub: *mut FractalSubmission = ptr::null_mut();
    let mut err = new_err();
    let st = unsafe { fractal_client_submit(c, record.as_ptr(), record.len(), seed, &mut sub, &mut err) };
    if st == FractalStatus::Ok { Ok(sub) } else { Err(take_err(st, &mut err)) }
}

/// The request head (JSON) and body of a submission.
fn request_of(sub: *const FractalSubmission) -> (Value, Vec<u8>) {
    let mut head = FractalBytes { ptr: ptr::null_mut(), len: 0 };
    let mut body = FractalBytes { ptr: ptr::null_mut(), len: 0 };
    let mut err = new_err();
    ok(unsafe { fractal_submission_request(sub, &mut head, &mut body, &mut err) }, &mut err, "request");
    (serde_json::from_slice(&take_bytes(&mut head)).unwrap(), take_bytes(&mut body))
}

fn header<'a>(head: &'a Value, name: &str) -> Option<&'a str> {
    head["headers"].as_array().unwrap().iter().find(|h| h[0].as_str().unwrap().eq_ignore_ascii_case(name))?[1].as_str()
}

/// Feeds an answer; returns (kind, delay_ms, retries, json) and frees the step.
fn answer(
    sub: *mut FractalSubmission,
    status: u16,
    headers: &str,
    body: &str,
) -> (FractalStepKind, u64, u32, Option<Value>) {
    let mut step = new_step();
    let mut err = new_err();
    let st = unsafe {
        fractal_submission_on_response(
            sub,
            status,
            headers.as_ptr(),
            headers.len(),
            body.as_ptr(),
            body.len(),
            &mut step,
            &mut err,
        )
    };
    ok(st, &mut err, "on_response");
    take_step(&mut step)
}

fn fail_transport(
    sub: *mut FractalSubmission,
    reason: &str,
    timeout: bool,
) -> (FractalStepKind, u64, u32, Option<Value>) {
    let mut step = new_step();
    let mut err = new_err();
    let st = unsafe {
        fractal_submission_on_transport_error(sub, reason.as_ptr(), reason.len(), timeout, &mut step, &mut err)
    };
    ok(st, &mut err, "on_transport_error");
    take_step(&mut step)
}

fn take_step(step: &mut FractalStep) -> (FractalStepKind, u64, u32, Option<Value>) {
    let json = take_bytes(&mut step.json);
    let v = if json.is_empty() { None } else { Some(serde_json::from_slice(&json).unwrap()) };
    unsafe { fractal_step_free(step) };
    (step.kind, step.delay_ms, step.retries, v)
}

/// The delays of a backoff schedule from golden/client/protocol.json (policy with
/// `max_retries` 3, the given seed, base and cap).
fn expected_delays(seed: u64, base: u64, cap: u64) -> Vec<u64> {
    let file = load("client/protocol.json");
    let g = groups(&file).iter().find(|g| g["type"] == "backoff").unwrap();
    let t = g["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| {
            let p = &t["policy"];
            t["seed"] == seed.to_string()
                && (p["max_retries"].as_u64(), p["base_delay_ms"].as_u64(), p["max_delay_ms"].as_u64())
                    == (Some(3), Some(base), Some(cap))
        })
        .unwrap_or_else(|| panic!("client/protocol.json has no backoff case for seed {seed}, {base}/{cap} ms"));
    t["calls"].as_array().unwrap().iter().map_while(|c| c["delay_ms"].as_u64()).collect()
}

/// A u64 as protocol.json writes it: a number, or a decimal string past 2^53 − 1.
fn u64_of(v: &Value) -> Option<u64> {
    v.as_str().map_or_else(|| v.as_u64(), |s| s.parse().ok())
}

/// Every `call` case of golden/client/protocol.json through the ABI's submission:
/// the step after each answer or transport failure, and how the call ends.
fn protocol_calls() {
    let file = load("client/protocol.json");
    let mut n = 0;
    for g in groups(&file).iter().filter(|g| g["type"] == "call") {
        for t in g["tests"].as_array().unwrap() {
            let at = format!("client/protocol.json #{} ({})", t["tcId"], s(t, "comment"));
            let cfg = serde_json::json!({"base_url": "http://127.0.0.1:9", "sdk_name": "c", "sdk_version": "0",
                                          "retry": t["policy"]});
            let c = client(&cfg.to_string(), FRACTAL_ALGORITHM_NONE, "").unwrap();
            let mut sub: *mut FractalSubmission = ptr::null_mut();
            let mut err = new_err();
            let seed = u64_of(&t["seed"]).unwrap();
            ok(unsafe { fractal_client_health(c, seed, &mut sub, &mut err) }, &mut err, "health");
            for (ev, want) in t["events"].as_array().unwrap().iter().zip(t["steps"].as_array().unwrap()) {
                let (kind, delay, _, json) = match ev.get("transport") {
                    Some(r) => fail_transport(sub, r.as_str().unwrap(), ev["timeout"].as_bool().unwrap()),
                    None => answer(sub, ev["status"].as_u64().unwrap() as u16, &ev["headers"].to_string(), s(ev, "body")),
                };
                if let Some(ms) = want.get("retry_ms") {
                    assert_eq!((kind, Some(delay)), (FractalStepKind::Retry, u64_of(ms)), "{at}");
                } else if let Some(w) = want["done"].get("ok") {
                    let r = json.unwrap();
                    assert_eq!(kind, FractalStepKind::Success, "{at}");
                    assert_eq!((&r["status"], &r["dedup_hit"], &r["result"]["accepted"]), (&w["status"], &w["dedup_hit"], &w["accepted"]), "{at}");
                } else {
                    let (w, e) = (&want["done"]["error"], json.unwrap());
                    assert_eq!(kind, FractalStepKind::Failure, "{at}");
                    for f in ["kind", "status", "code", "message", "retryable", "not_found"] {
                        assert_eq!(e[f], w[f], "{at}: {f}");
                    }
                    assert_eq!(u64_of(&e["retry_after_ms"]), u64_of(&w["retry_after_ms"]), "{at}: retry_after_ms");
                }
            }
            unsafe {
                fractal_submission_free(sub);
                fractal_client_free(c);
            }
            n += 1;
        }
    }
    assert!(n > 0, "client/protocol.json has call cases");
}

fn client_protocol() {
    let file = load("canonical.json");
    let g = &groups(&file)[0];
    let t = &g["tests"][0];
    let (hmac_key, seed, public) = (s(g, "hmac_key"), s(g, "ed25519_seed"), s(g, "ed25519_public"));
    let record = serde_json::to_vec(&t["record"]).unwrap();
    let cfg = r#"{"base_url":"http://127.0.0.1:9/","tenant":"acme","sdk_name":"c","sdk_version":"1.2.3",
                  "retry":{"max_retries":3,"base_delay_ms":100,"max_delay_ms":400}}"#;
    let v = verifier(hmac_key, public);
    let mut err = new_err();

    // Signed with each algorithm and version: v2 by default, v1 on request
    // (then the body carries canonical.json's signature).
    let v1 = verifier_with(hmac_key, public, Some(V1_ONLY)).unwrap();
    let ed = ed25519_key(seed);
    let v2_hmac = sign_hmac_json(&record, hmac_key, FRACTAL_SIG_V2).unwrap();
    let v2_ed = sign_ed25519_json(ed, &record, FRACTAL_SIG_V2).unwrap();
    unsafe { fractal_ed25519_key_free(ed) };
    let with_version =
        |version: &str| format!("{},\"signature_version\":{version}}}", cfg.trim_end().strip_suffix('}').unwrap());
    for (alg, key, version, want, verifier) in [
        (FRACTAL_ALGORITHM_HMAC, hmac_key, None, v2_hmac.as_str(), v),
        (FRACTAL_ALGORITHM_ED25519, seed, Some("\"v2\""), v2_ed.as_str(), v),
        (FRACTAL_ALGORITHM_HMAC, hmac_key, Some("\"v1\""), s(&t["expected"], "sig_hmac"), v1),
        (FRACTAL_ALGORITHM_ED25519, seed, Some("1"), s(&t["expected"], "sig_ed25519"), v1),
    ] {
        let c = client(&version.map_or_else(|| cfg.to_string(), with_version), alg, key).unwrap();
        let sub = submission(c, &record, 1).unwrap();
        unsafe { fractal_client_free(c) }; // the submission outlives its client
        let (head, body) = request_of(sub);
        assert_eq!(head["method"], "POST");
        assert_eq!(head["url"], "http://127.0.0.1:9/v1/pcs/submit");
        assert_eq!(head["path"], "/v1/pcs/submit");
        assert_eq!(header(&head, "content-type"), Some("application/json"));
        assert_eq!(header(&head, "x-tenant-id"), Some("acme"));
        assert!(header(&head, "user-agent").unwrap().starts_with("fractal-lba-c/1.2.3 (core "), "{head}");
        let sent: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(sent["sig"], want, "{version:?}");
        ok(
            unsafe { fractal_verifier_verify_json(verifier, body.as_ptr(), body.len(), &mut err) },
            &mut err,
            "verify sent",
        );
        unsafe { fractal_submission_free(sub) };
    }
    unsafe { fractal_verifier_free(v1) };

    // Without a key the record goes as given (here: unsigned), no tenant header.
    let plain =
        client(r#"{"base_url":"https://example.test","sdk_name":"c","sdk_version":"0"}"#, FRACTAL_ALGORITHM_NONE, "")
            .unwrap();
    let sub = submission(plain, &record, 1).unwrap();
    let (head, body) = request_of(sub);
    assert_eq!(header(&head, "x-tenant-id"), None);
    assert!(serde_json::from_slice::<Value>(&body).unwrap().get("sig").is_none());
    unsafe { fractal_submission_free(sub) };

    // Retry-After honoured on 503 and 429, jittered backoff on a transport
    // error, then the last error once retries are used up.
    let c = client(cfg, FRACTAL_ALGORITHM_HMAC, hmac_key).unwrap();
    let sub = submission(c, &record, 42).unwrap();
    let jitter = expected_delays(42, 100, 400);
    assert_eq!(answer(sub, 503, r#"[["Retry-After","2"]]"#, "").0, FractalStepKind::Retry);
    assert_eq!(answer(sub, 429, r#"[["retry-after","1"]]"#, "").1, 1000);
    assert_eq!(fail_transport(sub, "connection reset", false), (FractalStepKind::Retry, jitter[2], 3, None));
    let rate = r#"{"error":{"code":"rate_limited","message":"slow down"}}"#;
    let (kind, _, retries, json) = answer(sub, 429, r#"[["Retry-After","1"]]"#, rate);
    assert_eq!((kind, retries), (FractalStepKind::Failure, 3));
    let e = json.unwrap();
    assert_eq!(
        (e["kind"].as_str(), e["status"].as_u64(), e["retry_after_ms"].as_u64()),
        (Some("rate_limited"), Some(429), Some(1000))
    );
    assert_eq!((e["message"].as_str(), e["retryable"].as_bool()), (Some("slow down"), Some(true)));
    unsafe { fractal_submission_free(sub) };

    // The first delay of a fresh call: 503 without Retry-After.
    let sub = submission(c, &record, 42).unwrap();
    assert_eq!(answer(sub, 503, "[]", ""), (FractalStepKind::Retry, jitter[0], 1, None));
    let ok_body = r#"{"accepted":true,"escalated":false,"recomputed_D_hat":1.41,"recomputed_budget":0.42}"#;
    let (kind, _, _, json) = answer(sub, 200, r#"[["X-Dedup","hit"],["Content-Type","application/json"]]"#, ok_body);
    assert_eq!(kind, FractalStepKind::Success);
    let r = json.unwrap();
    assert_eq!((r["status"].as_u64(), r["dedup_hit"].as_bool()), (Some(200), Some(true)));
    assert_eq!(r["result"], serde_json::from_str::<Value>(ok_body).unwrap());
    unsafe { fractal_submission_free(sub) };

    // 400 and 401 end the call at once; so do 403 and a 404 on a lookup.
    for (status, body, kind, code) in [
        (400, r#"{"error":{"code":"invalid_field","message":"invalid field `r`"}}"#, "invalid", "invalid_field"),
        (401, r#"{"error":{"code":"signature_invalid","message":"no key"}}"#, "signature", "signature_invalid"),
        (403, r#"{"error":{"code":"unknown_tenant","message":"who?"}}"#, "api", "unknown_tenant"),
        (502, "<html>bad gateway</html>", "api", "http_502"),
    ] {
        let sub = submission(c, &record, 1).unwrap();
        let (k, _, retries, json) = answer(sub, status, "", body);
        if status == 502 {
            // 5xx is retried; it fails only once the retries are used up.
            assert_eq!((k, retries), (FractalStepKind::Retry, 1));
            for _ in 0..2 {
                assert_eq!(answer(sub, status, "", body).0, FractalStepKind::Retry);
            }
            let (k, _, retries, json) = answer(sub, status, "", body);
            let e = json.unwrap();
            assert_eq!((k, retries), (FractalStepKind::Failure, 3));
            assert_eq!(
                (e["kind"].as_str(), e["code"].as_str(), e["body"].as_str()),
                (Some(kind), Some(code), Some(body))
            );
        } else {
            let e = json.unwrap();
            assert_eq!((k, retries), (FractalStepKind::Failure, 0), "{status}");
            assert_eq!(
                (e["kind"].as_str(), e["status"].as_u64(), e["code"].as_str()),
                (Some(kind), Some(status as u64), Some(code))
            );
        }
        unsafe { fractal_submission_free(sub) };
    }

    // A timeout with no retry left is a `timeout` failure.
    let once = client(
        r#"{"base_url":"http://127.0.0.1:9","sdk_name":"c","sdk_version":"0","retry":{"max_retries":0}}"#,
        0,
        "",
    )
    .unwrap();
    let sub = submission(once, &record, 1).unwrap();
    let (kind, _, _, json) = fail_transport(sub, "attempt timed out", true);
    let e = json.unwrap();
    assert_eq!(
        (kind, e["kind"].as_str(), e["message"].as_str()),
        (FractalStepKind::Failure, Some("timeout"), Some("attempt timed out"))
    );
    assert!(e["status"].is_null());
    // A filled step passed again is freed first (valgrind sees no leak).
    let mut step = new_step();
    for _ in 0..2 {
        ok(
            unsafe { fractal_submission_on_response(sub, 503, ptr::null(), 0, ptr::null(), 0, &mut step, &mut err) },
            &mut err,
            "reuse",
        );
    }
    assert_eq!(step.kind, FractalStepKind::Failure);
    unsafe { fractal_step_free(&mut step) };
    assert!(step.json.ptr.is_null());
    unsafe { fractal_submission_free(sub) };

    // Lookups and health. A client with a key signs its reads (SPEC §6.1) for
    // its tenant at the time given.
    let id = s(&t["expected"], "pcs_id");
    let mut sub: *mut FractalSubmission = ptr::null_mut();
    let at = 1_700_000_000;
    ok(unsafe { fractal_client_get(c, id.as_ptr(), id.len(), at, 1, &mut sub, &mut err) }, &mut err, "get");
    let (head, body) = request_of(sub);
    assert_eq!((head["method"].as_str(), head["path"].as_str()), (Some("GET"), Some(&*format!("/v1/pcs/{id}"))));
    assert!(body.is_empty() && header(&head, "content-type").is_none());
    let auth = header(&head, "authorization").expect("a signed read").to_string();
    assert_eq!(auth, read_authorization_hmac(hmac_key, "acme", id, at));
    verify_read(v, "acme", id, &auth, at).unwrap();
    assert_eq!(verify_read(v, "default", id, &auth, at), Err(bad_sig()), "signed for its tenant");
    let (kind, _, _, json) = answer(sub, 404, "", r#"{"error":{"code":"not_found","message":"no such record"}}"#);
    assert_eq!((kind, json.unwrap()["status"].as_u64()), (FractalStepKind::Failure, Some(404)));
    unsafe { fractal_submission_free(sub) };
    ok(
        unsafe { fractal_client_get(plain, id.as_ptr(), id.len(), at, 1, &mut sub, &mut err) },
        &mut err,
        "get unsigned",
    );
    assert_eq!(header(&request_of(sub).0, "authorization"), None, "a client without a key sends no Authorization");
    unsafe { fractal_submission_free(sub) };
    ok(unsafe { fractal_client_health(c, 1, &mut sub, &mut err) }, &mut err, "health");
    assert_eq!(request_of(sub).0["url"], "http://127.0.0.1:9/health");
    unsafe { fractal_submission_free(sub) };

    // Refusals, each naming what is wrong; nothing to free.
    let mut bad = t["record"].clone();
    bad["r"] = serde_json::json!(1.5);
    let bad = serde_json::to_vec(&bad).unwrap();
    assert_eq!(submission(c, &bad, 1).unwrap_err(), (FractalStatus::Validation, Some("r".into())));
    assert_eq!(submission(c, b"{\"pcs_id\":7}", 1).unwrap_err(), (FractalStatus::InvalidField, Some("pcs_id".into())));
    assert_eq!(
        submission(ptr::null(), &record, 1).unwrap_err(),
        (FractalStatus::InvalidArgument, Some("client".into()))
    );
    let st = unsafe { fractal_client_get(c, b"../x".as_ptr(), 4, at, 1, &mut sub, &mut err) };
    assert_eq!(take_err(st, &mut err), (FractalStatus::InvalidArgument, Some("pcs_id".into())));
    let base = r#"{"base_url":"http://host","sdk_name":"c","sdk_version":"0""#;
    for (config, alg, key, want) in [
        (format!("{base},\"colour\":1}}"), 0, "", (FractalStatus::InvalidArgument, Some("config_json".into()))),
        ("[1]".to_string(), 0, "", (FractalStatus::InvalidArgument, Some("config_json".into()))),
        (
            r#"{"base_url":"ftp://host","sdk_name":"c","sdk_version":"0"}"#.into(),
            0,
            "",
            (FractalStatus::InvalidArgument, Some("base_url".into())),
        ),
        (
            r#"{"sdk_name":"c","sdk_version":"0"}"#.into(),
            0,
            "",
            (FractalStatus::InvalidArgument, Some("base_url".into())),
        ),
        (format!("{base},\"tenant\":\"a b\"}}"), 0, "", (FractalStatus::InvalidArgument, Some("tenant".into()))),
        (
            format!("{base},\"retry\":{{\"max_retries\":-1}}}}"),
            0,
            "",
            (FractalStatus::InvalidArgument, Some("retry".into())),
        ),
        (format!("{base},\"retry\":{{\"jitter\":1}}}}"), 0, "", (FractalStatus::InvalidArgument, Some("retry".into()))),
        (format!("{base}}}"), 9, "", (FractalStatus::InvalidArgument, Some("alg".into()))),
        (
            format!("{base},\"signature_version\":\"v3\"}}"),
            0,
            "",
            (FractalStatus::InvalidArgument, Some("signature_version".into())),
        ),
        (
            format!("{base},\"signature_version\":3}}"),
            0,
            "",
            (FractalStatus::InvalidArgument, Some("signature_version".into())),
        ),
        (
            format!("{base},\"signature_version\":true}}"),
            0,
            "",
            (FractalStatus::InvalidArgument, Some("signature_version".into())),
        ),
        (format!("{base}}}"), 0, "k", (FractalStatus::InvalidArgument, Some("key".into()))),
        (format!("{base}}}"), FRACTAL_ALGORITHM_HMAC, "", (FractalStatus::InvalidKey, None)),
        (format!("{base}}}"), FRACTAL_ALGORITHM_ED25519, "AAAA", (FractalStatus::InvalidKey, None)),
    ] {
        assert_eq!(client(&config, alg, key).unwrap_err(), want, "{config} alg {alg}");
    }
    let sub = submission(c, &record, 1).unwrap();
    let mut step = new_step();
    let st = unsafe { fractal_submission_on_response(sub, 200, b"{".as_ptr(), 1, ptr::null(), 0, &mut step, &mut err) };
    assert_eq!(take_err(st, &mut err), (FractalStatus::InvalidArgument, Some("headers_json".into())));
    let st =
        unsafe { fractal_submission_on_response(sub, 200, ptr::null(), 0, ptr::null(), 0, ptr::null_mut(), &mut err) };
    assert_eq!(take_err(st, &mut err), (FractalStatus::InvalidArgument, Some("out".into())));
    let st =
        unsafe { fractal_submission_on_transport_error(ptr::null_mut(), ptr::null(), 0, false, &mut step, &mut err) };
    assert_eq!(take_err(st, &mut err), (FractalStatus::InvalidArgument, Some("sub".into())));
    assert!(step.json.ptr.is_null());
    unsafe {
        fractal_submission_free(sub);
        fractal_submission_free(ptr::null_mut());
        fractal_client_free(ptr::null_mut());
        fractal_step_free(ptr::null_mut());
        fractal_client_free(c);
        fractal_client_free(plain);
        fractal_client_free(once);
        fractal_verifier_free(v);
    }
}

fn main() {
    let checks: [(&str, fn()); 11] = [
        ("every golden file is walked", every_golden_file_is_walked),
        ("canonical.json through the ABI", canonical_cases),
        ("canonical_v2.json through the ABI", canonical_v2_cases),
        ("legacy.json through the ABI", legacy_cases),
        ("read.json through the ABI", read_cases),
        ("verify.json through the ABI", verify_cases),
        ("ring.json through the ABI", ring_cases),
        ("reject.json through the ABI", reject_cases),
        ("NULL arguments", null_arguments_are_errors_not_crashes),
        ("client protocol", client_protocol),
        ("client/protocol.json calls through the ABI", protocol_calls),
    ];
    for (name, check) in checks {
        check();
        println!("ok   {name}");
    }
}
