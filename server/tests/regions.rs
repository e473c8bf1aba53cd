//! Two regions on one machine (SPEC §10): each a real `fractal serve` over its own
//! embedded store, both shipping their logs through the shared S3 endpoint of
//! `make services` (SeaweedFS; `build/services.env`), under a prefix of their own.
//!
//! One test walks the runbooks (docs/runbooks/geo-split-brain.md and
//! geo-failover.md) with the same commands: records submitted to both regions
//! converge; a partition (`fractal region pause` on both) while both accept the same
//! keys with different content, then `resume`, ends with both answering the global
//! winner for every key, each conflict reported once by the region that answered the
//! loser, every acknowledged record in its region's published log, and the
//! divergence metric up during the partition and back to zero; a region killed
//! (`kill -9`), its clients moved to the other and the region restarted loses nothing.
//! Without the services the test FAILS and says so: it never skips.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Server, escalated_record, fractal, record, wait_until};

/// The S3 endpoint of `make services`.
fn services() -> HashMap<String, String> {
    common::services(&["FRACTAL_TEST_S3", "FRACTAL_TEST_S3_BUCKET"])
}

struct Setup {
    env: Vec<(String, String)>,
    url: String,
    bucket: String,
    prefix: String,
    endpoint: String,
    key: (String, String),
}

impl Setup {
    fn new() -> Setup {
        let v = services();
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let prefix = format!("regions-test-{}-{nanos}", std::process::id());
        let bucket = v["FRACTAL_TEST_S3_BUCKET"].clone();
        let key = (
            v.get("AWS_ACCESS_KEY_ID").cloned().unwrap_or_default(),
            v.get("AWS_SECRET_ACCESS_KEY").cloned().unwrap_or_default(),
        );
        let env = vec![
            ("AWS_ENDPOINT_URL".to_string(), v["FRACTAL_TEST_S3"].clone()),
            ("AWS_ACCESS_KEY_ID".to_string(), key.0.clone()),
            ("AWS_SECRET_ACCESS_KEY".to_string(), key.1.clone()),
            ("AWS_REGION".to_string(), "us-east-1".to_string()),
        ];
        Setup {
            env,
            url: format!("s3://{bucket}/{prefix}"),
            bucket,
            prefix,
            endpoint: v["FRACTAL_TEST_S3"].clone(),
            key,
        }
    }

    fn config(&self, id: &str) -> String {
        format!(
            "[store]\ncheckpoint_secs = 1\n[region]\nid = \"{id}\"\n[region.replication]\nurl = \"{}\"\npublish_ms = 150\nimport_ms = 150\ndigest_ms = 250\n",
            self.url
        )
    }

    fn start(&self, id: &str) -> Server {
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Server::start_with_env(&self.config(id), &env)
    }

    /// Every record in a region's published log: (tenant, pcs_id, record sha256).
    fn published(&self, region: &str) -> HashSet<(String, String, String)> {
        use object_store::{ObjectStore, ObjectStoreExt as _};
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let s3 = object_store::aws::AmazonS3Builder::new()
                .with_bucket_name(&self.bucket)
                .with_endpoint(&self.endpoint)
                .with_allow_http(true)
                .with_region("us-east-1")
                .with_access_key_id(&self.key.0)
                .with_secret_access_key(&self.key.1)
                .build()
                .unwrap();
            let mut out = HashSet::new();
            for seq in 0.. {
                let name = format!("{}/{}", self.prefix, fractal_server::serve::region::segment_name(region, seq));
                let Ok(got) = s3.get(&object_store::path::Path::from(name)).await else { break };
                let seg = fractal_server::serve::region::publish::decode(&got.bytes().await.unwrap()).unwrap();
                for r in seg.records {
                    let d = r.decided.unwrap();
                    assert_eq!(d.origin.as_ref().unwrap().region, region, "a region publishes only its own records");
                    out.insert((r.tenant, d.pcs_id, fractal_core::hex(&fractal_core::sha256(&r.body))));
                }
            }
            let _ = s3.list(None);
            out
        })
    }
}

