use super::*;

fn collect(dir: &Path, from: u64) -> Result<(Vec<Record>, Recovered), RecoveryError> {
    let mut out = Vec::new();
    let r = recover(dir, from, &mut |rec| out.push(rec))?;
    Ok((out, r))
}

fn write_segment(dir: &Path, id: u64, records: &[(&str, &[u8])]) -> Vec<u64> {
    let mut data = Vec::new();
    let mut offsets = Vec::new();
    for (t, b) in records {
        offsets.push(data.len() as u64);
        data.extend_from_slice(&frame_v1(t, b));
    }
    fs::write(segment_path(dir, id), &data).unwrap();
    offsets
}

fn decided(pcs_id: &str) -> Decided {
    Decided {
        pcs_id: pcs_id.into(),
        status: 202,
        outcome: format!("{{\"id\":\"{pcs_id}\"}}").into_bytes(),
        accepted_at: 1_000,
        expires_at: 2_000,
        origin: None,
    }
}

/// Writes v2 frames grouped in batches, as the writer does; returns each frame's offset.
fn write_batches(dir: &Path, id: u64, batches: &[&[&str]]) -> Vec<u64> {
    let mut data = Vec::new();
    let mut offsets = Vec::new();
    for batch in batches {
        let start = data.len() as u64;
        for pcs in batch.iter() {
            offsets.push(data.len() as u64);
            let mut f = frame("t", &decided(pcs), b"{}");
            set_batch_start(&mut f, start);
            data.extend_from_slice(&f);
        }
    }
    fs::write(segment_path(dir, id), &data).unwrap();
    offsets
}

/// A writer on an empty log in `dir`, with segments of `segment_bytes`.
fn start_empty(dir: &Path, segment_bytes: u64) -> (Wal, WalWriter) {
    let at = recover(dir, 0, &mut |_| {}).unwrap();
    let opts = WalOptions { dir: dir.into(), segment_bytes, max_batch_bytes: 1 << 16, queue: 16 };
    Wal::start(opts, at, Arc::new(|_, _| {})).unwrap()
}

fn ids(recs: &[Record]) -> Vec<String> {
    recs.iter().map(|r| r.decided.as_ref().unwrap().pcs_id.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_append_does_not_pin_the_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, writer) = start_empty(dir.path(), 1 << 20);
    // Poll the append once (the frame is queued to the writer), then drop it, as
    // hyper does with the handler of a client that disconnected.
    {
        let gone = decided("gone");
        let fut = wal.append("t", &gone, b"{}");
        tokio::pin!(fut);
        std::future::poll_fn(|cx| {
            let _ = fut.as_mut().poll(cx);
            std::task::Poll::Ready(())
        })
        .await;
    }
    // A later append completes after the writer handled the cancelled one (FIFO).
    let t = wal.append("t", &decided("kept"), b"{}").await.unwrap();
    drop(t);
    let end = wal.pending.lock().unwrap().end;
    assert_eq!(wal.watermark(), end, "nothing is open: the cancelled record does not hold the watermark");
    drop(wal);
    writer.join();
}

#[test]
fn v3_frames_carry_the_region_stamp_and_v2_frames_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut stamped = decided("p3");
    stamped.origin = Some(Origin { hlc: (7 << 16) | 3, region: "eu-west".into() });
    let mut data = frame("t", &decided("p2"), b"{\"v\":2}");
    let mut f = frame("t", &stamped, b"{\"v\":3}");
    set_batch_start(&mut f, data.len() as u64);
    data.extend_from_slice(&f);
    fs::write(segment_path(dir.path(), 0), &data).unwrap();
    let (recs, _) = collect(dir.path(), 0).unwrap();
    assert_eq!(recs[0].decided, Some(decided("p2")));
    assert_eq!(recs[1].decided, Some(stamped));
    assert_eq!(recs[1].body, b"{\"v\":3}");
    // The read-only reader sees the same records, below its bound.
    let mut seen = Vec::new();
    read_range(dir.path(), 0, recs[1].lsn, &mut |r| seen.push(r)).unwrap();
    assert_eq!(seen, recs[..1].to_vec());
}

