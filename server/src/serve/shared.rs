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
use std::sync::atomic::Ordering;
use std::time::Instant;

use fractal_core::{Ring, ShardSpec};
use tokio::sync::oneshot;

use super::config::{SharedStore as SharedConfig, TierPolicy};
use super::metrics::Metrics;
use super::store::{Absent, Outcome, OutcomeStore, Put, StoreError, decode, encode, now_secs};

mod cold;
mod hot;
mod metrics;
mod pg;
/// Shard migrations (SPEC §9): the ring generation every replica follows, dual
/// writes and reads during a migration, and what `fractal dedup-migrate` shares.
pub mod ringgen;

use cold::{Cold, DEMOTE_CHUNK, demote_chunk};
pub use cold::{object_path, open_object_store};
use hot::{Hot, hot_key};
pub use metrics::StoreMetrics;
pub use pg::migrate_pool;
use pg::{
    DB_ANSWERED, PG_TIMEOUT, PROMOTE, PgShard, PutReq, Row, SELECT_ONE, SWEEP, SWEEP_CHUNK, connect_shard,
    health_checks, migrate, parse_cold_ref, pg_err, row_of, warm_until,
};
use ringgen::{Route, Routing};

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
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

    /// The hot tier's live copy, if it has one. A failing Redis is counted and
    /// skipped: the caller asks the authority.
    async fn hot_get(&self, tenant: &str, pcs_id: &str, now: u64) -> Option<Outcome> {
        let hot = self.inner.hot.as_ref()?;
        let m = &self.inner.metrics;
        let started = Instant::now();
        match hot.get(&hot_key(tenant, pcs_id)).await {
            Ok(v) => {
                m.time("hot", "redis", "get", started);
                if let Some(o) = v.and_then(|v| decode(&v)).filter(|o| o.expires_at > now) {
                    m.hits.with_label_values(&["hot"]).inc();
                    return Some(o);
                }
                m.misses.with_label_values(&["hot"]).inc();
            }
            Err(e) => {
                m.errors.with_label_values(&["hot", "redis"]).inc();
                tracing::debug!(error = %e, "hot tier read failed; reading the authority");
            }
        }
        None
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

impl OutcomeStore for SharedStore {
    async fn get(&self, tenant: &str, pcs_id: &str) -> Result<Option<Outcome>, StoreError> {
        let now = now_secs();
        if let Some(o) = self.hot_get(tenant, pcs_id, now).await {
            return Ok(Some(o));
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
        if let Some(o) = self.hot_get(tenant, pcs_id, now_secs()).await {
            return Ok(Ok(o));
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
