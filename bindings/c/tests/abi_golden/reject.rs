//! reject.json through the ABI.

use super::*;

pub(crate) fn reject_cases() {
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
