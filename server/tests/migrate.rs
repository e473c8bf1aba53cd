//! Shard migration under live load (SPEC §9, last point): two replicas serve a load
//! of new and repeated records while `fractal dedup-migrate` grows two PostgreSQL
//! shards to three (and shrinks three to two). Every acknowledged outcome is answered
//! identically before, during and after; no key is stored twice; `verify` finds no
//! difference; `cleanup` deletes exactly the moved keys; a copy killed halfway
//! (SIGKILL when growing, Ctrl-C when shrinking) resumes at its checkpoint.
//!
//! The clusters come from `make services` (build/services.env, shards a, b and c).
//! Each run creates its own databases on them (and drops them), so the ring table
//! and the key counts are this test's alone. Without the services it FAILS.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use fractal_core::{DEFAULT_VNODES, Ring, ShardSpec};

const KEY: &str = "migrate-test-key";
const PRELOAD: u64 = 1500;

fn services() -> HashMap<String, String> {
    common::services(&["FRACTAL_TEST_PG_A", "FRACTAL_TEST_PG_B", "FRACTAL_TEST_PG_C"])
}

fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql").args([url, "-tAqc", sql]).output().expect("psql runs");
    assert!(out.status.success(), "psql: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Fresh databases, one per cluster, dropped at the end (even on failure).
struct Dbs {
    admin: HashMap<&'static str, String>,
    urls: HashMap<&'static str, String>,
    name: String,
}

impl Dbs {
    fn create(what: &str) -> Dbs {
        let vars = services();
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() % 1_000_000_000;
        let name = format!("flk_migrate_{what}_{}_{nanos}", std::process::id());
        let mut admin = HashMap::new();
        let mut urls = HashMap::new();
        for (s, k) in [("a", "FRACTAL_TEST_PG_A"), ("b", "FRACTAL_TEST_PG_B"), ("c", "FRACTAL_TEST_PG_C")] {
            let url = vars[k].clone();
            psql(&url, &format!("CREATE DATABASE {name}"));
            let base = url.rsplit_once('/').unwrap().0;
            urls.insert(s, format!("{base}/{name}"));
            admin.insert(s, url);
        }
        Dbs { admin, urls, name }
    }

    fn psql(&self, shard: &str, sql: &str) -> String {
        psql(&self.urls[shard], sql)
    }

    /// The server configuration `[store]` of a ring over these shards.
    fn store(&self, shards: &[&str]) -> String {
        let mut s = "[store]\nbackend = \"postgres\"\ncheckpoint_secs = 1\n".to_string();
        for n in shards {
            s += &format!("[[store.shards]]\nname = \"{n}\"\nurl = \"{}\"\nweight = 1\n", self.urls[n]);
        }
        s
    }

    /// (tenant, pcs_id) of every row of a shard.
    fn keys(&self, shard: &str, tenant: &str) -> Vec<String> {
        let out = self.psql(shard, &format!("SELECT pcs_id FROM fractal_outcomes WHERE tenant = '{tenant}'"));
        out.lines().filter(|l| !l.is_empty()).map(String::from).collect()
    }

    fn copied(&self, shards: &[&str]) -> i64 {
        shards
            .iter()
            .map(|s| {
                self.psql(s, "SELECT coalesce(sum(copied), 0) FROM fractal_migration_copy").parse::<i64>().unwrap()
            })
            .sum()
    }
}

impl Drop for Dbs {
    fn drop(&mut self) {
        for url in self.admin.values() {
            let _ = Command::new("psql")
                .args([url, "-qc", &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)])
                .output();
        }
    }
}

fn ring(shards: &[&str]) -> Ring {
    let specs: Vec<ShardSpec> =
        shards.iter().map(|n| ShardSpec { name: n.to_string(), weight: 1, healthy: true }).collect();
    Ring::with_shards(DEFAULT_VNODES, &specs).unwrap()
}

/// Acknowledged answers and what the load saw.
#[derive(Default)]
struct Load {
    stop: AtomicBool,
    paused_new: AtomicBool,
    next_epoch: AtomicU64,
    answers: Mutex<HashMap<u64, (u16, Vec<u8>)>>,
    epochs: Mutex<Vec<u64>>,
    mismatches: Mutex<Vec<String>>,
    failures: Mutex<Vec<String>>,
    ops: AtomicU64,
}

