//! Helpers: errors, buffers, golden files, verifiers and signing through the ABI.

use super::*;

pub(crate) fn golden_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../golden")
}

pub(crate) fn new_err() -> FractalError {
    FractalError { field: ptr::null_mut(), message: ptr::null_mut() }
}

/// Status, then the error's field (taken and freed).
pub(crate) fn take_err(st: FractalStatus, err: &mut FractalError) -> (FractalStatus, Option<String>) {
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

pub(crate) fn ok(st: FractalStatus, err: &mut FractalError, what: &str) {
    let msg = if err.message.is_null() {
        String::new()
    } else {
        unsafe { CStr::from_ptr(err.message) }.to_string_lossy().into_owned()
    };
    let (st, _) = take_err(st, err);
    assert_eq!(st, FractalStatus::Ok, "{what}: {msg}");
}

pub(crate) fn take_bytes(b: &mut FractalBytes) -> Vec<u8> {
    let v = if b.ptr.is_null() { Vec::new() } else { unsafe { std::slice::from_raw_parts(b.ptr, b.len) }.to_vec() };
    unsafe { fractal_bytes_free(b) };
    assert!(b.ptr.is_null() && b.len == 0);
    v
}

pub(crate) fn status_of(kind: &str) -> FractalStatus {
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

pub(crate) fn load(name: &str) -> Value {
    let text = std::fs::read(golden_dir().join(name)).unwrap_or_else(|e| panic!("golden/{name}: {e}"));
    serde_json::from_slice(&text).unwrap()
}

pub(crate) fn groups(file: &Value) -> &Vec<Value> {
    file["testGroups"].as_array().unwrap()
}

pub(crate) struct Fields {
    pub(crate) pcs_id: String,
    pub(crate) merkle_root: String,
    pub(crate) shard_id: String,
    pub(crate) epoch: u64,
    pub(crate) nums: [f64; 4], // D_hat, coh_star, r, budget
}

impl Fields {
    pub(crate) fn of(record: &[u8]) -> Fields {
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

    pub(crate) fn c(&self) -> FractalFields {
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
pub(crate) fn verifier(hmac_key: &str, public: &str) -> *const FractalVerifier {
    verifier_with(hmac_key, public, None).unwrap()
}

/// A verifier under a policy given as JSON; the status and field on failure.
pub(crate) fn verifier_with(
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

pub(crate) const V1_ONLY: &str = r#"{"versions":["v1"]}"#;
pub(crate) type Failed = (FractalStatus, Option<String>);

pub(crate) fn canonical_json(record: &[u8], version: u32) -> Result<Vec<u8>, Failed> {
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

pub(crate) fn digest_json(record: &[u8], version: u32) -> Result<String, Failed> {
    let mut d = [0u8; FRACTAL_DIGEST_LEN];
    let mut err = new_err();
    let st = unsafe { fractal_digest_json(record.as_ptr(), record.len(), version, d.as_mut_ptr(), d.len(), &mut err) };
    if st == FractalStatus::Ok { Ok(fractal_core::hex(&d)) } else { Err(take_err(st, &mut err)) }
}

/// The `sig` of a record given as JSON, HMAC under `key`; the buffer is exactly
/// as long as the version needs, so a longer answer would fail.
pub(crate) fn sign_hmac_json(record: &[u8], key: &str, version: u32) -> Result<String, Failed> {
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

pub(crate) fn sign_ed25519_json(key: *const FractalEd25519Key, record: &[u8], version: u32) -> Result<String, Failed> {
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

pub(crate) fn verify_json(v: *const FractalVerifier, record: &Value) -> Result<(), Failed> {
    let json = serde_json::to_vec(record).unwrap();
    let mut err = new_err();
    let st = unsafe { fractal_verifier_verify_json(v, json.as_ptr(), json.len(), &mut err) };
    if st == FractalStatus::Ok { Ok(()) } else { Err(take_err(st, &mut err)) }
}

pub(crate) fn with_sig(record: &Value, sig: &str) -> Value {
    let mut r = record.clone();
    r["sig"] = Value::String(sig.into());
    r
}

pub(crate) fn ed25519_key(seed: &str) -> *mut FractalEd25519Key {
    let mut key: *mut FractalEd25519Key = ptr::null_mut();
    let mut err = new_err();
    ok(unsafe { fractal_ed25519_key_from_seed(seed.as_ptr(), seed.len(), &mut key, &mut err) }, &mut err, "seed");
    key
}

pub(crate) fn bad_sig() -> Failed {
    (FractalStatus::SignatureInvalid, Some("sig".into()))
}

pub(crate) fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or("")
}
