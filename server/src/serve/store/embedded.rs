//! The embedded store: redb behind an in-memory map of pending and recent outcomes.
//!
//! ## Why redb, and why its commits need no fsync of their own
//!
//! redb is a pure-Rust embedded key-value store with ACID transactions over
//! copy-on-write B-trees: no C toolchain, no server, one file, and a write
//! transaction is serialized, so "get, then insert if absent" inside one
//! transaction is atomic.
//!
//! A durable redb commit costs at least one fsync. The write-ahead log already makes
//! every request durable before it is answered, so the store commits batches with
//! [`Durability::None`] (visible at once to readers, persisted by the next durable
//! commit) and a periodic *checkpoint* commits durably together with the log's
//! watermark: the LSN below which every request has finished.
//!
//! First write wins in memory, before redb: `put_if_absent` decides under a per-key
//! shard lock, against the outcomes not yet committed (the *pending* map) and then
//! redb, records the winner in the pending map and queues it for the writer thread,
//! which commits batches and then drops them from the map. Readers see the pending
//! map first. So a request never waits for a redb transaction — in particular not for
//! a checkpoint, which takes ~100 ms on a busy disk — and every outcome queued before
//! a checkpoint command is committed before it (one FIFO queue). After a crash redb
//! reopens at its last durable commit, and the server replays the log from the
//! watermark stored in that very commit — re-storing whatever the crash lost, first
//! write winning. An outcome answered to a client is therefore either in the store's
//! durable state or in the replayed part of the log.
//!
//! ## An outcome log, and an index of it in memory
//!
//! The table is keyed by a sequence number the writer assigns: a commit appends its
//! outcomes to the last pages of the tree. Keyed by `tenant \0 pcs_id` (format 1,
//! before), every outcome of a batch landed in a random leaf, and the commit copied
//! a 4 KiB page and its branch for each: ~11–13 µs of the writer's CPU per unique
//! record, the largest single cost of a unique submission.
//!
//! Each shard of the pending map indexes the records of its keys (key hash →
//! sequence number; `store/embedded/index.rs`), built from the file at open, before
//! the store serves. A key the index does not know is not in the file, so a lookup of
//! a new key — every unique submission makes one — reads nothing. A key that is put
//! again (its outcome expired, or a region merge replaced it) gets a new record, and
//! the writer deletes the old one in the same commit: one record per key.
//!
//! A format-1 file is upgraded at open, in one transaction; a release from before the
//! upgrade refuses the upgraded file (its table has another key type) instead of
//! serving it as empty.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use redb::{Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use tokio::sync::{mpsc, oneshot};

use super::*;

mod index;
mod writer;
use index::KeyIndex;
use writer::Writer;

/// The outcome log (format 2): `seq: u64` → `[key_len: u16 LE][key][value]`, where
/// `key` is `tenant \0 pcs_id` and `value` is `[expires_at: u64 LE][status: u16 LE]
/// [VerifyResult JSON]`, or with a region stamp (SPEC §10; regions on) `[expires_at |
/// 1<<63][status][hlc: u64 LE][record_sha256: 32][region_len: u8][region][VerifyResult
/// JSON]`. The top bit of a real expiry is never set, so both values read. Named like
/// format 1's table, with another key type: an older release refuses the file.
const OUTCOMES: TableDefinition<u64, &[u8]> = TableDefinition::new("outcomes");
/// Format 1: `key` → `value`, one random leaf per put. Upgraded at open.
const OUTCOMES_V1: TableDefinition<&[u8], &[u8]> = TableDefinition::new("outcomes");
/// Format 1's table while its outcomes move (inside the upgrade's transaction).
const OUTCOMES_V1_MOVING: TableDefinition<&[u8], &[u8]> = TableDefinition::new("outcomes_v1");
/// The log while its outcomes move back to format 1 (`fractal store downgrade`).
const OUTCOMES_V2_MOVING: TableDefinition<u64, &[u8]> = TableDefinition::new("outcomes_v2");
/// Bookkeeping: the log watermark of the last checkpoint.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const WATERMARK: &str = "wal_watermark";

/// Outcomes deleted by one sweep chunk, and the record the next chunk starts at.
type SweptChunk = (u64, Option<u64>);

