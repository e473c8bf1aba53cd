//! SPEC §6 over real HTTP against the real `fractal` binary.

mod common;

use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::*;
use fractal_core::{Ed25519Keypair, VerifyParams, VerifyResult, verify};

const KEY_A: &str = "tenant-a-secret";
const KEY_B: &str = "tenant-b-secret";

fn two_tenants() -> Server {
    Server::start_with_env(
        r#"
signature_policy = "hmac"
body_limit = 65536
[metrics]
username = "prom"
password_env = "TEST_METRICS_PASSWORD"
[[tenants]]
id = "a"
keys = ["old-a-key", "tenant-a-secret"]
[[tenants]]
id = "b"
key_env = ["TEST_KEY_B"]
"#,
        &[("TEST_KEY_B", KEY_B), ("TEST_METRICS_PASSWORD", "scrape-me")],
    )
}

#[test]
fn accepted_escalated_and_duplicates() {
    let s = two_tenants();
    let ok = record(1);
    let r = s.post(Some("a"), &hmac_signed(ok.clone(), KEY_A));
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    assert!(!r.dedup_hit());
    assert_eq!(r.header("content-type"), Some("application/json"));
    let expected: VerifyResult = verify(&ok, &VerifyParams::default());
    assert_eq!(serde_json::from_slice::<VerifyResult>(&r.body).unwrap(), expected);

    let esc = escalated_record(2);
    let first = s.post(Some("a"), &hmac_signed(esc.clone(), KEY_A));
    assert_eq!(first.status, 202);
    let v: VerifyResult = serde_json::from_slice(&first.body).unwrap();
    assert!(v.accepted && v.escalated && v.reason.as_deref().unwrap().contains("budget"));
    assert!(!first.dedup_hit());

    // Duplicate: the stored result, its original status, the same bytes.
    let dup = s.post(Some("a"), &hmac_signed(esc.clone(), KEY_A));
    assert_eq!(dup.status, 202);
    assert!(dup.dedup_hit());
    assert_eq!(dup.body, first.body);
    // A retry signed with the tenant's other (rotated) key is the same record.
    let dup2 = s.post(Some("a"), &hmac_signed(esc.clone(), "old-a-key"));
    assert_eq!((dup2.status, dup2.dedup_hit(), &dup2.body), (202, true, &first.body));
    let dup_ok = s.post(Some("a"), &hmac_signed(ok.clone(), KEY_A));
    assert_eq!((dup_ok.status, dup_ok.dedup_hit(), &dup_ok.body), (200, true, &r.body));

    // GET answers 200 with the stored result, 404 when none.
    let g = s.get(Some("a"), &esc.pcs_id);
    assert_eq!(g.status, 200);
    assert_eq!(g.body, first.body);
    let missing = s.get(Some("a"), &record(99).pcs_id);
    assert_eq!(missing.status, 404);
    assert_eq!(missing.error().0, "not_found");

    // A record that fails verification outright: accepted=false, 202, stored.
    let mut bad = record(3);
    bad.d_hat += 1.0;
    let rb = s.post(Some("a"), &hmac_signed(bad.clone(), KEY_A));
    assert_eq!(rb.status, 202);
    assert_eq!(rb.json()["accepted"], false);
    assert_eq!(s.get(Some("a"), &bad.pcs_id).body, rb.body);
}

#[test]
fn tenants_are_isolated() {
    let s = two_tenants();
    let p = record(10);
    // b stores an escalated outcome for this pcs_id first...
    let mut b_version = p.clone();
    b_version.budget = 0.0;
    let rb = s.post(Some("b"), &hmac_signed(b_version, KEY_B));
    assert_eq!(rb.status, 202);
    // ...which neither pre-empts nor leaks into a's.
    assert_eq!(s.get(Some("a"), &p.pcs_id).status, 404);
    let ra = s.post(Some("a"), &hmac_signed(p.clone(), KEY_A));
    assert_eq!(ra.status, 200);
    assert!(!ra.dedup_hit());
    assert_eq!(s.get(Some("b"), &p.pcs_id).body, rb.body);
    assert_eq!(s.get(Some("a"), &p.pcs_id).body, ra.body);
    // a's key does not sign for b.
    let cross = s.post(Some("b"), &hmac_signed(record(11), KEY_A));
    assert_eq!(cross.status, 401);
    assert_eq!(cross.error().0, "signature_invalid");
    // The default tenant is not configured here.
    let r = s.post(None, &hmac_signed(record(12), KEY_A));
    assert_eq!(r.status, 403);
    assert_eq!(r.error().0, "unknown_tenant");
    assert_eq!(s.get(Some("nobody"), &p.pcs_id).status, 403);
}