#[test]
fn v2_frames_carry_the_decision_and_v1_frames_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = frame_v1("old", b"{\"v\":1}");
    let mut f = frame("new", &decided("p1"), b"{\"v\":2}");
    set_batch_start(&mut f, data.len() as u64);
    data.extend_from_slice(&f);
    fs::write(segment_path(dir.path(), 0), &data).unwrap();
    let (recs, r) = collect(dir.path(), 0).unwrap();
    assert_eq!(r.truncated, 0);
    assert_eq!((recs[0].tenant.as_str(), recs[0].body.as_slice(), &recs[0].decided), ("old", &b"{\"v\":1}"[..], &None));
    assert_eq!((recs[1].tenant.as_str(), recs[1].body.as_slice()), ("new", &b"{\"v\":2}"[..]));
    assert_eq!(recs[1].decided, Some(decided("p1")));
}

#[test]
fn a_flipped_length_byte_in_an_early_frame_is_corruption_not_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    // Five acknowledged group commits of one record each.
    let offs = write_batches(dir.path(), 3, &[&["a"], &["b"], &["c"], &["d"], &["e"]]);
    let path = segment_path(dir.path(), 3);
    let mut data = fs::read(&path).unwrap();
    data[offs[1] as usize + 2] ^= 0x10; // the length now runs past the end of the file
    fs::write(&path, &data).unwrap();
    match collect(dir.path(), 0) {
        Err(e @ RecoveryError::Corrupt { .. }) => {
            let RecoveryError::Corrupt { segment, offset, .. } = &e else { unreachable!() };
            assert_eq!((*segment, *offset), (3, offs[1]));
            let msg = e.to_string();
            assert!(msg.contains("fractal wal repair") && msg.contains(&format!("--truncate-at {}", offs[1])), "{msg}");
        }
        other => panic!("expected corruption, got {:?}", other.map(|(r, _)| ids(&r))),
    }
    assert_eq!(fs::read(&path).unwrap(), data, "nothing is truncated");
}

#[test]
fn a_torn_write_inside_the_last_batch_is_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    // The last group commit wrote three frames; the crash left the middle one
    // garbage and the third intact (pages reach the disk in any order).
    let offs = write_batches(dir.path(), 0, &[&["a"], &["b"], &["c", "d", "e"]]);
    let path = segment_path(dir.path(), 0);
    let mut data = fs::read(&path).unwrap();
    let total = data.len();
    data[offs[3] as usize + HEADER + 20] ^= 0xff;
    fs::write(&path, &data).unwrap();
    let (recs, r) = collect(dir.path(), 0).unwrap();
    assert_eq!(ids(&recs), vec!["a", "b", "c"]);
    assert_eq!(r.end, offs[3]);
    assert_eq!(r.truncated as usize, total - offs[3] as usize);
    // The same damage with a later batch after it is corruption.
    let dir = tempfile::tempdir().unwrap();
    let offs = write_batches(dir.path(), 0, &[&["a"], &["c", "d", "e"], &["f"]]);
    let path = segment_path(dir.path(), 0);
    let mut data = fs::read(&path).unwrap();
    data[offs[2] as usize + HEADER + 20] ^= 0xff;
    fs::write(&path, &data).unwrap();
    assert!(matches!(collect(dir.path(), 0), Err(RecoveryError::Corrupt { segment: 0, .. })));
}

