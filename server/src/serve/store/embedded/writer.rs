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
        let mut puts: Vec<(Vec<u8>, Outcome)> = Vec::with_capacity(MAX_BATCH);
        // Outcomes committed without fsync since the last durable checkpoint: a reopen
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
                Cmd::Put { key, value } => {
                    puts.push((key, value));
                    // A commit has a fixed cost (page bookkeeping, checksums, writes to the
                    // page cache) far above one insert, and no request waits for it: let the
                    // queue fill for a moment so that one commit carries many puts.
                    let mut waited = false;
                    while puts.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(Cmd::Put { key, value }) => puts.push((key, value)),
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
                    // Key order touches each B-tree page once per batch; a stable sort keeps
                    // a re-put of an expired key after the put it replaces.
                    puts.sort_by(|a, b| a.0.cmp(&b.0));
                    encoded.extend(puts.iter().map(|(_, v)| encode(v)));
                    // The winners were decided in put_if_absent; the batch only persists
                    // them. A failed batch is tried again until it commits: the outcomes
                    // stay in the pending map meanwhile (reads stay right), the store
                    // reports unhealthy (new submissions get 503, /ready 503), and nothing
                    // behind it in the queue — a checkpoint in particular — goes first.
                    let mut pause = RETRY_FIRST;
                    let mut failures = 0u64;
                    loop {
                        let res = self.transact(&mut reopen, true, &unsynced, |db| {
                            let mut w = db.begin_write().map_err(err)?;
                            w.set_durability(Durability::None).map_err(err)?;
                            {
                                let mut t = w.open_table(OUTCOMES).map_err(err)?;
                                for ((k, _), v) in puts.iter().zip(&encoded) {
                                    t.insert(k.as_slice(), v.as_slice()).map_err(err)?;
                                }
                            }
                            w.commit().map_err(err)
                        });
                        match res {
                            Ok(()) => break,
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
                    for ((k, v), e) in puts.drain(..).zip(encoded.drain(..)) {
                        self.pending.committed(&k, &v);
                        unsynced.push(&k, &e);
                    }
                }
                Cmd::Checkpoint { watermark, done } => {
                    let res = self.transact(&mut reopen, false, &unsynced, |db| {
                        let mut w = db.begin_write().map_err(err)?;
                        w.set_durability(Durability::Immediate).map_err(err)?;
                        w.set_quick_repair(true);
                        {
                            let mut meta = w.open_table(META).map_err(err)?;
                            meta.insert(WATERMARK, watermark).map_err(err)?;
                        }
                        w.commit().map_err(err)
                    });
                    if res.is_ok() {
                        unsynced.clear();
                        self.healthy.store(true, Ordering::Relaxed);
                    }
                    let _ = done.send(res);
                }
                Cmd::Sweep { now, from, limit, done } => {
                    let res = self.transact(&mut reopen, false, &unsynced, |db| sweep_chunk(db, now, from, limit));
                    let _ = done.send(res);
                }
            }
        }
    }
}

/// Writes outcomes again, in a non-durable transaction of its own, after a reopen
/// that may have lost the non-durable commits that held them (the next durable
/// checkpoint persists them).
fn rewrite(db: &Database, outcomes: &Unsynced) -> Result<(), StoreError> {
    let mut w = db.begin_write().map_err(err)?;
    w.set_durability(Durability::None).map_err(err)?;
    {
        let mut t = w.open_table(OUTCOMES).map_err(err)?;
        for (k, v) in outcomes.iter() {
            t.insert(k, v).map_err(err)?;
        }
    }
    w.commit().map_err(err)
}

/// Outcomes committed without fsync since the last durable checkpoint, as the key
/// and value bytes redb got, packed end to end (`[key_len: u32][value_len: u32][key]
/// [value]`) in chunks of [`UNSYNCED_CHUNK`] bytes. They are ~5 s of outcomes; a
/// `Vec<(Vec<u8>, Outcome)>` took ~340 bytes each, kept its doubled capacity after
/// a checkpoint, and put the RSS after 1,000,000 unique records at the 150 MiB
/// limit once the server ran faster.
#[derive(Default)]
pub(super) struct Unsynced {
    chunks: Vec<Vec<u8>>,
}

/// Bytes of one chunk of [`Unsynced`] (a larger entry gets a chunk of its own size).
pub(super) const UNSYNCED_CHUNK: usize = 1 << 20;

impl Unsynced {
    pub(super) fn push(&mut self, key: &[u8], value: &[u8]) {
        let need = 8 + key.len() + value.len();
        if self.chunks.last().is_none_or(|c| c.capacity() - c.len() < need) {
            self.chunks.push(Vec::with_capacity(UNSYNCED_CHUNK.max(need)));
        }
        let c = self.chunks.last_mut().expect("a chunk with room was just ensured");
        c.extend_from_slice(&(key.len() as u32).to_le_bytes());
        c.extend_from_slice(&(value.len() as u32).to_le_bytes());
        c.extend_from_slice(key);
        c.extend_from_slice(value);
    }

    /// The entries, in the order they were pushed.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.chunks.iter().flat_map(|c| Packed(c))
    }

    /// Forgets every entry and frees the chunks.
    pub(super) fn clear(&mut self) {
        self.chunks.clear();
    }
}

/// The entries of one chunk of [`Unsynced`].
struct Packed<'a>(&'a [u8]);

impl<'a> Iterator for Packed<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let (head, rest) = self.0.split_first_chunk::<8>()?;
        let key_len = u32::from_le_bytes(head[..4].try_into().unwrap()) as usize;
        let value_len = u32::from_le_bytes(head[4..].try_into().unwrap()) as usize;
        let (key, rest) = rest.split_at(key_len);
        let (value, rest) = rest.split_at(value_len);
        self.0 = rest;
        Some((key, value))
    }
}

/// Deletes the expired outcomes among up to `limit` entries from `from` on.
/// Returns how many were deleted and where the next chunk starts (`None`: done).
fn sweep_chunk(db: &Database, now: u64, from: Option<Vec<u8>>, limit: usize) -> Result<SweptChunk, StoreError> {
    let mut w = db.begin_write().map_err(err)?;
    w.set_durability(Durability::None).map_err(err)?;
    let (deleted, next) = {
        let mut t = w.open_table(OUTCOMES).map_err(err)?;
        let mut expired = Vec::new();
        let mut next = None;
        {
            let range = match &from {
                Some(c) => t.range::<&[u8]>(c.as_slice()..).map_err(err)?,
                None => t.range::<&[u8]>(..).map_err(err)?,
            };
            for (seen, item) in range.enumerate() {
                let (k, v) = item.map_err(err)?;
                if seen == limit {
                    next = Some(k.value().to_vec());
                    break;
                }
                if expiry_of(v.value()) <= now {
                    expired.push(k.value().to_vec());
                }
            }
        }
        for k in &expired {
            t.remove(k.as_slice()).map_err(err)?;
        }
        (expired.len() as u64, next)
    };
    w.commit().map_err(err)?;
    Ok((deleted, next))
}
