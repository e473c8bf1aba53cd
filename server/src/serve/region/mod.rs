//! Regions (SPEC §10): log shipping through a shared object store.
//!
//! * Every outcome this region stores carries a stamp `(accepted_at, region,
//!   SHA-256 of the record)`, `accepted_at` from a hybrid logical clock
//!   ([`fractal_core::region::Hlc`]); the write-ahead log holds it (v3 frames) and
//!   the store keeps it next to the outcome.
//! * [`publish`]: every `publish_ms` the records this region accepted since the last
//!   publication (up to the log's watermark: durable and stored) are sealed into one
//!   object `log/<region>/<seq>.seg`, written create-only.
//! * [`import`]: every `import_ms` each peer's next segments are read in sequence
//!   order; each record is logged locally (durable), then stored by the global order:
//!   a key not seen is stored, a key seen keeps the smaller stamp. When the stored
//!   answer was this region's and loses, the conflict is written to
//!   `region/conflicts.jsonl` first (once), counted and audited. How far each peer
//!   was imported is remembered in `region/imported/<peer>` after each segment, so an
//!   import is idempotent and resumes after a crash.
//! * [`digest`]: per shard, 256 buckets of (key count, XOR of per-key hashes),
//!   published as `digest/<region>.json`; comparing two digests gives the divergence
//!   without shipping keys.
//!
//! `region/paused` (written by `fractal region pause`) stops publishing and importing
//! (a partition, for drills and tests); digests keep flowing so divergence shows.

pub mod config;
pub mod digest;
pub mod import;
pub mod publish;
pub mod state;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use fractal_core::region::Hlc;
use object_store::ObjectStore;
use object_store::path::Path as ObjPath;
use prometheus::{GaugeVec, IntCounterVec, IntGaugeVec, Opts};

use super::metrics::Metrics;
use super::wal::Origin;

/// The region's metrics.
pub struct RegionMetrics {
    /// `flk_geo_replication_lag_seconds{peer_region}`.
    pub lag: GaugeVec,
    /// `flk_geo_divergence_keys{peer_region,shard,kind}`.
    pub divergence: IntGaugeVec,
    /// `flk_geo_conflicts_total{peer_region}`.
    pub conflicts: IntCounterVec,
    /// `flk_geo_segments_published_total`.
    pub published: prometheus::IntCounter,
    /// `flk_geo_records_imported_total{peer_region}`.
    pub imported: IntCounterVec,
}

impl RegionMetrics {
    fn new(m: &Metrics) -> RegionMetrics {
        let lag = GaugeVec::new(
            Opts::new(
                "flk_geo_replication_lag_seconds",
                "Seconds since this region last had imported everything a peer region had published (0 right after).",
            ),
            &["peer_region"],
        )
        .unwrap();
        let divergence = IntGaugeVec::new(
            Opts::new(
                "flk_geo_divergence_keys",
                "Keys in one region's store and not the peer's (missing) or whose outcomes differ (differs), per shard; \
                 a lower bound from bucketed digests.",
            ),
            &["peer_region", "shard", "kind"],
        )
        .unwrap();
        let conflicts = IntCounterVec::new(
            Opts::new("flk_geo_conflicts_total", "Answers of this region superseded by an earlier answer of a peer."),
            &["peer_region"],
        )
        .unwrap();
        let published =
            prometheus::IntCounter::new("flk_geo_segments_published_total", "Log segments published by this region.")
                .unwrap();
        let imported = IntCounterVec::new(
            Opts::new("flk_geo_records_imported_total", "Records imported from peer regions' logs."),
            &["peer_region"],
        )
        .unwrap();
        m.register(Box::new(lag.clone()));
        m.register(Box::new(divergence.clone()));
        m.register(Box::new(conflicts.clone()));
        m.register(Box::new(published.clone()));
        m.register(Box::new(imported.clone()));
        RegionMetrics { lag, divergence, conflicts, published, imported }
    }
}

/// The shared object store and the key prefix of the replication area.
#[derive(Clone)]
pub struct Remote {
    /// The store.
    pub store: Arc<dyn ObjectStore>,
    /// The prefix from the URL (may be empty).
    pub prefix: String,
}

impl Remote {
    /// Opens `[region.replication] url`.
    pub fn open(url: &str) -> anyhow::Result<Remote> {
        // TLS for https endpoints: ring, as the shared stores use.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (store, prefix) =
            super::shared::open_object_store(url, "region.replication.url").map_err(anyhow::Error::msg)?;
        Ok(Remote { store, prefix })
    }

    /// The object path of `name` under the prefix.
    pub fn path(&self, name: &str) -> ObjPath {
        super::shared::object_path(&self.prefix, name)
    }
}

/// The name of a published segment.
pub fn segment_name(region: &str, seq: u64) -> String {
    format!("log/{region}/{seq:020}.seg")
}