enum Cmd {
    Put { key: Vec<u8>, hash: u64, value: Outcome },
    Checkpoint { watermark: u64, done: oneshot::Sender<Result<(), StoreError>> },
    Sweep { now: u64, from: Option<u64>, limit: usize, done: oneshot::Sender<Result<SweptChunk, StoreError>> },
}

/// A log record: the key and the encoded outcome.
fn record(key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut r = Vec::with_capacity(2 + key.len() + value.len());
    r.extend_from_slice(&(key.len() as u16).to_le_bytes());
    r.extend_from_slice(key);
    r.extend_from_slice(value);
    r
}

/// A log record's key and encoded outcome.
fn split_record(r: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = r.split_first_chunk::<2>()?;
    let len = u16::from_le_bytes(*len) as usize;
    (rest.len() >= len).then(|| rest.split_at(len))
}

/// What the records a key's index entries point at say.
enum Seen {
    /// The key's newest record, unexpired.
    Outcome(Outcome),
    /// No record of the key, or an expired one.
    Absent,
    /// A record the index named was gone: a newer record of the key replaced it
    /// since (and is in the pending map or the index), or the file was reopened
    /// after a failed commit and its unsynced records are not written again yet. (A
    /// sweep takes records out of the index before it deletes them.)
    Vanished,
}

/// The embedded store: a redb file, written by one thread that batches
/// `put_if_absent` calls into shared transactions.
#[derive(Clone)]
pub struct RedbStore {
    db: Arc<DbSlot>,
    tx: mpsc::Sender<Cmd>,
    healthy: Arc<AtomicBool>,
    pending: Arc<PendingMap>,
    /// The test hook's count of outcome commits still to fail (tests arm it late).
    #[cfg(test)]
    fail_commits: Arc<AtomicU64>,
}

/// The open database, or none while the writer reopens it after an I/O error (redb
/// fails every operation after one, until the file is opened again).
struct DbSlot {
    path: std::path::PathBuf,
    cache_bytes: usize,
    db: std::sync::RwLock<Option<Arc<Database>>>,
}

impl DbSlot {
    fn get(&self) -> Result<Arc<Database>, StoreError> {
        self.db.read().unwrap().clone().ok_or_else(|| err("the store file is being reopened after an error"))
    }

    /// Closes and reopens the file (the writer thread only).
    fn reopen(&self) -> Result<(), StoreError> {
        let old = self.db.write().unwrap().take();
        if let Some(old) = old {
            // Readers hold a clone only for the length of one read.
            let mut old = old;
            let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
            loop {
                match Arc::try_unwrap(old) {
                    Ok(db) => {
                        drop(db);
                        break;
                    }
                    Err(still) if std::time::Instant::now() < until => {
                        old = still;
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    Err(still) => {
                        *self.db.write().unwrap() = Some(still);
                        return Err(err("readers held the store file; reopen postponed"));
                    }
                }
            }
        }
        let db = Database::builder().set_cache_size(self.cache_bytes).create(&self.path).map_err(err)?;
        *self.db.write().unwrap() = Some(Arc::new(db));
        Ok(())
    }
}

/// Called by the writer for every failed write transaction (metrics).
pub type ErrorObserver = Arc<dyn Fn() + Send + Sync>;

/// Test hook: `FRACTAL_TEST_FAIL_STORE_COMMITS=N` makes the writer's next N batch
/// commits of outcomes fail before they touch the file, as a full disk would (the
/// file is then reopened, as after a real failure). For the tests
/// of the store's recovery only; never set it in production.
pub const FAIL_COMMITS_ENV: &str = "FRACTAL_TEST_FAIL_STORE_COMMITS";

/// Lookups again after a record the index named vanished (a newer record of the key
/// took its place meanwhile, which one more lookup finds).
const VANISHED_RETRIES: usize = 3;

/// Number of independently locked shards of the pending map.
const SHARDS: usize = 64;

/// Outcomes decided but not yet committed to redb, by key, and the index of those
/// that are.
struct PendingMap {
    shards: Vec<Mutex<Shard>>,
    hasher: RandomState,
}

/// Committed outcomes kept in memory per shard, in two generations of at most this
/// many each: retries come soon after the first answer, and a hit here spares a redb
/// read transaction (two B-tree descents and a page copy). At most 64 × 2 × 256
/// outcomes, a few MiB.
const RECENT_PER_SHARD: usize = 256;

/// One shard of the pending map.
#[derive(Default)]
struct Shard {
    map: HashMap<Vec<u8>, Outcome>,
    /// Outcomes committed lately (a cache of redb: stored outcomes never change,
    /// except by a region merge, which goes through `map` again).
    recent: HashMap<Vec<u8>, Outcome>,
    /// The generation before `recent`, dropped when `recent` fills up again.
    older: HashMap<Vec<u8>, Outcome>,
    /// Entries removed so far. Every outcome reaches redb through this map and
    /// leaves it only after its commit, so while this count stays the same, a key
    /// that is in neither the map nor redb cannot appear in redb.
    removals: u64,
    /// The log records of this shard's committed keys (updated with `map`, by the
    /// writer, after each commit).
    index: KeyIndex,
}

impl PendingMap {
    fn new() -> PendingMap {
        PendingMap { shards: (0..SHARDS).map(|_| Mutex::default()).collect(), hasher: RandomState::new() }
    }

