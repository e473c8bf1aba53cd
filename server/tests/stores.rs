//! Shared stores against real services (SPEC §9): two server replicas over two
//! PostgreSQL shards, Redis as the hot tier, SeaweedFS S3 as the cold archive.
//!
//! The services come from `make services` (addresses in `build/services.env`). Without
//! them these tests FAIL and say so: they never skip. They run one at a time (one
//! lock), because one of them stops and restarts a PostgreSQL shard.

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use common::*;
use fractal_core::{Ring, ShardSpec};

const KEY: &str = "stores-test-key";

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// The services' addresses: `build/services.env`, overridden by the environment.
struct Services(HashMap<String, String>);

impl Services {
    fn get() -> Services {
        Services(common::services(&["FRACTAL_TEST_PG_A", "FRACTAL_TEST_PG_B", "FRACTAL_TEST_REDIS", "FRACTAL_TEST_S3"]))
    }

    fn var(&self, k: &str) -> &str {
        self.0.get(k).unwrap_or_else(|| panic!("{k} missing from build/services.env: run `make services`"))
    }

    /// The environment a replica needs for S3 (endpoint and credentials).
    fn s3_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.var("FRACTAL_TEST_S3").to_string()),
            ("AWS_ACCESS_KEY_ID", self.0.get("AWS_ACCESS_KEY_ID").cloned().unwrap_or_default()),
            ("AWS_SECRET_ACCESS_KEY", self.0.get("AWS_SECRET_ACCESS_KEY").cloned().unwrap_or_default()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }

    fn psql(&self, shard: &str, sql: &str) -> String {
        let url = self.var(if shard == "a" { "FRACTAL_TEST_PG_A" } else { "FRACTAL_TEST_PG_B" });
        let out = Command::new("psql").args([url, "-tAqc", sql]).output().expect("psql runs");
        assert!(out.status.success(), "psql: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    fn count(&self, tenant: &str, filter: &str) -> u64 {
        ["a", "b"]
            .iter()
            .map(|s| {
                self.psql(s, &format!("SELECT count(*) FROM fractal_outcomes WHERE tenant = '{tenant}' {filter}"))
                    .parse::<u64>()
                    .unwrap()
            })
            .sum()
    }

    fn pg_ctl(&self, shard: &str, action: &str) {
        let data = self.var(if shard == "a" { "FRACTAL_TEST_PG_A_DATA" } else { "FRACTAL_TEST_PG_B_DATA" });
        let bin = format!("{}/pg_ctl", self.var("FRACTAL_TEST_PG_BIN"));
        let port = self
            .var(if shard == "a" { "FRACTAL_TEST_PG_A" } else { "FRACTAL_TEST_PG_B" })
            .rsplit(':')
            .next()
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let opts = format!("-p {port} -k {data} -c listen_addresses=127.0.0.1 -c max_connections=200");
        let mut args = vec!["-u", "postgres", "--", &bin, "-D", data, "-w", "-t", "30"];
        if action == "start" {
            args.extend(["-l", "/dev/null", "-o", &opts, "start"]);
        } else {
            args.extend(["-m", "fast", "stop"]);
        }
        let st = Command::new("runuser").args(&args).status().unwrap();
        assert!(st.success(), "pg_ctl {action} of shard {shard}");
    }
}

/// A tenant id unique to this run, so tests never see each other's rows.
fn tenant(name: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() % 1_000_000_000;
    format!("{name}-{}-{nanos}", std::process::id())
}

/// Config of a replica over the two shards; `extra` goes into `[store]`, `tenant_extra`
/// into the tenant's table.
fn config(svc: &Services, tenant: &str, store_extra: &str, tenant_extra: &str, top: &str) -> String {
    format!(
        r#"signature_policy = "hmac"
{top}
[store]
backend = "postgres"
checkpoint_secs = 1
{store_extra}
[[store.shards]]
name = "a"
url = "{a}"
weight = 1
[[store.shards]]
name = "b"
url = "{b}"
weight = 1
[[tenants]]
id = "{tenant}"
keys = ["{KEY}"]
{tenant_extra}
"#,
        a = svc.var("FRACTAL_TEST_PG_A"),
        b = svc.var("FRACTAL_TEST_PG_B"),
    )
}

fn ring() -> Ring {
    let specs = ["a", "b"].map(|n| ShardSpec { name: n.into(), weight: 1, healthy: true });
    Ring::with_shards(fractal_core::DEFAULT_VNODES, &specs).unwrap()
}

