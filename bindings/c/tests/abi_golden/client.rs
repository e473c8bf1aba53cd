//! The client protocol (sans I/O) through the ABI, and golden/client/protocol.json.

use super::*;

// The client protocol through the ABI.

pub(crate) fn new_step() -> FractalStep {
    FractalStep {
        kind: FractalStepKind::Retry,
        delay_ms: 0,
        retries: 0,
        json: FractalBytes { ptr: ptr::null_mut(), len: 0 },
    }
}

/// A client from the tests' shorthand of its settings, a JSON object (`base_url`,
/// `sdk_name`, `sdk_version`, `tenant`, `retry` as the core's retry policy, and
/// `signature_version` 1 or 2), and a key; the status and field on failure.
pub(crate) fn client(config: &str, alg: u32, key: &str) -> Result<*mut FractalClient, (FractalStatus, Option<String>)> {
    let cfg: Value = serde_json::from_str(config).unwrap();
    let text = |k: &str| cfg[k].as_str().unwrap_or("");
    let tenant = cfg.get("tenant").and_then(Value::as_str);
    let retry = cfg.get("retry").map(|r| {
        let r: fractal_core::protocol::RetryPolicy = serde_json::from_value(r.clone()).unwrap();
        let (max_retries, base_delay_ms, max_delay_ms) = (r.max_retries, r.base_delay_ms, r.max_delay_ms);
        FractalRetryPolicy { max_retries, base_delay_ms, max_delay_ms, max_retry_after_ms: r.max_retry_after_ms }
    });
    let version = cfg.get("signature_version").map_or(FRACTAL_SIG_V2, |v| v.as_u64().unwrap() as u32);
    let (url, name, sdk_version, t) = (text("base_url"), text("sdk_name"), text("sdk_version"), tenant.unwrap_or(""));
    let mut c: *mut FractalClient = ptr::null_mut();
    let mut err = new_err();
    let st = unsafe {
        fractal_client_new(
            url.as_ptr(),
            url.len(),
            name.as_ptr(),
            name.len(),
            sdk_version.as_ptr(),
            sdk_version.len(),
            tenant.is_some(),
            t.as_ptr(),
            t.len(),
            retry.as_ref().map_or(ptr::null(), |r| r as *const _),
            version,
            alg,
            key.as_ptr(),
            key.len(),
            &mut c,
            &mut err,
        )
    };
    if st == FractalStatus::Ok {
        assert!(!c.is_null());
        Ok(c)
    } else {
        assert!(c.is_null());
        Err(take_err(st, &mut err))
    }
}

pub(crate) fn submission(
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
pub(crate) fn request_of(sub: *const FractalSubmission) -> (Value, Vec<u8>) {
    let mut head = FractalBytes { ptr: ptr::null_mut(), len: 0 };
    let mut body = FractalBytes { ptr: ptr::null_mut(), len: 0 };
    let mut err = new_err();
    ok(unsafe { fractal_submission_request(sub, &mut head, &mut body, &mut err) }, &mut err, "request");
    (serde_json::from_slice(&take_bytes(&mut head)).unwrap(), take_bytes(&mut body))
}

pub(crate) fn header<'a>(head: &'a Value, name: &str) -> Option<&'a str> {
    head["headers"].as_array().unwrap().iter().find(|h| h[0].as_str().unwrap().eq_ignore_ascii_case(name))?[1].as_str()
}

/// Feeds an answer; returns (kind, delay_ms, retries, json) and frees the step.
pub(crate) fn answer(
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

pub(crate) fn fail_transport(
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

pub(crate) fn take_step(step: &mut FractalStep) -> (FractalStepKind, u64, u32, Option<Value>) {
    let json = take_bytes(&mut step.json);
    let v = if json.is_empty() { None } else { Some(serde_json::from_slice(&json).unwrap()) };
    unsafe { fractal_step_free(step) };
    (step.kind, step.delay_ms, step.retries, v)
}

/// The delays of a backoff schedule from golden/client/protocol.json (policy with
/// `max_retries` 3, the given seed, base and cap).
pub(crate) fn expected_delays(seed: u64, base: u64, cap: u64) -> Vec<u64> {
    let file = load("client/protocol.json");
    let g = groups(&file).iter().find(|g| g["type"] == "backoff").unwrap();
    let t = g["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| {
            let p = &t["policy"];
            t["seed"].as_str() == Some(seed.to_string().as_str())
                && (p["max_retries"].as_u64(), p["base_delay_ms"].as_u64(), p["max_delay_ms"].as_u64())
                    == (Some(3), Some(base), Some(cap))
        })
        .unwrap_or_else(|| panic!("client/protocol.json has no backoff case for seed {seed}, {base}/{cap} ms"));
    t["calls"].as_array().unwrap().iter().map_while(|c| c["delay_ms"].as_u64()).collect()
}

/// A u64 as protocol.json writes it: a number, or a decimal string past 2^53 − 1.
pub(crate) fn u64_of(v: &Value) -> Option<u64> {
    v.as_str().map_or_else(|| v.as_u64(), |s| s.parse().ok())
}

/// Every `call` case of golden/client/protocol.json through the ABI's submission:
/// the step after each answer or transport failure, and how the call ends.
pub(crate) fn protocol_calls() {
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

pub(crate) fn client_protocol() {
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
        (FRACTAL_ALGORITHM_ED25519, seed, Some("2"), v2_ed.as_str(), v),
        (FRACTAL_ALGORITHM_HMAC, hmac_key, Some("1"), s(&t["expected"], "sig_hmac"), v1),
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
        (format!("{base},\"tenant\":\"\"}}"), 0, "", (FractalStatus::InvalidArgument, Some("tenant".into()))),
        (format!("{base}}}"), 9, "", (FractalStatus::InvalidArgument, Some("alg".into()))),
        (
            format!("{base},\"signature_version\":3}}"),
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