    /// Indexes the records of the file; returns how many there are and the sequence
    /// number after the last.
    fn load_index(&self, db: &Database) -> Result<(u64, u64), StoreError> {
        let r = db.begin_read().map_err(err)?;
        let t = r.open_table(OUTCOMES).map_err(err)?;
        let (mut n, mut next) = (0, 0);
        for item in t.iter().map_err(err)? {
            let (seq, rec) = item.map_err(err)?;
            let (k, _) = split_record(rec.value()).ok_or_else(|| err("a stored record is malformed"))?;
            let hash = self.hash(k);
            self.shard(hash).lock().unwrap().index.insert(hash, seq.value());
            n += 1;
            next = seq.value() + 1;
        }
        Ok((n, next))
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    fn shard(&self, hash: u64) -> &Mutex<Shard> {
        &self.shards[hash as usize % SHARDS]
    }

    /// Indexes a committed record `seq` of `key` in place of the records it deleted,
    /// and moves its entry to the recent ones, unless a newer outcome took its place
    /// meanwhile.
    fn committed(&self, key: &[u8], hash: u64, value: &Outcome, seq: u64, deleted: &[u64]) {
        let mut s = self.shard(hash).lock().unwrap();
        for &d in deleted {
            s.index.remove(hash, d);
        }
        s.index.insert(hash, seq);
        if s.map.get(key) == Some(value)
            && let Some((k, o)) = s.map.remove_entry(key)
        {
            s.removals += 1;
            if s.recent.len() >= RECENT_PER_SHARD {
                // The older generation goes; its table, kept, is the next `recent`
                // (a new one grew through eight rehashes of SipHash on every key).
                let s = &mut *s;
                std::mem::swap(&mut s.older, &mut s.recent);
                s.recent.clear();
            }
            s.recent.insert(k, o);
        }
    }
}

impl Shard {
    /// The unexpired outcome of `key` held in memory: pending first, then recent.
    fn get(&self, key: &[u8], now: u64) -> Option<&Outcome> {
        [&self.map, &self.recent, &self.older].into_iter().find_map(|m| m.get(key)).filter(|o| o.expires_at > now)
    }
}

/// The store's writer thread; join it after dropping every handle.
pub struct StoreWriter(std::thread::JoinHandle<()>);

impl StoreWriter {
    /// Waits until the writer has committed its queue.
    pub fn join(self) {
        let _ = self.0.join();
    }
}

/// Most puts in one transaction.
const MAX_BATCH: usize = 4096;
/// How long the writer lets puts gather before a commit that is not full. No request
/// waits for a commit, and a commit's cost (branch pages, page bookkeeping,
/// checksums) is shared by its puts: 10 ms instead of 2 took the writer from 15.4 to
/// 12.4 µs per unique request (medians of five alternating `fractal-load` runs). But
/// a longer wait makes a longer burst of commit work, which the requests feel: 10 ms
/// put the p99 ~0.5 ms above 5 ms for the same throughput, so 5.
const BATCH_WAIT: std::time::Duration = std::time::Duration::from_millis(5);
/// Room in the queue in front of the writer.
const QUEUE: usize = 16 * 1024;
/// Entries examined by one sweep transaction (bounds the pause it causes).
const SWEEP_CHUNK: usize = 20_000;

impl RedbStore {
    /// Opens (or creates) the store file. Returns the store, its writer thread and the
    /// log watermark of the last durable checkpoint.
    pub fn open(path: &Path, cache_bytes: usize) -> Result<(RedbStore, StoreWriter, u64), StoreError> {
        Self::open_with(path, cache_bytes, Arc::new(|| {}))
    }