impl Load {
    /// Submits record `epoch` through `addr`; checks the answer against the first one.
    fn submit(&self, addr: std::net::SocketAddr, tenant: &str, epoch: u64) {
        let body = hmac_signed(escalated_record(epoch), KEY);
        let h = [("Content-Type", "application/json"), ("X-Tenant-Id", tenant)];
        let r = request(addr, "POST", "/v1/pcs/submit", &h, &body);
        self.ops.fetch_add(1, Ordering::Relaxed);
        if r.status != 200 && r.status != 202 {
            self.failures.lock().unwrap().push(format!(
                "epoch {epoch}: {} {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            ));
            return;
        }
        let mut answers = self.answers.lock().unwrap();
        match answers.get(&epoch) {
            Some((s, b)) if (*s, b) != (r.status, &r.body) => {
                self.mismatches.lock().unwrap().push(format!("epoch {epoch}: {s} then {}", r.status));
            }
            Some(_) => {}
            None => {
                answers.insert(epoch, (r.status, r.body));
                self.epochs.lock().unwrap().push(epoch);
            }
        }
    }

    /// Until stopped: new records (unless paused) and repeats of acknowledged ones,
    /// alternately through both replicas.
    fn run(self: Arc<Self>, addrs: [std::net::SocketAddr; 2], tenant: String, seed: u64) {
        let mut x = seed | 1;
        while !self.stop.load(Ordering::Relaxed) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let addr = addrs[(x % 2) as usize];
            let known = self.epochs.lock().unwrap().len() as u64;
            if known > 0 && !(x >> 8).is_multiple_of(3) || self.paused_new.load(Ordering::Relaxed) {
                let epoch = self.epochs.lock().unwrap()[((x >> 16) % known.max(1)) as usize];
                self.submit(addr, &tenant, epoch);
            } else {
                let epoch = self.next_epoch.fetch_add(1, Ordering::Relaxed);
                self.submit(addr, &tenant, epoch);
            }
        }
    }
}

struct Tool {
    from: PathBuf,
    to: PathBuf,
}

impl Tool {
    fn cmd(&self, step: &str, extra: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_fractal"));
        c.args(["dedup-migrate", step, "--from"]).arg(&self.from).arg("--to").arg(&self.to).arg("--json").args(extra);
        c
    }

    fn run(&self, step: &str, extra: &[&str]) -> serde_json::Value {
        let out = self.cmd(step, extra).stderr(Stdio::piped()).output().unwrap();
        assert!(
            out.status.success(),
            "{step}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{step}: {e}: {:?}", out.stdout))
    }
}

/// Rows per shard whose owner under `ring` is another shard.
fn misplaced(dbs: &Dbs, shards: &[&str], ring: &Ring, tenant: &str) -> HashMap<String, usize> {
    shards
        .iter()
        .map(|s| (s.to_string(), dbs.keys(s, tenant).iter().filter(|k| ring.pick(k.as_bytes()).unwrap() != *s).count()))
        .collect()
}