fn owner(pcs_id: &str) -> String {
    ring().pick(pcs_id.as_bytes()).unwrap().to_string()
}

fn ready_json(s: &Server) -> (u16, serde_json::Value) {
    let r = request(s.addr, "GET", "/ready", &[], b"");
    (r.status, r.json())
}

/// SPEC §6/§9: first write wins across replicas, in the database. Two replicas with
/// different tolerances (so they would decide one record differently) get the same
/// records at the same time: every pair of answers is identical, and each record is
/// one row, on the shard the ring picks for its pcs_id.
#[test]
fn replicas_racing_on_one_key_answer_the_one_outcome_the_authority_holds() {
    let _g = serial();
    let svc = Services::get();
    let t = tenant("race");
    let r1 = Server::start(&config(&svc, &t, "", "", ""));
    let r2 = Server::start(&config(&svc, &t, "", "[tenants.verify]\nbudget_tol = 0.9", ""));
    // The two replicas do judge differently on their own.
    let x = r1.post(Some(&t), &hmac_signed(escalated_record(900_001), KEY));
    let y = r2.post(Some(&t), &hmac_signed(escalated_record(900_002), KEY));
    assert_ne!(x.status, y.status, "the replicas' tolerances differ");
    const N: u64 = 150;
    let mut handles = Vec::new();
    for e in 0..N {
        let body = hmac_signed(escalated_record(910_000 + e), KEY);
        let (a1, a2, t1, t2, b1, b2) = (r1.addr, r2.addr, t.clone(), t.clone(), body.clone(), body);
        let h = |addr, t: String, b: Vec<u8>| {
            std::thread::spawn(move || {
                request(
                    addr,
                    "POST",
                    "/v1/pcs/submit",
                    &[("Content-Type", "application/json"), ("X-Tenant-Id", &t)],
                    &b,
                )
            })
        };
        handles.push((e, h(a1, t1, b1), h(a2, t2, b2)));
    }
    let mut outcomes = HashMap::new();
    for (e, h1, h2) in handles {
        let (p, q) = (h1.join().unwrap(), h2.join().unwrap());
        assert!(p.status == 200 || p.status == 202, "{}: {:?}", p.status, String::from_utf8_lossy(&p.body));
        assert_eq!((p.status, &p.body), (q.status, &q.body), "record {e}: the replicas answered differently");
        assert!(p.dedup_hit() || q.dedup_hit(), "record {e}: exactly one replica decided");
        outcomes.insert(escalated_record(910_000 + e).pcs_id, p);
    }
    assert_eq!(svc.count(&t, ""), N + 2, "one row per record");
    // Each row lives on the shard the ring picks (SPEC §7: by the bytes of pcs_id).
    let mut per_shard = HashMap::new();
    for shard in ["a", "b"] {
        let ids = svc.psql(shard, &format!("SELECT pcs_id FROM fractal_outcomes WHERE tenant = '{t}'"));
        for id in ids.lines() {
            assert_eq!(owner(id), shard, "{id} is on shard {shard}, but the ring picks {}", owner(id));
            *per_shard.entry(shard).or_insert(0) += 1;
        }
    }
    assert_eq!(per_shard.len(), 2, "both shards hold keys: {per_shard:?}");
    // Reads through either replica give the stored outcome.
    for (id, p) in outcomes.iter().take(20) {
        for r in [&r1, &r2] {
            let g = r.get(Some(&t), id);
            assert_eq!((g.status, &g.body), (200, &p.body));
        }
    }
}

