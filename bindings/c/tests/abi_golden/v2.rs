//! canonical_v2.json and legacy.json through the ABI.

use super::*;

/// golden/canonical_v2.json: the v2 payload (SPEC §3.2) of the exact wire text,
/// signed and verified under the default policy; any change to a signed field
/// (an unknown one, an omitted optional one added) breaks the signature, a
/// change to a delivery field does not.
pub(crate) fn canonical_v2_cases() {
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
pub(crate) fn tamper_v2(record: &Value) -> Vec<(String, Value)> {
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
pub(crate) fn delivery_changes(record: &Value) -> Vec<(String, Value)> {
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
pub(crate) fn next_toward_0(x: f64) -> f64 {
    if x == 0.0 { f64::from_bits(1) } else { f64::from_bits(x.to_bits() - 1) }
}

/// golden/legacy.json: the seed's v1 encodings (SPEC §4.1) are accepted only
/// where the policy lists them, through the JSON and the fields paths.
pub(crate) fn legacy_cases() {
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
