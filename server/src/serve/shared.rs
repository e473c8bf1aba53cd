//! Shared stores (SPEC §9): the sharded PostgreSQL authority, the Redis hot tier in
//! front of it and the object-store archive behind it, behind [`OutcomeStore`].
//!
//! * **Authority.** Each `(tenant, pcs_id)` lives on the shard the core's [`Ring`]
//!   picks for the bytes of `pcs_id` (SPEC §7). The ring keeps every configured shard
//!   "healthy": when the owner is down the key fails closed (503) and is never decided
//!   on another shard. First write wins in the database itself: one batched
//!   `INSERT … SELECT FROM unnest(…) ON CONFLICT DO UPDATE … WHERE expired RETURNING`
//!   per batch returns the winners; one `SELECT` fetches what the losers must answer.
//!   So two replicas racing on one key answer the one outcome the database holds.
//! * **Hot tier.** Redis holds copies of decided outcomes only (read-through after a
//!   warm or cold read, write-through after the authority decided), with a TTL capped
//!   by the outcome's own expiry. It is never asked to decide; when it fails, reads go
//!   to the authority (slower, never wrong).
//! * **Cold tier.** A demotion pass moves the bodies of outcomes past their tenant's
//!   `warm_ttl_secs` into compact immutable objects (create-only puts) and keeps, in
//!   the authority's row, the object and byte range: the index a cold read uses
//!   without scanning, and the primary key that keeps first-write-wins exact for
//!   demoted keys too. The body leaves the row only after the object is durable.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use deadpool_postgres::{ManagerConfig, Pool, RecyclingMethod, Runtime};
use fractal_core::{Ring, ShardSpec};
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts};
use tokio::sync::{mpsc, oneshot};

use super::config::{SharedStore as SharedConfig, TierPolicy};
use super::metrics::Metrics;
use super::store::{Absent, Outcome, OutcomeStore, Put, StoreError, decode, encode, now_secs};

/// Shard migrations (SPEC §9): the ring generation every replica follows, dual
/// writes and reads during a migration, and what `fractal dedup-migrate` shares.
pub mod ringgen;
use ringgen::{Route, Routing};

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

/// Marks an error the database answered (the shard is up).
const DB_ANSWERED: &str = "database said";

/// A database error with the server's message (tokio-postgres prints only "db error").
fn pg_err(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(d) => StoreError(format!("{DB_ANSWERED} {} ({}): {}", d.severity(), d.code().code(), d.message())),
        None => err(e),
    }
}

/// Deadlock or serialization failure: the statement can simply run again.
fn retryable(e: &tokio_postgres::Error) -> bool {
    e.code().is_some_and(|c| {
        *c == tokio_postgres::error::SqlState::T_R_DEADLOCK_DETECTED
            || *c == tokio_postgres::error::SqlState::T_R_SERIALIZATION_FAILURE
    })
}

/// The schema, one migration per version, applied in order under an advisory lock
/// (replicas starting together apply each one once). Never edit a published step:
/// add the next one.
const MIGRATIONS: &[(i32, &str, &str)] = &[(
    1,
    "outcomes",
    "CREATE TABLE fractal_outcomes (
        tenant text NOT NULL,
        pcs_id text NOT NULL,
        status smallint NOT NULL,
        body bytea,
        expires_at bigint NOT NULL,
        warm_until bigint NOT NULL,
        cold_object text,
        cold_offset bigint,
        cold_len integer,
        PRIMARY KEY (tenant, pcs_id)
    );
    CREATE INDEX fractal_outcomes_expires ON fractal_outcomes (expires_at);
    CREATE INDEX fractal_outcomes_demote ON fractal_outcomes (warm_until) WHERE body IS NOT NULL;",
)];

/// The advisory lock key of schema migrations ("flk1").
const MIGRATION_LOCK: i64 = 0x666c_6b31;

const INSERT: &str = "INSERT INTO fractal_outcomes AS o (tenant, pcs_id, status, body, expires_at, warm_until)
    SELECT * FROM unnest($1::text[], $2::text[], $3::int2[], $4::bytea[], $5::int8[], $6::int8[])
    ON CONFLICT (tenant, pcs_id) DO UPDATE SET status = EXCLUDED.status, body = EXCLUDED.body,
        expires_at = EXCLUDED.expires_at, warm_until = EXCLUDED.warm_until,
        cold_object = NULL, cold_offset = NULL, cold_len = NULL
    WHERE o.expires_at <= $7
    RETURNING tenant, pcs_id";
const SELECT_MANY: &str =
    "SELECT o.tenant, o.pcs_id, o.status, o.body, o.expires_at, o.cold_object, o.cold_offset, o.cold_len
    FROM fractal_outcomes o JOIN unnest($1::text[], $2::text[]) AS k(tenant, pcs_id)
    ON o.tenant = k.tenant AND o.pcs_id = k.pcs_id";
const SELECT_ONE: &str = "SELECT status, body, expires_at, cold_object, cold_offset, cold_len
    FROM fractal_outcomes WHERE tenant = $1 AND pcs_id = $2 AND expires_at > $3";
const PROMOTE: &str =
    "UPDATE fractal_outcomes SET body = $3, warm_until = $4 WHERE tenant = $1 AND pcs_id = $2 AND body IS NULL";
const SWEEP: &str = "DELETE FROM fractal_outcomes WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM fractal_outcomes WHERE expires_at <= $1 LIMIT $2))";
const DEMOTE_PICK: &str = "SELECT tenant, pcs_id, status, body, expires_at, cold_object, cold_offset, cold_len
    FROM fractal_outcomes WHERE body IS NOT NULL AND warm_until <= $1 AND expires_at > $1
    ORDER BY warm_until LIMIT $2 FOR UPDATE SKIP LOCKED";
const DEMOTE_MARK: &str =
    "UPDATE fractal_outcomes o SET body = NULL, cold_object = k.obj, cold_offset = k.off, cold_len = k.len
    FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::int4[]) AS k(tenant, pcs_id, obj, off, len)
    WHERE o.tenant = k.tenant AND o.pcs_id = k.pcs_id";

