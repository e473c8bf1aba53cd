//! The audit log (SPEC §11) end to end: the real server appends every stored
//! outcome, `fractal audit verify` checks the sealed segments offline and names
//! what was tampered with, `kill -9` leaves neither a gap nor a duplicate, and an
//! object store that refuses writes backs the entries up without losing them.

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Server, copy_dir, fractal};
use fractal_core::audit::{Entry, Seal, entry_hash};
use fractal_core::{BuildInput, Ed25519Keypair, build_pcs, hex};

/// A key file, an object-store directory and the `[audit]` section using them.
struct AuditSetup {
    dir: tempfile::TempDir,
    public_key: String,
    key: Ed25519Keypair,
}

impl AuditSetup {
    fn new() -> AuditSetup {
        let dir = tempfile::tempdir().unwrap();
        let key = Ed25519Keypair::from_seed(&[42; 32]);
        let path = dir.path().join("audit.key");
        std::fs::write(&path, format!("{}\n", key.seed_b64())).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        AuditSetup { public_key: key.public_b64(), key, dir }
    }

    fn store(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    fn config(&self, seal_entries: u64) -> String {
        self.config_with(seal_entries, 65_536)
    }

    /// With a queue of `queue` entries (a small one makes submissions wait for room).
    fn config_with(&self, seal_entries: u64, queue: usize) -> String {
        format!(
            "[audit]\nenabled = true\nkey_file = {:?}\nurl = \"file://{}\"\nregion = \"test-1\"\nseal_entries = {seal_entries}\nseal_secs = 1\nqueue = {queue}\n",
            self.dir.path().join("audit.key"),
            self.store().display()
        )
    }
}


fn verify(source: &Path, public_key: &str) -> Output {
    fractal(&["audit", "verify", source.to_str().unwrap(), "--public-key", public_key])
}

/// An unsigned record with a pcs_id of its own.
fn record(n: u64) -> (String, Vec<u8>) {
    let mut input = BuildInput::example();
    input.epoch = n;
    let p = build_pcs(&input).unwrap();
    (p.pcs_id.clone(), p.to_json())
}

fn metric(s: &Server, name: &str) -> f64 {
    let text = s.metrics_text();
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')).map(|v| v.trim().parse().unwrap()))
        .unwrap_or_else(|| panic!("no metric {name}"))
}

/// Waits until every entry is in the object store.
fn wait_drained(s: &Server, limit: Duration) {
    let until = Instant::now() + limit;
    loop {
        let b = metric(s, "flk_audit_backlog_entries");
        if b == 0.0 {
            return;
        }
        assert!(Instant::now() < until, "the audit backlog did not drain: {b} entries left");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every entry in the object store, in segment order.
fn entries(store: &Path) -> Vec<Entry> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(store.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for n in names {
        for l in std::fs::read_to_string(n).unwrap().lines() {
            out.push(serde_json::from_str(l).unwrap());
        }
    }
    out
}

/// A keep-alive HTTP/1.1 connection (the harness's client closes after each request).
struct Conn {
    r: BufReader<TcpStream>,
    addr: SocketAddr,
}

impl Conn {
    fn new(addr: SocketAddr) -> Conn {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.set_nodelay(true).unwrap();
        Conn { r: BufReader::new(s), addr }
    }

    /// POSTs a record; returns (status, dedup hit).
    fn submit(&mut self, body: &[u8]) -> (u16, bool) {
        let head = format!(
            "POST /v1/pcs/submit HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        let s = self.r.get_mut();
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        let mut line = String::new();
        self.r.read_line(&mut line).unwrap();
        let status: u16 = line[9..12].parse().unwrap();
        let (mut len, mut hit) = (0usize, false);
        loop {
            line.clear();
            self.r.read_line(&mut line).unwrap();
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').unwrap();
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap();
            } else if k.eq_ignore_ascii_case("x-dedup") {
                hit = v.trim() == "hit";
            }
        }
        let mut body = vec![0; len];
        self.r.read_exact(&mut body).unwrap();
        (status, hit)
    }
}

/// Submits records `range` through `conns` keep-alive connections; every one must
/// be stored (200/202, no dedup hit).
fn submit_all(addr: SocketAddr, range: std::ops::Range<u64>, conns: u64) {
    let threads: Vec<_> = (0..conns)
        .map(|c| {
            let range = range.clone();
            std::thread::spawn(move || {
                let mut conn = Conn::new(addr);
                for n in range.filter(|n| n % conns == c) {
                    let (status, hit) = conn.submit(&record(n).1);
                    assert!(matches!(status, 200 | 202) && !hit, "record {n}: {status}, hit {hit}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn a_hundred_thousand_outcomes_make_a_chain_that_verifies() {
    const N: u64 = 100_000;
    let a = AuditSetup::new();
    let s = Server::start(&a.config(10_000));
    let started = Instant::now();
    submit_all(s.addr, 0..N, 16);
    let submitted = started.elapsed();
    // Duplicates are answered from the store and are not stored again: no entry.
    let mut c = Conn::new(s.addr);
    for n in 0..50 {
        assert_eq!(c.submit(&record(n).1), (200, true));
    }
    wait_drained(&s, Duration::from_secs(60));
    let drained = started.elapsed();
    let out = verify(&a.store(), &a.public_key);
    assert!(out.status.success(), "verify failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verified"]["entries"], N, "{v}");
    assert_eq!(v["verified"]["last_seq"], N - 1, "{v}");
    // Sealed by size (10,000) or by time (1 s), whichever came first.
    assert!(v["verified"]["segments"].as_u64().unwrap() >= N / 10_000, "{v}");
    // Every submitted record exactly once, with its own bytes' hash.
    let chain = entries(&a.store());
    let mut ids = HashSet::new();
    for e in &chain {
        assert!(ids.insert(e.pcs_id.clone()), "{} appears twice", e.pcs_id);
        assert_eq!((e.tenant.as_str(), e.region.as_str()), ("default", "test-1"));
    }
    for n in [0, 1, N / 2, N - 1] {
        let (id, body) = record(n);
        let e = chain.iter().find(|e| e.pcs_id == id).unwrap_or_else(|| panic!("record {n} not in the chain"));
        assert_eq!(e.record_sha256, hex(&fractal_core::sha256(&body)));
    }
    assert_eq!(ids.len() as u64, N);
    eprintln!(
        "100k outcomes: submitted in {:.1} s, chain sealed and uploaded at {:.1} s, verified in {:.1} s",
        submitted.as_secs_f64(),
        drained.as_secs_f64(),
        (started.elapsed() - drained).as_secs_f64()
    );
}

fn seg_path(store: &Path, i: u64, ext: &str) -> PathBuf {
    store.join("segments").join(format!("{i:020}.{ext}"))
}

fn read_lines(store: &Path, i: u64) -> Vec<String> {
    std::fs::read_to_string(seg_path(store, i, "jsonl")).unwrap().lines().map(String::from).collect()
}

fn write_lines(store: &Path, i: u64, lines: &[String]) {
    std::fs::write(seg_path(store, i, "jsonl"), lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
}

#[test]
fn tampering_with_any_entry_or_seal_is_detected_and_named() {
    let a = AuditSetup::new();
    let s = Server::start(&a.config(50));
    submit_all(s.addr, 0..200, 4);
    wait_drained(&s, Duration::from_secs(30));
    let intact = a.store();
    let ok = verify(&intact, &a.public_key);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let other = Ed25519Keypair::from_seed(&[9; 32]);
    let forger = other.clone();

    type Tamper = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, Tamper, &str)> = vec![
        (
            "an entry edited",
            Box::new(|d| {
                let mut ls = read_lines(d, 2);
                ls[20] = ls[20].replace("test-1", "test-2");
                write_lines(d, 2, &ls);
            }),
            "entry 120 (segment 2)",
        ),
        (
            "an entry deleted",
            Box::new(|d| {
                let mut ls = read_lines(d, 1);
                ls.remove(25);
                write_lines(d, 1, &ls);
            }),
            "entry 75 (segment 1)",
        ),
        (
            "two entries reordered",
            Box::new(|d| {
                let mut ls = read_lines(d, 0);
                ls.swap(10, 11);
                write_lines(d, 0, &ls);
            }),
            "entry 10 (segment 0)",
        ),
        (
            "the last entry of a segment edited",
            Box::new(|d| {
                let mut ls = read_lines(d, 1);
                ls[49] = ls[49].replace("\"tenant\":\"default\"", "\"tenant\":\"someone\"");
                write_lines(d, 1, &ls);
            }),
            "entry 99 (segment 1)",
        ),
        (
            "a seal's last hash edited",
            Box::new(|d| {
                let p = seg_path(d, 3, "seal.json");
                let mut seal = Seal::parse(&std::fs::read(&p).unwrap()).unwrap();
                seal.last_hash = "00".repeat(32);
                std::fs::write(p, seal.to_bytes()).unwrap();
            }),
            "seal of segment 3: signature does not verify",
        ),
        (
            "an entry edited, the chain recomputed and re-signed with another key",
            Box::new(move |d| {
                let ls = read_lines(d, 3);
                let mut es: Vec<Entry> = ls.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
                es[10].status = if es[10].status == 200 { 202 } else { 200 };
                let mut prev = es[0].prev.clone();
                let mut out = Vec::new();
                for e in &mut es {
                    e.prev = prev.clone();
                    let b = e.to_bytes().unwrap();
                    prev = hex(&entry_hash(&b));
                    out.push(String::from_utf8(b).unwrap());
                }
                write_lines(d, 3, &out);
                let seal = Seal::sign(&forger, 3, es[0].seq, es.last().unwrap().seq, &prev);
                std::fs::write(seg_path(d, 3, "seal.json"), seal.to_bytes()).unwrap();
            }),
            "seal of segment 3: signed by another key",
        ),
        (
            "a whole segment deleted",
            Box::new(|d| {
                std::fs::remove_file(seg_path(d, 1, "jsonl")).unwrap();
                std::fs::remove_file(seg_path(d, 1, "seal.json")).unwrap();
            }),
            "segment 1: missing",
        ),
        (
            "a seal deleted",
            Box::new(|d| std::fs::remove_file(seg_path(d, 2, "seal.json")).unwrap()),
            "seal of segment 2: missing",
        ),
        (
            "a seal replaced by another segment's",
            Box::new(|d| std::fs::copy(seg_path(d, 1, "seal.json"), seg_path(d, 2, "seal.json")).map(|_| ()).unwrap()),
            "seal of segment 2",
        ),
    ];
    for (what, tamper, named) in cases {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(&intact, copy.path());
        tamper(copy.path());
        let out = verify(copy.path(), &a.public_key);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}: verify accepted it");
        assert!(err.contains(named), "{what}: expected {named:?} in {err:?}");
        assert!(out.stdout.is_empty(), "{what}: an error prints nothing on stdout");
        assert!(err.starts_with("error: audit chain: ") && err.lines().count() == 1, "{what}: one line: {err:?}");
    }
    // The intact chain under another key is refused at its first seal.
    let out = verify(&intact, &other.public_b64());
    assert!(String::from_utf8_lossy(&out.stderr).contains("seal of segment 0: signed by another key"));

    // proof: the entry of one outcome and the seal covering it, checked.
    let (id, body) = record(123);
    let out = fractal(&["audit", "proof", "default", &id, intact.to_str().unwrap(), "--public-key", &a.public_key]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let p: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(p["entry"]["pcs_id"], id.as_str());
    assert_eq!(p["entry"]["record_sha256"], hex(&fractal_core::sha256(&body)));
    assert_eq!(p["segment_verified"], true);
    let seq = p["entry"]["seq"].as_u64().unwrap();
    assert!(p["seal"]["first_seq"].as_u64().unwrap() <= seq && seq <= p["seal"]["last_seq"].as_u64().unwrap());
    let out = fractal(&["audit", "proof", "default", "no-such-id", intact.to_str().unwrap()]);
    assert!(!out.status.success());
    // tail: the last entries in order.
    let out = fractal(&["audit", "tail", intact.to_str().unwrap(), "-n", "3"]);
    let t: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let seqs: Vec<u64> = t["entries"].as_array().unwrap().iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, vec![197, 198, 199]);
    // --from: the chain from seq 120 on, anchored by the seal of segment 1.
    let out = fractal(&["audit", "verify", "--from", "120", intact.to_str().unwrap(), "--public-key", &a.public_key]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["verified"]["first_seq"].as_u64(), v["verified"]["entries"].as_u64()), (Some(100), Some(100)));
    let _ = a.key.public_b64();
}

#[test]
fn kill_9_during_appends_resumes_the_chain_without_gap_or_duplicate() {
    let a = AuditSetup::new();
    // A queue of 4: submissions also wait for room in it when the kill comes.
    let mut s = Server::start(&a.config_with(100, 4));
    let next = Arc::new(AtomicU64::new(0));
    let mut acked: HashSet<String> = HashSet::new();
    let mut sent: HashSet<String> = HashSet::new();
    for cycle in 0..4u64 {
        let stop = Arc::new(AtomicBool::new(false));
        let addr = s.addr;
        let clients: Vec<_> = (0..6)
            .map(|_| {
                let (next, stop) = (next.clone(), stop.clone());
                std::thread::spawn(move || {
                    let (mut sent, mut acked) = (Vec::new(), Vec::new());
                    while !stop.load(Ordering::SeqCst) {
                        let (id, body) = record(next.fetch_add(1, Ordering::SeqCst));
                        sent.push(id.clone());
                        let h = [("Content-Type", "application/json")];
                        match common::try_request(addr, "POST", "/v1/pcs/submit", &h, &body) {
                            Ok(r) if matches!(r.status, 200 | 202) && !r.dedup_hit() => acked.push(id),
                            Ok(_) | Err(_) => {}
                        }
                    }
                    (sent, acked)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(700 + 250 * cycle));
        s.kill9();
        stop.store(true, Ordering::SeqCst);
        for c in clients {
            let (se, ac) = c.join().unwrap();
            sent.extend(se);
            acked.extend(ac);
        }
        s.launch();
    }
    assert!(acked.len() > 500, "too few acknowledged records to mean anything: {}", acked.len());
    wait_drained(&s, Duration::from_secs(30));
    let out = verify(&a.store(), &a.public_key);
    assert!(out.status.success(), "verify failed after kill -9: {}", String::from_utf8_lossy(&out.stderr));
    let chain = entries(&a.store());
    let mut count: HashMap<&str, u32> = HashMap::new();
    for e in &chain {
        *count.entry(e.pcs_id.as_str()).or_default() += 1;
    }
    let dup: Vec<_> = count.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dup.is_empty(), "{} outcomes have more than one entry, e.g. {:?}", dup.len(), &dup[..dup.len().min(3)]);
    let missing: Vec<_> = acked.iter().filter(|id| !count.contains_key(id.as_str())).collect();
    assert!(missing.is_empty(), "{} acknowledged outcomes have no entry, e.g. {:?}", missing.len(), missing.first());
    assert!(count.keys().all(|id| sent.contains(*id)), "an entry of a record never sent");
    // And every stored outcome has its entry: the store holds exactly the chain's keys.
    for id in sent.iter().filter(|id| !count.contains_key(id.as_str())) {
        assert_eq!(s.get(None, id).status, 404, "{id} is stored but has no audit entry");
    }
    eprintln!("kill -9 × 4: {} acknowledged, {} sent, {} entries", acked.len(), sent.len(), chain.len());
}

#[test]
fn a_refusing_object_store_backs_up_the_queue_and_drains_when_it_returns() {
    let a = AuditSetup::new();
    let refuse = a.dir.path().join("refuse");
    std::fs::write(&refuse, "").unwrap();
    let s = Server::start_with_env(&a.config(50), &[("FRACTAL_TEST_AUDIT_REFUSE_FILE", refuse.to_str().unwrap())]);
    submit_all(s.addr, 0..500, 4);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(metric(&s, "flk_audit_backlog_entries"), 500.0, "every entry waits");
    assert!(metric(&s, "flk_audit_upload_errors_total") > 0.0);
    assert_eq!(metric(&s, "flk_audit_appended_entries_total"), 500.0);
    let uploaded = std::fs::read_dir(a.store().join("segments")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(uploaded, 0, "nothing reached the refusing store");
    // Submissions go on meanwhile, and the backlog grows.
    submit_all(s.addr, 500..600, 2);
    let until = Instant::now() + Duration::from_secs(5);
    while metric(&s, "flk_audit_backlog_entries") < 600.0 {
        assert!(Instant::now() < until, "the backlog did not grow");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::remove_file(&refuse).unwrap();
    wait_drained(&s, Duration::from_secs(30));
    let out = verify(&a.store(), &a.public_key);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verified"]["entries"], 600);
}

#[test]
fn the_chain_continues_across_a_clean_restart_and_audit_is_off_by_default() {
    let a = AuditSetup::new();
    let mut s = Server::start(&a.config(1000));
    submit_all(s.addr, 0..30, 2);
    assert!(s.term());
    // A clean stop seals the open segment and uploads it.
    let out = verify(&a.store(), &a.public_key);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verified"]["entries"], 30, "{}", String::from_utf8_lossy(&out.stderr));
    s.launch();
    submit_all(s.addr, 30..60, 2);
    wait_drained(&s, Duration::from_secs(30));
    let out = verify(&a.store(), &a.public_key);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verified"]["entries"], 60, "{}", String::from_utf8_lossy(&out.stderr));
    // Without [audit], no audit metrics and no audit files.
    let plain = Server::start("");
    submit_all(plain.addr, 0..5, 1);
    assert!(!plain.metrics_text().contains("flk_audit_"));
    assert!(!plain.data_dir().join("audit").exists());
}

#[test]
fn bad_audit_config_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    let key = dir.path().join("k");
    std::fs::write(&key, "not base64!").unwrap();
    let good = dir.path().join("good");
    std::fs::write(&good, Ed25519Keypair::from_seed(&[1; 32]).seed_b64()).unwrap();
    for (section, named) in [
        ("[audit]\nenabled = true\n".to_string(), "audit.key_file"),
        (format!("[audit]\nenabled = true\nkey_file = {key:?}\n"), "audit.key_file"),
        ("[audit]\nenabled = true\nkey_file = \"/nonexistent\"\n".to_string(), "audit.key_file"),
        (format!("[audit]\nenabled = true\nkey_file = {good:?}\nurl = \"ftp://x\"\n"), "audit.url"),
        (format!("[audit]\nenabled = true\nkey_file = {good:?}\nseal_entries = 0\n"), "audit.seal_entries"),
        (format!("[audit]\nenabled = true\nkey_file = {good:?}\nregion = \"a b\"\n"), "audit.region"),
        ("[audit]\nenable = true\n".to_string(), "enable"),
    ] {
        std::fs::write(&cfg, format!("listen = \"127.0.0.1:0\"\ndata_dir = {:?}\n{section}", dir.path().join("d")))
            .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_fractal")).args(["serve", "--config"]).arg(&cfg).output().unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(named), "expected {named:?} in {err:?}");
    }
}