#[test]
fn inspect_reports_and_repair_cuts_deliberately() {
    let dir = tempfile::tempdir().unwrap();
    write_batches(dir.path(), 0, &[&["a"], &["b"]]);
    let offs = write_batches(dir.path(), 1, &[&["c"], &["d"], &["e"]]);
    let path = segment_path(dir.path(), 1);
    let mut data = fs::read(&path).unwrap();
    data[offs[1] as usize + HEADER + 5] ^= 0x01;
    fs::write(&path, &data).unwrap();
    let report = inspect(dir.path()).unwrap();
    assert_eq!(report.len(), 2);
    assert!(report[0].damage.is_none());
    assert_eq!(report[0].records_v2, 2);
    let d = report[1].damage.as_ref().unwrap();
    assert_eq!((d.offset, d.kind), (offs[1], "corrupt"));
    assert_eq!(report[1].records_v2, 1);
    assert!(collect(dir.path(), 0).is_err());
    let saved = repair(dir.path(), 1, offs[1]).unwrap();
    assert_eq!(fs::read(&saved).unwrap(), data[offs[1] as usize..].to_vec(), "the cut bytes are kept");
    let (recs, _) = collect(dir.path(), 0).unwrap();
    assert_eq!(ids(&recs), vec!["a", "b", "c"]);
    assert!(repair(dir.path(), 1, 1 << 30).is_err(), "past the end");
}

#[test]
fn frames_round_trip_through_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let offs = write_segment(dir.path(), 0, &[("default", b"{\"a\":1}"), ("t2", b"xyz")]);
    let (recs, r) = collect(dir.path(), 0).unwrap();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].tenant, "default");
    assert_eq!(recs[0].body, b"{\"a\":1}");
    assert_eq!(recs[1].lsn, lsn(0, offs[1]));
    assert_eq!(r.truncated, 0);
    assert_eq!(r.end, fs::metadata(segment_path(dir.path(), 0)).unwrap().len());
}

#[test]
fn torn_tail_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    write_segment(dir.path(), 0, &[("default", b"one"), ("default", b"two")]);
    let path = segment_path(dir.path(), 0);
    let full = fs::read(&path).unwrap();
    let good = full.len();
    // Half of a third record: the crash happened during the write.
    let third = frame_v1("default", b"three-three-three");
    let mut torn = full.clone();
    torn.extend_from_slice(&third[..third.len() / 2]);
    fs::write(&path, &torn).unwrap();
    let (recs, r) = collect(dir.path(), 0).unwrap();
    assert_eq!(recs.len(), 2);
    assert_eq!(r.end as usize, good);
    assert_eq!(r.truncated as usize, third.len() / 2);
    assert_eq!(fs::read(&path).unwrap().len(), good, "the torn tail is cut off on disk");
}

#[test]
fn damaged_last_record_is_torn_and_a_zero_tail_is_unused_space() {
    let dir = tempfile::tempdir().unwrap();
    write_segment(dir.path(), 0, &[("default", b"one"), ("default", b"two")]);
    let path = segment_path(dir.path(), 0);
    let mut data = fs::read(&path).unwrap();
    let n = data.len();
    data[n - 1] ^= 0xff; // the last record's payload is garbage
    fs::write(&path, &data).unwrap();
    let (recs, r) = collect(dir.path(), 0).unwrap();
    assert_eq!(recs.len(), 1);
    assert!(r.truncated > 0);

    let mut data = fs::read(&path).unwrap();
    let records = data.len() as u64;
    data.extend_from_slice(&[0u8; 4096]); // allocated ahead (or grown, with the data lost)
    fs::write(&path, &data).unwrap();
    let (recs, r) = collect(dir.path(), 0).unwrap();
    assert_eq!(recs.len(), 1);
    assert_eq!((r.end, r.truncated, r.unused), (records, 0, 4096));
    assert_eq!(fs::metadata(&path).unwrap().len(), records, "the zeros are cut off on disk");

    // Garbage in the zeros is what is left of a torn write: torn, not unused.
    data.truncate(records as usize);
    data.extend_from_slice(&[0u8; 100]);
    data.extend_from_slice(b"half a frame");
    data.extend_from_slice(&[0u8; 100]);
    fs::write(&path, &data).unwrap();
    let (recs, r) = collect(dir.path(), 0).unwrap();
    assert_eq!(recs.len(), 1);
    assert_eq!((r.end, r.truncated, r.unused), (records, 212, 0));
}

