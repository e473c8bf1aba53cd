use super::*;
use fractal_core::{BuildInput, build_pcs, sign_hmac};

fn config(dir: &std::path::Path) -> Config {
    let file: config::FileConfig = toml::from_str(&format!(
        "data_dir = {:?}\nsignature_policy = \"hmac\"\n[[tenants]]\nid = \"t\"\nkeys = [\"k\"]\n",
        dir
    ))
    .unwrap();
    Config::resolve(file, &Overrides::default()).unwrap()
}

fn signed(epoch: u64, key: &[u8]) -> (String, Vec<u8>) {
    let mut input = BuildInput::example();
    input.epoch = epoch;
    let mut p = build_pcs(&input).unwrap();
    p.sig = Some(sign_hmac(&p, key).unwrap());
    (p.pcs_id.clone(), p.to_json())
}

fn rec(lsn: u64, tenant: &str, body: Vec<u8>) -> wal::Record {
    wal::Record { lsn, tenant: tenant.into(), body, decided: None }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_of_a_merged_log_ends_at_the_global_winner() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path());
    let (store, _w, _) = RedbStore::open(&dir.path().join("o.redb"), 1 << 20).unwrap();
    let d = |body: &str, hlc: u64, region: &str| wal::Decided {
        pcs_id: "k".into(),
        status: 200,
        outcome: body.as_bytes().to_vec(),
        accepted_at: 1,
        expires_at: now_secs() + 60,
        origin: Some(wal::Origin { hlc, region: region.into() }),
    };
    // This region answered first in its log; the peer's earlier answer was
    // imported after it: the replay stores the peer's, as the live import did.
    let records = vec![
        wal::Record { lsn: 1, tenant: "t".into(), body: b"mine".to_vec(), decided: Some(d("{\"mine\":1}", 20, "eu")) },
        wal::Record { lsn: 2, tenant: "t".into(), body: b"peer".to_vec(), decided: Some(d("{\"peer\":1}", 10, "us")) },
        wal::Record { lsn: 3, tenant: "t".into(), body: b"late".to_vec(), decided: Some(d("{\"late\":1}", 30, "eu")) },
    ];
    replay(&c, records, &store, None, None).await.unwrap();
    let got = store.get("t", "k").await.unwrap().unwrap();
    assert_eq!(got.body, b"{\"peer\":1}");
    assert_eq!(got.stamp.unwrap().region, "us");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_stores_missing_outcomes_and_keeps_refusals_refused() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path());
    let (store, _w, _) = RedbStore::open(&dir.path().join("o.redb"), 1 << 20).unwrap();
    let (present, present_body) = signed(1, b"k");
    let (missing, missing_body) = signed(2, b"k");
    let (forged, forged_body) = signed(3, b"not-the-key");
    // An outcome already stored stays as it is (first write wins).
    let earlier =
        Outcome { status: 202, body: b"{\"earlier\":true}".to_vec(), expires_at: now_secs() + 60, stamp: None };
    store.put_if_absent("t", &present, earlier.clone()).await.unwrap();
    let records = vec![
        rec(1, "t", present_body),
        rec(2, "t", missing_body),
        rec(3, "t", forged_body),
        rec(4, "t", b"{not json".to_vec()),
        rec(5, "gone", signed(4, b"k").1),
    ];
    let (replayed, stored) = replay(&c, records, &store, None, None).await.unwrap();
    assert_eq!((replayed, stored), (5, 1));
    assert_eq!(store.get("t", &present).await.unwrap(), Some(earlier));
    let got = store.get("t", &missing).await.unwrap().expect("the missing outcome is stored");
    assert_eq!(got.status, 200);
    let v: fractal_core::VerifyResult = serde_json::from_slice(&got.body).unwrap();
    assert!(v.accepted && !v.escalated);
    assert_eq!(store.get("t", &forged).await.unwrap(), None, "a badly signed record stays refused");
    // A checkpoint follows every queued outcome: after it, both are in redb.
    store.checkpoint(0).await.unwrap();
    assert_eq!(store.count().unwrap(), 2);
}
