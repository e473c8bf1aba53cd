//! `golden/client/protocol.json`: the client protocol every SDK drives (SPEC §6): the
//! seeded backoff schedule, `Retry-After` in both forms, how an answer is classified,
//! and whole calls (answers in, steps out). The inputs are chosen here; the expected
//! values come from `fractal_core::protocol` and are checked by the oracle, which
//! writes splitmix64, the HTTP-date forms and the status rules out on its own.

use fractal_core::protocol::{
    Backoff, ClientConfig, ClientError, RetryPolicy, Step, SubmitResponse, Submission, classify_response,
    health_request, millis, retry_after,
};
use serde_json::{Value, json};

use crate::{File, file};

const NOTES: &[(&str, &str)] = &[
    ("Numbers", "integers beyond 2^53 − 1 (seeds always) are decimal strings"),
    ("Backoff", "attempt k waits splitmix64() % min(max_delay_ms, base_delay_ms·2^min(k,32)) ms; the generator advances even when Retry-After replaces the delay"),
    ("RetryAfterDate", "the HTTP-date form of Retry-After counts from the answer's own Date header; without one it is ignored"),
    ("RetryAfterSeconds", "delay-seconds is 1*DIGIT: signs, fractions and overflow are ignored"),
    ("Classify", "200/202 with a VerifyResult is success; 400/413/415 invalid, 401 signature, 429 rate_limited, the rest api"),
    ("Retryable", "429, 5xx and transport failures are retried; 400, 401, 403, 404 never"),
    ("NotFound", "a 404 ends a lookup with no outcome stored (not_found): SDKs return none, not an error"),
    ("RetryAfterCap", "a Retry-After beyond max_retry_after_ms ends the call instead of sleeping; milliseconds saturate at 2^64 − 1"),
];

fn policy(max_retries: u32, base: u64, cap: u64, max_after: u64) -> RetryPolicy {
    RetryPolicy { max_retries, base_delay_ms: base, max_delay_ms: cap, max_retry_after_ms: max_after }
}

fn policy_json(p: &RetryPolicy) -> Value {
    json!({"max_retries": p.max_retries, "base_delay_ms": p.base_delay_ms, "max_delay_ms": p.max_delay_ms,
           "max_retry_after_ms": p.max_retry_after_ms})
}

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// An integer as a JSON number, or as a decimal string beyond 2^53 − 1 (where a
/// JSON number stops being exact in JavaScript and in float-based decoders).
fn big(n: u64) -> Value {
    if n < 1 << 53 { json!(n) } else { json!(n.to_string()) }
}

fn ms(d: Option<std::time::Duration>) -> Value {
    d.map_or(Value::Null, |d| big(millis(d)))
}

fn outcome(r: &Result<SubmitResponse, ClientError>) -> Value {
    match r {
        Ok(ok) => json!({"ok": {"status": ok.status, "accepted": ok.result.accepted, "dedup_hit": ok.dedup_hit}}),
        Err(e) => {
            json!({"error": {"kind": e.kind(), "status": e.status(), "code": e.code(), "message": e.message(),
                             "retry_after_ms": e.retry_after_ms().map_or(Value::Null, big), "retryable": e.is_retryable(),
                             "not_found": e.is_not_found()}})
        }
    }
}

// ---------------------------------------------------------------- backoff

fn backoff_tests() -> Vec<Value> {
    let default = RetryPolicy::default();
    // (comment, policy, seed, Retry-After given to each call in ms)
    let cases: Vec<(&str, RetryPolicy, u64, Vec<Option<u64>>)> = vec![
        ("the defaults, seed 0: three delays, then none", default, 0, vec![None; 4]),
        ("the schedule the Go and C tests sleep through", policy(3, 200, 500, 60_000), 42, vec![None; 4]),
        ("the schedule the Python tests sleep through", policy(3, 200, 500, 60_000), 7, vec![None; 4]),
        ("the schedule the cross-SDK suite sleeps through", policy(3, 400, 1500, 60_000), 424_242, vec![None; 4]),
        ("the schedule the C ABI protocol test uses", policy(3, 100, 400, 60_000), 42, vec![None; 4]),
        ("the largest seed: the generator wraps around", policy(5, 100, 5_000, 60_000), u64::MAX, vec![None; 6]),
        ("a seed above 2^53 (read it as a string)", policy(4, 250, 2_000, 60_000), 0x9e37_79b9_7f4a_7c15, vec![None; 5]),
        ("base 0: every delay is 0", policy(3, 0, 5_000, 60_000), 5, vec![None; 4]),
        ("cap below base: every ceiling is the cap", policy(4, 1_000, 300, 60_000), 11, vec![None; 5]),
        ("the doubling stops at 2^32", policy(36, 1, (1 << 53) - 1, 60_000), 3, vec![None; 37]),
        ("no retries at all", policy(0, 100, 5_000, 60_000), 1, vec![None]),
        (
            "Retry-After replaces the delay but the generator still advances",
            policy(4, 100, 5_000, 60_000),
            42,
            vec![None, Some(1_000), None, Some(0), None],
        ),
        ("a Retry-After at the cap is honoured", policy(3, 100, 5_000, 2_000), 8, vec![Some(2_000), None, None, None]),
        ("a Retry-After beyond the cap ends the schedule", policy(3, 100, 5_000, 2_000), 8, vec![None, Some(2_001)]),
    ];
    cases
        .into_iter()
        .map(|(comment, p, seed, afters)| {
            let mut b = Backoff::new(p, seed);
            let calls: Vec<Value> = afters
                .iter()
                .map(|a| {
                    let d = b.next_delay(a.map(std::time::Duration::from_millis));
                    json!({"retry_after_ms": a, "delay_ms": ms(d)})
                })
                .collect();
            json!({"comment": comment, "flags": ["Backoff"], "policy": policy_json(&p), "seed": seed.to_string(), "calls": calls})
        })
        .collect()
}