fn migrate_under_load(what: &str, from: &[&str], to: &[&str], ctrl_c: bool) {
    let started = Instant::now();
    let dbs = Dbs::create(what);
    let t = format!("mig-{what}-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let tool = Tool { from: dir.path().join("old.toml"), to: dir.path().join("new.toml") };
    std::fs::write(&tool.from, dbs.store(from)).unwrap();
    std::fs::write(&tool.to, dbs.store(to)).unwrap();
    let all: Vec<&str> = from.iter().chain(to).copied().collect::<HashSet<_>>().into_iter().collect();
    let new_ring = ring(to);
    // Two replicas that would judge an escalated record differently (a lost key would
    // be decided anew, and differently): both configured with the old ring only.
    let tenant = |extra: &str| {
        format!(
            "signature_policy = \"hmac\"\n{}\n[[tenants]]\nid = \"{t}\"\nkeys = [\"{KEY}\"]\n{extra}",
            dbs.store(from)
        )
    };
    let r1 = Server::start(&tenant(""));
    let r2 = Server::start(&tenant("[tenants.verify]\nbudget_tol = 0.9"));
    let load = Arc::new(Load::default());
    // Before: a preload through both replicas.
    for e in 0..PRELOAD {
        load.submit(if e % 2 == 0 { r1.addr } else { r2.addr }, &t, e);
    }
    load.next_epoch.store(PRELOAD, Ordering::SeqCst);
    let workers: Vec<_> = (0..2)
        .map(|i| {
            let (l, t) = (load.clone(), t.clone());
            let addrs = [r1.addr, r2.addr];
            std::thread::spawn(move || l.run(addrs, t, 0x9e37_79b9 + i))
        })
        .collect();

    let plan = tool.run("plan", &["--rate", "500"]);
    assert!(plan["moved_keys"].as_u64().unwrap() > 100, "{plan}");
    assert!(!plan["ranges"].as_array().unwrap().is_empty());
    for p in plan["pairs"].as_array().unwrap() {
        assert!(to.contains(&p["to"].as_str().unwrap()) && p["from"] != p["to"], "{p}");
    }

    // A copy stopped halfway: SIGKILL (nothing runs after it), or SIGINT (Ctrl-C:
    // it stops between batches and says so) ...
    let targets: Vec<&str> = to.to_vec();
    let mut child = tool
        .cmd("copy", &["--rate", "300", "--batch", "20"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(30), || dbs.copied(&targets) >= 60), "the copy made no progress");
    if ctrl_c {
        assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
        let out = child.wait_with_output().unwrap();
        assert!(!out.status.success(), "an interrupted copy does not report success");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["interrupted"], true, "{v}");
    } else {
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let k = dbs.copied(&targets);
    let planned: i64 = plan["moved_keys"].as_i64().unwrap();
    assert!(k > 0 && k < planned, "killed at {k} of {planned}");
    // ... resumes where it stopped: it reads only what its checkpoint has not passed.
    let resumed = tool.run("copy", &["--rate", "0"]);
    assert_eq!(resumed["checkpointed_before"].as_i64(), Some(k), "{resumed}");
    let moved_now: usize = misplaced(&dbs, from, &new_ring, &t).values().sum();
    let scanned = resumed["scanned_moved"].as_i64().unwrap();
    assert!(scanned + k <= moved_now as i64 + 20, "rescanned: {scanned} + {k} > {moved_now}");
    // Rerunning copies nothing twice.
    let again = tool.run("copy", &["--rate", "0"]);
    assert_eq!((again["copied"].as_u64(), again["scanned_moved"].as_u64()), (Some(0), Some(0)), "{again}");
    assert!(
        wait_until(Duration::from_secs(5), || metric(&r1.metrics_text(), "flk_migration_keys_copied")
            >= Some(k as f64)),
        "the replicas report the copy"
    );

    let verified = tool.run("verify", &[]);
    assert_eq!(verified["differences"].as_u64(), Some(0), "{verified}");
    for p in verified["pairs"].as_array().unwrap() {
        assert_eq!(p["source_hash"], p["target_hash"], "{p}");
        assert_eq!(p["source_keys"], p["target_keys"], "{p}");
    }
    // Cleanup refuses before cutover.
    assert!(!tool.cmd("cleanup", &["--grace-secs", "0"]).output().unwrap().status.success());
    let cut = tool.run("cutover", &[]);
    assert_eq!(cut["phase"], "cutover", "{cut}");
    assert!(!tool.cmd("cleanup", &["--grace-secs", "3600"]).output().unwrap().status.success(), "the grace holds");
    std::thread::sleep(Duration::from_millis(500));

    // Cleanup deletes exactly the moved keys. New records pause for the count (the
    // repeats go on): a new key written during cutover would be copied to its old
    // owner between the count and the cleanup.
    load.paused_new.store(true, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(300));
    let expected = misplaced(&dbs, from, &new_ring, &t);
    let kept: HashMap<&str, usize> = from.iter().map(|s| (*s, dbs.keys(s, &t).len() - expected[*s])).collect();
    let cleaned = tool.run("cleanup", &["--grace-secs", "0"]);
    load.paused_new.store(false, Ordering::SeqCst);
    let want: usize = expected.values().sum();
    assert_eq!(cleaned["deleted"].as_u64(), Some(want as u64), "{cleaned} vs {expected:?}");
    for s in from {
        assert_eq!(cleaned["by_shard"][s].as_u64().unwrap_or(0), expected[*s] as u64, "{cleaned}");
    }

    // After: more load on the new ring, then every answer is checked.
    std::thread::sleep(Duration::from_secs(2));
    load.stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().unwrap();
    }
    assert!(load.failures.lock().unwrap().is_empty(), "failed requests: {:?}", &load.failures.lock().unwrap()[..]);
    assert!(load.mismatches.lock().unwrap().is_empty(), "changed answers: {:?}", &load.mismatches.lock().unwrap()[..]);
    let answers: Vec<u64> = load.epochs.lock().unwrap().clone();
    std::thread::scope(|sc| {
        for chunk in answers.chunks(answers.len().div_ceil(4)) {
            let (load, t) = (&load, &t);
            sc.spawn(move || {
                for e in chunk {
                    load.submit(r1.addr, t, *e);
                    load.submit(r2.addr, t, *e);
                }
            });
        }
    });
    assert!(load.mismatches.lock().unwrap().is_empty(), "changed answers: {:?}", &load.mismatches.lock().unwrap()[..]);
    // No key is stored twice; each is on its owner under the new ring; none is lost.
    let mut seen = HashSet::new();
    for s in &all {
        for k in dbs.keys(s, &t) {
            assert_eq!(new_ring.pick(k.as_bytes()).unwrap(), *s, "a row left on its old owner");
            assert!(seen.insert(k), "a key stored twice");
        }
    }
    assert_eq!(seen.len(), answers.len(), "one row per acknowledged record");
    for s in from {
        assert!(dbs.keys(s, &t).len() >= kept[*s], "cleanup deleted a key that stays on {s}");
    }
    let m = r2.metrics_text();
    assert_eq!(metric(&m, "flk_migration_phase{phase=\"stable\"}"), Some(1.0), "the replicas are back to stable");
    eprintln!(
        "{what}: {} keys, {} moved, {} requests in {:.1} s",
        answers.len(),
        want,
        load.ops.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn growing_two_shards_to_three_under_load_keeps_every_answer() {
    migrate_under_load("grow", &["a", "b"], &["a", "b", "c"], false);
}

#[test]
fn shrinking_three_shards_to_two_under_load_keeps_every_answer() {
    migrate_under_load("shrink", &["a", "b", "c"], &["a", "b"], true);
}
