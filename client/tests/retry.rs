//! The client against a scripted HTTP server on loopback: the retry schedule,
//! Retry-After, no retry on 401, timeouts, and the request it sends.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fractal_client::{Client, ClientError, RetryPolicy};
use fractal_core::{Algorithm, BuildInput, Pcs, Verifier, build_pcs};

#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    head: String,
    body: Vec<u8>,
}

/// Serves one scripted answer per request (status, extra headers, body, delay).
fn scripted(
    script: Vec<(u16, &'static str, &'static str, u64)>,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        let mut script = script.into_iter();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let Some((status, headers, body, delay_ms)) = script.next() else {
                return;
            };
            let log = log.clone();
            // One thread per connection, so a slow answer does not hold up the next.
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = String::new();
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                    head.push_str(&line);
                }
                let mut req_body = vec![0u8; len];
                reader.read_exact(&mut req_body).unwrap();
                log.lock().unwrap().push(Seen {
                    at: Instant::now(),
                    head,
                    body: req_body,
                });
                std::thread::sleep(Duration::from_millis(delay_ms));
                let reason = match status {
                    200 => "OK",
                    202 => "Accepted",
                    401 => "Unauthorized",
                    429 => "Too Many Requests",
                    503 => "Service Unavailable",
                    _ => "X",
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n{body}",
                    body.len()
                );
            });
        }
    });
    (format!("http://{addr}"), seen)
}

const OK: &str =
    r#"{"accepted":true,"escalated":false,"recomputed_D_hat":1.0,"recomputed_budget":0.5}"#;
const RATE: &str = r#"{"error":{"code":"rate_limited","message":"slow down"}}"#;
const DOWN: &str = r#"{"error":{"code":"store_unavailable","message":"try later"}}"#;
const BADSIG: &str = r#"{"error":{"code":"signature_invalid","message":"does not verify"}}"#;

fn pcs() -> Pcs {
    build_pcs(&BuildInput::example()).unwrap()
}

fn fast() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        base_delay_ms: 20,
        max_delay_ms: 50,
        ..Default::default()
    }
}

#[test]
fn retries_503_and_429_with_retry_after_then_succeeds_blocking() {
    let (url, seen) = scripted(vec![
        (503, "Retry-After: 1\r\n", DOWN, 0),
        (429, "Retry-After: 1\r\n", RATE, 0),
        (200, "X-Dedup: hit\r\n", OK, 0),
    ]);
    let client = Client::builder(&url)
        .tenant("acme")
        .signing_key(Algorithm::Hmac, "s3cret")
        .retry(fast())
        .build_blocking()
        .unwrap();
    let out = client.submit(&pcs()).unwrap();
    assert_eq!(out.status, 200);
    assert!(out.dedup_hit);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    for pair in seen.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(950),
            "Retry-After not honoured: {gap:?}"
        );
    }
    // Every attempt carries the same signed body and the SDK's headers.
    let first = &seen[0];
    assert!(seen.iter().all(|s| s.body == first.body));
    let head = first.head.to_ascii_lowercase();
    assert!(head.starts_with("post /v1/pcs/submit http/1.1"), "{head}");
    assert!(head.contains("x-tenant-id: acme"));
    assert!(head.contains("content-type: application/json"));
    assert!(head.contains("user-agent: fractal-lba-rust/"));
    let sent = Pcs::from_json(&first.body).unwrap();
    let mut v = Verifier::new();
    v.add_hmac_key(b"s3cret").unwrap();
    v.verify(&sent).unwrap();
}

#[test]
fn gives_up_after_max_retries() {
    let (url, seen) = scripted(vec![(503, "", DOWN, 0); 5]);
    let client = Client::builder(&url)
        .retry(fast())
        .build_blocking()
        .unwrap();
    let err = client.submit(&pcs()).unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(err.kind(), "api");
    assert_eq!(seen.lock().unwrap().len(), 4, "1 attempt + 3 retries");
}

#[test]
fn never_retries_401() {
    let (url, seen) = scripted(vec![(401, "", BADSIG, 0), (200, "", OK, 0)]);
    let client = Client::builder(&url)
        .retry(fast())
        .build_blocking()
        .unwrap();
    match client.submit(&pcs()).unwrap_err() {
        ClientError::Signature { code, .. } => assert_eq!(code, "signature_invalid"),
        other => panic!("{other:?}"),
    }
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[test]
fn invalid_records_are_not_sent() {
    let (url, seen) = scripted(vec![(200, "", OK, 0)]);
    let client = Client::builder(&url).build_blocking().unwrap();
    let mut bad = pcs();
    bad.coh_star = 7.0;
    let err = client.submit(&bad).unwrap_err();
    assert_eq!(err.kind(), "validation");
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn async_client_times_out_each_attempt_and_retries() {
    let (url, seen) = scripted(vec![(200, "", OK, 1500), (202, "", OK, 0)]);
    let client = Client::builder(&url)
        .timeout(Duration::from_millis(300))
        .retry(fast())
        .build()
        .unwrap();
    let out = client.submit(&pcs()).await.unwrap();
    assert_eq!(out.status, 202);
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn get_maps_404_to_none() {
    let (url, _seen) = scripted(vec![
        (
            404,
            "",
            r#"{"error":{"code":"not_found","message":"none"}}"#,
            0,
        ),
        (200, "", OK, 0),
    ]);
    let client = Client::builder(&url).build().unwrap();
    assert_eq!(client.get("abc").await.unwrap(), None);
    assert!(client.get("abc").await.unwrap().unwrap().accepted);
}