// ---------------------------------------------------------------- Retry-After

const DATE: (&str, &str) = ("Date", "Wed, 21 Oct 2015 07:28:00 GMT");

fn retry_after_tests() -> Vec<Value> {
    let s = "RetryAfterSeconds";
    let d = "RetryAfterDate";
    let cases: Vec<(&str, &str, Vec<(&str, &str)>)> = vec![
        ("delay-seconds", s, vec![("Retry-After", "120")]),
        ("zero seconds", s, vec![("Retry-After", "0")]),
        ("the name is case-insensitive and the value trimmed", s, vec![("retry-after", "  3 ")]),
        ("absent", s, vec![("Content-Type", "application/json")]),
        ("empty", s, vec![("Retry-After", "")]),
        ("negative", s, vec![("Retry-After", "-1")]),
        ("a plus sign", s, vec![("Retry-After", "+5")]),
        ("a fraction", s, vec![("Retry-After", "1.5")]),
        ("words", s, vec![("Retry-After", "soon")]),
        ("beyond u64", s, vec![("Retry-After", "18446744073709551616")]),
        ("the largest u64 of seconds: milliseconds saturate", s, vec![("Retry-After", "18446744073709551615")]),
        ("2^64/1000 seconds: 384 ms past 2^64 ms, saturates, never wraps", s, vec![("Retry-After", "18446744073709552")]),
        ("IMF-fixdate, 10 s after Date", d, vec![("Retry-After", "Wed, 21 Oct 2015 07:28:10 GMT"), DATE]),
        ("Date first, lower-case names", d, vec![("date", DATE.1), ("retry-after", "Wed, 21 Oct 2015 07:29:00 GMT")]),
        ("the obsolete RFC 850 form", d, vec![("Retry-After", "Wednesday, 21-Oct-15 07:28:10 GMT"), DATE]),
        ("the obsolete asctime form", d, vec![("Retry-After", "Wed Oct 21 07:28:10 2015"), DATE]),
        ("a date before Date means now", d, vec![("Retry-After", "Wed, 21 Oct 2015 07:27:00 GMT"), DATE]),
        ("a date across a month and a year", d, vec![("Retry-After", "Fri, 01 Jan 2016 00:00:01 GMT"), ("Date", "Thu, 31 Dec 2015 23:59:59 GMT")]),
        ("a date without a Date header is ignored", d, vec![("Retry-After", "Wed, 21 Oct 2015 07:28:10 GMT")]),
        ("an unreadable Date header", d, vec![("Retry-After", "Wed, 21 Oct 2015 07:28:10 GMT"), ("Date", "yesterday")]),
        ("a date that is not GMT", d, vec![("Retry-After", "Wed, 21 Oct 2015 07:28:10 PST"), DATE]),
        ("a weekday that does not match the date", d, vec![("Retry-After", "Thu, 21 Oct 2015 07:28:10 GMT"), DATE]),
        ("a day the month does not have", d, vec![("Retry-After", "Mon, 30 Feb 2015 07:28:10 GMT"), DATE]),
        ("a leap day", d, vec![("Retry-After", "Mon, 29 Feb 2016 00:00:00 GMT"), ("Date", "Sun, 28 Feb 2016 23:59:30 GMT")]),
        ("RFC 850 year 70 is 1970", d, vec![("Retry-After", "Thursday, 01-Jan-70 00:00:10 GMT"), ("Date", "Thu, 01 Jan 1970 00:00:00 GMT")]),
        ("a Date before 1970 is unreadable", d, vec![("Retry-After", "Thu, 01 Jan 1970 00:00:10 GMT"), ("Date", "Wed, 31 Dec 1969 23:59:59 GMT")]),
        ("RFC 850 year 69 is 2069", d, vec![("Retry-After", "Tuesday, 01-Jan-69 00:00:00 GMT"), DATE]),
        ("asctime with a one-digit day", d, vec![("Retry-After", "Sun Nov  1 00:00:10 2015"), ("Date", "Sun, 01 Nov 2015 00:00:00 GMT")]),
        ("a date with no seconds", d, vec![("Retry-After", "Wed, 21 Oct 2015 07:28 GMT"), DATE]),
    ];
    cases
        .into_iter()
        .map(|(comment, flag, hs)| {
            let hs = headers(&hs);
            json!({"comment": comment, "flags": [flag], "headers": hs, "delay_ms": ms(retry_after(&hs))})
        })
        .collect()
}

