//! The ring generation (SPEC §9, shard migration): which ring(s) the replicas route
//! by, kept in a table on every shard of the old and the new ring so that every
//! replica sees it and follows it without a restart.
//!
//! * `stable`: one ring; each key on its owner.
//! * `dual` (copy running): a key whose owner changes is first written on its old
//!   owner, then that answer is proposed to its new owner, and the new owner's answer
//!   is the one given; reads ask the old owner first.
//! * `cutover`: the new owner decides and is read first; its answer is copied to the
//!   old owner until cleanup.
//!
//! A replica applies a generation, waits for the operations begun under the previous
//! one to end, then says so in `fractal_ring_replicas`: `fractal dedup-migrate` moves
//! to the next phase only when every live replica has.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fractal_core::{Ring, ShardSpec};
use prometheus::{IntGauge, IntGaugeVec, Opts};
use serde::{Deserialize, Serialize};

use super::{PgShard, SharedStore, connect_shard, err, migrate, pg_err};
use crate::serve::metrics::Metrics;
use crate::serve::store::{Outcome, Put, StoreError, now_secs};

/// The tables of the ring generation, the replicas' acknowledgements and the copy
/// checkpoints (in each target shard).
const TABLES: &str = "
    CREATE TABLE IF NOT EXISTS fractal_ring (
        id integer PRIMARY KEY CHECK (id = 1), generation bigint NOT NULL, state text NOT NULL);
    CREATE TABLE IF NOT EXISTS fractal_ring_replicas (
        replica text PRIMARY KEY, generation bigint NOT NULL, seen_at bigint NOT NULL);
    CREATE TABLE IF NOT EXISTS fractal_migration_copy (
        migration text NOT NULL, source text NOT NULL, last_tenant text NOT NULL, last_pcs_id text NOT NULL,
        copied bigint NOT NULL, done boolean NOT NULL, PRIMARY KEY (migration, source));";

/// The advisory lock key of creating those tables ("flk2").
const TABLES_LOCK: i64 = 0x666c_6b32;

/// A replica not heard from for this long is not waited for.
pub const LIVE_SECS: i64 = 5;

/// How often a replica reads the ring generation and says it is alive.
const POLL: Duration = Duration::from_millis(500);

/// The phase of a ring generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// One ring.
    Stable,
    /// Writes to both owners, the old one deciding first; reads the old owner first.
    Dual,
    /// The new owner decides and is read first; the old one still gets copies.
    Cutover,
}

impl Phase {
    /// Its name in the table, the tool's output and the metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Stable => "stable",
            Phase::Dual => "dual",
            Phase::Cutover => "cutover",
        }
    }
}

/// A shard in the ring table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardEntry {
    /// Ring name.
    pub name: String,
    /// Connection URL (a replica uses its own configured URL for a name it knows).
    pub url: String,
    /// Ring weight.
    pub weight: u32,
}

/// One ring generation, as stored (JSON) in `fractal_ring`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingState {
    /// Grows by one with every change.
    pub generation: i64,
    /// The phase.
    pub phase: Phase,
    /// The migration's id (a digest of both rings); empty when none ever ran.
    pub migration: String,
    /// Virtual nodes per unit of weight (both rings).
    pub vnodes: u32,
    /// The ring keys move from (equal to `new` when stable).
    pub old: Vec<ShardEntry>,
    /// The ring keys move to.
    pub new: Vec<ShardEntry>,
    /// Keys the plan counted to move (for the lag metric).
    pub planned: u64,
    /// Whether `verify` passed after the last copy.
    pub verified: bool,
    /// Unix seconds the phase began.
    pub since: u64,
}

fn ring_of(vnodes: u32, shards: &[ShardEntry]) -> Result<Ring, StoreError> {
    let specs: Vec<ShardSpec> =
        shards.iter().map(|s| ShardSpec { name: s.name.clone(), weight: s.weight, healthy: true }).collect();
    Ring::with_shards(vnodes, &specs).map_err(err)
}

