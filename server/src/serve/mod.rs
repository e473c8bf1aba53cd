//! `fractal serve`: the reference server of SPEC §6.
//!
//! One process, no other service: an HTTP front (axum on tokio), the inbox
//! write-ahead log ([`wal`]) and the embedded dedup store ([`store`]), and when
//! configured the audit log of SPEC §11 ([`audit`]). See `docs/server.md` for the
//! operator's view.

pub mod audit;
pub mod config;
pub mod conn;
pub mod http;
pub mod keylock;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod region;
pub mod shared;
pub mod store;
pub mod wal;

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use config::{Config, Overrides};
use metrics::Metrics;
use shared::SharedStore;
use store::{Outcome, OutcomeStore, Put, RedbStore, StoreError, now_secs};
use wal::{Wal, WalOptions};

/// Options of `fractal serve`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// TOML configuration file (see docs/config.example.toml). Without one the
    /// embedded defaults apply: 127.0.0.1:8080, ./data, no signatures, tenant `default`.
    #[arg(long, short = 'c', env = "FRACTAL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Listen address, overriding the file and FRACTAL_LISTEN (port 0 picks a free port).
    #[arg(long)]
    pub listen: Option<String>,
    /// Data directory, overriding the file and FRACTAL_DATA_DIR.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// Runs the server until SIGTERM or Ctrl-C.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_logging();
    let config = Config::load(
        args.config.as_deref(),
        &Overrides { listen: args.listen.clone(), data_dir: args.data_dir.clone() },
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.workers)
        .enable_all()
        .thread_name("fractal-serve")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(config))
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter =
        std::env::var("FRACTAL_LOG").ok().or_else(|| std::env::var("RUST_LOG").ok()).unwrap_or_else(|| "info".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

/// Replays log records from the store's watermark, strictly in log order, one at a
/// time, so that of several records with one key the first logged wins — as it did
/// live, where requests of one key pass the log and the store one at a time.
///
/// A v2 record carries the outcome that was decided (and answered): it is stored as
/// it is, whatever the configuration is now (rotated keys, other tolerances, a removed
/// tenant). Replay never judges again. A v1 record (written before the upgrade)
/// carries only the request, so it is judged the old way: parsed, signature-checked
/// and verified under the current configuration. Returns (replayed, stored).
///
/// With the audit log on, every record whose decided outcome is the stored one gets
/// its entry unless the chain has it already ([`audit::Audit::replayed`]).
async fn replay<S: OutcomeStore>(
    config: &Config,
    records: Vec<wal::Record>,
    store: &S,
    mut deferred: Option<&mut Vec<Deferred>>,
    audit: Option<&audit::Audit>,
) -> anyhow::Result<(usize, usize)> {
    let tenants: HashMap<&str, &config::Tenant> = config.tenants.iter().map(|t| (t.id.as_str(), t)).collect();
    let mut stored = 0;
    let n = records.len();
    let now = now_secs();
    for rec in records {
        let (pcs_id, outcome, at) = match rec.decided {
            Some(d) => {
                if d.expires_at <= now {
                    continue;
                }
                // v3 (regions): the stamp makes the replay order-independent (SPEC §10).
                let stamp = d.origin.as_ref().map(|o| fractal_core::region::Stamp::new(o.hlc, &o.region, &rec.body));
                (d.pcs_id.clone(), d.clone().into_outcome(stamp), d.accepted_at)
            }
            None => {
                let Some(t) = tenants.get(rec.tenant.as_str()) else {
                    tracing::warn!(tenant = %http::loggable(&rec.tenant), lsn = rec.lsn, "replay: v1 record of a tenant no longer configured; skipped");
                    continue;
                };
                let Ok(pcs) = http::admit(t.policy, &t.verifier, &rec.body) else { continue };
                let (d, _) = wal::Decided::judge(&pcs, &t.params, now, config.dedup_ttl_secs);
                (d.pcs_id.clone(), d.into_outcome(None), now)
            }
        };
        let record_sha256 = if audit.is_some() { fractal_core::hex(&fractal_core::sha256(&rec.body)) } else { String::new() };
        // A shared store may have the record's shard down: the record waits in
        // `deferred` (and in the log: the watermark stays below it) and is drained
        // when the shard answers, while the other shards' keys are served.
        let put = if outcome.stamp.is_some() {
            // Regions: the global order decides (a peer's record imported after a
            // local one may supersede it); never deferred (regions are embedded-only).
            match store.merge(&rec.tenant, &pcs_id, outcome.clone()).await? {
                store::Merged::Kept(o) => Ok(Put::Existing(o)),
                _ => Ok(Put::Inserted(outcome.clone())),
            }
        } else {
            store.put_if_absent(&rec.tenant, &pcs_id, outcome.clone()).await
        };
        let put = match put {
            Ok(p) => p,
            Err(e) => match deferred.as_deref_mut() {
                Some(d) => {
                    if d.is_empty() {
                        tracing::warn!(error = %e, lsn = rec.lsn, "replay: a record's shard does not answer; draining it in the background");
                    }
                    d.push(Deferred { lsn: rec.lsn, tenant: rec.tenant, pcs_id, outcome, record_sha256, at });
                    continue;
                }
                None => return Err(e.into()),
            },
        };
        if let Some(a) = audit {
            a.replayed(rec.lsn, &rec.tenant, &pcs_id, &outcome, &put, &record_sha256, at).await;
        }
        if let Put::Inserted(_) = put {
            stored += 1;
        }
    }
    Ok((n, stored))
}

async fn serve(config: Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let wal_dir = config.data_dir.join("wal");
    let metrics = Arc::new(Metrics::new());
    let on_store_error = {
        let c = metrics.store_errors.clone();
        Arc::new(move || c.inc())
    };
    let (store, store_writer, watermark) = match &config.shared {
        None => {
            let (s, w, wm) =
                RedbStore::open_with(&config.data_dir.join("outcomes.redb"), config.store_cache_bytes, on_store_error)
                    .context("opening the outcome store")?;
            (Backend::Embedded(s), Some(w), wm)
        }
        Some(shared) => {
            let tiers = config.tenants.iter().map(|t| (t.id.clone(), t.tiers)).collect();
            let s = SharedStore::open(shared, tiers, &metrics).await.context("opening the shared stores")?;
            let wm = read_watermark(&config.data_dir)?;
            (Backend::Shared(s, config.data_dir.clone()), None, wm)
        }
    };

    // The audit chain resumes before replay, which appends what the chain lacks.
    let (audit, audit_tasks) = match &config.audit {
        Some(a) => {
            let (h, t) = audit::Audit::start(a, &config.data_dir, &metrics).await.context("starting the audit log")?;
            (Some(h), Some(t))
        }
        None => (None, None),
    };

    let region = match &config.region {
        Some(r) => Some(region::Region::open(r, &config.data_dir, &metrics).context("opening the region state")?),
        None => None,
    };

    // Recovery: check the log, cut a torn tail, replay what the store may have lost.
    let mut records = Vec::new();
    let at = wal::recover(&wal_dir, watermark, &mut |r| records.push(r)).context("recovering the write-ahead log")?;
    if let Some(r) = &region {
        // The clock restarts above every stamp the log holds.
        records.iter().filter_map(|x| x.decided.as_ref()?.origin.as_ref()).for_each(|o| r.observe(o.hlc));
    }
    if at.truncated > 0 {
        tracing::warn!(bytes = at.truncated, segment = at.segment, "write-ahead log: torn tail truncated");
    }
    if at.unused > 0 {
        tracing::info!(bytes = at.unused, segment = at.segment, "write-ahead log: space allocated ahead of the records cut");
    }
    let mut deferred = Vec::new();
    let defer = matches!(store, Backend::Shared(..)).then_some(&mut deferred);
    let (replayed, restored) =
        replay(&config, records, &store, defer, audit.as_ref()).await.context("replaying the write-ahead log")?;
    // The lowest log position not yet in the store: checkpoints never pass it.
    let floor = Arc::new(std::sync::atomic::AtomicU64::new(deferred.first().map(|d| d.lsn).unwrap_or(u64::MAX)));
    if !deferred.is_empty() {
        tokio::spawn(drain(store.clone(), deferred, floor.clone(), audit.clone()));
    }
    // Checkpoints pass neither a deferred record nor an entry not yet in the audit chain.
    let capped = |wm: u64, floor: &std::sync::atomic::AtomicU64, audit: Option<&audit::Audit>| {
        wm.min(floor.load(std::sync::atomic::Ordering::SeqCst)).min(audit.map_or(u64::MAX, |a| a.floor()))
    };
    // The store heals from failed writes: give a failing first checkpoint a few tries.
    let mut pause = Duration::from_millis(100);
    for attempt in 1.. {
        let wm = capped(at.end_lsn(), &floor, audit.as_ref());
        match store.checkpoint(wm).await {
            Ok(()) => {
                if let Some(a) = &audit {
                    a.checkpointed(wm);
                }
                break;
            }
            Err(e) if attempt < 8 => {
                tracing::warn!(error = %e, attempt, "checkpoint after replay failed; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            Err(e) => return Err(e).context("checkpointing after replay"),
        }
    }
    tracing::info!(replayed, restored, "write-ahead log replayed");

    let observe = {
        let m = metrics.clone();
        Arc::new(move |d: Duration, n: usize| {
            m.wal_fsync.observe(d.as_secs_f64());
            m.wal_batch.observe(n as f64);
        })
    };
    let opts = WalOptions {
        dir: wal_dir.clone(),
        segment_bytes: config.wal_segment_bytes,
        max_batch_bytes: config.wal_max_batch_bytes,
        queue: WalOptions::QUEUE,
    };
    let (wal, wal_writer) = Wal::start(opts, at, observe).context("starting the write-ahead log")?;

    let listener =
        tokio::net::TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    let (stopping, stop_rx) = tokio::sync::watch::channel(false);
    let app = Arc::new(
        http::App::new(&config, wal.clone(), store.clone(), metrics.clone(), stop_rx)
            .with_audit(audit.clone())
            .with_region(region.clone()),
    );
    let router = http::router(app.clone());
    let region_tasks = match (&region, &config.region) {
        (Some(r), Some(c)) => {
            let remote = region::Remote::open(&c.url)?;
            tracing::info!(region = %r.id, url = %http::loggable(&c.url), "region: log shipping on");
            let tasks = region::start(
                r.clone(),
                remote,
                wal_dir.clone(),
                wal.clone(),
                store.clone(),
                app.clone(),
                audit.clone(),
            );
            Some(tasks)
        }
        _ => None,
    };

    // Background upkeep: durable checkpoints with log pruning, and the TTL sweep.
    let upkeep = {
        let (store, wal, dir, floor, audit) = (store.clone(), wal.clone(), wal_dir.clone(), floor.clone(), audit.clone());
        let region = region.clone();
        let checkpoint_time = metrics.checkpoint.clone();
        let retention = Duration::from_secs(config.wal_retention_secs);
        let every = Duration::from_secs(config.checkpoint_secs);
        let sweep_every = Duration::from_secs(config.sweep_secs);
        let demote_every = Duration::from_secs(config.shared.as_ref().map(|s| s.demote_secs).unwrap_or(3600));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            let mut sweep = tokio::time::interval(sweep_every);
            let mut demote = tokio::time::interval(demote_every);
            tick.tick().await;
            sweep.tick().await;
            demote.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        let wm = capped(wal.watermark(), &floor, audit.as_ref());
                        let started = std::time::Instant::now();
                        match store.checkpoint(wm).await {
                            Ok(()) => {
                                checkpoint_time.observe(started.elapsed().as_secs_f64());
                                if let Some(a) = &audit {
                                    a.checkpointed(wm);
                                }
                                let dir = dir.clone();
                                // Regions: what is not yet published stays.
                                let wm = wm.min(region.as_ref().map_or(u64::MAX, |r| r.published_floor()));
                                match tokio::task::spawn_blocking(move || wal::prune(&dir, wm, retention)).await {
                                    Ok(Ok(n)) if n > 0 => tracing::info!(segments = n, "write-ahead log pruned"),
                                    Ok(Err(e)) => tracing::warn!(error = %e, "write-ahead log pruning failed"),
                                    _ => {}
                                }
                            }
                            Err(e) => tracing::error!(error = %e, "checkpoint failed"),
                        }
                    }
                    _ = sweep.tick() => match store.sweep(now_secs()).await {
                        Ok(n) => tracing::info!(expired = n, "dedup store swept"),
                        Err(e) => tracing::error!(error = %e, "dedup sweep failed"),
                    },
                    _ = demote.tick() => if let Backend::Shared(s, _) = &store {
                        match s.demote(now_secs()).await {
                            Ok(0) => {}
                            Ok(n) => tracing::info!(demoted = n, "outcomes moved to the cold tier"),
                            // The object store failing pauses demotion; nothing left the warm tier.
                            Err(e) => tracing::warn!(error = %e, "demotion paused: the cold tier failed"),
                        }
                    },
                }
            }
        })
    };

    tracing::info!(
        %addr,
        data_dir = %config.data_dir.display(),
        tenants = config.tenants.len(),
        body_limit = config.body_limit,
        "serving"
    );
    // One line on stdout for scripts and tests (port 0 picks the port).
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "fractal serve: listening on http://{addr}");
        let _ = out.flush();
    }

    conn::serve(listener, router, config.http, metrics.open_connections.clone(), shutdown_signal()).await;

    // Every connection is closed. Submissions already past their body finish their
    // log/store section; those still retrying a failing store give up and leave their
    // records in the log (above the watermark) for the next start.
    let _ = stopping.send(true);
    let limit = config.http.shutdown_grace + Duration::from_secs(15);
    if tokio::time::timeout(limit, app.tasks.idle()).await.is_err() {
        tracing::warn!("submissions still running at shutdown; the log keeps their records");
    }
    tracing::info!("shutting down: flushing the log and the store");
    upkeep.abort();
    let _ = upkeep.await;
    if let Some(t) = region_tasks {
        t.stop().await;
    }
    drop(app);
    // The audit writer fsyncs what is queued; sealed segments get a moment to reach
    // the object store (what does not stays local for the next start).
    if let (Some(a), Some(t)) = (audit.clone(), audit_tasks) {
        t.stop(a, Duration::from_secs(5)).await;
    }
    let wm = capped(wal.watermark(), &floor, audit.as_ref());
    drop(wal);
    tokio::task::spawn_blocking(move || wal_writer.join()).await?;
    // A store that still fails cannot take the final checkpoint; the log keeps every
    // record above the last one, and the next start replays them.
    match tokio::time::timeout(limit, store.checkpoint(wm)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e).context("final checkpoint (the log keeps the records; the next start replays them)"),
        Err(_) => anyhow::bail!("final checkpoint timed out (the log keeps the records; the next start replays them)"),
    }
    drop(store);
    if let Some(w) = store_writer {
        tokio::task::spawn_blocking(move || w.join()).await?;
    }
    tracing::info!("stopped");
    Ok(())
}

