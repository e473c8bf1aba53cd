//! The writer thread of the embedded store: batches of outcomes, checkpoints and
//! sweeps, each in one redb transaction, retried across a reopen after an I/O error.

use super::*;

pub(super) struct Writer {
    pub(super) db: Arc<DbSlot>,
    pub(super) healthy: Arc<AtomicBool>,
    pub(super) pending: Arc<PendingMap>,
    pub(super) on_error: ErrorObserver,
    /// Write transactions of outcomes still to fail (the test hook).
    pub(super) fail_commits: Arc<AtomicU64>,
    /// The sequence number of the next record.
    pub(super) next_seq: u64,
}

/// A put waiting in a batch.
struct Put {
    key: Vec<u8>,
    hash: u64,
    value: Outcome,
}

/// First pause before a failed batch is tried again; it doubles up to the maximum.
const RETRY_FIRST: std::time::Duration = std::time::Duration::from_millis(50);
const RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(2);

impl Writer {
    /// One write transaction on the current file; after a failure the file is
    /// reopened first (redb refuses everything after an I/O error until then), and
    /// the `unsynced` outcomes the reopen may have lost are written again.
    fn transact<T>(
        &mut self,
        reopen: &mut bool,
        outcomes: bool,
        unsynced: &Unsynced,
        f: impl FnOnce(&Database) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let res = (|| {
            if *reopen {
                self.db.reopen()?;
                *reopen = false;
                rewrite(&*self.db.get()?, unsynced)?;
            }
            if outcomes && self.fail_commits.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok() {
                return Err(err(format!("injected write failure ({FAIL_COMMITS_ENV})")));
            }
            f(&*self.db.get()?)
        })();
        if res.is_err() {
            *reopen = true;
            self.healthy.store(false, Ordering::Relaxed);
            (self.on_error)();
        }
        res
    }

    pub(super) fn run(mut self, mut rx: mpsc::Receiver<Cmd>) {
        let mut puts: Vec<Put> = Vec::with_capacity(MAX_BATCH);
        // Outcomes committed without fsync since the last durable commit: a reopen
        // after an error may lose them, so they are written again after one.
        let mut unsynced = Unsynced::default();
        let mut encoded: Vec<Vec<u8>> = Vec::with_capacity(MAX_BATCH);
        let mut deferred: Option<Cmd> = None;
        let mut reopen = false;
        loop {
            let first = match deferred.take() {
                Some(c) => c,
                None => match rx.blocking_recv() {
                    Some(c) => c,
                    None => break,
                },
            };
            match first {
                Cmd::Put { key, hash, value } => {
                    puts.push(Put { key, hash, value });
                    // A commit has a fixed cost (page bookkeeping, checksums, writes to the
                    // page cache) far above one insert, and no request waits for it: let the
                    // queue fill for a moment so that one commit carries many puts.
                    let mut waited = false;
                    while puts.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(Cmd::Put { key, hash, value }) => puts.push(Put { key, hash, value }),
                            Ok(other) => {
                                deferred = Some(other);
                                break;
                            }
                            Err(_) if !waited => {
                                waited = true;
                                std::thread::sleep(BATCH_WAIT);
                            }
                            Err(_) => break,
                        }
                    }
                    // In queue order, numbered from `next_seq`: appended to the log.
                    encoded.extend(puts.iter().map(|p| record(&p.key, &encode(&p.value))));
                    // The records each key had (put again: expired, or replaced by a region
                    // merge), deleted in the same commit. Only this thread changes the
                    // index, so what it says now holds until the commit.
                    let candidates: Vec<Vec<u64>> =
                        puts.iter().map(|p| self.pending.shard(p.hash).lock().unwrap().index.seqs(p.hash)).collect();
                    let first_seq = self.next_seq;
                    // The winners were decided in put_if_absent; the batch only persists
                    // them. A failed batch is tried again until it commits: the outcomes
                    // stay in the pending map meanwhile (reads stay right), the store
                    // reports unhealthy (new submissions get 503, /ready 503), and nothing
                    // behind it in the queue — a checkpoint in particular — goes first.
                    let mut pause = RETRY_FIRST;
                    let mut failures = 0u64;
                    let deleted;
                    loop {
                        let res = self.transact(&mut reopen, true, &unsynced, |db| {
                            let mut w = db.begin_write().map_err(err)?;
                            w.set_durability(Durability::None).map_err(err)?;
                            let deleted = append(&mut w.open_table(OUTCOMES).map_err(err)?, first_seq, &puts, &encoded, &candidates)?;
                            w.commit().map_err(err)?;
                            Ok(deleted)
                        });
                        match res {
                            Ok(d) => {
                                deleted = d;
                                break;
                            }
                            Err(e) => {
                                failures += 1;
                                if failures == 1 || failures.is_power_of_two() {
                                    tracing::error!(error = %e, records = puts.len(), failures, "outcome store write failed; retrying");
                                }
                                std::thread::sleep(pause);
                                pause = (pause * 2).min(RETRY_MAX);
                            }
                        }
                    }
                    if failures > 0 {
                        tracing::warn!(failures, "outcome store writes recovered");
                    }
                    self.healthy.store(true, Ordering::Relaxed);
                    self.next_seq = first_seq + puts.len() as u64;
                    let mut deleted = deleted.into_iter().peekable();
                    for (i, (p, rec)) in puts.drain(..).zip(encoded.drain(..)).enumerate() {
                        let mut gone = Vec::new();
                        while let Some(&(_, seq)) = deleted.peek().filter(|(of, _)| *of == i) {
                            gone.push(seq);
                            unsynced.delete(seq);
                            deleted.next();
                        }
                        let seq = first_seq + i as u64;
                        self.pending.committed(&p.key, p.hash, &p.value, seq, &gone);
                        unsynced.push(seq, &rec);
                    }
                    // Held past this size until the next checkpoint, they would set
                    // the RSS (at 35,000 records/s, five seconds of them are ~50 MiB):
                    // a durable commit lets them go (a reopen cannot lose what is
                    // durable) and leaves the watermark to the checkpoint.
                    if unsynced.bytes() >= UNSYNCED_MAX
                        && self.transact(&mut reopen, false, &unsynced, |db| durable_commit(db, None)).is_ok()
                    {
                        unsynced.clear();
                    }
                }
                Cmd::Checkpoint { watermark, done } => {
                    let res = self.transact(&mut reopen, false, &unsynced, |db| durable_commit(db, Some(watermark)));
                    if res.is_ok() {
                        unsynced.clear();
                        self.healthy.store(true, Ordering::Relaxed);
                    }
                    let _ = done.send(res);
                }
                Cmd::Sweep { now, from, limit, done } => {
                    let pending = self.pending.clone();
                    let res = self.transact(&mut reopen, false, &unsynced, |db| sweep_chunk(db, &pending, now, from, limit));
                    let _ = done.send(res.map(|(swept, next)| {
                        for &seq in &swept {
                            unsynced.delete(seq);
                        }
                        (swept.len() as u64, next)
                    }));
                }
            }
        }
    }
}