/// Most records in one batched insert.
const MAX_BATCH: usize = 512;
/// Most rows deleted by one sweep statement.
const SWEEP_CHUNK: i64 = 10_000;
/// Most rows moved by one demotion object.
const DEMOTE_CHUNK: i64 = 2_000;
/// Longest wait for one database operation before the shard counts as down.
const PG_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for Redis: past it the hot tier is skipped.
const HOT_TIMEOUT: Duration = Duration::from_millis(250);
/// Longest wait for one object-store operation.
const COLD_TIMEOUT: Duration = Duration::from_secs(30);

/// Metrics of the shared stores.
#[derive(Clone)]
pub struct StoreMetrics {
    /// Reads answered by a tier, by tier (`hot`, `warm`, `cold`).
    pub hits: IntCounterVec,
    /// Reads a tier could not answer, by tier.
    pub misses: IntCounterVec,
    /// Failed operations, by tier and shard.
    pub errors: IntCounterVec,
    /// Operation latency by tier, shard and operation.
    pub latency: HistogramVec,
    /// Copies made into a faster tier, by tier (`hot`: warm/cold → Redis; `warm`: cold → PostgreSQL).
    pub promotions: IntCounterVec,
    /// Outcomes moved to the cold tier, by shard.
    pub demotions: IntCounterVec,
    /// Writes waiting for their shard's batch, by shard.
    pub queue_depth: IntGaugeVec,
    /// 1 while a shard answers, 0 while it is down.
    pub shard_up: IntGaugeVec,
}

impl StoreMetrics {
    fn new(m: &Metrics) -> StoreMetrics {
        let hits =
            IntCounterVec::new(Opts::new("flk_store_hits_total", "Reads answered by a tier."), &["tier"]).unwrap();
        let misses =
            IntCounterVec::new(Opts::new("flk_store_misses_total", "Reads a tier could not answer."), &["tier"])
                .unwrap();
        let errors = IntCounterVec::new(
            Opts::new("flk_store_errors_total", "Failed store operations by tier and shard."),
            &["tier", "shard"],
        )
        .unwrap();
        let latency = HistogramVec::new(
            HistogramOpts::new("flk_store_duration_seconds", "Store operation latency by tier, shard and operation.")
                .buckets(prometheus::exponential_buckets(0.0001, 2.0, 16).unwrap()),
            &["tier", "shard", "op"],
        )
        .unwrap();
        let promotions = IntCounterVec::new(
            Opts::new("flk_store_promotions_total", "Outcomes copied into a faster tier."),
            &["tier"],
        )
        .unwrap();
        let demotions =
            IntCounterVec::new(Opts::new("flk_store_demotions_total", "Outcomes moved to the cold tier."), &["shard"])
                .unwrap();
        let queue_depth =
            IntGaugeVec::new(Opts::new("flk_store_queue_depth", "Writes waiting for their shard."), &["shard"])
                .unwrap();
        let shard_up =
            IntGaugeVec::new(Opts::new("flk_store_shard_up", "1 while the shard answers."), &["shard"]).unwrap();
        for c in [
            Box::new(hits.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(misses.clone()),
            Box::new(errors.clone()),
            Box::new(latency.clone()),
            Box::new(promotions.clone()),
            Box::new(demotions.clone()),
            Box::new(queue_depth.clone()),
            Box::new(shard_up.clone()),
        ] {
            m.register(c);
        }
        StoreMetrics { hits, misses, errors, latency, promotions, demotions, queue_depth, shard_up }
    }

    fn time(&self, tier: &str, shard: &str, op: &str, started: Instant) {
        self.latency.with_label_values(&[tier, shard, op]).observe(started.elapsed().as_secs_f64());
    }
}

/// One batched write waiting for its shard.
struct PutReq {
    tenant: String,
    pcs_id: String,
    outcome: Outcome,
    warm_until: i64,
    done: oneshot::Sender<Result<Put, StoreError>>,
}

/// One PostgreSQL shard.
struct PgShard {
    name: String,
    pool: Pool,
    healthy: AtomicBool,
    queue: mpsc::Sender<PutReq>,
    queued: AtomicU64,
}

/// Object name, byte offset and length of a cold entry.
type ColdRef = (String, i64, i32);

/// A row as the authority holds it.
struct Row {
    status: i16,
    body: Option<Vec<u8>>,
    expires_at: i64,
    cold: Option<(String, i64, i32)>,
}

struct Inner {
    /// The ring(s), phase and shards in use; swapped by [`ringgen::watch`].
    routing: std::sync::RwLock<Arc<Routing>>,
    /// The configured shards (name → url): preferred over the URLs in the ring table.
    configured: HashMap<String, String>,
    pool_size: usize,
    migration: ringgen::MigrationMetrics,
    hot: Option<Hot>,
    cold: Option<Cold>,
    tiers: HashMap<String, TierPolicy>,
    metrics: StoreMetrics,
    hot_default_ttl: u64,
}

/// The shared backend: cheap to clone.
#[derive(Clone)]
pub struct SharedStore {
    inner: Arc<Inner>,
}

impl SharedStore {
    /// Connects to every shard (a shard that is down at start is only marked down:
    /// its keys get 503 until it answers), applies the schema migrations on each
    /// shard that answers, and starts the batch writers and health checks.
    pub async fn open(
        cfg: &SharedConfig,
        tiers: HashMap<String, TierPolicy>,
        metrics: &Metrics,
    ) -> Result<SharedStore, StoreError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let migration = ringgen::MigrationMetrics::new(metrics);
        let metrics = StoreMetrics::new(metrics);
        let specs: Vec<ShardSpec> =
            cfg.shards.iter().map(|s| ShardSpec { name: s.name.clone(), weight: s.weight, healthy: true }).collect();
        let ring = Ring::with_shards(cfg.vnodes, &specs).map_err(err)?;
        let mut shards = Vec::new();
        for s in &cfg.shards {
            shards.push(connect_shard(&s.name, &s.url.0, cfg.pool_size, &metrics)?);
        }
        let hot = cfg.hot.as_ref().map(|(url, _)| Hot::new(&url.0)).transpose()?;
        let cold = match &cfg.cold {
            Some(url) => Some(Cold::new(url)?),
            None => None,
        };
        let store = SharedStore {
            inner: Arc::new(Inner {
                routing: std::sync::RwLock::new(Arc::new(Routing::stable(0, ring, shards))),
                configured: cfg.shards.iter().map(|s| (s.name.clone(), s.url.0.clone())).collect(),
                pool_size: cfg.pool_size,
                migration,
                hot,
                cold,
                tiers,
                metrics,
                hot_default_ttl: cfg.hot.as_ref().map(|h| h.1).unwrap_or(3600),
            }),
        };
        for s in store.shards() {
            match migrate(&s).await {
                Ok(()) => store.set_health(&s, true),
                Err(e) => {
                    tracing::error!(shard = %s.name, error = %e, "shard unavailable at start; its keys get 503 until it answers");
                    store.set_health(&s, false);
                }
            }
        }
        // A replica (re)started during a migration follows it from its first request.
        ringgen::refresh(&store).await;
        tokio::spawn(ringgen::watch(store.clone()));
        tokio::spawn(health_checks(store.clone()));
        Ok(store)
    }