/// A replayed record whose shard did not answer.
struct Deferred {
    lsn: u64,
    tenant: String,
    pcs_id: String,
    outcome: Outcome,
    record_sha256: String,
    at: u64,
}

/// Stores deferred replayed records in log order as their shards come back, raising
/// the checkpoint floor past each one. None of them was acknowledged (an answered
/// outcome is committed in the shard before its answer), so serving other keys
/// meanwhile changes no answer.
async fn drain(
    store: Backend,
    deferred: Vec<Deferred>,
    floor: Arc<std::sync::atomic::AtomicU64>,
    audit: Option<audit::Audit>,
) {
    let n = deferred.len();
    let mut rest = deferred.into_iter().peekable();
    while let Some(d) = rest.next() {
        let mut pause = Duration::from_millis(100);
        let put = loop {
            match store.put_if_absent(&d.tenant, &d.pcs_id, d.outcome.clone()).await {
                Ok(p) => break p,
                Err(e) => {
                    tracing::debug!(error = %e, lsn = d.lsn, "deferred replay: shard still down");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            }
        };
        // Registered in flight before the floor moves past this record.
        if let Some(a) = &audit {
            a.replayed(d.lsn, &d.tenant, &d.pcs_id, &d.outcome, &put, &d.record_sha256, d.at).await;
        }
        let next = rest.peek().map(|x| x.lsn).unwrap_or(u64::MAX);
        floor.store(next, std::sync::atomic::Ordering::SeqCst);
    }
    tracing::info!(records = n, "deferred replay drained into the shards");
}

/// The configured backend.
#[derive(Clone)]
pub enum Backend {
    /// redb in the data directory.
    Embedded(RedbStore),
    /// PostgreSQL shards (+ Redis, object storage); the log watermark lives in the
    /// data directory, since the log does.
    Shared(SharedStore, PathBuf),
}

const WATERMARK_FILE: &str = "shared-store.watermark";

fn read_watermark(dir: &std::path::Path) -> anyhow::Result<u64> {
    match std::fs::read_to_string(dir.join(WATERMARK_FILE)) {
        Ok(s) => s.trim().parse().with_context(|| format!("{WATERMARK_FILE}: not a number")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e).context(WATERMARK_FILE),
    }
}

/// Records the watermark durably: write a temp file, fsync, rename, fsync the dir.
fn write_watermark(dir: &std::path::Path, wm: u64) -> std::io::Result<()> {
    let tmp = dir.join(format!("{WATERMARK_FILE}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(wm.to_string().as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(WATERMARK_FILE))?;
    std::fs::File::open(dir)?.sync_all()
}

impl Backend {
    /// A durable checkpoint at `watermark`. The shared stores commit every outcome
    /// before it is answered, so only the watermark needs recording.
    pub async fn checkpoint(&self, watermark: u64) -> Result<(), StoreError> {
        match self {
            Backend::Embedded(s) => s.checkpoint(watermark).await,
            Backend::Shared(_, dir) => {
                let dir = dir.clone();
                tokio::task::spawn_blocking(move || write_watermark(&dir, watermark))
                    .await
                    .map_err(|e| StoreError(e.to_string()))?
                    .map_err(|e| StoreError(format!("writing the watermark: {e}")))
            }
        }
    }

    /// Deletes expired outcomes.
    pub async fn sweep(&self, now: u64) -> Result<u64, StoreError> {
        match self {
            Backend::Embedded(s) => s.sweep(now).await,
            Backend::Shared(s, _) => s.sweep(now).await,
        }
    }
}

impl OutcomeStore for Backend {
    async fn get(&self, tenant: &str, pcs_id: &str) -> Result<Option<Outcome>, StoreError> {
        match self {
            Backend::Embedded(s) => s.get(tenant, pcs_id).await,
            Backend::Shared(s, _) => s.get(tenant, pcs_id).await,
        }
    }

    async fn put_if_absent(&self, tenant: &str, pcs_id: &str, outcome: Outcome) -> Result<Put, StoreError> {
        match self {
            Backend::Embedded(s) => s.put_if_absent(tenant, pcs_id, outcome).await,
            Backend::Shared(s, _) => s.put_if_absent(tenant, pcs_id, outcome).await,
        }
    }

    async fn merge(&self, tenant: &str, pcs_id: &str, outcome: Outcome) -> Result<store::Merged, StoreError> {
        match self {
            Backend::Embedded(s) => s.merge_stamped(tenant, pcs_id, outcome).await,
            Backend::Shared(s, _) => s.merge(tenant, pcs_id, outcome).await,
        }
    }

    async fn health(&self) -> Result<(), StoreError> {
        match self {
            Backend::Embedded(s) => s.health().await,
            Backend::Shared(s, _) => s.health().await,
        }
    }

    fn peek(&self, tenant: &str, pcs_id: &str) -> Option<Result<Outcome, store::Absent>> {
        match self {
            Backend::Embedded(s) => s.peek(tenant, pcs_id),
            Backend::Shared(s, _) => s.peek(tenant, pcs_id),
        }
    }

    fn accepting(&self) -> bool {
        match self {
            Backend::Embedded(s) => s.accepting(),
            Backend::Shared(s, _) => s.accepting(),
        }
    }

    fn accepting_for(&self, tenant: &str, pcs_id: &str) -> bool {
        match self {
            Backend::Embedded(s) => s.accepting_for(tenant, pcs_id),
            Backend::Shared(s, _) => s.accepting_for(tenant, pcs_id),
        }
    }

    async fn readiness(&self) -> (bool, serde_json::Value) {
        match self {
            Backend::Embedded(s) => s.readiness().await,
            Backend::Shared(s, _) => s.readiness().await,
        }
    }

    async fn lookup(&self, tenant: &str, pcs_id: &str) -> Result<Result<Outcome, store::Absent>, StoreError> {
        match self {
            Backend::Embedded(s) => s.lookup(tenant, pcs_id).await,
            Backend::Shared(s, _) => s.lookup(tenant, pcs_id).await,
        }
    }

    async fn put_if_absent_seen(
        &self,
        tenant: &str,
        pcs_id: &str,
        outcome: Outcome,
        seen: store::Absent,
    ) -> Result<Put, StoreError> {
        match self {
            Backend::Embedded(s) => s.put_if_absent_seen(tenant, pcs_id, outcome, seen).await,
            Backend::Shared(s, _) => s.put_if_absent_seen(tenant, pcs_id, outcome, seen).await,
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("signal received: no new connections, finishing in-flight requests");
}

#[cfg(test)]
mod tests;
