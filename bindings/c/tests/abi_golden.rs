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

fn verifier(hmac_key: &str, public: &str) -> *const FractalVerifier {
    let b = fractal_verifier_builder_new();
    let mut err = new_err();
    ok(unsafe { fractal_verifier_builder_add_hmac_key(b, hmac_key.as_ptr(), hmac_key.len(), &mut err) }, &mut err, "hmac key");
    if !public.is_empty() {
        ok(
            unsafe { fractal_verifier_builder_add_ed25519_public_key(b, public.as_ptr(), public.len(), &mut err) },
            &mut err,
            "public key",
        );
    }
    unsafe { fractal_verifier_builder_build(b) }
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or("")
}

fn canonical_cases() {
    let file = load("canonical.json");
    let mut n = 0;
    for g in groups(&file) {
        let (hmac_key, seed, public) = (s(g, "hmac_key"), s(g, "ed25519_seed"), s(g, "ed25519_public"));
        let mut key: *mut FractalEd25519Key = ptr::null_mut();
        let mut err = new_err();
        ok(unsafe { fractal_ed25519_key_from_seed(seed.as_ptr(), seed.len(), &mut key, &mut err) }, &mut err, "seed");
        let mut pubbuf = [0u8; FRACTAL_ED25519_KEY_LEN];
        ok(unsafe { fractal_ed25519_key_public(key, pubbuf.as_mut_ptr(), pubbuf.len(), &mut err) }, &mut err, "public");
        assert_eq!(std::str::from_utf8(&pubbuf).unwrap(), public);
        let v = verifier(hmac_key, public);
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
                    fractal_pcs_id(f.merkle_root.as_ptr(), f.merkle_root.len(), f.epoch, f.shard_id.as_ptr(), f.shard_id.len(), id.as_mut_ptr(), id.len(), &mut err)
                },
                &mut err,
                "pcs_id",
            );
            assert_eq!(std::str::from_utf8(&id).unwrap(), s(exp, "pcs_id"), "tc{tc} pcs_id");

            let mut out = FractalBytes { ptr: ptr::null_mut(), len: 0 };
            ok(unsafe { fractal_canonical_fields(f.c(), &mut out, &mut err) }, &mut err, "canonical fields");
            assert_eq!(take_bytes(&mut out), s(exp, "canonical").as_bytes(), "tc{tc} canonical");
            ok(unsafe { fractal_canonical_json(record.as_ptr(), record.len(), &mut out, &mut err) }, &mut err, "canonical json");
            assert_eq!(take_bytes(&mut out), s(exp, "canonical").as_bytes(), "tc{tc} canonical (json)");

            let mut d = [0u8; FRACTAL_DIGEST_LEN];
            ok(unsafe { fractal_digest_fields(f.c(), d.as_mut_ptr(), d.len(), &mut err) }, &mut err, "digest");
            assert_eq!(fractal_core::hex(&d), s(exp, "digest_hex"), "tc{tc} digest");

            let mut sig = [0u8; FRACTAL_HMAC_SIG_LEN];
            ok(
                unsafe { fractal_sign_hmac_fields(f.c(), hmac_key.as_ptr(), hmac_key.len(), sig.as_mut_ptr(), sig.len(), &mut err) },
                &mut err,
                "hmac",
            );
            assert_eq!(std::str::from_utf8(&sig).unwrap(), s(exp, "sig_hmac"), "tc{tc} hmac");
            ok(
                unsafe {
                    fractal_sign_hmac_json(record.as_ptr(), record.len(), hmac_key.as_ptr(), hmac_key.len(), sig.as_mut_ptr(), sig.len(), &mut err)
                },
                &mut err,
                "hmac json",
            );
            assert_eq!(std::str::from_utf8(&sig).unwrap(), s(exp, "sig_hmac"), "tc{tc} hmac (json)");

            let mut esig = [0u8; FRACTAL_ED25519_SIG_LEN];
            ok(unsafe { fractal_ed25519_key_sign_fields(key, f.c(), esig.as_mut_ptr(), esig.len(), &mut err) }, &mut err, "ed25519");
            assert_eq!(std::str::from_utf8(&esig).unwrap(), s(exp, "sig_ed25519"), "tc{tc} ed25519");
            ok(
                unsafe { fractal_ed25519_key_sign_json(key, record.as_ptr(), record.len(), esig.as_mut_ptr(), esig.len(), &mut err) },
                &mut err,
                "ed25519 json",
            );
            assert_eq!(std::str::from_utf8(&esig).unwrap(), s(exp, "sig_ed25519"), "tc{tc} ed25519 (json)");

            for sig in [s(exp, "sig_hmac"), s(exp, "sig_ed25519")] {
                ok(unsafe { fractal_verifier_verify_fields(v, f.c(), sig.as_ptr(), sig.len(), &mut err) }, &mut err, "verify");
                let mut signed = t["record"].clone();
                signed["sig"] = Value::String(sig.into());
                let json = serde_json::to_vec(&signed).unwrap();
                ok(unsafe { fractal_verifier_verify_json(v, json.as_ptr(), json.len(), &mut err) }, &mut err, "verify json");
                // Tampering with one signed number must break the signature.
                let mut tampered = f.c();
                tampered.budget = if tampered.budget.abs() < 1e15 { tampered.budget + 0.5 } else { tampered.budget / 2.0 };
                let st = unsafe { fractal_verifier_verify_fields(v, tampered, sig.as_ptr(), sig.len(), &mut err) };
                assert_eq!(take_err(st, &mut err), (FractalStatus::SignatureInvalid, Some("sig".into())), "tc{tc} tampered");
            }
        }
        unsafe {
            fractal_ed25519_key_free(key);
            fractal_verifier_free(v);
        }
    }
    assert_eq!(n, file["numberOfTests"].as_u64().unwrap());
}

