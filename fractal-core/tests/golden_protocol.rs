//! Walks every case of `golden/client/protocol.json` through `fractal_core::protocol`:
//! the backoff schedule, `Retry-After`, the classification of answers and whole calls.

use std::time::Duration;

use fractal_core::protocol::{
    Backoff, ClientConfig, ClientError, RetryPolicy, Step, SubmitResponse, Submission, classify_response,
    health_request, millis, retry_after,
};
use serde_json::{Value, json};

#[path = "golden/support.rs"]
mod support;

fn load() -> Value {
    support::load("client/protocol.json")
}

/// A u64 written as a JSON number or (beyond 2^53 − 1) a decimal string.
fn int(v: &Value) -> Option<u64> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.parse().expect("a decimal string")),
        n => Some(n.as_u64().expect("a non-negative integer")),
    }
}

fn same_int(got: Option<u64>, want: &Value) -> bool {
    got == int(want) && (got.is_none_or(|n| n < 1 << 53) == !want.is_string())
}

fn headers(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .expect("headers")
        .iter()
        .map(|p| (p[0].as_str().unwrap().to_string(), p[1].as_str().unwrap().to_string()))
        .collect()
}

fn policy(v: &Value) -> RetryPolicy {
    serde_json::from_value(v.clone()).expect("a retry policy")
}

fn seed(t: &Value) -> u64 {
    assert!(t["seed"].is_string(), "seeds are strings");
    int(&t["seed"]).unwrap()
}

/// Whether a call's result matches the file's `{"ok": …}` or `{"error": …}`.
fn matches(got: &Result<SubmitResponse, ClientError>, want: &Value) -> Result<(), String> {
    match (got, want.get("ok"), want.get("error")) {
        (Ok(r), Some(w), None) => {
            let g = json!({"status": r.status, "accepted": r.result.accepted, "dedup_hit": r.dedup_hit});
            if &g == w { Ok(()) } else { Err(format!("got {g}, want {w}")) }
        }
        (Err(e), None, Some(w)) => {
            let ok = e.kind() == w["kind"]
                && e.status().map(u64::from) == w["status"].as_u64()
                && e.code() == w["code"].as_str()
                && e.message() == w["message"].as_str()
                && same_int(e.retry_after_ms(), &w["retry_after_ms"])
                && Some(e.is_retryable()) == w["retryable"].as_bool()
                && Some(e.is_not_found()) == w["not_found"].as_bool();
            if ok { Ok(()) } else { Err(format!("got {e:?}, want {w}")) }
        }
        _ => Err(format!("got {got:?}, want {want}")),
    }
}

#[test]
fn protocol_vectors() {
    let doc = load();
    let groups = doc["testGroups"].as_array().expect("testGroups");
    let (mut checked, mut failures) = (0, Vec::new());
    let mut types = Vec::new();
    for g in groups {
        types.push(g["type"].as_str().unwrap());
        for t in g["tests"].as_array().expect("tests") {
            checked += 1;
            let at = format!("client/protocol.json #{} ({})", t["tcId"], t["comment"].as_str().unwrap());
            let mut fail = |what: String| failures.push(format!("{at}: {what}"));
            match g["type"].as_str().unwrap() {
                "backoff" => {
                    let mut b = Backoff::new(policy(&t["policy"]), seed(t));
                    for (k, c) in t["calls"].as_array().unwrap().iter().enumerate() {
                        let d = b.next_delay(int(&c["retry_after_ms"]).map(Duration::from_millis));
                        if !same_int(d.map(millis), &c["delay_ms"]) {
                            fail(format!("call {k}: got {d:?}, want {}", c["delay_ms"]));
                        }
                    }
                }
                "retry_after" => {
                    let d = retry_after(&headers(&t["headers"]));
                    if !same_int(d.map(millis), &t["delay_ms"]) {
                        fail(format!("got {d:?}, want {}", t["delay_ms"]));
                    }
                }
                "classify" => {
                    let r = classify_response(
                        t["status"].as_u64().unwrap() as u16,
                        &headers(&t["headers"]),
                        t["body"].as_str().unwrap().as_bytes(),
                    );
                    if let Err(e) = matches(&r, &t["expected"]) {
                        fail(e);
                    }
                }
                "call" => {
                    let mut cfg = ClientConfig::new("http://127.0.0.1:9", "golden", "1").unwrap();
                    cfg.retry = policy(&t["policy"]);
                    let mut sub = Submission::for_request(&cfg, health_request(&cfg), seed(t));
                    let (events, steps) = (t["events"].as_array().unwrap(), t["steps"].as_array().unwrap());
                    assert_eq!(events.len(), steps.len(), "{at}: one step per event");
                    for (k, (ev, want)) in events.iter().zip(steps).enumerate() {
                        let step = match ev.get("transport") {
                            Some(reason) => {
                                sub.on_transport_error(reason.as_str().unwrap(), ev["timeout"].as_bool().unwrap())
                            }
                            None => sub.on_response(
                                ev["status"].as_u64().unwrap() as u16,
                                &headers(&ev["headers"]),
                                ev["body"].as_str().unwrap().as_bytes(),
                            ),
                        };
                        let ok = match (&step, want.get("retry_ms"), want.get("done")) {
                            (Step::Retry(d), Some(w), None) => same_int(Some(millis(*d)), w),
                            (Step::Done(r), None, Some(w)) => matches(r, w).is_ok(),
                            _ => false,
                        };
                        if !ok {
                            fail(format!("step {k}: got {step:?}, want {want}"));
                        }
                    }
                }
                other => fail(format!("unknown group type {other}")),
            }
        }
    }
    assert_eq!(types, ["backoff", "retry_after", "classify", "call"], "every group type is walked");
    assert_eq!(doc["numberOfTests"].as_u64(), Some(checked as u64), "numberOfTests");
    assert!(failures.is_empty(), "{} of {checked} cases disagree:\n{}", failures.len(), failures.join("\n"));
}
