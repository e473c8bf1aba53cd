//! Crash safety: `kill -9` while clients stream records, restart, and every record
//! that got a 200 or 202 is still there with the same outcome. Ten cycles, one data
//! directory, small log segments, frequent checkpoints and no retention, so that
//! rotation, replay, checkpointing and pruning all happen under the kill.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;

const KEY: &str = "crash-test-key";

/// What a client saw acknowledged: (epoch, status, body).
type Acked = (u64, u16, Vec<u8>);
const CYCLES: usize = 10;
const CLIENTS: usize = 6;

#[test]
fn acknowledged_records_survive_kill_9() {
    let mut s = Server::start(&format!(
        r#"
signature_policy = "hmac"
[wal]
segment_bytes = 65536
retention_secs = 0
[store]
checkpoint_secs = 1
[[tenants]]
id = "default"
keys = ["{KEY}"]
"#
    ));
    // pcs_id -> (status, body) of every acknowledged submission, across all cycles.
    let acked: Arc<Mutex<HashMap<String, Acked>>> = Arc::default();
    let next_epoch = Arc::new(AtomicU64::new(1));
    let mut total_sent = 0u64;
    for cycle in 0..CYCLES {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let addr = s.addr;
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let (acked, next_epoch, stop, sent) = (acked.clone(), next_epoch.clone(), stop.clone(), sent.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let e = next_epoch.fetch_add(1, Ordering::Relaxed);
                        let p = if e % 3 == 0 { escalated_record(e) } else { record(e) };
                        let body = hmac_signed(p.clone(), KEY);
                        sent.fetch_add(1, Ordering::Relaxed);
                        match try_request(
                            addr,
                            "POST",
                            "/v1/pcs/submit",
                            &[("Content-Type", "application/json")],
                            &body,
                        ) {
                            Ok(r) if r.status == 200 || r.status == 202 => {
                                acked.lock().unwrap().insert(p.pcs_id.clone(), (e, r.status, r.body));
                            }
                            Ok(r) => panic!("unexpected answer {}: {:?}", r.status, String::from_utf8_lossy(&r.body)),
                            Err(_) => return, // the server died mid-request: not acknowledged
                        }
                    }
                })
            })
            .collect();
        // Let the clients run a little while, different each cycle, then kill -9.
        std::thread::sleep(Duration::from_millis(300 + 97 * (cycle as u64 % 5)));
        s.kill9();
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            c.join().unwrap();
        }
        total_sent += sent.load(Ordering::Relaxed);
        s.launch();
        let acked = acked.lock().unwrap();
        assert!(!acked.is_empty());
        for (pcs_id, (_, status, body)) in acked.iter() {
            let g = s.get(None, pcs_id);
            assert_eq!(g.status, 200, "cycle {cycle}: acknowledged {pcs_id} lost after kill -9");
            assert_eq!(&g.body, body, "cycle {cycle}: outcome of {pcs_id} changed");
            assert!(*status == 200 || *status == 202);
        }
        eprintln!("cycle {cycle}: {} acknowledged records intact ({total_sent} sent)", acked.len());
    }
    // A resubmission after all the crashes is a dedup hit with the original status.
    let acked = acked.lock().unwrap();
    for (e, status, body) in acked.values().take(50) {
        let e = *e;
        let p = if e % 3 == 0 { escalated_record(e) } else { record(e) };
        let r = s.post(None, &hmac_signed(p, KEY));
        assert_eq!((r.status, r.dedup_hit(), &r.body), (*status, true, body));
    }
    // Checkpoints pruned the log behind the watermark while the kills went on.
    let first = std::fs::read_dir(s.data_dir().join("wal"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .min()
        .unwrap();
    assert_ne!(first, "wal-000000000000.log", "old segments are pruned");
    assert!(s.term());
}

#[test]
fn corruption_in_the_middle_of_the_log_stops_the_server_at_start() {
    // No checkpoint during the test: the damaged records are above the watermark.
    let mut s = Server::start("[store]\ncheckpoint_secs = 3600\n");
    for e in 0..5 {
        assert_eq!(s.post(None, &record(10_000 + e).to_json()).status, 200);
    }
    s.kill9();
    let wal = s.data_dir().join("wal");
    let seg = std::fs::read_dir(&wal).unwrap().map(|e| e.unwrap().path()).max().unwrap();
    let mut data = std::fs::read(&seg).unwrap();
    // The middle of the records, not of the zeros the log had allocated after them.
    let records = written_len(&data);
    assert!(records < data.len(), "a killed server leaves its log's preallocated space");
    let mid = records / 2;
    data[mid] ^= 0x5a;
    std::fs::write(&seg, &data).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fractal"))
        .args(["serve", "--config"])
        .arg(&s.config)
        .output()
        .unwrap();
    assert!(!out.status.success(), "the server must refuse to start on a damaged log");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("corrupted") && err.contains(&*seg.file_name().unwrap().to_string_lossy()), "{err}");
    assert_eq!(std::fs::read(&seg).unwrap(), data, "nothing is truncated or skipped");
}