#[test]
fn every_error_row() {
    let s = two_tenants();
    let post = |body: &[u8], headers: &[(&str, &str)]| request(s.addr, "POST", "/v1/pcs/submit", headers, body);
    let json_a = [("Content-Type", "application/json"), ("X-Tenant-Id", "a")];

    // 400 invalid_json
    let r = post(b"{\"pcs_id\": ", &json_a);
    assert_eq!((r.status, r.error().0.as_str()), (400, "invalid_json"));
    // 400 invalid_field, naming the field
    let mut v = record(20).to_value();
    v["epoch"] = serde_json::json!("one");
    let r = post(v.to_string().as_bytes(), &json_a);
    assert_eq!((r.status, r.error().0.as_str()), (400, "invalid_field"));
    assert!(r.error().1.contains("epoch"), "{}", r.error().1);
    let mut v = record(21).to_value();
    v.as_object_mut().unwrap().remove("merkle_root");
    let r = post(v.to_string().as_bytes(), &json_a);
    assert_eq!((r.status, r.error().0.as_str()), (400, "invalid_field"));
    assert!(r.error().1.contains("merkle_root"), "{}", r.error().1);
    // 401 signature_missing / signature_invalid — and nothing is stored.
    let unsigned = record(22);
    let r = post(&unsigned.to_json(), &json_a);
    assert_eq!((r.status, r.error().0.as_str()), (401, "signature_missing"));
    let r = post(&hmac_signed(unsigned.clone(), "wrong-key"), &json_a);
    assert_eq!((r.status, r.error().0.as_str()), (401, "signature_invalid"));
    let mut tampered = record(22);
    tampered.sig = Some(fractal_core::sign_hmac(&tampered, KEY_A.as_bytes()).unwrap());
    tampered.coh_star = 0.9;
    let r = post(&tampered.to_json(), &json_a);
    assert_eq!((r.status, r.error().0.as_str()), (401, "signature_invalid"));
    assert_eq!(s.get(Some("a"), &unsigned.pcs_id).status, 404, "refused records store nothing");
    // 403 unknown_tenant
    let r = post(&hmac_signed(record(23), KEY_A), &[("Content-Type", "application/json"), ("X-Tenant-Id", "mallory")]);
    assert_eq!((r.status, r.error().0.as_str()), (403, "unknown_tenant"));
    // 405 method_not_allowed
    let r = request(s.addr, "GET", "/v1/pcs/submit", &[], b"");
    assert_eq!((r.status, r.error().0.as_str()), (405, "method_not_allowed"));
    let r = request(s.addr, "DELETE", &format!("/v1/pcs/{}", record(1).pcs_id), &[], b"");
    assert_eq!((r.status, r.error().0.as_str()), (405, "method_not_allowed"));
    let r = request(s.addr, "POST", "/health", &[], b"");
    assert_eq!(r.status, 405);
    // 413 payload_too_large (this server's limit is 64 KiB)
    let mut big = record(24).to_value();
    big["padding"] = serde_json::json!("x".repeat(70_000));
    let r = post(big.to_string().as_bytes(), &json_a);
    assert_eq!((r.status, r.error().0.as_str()), (413, "payload_too_large"));
    // 415 unsupported_media_type
    let r = post(&hmac_signed(record(25), KEY_A), &[("Content-Type", "text/plain"), ("X-Tenant-Id", "a")]);
    assert_eq!((r.status, r.error().0.as_str()), (415, "unsupported_media_type"));
    let r = post(&hmac_signed(record(25), KEY_A), &[("X-Tenant-Id", "a")]);
    assert_eq!(r.status, 415);
    assert_eq!(s.get(Some("a"), &record(25).pcs_id).status, 404);
    // Unknown paths
    assert_eq!(request(s.addr, "GET", "/nope", &[], b"").status, 404);
    // Unknown fields are ignored by verification but signed by v2, and a charset
    // parameter is fine.
    let mut v = record(26).to_value();
    v["future_field"] = serde_json::json!({"x": 1});
    let mut extra = fractal_core::Pcs::from_value(v).unwrap();
    extra.sig = Some(fractal_core::sign_hmac(&extra, KEY_A.as_bytes()).unwrap());
    let json_utf8 = [("Content-Type", "application/json; charset=utf-8"), ("X-Tenant-Id", "a")];
    let r = post(&extra.to_json(), &json_utf8);
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    // Dropping (or changing) the unknown field breaks the v2 signature.
    let mut v = extra.to_value();
    v.as_object_mut().unwrap().remove("future_field");
    let r = post(v.to_string().as_bytes(), &json_utf8);
    assert_eq!((r.status, r.error().0.as_str()), (401, "signature_invalid"));
}

