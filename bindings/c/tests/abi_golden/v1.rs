//! canonical.json, verify.json and ring.json through the ABI.

use super::*;

/// golden/canonical.json: the v1 payload (SPEC §3.1), through the `_fields_v1`
/// functions and the JSON ones with `FRACTAL_SIG_V1`.
pub(crate) fn canonical_cases() {
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
pub(crate) fn change_id(id: &mut String) {
    if id.len() < fractal_core::MAX_ID_BYTES {
        id.push('0');
    } else {
        id.pop();
    }
}

/// Changes one of the eight v1 fields (by index) beyond what 9-decimal
/// rounding hides, in the fields and in the record.
pub(crate) fn tamper_v1(f: &Fields, record: &Value, which: usize) -> (Fields, Value) {
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

pub(crate) fn verify_cases() {
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

pub(crate) fn ring_cases() {
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