#[test]
fn sigterm_finishes_in_flight_requests_and_exits_cleanly() {
    let mut s = Server::start("");
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let next_epoch = Arc::new(AtomicU64::new(50_000));
    let addr = s.addr;
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (acked, next_epoch) = (acked.clone(), next_epoch.clone());
            std::thread::spawn(move || {
                loop {
                    let e = next_epoch.fetch_add(1, Ordering::Relaxed);
                    let body = record(e).to_json();
                    match try_request(addr, "POST", "/v1/pcs/submit", &[("Content-Type", "application/json")], &body) {
                        Ok(r) => {
                            assert_eq!(r.status, 200, "an answered request is answered in full");
                            acked.lock().unwrap().push((e, r.status, r.body));
                        }
                        Err(_) => return, // refused once the listener closed
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(400));
    assert!(s.term(), "SIGTERM exits with status 0");
    for c in clients {
        c.join().unwrap();
    }
    s.launch();
    let acked = acked.lock().unwrap();
    assert!(!acked.is_empty());
    for (e, _, body) in acked.iter() {
        let g = s.get(None, &record(*e).pcs_id);
        assert_eq!((g.status, &g.body), (200, body));
    }
}

fn tenants_config(key: &str, lenient: bool, gone: bool) -> String {
    let mut c = format!(
        "signature_policy = \"hmac\"\n[store]\ncheckpoint_secs = 3600\n[[tenants]]\nid = \"k\"\nkeys = [\"{key}\"]\n[[tenants]]\nid = \"lenient\"\nkeys = [\"{key}\"]\n"
    );
    if lenient {
        c.push_str("[tenants.verify]\nbudget_tol = 0.5\n");
    }
    if gone {
        c.push_str(&format!("[[tenants]]\nid = \"gone\"\nkeys = [\"{key}\"]\n"));
    }
    c
}

#[test]
fn replay_restores_answers_under_rotated_keys_other_tolerances_and_removed_tenants() {
    // No checkpoint during the test: everything below is replayed from the log.
    let mut s = Server::start(&tenants_config("k1", true, true));
    let mut answered = Vec::new();
    for e in 0..100u64 {
        let p = if e % 3 == 0 { escalated_record(70_000 + e) } else { record(70_000 + e) };
        let r = s.post(Some("k"), &hmac_signed(p.clone(), "k1"));
        assert!(r.status == 200 || r.status == 202, "{}", r.status);
        answered.push((p.pcs_id, r.status, r.body));
    }
    // Off budget by 0.2: accepted (200) under budget_tol 0.5, escalated under the default.
    let mut off = record(71_000);
    off.budget = (off.budget + 0.2).min(1.0);
    let lenient = s.post(Some("lenient"), &hmac_signed(off.clone(), "k1"));
    assert_eq!(lenient.status, 200);
    let gone = s.post(Some("gone"), &hmac_signed(record(71_001), "k1"));
    assert_eq!(gone.status, 200);
    s.kill9();

    // Restart with the key rotated to k2, the default tolerances and tenant "gone" removed.
    s.set_config(&tenants_config("k2", false, false));
    s.launch();
    for (pcs_id, status, body) in &answered {
        let g = s.get(Some("k"), pcs_id);
        assert_eq!((g.status, &g.body), (200, body), "the answered outcome of {pcs_id} ({status}) must survive");
    }
    assert_eq!(s.get(Some("lenient"), &off.pcs_id).body, lenient.body, "replay does not judge again");
    let again = s.post(Some("lenient"), &hmac_signed(off.clone(), "k2"));
    assert_eq!((again.status, again.dedup_hit(), &again.body), (200, true, &lenient.body));
    assert!(s.term());

    // The removed tenant comes back: its answered outcome was kept all along.
    s.set_config(&tenants_config("k2", false, true));
    s.launch();
    let g = s.get(Some("gone"), &record(71_001).pcs_id);
    assert_eq!((g.status, &g.body), (200, &gone.body));
    assert!(s.term());
}

#[test]
fn a_repeat_is_not_judged_and_its_log_record_restores_nothing() {
    // A repeat is answered with the stored outcome. Were its own judgement logged, a
    // replay after the stored outcome expired would store that judgement, which
    // nobody was answered: here an escalation under tighter tolerances than those
    // that accepted the original.
    const TTL: u64 = 10;
    let config = |lenient| format!("dedup_ttl_secs = {TTL}\n{}", tenants_config("k1", lenient, false));
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let mut s = Server::start(&config(true));
    let mut off = record(72_000);
    off.budget = (off.budget + 0.2).min(1.0);
    let body = hmac_signed(off.clone(), "k1");
    let t0 = now();
    let first = s.post(Some("lenient"), &body);
    assert_eq!((first.status, first.dedup_hit()), (200, false));
    assert!(s.term());

    // Default tolerances now: the record would be escalated if judged again. Late
    // enough that a judgement logged now would outlive the first outcome by seconds.
    s.set_config(&config(false));
    s.launch();
    std::thread::sleep(Duration::from_secs(4));
    let repeat = s.post(Some("lenient"), &body);
    assert_eq!((repeat.status, repeat.dedup_hit(), &repeat.body), (200, true, &first.body));
    s.kill9();

    // The first outcome expires; the replay of the repeat's record must not bring
    // back an outcome.
    while now() <= t0 + TTL {
        std::thread::sleep(Duration::from_millis(200));
    }
    s.launch();
    assert_eq!(s.get(Some("lenient"), &off.pcs_id).status, 404, "an expired outcome stays gone after a replay");
    let fresh = s.post(Some("lenient"), &body);
    assert_eq!((fresh.status, fresh.dedup_hit()), (202, false), "judged again, as new, under today's tolerances");
    assert!(s.term());
}

#[test]
fn a_downgraded_store_keeps_every_answer_and_upgrades_again() {
    let mut s = Server::start(&format!("signature_policy = \"hmac\"\n[[tenants]]\nid = \"default\"\nkeys = [\"{KEY}\"]\n"));
    let answered: Vec<_> = (0..50u64)
        .map(|e| {
            let p = if e % 5 == 0 { escalated_record(73_000 + e) } else { record(73_000 + e) };
            let r = s.post(None, &hmac_signed(p.clone(), KEY));
            assert!(r.status == 200 || r.status == 202, "{}", r.status);
            (p.pcs_id, r.body)
        })
        .collect();
    let data_dir = s.data_dir();
    let downgrade = || {
        let out = fractal(&["store", "downgrade", "--data-dir", data_dir.to_str().unwrap()]);
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    // Refused while the server holds the file.
    let (ok, _, err) = downgrade();
    assert!(!ok && err.starts_with("error: downgrading"), "{err}");
    assert!(s.term());
    let (ok, out, err) = downgrade();
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((v["format"].as_u64(), v["moved"].as_u64()), (Some(1), Some(50)));
    // This release upgrades it back at start; every answer is still there.
    s.launch();
    for (pcs_id, body) in &answered {
        let g = s.get(None, pcs_id);
        assert_eq!((g.status, &g.body), (200, body), "{pcs_id}");
    }
    assert!(s.term());
}

#[test]
fn the_first_logged_record_wins_after_a_crash() {
    let mut s = Server::start(&format!(
        "signature_policy = \"hmac\"\n[store]\ncheckpoint_secs = 3600\n[[tenants]]\nid = \"default\"\nkeys = [\"{KEY}\"]\n"
    ));
    // 40 pairs sharing a pcs_id (the budget is not part of it): one accepted, one
    // escalated, sent at the same moment. Exactly one of each pair is stored; the
    // other is answered with the first's outcome.
    let addr = s.addr;
    let mut answered = Vec::new();
    for e in 0..40u64 {
        let a = record(80_000 + e);
        let b = escalated_record(80_000 + e);
        assert_eq!(a.pcs_id, b.pcs_id);
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let posts: Vec<_> = [hmac_signed(a.clone(), KEY), hmac_signed(b, KEY)]
            .into_iter()
            .map(|body| {
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    request(addr, "POST", "/v1/pcs/submit", &[("Content-Type", "application/json")], &body)
                })
            })
            .collect();
        let rs: Vec<Resp> = posts.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(rs.iter().filter(|r| !r.dedup_hit()).count(), 1, "pair {e}: one stored, one hit");
        assert_eq!((rs[0].status, &rs[0].body), (rs[1].status, &rs[1].body), "pair {e}: one answer");
        answered.push((a.pcs_id, rs[0].status, rs[0].body.clone()));
    }
    s.kill9();
    s.launch();
    for (pcs_id, status, body) in &answered {
        let g = s.get(None, pcs_id);
        assert_eq!((g.status, &g.body), (200, body), "{pcs_id}: GET must return what was answered ({status})");
    }
    assert!(s.term());
}

#[test]
fn the_log_holds_only_authenticated_records_and_only_they_use_the_quota() {
    let s = Server::start(&format!(
        "signature_policy = \"hmac\"\n[[tenants]]\nid = \"default\"\nkeys = [\"{KEY}\"]\ndaily_quota = 3\n"
    ));
    let before = s.wal_bytes();
    for e in 0..300u64 {
        let r = s.post(None, &hmac_signed(record(90_000 + e), "not-the-key"));
        assert_eq!(r.status, 401);
    }
    for body in [b"{not json".to_vec(), record(90_999).to_json()] {
        assert!(matches!(s.post(None, &body).status, 400 | 401));
    }
    assert_eq!(s.wal_bytes(), before, "refused requests must not reach the log");
    // None of them counted against the daily quota of 3.
    for e in 0..3u64 {
        assert_eq!(s.post(None, &hmac_signed(record(91_000 + e), KEY)).status, 200);
    }
    assert!(s.wal_bytes() > before);
    let r = s.post(None, &hmac_signed(record(91_003), KEY));
    assert_eq!((r.status, r.error().0.as_str()), (429, "rate_limited"));
}

#[test]
fn the_store_heals_after_failed_commits() {
    // Test hook: the store's next 3 write transactions fail as on a full disk.
    let mut s = Server::start_with_env(
        "[store]\ncheckpoint_secs = 1\n",
        &[("FRACTAL_TEST_FAIL_STORE_COMMITS", "3")],
    );
    let mut answered = Vec::new();
    for e in 0..10u64 {
        let p = record(95_000 + e);
        // 503 while the store is failing (fail closed); the client retries.
        let mut last = None;
        assert!(
            wait_until(Duration::from_secs(60), || {
                let r = s.post(None, &p.to_json());
                let done = r.status == 200;
                last = Some(r);
                done
            }),
            "record {e} never stored: {:?}",
            last.map(|r| (r.status, String::from_utf8_lossy(&r.body).to_string()))
        );
        answered.push((p.pcs_id, last.unwrap().body));
        if e == 0 {
            // The first record is answered from the log and the store's memory; its
            // commit (after the writer's batch wait) is the first to fail. The rest
            // arrive while the store is failing.
            let failed = || metric(&s.metrics_text(), "flk_store_write_errors").is_some_and(|n| n >= 1.0);
            assert!(wait_until(Duration::from_secs(60), failed), "the hook never failed a write");
        }
    }
    assert!(wait_until(Duration::from_secs(60), || request(s.addr, "GET", "/ready", &[], b"").status == 200));
    let failures = metric(&s.metrics_text(), "flk_store_write_errors").expect("the failures are counted");
    assert!(failures >= 1.0, "the hook must have failed a write ({failures})");
    for (pcs_id, body) in &answered {
        let g = s.get(None, pcs_id);
        assert_eq!((g.status, &g.body), (200, body));
    }
    assert!(s.term(), "shutdown succeeds once the store has healed");
    s.env.clear();
    s.launch();
    for (pcs_id, body) in &answered {
        assert_eq!(&s.get(None, pcs_id).body, body);
    }
}
