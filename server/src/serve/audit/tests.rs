use std::fs::{self, OpenOptions};
use std::io::Write as _;

use fractal_core::Ed25519Keypair;
use fractal_core::audit::Seal;

use super::local::{log_path, seal_path};
use super::upload::upload_bytes;
use super::*;

fn shared() -> Arc<Shared> {
    Arc::new(Shared {
        inflight: Mutex::default(),
        seen: Mutex::default(),
        durable: AtomicU64::new(0),
        metrics: AuditMetrics::new(&Metrics::new()),
        notify: Notify::new(),
        stop: Notify::new(),
        region: "r".into(),
    })
}

fn cfg(seal_entries: u64) -> config::Audit {
    config::Audit {
        key: config::Secret(Ed25519Keypair::from_seed(&[3; 32])),
        url: "file:///unused".into(),
        region: "r".into(),
        seal_entries,
        seal_secs: 3600,
        queue: 16,
    }
}

fn item(lsn: u64) -> Item {
    Item {
        lsn,
        tenant: "t".into(),
        pcs_id: format!("p{lsn}"),
        outcome: Outcome { status: 200, body: br#"{"accepted":true,"escalated":false}"#.to_vec(), expires_at: 9, stamp: None },
        record_sha256: "00".repeat(32),
        at: 1,
    }
}

fn writer(dir: &Path, seal_entries: u64) -> Writer {
    let local = Local::recover(dir).unwrap();
    let head = local.head.unwrap_or(Head { index: 0, next_seq: 0, prev: GENESIS.to_string() });
    Writer::open(dir, head, local.open_count, &cfg(seal_entries), shared()).unwrap()
}

#[test]
fn a_torn_last_line_is_cut_and_the_chain_continues() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = writer(dir.path(), 3);
    let items: Vec<Item> = (0..5).map(item).collect();
    let mut done = 0;
    w.write(&items, &mut done).unwrap();
    assert_eq!((w.head.index, w.head.next_seq), (1, 5), "sealed at 3, two entries open");
    drop(w);
    // A write that a crash cut short.
    let open = log_path(dir.path(), 1);
    let mut f = OpenOptions::new().append(true).open(&open).unwrap();
    f.write_all(b"17 {\"at\":1,\"pcs_id\":\"half").unwrap();
    drop(f);
    let local = Local::recover(dir.path()).unwrap();
    let head = local.head.unwrap();
    assert_eq!((head.index, head.next_seq, local.open_count, local.backlog), (1, 5, 2, 5));
    assert_eq!(local.identities.len(), 5);
    assert!(!fs::read_to_string(&open).unwrap().contains("half"), "the torn line is cut");
    // The next entry continues the chain: seq 5, prev = h[4].
    let mut w = writer(dir.path(), 3);
    let mut done = 0;
    w.write(&[item(99)], &mut done).unwrap();
    let seal = Seal::parse(&fs::read(seal_path(dir.path(), 1)).unwrap()).unwrap();
    assert_eq!((seal.first_seq, seal.last_seq), (3, 5));
    let mut segs = Vec::new();
    for i in 0..2 {
        let (entries, _, _) = upload_bytes(dir.path(), i).unwrap();
        segs.push(fractal_core::audit::Segment {
            index: i,
            entries: Some(entries),
            seal: Some(fs::read(seal_path(dir.path(), i)).unwrap()),
        });
    }
    let v = fractal_core::audit::verify_chain(&segs, &cfg(1).key.0.public_bytes(), None).unwrap();
    assert_eq!((v.entries, v.last_seq), (6, Some(5)));
}

#[test]
fn damage_before_the_last_line_or_a_hole_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = writer(dir.path(), 2);
    let mut done = 0;
    w.write(&(0..7).map(item).collect::<Vec<_>>(), &mut done).unwrap();
    drop(w);
    // A hole: segment 1 gone while 0 and 2 remain.
    for p in [log_path(dir.path(), 1), seal_path(dir.path(), 1)] {
        fs::rename(&p, p.with_extension("moved")).unwrap();
    }
    let e = Local::recover(dir.path()).err().unwrap().to_string();
    assert!(e.contains("does not continue"), "{e}");
    for p in [log_path(dir.path(), 1), seal_path(dir.path(), 1)] {
        fs::rename(p.with_extension("moved"), &p).unwrap();
    }
    Local::recover(dir.path()).unwrap();
    // A damaged line that is not the last.
    let p = log_path(dir.path(), 3);
    let text = fs::read_to_string(&p).unwrap();
    fs::write(&p, text.replacen("\"tenant\"", "\"tenan", 1) + "1 x\n").unwrap();
    let e = Local::recover(dir.path()).err().unwrap().to_string();
    assert!(e.contains("damaged line"), "{e}");
}