    /// [`RedbStore::open`] with an observer of failed write transactions.
    pub fn open_with(
        path: &Path,
        cache_bytes: usize,
        on_error: ErrorObserver,
    ) -> Result<(RedbStore, StoreWriter, u64), StoreError> {
        let fail_commits = match std::env::var(FAIL_COMMITS_ENV) {
            Ok(v) => v.parse::<u64>().map_err(|_| err(format!("{FAIL_COMMITS_ENV}: not a number")))?,
            Err(_) => 0,
        };
        let fail_commits = Arc::new(AtomicU64::new(fail_commits));
        let db = Database::builder().set_cache_size(cache_bytes).create(path).map_err(err)?;
        let watermark = {
            let mut w = db.begin_write().map_err(err)?;
            w.set_durability(Durability::Immediate).map_err(err)?;
            w.set_quick_repair(true);
            let upgraded = upgrade_v1(&w)?;
            let wm = {
                w.open_table(OUTCOMES).map_err(err)?;
                let meta = w.open_table(META).map_err(err)?;
                meta.get(WATERMARK).map_err(err)?.map(|g| g.value()).unwrap_or(0)
            };
            w.commit().map_err(err)?;
            if let Some(n) = upgraded {
                tracing::info!(outcomes = n, "outcome store upgraded to format 2 (an outcome log)");
            }
            wm
        };
        let pending = Arc::new(PendingMap::new());
        // Before the store serves: a lookup trusts the index.
        let (records, next_seq) = pending.load_index(&db)?;
        tracing::debug!(records, "outcome store index loaded");
        let db = Arc::new(DbSlot {
            path: path.to_path_buf(),
            cache_bytes,
            db: std::sync::RwLock::new(Some(Arc::new(db))),
        });
        let (tx, rx) = mpsc::channel(QUEUE);
        let healthy = Arc::new(AtomicBool::new(true));
        let writer = {
            let fail_commits = fail_commits.clone();
            let w = Writer {
                db: db.clone(),
                healthy: healthy.clone(),
                pending: pending.clone(),
                on_error,
                fail_commits,
                next_seq,
            };
            std::thread::Builder::new().name("store-writer".into()).spawn(move || w.run(rx)).map_err(err)?
        };
        let store = RedbStore {
            db,
            tx,
            healthy,
            pending,
            #[cfg(test)]
            fail_commits,
        };
        Ok((store, StoreWriter(writer), watermark))
    }

    /// Commits durably, recording `watermark` (every log record below it has its
    /// outcome in this commit or an earlier one).
    pub async fn checkpoint(&self, watermark: u64) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.tx.send(Cmd::Checkpoint { watermark, done }).await.map_err(|_| err("writer stopped"))?;
        wait.await.map_err(|_| err("writer stopped"))?
    }

    /// Deletes outcomes that expired before `now`; returns how many. Works in chunks,
    /// one write transaction each, so puts queued behind it wait one chunk at most.
    pub async fn sweep(&self, now: u64) -> Result<u64, StoreError> {
        self.sweep_in_chunks(now, SWEEP_CHUNK).await
    }

    async fn sweep_in_chunks(&self, now: u64, limit: usize) -> Result<u64, StoreError> {
        let mut from = None;
        let mut deleted = 0;
        loop {
            let (done, wait) = oneshot::channel();
            self.tx.send(Cmd::Sweep { now, from, limit, done }).await.map_err(|_| err("writer stopped"))?;
            let (n, next) = wait.await.map_err(|_| err("writer stopped"))??;
            deleted += n;
            match next {
                Some(k) => from = Some(k),
                None => return Ok(deleted),
            }
        }
    }