    fn set_health(&self, s: &PgShard, up: bool) {
        let was = s.healthy.swap(up, Ordering::SeqCst);
        self.inner.metrics.shard_up.with_label_values(&[&s.name]).set(up as i64);
        if was != up {
            if up {
                tracing::warn!(shard = %s.name, "shard answers again");
            } else {
                tracing::error!(shard = %s.name, "shard down: its keys get 503 store_unavailable");
            }
        }
    }

    /// The routing in use (held for the length of one operation: a ring change waits
    /// for the operations begun under the previous one before it is acknowledged).
    fn routing(&self) -> Arc<Routing> {
        self.inner.routing.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The shards in use, in ring order.
    fn shards(&self) -> Vec<Arc<PgShard>> {
        self.routing().shards.clone()
    }

    fn policy(&self, tenant: &str) -> TierPolicy {
        self.inner.tiers.get(tenant).copied().unwrap_or(TierPolicy {
            hot_ttl_secs: self.inner.hot_default_ttl,
            warm_ttl_secs: u64::MAX / 4,
            cold: false,
        })
    }

    /// Counts a failed operation; marks the shard down unless the database itself
    /// answered with an error (a statement error says the shard is up).
    fn shard_failed(&self, s: &PgShard, e: &dyn std::fmt::Display) {
        self.inner.metrics.errors.with_label_values(&["warm", &s.name]).inc();
        let msg = e.to_string();
        tracing::warn!(shard = %s.name, error = %msg, "shard operation failed");
        if !msg.contains(DB_ANSWERED) {
            self.set_health(s, false);
        }
    }

    /// Copies a decided outcome into the hot tier (best effort).
    async fn hot_put(&self, tenant: &str, pcs_id: &str, o: &Outcome) {
        let Some(hot) = &self.inner.hot else { return };
        let now = now_secs();
        let ttl = self.policy(tenant).hot_ttl_secs.min(o.expires_at.saturating_sub(now));
        if ttl == 0 {
            return;
        }
        let started = Instant::now();
        if let Err(e) = hot.set(&hot_key(tenant, pcs_id), encode(o), ttl).await {
            self.inner.metrics.errors.with_label_values(&["hot", "redis"]).inc();
            tracing::debug!(error = %e, "hot tier write failed");
        }
        self.inner.metrics.time("hot", "redis", "set", started);
    }

    /// Resolves a warm row into an outcome: a demoted row is read from its cold
    /// object and promoted back into the warm tier.
    async fn resolve(&self, s: &PgShard, tenant: &str, pcs_id: &str, row: Row) -> Result<Outcome, StoreError> {
        let expires_at = row.expires_at.max(0) as u64;
        if let Some(body) = row.body {
            return Ok(Outcome { status: row.status as u16, body, expires_at, stamp: None });
        }
        let (obj, off, len) = row.cold.ok_or_else(|| err("a demoted row without its cold object"))?;
        let cold = self.inner.cold.as_ref().ok_or_else(|| err("a demoted outcome but no [store.cold] configured"))?;
        let started = Instant::now();
        let got = cold.read(&obj, off as u64, len as u64, tenant, pcs_id).await;
        self.inner.metrics.time("cold", "object", "get", started);
        let o = match got {
            Ok(o) => o,
            Err(e) => {
                self.inner.metrics.errors.with_label_values(&["cold", "object"]).inc();
                return Err(e);
            }
        };
        self.inner.metrics.hits.with_label_values(&["cold"]).inc();
        // Promotion: the body back into the row, the warm clock restarted.
        let warm_until = warm_until(self.policy(tenant), now_secs());
        let promoted = async {
            let c = s.pool.get().await.map_err(err)?;
            let st = c.prepare_cached(PROMOTE).await.map_err(pg_err)?;
            c.execute(&st, &[&tenant, &pcs_id, &o.body, &warm_until]).await.map_err(pg_err)
        };
        match tokio::time::timeout(PG_TIMEOUT, promoted).await {
            Ok(Ok(n)) if n > 0 => self.inner.metrics.promotions.with_label_values(&["warm"]).inc(),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "promotion to the warm tier failed"),
            Err(_) => tracing::warn!("promotion to the warm tier timed out"),
        }
        Ok(o)
    }

    /// Deletes expired outcomes on every shard that answers, in chunks.
    pub async fn sweep(&self, now: u64) -> Result<u64, StoreError> {
        let mut total = 0;
        for s in &self.shards() {
            if !s.healthy.load(Ordering::Relaxed) {
                continue;
            }
            loop {
                let started = Instant::now();
                let res = async {
                    let c = s.pool.get().await.map_err(err)?;
                    let st = c.prepare_cached(SWEEP).await.map_err(pg_err)?;
                    c.execute(&st, &[&(now as i64), &SWEEP_CHUNK]).await.map_err(pg_err)
                };
                let n = match tokio::time::timeout(PG_TIMEOUT * 4, res).await {
                    Ok(Ok(n)) => n,
                    Ok(Err(e)) => {
                        self.shard_failed(s, &e);
                        break;
                    }
                    Err(_) => break,
                };
                self.inner.metrics.time("warm", &s.name, "sweep", started);
                total += n;
                if (n as i64) < SWEEP_CHUNK {
                    break;
                }
            }
        }
        Ok(total)
    }