impl RingState {
    /// The ring keys move from.
    pub fn old_ring(&self) -> Result<Ring, StoreError> {
        ring_of(self.vnodes, &self.old)
    }

    /// The ring keys move to.
    pub fn new_ring(&self) -> Result<Ring, StoreError> {
        ring_of(self.vnodes, &self.new)
    }
}

/// Creates the ring tables if they are missing.
pub async fn ensure_tables(c: &mut tokio_postgres::Client) -> Result<(), StoreError> {
    let tx = c.transaction().await.map_err(pg_err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&TABLES_LOCK]).await.map_err(pg_err)?;
    tx.batch_execute(TABLES).await.map_err(pg_err)?;
    tx.commit().await.map_err(pg_err)
}

/// The ring generation a shard holds, if any.
pub async fn read_state(c: &tokio_postgres::Client) -> Result<Option<RingState>, StoreError> {
    let row = c.query_opt("SELECT state FROM fractal_ring WHERE id = 1", &[]).await.map_err(pg_err)?;
    row.map(|r| serde_json::from_str::<RingState>(r.get(0)).map_err(|e| err(format!("fractal_ring.state: {e}"))))
        .transpose()
}

/// Stores a ring generation; refused if the shard holds a newer one.
pub async fn write_state(c: &tokio_postgres::Client, st: &RingState) -> Result<(), StoreError> {
    let json = serde_json::to_string(st).map_err(err)?;
    let n = c
        .execute(
            "INSERT INTO fractal_ring (id, generation, state) VALUES (1, $1, $2)
            ON CONFLICT (id) DO UPDATE SET generation = EXCLUDED.generation, state = EXCLUDED.state
            WHERE fractal_ring.generation <= EXCLUDED.generation",
            &[&st.generation, &json],
        )
        .await
        .map_err(pg_err)?;
    if n == 0 {
        return Err(err(format!("fractal_ring: a generation newer than {} is stored", st.generation)));
    }
    Ok(())
}

/// The replicas heard from since `since` (unix seconds): (replica, generation, seen_at).
pub async fn replicas(c: &tokio_postgres::Client, since: i64) -> Result<Vec<(String, i64, i64)>, StoreError> {
    let rows = c
        .query("SELECT replica, generation, seen_at FROM fractal_ring_replicas WHERE seen_at >= $1", &[&since])
        .await
        .map_err(pg_err)?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
}

/// Keys the copy of `migration` inserted into this (target) shard.
pub async fn copied(c: &tokio_postgres::Client, migration: &str) -> Result<i64, StoreError> {
    let row = c
        .query_one(
            "SELECT coalesce(sum(copied), 0)::bigint FROM fractal_migration_copy WHERE migration = $1",
            &[&migration],
        )
        .await
        .map_err(pg_err)?;
    Ok(row.get(0))
}

/// Where one key goes under a routing.
pub(super) enum Route<'a> {
    One(&'a Arc<PgShard>),
    Dual { old: &'a Arc<PgShard>, new: &'a Arc<PgShard> },
    Cutover { old: &'a Arc<PgShard>, new: &'a Arc<PgShard> },
}

/// The rings, phase and shards one replica routes by.
pub(super) struct Routing {
    generation: i64,
    phase: Phase,
    migration: String,
    old: Ring,
    new: Ring,
    pub(super) shards: Vec<Arc<PgShard>>,
    by_name: HashMap<String, usize>,
}

impl Routing {
    pub(super) fn stable(generation: i64, ring: Ring, shards: Vec<Arc<PgShard>>) -> Routing {
        Routing::new(generation, Phase::Stable, String::new(), ring.clone(), ring, shards)
    }

    fn new(generation: i64, phase: Phase, migration: String, old: Ring, new: Ring, shards: Vec<Arc<PgShard>>) -> Self {
        let by_name = shards.iter().enumerate().map(|(i, s)| (s.name.clone(), i)).collect();
        Routing { generation, phase, migration, old, new, shards, by_name }
    }

