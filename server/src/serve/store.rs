//! The dedup store: one stored outcome per `(tenant, pcs_id)`, first write wins.
//!
//! The handler only sees the [`OutcomeStore`] trait, so a shared tier (Redis,
//! PostgreSQL, object storage) or a sharded store can replace the embedded one
//! without touching it. The embedded default is [`RedbStore`].
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

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use redb::{Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use tokio::sync::{mpsc, oneshot};

/// `tenant \0 pcs_id` → `[expires_at: u64 LE][status: u16 LE][VerifyResult JSON]`, or
/// with a region stamp (SPEC §10; regions on) `[expires_at | 1<<63][status][hlc: u64 LE]
/// [record_sha256: 32][region_len: u8][region][VerifyResult JSON]`. The top bit of a
/// real expiry is never set, so both formats read.
const OUTCOMES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("outcomes");
/// Bookkeeping: the log watermark of the last checkpoint.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const WATERMARK: &str = "wal_watermark";

/// A stored answer: the status and the exact body first sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// 200 or 202.
    pub status: u16,
    /// The VerifyResult JSON, byte for byte.
    pub body: Vec<u8>,
    /// Seconds since the Unix epoch after which the outcome counts as absent.
    pub expires_at: u64,
    /// Regions on: `(accepted_at, region, record sha256)` of the answer (SPEC §10).
    pub stamp: Option<fractal_core::region::Stamp>,
}

/// What [`OutcomeStore::put_if_absent`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Put {
    /// This outcome is now the stored one.
    Inserted(Outcome),
    /// Another outcome was there first; it stays.
    Existing(Outcome),
}

/// A store error: the request fails closed with 503 and the log keeps the record.
#[derive(Debug, thiserror::Error)]
#[error("outcome store: {0}")]
pub struct StoreError(pub String);

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

/// The dedup store seen by the handler.
pub trait OutcomeStore: Send + Sync + 'static {
    /// The unexpired outcome of `(tenant, pcs_id)`, if any.
    fn get(&self, tenant: &str, pcs_id: &str) -> impl Future<Output = Result<Option<Outcome>, StoreError>> + Send;
    /// Stores `outcome` unless an unexpired one is there; atomic: of concurrent
    /// callers exactly one inserts and all get the winner.
    fn put_if_absent(
        &self,
        tenant: &str,
        pcs_id: &str,
        outcome: Outcome,
    ) -> impl Future<Output = Result<Put, StoreError>> + Send;
    /// `Ok` when the store answers reads and takes writes.
    fn health(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A cheap hint: `false` while the store is known to be failing, so that a
    /// submission is refused before it is logged. Defaults to `true`.
    fn accepting(&self) -> bool {
        true
    }

    /// [`OutcomeStore::accepting`] for one key: a sharded store says `false` while
    /// the key's owning shard is down (other keys go on). Defaults to `accepting()`.
    fn accepting_for(&self, tenant: &str, pcs_id: &str) -> bool {
        let _ = (tenant, pcs_id);
        self.accepting()
    }

    /// `/ready`: whether to answer 200, and the JSON body (per shard where there
    /// are shards). Defaults to [`OutcomeStore::health`].
    fn readiness(&self) -> impl Future<Output = (bool, serde_json::Value)> + Send {
        async move {
            match self.health().await {
                Ok(()) => (true, serde_json::json!({ "status": "ready" })),
                Err(e) => {
                    tracing::warn!(error = %e, "readiness check failed");
                    (false, serde_json::json!({ "error": { "code": "store_unavailable", "message": "the outcome store is not answering" } }))
                }
            }
        }
    }

    /// [`OutcomeStore::get`], and when there is no outcome, an [`Absent`] that a
    /// following [`OutcomeStore::put_if_absent_seen`] of the same key may use to skip
    /// looking again.
    fn lookup(
        &self,
        tenant: &str,
        pcs_id: &str,
    ) -> impl Future<Output = Result<Result<Outcome, Absent>, StoreError>> + Send {
        async move { Ok(self.get(tenant, pcs_id).await?.ok_or(Absent::UNKNOWN)) }
    }

    /// [`OutcomeStore::put_if_absent`] after a [`OutcomeStore::lookup`] of the same key
    /// found nothing; same atomicity.
    fn put_if_absent_seen(
        &self,
        tenant: &str,
        pcs_id: &str,
        outcome: Outcome,
        seen: Absent,
    ) -> impl Future<Output = Result<Put, StoreError>> + Send {
        let _ = seen;
        self.put_if_absent(tenant, pcs_id, outcome)
    }

    /// Stores an outcome from a region's log by SPEC §10's global order (see
    /// [`RedbStore::merge_stamped`]). A store without stamps: first write wins.
    fn merge(&self, tenant: &str, pcs_id: &str, outcome: Outcome) -> impl Future<Output = Result<Merged, StoreError>> + Send {
        async move {
            Ok(match self.put_if_absent(tenant, pcs_id, outcome).await? {
                Put::Inserted(_) => Merged::Inserted,
                Put::Existing(o) => Merged::Kept(o),
            })
        }
    }
}

