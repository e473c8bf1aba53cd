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
    let mid = data.len() / 2;
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