    fn shard(&self, ring: &Ring, pcs_id: &str) -> &Arc<PgShard> {
        let name = ring.pick(pcs_id.as_bytes()).expect("every shard of the ring stays on it");
        &self.shards[self.by_name[name]]
    }

    /// SPEC §7: by the bytes of pcs_id, on the old and the new ring.
    pub(super) fn route(&self, pcs_id: &str) -> Route<'_> {
        let new = self.shard(&self.new, pcs_id);
        if self.phase == Phase::Stable {
            return Route::One(new);
        }
        let old = self.shard(&self.old, pcs_id);
        if Arc::ptr_eq(old, new) {
            Route::One(new)
        } else if self.phase == Phase::Dual {
            Route::Dual { old, new }
        } else {
            Route::Cutover { old, new }
        }
    }
}

impl Put {
    /// The outcome this put leaves stored.
    pub(super) fn outcome(&self) -> &Outcome {
        match self {
            Put::Inserted(o) | Put::Existing(o) => o,
        }
    }

    pub(super) fn into_outcome(self) -> Outcome {
        match self {
            Put::Inserted(o) | Put::Existing(o) => o,
        }
    }
}

/// Metrics of shard migrations (every replica reports what the stores say).
pub struct MigrationMetrics {
    generation: IntGauge,
    phase: IntGaugeVec,
    copied: IntGauge,
    planned: IntGauge,
    lag: IntGauge,
}

impl MigrationMetrics {
    pub(super) fn new(m: &Metrics) -> MigrationMetrics {
        let generation = IntGauge::new("flk_ring_generation", "The ring generation this replica routes by.").unwrap();
        let phase = IntGaugeVec::new(
            Opts::new("flk_migration_phase", "1 for the migration phase this replica is in (stable, dual, cutover)."),
            &["phase"],
        )
        .unwrap();
        let copied =
            IntGauge::new("flk_migration_keys_copied", "Keys the running migration's copy has inserted.").unwrap();
        let planned = IntGauge::new("flk_migration_keys_planned", "Keys the running migration plans to move.").unwrap();
        let lag =
            IntGauge::new("flk_migration_lag_keys", "Planned keys not yet copied (0 when no copy runs).").unwrap();
        for c in [
            Box::new(generation.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(phase.clone()),
            Box::new(copied.clone()),
            Box::new(planned.clone()),
            Box::new(lag.clone()),
        ] {
            m.register(c);
        }
        let mm = MigrationMetrics { generation, phase, copied, planned, lag };
        mm.set_phase(Phase::Stable);
        mm
    }

    fn set_phase(&self, p: Phase) {
        for q in [Phase::Stable, Phase::Dual, Phase::Cutover] {
            self.phase.with_label_values(&[q.as_str()]).set((p == q) as i64);
        }
    }
}

/// Reads the newest ring generation from every shard in use and applies it if it
/// is newer than the one routed by. `ready` remembers the shards whose tables exist.
async fn poll(store: &SharedStore, ready: &mut HashSet<String>) -> Option<RingState> {
    let shards = store.shards();
    let mut best: Option<RingState> = None;
    for s in &shards {
        if !s.healthy.load(std::sync::atomic::Ordering::Relaxed) {
            continue;
        }
        let read = async {
            let mut c = s.pool.get().await.map_err(err)?;
            if !ready.contains(&s.name) {
                ensure_tables(&mut c).await?;
            }
            read_state(&c).await
        };
        match tokio::time::timeout(Duration::from_secs(2), read).await {
            Ok(Ok(st)) => {
                ready.insert(s.name.clone());
                if let Some(st) = st.filter(|st| best.as_ref().is_none_or(|b| st.generation > b.generation)) {
                    best = Some(st);
                }
            }
            Ok(Err(e)) => tracing::warn!(shard = %s.name, error = %e, "reading the ring generation failed"),
            Err(_) => tracing::warn!(shard = %s.name, "reading the ring generation timed out"),
        }
    }
    best
}

/// Applies a newer ring generation; returns once the operations begun under the
/// previous routing have ended.
async fn apply(store: &SharedStore, st: &RingState) -> Result<(), StoreError> {
    let (old, new) = (st.old_ring()?, st.new_ring()?);
    let cur = store.routing();
    let mut entries: Vec<&ShardEntry> = st.new.iter().collect();
    if st.phase != Phase::Stable {
        entries.extend(st.old.iter().filter(|o| !st.new.iter().any(|n| n.name == o.name)));
    }
    let mut shards = Vec::new();
    for e in entries {
        if let Some(s) = cur.shards.iter().find(|s| s.name == e.name) {
            shards.push(s.clone());
            continue;
        }
        let url = store.inner.configured.get(&e.name).unwrap_or(&e.url);
        let s = connect_shard(&e.name, url, store.inner.pool_size, &store.inner.metrics)?;
        let up = migrate(&s).await.is_ok();
        store.set_health(&s, up);
        shards.push(s);
    }
    let next = Routing::new(st.generation, st.phase, st.migration.clone(), old, new, shards);
    drop(cur);
    let prev = std::mem::replace(&mut *store.inner.routing.write().unwrap_or_else(|p| p.into_inner()), Arc::new(next));
    let started = Instant::now();
    while Arc::strong_count(&prev) > 1 && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let m = &store.inner.migration;
    m.generation.set(st.generation);
    m.set_phase(st.phase);
    m.planned.set(if st.phase == Phase::Dual { st.planned as i64 } else { 0 });
    tracing::info!(generation = st.generation, phase = st.phase.as_str(), "ring generation applied");
    Ok(())
}

/// Reads and applies the ring generation once (at start, before serving).
pub(super) async fn refresh(store: &SharedStore) {
    if let Some(st) = poll(store, &mut HashSet::new()).await
        && st.generation > store.routing().generation
        && let Err(e) = apply(store, &st).await
    {
        tracing::error!(error = %e, "applying the ring generation failed");
    }
}

fn replica_id() -> String {
    let nonce = std::hash::BuildHasher::hash_one(&std::hash::RandomState::new(), std::process::id());
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "replica".into());
    format!("{host}-{}-{:08x}", std::process::id(), nonce as u32)
}

