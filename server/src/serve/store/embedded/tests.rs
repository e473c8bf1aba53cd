use super::*;

fn outcome(status: u16, body: &str, expires_at: u64) -> Outcome {
    Outcome { status, body: body.as_bytes().to_vec(), expires_at, stamp: None }
}

fn stamped(body: &str, at: u64, region: &str) -> Outcome {
    let stamp = fractal_core::region::Stamp::new(at, region, body.as_bytes());
    Outcome { status: 200, body: body.as_bytes().to_vec(), expires_at: now_secs() + 3600, stamp: Some(stamp) }
}

#[test]
fn stamped_values_round_trip_and_old_values_still_read() {
    let old = outcome(202, "{\"old\":1}", 77);
    assert_eq!(decode(&encode(&old)), Some(old.clone()));
    // The format before stamps, written by hand: [expires][status][body].
    let mut legacy = 77u64.to_le_bytes().to_vec();
    legacy.extend_from_slice(&202u16.to_le_bytes());
    legacy.extend_from_slice(b"{\"old\":1}");
    assert_eq!(encode(&old), legacy, "unstamped values keep the old bytes");
    let s = stamped("{\"new\":1}", (5 << 16) | 2, "eu-west");
    let bytes = encode(&s);
    assert_eq!(decode(&bytes), Some(s.clone()));
    assert_eq!(expiry_of(&bytes), s.expires_at, "the sweep reads the expiry of either format");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_keeps_the_smallest_stamp_whatever_the_order() {
    let dir = tempfile::tempdir().unwrap();
    let (s, w, _) = RedbStore::open(&dir.path().join("o.redb"), 1 << 20).unwrap();
    let early = stamped("{\"early\":1}", 10 << 16, "us-east");
    let late = stamped("{\"late\":1}", 11 << 16, "eu-west");
    assert_eq!(s.merge_stamped("t", "k", late.clone()).await.unwrap(), Merged::Inserted);
    assert_eq!(s.merge_stamped("t", "k", early.clone()).await.unwrap(), Merged::Replaced(late.clone()));
    assert_eq!(s.merge_stamped("t", "k", late.clone()).await.unwrap(), Merged::Kept(early.clone()));
    assert_eq!(s.merge_stamped("t", "k", early.clone()).await.unwrap(), Merged::Kept(early.clone()), "idempotent");
    // The other order ends the same.
    assert_eq!(s.merge_stamped("t", "k2", early.clone()).await.unwrap(), Merged::Inserted);
    assert_eq!(s.merge_stamped("t", "k2", late.clone()).await.unwrap(), Merged::Kept(early.clone()));
    s.checkpoint(0).await.unwrap();
    assert_eq!(s.get("t", "k").await.unwrap(), Some(early.clone()));
    // An unstamped outcome (stored before regions) is never superseded.
    let legacy = outcome(200, "legacy", now_secs() + 3600);
    s.put_if_absent("t", "k3", legacy.clone()).await.unwrap();
    assert_eq!(s.merge_stamped("t", "k3", early.clone()).await.unwrap(), Merged::Kept(legacy));
    s.checkpoint(0).await.unwrap(); // for_each reads committed outcomes
    let mut seen = Vec::new();
    s.for_each(|t, p, o| seen.push((t.to_string(), p.to_string(), o.status))).unwrap();
    assert_eq!(seen.len(), 3);
    drop(s);
    w.join();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcomes_kept_in_memory_after_their_commit_stay_right() {
    let dir = tempfile::tempdir().unwrap();
    let (s, w, _) = RedbStore::open(&dir.path().join("o.redb"), 1 << 20).unwrap();
    // A committed outcome a region merge replaces: the replacement is read, before
    // and after its own commit, not the remembered one.
    let late = stamped("{\"late\":1}", 11 << 16, "eu-west");
    let early = stamped("{\"early\":1}", 10 << 16, "us-east");
    s.merge_stamped("t", "k", late.clone()).await.unwrap();
    s.checkpoint(0).await.unwrap();
    assert_eq!(s.get("t", "k").await.unwrap(), Some(late.clone()));
    assert_eq!(s.merge_stamped("t", "k", early.clone()).await.unwrap(), Merged::Replaced(late));
    assert_eq!(s.get("t", "k").await.unwrap(), Some(early.clone()));
    s.checkpoint(0).await.unwrap();
    assert_eq!(s.get("t", "k").await.unwrap(), Some(early));
    // More outcomes than memory keeps: every one still reads, from memory or redb.
    let n = SHARDS * RECENT_PER_SHARD * 3;
    for i in 0..n {
        s.put_if_absent("t", &format!("p{i}"), outcome(200, &i.to_string(), now_secs() + 3600)).await.unwrap();
    }
    s.checkpoint(0).await.unwrap();
    for i in (0..n).step_by(97) {
        assert_eq!(s.get("t", &format!("p{i}")).await.unwrap().unwrap().body, i.to_string().as_bytes());
    }
    // An expired outcome kept in memory is absent, as in redb.
    s.put_if_absent("t", "gone", outcome(200, "old", now_secs() - 1)).await.unwrap();
    s.checkpoint(0).await.unwrap();
    assert_eq!(s.get("t", "gone").await.unwrap(), None);
    drop(s);
    w.join();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_write_wins_and_tenants_are_separate() {
    let dir = tempfile::tempdir().unwrap();
    let (s, w, wm) = RedbStore::open(&dir.path().join("o.redb"), 1 << 20).unwrap();
    assert_eq!(wm, 0);
    let far = now_secs() + 3600;
    assert_eq!(s.get("a", "p").await.unwrap(), None);
    let first = outcome(200, "first", far);
    assert_eq!(s.put_if_absent("a", "p", first.clone()).await.unwrap(), Put::Inserted(first.clone()));
    assert_eq!(s.put_if_absent("a", "p", outcome(202, "second", far)).await.unwrap(), Put::Existing(first.clone()));
    assert_eq!(s.get("a", "p").await.unwrap(), Some(first.clone()));
    assert_eq!(s.get("b", "p").await.unwrap(), None, "tenant b does not see tenant a");
    let b = outcome(202, "b's", far);
    assert_eq!(s.put_if_absent("b", "p", b.clone()).await.unwrap(), Put::Inserted(b));
    s.health().await.unwrap();
    drop(s);
    w.join();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_after_a_lookup_sees_outcomes_committed_in_between() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _w, _) = RedbStore::open(&dir.path().join("o.redb"), 1 << 20).unwrap();
    let far = now_secs() + 3600;
    // Absent, and nothing happens before the put: it inserts.
    let seen = s.lookup("a", "fresh").await.unwrap().unwrap_err();
    let mine = outcome(200, "mine", far);
    assert_eq!(s.put_if_absent_seen("a", "fresh", mine.clone(), seen).await.unwrap(), Put::Inserted(mine));
    // Absent, then another request stores it and the writer commits it to redb
    // (leaving the pending map) before this put: the put still finds it.
    let seen = s.lookup("a", "raced").await.unwrap().unwrap_err();
    let first = outcome(200, "first", far);
    assert_eq!(s.put_if_absent("a", "raced", first.clone()).await.unwrap(), Put::Inserted(first.clone()));
    s.checkpoint(0).await.unwrap();
    assert!(s.pending.shards.iter().all(|sh| sh.lock().unwrap().map.is_empty()), "committed, so not pending");
    let late = outcome(202, "late", far);
    assert_eq!(s.put_if_absent_seen("a", "raced", late, seen).await.unwrap(), Put::Existing(first.clone()));
    // An Absent of another key says nothing about this one.
    let other = s.lookup("a", "other").await.unwrap().unwrap_err();
    assert_eq!(
        s.put_if_absent_seen("a", "raced", outcome(202, "x", far), other).await.unwrap(),
        Put::Existing(first)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_puts_store_exactly_one() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _w, _) = RedbStore::open(&dir.path().join("o.redb"), 1 << 20).unwrap();
    let far = now_secs() + 3600;
    let mut tasks = Vec::new();
    for i in 0..64 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.put_if_absent("t", "same", outcome(200, &format!("v{i}"), far)).await.unwrap()
        }));
    }
    let mut inserted = 0;
    let mut winners = std::collections::HashSet::new();
    for t in tasks {
        match t.await.unwrap() {
            Put::Inserted(o) => {
                inserted += 1;
                winners.insert(o.body);
            }
            Put::Existing(o) => {
                winners.insert(o.body);
            }
        }
    }
    assert_eq!(inserted, 1);
    assert_eq!(winners.len(), 1, "everyone sees the one winner");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_outcomes_are_absent_and_swept() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _w, _) = RedbStore::open(&dir.path().join("o.redb"), 1 << 20).unwrap();
    let now = now_secs();
    s.put_if_absent("t", "old", outcome(200, "old", now - 1)).await.unwrap();
    s.put_if_absent("t", "new", outcome(200, "new", now + 3600)).await.unwrap();
    assert_eq!(s.get("t", "old").await.unwrap(), None);
    // An expired outcome does not block a new one.
    let fresh = outcome(202, "fresh", now + 3600);
    assert_eq!(s.put_if_absent("t", "old", fresh.clone()).await.unwrap(), Put::Inserted(fresh));
    s.put_if_absent("t", "gone", outcome(200, "x", now - 5)).await.unwrap();
    assert_eq!(s.sweep(now).await.unwrap(), 1);
    assert_eq!(s.count().unwrap(), 2);
    // Chunked: every chunk resumes where the last stopped, nothing is missed.
    for i in 0..25 {
        let exp = if i % 2 == 0 { now - 1 } else { now + 3600 };
        s.put_if_absent("u", &format!("p{i:02}"), outcome(200, "x", exp)).await.unwrap();
    }
    assert_eq!(s.sweep_in_chunks(now, 4).await.unwrap(), 13);
    assert_eq!(s.count().unwrap(), 2 + 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoint_watermark_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.redb");
    {
        let (s, w, _) = RedbStore::open(&path, 1 << 20).unwrap();
        s.put_if_absent("t", "p", outcome(200, "x", now_secs() + 60)).await.unwrap();
        s.checkpoint(1234).await.unwrap();
        drop(s);
        w.join();
    }
    let (s, _w, wm) = RedbStore::open(&path, 1 << 20).unwrap();
    assert_eq!(wm, 1234);
    assert!(s.get("t", "p").await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_holds_every_key_of_the_file_it_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.redb");
    let n = 3000;
    {
        let (s, w, _) = RedbStore::open(&path, 1 << 20).unwrap();
        for i in 0..n {
            s.put_if_absent("t", &format!("p{i}"), outcome(200, &format!("{i}"), now_secs() + 60)).await.unwrap();
        }
        s.checkpoint(1).await.unwrap();
        drop(s);
        w.join();
    }
    let (s, _w, _) = RedbStore::open(&path, 1 << 20).unwrap();
    // Every stored key is found (through the file, none is in memory after a reopen),
    // and a new key is absent without a read of the file.
    for i in 0..n {
        let o = s.get("t", &format!("p{i}")).await.unwrap();
        assert_eq!(o.map(|o| o.body), Some(format!("{i}").into_bytes()), "p{i}");
    }
    for i in 0..100 {
        let hash = s.pending.hash(&key("t", &format!("new{i}")));
        assert!(s.pending.shard(hash).lock().unwrap().index.seqs(hash).is_empty(), "new{i} is known absent");
    }
    // A key put after the open is held too, and first write still wins.
    assert!(matches!(s.put_if_absent("t", "late", outcome(200, "a", now_secs() + 60)).await.unwrap(), Put::Inserted(_)));
    assert!(matches!(s.put_if_absent("t", "late", outcome(202, "b", now_secs() + 60)).await.unwrap(), Put::Existing(_)));
    assert!(matches!(s.put_if_absent("t", "p7", outcome(202, "b", now_secs() + 60)).await.unwrap(), Put::Existing(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_put_again_keeps_one_record_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.redb");
    let now = now_secs();
    let fresh = outcome(202, "fresh", now + 3600);
    {
        let (s, w, _) = RedbStore::open(&path, 1 << 20).unwrap();
        // Expired, committed, put again: the new record replaces the old.
        s.put_if_absent("t", "k", outcome(200, "stale", now - 1)).await.unwrap();
        s.checkpoint(0).await.unwrap();
        assert_eq!(s.put_if_absent("t", "k", fresh.clone()).await.unwrap(), Put::Inserted(fresh.clone()));
        // Expired and put again before the writer commits either (one batch).
        s.put_if_absent("t", "j", outcome(200, "stale", now - 1)).await.unwrap();
        s.put_if_absent("t", "j", fresh.clone()).await.unwrap();
        s.checkpoint(0).await.unwrap();
        assert_eq!(s.count().unwrap(), 2, "one record per key");
        drop(s);
        w.join();
    }
    let (s, _w, _) = RedbStore::open(&path, 1 << 20).unwrap();
    assert_eq!(s.count().unwrap(), 2);
    assert_eq!(s.get("t", "k").await.unwrap(), Some(fresh.clone()));
    assert_eq!(s.get("t", "j").await.unwrap(), Some(fresh));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_format_1_file_is_upgraded_older_releases_refuse_it_and_a_downgrade_gives_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.redb");
    let stored: Vec<_> = (0..500).map(|i| (format!("p{i}"), outcome(200 + 2 * (i % 2), &format!("{{\"i\":{i}}}"), now_secs() + 60))).collect();
    {
        // What the release before wrote: outcomes keyed by tenant \0 pcs_id.
        let db = Database::create(&path).unwrap();
        let w = db.begin_write().unwrap();
        {
            let mut t = w.open_table(OUTCOMES_V1).unwrap();
            for (p, o) in &stored {
                t.insert(key("t", p).as_slice(), encode(o).as_slice()).unwrap();
            }
            w.open_table(META).unwrap().insert(WATERMARK, 4321).unwrap();
        }
        w.commit().unwrap();
    }
    {
        let (s, w, wm) = RedbStore::open(&path, 1 << 20).unwrap();
        assert_eq!(wm, 4321, "the watermark stays");
        assert_eq!(s.count().unwrap(), stored.len() as u64);
        for (p, o) in &stored {
            assert_eq!(s.get("t", p).await.unwrap().as_ref(), Some(o), "{p}");
        }
        assert!(matches!(s.put_if_absent("t", "p3", outcome(200, "other", now_secs() + 60)).await.unwrap(), Put::Existing(_)));
        drop(s);
        w.join();
    }
    // An older release opens its table by the old key type: refused, not empty.
    let db = Database::create(&path).unwrap();
    let w = db.begin_write().unwrap();
    assert!(matches!(w.open_table(OUTCOMES_V1), Err(redb::TableError::TableTypeMismatch { .. })));
    drop(w);
    drop(db);
    // And the upgraded file opens as it is.
    {
        let (s, w, _) = RedbStore::open(&path, 1 << 20).unwrap();
        assert_eq!(s.count().unwrap(), stored.len() as u64);
        drop(s);
        w.join();
    }
    // `fractal store downgrade`: format 1 again, every outcome and the watermark kept,
    // as the older release reads it.
    assert_eq!(downgrade_to_v1(&path).unwrap(), Some(stored.len() as u64));
    assert_eq!(downgrade_to_v1(&path).unwrap(), None, "format 1 already");
    {
        let db = Database::open(&path).unwrap();
        let r = db.begin_read().unwrap();
        let t = r.open_table(OUTCOMES_V1).unwrap();
        for (p, o) in &stored {
            assert_eq!(decode(t.get(key("t", p).as_slice()).unwrap().unwrap().value()).as_ref(), Some(o), "{p}");
        }
        assert_eq!(t.len().unwrap(), stored.len() as u64);
        assert_eq!(r.open_table(META).unwrap().get(WATERMARK).unwrap().unwrap().value(), 4321);
    }
    let (s, _w, wm) = RedbStore::open(&path, 1 << 20).unwrap();
    assert_eq!((s.count().unwrap(), wm), (stored.len() as u64, 4321), "upgraded again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcomes_committed_without_fsync_survive_a_failed_commit_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.redb");
    let (s, w, _) = RedbStore::open(&path, 1 << 20).unwrap();
    let committed = |s: &RedbStore, pcs: &str| {
        let key = key("t", pcs);
        let shard = s.pending.shard(s.pending.hash(&key)).lock().unwrap();
        !shard.map.contains_key(&key)
    };
    let wait = |what: &dyn Fn() -> bool| {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !what() {
            assert!(std::time::Instant::now() < until, "timed out");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    };
    let early: Vec<_> = (0..50).map(|i| (format!("early-{i}"), outcome(200, &format!("{{\"e\":{i}}}"), now_secs() + 3600))).collect();
    for (pcs, o) in &early {
        s.put_if_absent("t", pcs, o.clone()).await.unwrap();
    }
    // And a key put again after it expired: its new record deleted the old one.
    s.put_if_absent("t", "again", outcome(200, "stale", now_secs() - 1)).await.unwrap();
    wait(&|| committed(&s, "again"));
    let again = outcome(200, "{\"again\":1}", now_secs() + 3600);
    s.put_if_absent("t", "again", again.clone()).await.unwrap();
    wait(&|| early.iter().all(|(pcs, _)| committed(&s, pcs)) && committed(&s, "again")); // committed, not durably
    // The next commit fails as on a full disk: the writer reopens the file, which
    // forgets the commits made without fsync, and must write them again.
    s.fail_commits.store(1, Ordering::Relaxed);
    let late = outcome(202, "{\"late\":1}", now_secs() + 3600);
    s.put_if_absent("t", "late", late.clone()).await.unwrap();
    wait(&|| committed(&s, "late"));
    assert_eq!(s.fail_commits.load(Ordering::Relaxed), 0, "the hook failed a commit");
    s.checkpoint(0).await.unwrap();
    drop(s);
    w.join();
    // The file alone, reopened: every outcome is there.
    let (s, w, _) = RedbStore::open(&path, 1 << 20).unwrap();
    let mut seen = std::collections::BTreeMap::new();
    s.for_each(|_, p, o| {
        seen.insert(p.to_string(), o.clone());
    })
    .unwrap();
    assert_eq!(seen.len(), 52);
    assert_eq!(s.count().unwrap(), 52, "the deletion was made again too");
    assert_eq!(seen["again"], again);
    assert_eq!(seen["late"], late);
    for (pcs, o) in &early {
        assert_eq!(&seen[pcs], o);
    }
    drop(s);
    w.join();
}

#[test]
fn unsynced_outcomes_read_back_in_order_across_chunks() {
    let mut u = writer::Unsynced::default();
    let mut want = Vec::new();
    // Enough to fill several chunks, with an entry larger than a chunk in between.
    for i in 0..20_000u64 {
        let seq = i * 3 + (1 << 40);
        let record = if i == 7_777 { vec![7; writer::UNSYNCED_CHUNK + 3] } else { i.to_le_bytes().repeat(1 + i as usize % 40) };
        u.push(seq, &record);
        want.push((seq, record));
    }
    assert!(u.iter().map(|(s, r)| (s, r.to_vec())).eq(want.iter().cloned()));
    u.clear();
    assert_eq!(u.iter().count(), 0);
    u.push(7, b"");
    assert_eq!(u.iter().collect::<Vec<_>>(), vec![(7, &b""[..])]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_puts_sweeps_and_reopens_agree_with_a_model() {
    // One record per key, the newest; lookups, counts and scans agree with a plain
    // map through puts of expired and live outcomes, sweeps, failed commits and
    // reopens.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.redb");
    let mut model: HashMap<String, Outcome> = HashMap::new();
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let now = now_secs();
    let (mut s, mut w, _) = RedbStore::open(&path, 1 << 20).unwrap();
    for op in 0..3000u64 {
        match next(100) {
            0 => {
                s.sweep(now).await.unwrap();
                model.retain(|_, o| o.expires_at > now);
            }
            1 => {
                // The next batch commit fails as on a full disk: the writer reopens
                // the file and writes (and deletes) again what it had not synced.
                s.fail_commits.store(1, Ordering::Relaxed);
            }
            2 | 3 => {
                s.checkpoint(0).await.unwrap();
                drop(s);
                w.join();
                (s, w, _) = RedbStore::open(&path, 1 << 20).unwrap();
            }
            _ => {
                let k = format!("k{}", next(150));
                let exp = if next(3) == 0 { now - 1 } else { now + 3600 };
                let o = outcome(200, &format!("{{\"op\":{op}}}"), exp);
                let put = s.put_if_absent("t", &k, o.clone()).await.unwrap();
                match model.get(&k).filter(|m| m.expires_at > now) {
                    Some(m) => assert_eq!(put, Put::Existing(m.clone()), "op {op}: {k}"),
                    None => {
                        assert_eq!(put, Put::Inserted(o.clone()), "op {op}: {k}");
                        model.insert(k, o);
                    }
                }
            }
        }
        if op % 500 == 499 {
            s.checkpoint(0).await.unwrap(); // every put committed: count and scan see them
            assert_eq!(s.count().unwrap(), model.len() as u64, "op {op}: one record per key");
            let mut seen = HashMap::new();
            s.for_each(|_, p, o| assert!(seen.insert(p.to_string(), o.clone()).is_none(), "{p} twice")).unwrap();
            let live: HashMap<_, _> = model.iter().filter(|(_, o)| o.expires_at > now).map(|(k, o)| (k.clone(), o.clone())).collect();
            assert_eq!(seen, live, "op {op}");
        }
        let k = format!("k{}", next(150));
        assert_eq!(s.get("t", &k).await.unwrap(), model.get(&k).filter(|o| o.expires_at > now).cloned(), "op {op}: get {k}");
    }
    drop(s);
    w.join();
}