/// The name of a region's divergence digest.
pub fn digest_name(region: &str) -> String {
    format!("digest/{region}.json")
}

/// A running region: its id, clock, state directory and metrics.
pub struct Region {
    /// This region's id.
    pub id: String,
    /// The settings.
    pub cfg: config::Region,
    hlc: Mutex<Hlc>,
    /// `<data_dir>/region`.
    pub dir: PathBuf,
    /// The metrics.
    pub metrics: RegionMetrics,
    /// The lowest log position not yet published: log pruning stays below it.
    published_lsn: AtomicU64,
    /// Conflicts recorded so far (their identities), and the open file.
    conflicts: Mutex<state::Conflicts>,
    /// What `fractal region status` shows.
    pub status: Mutex<state::Status>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis() as u64
}

impl Region {
    /// Opens the region's state in `data_dir/region`.
    pub fn open(cfg: &config::Region, data_dir: &Path, metrics: &Metrics) -> anyhow::Result<Arc<Region>> {
        let dir = data_dir.join("region");
        std::fs::create_dir_all(dir.join("imported"))?;
        let published = state::Published::load(&dir)?;
        let conflicts = state::Conflicts::open(&dir)?;
        let metrics = RegionMetrics::new(metrics);
        let status = state::Status { region: cfg.id.clone(), conflicts: conflicts.len() as u64, ..Default::default() };
        Ok(Arc::new(Region {
            id: cfg.id.clone(),
            cfg: cfg.clone(),
            hlc: Mutex::new(Hlc::starting_at(published.hlc)),
            dir,
            metrics,
            published_lsn: AtomicU64::new(published.lsn),
            conflicts: Mutex::new(conflicts),
            status: Mutex::new(status),
        }))
    }

    /// A new stamp origin for a record accepted now.
    pub fn origin(&self) -> Origin {
        let hlc = self.hlc.lock().unwrap().tick(now_ms());
        Origin { hlc, region: self.id.clone() }
    }

    /// Later stamps are greater than `hlc` (a value read from a log).
    pub fn observe(&self, hlc: u64) {
        self.hlc.lock().unwrap().observe(hlc);
    }

    /// The largest clock value issued or seen.
    pub fn hlc_last(&self) -> u64 {
        self.hlc.lock().unwrap().last()
    }

    /// Whether shipping is paused (`fractal region pause`).
    pub fn paused(&self) -> bool {
        self.dir.join(state::PAUSED_FILE).exists()
    }

    /// Log positions at or above this are not yet published: never prune them.
    pub fn published_floor(&self) -> u64 {
        self.published_lsn.load(Ordering::SeqCst)
    }

    fn set_published(&self, lsn: u64) {
        self.published_lsn.store(lsn, Ordering::SeqCst);
    }

    /// Records a superseded answer once (durably, before the store changes).
    /// Returns whether it was new.
    pub fn record_conflict(&self, c: &state::Conflict) -> anyhow::Result<bool> {
        let new = self.conflicts.lock().unwrap().record(c)?;
        if new {
            self.metrics.conflicts.with_label_values(&[&c.winner.region]).inc();
            let mut s = self.status.lock().unwrap();
            s.conflicts += 1;
        }
        Ok(new)
    }

    /// Writes `region/status.json` for `fractal region status`.
    pub fn save_status(&self) {
        // Held while writing: the three tasks write this one file.
        let mut s = self.status.lock().unwrap();
        s.paused = self.paused();
        s.written_at_ms = now_ms();
        if let Err(e) = state::write_json(&self.dir.join(state::STATUS_FILE), &*s) {
            tracing::warn!(error = %e, "region: writing status.json failed");
        }
    }
}

/// The background tasks of a region; abort them at shutdown (every step they take
/// can be repeated: cursors move only after what they cover is durable).
pub struct Tasks(Vec<tokio::task::JoinHandle<()>>);

impl Tasks {
    /// Stops the tasks and waits for them.
    pub async fn stop(self) {
        for t in &self.0 {
            t.abort();
        }
        for t in self.0 {
            let _ = t.await;
        }
    }
}

/// Starts publishing, importing and digesting.
pub fn start(
    region: Arc<Region>,
    remote: Remote,
    wal_dir: PathBuf,
    wal: super::wal::Wal,
    store: super::Backend,
    app: Arc<super::http::App<super::Backend>>,
    audit: Option<super::audit::Audit>,
) -> Tasks {
    let p = tokio::spawn(publish::run(region.clone(), remote.clone(), wal_dir, wal.clone()));
    let i = tokio::spawn(import::run(region.clone(), remote.clone(), wal, store.clone(), app, audit));
    let d = tokio::spawn(digest::run(region, remote, store));
    Tasks(vec![p, i, d])
}