/// Commits durably, with the log watermark `watermark` if given: every commit before
/// is durable too.
fn durable_commit(db: &Database, watermark: Option<u64>) -> Result<(), StoreError> {
    let mut w = db.begin_write().map_err(err)?;
    w.set_durability(Durability::Immediate).map_err(err)?;
    w.set_quick_repair(true);
    if let Some(watermark) = watermark {
        w.open_table(META).map_err(err)?.insert(WATERMARK, watermark).map_err(err)?;
    }
    w.commit().map_err(err)
}

/// Bytes of [`Unsynced`] records past which the writer commits durably.
pub(super) const UNSYNCED_MAX: usize = 8 << 20;

/// Appends a batch's records to the log as `first`, `first + 1`, …, and deletes the
/// records their keys had: those of `candidates` that hold the same key, and an
/// earlier put of the key in this batch. Returns the deleted records as (put's index,
/// seq), in put order.
fn append(
    t: &mut redb::Table<u64, &[u8]>,
    first: u64,
    puts: &[Put],
    records: &[Vec<u8>],
    candidates: &[Vec<u64>],
) -> Result<Vec<(usize, u64)>, StoreError> {
    let mut deleted = Vec::new();
    // hash → index of the batch's last put of it (a hash seen twice is a key put
    // twice, or a collision: the keys tell).
    let mut batch: HashMap<u64, usize> = HashMap::new();
    for (i, (p, rec)) in puts.iter().zip(records).enumerate() {
        for &seq in &candidates[i] {
            let same = match t.get(seq).map_err(err)? {
                Some(old) => split_record(old.value()).is_some_and(|(k, _)| k == p.key),
                None => false,
            };
            if same {
                t.remove(seq).map_err(err)?;
                deleted.push((i, seq));
            }
        }
        if let Some(prev) = batch.insert(p.hash, i) {
            let earlier = if puts[prev].key == p.key { Some(prev) } else { (0..i).rev().find(|&j| puts[j].key == p.key) };
            if let Some(j) = earlier {
                let seq = first + j as u64;
                if t.remove(seq).map_err(err)?.is_some() {
                    deleted.push((i, seq));
                }
            }
        }
        t.insert(first + i as u64, rec.as_slice()).map_err(err)?;
    }
    Ok(deleted)
}