    /// How many outcomes are stored (expired ones not yet swept included).
    pub fn count(&self) -> Result<u64, StoreError> {
        let r = self.db.get()?.begin_read().map_err(err)?;
        let t = r.open_table(OUTCOMES).map_err(err)?;
        t.len().map_err(err)
    }

    /// Reads the records `seqs` (newest first) for the newest of `k`.
    fn read(&self, k: &[u8], seqs: &[u64]) -> Result<Seen, StoreError> {
        let r = self.db.get()?.begin_read().map_err(err)?;
        let t = r.open_table(OUTCOMES).map_err(err)?;
        let mut vanished = false;
        for &seq in seqs {
            let Some(rec) = t.get(seq).map_err(err)? else {
                vanished = true;
                continue;
            };
            let (key, value) = split_record(rec.value()).ok_or_else(|| err("a stored record is malformed"))?;
            if key == k {
                let o = decode(value).ok_or_else(|| err("stored outcome is malformed"))?;
                return Ok(if o.expires_at > now_secs() { Seen::Outcome(o) } else { Seen::Absent });
            }
        }
        Ok(if vanished { Seen::Vanished } else { Seen::Absent })
    }
}

/// Rewrites an outcome store file in format 1, for a release from before format 2
/// (`fractal store downgrade`; the server stopped: redb locks an open file). One
/// durable transaction; the watermark stays, so that release replays the log from
/// where this one left it. Returns how many outcomes were moved, or `None` when the
/// file is in format 1 already.
pub fn downgrade_to_v1(path: &Path) -> Result<Option<u64>, StoreError> {
    let db = Database::open(path).map_err(err)?;
    let w = db.begin_write().map_err(err)?;
    match w.open_table(OUTCOMES) {
        Ok(_) => {}
        Err(redb::TableError::TableTypeMismatch { .. }) => return Ok(None),
        Err(e) => return Err(err(e)),
    }
    w.rename_table(OUTCOMES, OUTCOMES_V2_MOVING).map_err(err)?;
    let mut n = 0;
    {
        let log = w.open_table(OUTCOMES_V2_MOVING).map_err(err)?;
        let mut old = w.open_table(OUTCOMES_V1).map_err(err)?;
        // In log order: a key's newest record, if it had two, is the one kept.
        for item in log.iter().map_err(err)? {
            let (_, rec) = item.map_err(err)?;
            let (k, v) = split_record(rec.value()).ok_or_else(|| err("a stored record is malformed"))?;
            old.insert(k, v).map_err(err)?;
            n += 1;
        }
    }
    w.delete_table(OUTCOMES_V2_MOVING).map_err(err)?;
    w.commit().map_err(err)?;
    Ok(Some(n))
}

/// Upgrades a format-1 file inside the opening transaction `w`: every outcome moves
/// to the log, in key order, and the old table goes. One transaction: a crash
/// half-way leaves format 1, upgraded again at the next open. Returns how many moved,
/// or `None` when there was nothing to upgrade.
fn upgrade_v1(w: &redb::WriteTransaction) -> Result<Option<u64>, StoreError> {
    // A new file gets the log here; one in format 2 opens as it is.
    match w.open_table(OUTCOMES) {
        Ok(_) => return Ok(None),
        Err(redb::TableError::TableTypeMismatch { .. }) => {}
        Err(e) => return Err(err(e)),
    }
    w.rename_table(OUTCOMES_V1, OUTCOMES_V1_MOVING).map_err(err)?;
    let mut n = 0;
    {
        let old = w.open_table(OUTCOMES_V1_MOVING).map_err(err)?;
        let mut log = w.open_table(OUTCOMES).map_err(err)?;
        for item in old.iter().map_err(err)? {
            let (k, v) = item.map_err(err)?;
            log.insert(n, record(k.value(), v.value()).as_slice()).map_err(err)?;
            n += 1;
        }
    }
    w.delete_table(OUTCOMES_V1_MOVING).map_err(err)?;
    Ok(Some(n))
}

impl RedbStore {
    /// The pending map, then redb; `Err` carries what the lookup saw.
    fn find(&self, tenant: &str, pcs_id: &str) -> Result<Result<Outcome, Absent>, StoreError> {
        let k = key(tenant, pcs_id);
        let hash = self.pending.hash(&k);
        for attempt in 0..=VANISHED_RETRIES {
            let (removals, seqs) = {
                let s = self.pending.shard(hash).lock().unwrap();
                if let Some(o) = s.get(&k, now_secs()) {
                    return Ok(Ok(o.clone()));
                }
                (s.removals, s.index.seqs(hash))
            };
            let absent = Absent { seen: Some((hash, removals)) };
            if seqs.is_empty() {
                // Not in the file: a new key, as every unique submission's.
                return Ok(Err(absent));
            }
            // The count is taken before redb is read: an outcome committed after the
            // read began is still in the map, or its removal changed the count.
            match self.read(&k, &seqs)? {
                Seen::Outcome(o) => return Ok(Ok(o)),
                Seen::Absent => return Ok(Err(absent)),
                // Deleted since the index was read: a newer record of the key
                // replaced it, and is in the map or the index by now. Look again.
                Seen::Vanished if attempt < VANISHED_RETRIES => std::thread::yield_now(),
                // Still gone: the file is being reopened (after a failed commit,
                // until the records it forgot are written again).
                Seen::Vanished => return Err(err("stored records are being rewritten after a failed commit")),
            }
        }
        unreachable!("the last attempt returns")
    }

