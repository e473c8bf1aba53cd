//! The audit log of SPEC §11: every stored outcome, in the order this server's store
//! decided it, appended to a hash chain whose segments are sealed (Ed25519) and
//! written create-only to an object store. `fractal audit verify` checks them
//! offline. The formats are in [`fractal_core::audit`].
//!
//! ## Path of an entry
//!
//! 1. The submission that stored an outcome (or the replay that restored one)
//!    registers the record's log position (LSN) as *in flight* and sends the entry
//!    to a bounded queue ([`Audit::append`]). A full queue makes the sender wait:
//!    back-pressure, never a dropped entry. The client has its answer by then.
//! 2. The writer thread numbers and chains the entries and appends them to the
//!    *open segment*, a local file `DATA/audit/<index>.log` (one header line, then
//!    `<lsn> <entry bytes>` per line), fsyncs, and only then drops their LSNs
//!    from the in-flight set.
//! 3. At `seal_entries` entries, or `seal_secs` after its first entry, the writer
//!    seals the segment: `<index>.seal.json`, written atomically, and opens the next
//!    one.
//! 4. The uploader writes each sealed segment, in index order, as
//!    `segments/<index>.jsonl` (the entry lines) and then `segments/<index>.seal.json`
//!    to the object store, create-only (`PutMode::Create`). An object already there
//!    with the same bytes (an upload cut short by a crash) counts as written; any
//!    other is never overwritten. A refusing store is retried with a pause; the
//!    segments wait locally. `flk_audit_backlog_entries` counts entries queued or
//!    local and not yet in the object store.
//!
//! ## Crash and resume (no gap, no duplicate)
//!
//! The store's checkpoint watermark never passes an in-flight LSN (see
//! [`Audit::floor`]), so after `kill -9` every outcome whose entry was not yet
//! fsynced belongs to a log record that the next start replays. Local segments are
//! kept until uploaded *and* below the last durable checkpoint, so every entry of a
//! record that may be replayed is still on local disk. At start the writer reads
//! them back (cutting a torn last line, which was never fsynced and so never left
//! the in-flight set), continues the chain from the last entry, and remembers each
//! entry's identity `(tenant, pcs_id, at, record_sha256)`. Replay then appends an
//! entry for a record whose decided outcome is the stored one, unless that
//! identity is already in the chain ([`Audit::replayed`]).

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use fractal_core::audit::GENESIS;
use prometheus::{IntCounter, IntGauge};
use tokio::sync::{Notify, mpsc};

use super::config;
use super::metrics::Metrics;
use super::store::{Outcome, Put};

mod local;
#[cfg(test)]
mod tests;
mod upload;
mod writer;

use local::{Head, Local};
use upload::{Remote, upload_loop};
use writer::Writer;

/// Test hook: while the file this variable names exists, every upload to the
/// object store fails, as a store refusing writes would. For the tests only.
pub const REFUSE_UPLOADS_ENV: &str = "FRACTAL_TEST_AUDIT_REFUSE_FILE";

/// Object name of a segment's entries.
pub fn entries_name(index: u64) -> String {
    format!("segments/{index:020}.jsonl")
}

/// Object name of a segment's seal.
pub fn seal_name(index: u64) -> String {
    format!("segments/{index:020}.seal.json")
}

/// One stored outcome on its way to the chain.
#[derive(Debug, Clone)]
pub struct Item {
    /// The log position of the record that stored it.
    pub lsn: u64,
    /// The tenant.
    pub tenant: String,
    /// The record's pcs_id.
    pub pcs_id: String,
    /// The stored outcome.
    pub outcome: Outcome,
    /// Hex SHA-256 of the record bytes.
    pub record_sha256: String,
    /// Seconds since the Unix epoch when the record was accepted.
    pub at: u64,
}

impl Item {
    fn identity(&self) -> String {
        identity(&self.tenant, &self.pcs_id, self.at, &self.record_sha256)
    }
}

fn identity(tenant: &str, pcs_id: &str, at: u64, record_sha256: &str) -> String {
    format!("{tenant}\0{pcs_id}\0{at}\0{record_sha256}")
}

enum Msg {
    Item(Item),
    Stop,
}

struct AuditMetrics {
    backlog: IntGauge,
    appended: IntCounter,
    sealed: IntCounter,
    uploaded: IntCounter,
    upload_errors: IntCounter,
    last_seq: IntGauge,
}

impl AuditMetrics {
    fn new(m: &Metrics) -> AuditMetrics {
        let gauge = |n: &str, h: &str| {
            let g = IntGauge::new(n, h).unwrap();
            m.register(Box::new(g.clone()));
            g
        };
        let counter = |n: &str, h: &str| {
            let c = IntCounter::new(n, h).unwrap();
            m.register(Box::new(c.clone()));
            c
        };
        AuditMetrics {
            backlog: gauge(
                "flk_audit_backlog_entries",
                "Stored outcomes whose audit entries are not yet in the object store (queued, or in local segments).",
            ),
            appended: counter(
                "flk_audit_appended_entries_total",
                "Entries appended (fsynced) to the local audit chain.",
            ),
            sealed: counter("flk_audit_sealed_segments_total", "Audit segments sealed."),
            uploaded: counter(
                "flk_audit_uploaded_segments_total",
                "Sealed audit segments written to the object store.",
            ),
            upload_errors: counter(
                "flk_audit_upload_errors_total",
                "Failed writes of audit segments to the object store (retried).",
            ),
            last_seq: gauge("flk_audit_last_seq", "Seq of the last entry appended to the audit chain (-1: none)."),
        }
    }
}