// ---------------------------------------------------------------- classification

const ACCEPTED: &str = r#"{"accepted":true,"escalated":false}"#;
const ESCALATED: &str = r#"{"accepted":true,"escalated":true,"reason":"regime_mismatch"}"#;

fn err(code: &str, message: &str) -> String {
    json!({"error": {"code": code, "message": message}}).to_string()
}

/// (comment, flags, status, headers, body)
type Answer = (&'static str, Vec<&'static str>, u16, Vec<(&'static str, &'static str)>, String);

fn answers() -> Vec<Answer> {
    let c = || vec!["Classify"];
    let cr = || vec!["Classify", "Retryable"];
    let long = "x".repeat(300);
    vec![
        ("200 with a VerifyResult", c(), 200, vec![], ACCEPTED.into()),
        ("202 (escalated)", c(), 202, vec![], ESCALATED.into()),
        ("a dedup hit", c(), 200, vec![("X-Dedup", "hit")], ACCEPTED.into()),
        ("X-Dedup is case-insensitive, name and value", c(), 200, vec![("x-dedup", "HIT")], ACCEPTED.into()),
        ("X-Dedup: miss", c(), 200, vec![("X-Dedup", "miss")], ACCEPTED.into()),
        ("200 whose body is not a VerifyResult", c(), 200, vec![], "not json".into()),
        ("400 invalid_field", cr(), 400, vec![], err("invalid_field", "D_hat: must be finite")),
        ("413 payload_too_large", cr(), 413, vec![], err("payload_too_large", "body over 1048576 bytes")),
        ("415 unsupported_media_type", cr(), 415, vec![], err("unsupported_media_type", "want application/json")),
        ("401 signature_invalid", cr(), 401, vec![], err("signature_invalid", "signature does not match")),
        ("403 unknown_tenant", cr(), 403, vec![], err("unknown_tenant", "no such tenant")),
        ("404 not_found", vec!["Classify", "Retryable", "NotFound"], 404, vec![], err("not_found", "no outcome stored")),
        ("429 with Retry-After", cr(), 429, vec![("Retry-After", "2")], err("rate_limited", "rate limit exceeded")),
        ("429 without Retry-After", cr(), 429, vec![], err("rate_limited", "daily quota exhausted")),
        ("429 with a dated Retry-After", cr(), 429, vec![("Retry-After", "Wed, 21 Oct 2015 07:28:05 GMT"), DATE], err("rate_limited", "slow")),
        ("503 store_unavailable", cr(), 503, vec![("Retry-After", "1")], err("store_unavailable", "shard a is down")),
        ("500 with a body that is not JSON: the code names the status, the message is its first 200 characters", cr(), 500, vec![], long),
        ("502 with an empty body", cr(), 502, vec![], String::new()),
        ("an error body of another shape", cr(), 400, vec![], r#"{"error":"bad"}"#.into()),
    ]
}

fn classify_tests() -> Vec<Value> {
    answers()
        .into_iter()
        .map(|(comment, flags, status, hs, body)| {
            let hs = headers(&hs);
            json!({"comment": comment, "flags": flags, "status": status, "headers": hs, "body": body,
                   "expected": outcome(&classify_response(status, &hs, body.as_bytes()))})
        })
        .collect()
}

// ---------------------------------------------------------------- whole calls

enum Event {
    Answer(u16, Vec<(&'static str, &'static str)>, String),
    Transport(&'static str, bool),
}

fn call_tests() -> Vec<Value> {
    use Event::*;
    let down = || Answer(503, vec![], err("store_unavailable", "later"));
    let ok = || Answer(200, vec![], ACCEPTED.into());
    let cases: Vec<(&str, Vec<&str>, RetryPolicy, u64, Vec<Event>)> = vec![
        ("two 503s, then 200: seeded jitter between", vec!["Backoff", "Retryable"], policy(3, 200, 500, 60_000), 42, vec![down(), down(), ok()]),
        ("503 four times: three retries, then the last error", vec!["Retryable"], policy(3, 100, 400, 60_000), 9, vec![down(), down(), down(), down()]),
        ("429 with Retry-After: 1 waits exactly 1 s", vec!["RetryAfterSeconds"], RetryPolicy::default(), 1,
            vec![Answer(429, vec![("Retry-After", "1")], err("rate_limited", "slow")), ok()]),
        ("503 with a dated Retry-After", vec!["RetryAfterDate"], RetryPolicy::default(), 1,
            vec![Answer(503, vec![("Retry-After", "Wed, 21 Oct 2015 07:28:03 GMT"), DATE], err("store_unavailable", "x")), ok()]),
        ("500 ignores Retry-After (only 429 and 503 carry it)", vec!["Backoff", "Retryable"], policy(3, 100, 400, 60_000), 5,
            vec![Answer(500, vec![("Retry-After", "30")], err("internal", "boom")), ok()]),
        ("a Retry-After beyond the cap ends the call at once", vec!["RetryAfterCap"], policy(3, 100, 400, 60_000), 1,
            vec![Answer(429, vec![("Retry-After", "120")], err("rate_limited", "later"))]),
        ("a Retry-After whose milliseconds pass 2^64 ends the call (no wrap to 384 ms)", vec!["RetryAfterCap"], RetryPolicy::default(), 1,
            vec![Answer(503, vec![("Retry-After", "18446744073709552")], err("store_unavailable", "x"))]),
        ("a 404 ends a lookup at once: no outcome stored", vec!["NotFound", "Retryable"], RetryPolicy::default(), 1,
            vec![Answer(404, vec![], err("not_found", "no outcome stored"))]),
        ("400 is never retried", vec!["Retryable"], RetryPolicy::default(), 1, vec![Answer(400, vec![], err("invalid_json", "line 1"))]),
        ("401 is never retried", vec!["Retryable"], RetryPolicy::default(), 1, vec![Answer(401, vec![], err("signature_missing", "no sig"))]),
        ("a timeout, a refused connection, then 202", vec!["Retryable"], policy(3, 100, 400, 60_000), 77,
            vec![Transport("attempt timed out", true), Transport("connection refused", false), Answer(202, vec![], ESCALATED.into())]),
        ("transport failures until the retries run out", vec!["Retryable"], policy(2, 100, 400, 60_000), 3,
            vec![Transport("reset", false), Transport("reset", false), Transport("timed out", true)]),
        ("no retries: the first 503 ends the call", vec!["Retryable"], policy(0, 100, 400, 60_000), 3, vec![down()]),
    ];
    cases
        .into_iter()
        .map(|(comment, flags, p, seed, events)| {
            let mut cfg = ClientConfig::new("http://127.0.0.1:9", "golden", "1").expect("a valid base URL");
            cfg.retry = p;
            let mut sub = Submission::for_request(&cfg, health_request(&cfg), seed);
            let mut ev_json = Vec::new();
            let mut steps = Vec::new();
            for ev in events {
                let step = match &ev {
                    Answer(status, hs, body) => {
                        let hs = headers(hs);
                        ev_json.push(json!({"status": status, "headers": hs, "body": body}));
                        sub.on_response(*status, &hs, body.as_bytes())
                    }
                    Transport(reason, timeout) => {
                        ev_json.push(json!({"transport": reason, "timeout": timeout}));
                        sub.on_transport_error(reason, *timeout)
                    }
                };
                steps.push(match step {
                    Step::Retry(d) => json!({"retry_ms": big(millis(d))}),
                    Step::Done(r) => json!({"done": outcome(&r)}),
                });
            }
            assert!(steps.last().is_some_and(|s| s.get("done").is_some()), "{comment}: the call must end");
            json!({"comment": comment, "flags": flags, "policy": policy_json(&p), "seed": seed.to_string(),
                   "events": ev_json, "steps": steps})
        })
        .collect()
}

fn numbered(tests: Vec<Value>, next: &mut usize) -> Vec<Value> {
    tests
        .into_iter()
        .map(|mut t| {
            t["tcId"] = json!(*next);
            *next += 1;
            t
        })
        .collect()
}

pub fn protocol_file() -> File<Value> {
    let mut n = 1;
    let groups = vec![
        json!({"type": "backoff", "comment": "Backoff::next_delay called once per entry of calls, with that entry's Retry-After", "tests": numbered(backoff_tests(), &mut n)}),
        json!({"type": "retry_after", "comment": "the delay a Retry-After header asks for, in ms (null: none)", "tests": numbered(retry_after_tests(), &mut n)}),
        json!({"type": "classify", "comment": "one answer to a submit or lookup, classified", "tests": numbered(classify_tests(), &mut n)}),
        json!({"type": "call", "comment": "a call fed these answers or transport failures in order; the step after each", "tests": numbered(call_tests(), &mut n)}),
    ];
    file("fractal-lba client protocol", NOTES, groups, n - 1)
}
