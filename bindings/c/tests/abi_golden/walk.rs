//! That every golden file has a runner here, and NULL arguments.

use super::*;

pub(crate) fn every_golden_file_is_walked() {
    let mut names: Vec<String> = std::fs::read_dir(golden_dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert_eq!(names, GOLDEN_FILES, "a golden file without a runner here, or one missing");
}

pub(crate) const GOLDEN_FILES: [&str; 7] =
    ["canonical.json", "canonical_v2.json", "legacy.json", "read.json", "reject.json", "ring.json", "verify.json"];

pub(crate) fn null_arguments_are_errors_not_crashes() {
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