#[test]
fn rate_limits_and_quotas_answer_429_with_retry_after() {
    let s = Server::start(
        r#"
[[tenants]]
id = "slow"
rate = 0.5
burst = 2
[[tenants]]
id = "capped"
daily_quota = 3
"#,
    );
    let mut codes = Vec::new();
    for i in 0..4 {
        codes.push(s.post(Some("slow"), &record(100 + i).to_json()));
    }
    assert_eq!(codes.iter().map(|r| r.status).collect::<Vec<_>>(), vec![200, 200, 429, 429]);
    assert_eq!(codes[2].error().0, "rate_limited");
    let retry: u64 = codes[2].header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    // A refused request stores nothing.
    assert_eq!(s.get(Some("slow"), &record(102).pcs_id).status, 404);

    for i in 0..3 {
        assert_eq!(s.post(Some("capped"), &record(200 + i).to_json()).status, 200);
    }
    let r = s.post(Some("capped"), &record(203).to_json());
    assert_eq!((r.status, r.error().0.as_str()), (429, "rate_limited"));
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=86_400).contains(&retry));
    // Another tenant's budget is its own.
    assert_eq!(s.post(Some("slow"), &record(300).to_json()).status, 429);
}

#[test]
fn concurrent_submissions_of_one_pcs_id_store_one_outcome() {
    let s = two_tenants();
    let body = Arc::new(hmac_signed(escalated_record(500), KEY_A));
    let n = 24;
    let barrier = Arc::new(Barrier::new(n));
    let addr = s.addr;
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let (body, barrier) = (body.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                request(
                    addr,
                    "POST",
                    "/v1/pcs/submit",
                    &[("Content-Type", "application/json"), ("X-Tenant-Id", "a")],
                    &body,
                )
            })
        })
        .collect();
    let answers: Vec<Resp> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(answers.iter().all(|r| r.status == 202 && r.body == answers[0].body));
    assert_eq!(answers.iter().filter(|r| !r.dedup_hit()).count(), 1, "exactly one request stored the outcome");
    let m = request(s.addr, "GET", "/metrics", &[("Authorization", "Basic cHJvbTpzY3JhcGUtbWU=")], b"");
    let text = String::from_utf8(m.body).unwrap();
    assert_eq!(metric(&text, "flk_escalated"), Some(1.0));
    assert_eq!(metric(&text, "flk_dedup_hits"), Some((n - 1) as f64));
}

#[test]
fn ed25519_tenants_and_per_tenant_tolerances() {
    let kp = Ed25519Keypair::from_seed(&[7u8; 32]);
    let s = Server::start(&format!(
        r#"
signature_policy = "ed25519"
[[tenants]]
id = "default"
keys = ["{}"]
[[tenants]]
id = "lenient"
keys = ["{}"]
[tenants.verify]
budget_tol = 0.5
"#,
        kp.public_b64(),
        kp.public_b64()
    ));
    let r = s.post(None, &ed25519_signed(record(600), &kp));
    assert_eq!(r.status, 200);
    let other = Ed25519Keypair::from_seed(&[8u8; 32]);
    let r = s.post(None, &ed25519_signed(record(601), &other));
    assert_eq!((r.status, r.error().0.as_str()), (401, "signature_invalid"));
    // The same off-budget record: escalated under the defaults, accepted under 0.5.
    let mut off = record(602);
    off.budget = (off.budget + 0.2).min(1.0);
    assert_eq!(s.post(None, &ed25519_signed(off.clone(), &kp)).status, 202);
    assert_eq!(s.post(Some("lenient"), &ed25519_signed(off, &kp)).status, 200);
}