#[test]
fn zeros_in_a_segment_that_is_not_the_last_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    write_segment(dir.path(), 0, &[("default", b"one")]);
    write_segment(dir.path(), 1, &[("default", b"two")]);
    let path = segment_path(dir.path(), 0);
    let mut data = fs::read(&path).unwrap();
    let records = data.len() as u64;
    data.extend_from_slice(&[0u8; 64]);
    fs::write(&path, &data).unwrap();
    match collect(dir.path(), 0) {
        Err(RecoveryError::Corrupt { segment: 0, offset, reason, .. }) => {
            assert_eq!(offset, records);
            assert!(reason.contains("zeros"), "{reason}");
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    assert_eq!(fs::metadata(&path).unwrap().len(), records + 64, "nothing is cut");
    let report = inspect(dir.path()).unwrap();
    assert_eq!((report[0].unused_bytes, report[0].damage.as_ref().unwrap().kind), (64, "corrupt"));
}

/// What a kill leaves: the segments as they are on disk while the writer runs.
fn copy_dir(from: &Path, to: &Path) {
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_allocates_ahead_and_a_clean_stop_cuts_the_zeros() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, writer) = start_empty(dir.path(), 64 << 20);
    let mut lsns = Vec::new();
    for i in 0..3 {
        lsns.push(wal.append("t", &decided(&format!("p{i}")), b"{}").await.unwrap().lsn());
    }
    let path = segment_path(dir.path(), 0);
    let len = fs::metadata(&path).unwrap().len();
    // The first batch (one frame, ending where p1 starts) allocated PREALLOCATE more.
    assert_eq!(len, split_lsn(lsns[1]).1 + PREALLOCATE);
    // A kill now: recovery finds every record, and cuts the zeros as unused space.
    let killed = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), killed.path());
    let report = inspect(killed.path()).unwrap();
    assert!(report[0].damage.is_none(), "{:?}", report[0].damage);
    assert_eq!(report[0].records_v2, 3);
    let (recs, r) = collect(killed.path(), 0).unwrap();
    assert_eq!(ids(&recs), ["p0", "p1", "p2"]);
    assert_eq!(r.truncated, 0);
    assert_eq!(r.end + r.unused, len);
    assert_eq!(report[0].unused_bytes, r.unused);
    // Appends overwrite the zeros; the file does not grow.
    wal.append("t", &decided("p3"), b"{}").await.unwrap();
    assert_eq!(fs::metadata(&path).unwrap().len(), len);
    drop(wal);
    writer.join();
    let (recs, r) = collect(dir.path(), 0).unwrap();
    assert_eq!(ids(&recs), ["p0", "p1", "p2", "p3"]);
    assert_eq!((r.truncated, r.unused), (0, 0), "a clean stop leaves no zeros");
    assert_eq!(r.end, fs::metadata(&path).unwrap().len());
}

#[test]
fn corruption_in_the_middle_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let offs = write_segment(dir.path(), 0, &[("default", b"one"), ("default", b"two"), ("default", b"three")]);
    let path = segment_path(dir.path(), 0);
    let mut data = fs::read(&path).unwrap();
    data[offs[1] as usize + HEADER + 3] ^= 0x01; // flip a bit inside the second record
    fs::write(&path, &data).unwrap();
    let before = data.len();
    match collect(dir.path(), 0) {
        Err(RecoveryError::Corrupt { offset, .. }) => assert_eq!(offset, offs[1]),
        other => panic!("expected corruption, got {other:?}", other = other.map(|(r, _)| r.len())),
    }
    assert_eq!(fs::read(&path).unwrap().len(), before, "nothing is truncated on corruption");
}

#[test]
fn corrupted_length_in_the_middle_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let offs = write_segment(dir.path(), 0, &[("default", b"one"), ("default", b"two"), ("default", b"three")]);
    let path = segment_path(dir.path(), 0);
    let mut data = fs::read(&path).unwrap();
    data[offs[1] as usize + 3] = 0x7f; // an impossible length, valid records after it
    fs::write(&path, &data).unwrap();
    assert!(matches!(collect(dir.path(), 0), Err(RecoveryError::Corrupt { .. })));
}

