//! The PostgreSQL authority: shard pools, schema migrations, health checks and the
//! batched first-write-wins insert.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use deadpool_postgres::{ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::{mpsc, oneshot};

use super::metrics::StoreMetrics;
use super::{SharedStore, err};
use crate::serve::config::TierPolicy;
use crate::serve::store::{Outcome, Put, StoreError, now_secs};

/// Marks an error the database answered (the shard is up).
pub(super) const DB_ANSWERED: &str = "database said";

/// A database error with the server's message (tokio-postgres prints only "db error").
pub(super) fn pg_err(e: tokio_postgres::Error) -> StoreError {
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
pub(super) const SELECT_ONE: &str = "SELECT status, body, expires_at, cold_object, cold_offset, cold_len
    FROM fractal_outcomes WHERE tenant = $1 AND pcs_id = $2 AND expires_at > $3";
pub(super) const PROMOTE: &str =
    "UPDATE fractal_outcomes SET body = $3, warm_until = $4 WHERE tenant = $1 AND pcs_id = $2 AND body IS NULL";
pub(super) const SWEEP: &str = "DELETE FROM fractal_outcomes WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM fractal_outcomes WHERE expires_at <= $1 LIMIT $2))";

/// Most records in one batched insert.
const MAX_BATCH: usize = 512;
/// Most rows deleted by one sweep statement.
pub(super) const SWEEP_CHUNK: i64 = 10_000;
/// Longest wait for one database operation before the shard counts as down.
pub(super) const PG_TIMEOUT: Duration = Duration::from_secs(5);

/// One batched write waiting for its shard.
pub(super) struct PutReq {
    pub(super) tenant: String,
    pub(super) pcs_id: String,
    pub(super) outcome: Outcome,
    pub(super) warm_until: i64,
    pub(super) done: oneshot::Sender<Result<Put, StoreError>>,
}

/// One PostgreSQL shard.
pub(super) struct PgShard {
    pub(super) name: String,
    pub(super) pool: Pool,
    pub(super) healthy: AtomicBool,
    pub(super) queue: mpsc::Sender<PutReq>,
    pub(super) queued: AtomicU64,
}

/// Object name, byte offset and length of a cold entry.
pub(super) type ColdRef = (String, i64, i32);

/// A row as the authority holds it.
pub(super) struct Row {
    pub(super) status: i16,
    pub(super) body: Option<Vec<u8>>,
    pub(super) expires_at: i64,
    pub(super) cold: Option<ColdRef>,
}

/// A shard's pool and its batch writers (not yet connected: the pool connects lazily).
pub(super) fn connect_shard(
    name: &str,
    url: &str,
    pool_size: usize,
    metrics: &StoreMetrics,
) -> Result<Arc<PgShard>, StoreError> {
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

pub(super) fn warm_until(p: TierPolicy, now: u64) -> i64 {
    if p.cold { now.saturating_add(p.warm_ttl_secs).min(i64::MAX as u64) as i64 } else { i64::MAX }
}

pub(super) async fn migrate(s: &PgShard) -> Result<(), StoreError> {
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
pub(super) async fn health_checks(store: SharedStore) {
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
pub(super) fn cold_ref(obj: &str, off: i64, len: i32) -> Vec<u8> {
    format!("{off} {len} {obj}").into_bytes()
}

pub(super) fn parse_cold_ref(b: &[u8]) -> Option<(String, i64, i32)> {
    let s = std::str::from_utf8(b).ok()?;
    let mut it = s.splitn(3, ' ');
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?, it.next()?.to_string()))
        .map(|(off, len, obj)| (obj, off, len))
}

pub(super) fn row_of(r: &tokio_postgres::Row, at: usize) -> Row {
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