/// SPEC §6 "never changes": kill -9 of a replica under load loses no acknowledged
/// outcome; the other replica and the restarted one answer every one of them.
#[test]
fn kill_9_of_a_replica_under_load_loses_no_acknowledged_outcome() {
    let _g = serial();
    let svc = Services::get();
    let t = tenant("kill");
    let mut r1 = Server::start(&config(&svc, &t, "", "", ""));
    let r2 = Server::start(&config(&svc, &t, "", "", ""));
    type Acked = HashMap<String, (u16, Vec<u8>)>;
    let acked: Arc<Mutex<Acked>> = Arc::default();
    let next = Arc::new(AtomicU64::new(920_000));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..6)
        .map(|i| {
            let (acked, next, stop, t) = (acked.clone(), next.clone(), stop.clone(), t.clone());
            let addr = if i % 2 == 0 { r1.addr } else { r2.addr };
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let e = next.fetch_add(1, Ordering::Relaxed);
                    let p = if e % 3 == 0 { escalated_record(e) } else { record(e) };
                    let h = [("Content-Type", "application/json"), ("X-Tenant-Id", t.as_str())];
                    match try_request(addr, "POST", "/v1/pcs/submit", &h, &hmac_signed(p.clone(), KEY)) {
                        Ok(r) if r.status == 200 || r.status == 202 => {
                            acked.lock().unwrap().insert(p.pcs_id, (r.status, r.body));
                        }
                        Ok(r) => panic!("unexpected {}: {:?}", r.status, String::from_utf8_lossy(&r.body)),
                        Err(_) if addr == r1.addr => return, // killed mid-request: not acknowledged
                        Err(e) => panic!("replica 2 failed: {e}"),
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    r1.kill9();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    r1.launch();
    let acked = acked.lock().unwrap();
    assert!(acked.len() > 50, "load ran: {} acknowledged", acked.len());
    for (id, (status, body)) in acked.iter() {
        for r in [&r1, &r2] {
            let g = r.get(Some(&t), id);
            assert_eq!(g.status, 200, "acknowledged {id} lost");
            assert_eq!(&g.body, body, "outcome of {id} changed");
        }
        assert!(*status == 200 || *status == 202);
    }
    assert!(svc.count(&t, "") >= acked.len() as u64, "a row for every acknowledged outcome");
}

/// Starts the shard again when the test ends, even if it fails.
struct Restart<'a>(&'a Services, &'a str, bool);

impl Drop for Restart<'_> {
    fn drop(&mut self) {
        if !self.2 {
            self.0.pg_ctl(self.1, "start");
        }
    }
}

/// SPEC §9 fail closed: the owning shard down → 503 store_unavailable + Retry-After
/// for its keys only, never decided elsewhere; /ready names the shard; the other
/// shard keeps serving; when the shard returns, everything answered before is there
/// unchanged and its keys are served again.
#[test]
fn a_shard_down_fails_closed_for_its_keys_only_and_recovers_with_nothing_lost() {
    let _g = serial();
    let svc = Services::get();
    let t = tenant("down");
    let r = Server::start(&config(&svc, &t, "", "", ""));
    let mut before = HashMap::new();
    for e in 930_000..930_040 {
        let p = record(e);
        let a = r.post(Some(&t), &hmac_signed(p.clone(), KEY));
        assert_eq!(a.status, 200);
        before.insert(p.pcs_id, a.body);
    }
    svc.pg_ctl("b", "stop");
    let mut guard = Restart(&svc, "b", false);
    // Records owned by b: 503 + Retry-After (the first ones may be logged and kept
    // for the shard's return); owned by a: served.
    let (mut on_a, mut on_b) = (Vec::new(), Vec::new());
    for e in 931_000..931_060 {
        let p = record(e);
        if owner(&p.pcs_id) == "a" { on_a.push(p) } else { on_b.push(p) }
    }
    for p in &on_b {
        let a = r.post(Some(&t), &hmac_signed(p.clone(), KEY));
        assert_eq!(a.status, 503, "{}", String::from_utf8_lossy(&a.body));
        assert_eq!(a.error().0, "store_unavailable");
        assert!(a.header("retry-after").is_some());
    }
    for p in &on_a {
        assert_eq!(r.post(Some(&t), &hmac_signed(p.clone(), KEY)).status, 200, "shard a keeps serving");
    }
    for (id, body) in &before {
        let g = r.get(Some(&t), id);
        if owner(id) == "a" {
            assert_eq!((g.status, &g.body), (200, body));
        } else {
            assert_eq!(g.status, 503, "a read of a down shard's key fails closed, it is not a 404");
        }
    }
    let (status, j) = ready_json(&r);
    assert_eq!(status, 200, "one shard still serves: {j}");
    assert_eq!(
        (j["status"].as_str(), j["shards"]["a"].as_str(), j["shards"]["b"].as_str()),
        (Some("degraded"), Some("up"), Some("down"))
    );
    let m = r.metrics_text();
    assert!(m.contains("flk_store_shard_up{shard=\"b\"} 0"), "{m}");
    // The shard returns: the server finds it by itself.
    svc.pg_ctl("b", "start");
    guard.2 = true;
    assert!(wait_until(Duration::from_secs(20), || ready_json(&r).1["status"] == "ready"), "shard b is back");
    for (id, body) in &before {
        let g = r.get(Some(&t), id);
        assert_eq!((g.status, &g.body), (200, body), "{id} unchanged after the outage");
    }
    for p in &on_b {
        let a = r.post(Some(&t), &hmac_signed(p.clone(), KEY));
        assert_eq!(a.status, 200);
        assert_eq!(owner(&p.pcs_id), "b");
    }
    assert_eq!(svc.count(&t, ""), (before.len() + on_a.len() + on_b.len()) as u64);
}

/// A replica restarted while a shard is down starts and serves the other shard's
/// keys; the replayed records of the down shard wait in the log and are stored when
/// it returns (SPEC §6: replay restores what was answered).
#[test]
fn a_replica_restarted_while_a_shard_is_down_serves_the_others_and_drains_the_log_later() {
    let _g = serial();
    let svc = Services::get();
    let t = tenant("replay");
    // No checkpoint during the test: every record is above the watermark and replayed.
    let mut r = Server::start(&config(&svc, &t, "", "", "").replace("checkpoint_secs = 1", "checkpoint_secs = 3600"));
    let mut answers = Vec::new();
    for e in 980_000..980_030 {
        let p = record(e);
        let a = r.post(Some(&t), &hmac_signed(p.clone(), KEY));
        assert_eq!(a.status, 200);
        answers.push((p, a));
    }
    r.kill9();
    svc.pg_ctl("b", "stop");
    let mut guard = Restart(&svc, "b", false);
    r.launch(); // returns once it listens: replay did not wait for shard b
    for (p, a) in &answers {
        let g = r.get(Some(&t), &p.pcs_id);
        if owner(&p.pcs_id) == "a" {
            assert_eq!((g.status, &g.body), (200, &a.body));
        } else {
            assert_eq!(g.status, 503);
        }
    }
    svc.pg_ctl("b", "start");
    guard.2 = true;
    assert!(wait_until(Duration::from_secs(20), || ready_json(&r).1["status"] == "ready"));
    for (p, a) in &answers {
        let g = r.get(Some(&t), &p.pcs_id);
        assert_eq!((g.status, &g.body), (200, &a.body), "{} after the shard returned", p.pcs_id);
    }
    // A clean stop checkpoints past the drained records.
    assert!(r.term());
}

/// SPEC §9 "no tier may hold an outcome that differs from the authority": Redis is a
/// cache. Flushing it changes no answer; a replica whose Redis is unreachable answers
/// the same (slower, never wrong).
#[test]
fn flushing_or_losing_redis_changes_no_answer() {
    let _g = serial();
    let svc = Services::get();
    let t = tenant("hot");
    let hot = format!("[store.hot]\nurl = \"{}\"\nttl_secs = 600", svc.var("FRACTAL_TEST_REDIS"));
    let r = Server::start(&config(&svc, &t, &hot, "", ""));
    let dead = Server::start(&config(&svc, &t, "[store.hot]\nurl = \"redis://127.0.0.1:1/0\"", "", ""));
    let mut answers = Vec::new();
    for e in 940_000..940_030 {
        let p = if e % 2 == 0 { escalated_record(e) } else { record(e) };
        let a = r.post(Some(&t), &hmac_signed(p.clone(), KEY));
        assert!(a.status == 200 || a.status == 202);
        answers.push((p, a));
    }
    let check = |label: &str| {
        for (p, a) in &answers {
            for s in [&r, &dead] {
                let g = s.get(Some(&t), &p.pcs_id);
                assert_eq!((g.status, &g.body), (200, &a.body), "{label}: read of {}", p.pcs_id);
                let again = s.post(Some(&t), &hmac_signed(p.clone(), KEY));
                assert_eq!((again.status, again.dedup_hit(), &again.body), (a.status, true, &a.body), "{label}");
            }
        }
    };
    check("warm cache");
    // Redis's copy never outlives the hot TTL (600 s here).
    let ttl = Command::new("redis-cli")
        .args(["-u", svc.var("FRACTAL_TEST_REDIS"), "TTL", &format!("flk:o:{t}:{}", answers[0].0.pcs_id)])
        .output()
        .unwrap();
    let ttl: i64 = String::from_utf8_lossy(&ttl.stdout).trim().parse().unwrap();
    assert!((1..=600).contains(&ttl), "hot TTL {ttl}");
    let m = r.metrics_text();
    assert!(metric(&m, "flk_store_hits_total{tier=\"hot\"}").unwrap_or(0.0) > 0.0, "the hot tier answers reads");
    let out = Command::new("redis-cli").args(["-u", svc.var("FRACTAL_TEST_REDIS"), "FLUSHALL"]).output().unwrap();
    assert!(out.status.success());
    check("after FLUSHALL");
    assert!(metric(&dead.metrics_text(), "flk_store_errors_total{shard=\"redis\",tier=\"hot\"}").unwrap_or(0.0) > 0.0);
}

/// SPEC §9 tiers: outcomes past their tenant's warm TTL move to immutable objects
/// (the body leaves PostgreSQL, the row keeps the object and range: the index), a
/// read promotes them back unchanged, and the object store refuses overwrites.
#[test]
fn demotion_to_the_object_store_then_promotion_back_and_objects_are_create_only() {
    let _g = serial();
    let svc = Services::get();
    let t = tenant("cold");
    let cold = format!(
        "demote_secs = 1\n[store.cold]\nurl = \"s3://{}/t{}\"",
        svc.var("FRACTAL_TEST_S3_BUCKET"),
        std::process::id()
    );
    let env = svc.s3_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = Server::start_with_env(&config(&svc, &t, &cold, "warm_ttl_secs = 1\ncold = true", ""), &env);
    let mut answers = Vec::new();
    for e in 950_000..950_025 {
        let p = if e % 2 == 0 { escalated_record(e) } else { record(e) };
        let a = r.post(Some(&t), &hmac_signed(p.clone(), KEY));
        answers.push((p, a));
    }
    assert!(
        wait_until(Duration::from_secs(20), || svc.count(&t, "AND body IS NULL") == answers.len() as u64),
        "every outcome demoted: {} of {}",
        svc.count(&t, "AND body IS NULL"),
        answers.len()
    );
    assert_eq!(svc.count(&t, "AND cold_object IS NULL"), 0, "each row keeps its object and range");
    // A resubmission of a demoted key is a dedup hit with the original answer.
    let (p0, a0) = &answers[0];
    let again = r.post(Some(&t), &hmac_signed(p0.clone(), KEY));
    assert_eq!((again.status, again.dedup_hit(), &again.body), (a0.status, true, &a0.body));
    for (p, a) in &answers {
        let g = r.get(Some(&t), &p.pcs_id);
        assert_eq!((g.status, &g.body), (200, &a.body), "cold read of {}", p.pcs_id);
    }
    let m = r.metrics_text();
    assert!(metric(&m, "flk_store_promotions_total{tier=\"warm\"}").unwrap_or(0.0) > 0.0, "{m}");
    // The object store refuses to overwrite an archive object.
    let obj = svc.psql(
        &owner(&p0.pcs_id),
        &format!("SELECT cold_object FROM fractal_outcomes WHERE tenant = '{t}' AND pcs_id = '{}'", p0.pcs_id),
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let refused = rt.block_on(async {
        use object_store::ObjectStore;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let s3 = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(svc.var("FRACTAL_TEST_S3_BUCKET"))
            .with_endpoint(svc.var("FRACTAL_TEST_S3"))
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_access_key_id(svc.0.get("AWS_ACCESS_KEY_ID").cloned().unwrap_or_default())
            .with_secret_access_key(svc.0.get("AWS_SECRET_ACCESS_KEY").cloned().unwrap_or_default())
            .build()
            .unwrap();
        let path = object_store::path::Path::from(format!("t{}/{obj}", std::process::id()));
        let opts = object_store::PutOptions { mode: object_store::PutMode::Create, ..Default::default() };
        s3.put_opts(&path, object_store::PutPayload::from_static(b"overwrite"), opts).await
    });
    assert!(matches!(refused, Err(object_store::Error::AlreadyExists { .. })), "{refused:?}");
}

/// Tier policies are per tenant (`cold = false` keeps a tenant's outcomes warm), and
/// a `file://` archive is create-only as S3 is.
#[test]
fn tier_policies_are_per_tenant_and_a_file_archive_is_create_only() {
    let _g = serial();
    let svc = Services::get();
    let (t, keep) = (tenant("filecold"), tenant("keepwarm"));
    let dir = tempfile::tempdir().unwrap();
    let cold = format!("demote_secs = 1\n[store.cold]\nurl = \"file://{}\"", dir.path().display());
    let cfg = config(&svc, &t, &cold, "warm_ttl_secs = 1\ncold = true", "")
        + &format!("[[tenants]]\nid = \"{keep}\"\nkeys = [\"{KEY}\"]\nwarm_ttl_secs = 1\ncold = false\n");
    let r = Server::start(&cfg);
    let p = record(990_000);
    let a = r.post(Some(&t), &hmac_signed(p.clone(), KEY));
    let b = r.post(Some(&keep), &hmac_signed(p.clone(), KEY));
    assert_eq!((a.status, b.status, b.dedup_hit()), (200, 200, false), "tenants are separate keys");
    assert!(wait_until(Duration::from_secs(10), || svc.count(&t, "AND body IS NULL") == 1), "demoted to file://");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(svc.count(&keep, "AND body IS NULL"), 0, "cold = false keeps the tenant's outcomes warm");
    let g = r.get(Some(&t), &p.pcs_id);
    assert_eq!((g.status, &g.body), (200, &a.body));
    let obj = svc.psql(
        &owner(&p.pcs_id),
        &format!("SELECT cold_object FROM fractal_outcomes WHERE tenant = '{t}' AND pcs_id = '{}'", p.pcs_id),
    );
    let file = dir.path().join(&obj);
    let before = std::fs::read(&file).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let refused = rt.block_on(async {
        use object_store::ObjectStore;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap();
        let opts = object_store::PutOptions { mode: object_store::PutMode::Create, ..Default::default() };
        fs.put_opts(&object_store::path::Path::from(obj.as_str()), object_store::PutPayload::from_static(b"x"), opts).await
    });
    assert!(matches!(refused, Err(object_store::Error::AlreadyExists { .. })), "{refused:?}");
    assert_eq!(std::fs::read(&file).unwrap(), before, "the archive object is unchanged");
}

/// The object store down → demotion pauses and nothing leaves the warm tier.
#[test]
fn an_object_store_down_pauses_demotion_and_deletes_nothing_from_warm() {
    let _g = serial();
    let svc = Services::get();
    let t = tenant("colddown");
    let cold = "demote_secs = 1\n[store.cold]\nurl = \"s3://nowhere/x\"";
    let env = [("AWS_ENDPOINT_URL", "http://127.0.0.1:1"), ("AWS_ACCESS_KEY_ID", "x"), ("AWS_SECRET_ACCESS_KEY", "y")];
    let r = Server::start_with_env(&config(&svc, &t, cold, "warm_ttl_secs = 1\ncold = true", ""), &env);
    let p = record(960_000);
    let a = r.post(Some(&t), &hmac_signed(p.clone(), KEY));
    assert_eq!(a.status, 200);
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(svc.count(&t, "AND body IS NOT NULL"), 1, "the body stays in the warm tier");
    let g = r.get(Some(&t), &p.pcs_id);
    assert_eq!((g.status, &g.body), (200, &a.body));
}

/// SPEC §6 "never disappears before its TTL" — and after it, it is gone from every
/// tier: Redis's copy never outlives the outcome, the warm row is swept, a demoted
/// one is absent too, and the key can be decided anew.
#[test]
fn ttl_expiry_across_hot_warm_and_cold_tiers() {
    let _g = serial();
    let svc = Services::get();
    let t = tenant("ttl");
    let tiers = format!(
        "sweep_secs = 1\ndemote_secs = 1\n[store.hot]\nurl = \"{}\"\nttl_secs = 600\n[store.cold]\nurl = \"s3://{}/ttl{}\"",
        svc.var("FRACTAL_TEST_REDIS"),
        svc.var("FRACTAL_TEST_S3_BUCKET"),
        std::process::id()
    );
    let env = svc.s3_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r =
        Server::start_with_env(&config(&svc, &t, &tiers, "warm_ttl_secs = 1\ncold = true", "dedup_ttl_secs = 4"), &env);
    let p = record(970_000);
    let q = escalated_record(970_001);
    let a = r.post(Some(&t), &hmac_signed(p.clone(), KEY));
    let b = r.post(Some(&t), &hmac_signed(q.clone(), KEY));
    assert_eq!((a.status, b.status), (200, 202));
    assert_eq!(r.get(Some(&t), &p.pcs_id).status, 200, "read once: now in Redis too");
    // q goes cold before it expires.
    assert!(wait_until(Duration::from_secs(3), || svc.count(&t, "AND body IS NULL") >= 1), "q demoted");
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(r.get(Some(&t), &p.pcs_id).status, 404, "expired: not served from Redis nor PostgreSQL");
    assert_eq!(r.get(Some(&t), &q.pcs_id).status, 404, "expired: not served from the cold tier");
    assert!(wait_until(Duration::from_secs(5), || svc.count(&t, "") == 0), "the sweep deleted the expired rows");
    let again = r.post(Some(&t), &hmac_signed(p, KEY));
    assert_eq!((again.status, again.dedup_hit()), (200, false), "decided anew after its TTL");
}