    async fn put(&self, tenant: &str, pcs_id: &str, outcome: Outcome, seen: Absent) -> Result<Put, StoreError> {
        let (k, hash, permit) = self.reserve(tenant, pcs_id).await?;
        // Every insert passes through this lock before it can reach redb, so
        // "not pending and not in redb" cannot change while it is held.
        let mut s = self.pending.shard(hash).lock().unwrap();
        if let Some(o) = self.current(&s, &k, hash, seen)? {
            return Ok(Put::Existing(o));
        }
        Self::queue(&mut s, hash, k, outcome.clone(), permit);
        Ok(Put::Inserted(outcome))
    }

    /// What a write needs before it takes its key's shard lock: the store healthy,
    /// the key and its hash, and room in the writer's queue. The room comes first:
    /// once an outcome is in the pending map (where readers see it), it must reach
    /// the writer without another await, or a cancelled caller could leave an
    /// answered outcome that is never committed.
    async fn reserve(
        &self,
        tenant: &str,
        pcs_id: &str,
    ) -> Result<(Vec<u8>, u64, mpsc::Permit<'_, Cmd>), StoreError> {
        if !self.healthy.load(Ordering::Relaxed) {
            // Fail closed: a failed commit means outcomes may not reach the store.
            return Err(err("the last write transaction failed"));
        }
        let k = key(tenant, pcs_id);
        let permit = self.tx.reserve().await.map_err(|_| err("writer stopped"))?;
        let hash = self.pending.hash(&k);
        Ok((k, hash, permit))
    }

    /// The key's unexpired outcome, under its shard lock `s`: in memory, else in
    /// redb, which is not read when the index does not know the key or when a
    /// lookup found it absent and nothing has left the shard since (so nothing
    /// reached redb unseen).
    fn current(&self, s: &Shard, k: &[u8], hash: u64, seen: Absent) -> Result<Option<Outcome>, StoreError> {
        if let Some(o) = s.get(k, now_secs()) {
            return Ok(Some(o.clone()));
        }
        if seen.seen == Some((hash, s.removals)) {
            return Ok(None);
        }
        let seqs = s.index.seqs(hash);
        if seqs.is_empty() {
            return Ok(None);
        }
        // Under the lock, a record the index names vanishes only while the file is
        // reopened: a newer record of the key is in the map until the writer indexes
        // it (which needs the lock), and a sweep unindexes before it deletes.
        match self.read(k, &seqs)? {
            Seen::Outcome(o) => Ok(Some(o)),
            Seen::Absent => Ok(None),
            Seen::Vanished => Err(err("stored records are being rewritten after a failed commit")),
        }
    }