struct Shared {
    /// LSN → entries in flight (queued or written but not fsynced).
    inflight: Mutex<BTreeMap<u64, u32>>,
    /// Identities of the entries in local segments at start (replay dedup).
    seen: Mutex<HashSet<String>>,
    /// The last durable store checkpoint's watermark (local segments below it can go).
    durable: AtomicU64,
    metrics: AuditMetrics,
    notify: Notify,
    stop: Notify,
    region: String,
}

/// The handle every submission and the replay use.
#[derive(Clone)]
pub struct Audit {
    tx: mpsc::Sender<Msg>,
    shared: Arc<Shared>,
}

/// The writer thread and the uploader task; [`AuditTasks::stop`] them at shutdown.
pub struct AuditTasks {
    writer: std::thread::JoinHandle<()>,
    uploader: tokio::task::JoinHandle<()>,
}

impl Audit {
    /// Opens the local segments (resuming the chain), starts the writer thread and
    /// the uploader.
    pub async fn start(cfg: &config::Audit, data_dir: &Path, metrics: &Metrics) -> anyhow::Result<(Audit, AuditTasks)> {
        let dir = data_dir.join("audit");
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let (store, prefix) = super::shared::open_object_store(&cfg.url, "audit.url").map_err(anyhow::Error::msg)?;
        let remote = Remote { store, prefix };
        let metrics = AuditMetrics::new(metrics);
        let local = {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || Local::recover(&dir)).await??
        };
        let open = match local.head {
            Some(h) => h,
            // Nothing local: continue after the last seal in the object store.
            None => match remote.last_seal().await.context("audit: reading the last seal from the object store")? {
                Some(s) => Head { index: s.segment + 1, next_seq: s.last_seq + 1, prev: s.last_hash },
                None => Head { index: 0, next_seq: 0, prev: GENESIS.to_string() },
            },
        };
        metrics.backlog.set(local.backlog as i64);
        metrics.last_seq.set(open.next_seq as i64 - 1);
        let shared = Arc::new(Shared {
            inflight: Mutex::default(),
            seen: Mutex::new(local.identities),
            durable: AtomicU64::new(0),
            metrics,
            notify: Notify::new(),
            stop: Notify::new(),
            region: cfg.region.clone(),
        });
        let (tx, rx) = mpsc::channel(cfg.queue);
        let writer = Writer::open(&dir, open, local.open_count, cfg, shared.clone())?;
        let writer = std::thread::Builder::new().name("audit-writer".into()).spawn(move || writer.run(rx))?;
        let uploader = tokio::spawn(upload_loop(dir, remote, shared.clone()));
        tracing::info!(url = %super::http::loggable(&cfg.url), region = %cfg.region, "audit log on");
        Ok((Audit { tx, shared }, AuditTasks { writer, uploader }))
    }

    /// Queues the entry of a stored outcome; waits while the queue is full. The
    /// record's LSN stays in flight (the checkpoint floor) until the entry is fsynced.
    pub async fn append(&self, item: Item) {
        *self.shared.inflight.lock().unwrap().entry(item.lsn).or_insert(0) += 1;
        self.shared.metrics.backlog.inc();
        if self.tx.send(Msg::Item(item)).await.is_err() {
            // Only after shutdown began: the LSN stays in flight, so the final
            // checkpoint stays below it and the next start replays the record.
            tracing::warn!("audit writer stopped; the entry is restored from the log at the next start");
        }
    }

    /// After replay stored (or found) `outcome` for a log record: appends the entry
    /// unless the stored outcome is another record's or the chain already has it.
    #[allow(clippy::too_many_arguments)]
    pub async fn replayed(
        &self,
        lsn: u64,
        tenant: &str,
        pcs_id: &str,
        decided: &Outcome,
        put: &Put,
        record_sha256: &str,
        at: u64,
    ) {
        let stored = match put {
            Put::Inserted(_) => true,
            Put::Existing(o) => o == decided,
        };
        if !stored {
            return;
        }
        let item = Item {
            lsn,
            tenant: tenant.to_string(),
            pcs_id: pcs_id.to_string(),
            outcome: decided.clone(),
            record_sha256: record_sha256.to_string(),
            at,
        };
        if !self.shared.seen.lock().unwrap().insert(item.identity()) {
            return;
        }
        self.append(item).await;
    }

    /// The lowest LSN whose entry is not yet fsynced (`u64::MAX`: none). Store
    /// checkpoints stay below it.
    pub fn floor(&self) -> u64 {
        self.shared.inflight.lock().unwrap().keys().next().copied().unwrap_or(u64::MAX)
    }

    /// A durable store checkpoint at `watermark` happened: local segments wholly
    /// below it and uploaded are no longer needed for replay.
    pub fn checkpointed(&self, watermark: u64) {
        self.shared.durable.fetch_max(watermark, Ordering::SeqCst);
        self.shared.notify.notify_one();
    }

    /// The `region` of the entries.
    pub fn region(&self) -> &str {
        &self.shared.region
    }
}

impl AuditTasks {
    /// Stops the writer after what is queued (fsynced, and the open segment sealed)
    /// and gives the uploader `grace` to write what is sealed; what it cannot write
    /// stays local for the next start.
    pub async fn stop(self, audit: Audit, grace: Duration) {
        let _ = audit.tx.send(Msg::Stop).await;
        let shared = audit.shared.clone();
        drop(audit);
        let writer = self.writer;
        let _ = tokio::task::spawn_blocking(move || writer.join()).await;
        shared.notify.notify_one();
        let until = Instant::now() + grace;
        while shared.metrics.backlog.get() > 0 && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        shared.stop.notify_one();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.uploader).await;
    }
}