/// Every `fractal region …` command line the test ran, written as the runbooks write
/// it (`$DATA`, `$CONFIG`): the runbooks may name no other.
static RAN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());


fn ran(line: &str) {
    RAN.lock().unwrap().push(line.to_string());
}

/// The `fractal region` lines of a runbook's `sh` blocks.
fn runbook_commands(name: &str) -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/runbooks").join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out = Vec::new();
    let mut in_sh = false;
    for l in text.lines() {
        if l.starts_with("```") {
            in_sh = l == "```sh";
            continue;
        }
        if in_sh && l.trim_start().starts_with("fractal region") {
            out.push(l.trim().to_string());
        }
    }
    assert!(!out.is_empty(), "{name} has no fractal region step");
    out
}

/// A runbook step: `fractal region <cmd> --data-dir DIR`, which must succeed.
fn region_cmd(s: &Server, cmd: &str) -> serde_json::Value {
    let dir = s.data_dir();
    ran(&format!("fractal region {cmd} --data-dir $DATA"));
    let out = fractal(&["region", cmd, "--data-dir", dir.to_str().unwrap()]);
    assert!(out.status.success(), "fractal region {cmd}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn converged(s: &Server) -> bool {
    ran("fractal region status --data-dir $DATA --converged");
    let dir = s.data_dir();
    fractal(&["region", "status", "--data-dir", dir.to_str().unwrap(), "--converged"]).status.success()
}

fn divergence(s: &Server) -> f64 {
    s.metrics_text()
        .lines()
        .filter(|l| l.starts_with("flk_geo_divergence_keys{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The answer a region gives for a key (the stored VerifyResult).
fn answer(s: &Server, pcs_id: &str) -> Option<String> {
    let r = s.get(None, pcs_id);
    (r.status == 200).then(|| r.json().to_string())
}

/// What a submission was answered: (status, VerifyResult JSON).
fn submit(s: &Server, body: &[u8]) -> (u16, String) {
    let r = s.post(None, body);
    assert!(r.status == 200 || r.status == 202, "submit: {} {}", r.status, String::from_utf8_lossy(&r.body));
    (r.status, r.json().to_string())
}

fn sha(b: &[u8]) -> String {
    fractal_core::hex(&fractal_core::sha256(b))
}

/// Waits until both regions answer `keys` alike and report convergence.
fn wait_converged(a: &Server, b: &Server, keys: &[String], what: &str) {
    let started = Instant::now();
    let same = || keys.iter().all(|k| answer(a, k).is_some() && answer(a, k) == answer(b, k));
    assert!(
        wait_until(Duration::from_secs(30), || same()
            && converged(a)
            && converged(b)
            && divergence(a) == 0.0
            && divergence(b) == 0.0),
        "{what}: the regions did not converge in 30 s"
    );
    eprintln!("{what}: converged in {:?}", started.elapsed());
}

#[test]
fn two_regions_converge_through_partition_and_failover() {
    let setup = Setup::new();
    let mut eu = setup.start("eu-west");
    let us = setup.start("us-east");
    let t0 = Instant::now();

    // 1. Records submitted to both regions converge to identical stores.
    let mut acked: BTreeMap<String, (u16, String)> = BTreeMap::new();
    let mut published_by: Vec<(&str, String, String)> = Vec::new(); // (region, pcs_id, sha)
    for e in 1..=15u64 {
        let p = record(e).to_json();
        let (s, body) = if e % 2 == 0 { (&eu, "eu-west") } else { (&us, "us-east") };
        acked.insert(record(e).pcs_id, submit(s, &p));
        published_by.push((body, record(e).pcs_id, sha(&p)));
    }
    let keys: Vec<String> = acked.keys().cloned().collect();
    wait_converged(&eu, &us, &keys, "steady state");
    for (pcs_id, want) in &acked {
        let (a, b) = (answer(&eu, pcs_id), answer(&us, pcs_id));
        assert_eq!(a, b, "both regions answer one outcome");
        assert_eq!(a.as_ref(), Some(&want.1));
    }

    // 2. Partition: both regions stop shipping (runbook geo-split-brain, step 1).
    region_cmd(&eu, "pause");
    region_cmd(&us, "pause");
    std::thread::sleep(Duration::from_millis(400)); // passes already running finish
    // Keys 100..106: eu answers first (an accepted record), us later with other
    // content (escalated); keys 106..112 the other way round. Each region answers its own.
    let mut winners: BTreeMap<String, (u16, String)> = BTreeMap::new();
    let mut expected_conflicts: HashMap<&str, HashSet<String>> = HashMap::new();
    for e in 100..112u64 {
        let (first, first_id, second, second_id) =
            if e < 106 { (&eu, "eu-west", &us, "us-east") } else { (&us, "us-east", &eu, "eu-west") };
        let (good, bad) = (record(e), escalated_record(e));
        assert_eq!(good.pcs_id, bad.pcs_id);
        let w = submit(first, &good.to_json());
        std::thread::sleep(Duration::from_millis(3)); // a later millisecond: a later clock
        let l = submit(second, &bad.to_json());
        assert_ne!(w, l, "the two regions answered differently");
        published_by.push((first_id, good.pcs_id.clone(), sha(&good.to_json())));
        published_by.push((second_id, good.pcs_id.clone(), sha(&bad.to_json())));
        winners.insert(good.pcs_id.clone(), w);
        expected_conflicts.entry(second_id).or_default().insert(good.pcs_id);
    }
    // Keys only one side has.
    for e in 200..205u64 {
        let p = record(e).to_json();
        acked.insert(record(e).pcs_id, submit(&eu, &p));
        published_by.push(("eu-west", record(e).pcs_id, sha(&p)));
    }
    // The divergence metric rises while partitioned (digests still flow): at least
    // the 5 keys only eu has (count differences add up exactly), plus the 12 keys
    // answered differently (a lower bound: two in one bucket count once).
    assert!(
        wait_until(Duration::from_secs(15), || divergence(&eu) >= 5.0 && divergence(&us) >= 5.0),
        "divergence was not measured during the partition (eu {}, us {})",
        divergence(&eu),
        divergence(&us)
    );
    assert!(!converged(&eu), "status reports the divergence");
    eprintln!("partition: divergence {} keys at {:?}", divergence(&eu), t0.elapsed());

    // 3. Heal (step 2): resume; both converge on the global winners.
    region_cmd(&eu, "resume");
    region_cmd(&us, "resume");
    let keys: Vec<String> = acked.keys().chain(winners.keys()).cloned().collect();
    wait_converged(&eu, &us, &keys, "after the partition");
    for (pcs_id, w) in &winners {
        let (a, b) = (answer(&eu, pcs_id), answer(&us, pcs_id));
        assert_eq!(a.as_ref(), Some(&w.1), "eu answers the global winner");
        assert_eq!(a, b, "both answer the same");
    }
    for (pcs_id, want) in &acked {
        assert_eq!(answer(&eu, pcs_id).as_ref(), Some(&want.1));
        assert_eq!(answer(&us, pcs_id).as_ref(), Some(&want.1));
    }
    // Every conflict reported once, by the region that had answered the loser (step 3).
    for (s, id) in [(&eu, "eu-west"), (&us, "us-east")] {
        let c = region_cmd(s, "conflicts");
        let keys: Vec<String> =
            c["conflicts"].as_array().unwrap().iter().map(|x| x["pcs_id"].as_str().unwrap().to_string()).collect();
        let unique: HashSet<String> = keys.iter().cloned().collect();
        assert_eq!(keys.len(), unique.len(), "{id}: each conflict once");
        assert_eq!(unique, expected_conflicts[id], "{id}: exactly the keys whose answer it lost");
        for x in c["conflicts"].as_array().unwrap() {
            assert_eq!(x["superseded"]["region"], id);
            assert_ne!(x["winner"]["region"], id);
            assert_ne!(x["superseded"]["status"], serde_json::Value::Null);
        }
        let m = common::metric(
            &s.metrics_text(),
            &format!(
                "flk_geo_conflicts_total{{peer_region=\"{}\"}}",
                if id == "eu-west" { "us-east" } else { "eu-west" }
            ),
        );
        assert_eq!(m, Some(expected_conflicts[id].len() as f64), "{id}: the conflicts metric");
    }

    // 4. Failover (runbook geo-failover): eu dies, its clients move to us, eu restarts.
    eu.kill9();
    let st = region_cmd(&us, "status");
    assert!(st["peers"]["eu-west"]["next_segment"].as_u64().unwrap() > 0, "{st}");
    for e in 300..310u64 {
        let p = record(e).to_json();
        acked.insert(record(e).pcs_id, submit(&us, &p));
        published_by.push(("us-east", record(e).pcs_id, sha(&p)));
    }
    // A client retrying a record eu had acknowledged gets eu's outcome from us.
    let (retry_id, retry_want) = acked.iter().find(|(k, _)| **k == record(200).pcs_id).unwrap();
    let r = us.post(None, &record(200).to_json());
    assert!(r.dedup_hit(), "us has eu's record");
    assert_eq!(r.status, retry_want.0, "{retry_id}");
    eu.launch();
    let keys: Vec<String> = acked.keys().chain(winners.keys()).cloned().collect();
    wait_converged(&eu, &us, &keys, "after failover");
    for (pcs_id, want) in acked.iter().chain(winners.iter()) {
        let (a, b) = (answer(&eu, pcs_id), answer(&us, pcs_id));
        assert_eq!(a.as_ref(), Some(&want.1), "eu lost nothing");
        assert_eq!(a, b);
    }

    // No acknowledged record is missing from its region's published log.
    let logs: HashMap<&str, HashSet<(String, String, String)>> =
        ["eu-west", "us-east"].into_iter().map(|r| (r, setup.published(r))).collect();
    for (region, pcs_id, sha) in &published_by {
        assert!(
            logs[region].contains(&("default".to_string(), pcs_id.clone(), sha.clone())),
            "an acknowledged record of {region} is missing from its published log"
        );
    }
    // Reconcile (read-only) with eu stopped finds nothing to supersede.
    assert!(eu.term());
    let cfg = eu.config.to_str().unwrap().to_string();
    let reconcile = |mode: &str| -> serde_json::Value {
        ran(&format!("fractal region reconcile --config $CONFIG {mode}"));
        let out = Command::new(env!("CARGO_BIN_EXE_fractal"))
            .args(["region", "reconcile", "--config", &cfg, mode])
            .envs(setup.env.iter().cloned())
            .output()
            .unwrap();
        assert!(out.status.success(), "reconcile: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let all = acked.len() + winners.len();
    for mode in ["--dry-run", "--apply"] {
        let v = reconcile(mode);
        assert_eq!((v["superseded_count"].as_u64(), v["missing"].as_u64()), (Some(0), Some(0)), "{v}");
        assert_eq!(v["keys"].as_u64().unwrap() as usize, all, "{v}");
    }
    // A lost store is rebuilt from the merged logs: every key missing, then none.
    std::fs::remove_file(eu.data_dir().join("outcomes.redb")).unwrap();
    let v = reconcile("--dry-run");
    assert_eq!(v["missing"].as_u64().unwrap() as usize, all, "{v}");
    reconcile("--apply");
    let v = reconcile("--dry-run");
    assert_eq!((v["superseded_count"].as_u64(), v["missing"].as_u64()), (Some(0), Some(0)), "{v}");
    eu.launch();
    for (pcs_id, want) in acked.iter().chain(winners.iter()) {
        assert_eq!(answer(&eu, pcs_id).as_ref(), Some(&want.1), "the rebuilt store answers the winner");
    }
    // Every runbook step is a command this test ran.
    let ran: HashSet<String> = RAN.lock().unwrap().iter().cloned().collect();
    for book in ["geo-split-brain.md", "geo-failover.md"] {
        for cmd in runbook_commands(book) {
            assert!(ran.contains(&cmd), "{book}: `{cmd}` is not run by this test");
        }
    }
    eprintln!("whole test: {:?}", t0.elapsed());
}