/// What a store knew when [`OutcomeStore::lookup`] found no outcome (opaque; a store
/// may ignore it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Absent {
    /// The key's hash and its pending shard's removal count at the lookup.
    seen: Option<(u64, u64)>,
}

impl Absent {
    /// Nothing known: the put looks everywhere.
    pub const UNKNOWN: Absent = Absent { seen: None };
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

fn key(tenant: &str, pcs_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(tenant.len() + 1 + pcs_id.len());
    k.extend_from_slice(tenant.as_bytes());
    k.push(0);
    k.extend_from_slice(pcs_id.as_bytes());
    k
}

/// Marks a stored value that carries a region stamp.
const STAMPED: u64 = 1 << 63;

pub(crate) fn encode(o: &Outcome) -> Vec<u8> {
    let mut v = Vec::with_capacity(50 + o.body.len());
    let expiry = o.expires_at & !STAMPED;
    match &o.stamp {
        None => {
            v.extend_from_slice(&expiry.to_le_bytes());
            v.extend_from_slice(&o.status.to_le_bytes());
        }
        Some(s) => {
            v.extend_from_slice(&(expiry | STAMPED).to_le_bytes());
            v.extend_from_slice(&o.status.to_le_bytes());
            v.extend_from_slice(&s.accepted_at.to_le_bytes());
            v.extend_from_slice(&s.record_sha256);
            v.push(s.region.len().min(255) as u8);
            v.extend_from_slice(&s.region.as_bytes()[..s.region.len().min(255)]);
        }
    }
    v.extend_from_slice(&o.body);
    v
}

pub(crate) fn decode(v: &[u8]) -> Option<Outcome> {
    if v.len() < 10 {
        return None;
    }
    let head = u64::from_le_bytes(v[0..8].try_into().ok()?);
    let status = u16::from_le_bytes(v[8..10].try_into().ok()?);
    if head & STAMPED == 0 {
        return Some(Outcome { expires_at: head, status, body: v[10..].to_vec(), stamp: None });
    }
    let accepted_at = u64::from_le_bytes(v.get(10..18)?.try_into().ok()?);
    let record_sha256: [u8; 32] = v.get(18..50)?.try_into().ok()?;
    let rlen = *v.get(50)? as usize;
    let region = String::from_utf8(v.get(51..51 + rlen)?.to_vec()).ok()?;
    Some(Outcome {
        expires_at: head & !STAMPED,
        status,
        body: v[51 + rlen..].to_vec(),
        stamp: Some(fractal_core::region::Stamp { accepted_at, region, record_sha256 }),
    })
}

fn expiry_of(v: &[u8]) -> u64 {
    v.get(0..8).map(|b| u64::from_le_bytes(b.try_into().unwrap()) & !STAMPED).unwrap_or(0)
}

/// What [`RedbStore::merge`] did with an outcome from a region's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merged {
    /// The key was absent: the outcome is now stored.
    Inserted,
    /// The stored outcome stays (it is earlier in the global order, or the same).
    Kept(Outcome),
    /// The outcome superseded this earlier-stored one (SPEC §10).
    Replaced(Outcome),
}