#[test]
fn health_ready_and_metrics_auth() {
    let s = two_tenants();
    let h = request(s.addr, "GET", "/health", &[], b"");
    assert_eq!(h.status, 200);
    assert_eq!(request(s.addr, "GET", "/ready", &[], b"").status, 200);
    let m = request(s.addr, "GET", "/metrics", &[], b"");
    assert_eq!(m.status, 401);
    assert!(m.header("www-authenticate").is_some());
    let wrong = request(s.addr, "GET", "/metrics", &[("Authorization", "Basic cHJvbTp3cm9uZw==")], b"");
    assert_eq!(wrong.status, 401);
    s.post(Some("a"), &hmac_signed(record(700), KEY_A));
    s.post(Some("a"), &record(701).to_json());
    let m = request(s.addr, "GET", "/metrics", &[("Authorization", "Basic cHJvbTpzY3JhcGUtbWU=")], b"");
    assert_eq!(m.status, 200);
    let text = String::from_utf8(m.body).unwrap();
    for name in [
        "flk_ingest_total",
        "flk_dedup_hits",
        "flk_accepted",
        "flk_escalated",
        "flk_signature_errors",
        "flk_wal_errors",
    ] {
        assert!(metric(&text, name).is_some(), "{name} missing:\n{text}");
    }
    assert_eq!(metric(&text, "flk_ingest_total"), Some(2.0));
    assert_eq!(metric(&text, "flk_accepted"), Some(1.0));
    assert_eq!(metric(&text, "flk_signature_errors"), Some(1.0));
    assert_eq!(metric(&text, "flk_signature_errors_by_tenant{tenant=\"a\"}"), Some(1.0));
    assert!(text.contains("flk_request_duration_seconds_bucket"));
    assert!(text.contains("flk_wal_fsync_duration_seconds_bucket"));
    assert!(!text.contains(KEY_A) && !text.contains("scrape-me"));
}

#[test]
fn log_failure_answers_503_and_stores_nothing() {
    // Tiny segments: the log rotates every few records. A directory squatting on the
    // next segment's name makes the rotation — a real file-system operation — fail.
    let s = Server::start("[wal]\nsegment_bytes = 4096\n");
    let wal = s.data_dir().join("wal");
    let next_segment = |wal: &std::path::Path| {
        let mut ids: Vec<String> =
            std::fs::read_dir(wal).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        ids.sort();
        let last: u64 = ids.last().unwrap()[4..16].parse().unwrap();
        wal.join(format!("wal-{:012}.log", last + 1))
    };
    let blocker = next_segment(&wal);
    std::fs::create_dir(&blocker).unwrap();
    let mut refused = None;
    for epoch in 800..820 {
        let p = record(epoch);
        let r = s.post(None, &p.to_json());
        if r.status == 503 {
            refused = Some((p, r));
            break;
        }
        assert_eq!(r.status, 200);
    }
    let (p, r) = refused.expect("the log filled its 4 KiB segment and failed to rotate");
    assert_eq!(r.error().0, "store_unavailable");
    assert!(r.header("retry-after").is_some());
    assert_eq!(s.get(None, &p.pcs_id).status, 404);
    assert_eq!(request(s.addr, "GET", "/ready", &[], b"").status, 503);
    assert_eq!(request(s.addr, "GET", "/health", &[], b"").status, 200);
    // The fault clears: the same record goes through.
    std::fs::remove_dir(&blocker).unwrap();
    let again = s.post(None, &p.to_json());
    assert_eq!(again.status, 200);
    assert!(wait_until(Duration::from_secs(5), || request(s.addr, "GET", "/ready", &[], b"").status == 200));
    let m = request(s.addr, "GET", "/metrics", &[], b"");
    assert!(metric(&String::from_utf8(m.body).unwrap(), "flk_wal_errors").unwrap() >= 1.0);
}

#[test]
fn outcomes_survive_a_graceful_restart() {
    let mut s = Server::start("");
    let a = s.post(None, &record(900).to_json());
    let b = s.post(None, &escalated_record(901).to_json());
    assert!(s.term(), "SIGTERM exits cleanly");
    s.launch();
    assert_eq!(s.get(None, &record(900).pcs_id).body, a.body);
    let again = s.post(None, &escalated_record(901).to_json());
    assert_eq!((again.status, again.dedup_hit(), &again.body), (202, true, &b.body));
}

/// Opens a connection and sends `bytes` (then nothing more).
fn stalled(addr: std::net::SocketAddr, bytes: &[u8]) -> std::net::TcpStream {
    use std::io::Write;
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.write_all(bytes).unwrap();
    c
}