    /// One demotion pass on every shard: outcomes past their tenant's warm TTL go
    /// to the cold tier. Returns how many moved. The body leaves a row only in the
    /// transaction that commits after the object holding it is durable; if the
    /// object store fails, the transaction rolls back and nothing changes.
    pub async fn demote(&self, now: u64) -> Result<u64, StoreError> {
        let Some(cold) = &self.inner.cold else { return Ok(0) };
        let mut moved = 0;
        for s in &self.shards() {
            if !s.healthy.load(Ordering::Relaxed) {
                continue;
            }
            loop {
                let started = Instant::now();
                let n = demote_chunk(s, cold, now).await?;
                self.inner.metrics.time("cold", &s.name, "demote", started);
                self.inner.metrics.demotions.with_label_values(&[&s.name]).inc_by(n);
                moved += n;
                if n < DEMOTE_CHUNK as u64 {
                    break;
                }
            }
        }
        Ok(moved)
    }

    /// Per-shard readiness: `(any shard up, {"shard": "up"|"down", …})`.
    pub fn shard_states(&self) -> (bool, Vec<(String, bool)>) {
        let states: Vec<(String, bool)> =
            self.shards().iter().map(|s| (s.name.clone(), s.healthy.load(Ordering::Relaxed))).collect();
        (states.iter().any(|s| s.1), states)
    }
}

/// A shard's pool and its batch writers (not yet connected: the pool connects lazily).
fn connect_shard(name: &str, url: &str, pool_size: usize, metrics: &StoreMetrics) -> Result<Arc<PgShard>, StoreError> {
    let pg: tokio_postgres::Config = url.parse().map_err(|e| err(format!("store.shards {name:?}: url: {e}")))?;
    let mgr = deadpool_postgres::Manager::from_config(
        pg,
        tokio_postgres::NoTls,
        ManagerConfig { recycling_method: RecyclingMethod::Fast },
    );
    let pool = Pool::builder(mgr)
        .max_size(pool_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(PG_TIMEOUT))
        .create_timeout(Some(Duration::from_secs(2)))
        .recycle_timeout(Some(Duration::from_secs(2)))
        .build()
        .map_err(err)?;
    let (tx, rx) = mpsc::channel(64 * MAX_BATCH);
    let shard = Arc::new(PgShard {
        name: name.to_string(),
        pool,
        healthy: AtomicBool::new(true),
        queue: tx,
        queued: AtomicU64::new(0),
    });
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    for _ in 0..pool_size.max(1) {
        tokio::spawn(batch_writer(shard.clone(), rx.clone(), metrics.clone()));
    }
    Ok(shard)
}

fn warm_until(p: TierPolicy, now: u64) -> i64 {
    if p.cold { now.saturating_add(p.warm_ttl_secs).min(i64::MAX as u64) as i64 } else { i64::MAX }
}

async fn migrate(s: &PgShard) -> Result<(), StoreError> {
    migrate_pool(&s.name, &s.pool).await
}

/// Applies the schema migrations on one shard's pool (the server's shards and the
/// targets of `fractal dedup-migrate`).
pub async fn migrate_pool(name: &str, pool: &Pool) -> Result<(), StoreError> {
    let work = async {
        let mut c = pool.get().await.map_err(err)?;
        let tx = c.transaction().await.map_err(pg_err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(pg_err)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS fractal_schema_migrations (
                version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
        )
        .await
        .map_err(err)?;
        let at: i32 = tx
            .query_one("SELECT coalesce(max(version), 0) FROM fractal_schema_migrations", &[])
            .await
            .map_err(err)?
            .get(0);
        for (version, step, sql) in MIGRATIONS {
            if *version > at {
                tx.batch_execute(sql).await.map_err(|e| err(format!("migration {version} ({step}): {e}")))?;
                tx.execute("INSERT INTO fractal_schema_migrations (version, name) VALUES ($1, $2)", &[version, step])
                    .await
                    .map_err(err)?;
                tracing::info!(shard = %name, version, "schema migration applied");
            }
        }
        tx.commit().await.map_err(pg_err)
    };
    tokio::time::timeout(PG_TIMEOUT * 2, work).await.map_err(|_| err("timed out"))?
}

/// Marks shards up or down by a trivial query: every 250 ms while down, every 2 s
/// while up. A shard that comes back gets its migrations first.
async fn health_checks(store: SharedStore) {
    let mut last: HashMap<String, Instant> = HashMap::new();
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        for s in &store.shards() {
            let up = s.healthy.load(Ordering::Relaxed);
            let due = last.get(&s.name).is_none_or(|t| t.elapsed() >= Duration::from_secs(2));
            if up && !due {
                continue;
            }
            last.insert(s.name.clone(), Instant::now());
            let check = async {
                if !up {
                    return migrate(s).await;
                }
                let c = s.pool.get().await.map_err(err)?;
                c.simple_query("SELECT 1").await.map_err(pg_err).map(|_| ())
            };
            match tokio::time::timeout(Duration::from_secs(2), check).await {
                Ok(Ok(())) => store.set_health(s, true),
                Ok(Err(e)) => {
                    if up {
                        store.shard_failed(s, &e);
                    }
                }
                Err(_) => store.set_health(s, false),
            }
        }
    }
}

