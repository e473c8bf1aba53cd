//! read.json (signed reads, SPEC §6.1) through the ABI.

use super::*;

pub(crate) fn read_authorization_hmac(key: &str, tenant: &str, pcs_id: &str, t: u64) -> String {
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

pub(crate) fn verify_read(v: *const FractalVerifier, tenant: &str, pcs_id: &str, header: &str, now: u64) -> Result<(), Failed> {
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
pub(crate) fn read_cases() {
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