/// Whether the server closed the connection (EOF or reset) within `timeout`,
/// ignoring any answer it sent first.
fn closed_by_server(c: &mut std::net::TcpStream, timeout: Duration) -> bool {
    use std::io::Read;
    let end = std::time::Instant::now() + timeout;
    let mut buf = [0u8; 4096];
    c.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    while std::time::Instant::now() < end {
        match c.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => continue,
            Err(_) => return true,
        }
    }
    false
}

const HALF_HEADER: &[u8] = b"POST /v1/pcs/submit HTTP/1.1\r\nHost: x\r\nContent-Ty";

#[test]
fn slowloris_headers_are_cut_and_others_are_served() {
    let s = Server::start("[http]\nheader_read_timeout_secs = 1\nidle_timeout_secs = 30\n");
    let mut conns: Vec<_> = (0..50).map(|_| stalled(s.addr, HALF_HEADER)).collect();
    // Others are served meanwhile.
    assert_eq!(s.post(None, &record(1_000).to_json()).status, 200);
    for (i, c) in conns.iter_mut().enumerate() {
        assert!(closed_by_server(c, Duration::from_secs(30)), "half-header connection {i} still open");
    }
    // A connection that sends nothing at all is cut by the header timeout too.
    let mut silent = stalled(s.addr, b"");
    assert!(closed_by_server(&mut silent, Duration::from_secs(30)));
}

#[test]
fn a_stalled_body_gets_408() {
    let s = Server::start("[http]\nbody_read_timeout_secs = 1\n");
    let body = record(1_001).to_json();
    let head = format!(
        "POST /v1/pcs/submit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut c = stalled(s.addr, head.as_bytes());
    {
        use std::io::Write;
        c.write_all(&body[..10]).unwrap();
    }
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut raw = Vec::new();
    let _ = std::io::Read::read_to_end(&mut c, &mut raw);
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("request_timeout"), "{text}");
    assert_eq!(s.get(None, &record(1_001).pcs_id).status, 404);
}

#[test]
fn the_connection_cap_holds_and_frees() {
    let s = Server::start("[http]\nmax_connections = 2\nheader_read_timeout_secs = 120\n");
    let a = stalled(s.addr, HALF_HEADER);
    let _b = stalled(s.addr, HALF_HEADER);
    // Give the server every chance to accept them, then a third client waits: the cap is
    // reached, so the server does not take its connection.
    assert!(wait_until(Duration::from_secs(30), || {
        // Poll until the two stalled connections are accepted (their slot is taken).
        let mut probe = stalled(s.addr, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        probe.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        let mut buf = [0u8; 64];
        std::io::Read::read(&mut probe, &mut buf).is_err()
    }));
    let mut third = stalled(s.addr, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    third.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut buf = [0u8; 256];
    assert!(std::io::Read::read(&mut third, &mut buf).is_err(), "a third connection must wait for a slot");
    // One stalled client leaves: the waiting one is served.
    a.shutdown(std::net::Shutdown::Both).unwrap();
    drop(a);
    third.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let n = std::io::Read::read(&mut third, &mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
}

#[test]
fn sigterm_cuts_stalled_clients_after_the_grace_period() {
    let mut s = Server::start("[http]\nshutdown_grace_secs = 1\nbody_read_timeout_secs = 300\nheader_read_timeout_secs = 300\n");
    let body = record(1_002).to_json();
    let head = format!(
        "POST /v1/pcs/submit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut upload = stalled(s.addr, head.as_bytes());
    {
        use std::io::Write;
        upload.write_all(&body[..10]).unwrap();
    }
    let _slow = stalled(s.addr, HALF_HEADER);
    // Both are accepted (the gauge counts them and the scrape's own connection).
    assert!(wait_until(Duration::from_secs(30), || {
        metric(&s.metrics_text(), "flk_open_connections").is_some_and(|n| n >= 3.0)
    }));
    let mut child = s.child.take().unwrap();
    std::process::Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    let mut status = None;
    assert!(
        wait_until(Duration::from_secs(60), || {
            status = child.try_wait().unwrap();
            status.is_some()
        }),
        "the server must exit after its grace period despite stalled clients"
    );
    let _ = child.kill();
    assert!(status.unwrap().success());
    assert!(closed_by_server(&mut upload, Duration::from_secs(5)));
}