/// Takes writes off the shard's queue in batches and decides them in one statement.
async fn batch_writer(s: Arc<PgShard>, rx: Arc<tokio::sync::Mutex<mpsc::Receiver<PutReq>>>, metrics: StoreMetrics) {
    let depth = metrics.queue_depth.with_label_values(&[&s.name]);
    loop {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        {
            let mut rx = rx.lock().await;
            match rx.recv().await {
                Some(r) => batch.push(r),
                None => return,
            }
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
        }
        let left = s.queued.fetch_sub(batch.len() as u64, Ordering::Relaxed) - batch.len() as u64;
        depth.set(left as i64);
        // A key twice in one batch (two replays of one record, say) goes in the next
        // round, so that one statement never touches a row twice.
        while !batch.is_empty() {
            let mut seen = std::collections::HashSet::new();
            let (mut now_batch, later): (Vec<PutReq>, Vec<PutReq>) =
                batch.into_iter().partition(|r| seen.insert((r.tenant.clone(), r.pcs_id.clone())));
            now_batch.sort_by(|x, y| (&x.tenant, &x.pcs_id).cmp(&(&y.tenant, &y.pcs_id)));
            batch = later;
            let started = Instant::now();
            let res = tokio::time::timeout(PG_TIMEOUT, insert_batch(&s, &now_batch)).await;
            metrics.time("warm", &s.name, "put", started);
            match res {
                Ok(Ok(results)) => {
                    for (r, put) in now_batch.into_iter().zip(results) {
                        let _ = r.done.send(Ok(put));
                    }
                }
                Ok(Err(e)) => {
                    for r in now_batch {
                        let _ = r.done.send(Err(err(&e)));
                    }
                }
                Err(_) => {
                    for r in now_batch {
                        let _ = r.done.send(Err(err("the shard did not answer in time")));
                    }
                }
            }
        }
    }
}

/// One batched first-write-wins statement, then the losers' stored outcomes.
async fn insert_batch(s: &PgShard, batch: &[PutReq]) -> Result<Vec<Put>, StoreError> {
    let c = s.pool.get().await.map_err(err)?;
    let ins = c.prepare_cached(INSERT).await.map_err(pg_err)?;
    let tenants: Vec<&str> = batch.iter().map(|r| r.tenant.as_str()).collect();
    let ids: Vec<&str> = batch.iter().map(|r| r.pcs_id.as_str()).collect();
    let statuses: Vec<i16> = batch.iter().map(|r| r.outcome.status as i16).collect();
    let bodies: Vec<&[u8]> = batch.iter().map(|r| r.outcome.body.as_slice()).collect();
    let expires: Vec<i64> = batch.iter().map(|r| r.outcome.expires_at.min(i64::MAX as u64) as i64).collect();
    let warm: Vec<i64> = batch.iter().map(|r| r.warm_until).collect();
    let now = now_secs() as i64;
    // Replicas' batches lock their rows in key order (the batch is sorted), so they
    // rarely deadlock; when they do, PostgreSQL aborts one and it runs again.
    let mut tries = 0;
    let won = loop {
        match c.query(&ins, &[&tenants, &ids, &statuses, &bodies, &expires, &warm, &now]).await {
            Ok(w) => break w,
            Err(e) if retryable(&e) && tries < 10 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(2 * tries)).await;
            }
            Err(e) => return Err(pg_err(e)),
        }
    };
    let won: std::collections::HashSet<(String, String)> =
        won.iter().map(|r| (r.get::<_, String>(0), r.get::<_, String>(1))).collect();
    let mut out: Vec<Option<Put>> = batch
        .iter()
        .map(|r| won.contains(&(r.tenant.clone(), r.pcs_id.clone())).then(|| Put::Inserted(r.outcome.clone())))
        .collect();
    let lost: Vec<usize> = (0..batch.len()).filter(|&i| out[i].is_none()).collect();
    if !lost.is_empty() {
        let sel = c.prepare_cached(SELECT_MANY).await.map_err(pg_err)?;
        let lt: Vec<&str> = lost.iter().map(|&i| tenants[i]).collect();
        let li: Vec<&str> = lost.iter().map(|&i| ids[i]).collect();
        let rows = c.query(&sel, &[&lt, &li]).await.map_err(pg_err)?;
        let mut found: HashMap<(String, String), Row> = HashMap::new();
        for r in rows {
            found.insert((r.get(0), r.get(1)), row_of(&r, 2));
        }
        for i in lost {
            let row = found
                .remove(&(batch[i].tenant.clone(), batch[i].pcs_id.clone()))
                .ok_or_else(|| err(format!("{DB_ANSWERED} nothing: the winning row expired before it was read; retry")))?;
            out[i] = Some(Put::Existing(match row.body {
                Some(body) => Outcome { status: row.status as u16, body, expires_at: row.expires_at.max(0) as u64, stamp: None },
                // Demoted: the caller resolves it from the cold tier (status 0 marks it).
                None => {
                    let (obj, off, len) = row.cold.ok_or_else(|| err("a demoted row without its cold object"))?;
                    Outcome { status: 0, body: cold_ref(&obj, off, len), expires_at: row.expires_at.max(0) as u64, stamp: None }
                }
            }));
        }
    }
    Ok(out.into_iter().map(|p| p.expect("every request has an answer")).collect())
}

/// A pointer to a cold entry, carried in a placeholder outcome of status 0.
fn cold_ref(obj: &str, off: i64, len: i32) -> Vec<u8> {
    format!("{off} {len} {obj}").into_bytes()
}

fn parse_cold_ref(b: &[u8]) -> Option<(String, i64, i32)> {
    let s = std::str::from_utf8(b).ok()?;
    let mut it = s.splitn(3, ' ');
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?, it.next()?.to_string()))
        .map(|(off, len, obj)| (obj, off, len))
}

fn row_of(r: &tokio_postgres::Row, at: usize) -> Row {
    let obj: Option<String> = r.get(at + 3);
    let off: Option<i64> = r.get(at + 4);
    let len: Option<i32> = r.get(at + 5);
    Row {
        status: r.get(at),
        body: r.get(at + 1),
        expires_at: r.get(at + 2),
        cold: match (obj, off, len) {
            (Some(o), Some(f), Some(l)) => Some((o, f, l)),
            _ => None,
        },
    }
}