/// Outcomes deleted by one sweep chunk, and the key the next chunk starts at.
type SweptChunk = (u64, Option<Vec<u8>>);

enum Cmd {
    Put { key: Vec<u8>, value: Outcome },
    Checkpoint { watermark: u64, done: oneshot::Sender<Result<(), StoreError>> },
    Sweep { now: u64, from: Option<Vec<u8>>, limit: usize, done: oneshot::Sender<Result<SweptChunk, StoreError>> },
}

/// The embedded store: a redb file, written by one thread that batches
/// `put_if_absent` calls into shared transactions.
#[derive(Clone)]
pub struct RedbStore {
    db: Arc<DbSlot>,
    tx: mpsc::Sender<Cmd>,
    healthy: Arc<AtomicBool>,
    pending: Arc<PendingMap>,
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

/// Number of independently locked shards of the pending map.
const SHARDS: usize = 64;

/// Outcomes decided but not yet committed to redb, by key.
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
}

impl PendingMap {
    fn new() -> PendingMap {
        PendingMap { shards: (0..SHARDS).map(|_| Mutex::default()).collect(), hasher: RandomState::new() }
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    fn shard(&self, hash: u64) -> &Mutex<Shard> {
        &self.shards[hash as usize % SHARDS]
    }

    /// Moves a committed entry to the recent ones, unless a newer outcome took its
    /// place meanwhile.
    fn committed(&self, key: &[u8], value: &Outcome) {
        let mut s = self.shard(self.hash(key)).lock().unwrap();
        if s.map.get(key) == Some(value)
            && let Some((k, o)) = s.map.remove_entry(key)
        {
            s.removals += 1;
            if s.recent.len() >= RECENT_PER_SHARD {
                s.older = std::mem::take(&mut s.recent);
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
const MAX_BATCH: usize = 1024;
/// How long the writer lets puts gather before a commit that is not full.
const BATCH_WAIT: std::time::Duration = std::time::Duration::from_millis(2);
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
        let db = Database::builder().set_cache_size(cache_bytes).create(path).map_err(err)?;
        let watermark = {
            let mut w = db.begin_write().map_err(err)?;
            w.set_durability(Durability::Immediate).map_err(err)?;
            w.set_quick_repair(true);
            let wm = {
                w.open_table(OUTCOMES).map_err(err)?;
                let meta = w.open_table(META).map_err(err)?;
                meta.get(WATERMARK).map_err(err)?.map(|g| g.value()).unwrap_or(0)
            };
            w.commit().map_err(err)?;
            wm
        };
        let db = Arc::new(DbSlot {
            path: path.to_path_buf(),
            cache_bytes,
            db: std::sync::RwLock::new(Some(Arc::new(db))),
        });
        let (tx, rx) = mpsc::channel(16 * MAX_BATCH);
        let healthy = Arc::new(AtomicBool::new(true));
        let pending = Arc::new(PendingMap::new());
        let writer = {
            let w = Writer { db: db.clone(), healthy: healthy.clone(), pending: pending.clone(), on_error, fail_commits };
            std::thread::Builder::new().name("store-writer".into()).spawn(move || w.run(rx)).map_err(err)?
        };
        Ok((RedbStore { db, tx, healthy, pending }, StoreWriter(writer), watermark))
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

    fn read(&self, k: &[u8]) -> Result<Option<Outcome>, StoreError> {
        let r = self.db.get()?.begin_read().map_err(err)?;
        let t = r.open_table(OUTCOMES).map_err(err)?;
        let Some(v) = t.get(k).map_err(err)? else { return Ok(None) };
        let o = decode(v.value()).ok_or_else(|| err("stored outcome is malformed"))?;
        Ok(if o.expires_at > now_secs() { Some(o) } else { None })
    }
}

impl RedbStore {
    /// The pending map, then redb; `Err` carries what the lookup saw.
    fn find(&self, tenant: &str, pcs_id: &str) -> Result<Result<Outcome, Absent>, StoreError> {
        let k = key(tenant, pcs_id);
        let now = now_secs();
        let hash = self.pending.hash(&k);
        let removals = {
            let s = self.pending.shard(hash).lock().unwrap();
            if let Some(o) = s.get(&k, now) {
                return Ok(Ok(o.clone()));
            }
            s.removals
        };
        // The count is taken before redb is read: an outcome committed after the
        // read began is still in the map, or its removal changed the count.
        Ok(self.read(&k)?.ok_or(Absent { seen: Some((hash, removals)) }))
    }

    async fn put(&self, tenant: &str, pcs_id: &str, outcome: Outcome, seen: Absent) -> Result<Put, StoreError> {
        if !self.healthy.load(Ordering::Relaxed) {
            // Fail closed: a failed commit means outcomes may not reach the store.
            return Err(err("the last write transaction failed"));
        }
        let k = key(tenant, pcs_id);
        // Room in the writer's queue first: once the outcome is in the pending map
        // (where readers see it), it must reach the writer without another await, or a
        // cancelled caller could leave an answered outcome that is never committed.
        let permit = self.tx.reserve().await.map_err(|_| err("writer stopped"))?;
        let now = now_secs();
        let hash = self.pending.hash(&k);
        {
            // Every insert passes through this lock before it can reach redb, so
            // "not pending and not in redb" cannot change while it is held.
            let mut s = self.pending.shard(hash).lock().unwrap();
            if let Some(o) = s.get(&k, now) {
                return Ok(Put::Existing(o.clone()));
            }
            // A lookup of this key found it absent and nothing has left the shard
            // since (so nothing reached redb unseen): redb need not be read again.
            if seen.seen != Some((hash, s.removals))
                && let Some(o) = self.read(&k)?
            {
                return Ok(Put::Existing(o));
            }
            s.map.insert(k.clone(), outcome.clone());
            permit.send(Cmd::Put { key: k, value: outcome.clone() });
        }
        Ok(Put::Inserted(outcome))
    }
}

impl RedbStore {
    /// Stores an outcome read from a region's log by SPEC §10's order: inserted if the
    /// key is absent, stored in place of the current outcome if its stamp is smaller,
    /// kept out otherwise. An outcome without a stamp (or a stored one without, from
    /// before regions were on) never replaces and is never replaced.
    pub async fn merge_stamped(&self, tenant: &str, pcs_id: &str, outcome: Outcome) -> Result<Merged, StoreError> {
        if !self.healthy.load(Ordering::Relaxed) {
            return Err(err("the last write transaction failed"));
        }
        let k = key(tenant, pcs_id);
        let permit = self.tx.reserve().await.map_err(|_| err("writer stopped"))?;
        let now = now_secs();
        let hash = self.pending.hash(&k);
        let mut s = self.pending.shard(hash).lock().unwrap();
        let current = match s.map.get(&k).filter(|o| o.expires_at > now) {
            Some(o) => Some(o.clone()),
            None => self.read(&k)?,
        };
        let result = match current {
            None => Merged::Inserted,
            Some(cur) => match (&outcome.stamp, &cur.stamp) {
                (Some(new), Some(old)) if fractal_core::region::supersedes(new, old) => Merged::Replaced(cur),
                _ => return Ok(Merged::Kept(cur)),
            },
        };
        s.map.insert(k.clone(), outcome.clone());
        permit.send(Cmd::Put { key: k, value: outcome });
        Ok(result)
    }

    /// Calls `f` for every unexpired committed outcome, in key order, with its
    /// tenant and pcs_id (the divergence digest; outcomes still in the writer's
    /// queue show up in the next pass).
    pub fn for_each(&self, mut f: impl FnMut(&str, &str, &Outcome)) -> Result<(), StoreError> {
        let r = self.db.get()?.begin_read().map_err(err)?;
        let t = r.open_table(OUTCOMES).map_err(err)?;
        let now = now_secs();
        for item in t.iter().map_err(err)? {
            let (k, v) = item.map_err(err)?;
            let k = k.value();
            let Some(o) = decode(v.value()).filter(|o| o.expires_at > now) else { continue };
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

    fn accepting(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }
}

struct Writer {
    db: Arc<DbSlot>,
    healthy: Arc<AtomicBool>,
    pending: Arc<PendingMap>,
    on_error: ErrorObserver,
    /// Write transactions still to fail (the test hook).
    fail_commits: u64,
}

/// First pause before a failed batch is tried again; it doubles up to the maximum.
const RETRY_FIRST: std::time::Duration = std::time::Duration::from_millis(50);
const RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(2);

impl Writer {
    /// One write transaction on the current file; after a failure the file is
    /// reopened first (redb refuses everything after an I/O error until then).
    fn transact<T>(
        &mut self,
        reopen: &mut bool,
        outcomes: bool,
        f: impl FnOnce(&Database) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let res = (|| {
            if *reopen {
                self.db.reopen()?;
                *reopen = false;
            }
            if outcomes && self.fail_commits > 0 {
                self.fail_commits -= 1;
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

    fn run(mut self, mut rx: mpsc::Receiver<Cmd>) {
        let mut puts: Vec<(Vec<u8>, Outcome)> = Vec::with_capacity(MAX_BATCH);
        // Outcomes committed without fsync since the last durable checkpoint: a reopen
        // after an error may lose them, so they are written again after one.
        let mut unsynced: Vec<(Vec<u8>, Outcome)> = Vec::new();
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
                    // The winners were decided in put_if_absent; the batch only persists
                    // them. A failed batch is tried again until it commits: the outcomes
                    // stay in the pending map meanwhile (reads stay right), the store
                    // reports unhealthy (new submissions get 503, /ready 503), and nothing
                    // behind it in the queue — a checkpoint in particular — goes first.
                    let mut pause = RETRY_FIRST;
                    let mut failures = 0u64;
                    loop {
                        let again = reopen;
                        let res = self.transact(&mut reopen, true, |db| {
                            let mut w = db.begin_write().map_err(err)?;
                            w.set_durability(Durability::None).map_err(err)?;
                            {
                                let mut t = w.open_table(OUTCOMES).map_err(err)?;
                                // After a reopen, what the lost non-durable commits held first.
                                if again {
                                    for (k, v) in &unsynced {
                                        t.insert(k.as_slice(), encode(v).as_slice()).map_err(err)?;
                                    }
                                }
                                for (k, v) in &puts {
                                    t.insert(k.as_slice(), encode(v).as_slice()).map_err(err)?;
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
                    for (k, v) in puts.drain(..) {
                        self.pending.committed(&k, &v);
                        unsynced.push((k, v));
                    }
                }
                Cmd::Checkpoint { watermark, done } => {
                    let again = reopen;
                    let res = self.transact(&mut reopen, false, |db| {
                        let mut w = db.begin_write().map_err(err)?;
                        w.set_durability(Durability::Immediate).map_err(err)?;
                        w.set_quick_repair(true);
                        {
                            if again {
                                let mut t = w.open_table(OUTCOMES).map_err(err)?;
                                for (k, v) in &unsynced {
                                    t.insert(k.as_slice(), encode(v).as_slice()).map_err(err)?;
                                }
                            }
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
                    let again = reopen;
                    let res = self.transact(&mut reopen, false, |db| {
                        if again {
                            rewrite(db, &unsynced)?;
                        }
                        sweep_chunk(db, now, from, limit)
                    });
                    let _ = done.send(res);
                }
            }
        }
    }
}

/// Writes outcomes again (after a reopen that may have lost non-durable commits).
fn rewrite(db: &Database, outcomes: &[(Vec<u8>, Outcome)]) -> Result<(), StoreError> {
    let mut w = db.begin_write().map_err(err)?;
    w.set_durability(Durability::None).map_err(err)?;
    {
        let mut t = w.open_table(OUTCOMES).map_err(err)?;
        for (k, v) in outcomes {
            t.insert(k.as_slice(), encode(v).as_slice()).map_err(err)?;
        }
    }
    w.commit().map_err(err)
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

#[cfg(test)]
mod tests {
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
}