#[test]
fn damage_in_an_older_segment_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    write_segment(dir.path(), 0, &[("default", b"one"), ("default", b"two")]);
    write_segment(dir.path(), 1, &[("default", b"three")]);
    let path = segment_path(dir.path(), 0);
    let mut data = fs::read(&path).unwrap();
    data.truncate(data.len() - 2);
    fs::write(&path, &data).unwrap();
    assert!(matches!(collect(dir.path(), 0), Err(RecoveryError::Corrupt { .. })));
}

#[test]
fn recovery_starts_at_the_watermark() {
    let dir = tempfile::tempdir().unwrap();
    write_segment(dir.path(), 0, &[("default", b"one")]);
    let offs = write_segment(dir.path(), 1, &[("default", b"two"), ("default", b"three")]);
    // Segment 0 is below the watermark: even damage there is not read.
    fs::write(segment_path(dir.path(), 0), b"garbage").unwrap();
    let (recs, _) = collect(dir.path(), lsn(1, offs[1])).unwrap();
    assert_eq!(recs.iter().map(|r| r.body.clone()).collect::<Vec<_>>(), vec![b"three".to_vec()]);
}

#[test]
fn prune_deletes_only_old_segments_below_the_watermark() {
    let dir = tempfile::tempdir().unwrap();
    for id in 0..3 {
        write_segment(dir.path(), id, &[("default", b"x")]);
    }
    assert_eq!(prune(dir.path(), lsn(2, 0), Duration::from_secs(3600)).unwrap(), 0, "too young");
    assert_eq!(prune(dir.path(), lsn(2, 0), Duration::ZERO).unwrap(), 2);
    assert_eq!(list_segments(dir.path()).unwrap(), vec![2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_appends_durably_and_rotates() {
    let dir = tempfile::tempdir().unwrap();
    let at = recover(dir.path(), 0, &mut |_| {}).unwrap();
    let batches = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let b2 = batches.clone();
    let opts = WalOptions { dir: dir.path().into(), segment_bytes: 4096, max_batch_bytes: 2048, queue: 1024 };
    let (wal, writer) = Wal::start(
        opts,
        at,
        Arc::new(move |_, _| {
            b2.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }),
    )
    .unwrap();
    let mut tasks = Vec::new();
    for i in 0..200u32 {
        let wal = wal.clone();
        tasks.push(tokio::spawn(async move {
            let d = decided(&format!("p{i}"));
            wal.append("default", &d, format!("body-{i:04}-{}", "x".repeat(100)).as_bytes()).await.unwrap()
        }));
    }
    let mut tickets = Vec::new();
    for t in tasks {
        tickets.push(t.await.unwrap());
    }
    assert!(wal.watermark() <= tickets.iter().map(|t| t.lsn()).min().unwrap());
    let first_open = tickets.iter().map(|t| t.lsn()).min().unwrap();
    let kept = tickets.remove(tickets.iter().position(|t| t.lsn() == first_open).unwrap());
    drop(tickets);
    kept.keep();
    assert_eq!(wal.watermark(), first_open, "a kept ticket holds the watermark");
    drop(wal);
    writer.join();
    assert!(batches.load(std::sync::atomic::Ordering::Relaxed) <= 200);
    assert!(list_segments(dir.path()).unwrap().len() > 1, "4 KiB segments rotate");
    // Closed segments are cut to their records (zeros in them would stop a start).
    let (recs, r) = collect(dir.path(), 0).unwrap();
    assert_eq!((r.truncated, r.unused), (0, 0));
    let mut bodies: Vec<_> = recs.iter().map(|r| String::from_utf8(r.body.clone()).unwrap()).collect();
    bodies.sort();
    assert_eq!(bodies.len(), 200);
    assert!(bodies[0].starts_with("body-0000-"));
    assert!(bodies[199].starts_with("body-0199-"));
    // Every frame names the start of the group commit that wrote it.
    assert!(recs.iter().all(|r| r.decided.is_some()));
}