impl OutcomeStore for SharedStore {
    async fn get(&self, tenant: &str, pcs_id: &str) -> Result<Option<Outcome>, StoreError> {
        let now = now_secs();
        let m = &self.inner.metrics;
        if let Some(hot) = &self.inner.hot {
            let started = Instant::now();
            match hot.get(&hot_key(tenant, pcs_id)).await {
                Ok(Some(v)) => {
                    m.time("hot", "redis", "get", started);
                    if let Some(o) = decode(&v).filter(|o| o.expires_at > now) {
                        m.hits.with_label_values(&["hot"]).inc();
                        return Ok(Some(o));
                    }
                    m.misses.with_label_values(&["hot"]).inc();
                }
                Ok(None) => {
                    m.time("hot", "redis", "get", started);
                    m.misses.with_label_values(&["hot"]).inc();
                }
                Err(e) => {
                    m.errors.with_label_values(&["hot", "redis"]).inc();
                    tracing::debug!(error = %e, "hot tier read failed; reading the authority");
                }
            }
        }
        let routing = self.routing();
        match routing.route(pcs_id) {
            Route::One(s) => self.get_on(s, tenant, pcs_id, now).await,
            // Until cutover the old owner holds every answer; the new one may be behind.
            Route::Dual { old, new } => match self.get_on(old, tenant, pcs_id, now).await? {
                Some(o) => Ok(Some(o)),
                None => self.get_on(new, tenant, pcs_id, now).await,
            },
            // After it the new owner is read first; `verify` passed, so the old one is
            // asked only while it answers, and what it holds is decided into the new one.
            Route::Cutover { old, new } => match self.get_on(new, tenant, pcs_id, now).await? {
                Some(o) => Ok(Some(o)),
                None if old.healthy.load(Ordering::Relaxed) => match self.get_on(old, tenant, pcs_id, now).await {
                    Ok(Some(o)) => Ok(Some(self.put_on(new, tenant, pcs_id, o).await?.into_outcome())),
                    _ => Ok(None),
                },
                None => Ok(None),
            },
        }
    }
    async fn put_if_absent(&self, tenant: &str, pcs_id: &str, outcome: Outcome) -> Result<Put, StoreError> {
        let routing = self.routing();
        match routing.route(pcs_id) {
            Route::One(s) => self.put_on(s, tenant, pcs_id, outcome).await,
            // Until cutover: the old owner's first write (or its existing answer) is
            // proposed to the new owner, and the new owner's answer is the one given.
            // The new owner holds only what old owners decided until cutover, so the
            // two agree; replicas already past cutover decide on the new owner alone.
            Route::Dual { old, new } => {
                let first = self.put_on(old, tenant, pcs_id, outcome).await?;
                let proposed = first.outcome().clone();
                match self.put_on(new, tenant, pcs_id, proposed.clone()).await? {
                    Put::Existing(o) if o != proposed => Ok(Put::Existing(o)),
                    _ => Ok(first),
                }
            }
            // After cutover the new owner decides; its answer is copied to the old owner
            // (best effort) so that the old ring stays whole until cleanup.
            Route::Cutover { old, new } => {
                let put = self.put_on(new, tenant, pcs_id, outcome).await?;
                if old.healthy.load(Ordering::Relaxed) {
                    let _ = self.put_on(old, tenant, pcs_id, put.outcome().clone()).await;
                }
                Ok(put)
            }
        }
    }
    /// Only the hot tier is read here: the authority is asked by `put_if_absent`,
    /// whose one statement either decides or returns the winner (one round trip to
    /// the shard per submission instead of two).
    async fn lookup(&self, tenant: &str, pcs_id: &str) -> Result<Result<Outcome, Absent>, StoreError> {
        if let Some(hot) = &self.inner.hot {
            let m = &self.inner.metrics;
            let started = Instant::now();
            match hot.get(&hot_key(tenant, pcs_id)).await {
                Ok(Some(v)) => {
                    m.time("hot", "redis", "get", started);
                    if let Some(o) = decode(&v).filter(|o| o.expires_at > now_secs()) {
                        m.hits.with_label_values(&["hot"]).inc();
                        return Ok(Ok(o));
                    }
                    m.misses.with_label_values(&["hot"]).inc();
                }
                Ok(None) => {
                    m.time("hot", "redis", "get", started);
                    m.misses.with_label_values(&["hot"]).inc();
                }
                Err(_) => m.errors.with_label_values(&["hot", "redis"]).inc(),
            }
        }
        Ok(Err(Absent::UNKNOWN))
    }

    async fn health(&self) -> Result<(), StoreError> {
        let (any, states) = self.shard_states();
        if any { Ok(()) } else { Err(err(format!("no shard answers ({} configured)", states.len()))) }
    }

    fn accepting_for(&self, _tenant: &str, pcs_id: &str) -> bool {
        let routing = self.routing();
        match routing.route(pcs_id) {
            Route::One(s) => s.healthy.load(Ordering::Relaxed),
            Route::Dual { old, new } => old.healthy.load(Ordering::Relaxed) && new.healthy.load(Ordering::Relaxed),
            Route::Cutover { new, .. } => new.healthy.load(Ordering::Relaxed),
        }
    }

    fn readiness(&self) -> impl Future<Output = (bool, serde_json::Value)> + Send {
        let (any, states) = self.shard_states();
        async move {
            let shards: serde_json::Map<String, serde_json::Value> =
                states.iter().map(|(n, up)| (n.clone(), (if *up { "up" } else { "down" }).into())).collect();
            let all = states.iter().all(|s| s.1);
            let status = if all {
                "ready"
            } else if any {
                "degraded"
            } else {
                "unavailable"
            };
            (any, serde_json::json!({ "status": status, "shards": shards }))
        }
    }
}