/// Writes outcomes again, and deletes again what was deleted, in a non-durable
/// transaction of its own, after a reopen that may have lost the non-durable commits
/// that did it (the next durable checkpoint persists them).
fn rewrite(db: &Database, outcomes: &Unsynced) -> Result<(), StoreError> {
    let mut w = db.begin_write().map_err(err)?;
    w.set_durability(Durability::None).map_err(err)?;
    {
        let mut t = w.open_table(OUTCOMES).map_err(err)?;
        for (seq, rec) in outcomes.iter() {
            t.insert(seq, rec).map_err(err)?;
        }
        for &seq in &outcomes.deleted {
            t.remove(seq).map_err(err)?;
        }
    }
    w.commit().map_err(err)
}

/// Outcomes committed without fsync since the last durable commit, as the records
/// redb got with their sequence numbers, packed end to end (`[seq: u64][len: u32]
/// [record]`) in chunks of [`UNSYNCED_CHUNK`] bytes, and the records deleted
/// meanwhile. At most ~5 s of
/// outcomes (a checkpoint) or [`UNSYNCED_MAX`] bytes; a `Vec<(Vec<u8>, Outcome)>`
/// took ~340 bytes each, kept its doubled capacity after a checkpoint, and put the
/// RSS after 1,000,000 unique records at the 150 MiB limit once the server ran
/// faster.
#[derive(Default)]
pub(super) struct Unsynced {
    chunks: Vec<Vec<u8>>,
    /// Bytes of records in `chunks`.
    bytes: usize,
    /// Records deleted since the last durable checkpoint.
    deleted: Vec<u64>,
}

/// Bytes of one chunk of [`Unsynced`] (a larger entry gets a chunk of its own size).
pub(super) const UNSYNCED_CHUNK: usize = 1 << 20;

impl Unsynced {
    pub(super) fn push(&mut self, seq: u64, record: &[u8]) {
        let need = 12 + record.len();
        if self.chunks.last().is_none_or(|c| c.capacity() - c.len() < need) {
            self.chunks.push(Vec::with_capacity(UNSYNCED_CHUNK.max(need)));
        }
        let c = self.chunks.last_mut().expect("a chunk with room was just ensured");
        c.extend_from_slice(&seq.to_le_bytes());
        c.extend_from_slice(&(record.len() as u32).to_le_bytes());
        c.extend_from_slice(record);
        self.bytes += need;
    }

    /// Bytes of the records held.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The records with their numbers, in the order they were pushed.
    pub(super) fn iter(&self) -> impl Iterator<Item = (u64, &[u8])> {
        self.chunks.iter().flat_map(|c| Packed(c))
    }

    /// Notes a record deleted.
    pub(super) fn delete(&mut self, seq: u64) {
        self.deleted.push(seq);
    }

    /// Forgets every entry and frees the chunks.
    pub(super) fn clear(&mut self) {
        self.chunks.clear();
        self.bytes = 0;
        self.deleted = Vec::new();
    }
}

/// The entries of one chunk of [`Unsynced`].
struct Packed<'a>(&'a [u8]);

impl<'a> Iterator for Packed<'a> {
    type Item = (u64, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let (seq, rest) = self.0.split_first_chunk::<8>()?;
        let (len, rest) = rest.split_first_chunk::<4>()?;
        let (record, rest) = rest.split_at(u32::from_le_bytes(*len) as usize);
        self.0 = rest;
        Some((u64::from_le_bytes(*seq), record))
    }
}

/// Deletes the expired outcomes among up to `limit` records from `from` on. Returns
/// the records deleted and where the next chunk starts (`None`: done).
fn sweep_chunk(
    db: &Database,
    pending: &PendingMap,
    now: u64,
    from: Option<u64>,
    limit: usize,
) -> Result<(Vec<u64>, Option<u64>), StoreError> {
    let mut w = db.begin_write().map_err(err)?;
    w.set_durability(Durability::None).map_err(err)?;
    let mut expired = Vec::new();
    let mut next = None;
    {
        let mut t = w.open_table(OUTCOMES).map_err(err)?;
        {
            for (seen, item) in t.range(from.unwrap_or(0)..).map_err(err)?.enumerate() {
                let (seq, rec) = item.map_err(err)?;
                if seen == limit {
                    next = Some(seq.value());
                    break;
                }
                if let Some((k, v)) = split_record(rec.value())
                    && expiry_of(v) <= now
                {
                    expired.push((seq.value(), pending.hash(k)));
                }
            }
        }
        // Out of the index first: a lookup never meets a record the index names
        // gone for good (an expired one is absent either way).
        for &(seq, hash) in &expired {
            pending.shard(hash).lock().unwrap().index.remove(hash, seq);
        }
        for &(seq, _) in &expired {
            t.remove(seq).map_err(err)?;
        }
    }
    w.commit().map_err(err)?;
    Ok((expired.into_iter().map(|(seq, _)| seq).collect(), next))
}