fn verify_cases() {
    let file = load("verify.json");
    let mut n = 0;
    for g in groups(&file) {
        let mut params = FractalVerifyParams { tol_d: 0.0, tol_coh: 0.0, alpha: 0.0, beta: 0.0, gamma: 0.0, base: 0.0, d0: 0.0, budget_tol: 0.0 };
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
            ok(unsafe { fractal_verify_json(record.as_ptr(), record.len(), &params, &mut out, &mut err) }, &mut err, "verify");
            let exp = &t["expected"];
            let tc = &t["tcId"];
            assert_eq!(out.accepted, exp["accepted"].as_bool().unwrap(), "tc{tc}");
            assert_eq!(out.escalated, exp["escalated"].as_bool().unwrap(), "tc{tc}");
            assert_eq!(out.has_recomputed_d_hat.then_some(out.recomputed_d_hat), exp["recomputed_D_hat"].as_f64(), "tc{tc}");
            assert_eq!(out.has_recomputed_budget.then_some(out.recomputed_budget), exp["recomputed_budget"].as_f64(), "tc{tc}");
            let reason = (!out.reason.is_null()).then(|| unsafe { CStr::from_ptr(out.reason) }.to_str().unwrap().to_string());
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
                ok(unsafe { fractal_ring_set_healthy(ring, name.as_ptr(), name.len(), false, &mut err) }, &mut err, "mark");
            }
        }
        for t in g["tests"].as_array().unwrap() {
            n += 1;
            let key = s(t, "key");
            let mut out = FractalBytes { ptr: ptr::null_mut(), len: 0 };
            let st = match s(t, "op") {
                "pick" => unsafe { fractal_ring_pick(ring, key.as_ptr(), key.len(), &mut out, &mut err) },
                "pick_n" => unsafe {
                    fractal_ring_pick_n(ring, key.as_ptr(), key.len(), t["n"].as_u64().unwrap() as usize, &mut out, &mut err)
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
                "validate" => take_err(unsafe { fractal_validate_json(input.as_ptr(), input.len(), &mut err) }, &mut err),
                "sign" => {
                    let st = unsafe { fractal_canonical_json(input.as_ptr(), input.len(), &mut out, &mut err) };
                    assert!(out.ptr.is_null());
                    let first = take_err(st, &mut err);
                    let f = Fields::of(input.as_bytes());
                    let mut sig = [0u8; FRACTAL_HMAC_SIG_LEN];
                    let st = unsafe { fractal_sign_hmac_fields(f.c(), b"k".as_ptr(), 1, sig.as_mut_ptr(), sig.len(), &mut err) };
                    assert_eq!(take_err(st, &mut err), first, "tc{tc}: fields and JSON paths disagree");
                    first
                }
                "verify_signature" => {
                    let v = verifier(s(g, "hmac_key"), s(g, "ed25519_public"));
                    let r = take_err(unsafe { fractal_verifier_verify_json(v, input.as_ptr(), input.len(), &mut err) }, &mut err);
                    unsafe { fractal_verifier_free(v) };
                    r
                }
                "key" => match s(t, "key_type") {
                    "seed" => {
                        let mut key: *mut FractalEd25519Key = ptr::null_mut();
                        let st = unsafe { fractal_ed25519_key_from_seed(input.as_ptr(), input.len(), &mut key, &mut err) };
                        assert!(key.is_null());
                        take_err(st, &mut err)
                    }
                    "public" => {
                        let b = fractal_verifier_builder_new();
                        let st = unsafe { fractal_verifier_builder_add_ed25519_public_key(b, input.as_ptr(), input.len(), &mut err) };
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

fn every_golden_file_is_walked() {
    let mut names: Vec<String> = std::fs::read_dir(golden_dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert_eq!(names, ["canonical.json", "reject.json", "ring.json", "verify.json"], "a golden file without a runner here");
}

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
    // An error struct reused without freeing in between does not leak.
    let st = unsafe { fractal_parse_json(b"[".as_ptr(), 1, &mut out, &mut err) };
    assert_ne!(st, FractalStatus::Ok);
    let st = unsafe { fractal_parse_json(b"{".as_ptr(), 1, &mut out, &mut err) };
    assert_ne!(take_err(st, &mut err).0, FractalStatus::Ok);
}

fn main() {
    let checks: [(&str, fn()); 6] = [
        ("every golden file is walked", every_golden_file_is_walked),
        ("canonical.json through the ABI", canonical_cases),
        ("verify.json through the ABI", verify_cases),
        ("ring.json through the ABI", ring_cases),
        ("reject.json through the ABI", reject_cases),
        ("NULL arguments", null_arguments_are_errors_not_crashes),
    ];
    for (name, check) in checks {
        check();
        println!("ok   {name}");
    }
}
