//! Unit tests of the client protocol; the golden vectors are walked by
//! `tests/golden_protocol.rs`.

use super::*;
use crate::{Algorithm, BuildInput, build_pcs};

fn cfg() -> ClientConfig {
    ClientConfig::new("http://127.0.0.1:1/", "rust", "9.9.9")
        .unwrap()
        .with_tenant("acme")
        .unwrap()
}

fn h(k: &str, v: &str) -> (String, String) {
    (k.to_string(), v.to_string())
}

#[test]
fn submit_request_is_signed_and_carries_headers() {
    let key = SigningKeyMaterial::parse(Algorithm::Hmac, "k").unwrap();
    let pcs = build_pcs(&BuildInput::example()).unwrap();
    let req = submit_request(&cfg(), &pcs, Some(&key)).unwrap();
    assert_eq!(req.url, "http://127.0.0.1:1/v1/pcs/submit");
    assert_eq!(
        header(&req.headers, "content-type"),
        Some("application/json")
    );
    assert_eq!(header(&req.headers, "x-tenant-id"), Some("acme"));
    assert!(
        header(&req.headers, "user-agent")
            .unwrap()
            .starts_with("fractal-lba-rust/9.9.9 (core ")
    );
    let sent = Pcs::from_json(&req.body).unwrap();
    let mut v = crate::Verifier::new();
    v.add_hmac_key(b"k").unwrap();
    v.verify(&sent).unwrap();
}

#[test]
fn invalid_records_are_refused_before_sending() {
    let mut pcs = build_pcs(&BuildInput::example()).unwrap();
    pcs.r = 1.5;
    let err = submit_request(&cfg(), &pcs, None).unwrap_err();
    assert_eq!(err.field(), Some("r"));
}

#[test]
fn never_retries_400_or_401() {
    let pcs = build_pcs(&BuildInput::example()).unwrap();
    for (status, kind) in [(400, "invalid"), (401, "signature"), (403, "api")] {
        let mut s = Submission::new(&cfg(), &pcs, None, 1).unwrap();
        let body = br#"{"error":{"code":"x","message":"field `r`"}}"#;
        match s.on_response(status, &[], body) {
            Step::Done(Err(e)) => assert_eq!(e.kind(), kind),
            other => panic!("{status}: {other:?}"),
        }
        assert_eq!(s.retries(), 0);
    }
}

#[test]
fn retries_503_and_429_honouring_retry_after_then_gives_up() {
    let pcs = build_pcs(&BuildInput::example()).unwrap();
    let mut s = Submission::new(&cfg(), &pcs, None, 1).unwrap();
    assert_eq!(
        s.on_response(503, &[h("Retry-After", "2")], b""),
        Step::Retry(Duration::from_secs(2))
    );
    assert_eq!(
        s.on_response(429, &[h("retry-after", "1")], b""),
        Step::Retry(Duration::from_secs(1))
    );
    assert!(matches!(
        s.on_transport_error("reset", false),
        Step::Retry(_)
    ));
    match s.on_response(
        429,
        &[h("Retry-After", "1")],
        b"{\"error\":{\"code\":\"rate_limited\",\"message\":\"slow\"}}",
    ) {
        Step::Done(Err(ClientError::RateLimited {
            retry_after_ms: Some(1000),
            ..
        })) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(s.retries(), 3);
}

#[test]
fn backoff_is_full_jitter_capped_and_deterministic() {
    let policy = RetryPolicy {
        max_retries: 6,
        base_delay_ms: 100,
        max_delay_ms: 400,
        ..Default::default()
    };
    let a: Vec<_> = std::iter::from_fn({
        let mut b = Backoff::new(policy, 42);
        move || b.next_delay(None)
    })
    .collect();
    let mut b = Backoff::new(policy, 42);
    let again: Vec<_> = std::iter::from_fn(|| b.next_delay(None)).collect();
    assert_eq!(a, again);
    assert_eq!(a.len(), 6);
    for (k, d) in a.iter().enumerate() {
        let ceiling = (100u64 << k).min(400);
        assert!((d.as_millis() as u64) < ceiling, "{k}: {d:?}");
    }
    // A different seed gives a different schedule.
    let mut c = Backoff::new(policy, 43);
    let other: Vec<_> = std::iter::from_fn(|| c.next_delay(None)).collect();
    assert_ne!(a, other);
}

#[test]
fn base_urls_need_a_scheme_and_a_host() {
    for ok in ["http://x", "https://x:1/", "http://127.0.0.1:8080"] {
        assert!(ClientConfig::new(ok, "rust", "1").is_ok(), "{ok}");
    }
    for bad in ["", "http://", "https:///", "ftp://x", "x:80", "http://a b"] {
        assert_eq!(
            ClientConfig::new(bad, "rust", "1").unwrap_err().field(),
            Some("base_url"),
            "{bad}"
        );
    }
}

#[test]
fn retry_after_reads_both_forms() {
    let ms = |hs: &[(String, String)]| retry_after(hs).map(|d| d.as_millis());
    let date = h("Date", "Wed, 21 Oct 2015 07:28:00 GMT");
    assert_eq!(ms(&[h("retry-after", " 120 ")]), Some(120_000));
    assert_eq!(ms(&[h("Retry-After", "Wed, 21 Oct 2015 07:28:10 GMT"), date.clone()]), Some(10_000));
    assert_eq!(ms(&[h("Retry-After", "Wednesday, 21-Oct-15 07:28:10 GMT"), date.clone()]), Some(10_000));
    assert_eq!(ms(&[h("Retry-After", "Wed Oct 21 07:28:10 2015"), date.clone()]), Some(10_000));
    assert_eq!(ms(&[h("Retry-After", "Wed, 21 Oct 2015 07:27:00 GMT"), date]), Some(0));
    // 18446744073709552 s is 384 ms past 2^64 ms: it must saturate, not wrap.
    assert_eq!(retry_after(&[h("Retry-After", "18446744073709552")]).map(millis), Some(u64::MAX));
    let mut b = Backoff::new(RetryPolicy::default(), 1);
    assert_eq!(b.next_delay(retry_after(&[h("Retry-After", "18446744073709552")])), None);
    for bad in ["", "-1", "+5", "1.5", "soon", "18446744073709551616", "Wed, 21 Oct 2015 07:28:10 GMT"] {
        assert_eq!(ms(&[h("Retry-After", bad)]), None, "{bad:?}");
    }
}

#[test]
fn success_reads_dedup_header() {
    let ok = classify_response(
        202,
        &[h("X-Dedup", "hit")],
        br#"{"accepted":true,"escalated":true,"reason":"x"}"#,
    )
    .unwrap();
    assert!(ok.dedup_hit && ok.result.escalated);
    let bad = classify_response(200, &[], b"not json").unwrap_err();
    assert_eq!(bad.kind(), "api");
}