    /// Makes `outcome` the key's outcome: pending (where readers see it) until the
    /// writer, which `permit` reaches without waiting, commits it.
    fn queue(s: &mut Shard, hash: u64, k: Vec<u8>, outcome: Outcome, permit: mpsc::Permit<'_, Cmd>) {
        s.map.insert(k.clone(), outcome.clone());
        permit.send(Cmd::Put { key: k, hash, value: outcome });
    }
}

impl RedbStore {
    /// Stores an outcome read from a region's log by SPEC §10's order: inserted if the
    /// key is absent, stored in place of the current outcome if its stamp is smaller,
    /// kept out otherwise. An outcome without a stamp (or a stored one without, from
    /// before regions were on) never replaces and is never replaced.
    pub async fn merge_stamped(&self, tenant: &str, pcs_id: &str, outcome: Outcome) -> Result<Merged, StoreError> {
        let (k, hash, permit) = self.reserve(tenant, pcs_id).await?;
        let mut s = self.pending.shard(hash).lock().unwrap();
        let result = match self.current(&s, &k, hash, Absent::UNKNOWN)? {
            None => Merged::Inserted,
            Some(cur) => match (&outcome.stamp, &cur.stamp) {
                (Some(new), Some(old)) if fractal_core::region::supersedes(new, old) => Merged::Replaced(cur),
                _ => return Ok(Merged::Kept(cur)),
            },
        };
        Self::queue(&mut s, hash, k, outcome, permit);
        Ok(result)
    }

    /// Calls `f` for every unexpired committed outcome, in the order they were
    /// stored, with its tenant and pcs_id (the divergence digest, which does not
    /// depend on the order; outcomes still in the writer's queue show up in the next
    /// pass).
    pub fn for_each(&self, mut f: impl FnMut(&str, &str, &Outcome)) -> Result<(), StoreError> {
        let r = self.db.get()?.begin_read().map_err(err)?;
        let t = r.open_table(OUTCOMES).map_err(err)?;
        let now = now_secs();
        for item in t.iter().map_err(err)? {
            let (_, rec) = item.map_err(err)?;
            let Some((k, v)) = split_record(rec.value()) else { continue };
            let Some(o) = decode(v).filter(|o| o.expires_at > now) else { continue };
            let Some(z) = k.iter().position(|&b| b == 0) else { continue };
            let (Ok(tenant), Ok(pcs_id)) = (std::str::from_utf8(&k[..z]), std::str::from_utf8(&k[z + 1..])) else {
                continue;
            };
            f(tenant, pcs_id, &o);
        }
        Ok(())
    }
}

impl OutcomeStore for RedbStore {
    async fn get(&self, tenant: &str, pcs_id: &str) -> Result<Option<Outcome>, StoreError> {
        Ok(self.find(tenant, pcs_id)?.ok())
    }

    async fn lookup(&self, tenant: &str, pcs_id: &str) -> Result<Result<Outcome, Absent>, StoreError> {
        self.find(tenant, pcs_id)
    }

    async fn put_if_absent(&self, tenant: &str, pcs_id: &str, outcome: Outcome) -> Result<Put, StoreError> {
        self.put(tenant, pcs_id, outcome, Absent::UNKNOWN).await
    }

    async fn put_if_absent_seen(
        &self,
        tenant: &str,
        pcs_id: &str,
        outcome: Outcome,
        seen: Absent,
    ) -> Result<Put, StoreError> {
        self.put(tenant, pcs_id, outcome, seen).await
    }

    async fn merge(&self, tenant: &str, pcs_id: &str, outcome: Outcome) -> Result<Merged, StoreError> {
        self.merge_stamped(tenant, pcs_id, outcome).await
    }

    async fn health(&self) -> Result<(), StoreError> {
        if !self.healthy.load(Ordering::Relaxed) || self.tx.is_closed() {
            return Err(err("the last write transaction failed"));
        }
        let r = self.db.get()?.begin_read().map_err(err)?;
        r.open_table(OUTCOMES).map_err(err)?;
        Ok(())
    }

    fn peek(&self, tenant: &str, pcs_id: &str) -> Option<Result<Outcome, Absent>> {
        self.find(tenant, pcs_id).ok()
    }

    fn accepting(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests;