/// Reads and writes on one shard.
impl SharedStore {
    async fn get_on(
        &self,
        s: &Arc<PgShard>,
        tenant: &str,
        pcs_id: &str,
        now: u64,
    ) -> Result<Option<Outcome>, StoreError> {
        let m = &self.inner.metrics;
        if !s.healthy.load(Ordering::Relaxed) {
            return Err(err(format!("shard {} is down", s.name)));
        }
        let started = Instant::now();
        let read = async {
            let c = s.pool.get().await.map_err(err)?;
            let st = c.prepare_cached(SELECT_ONE).await.map_err(pg_err)?;
            c.query_opt(&st, &[&tenant, &pcs_id, &(now as i64)]).await.map_err(pg_err)
        };
        let row = match tokio::time::timeout(PG_TIMEOUT, read).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                self.shard_failed(s, &e);
                return Err(e);
            }
            Err(_) => {
                let e = err(format!("shard {} did not answer in time", s.name));
                self.shard_failed(s, &e);
                return Err(e);
            }
        };
        m.time("warm", &s.name, "get", started);
        let Some(row) = row else {
            m.misses.with_label_values(&["warm"]).inc();
            return Ok(None);
        };
        let row = row_of(&row, 0);
        if row.body.is_some() {
            m.hits.with_label_values(&["warm"]).inc();
        } else {
            m.misses.with_label_values(&["warm"]).inc();
        }
        let o = self.resolve(s, tenant, pcs_id, row).await?;
        if self.inner.hot.is_some() {
            self.hot_put(tenant, pcs_id, &o).await;
            m.promotions.with_label_values(&["hot"]).inc();
        }
        Ok(Some(o))
    }

    async fn put_on(&self, s: &Arc<PgShard>, tenant: &str, pcs_id: &str, outcome: Outcome) -> Result<Put, StoreError> {
        let s = s.clone();
        if !s.healthy.load(Ordering::Relaxed) {
            return Err(err(format!("shard {} is down", s.name)));
        }
        let warm_until = warm_until(self.policy(tenant), now_secs());
        let (done, wait) = oneshot::channel();
        let req = PutReq { tenant: tenant.into(), pcs_id: pcs_id.into(), outcome, warm_until, done };
        let depth = s.queued.fetch_add(1, Ordering::Relaxed) + 1;
        self.inner.metrics.queue_depth.with_label_values(&[&s.name]).set(depth as i64);
        if s.queue.send(req).await.is_err() {
            return Err(err("the shard's writer stopped"));
        }
        let put = match wait.await.map_err(|_| err("the shard's writer stopped"))? {
            Ok(p) => p,
            Err(e) => {
                self.shard_failed(&s, &e);
                return Err(e);
            }
        };
        let put = match put {
            Put::Existing(o) if o.status == 0 => {
                let (obj, off, len) = parse_cold_ref(&o.body).ok_or_else(|| err("bad cold reference"))?;
                let row = Row { status: 0, body: None, expires_at: o.expires_at as i64, cold: Some((obj, off, len)) };
                Put::Existing(self.resolve(&s, tenant, pcs_id, row).await?)
            }
            p => p,
        };
        match &put {
            Put::Inserted(o) | Put::Existing(o) => self.hot_put(tenant, pcs_id, o).await,
        }
        Ok(put)
    }
}

fn hot_key(tenant: &str, pcs_id: &str) -> String {
    format!("flk:o:{tenant}:{pcs_id}")
}

/// The Redis hot tier: one multiplexed, self-reconnecting connection. After a
/// failure it is skipped for [`HOT_BACKOFF`], so a Redis outage costs a request
/// nothing but the authority's round trip.
struct Hot {
    conn: redis::aio::ConnectionManager,
    epoch: Instant,
    /// Milliseconds since `epoch` before which Redis is not asked.
    skip_until: AtomicU64,
}

/// How long the hot tier is skipped after it failed.
const HOT_BACKOFF: Duration = Duration::from_secs(1);

impl Hot {
    fn new(url: &str) -> Result<Hot, StoreError> {
        let client = redis::Client::open(url).map_err(|e| err(format!("store.hot.url: {e}")))?;
        let cfg = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(HOT_TIMEOUT))
            .set_number_of_retries(1);
        let conn = redis::aio::ConnectionManager::new_lazy_with_config(client, cfg).map_err(err)?;
        Ok(Hot { conn, epoch: Instant::now(), skip_until: AtomicU64::new(0) })
    }

    fn skipped(&self) -> bool {
        (self.epoch.elapsed().as_millis() as u64) < self.skip_until.load(Ordering::Relaxed)
    }

    async fn run<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Result<Option<T>, StoreError> {
        if self.skipped() {
            return Ok(None);
        }
        let mut c = self.conn.clone();
        let res = match tokio::time::timeout(HOT_TIMEOUT, cmd.query_async::<T>(&mut c)).await {
            Ok(Ok(v)) => return Ok(Some(v)),
            Ok(Err(e)) => err(e),
            Err(_) => err("redis timed out"),
        };
        let until = (self.epoch.elapsed() + HOT_BACKOFF).as_millis() as u64;
        self.skip_until.store(until, Ordering::Relaxed);
        Err(res)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(key);
        Ok(self.run::<Option<Vec<u8>>>(cmd).await?.flatten())
    }

    async fn set(&self, key: &str, value: Vec<u8>, ttl: u64) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(value).arg("EX").arg(ttl);
        self.run::<()>(cmd).await.map(|_| ())
    }
}

/// The cold archive: immutable objects of demoted outcomes.
///
/// An object is `FLKC1\n` followed by entries; an entry is
/// `[tenant len u16][tenant][pcs_id len u16][pcs_id][status u16][expires_at u64][body len u32][body]`
/// (little endian). The warm row keeps the object name and the entry's byte range.
struct Cold {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    seq: AtomicU64,
    nonce: u64,
}

const COLD_MAGIC: &[u8] = b"FLKC1\n";

/// An object store and the key prefix inside it, from `file:///absolute/dir` (the
/// directory is created) or `s3://bucket/prefix` (endpoint, region and credentials
/// from `AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`). `what` names the setting in errors.
pub fn open_object_store(url: &str, what: &str) -> Result<(Arc<dyn ObjectStore>, String), String> {
    if let Some(dir) = url.strip_prefix("file://") {
        std::fs::create_dir_all(dir).map_err(|e| format!("{what}: {dir}: {e}"))?;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(dir).map_err(|e| format!("{what}: {e}"))?;
        Ok((Arc::new(fs), String::new()))
    } else if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let mut b = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(ep) = std::env::var("AWS_ENDPOINT_URL").ok().or_else(|| std::env::var("AWS_ENDPOINT").ok()) {
            b = b.with_allow_http(ep.starts_with("http://")).with_endpoint(ep);
        }
        if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err() {
            b = b.with_region("us-east-1");
        }
        Ok((Arc::new(b.build().map_err(|e| format!("{what}: {e}"))?), prefix.trim_matches('/').to_string()))
    } else {
        Err(format!("{what}: must be file:///… or s3://bucket/prefix"))
    }
}