/// Follows the ring generation: polls it, applies newer ones, acknowledges the one
/// routed by on every shard in use, and reports the copy's progress.
pub(super) async fn watch(store: SharedStore) {
    let replica = replica_id();
    let mut ready = HashSet::new();
    loop {
        tokio::time::sleep(POLL).await;
        if let Some(st) = poll(&store, &mut ready).await
            && st.generation > store.routing().generation
            && let Err(e) = apply(&store, &st).await
        {
            tracing::error!(error = %e, "applying the ring generation failed");
            continue;
        }
        let (generation, phase, migration) = {
            let r = store.routing();
            (r.generation, r.phase, r.migration.clone())
        };
        let mut total = 0;
        for s in store.shards() {
            if !s.healthy.load(std::sync::atomic::Ordering::Relaxed) || !ready.contains(&s.name) {
                continue;
            }
            let work = async {
                let c = s.pool.get().await.map_err(err)?;
                c.execute(
                    "INSERT INTO fractal_ring_replicas (replica, generation, seen_at) VALUES ($1, $2, $3)
                    ON CONFLICT (replica) DO UPDATE SET generation = EXCLUDED.generation, seen_at = EXCLUDED.seen_at",
                    &[&replica, &generation, &(now_secs() as i64)],
                )
                .await
                .map_err(pg_err)?;
                if phase == Phase::Dual { copied(&c, &migration).await } else { Ok(0) }
            };
            match tokio::time::timeout(Duration::from_secs(2), work).await {
                Ok(Ok(n)) => total += n,
                Ok(Err(e)) => tracing::debug!(shard = %s.name, error = %e, "ring heartbeat failed"),
                Err(_) => tracing::debug!(shard = %s.name, "ring heartbeat timed out"),
            }
        }
        let m = &store.inner.migration;
        m.copied.set(total);
        m.lag.set((m.planned.get() - total).max(0));
    }
}