impl Cold {
    fn new(url: &str) -> Result<Cold, StoreError> {
        let (store, prefix) = open_object_store(url, "store.cold.url").map_err(err)?;
        let nonce = std::hash::BuildHasher::hash_one(&std::hash::RandomState::new(), std::process::id());
        Ok(Cold { store, prefix, seq: AtomicU64::new(0), nonce })
    }

    fn path(&self, name: &str) -> ObjPath {
        if self.prefix.is_empty() { ObjPath::from(name) } else { ObjPath::from(format!("{}/{name}", self.prefix)) }
    }

    /// Writes a new object, create-only; returns its name.
    async fn write(&self, shard: &str, data: Vec<u8>) -> Result<String, StoreError> {
        let name = format!(
            "outcomes/{shard}/{}-{:016x}-{}.flkc",
            now_secs(),
            self.nonce,
            self.seq.fetch_add(1, Ordering::Relaxed)
        );
        let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
        let path = self.path(&name);
        let put = self.store.put_opts(&path, PutPayload::from(data), opts);
        tokio::time::timeout(COLD_TIMEOUT, put).await.map_err(|_| err("object store timed out"))?.map_err(err)?;
        Ok(name)
    }

    async fn read(&self, name: &str, off: u64, len: u64, tenant: &str, pcs_id: &str) -> Result<Outcome, StoreError> {
        let path = self.path(name);
        let get = self.store.get_range(&path, off..off + len);
        let b =
            tokio::time::timeout(COLD_TIMEOUT, get).await.map_err(|_| err("object store timed out"))?.map_err(err)?;
        let (t, p, o) = parse_entry(&b).ok_or_else(|| err(format!("cold object {name}: bad entry at {off}")))?;
        if t != tenant || p != pcs_id {
            return Err(err(format!("cold object {name}: entry at {off} is another key")));
        }
        Ok(o)
    }
}

fn push_entry(buf: &mut Vec<u8>, tenant: &str, pcs_id: &str, status: u16, expires_at: u64, body: &[u8]) {
    buf.extend_from_slice(&(tenant.len() as u16).to_le_bytes());
    buf.extend_from_slice(tenant.as_bytes());
    buf.extend_from_slice(&(pcs_id.len() as u16).to_le_bytes());
    buf.extend_from_slice(pcs_id.as_bytes());
    buf.extend_from_slice(&status.to_le_bytes());
    buf.extend_from_slice(&expires_at.to_le_bytes());
    buf.extend_from_slice(&(body.len() as u32).to_le_bytes());
    buf.extend_from_slice(body);
}

fn parse_entry(b: &[u8]) -> Option<(String, String, Outcome)> {
    let mut at = 0usize;
    let mut take = |n: usize| -> Option<&[u8]> {
        let s = b.get(at..at + n)?;
        at += n;
        Some(s)
    };
    let tl = u16::from_le_bytes(take(2)?.try_into().ok()?) as usize;
    let tenant = String::from_utf8(take(tl)?.to_vec()).ok()?;
    let pl = u16::from_le_bytes(take(2)?.try_into().ok()?) as usize;
    let pcs_id = String::from_utf8(take(pl)?.to_vec()).ok()?;
    let status = u16::from_le_bytes(take(2)?.try_into().ok()?);
    let expires_at = u64::from_le_bytes(take(8)?.try_into().ok()?);
    let bl = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
    let body = take(bl)?.to_vec();
    Some((tenant, pcs_id, Outcome { status, body, expires_at, stamp: None }))
}

async fn demote_chunk(s: &PgShard, cold: &Cold, now: u64) -> Result<u64, StoreError> {
    let mut c = s.pool.get().await.map_err(err)?;
    let tx = c.transaction().await.map_err(pg_err)?;
    let rows = tx.query(DEMOTE_PICK, &[&(now as i64), &DEMOTE_CHUNK]).await.map_err(pg_err)?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut data = COLD_MAGIC.to_vec();
    // (tenant, pcs_id, its existing cold copy, offset and length in the new object)
    type Entry = (String, String, Option<ColdRef>, i64, i32);
    let mut keys: Vec<Entry> = Vec::new();
    for r in &rows {
        let tenant: String = r.get(0);
        let pcs_id: String = r.get(1);
        let row = row_of(r, 2);
        match row.cold {
            // Promoted earlier: its cold copy is still there.
            Some(c) => keys.push((tenant, pcs_id, Some(c), 0, 0)),
            None => {
                let off = data.len();
                let body = row.body.as_deref().unwrap_or_default();
                push_entry(&mut data, &tenant, &pcs_id, row.status as u16, row.expires_at.max(0) as u64, body);
                let len = data.len() - off;
                keys.push((tenant, pcs_id, None, off as i64, len as i32));
            }
        }
    }
    let fresh = keys.iter().any(|k| k.2.is_none());
    let name = if fresh { Some(cold.write(&s.name, data).await?) } else { None };
    let (mut t, mut p, mut o, mut f, mut l) = (vec![], vec![], vec![], vec![], vec![]);
    for (tenant, pcs_id, old, off, len) in keys {
        let (obj, off, len) = match old {
            Some(c) => c,
            None => (name.clone().expect("an object was written"), off, len),
        };
        t.push(tenant);
        p.push(pcs_id);
        o.push(obj);
        f.push(off);
        l.push(len);
    }
    let n = tx.execute(DEMOTE_MARK, &[&t, &p, &o, &f, &l]).await.map_err(pg_err)?;
    tx.commit().await.map_err(pg_err)?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cold_entries_round_trip() {
        let mut b = COLD_MAGIC.to_vec();
        let off = b.len();
        push_entry(&mut b, "t", "p1", 202, 99, b"{\"x\":1}");
        let len = b.len() - off;
        push_entry(&mut b, "t", "p2", 200, 5, b"");
        let (t, p, o) = parse_entry(&b[off..off + len]).unwrap();
        assert_eq!(
            (t.as_str(), p.as_str(), o.status, o.expires_at, o.body.as_slice()),
            ("t", "p1", 202, 99, &b"{\"x\":1}"[..])
        );
        assert!(parse_entry(&b[off..off + len - 1]).is_none(), "a short range is refused");
        assert_eq!(parse_cold_ref(&cold_ref("a/b c", 7, 9)), Some(("a/b c".to_string(), 7, 9)));
    }
}
