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
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use fractal_core::audit::{Entry, GENESIS, Seal, entry_hash};
use fractal_core::{Ed25519Keypair, hex};
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt as _, PutMode, PutOptions, PutPayload};
use prometheus::{IntCounter, IntGauge};
use tokio::sync::{Notify, mpsc};

use super::config;
use super::metrics::Metrics;
use super::store::{Outcome, Put};

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

/// Where the chain continues.
#[derive(Debug, Clone)]
struct Head {
    index: u64,
    next_seq: u64,
    prev: String,
}

/// The local segments read back at start.
struct Local {
    /// The open segment's position; `None` when there are no local files.
    head: Option<Head>,
    /// Entries in the open segment.
    open_count: u64,
    identities: HashSet<String>,
    /// Entries not yet uploaded.
    backlog: u64,
}

fn log_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{index:020}.log"))
}

fn seal_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{index:020}.seal.json"))
}

fn uploaded_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{index:020}.uploaded"))
}

/// The indices of the local segment logs, ascending.
fn local_indices(dir: &Path) -> io::Result<Vec<u64>> {
    let mut v = Vec::new();
    for e in fs::read_dir(dir)? {
        let name = e?.file_name();
        let name = name.to_string_lossy();
        if let Some(n) = name.strip_suffix(".log")
            && let Ok(i) = n.parse::<u64>()
        {
            v.push(i);
        }
    }
    v.sort_unstable();
    Ok(v)
}

/// The header line of a local segment file.
#[derive(serde::Serialize, serde::Deserialize)]
struct Header {
    segment: u64,
    first_seq: u64,
    prev: String,
}

/// A local segment file: header, then `(lsn, entry bytes)` lines. `torn` is the
/// byte length of the intact part when the last line is incomplete.
struct LocalSegment {
    header: Header,
    lines: Vec<(u64, Vec<u8>)>,
    intact_len: Option<u64>,
}

fn read_local(path: &Path) -> anyhow::Result<LocalSegment> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    let mut parts = bytes.split_inclusive(|b| *b == b'\n');
    let head = parts.next().filter(|h| h.ends_with(b"\n") && h.starts_with(b"#"));
    let Some(head) = head else { bail!("{}: no header line", path.display()) };
    let header: Header = serde_json::from_slice(&head[1..head.len() - 1])
        .with_context(|| format!("{}: bad header line", path.display()))?;
    let mut at = head.len();
    let mut lines = Vec::new();
    let mut intact_len = None;
    for p in parts {
        let parsed = p.strip_suffix(b"\n").and_then(|l| {
            let sp = l.iter().position(|b| *b == b' ')?;
            let lsn = std::str::from_utf8(&l[..sp]).ok()?.parse::<u64>().ok()?;
            fractal_core::audit::parse_entry(&l[sp + 1..]).ok()?;
            Some((lsn, l[sp + 1..].to_vec()))
        });
        match parsed {
            Some(x) => lines.push(x),
            None => {
                // Only a last line can be torn (never fsynced, so never out of flight).
                intact_len = Some(at as u64);
                break;
            }
        }
        at += p.len();
    }
    if let Some(len) = intact_len
        && (len as usize) + bytes[len as usize..].split_inclusive(|b| *b == b'\n').next().map_or(0, |l| l.len())
            < bytes.len()
    {
        bail!("{}: damaged line at byte {len} before the end", path.display());
    }
    Ok(LocalSegment { header, lines, intact_len })
}

impl Local {
    fn recover(dir: &Path) -> anyhow::Result<Local> {
        let indices = local_indices(dir)?;
        let mut out = Local { head: None, open_count: 0, identities: HashSet::new(), backlog: 0 };
        let last = indices.last().copied();
        for &i in &indices {
            let path = log_path(dir, i);
            let seg = read_local(&path)?;
            if seg.header.segment != i {
                bail!("{}: header names segment {}", path.display(), seg.header.segment);
            }
            let sealed = seal_path(dir, i).exists();
            if let Some(len) = seg.intact_len {
                if sealed {
                    bail!("{}: sealed, but its last line is damaged", path.display());
                }
                tracing::warn!(segment = i, bytes = len, "audit: torn last line of the open segment cut");
                let f = OpenOptions::new().write(true).open(&path)?;
                f.set_len(len)?;
                f.sync_all()?;
            }
            if !sealed && Some(i) != last {
                bail!("{}: not sealed, but a later segment exists", path.display());
            }
            // Check the chain through the local segments.
            let mut seq = seg.header.first_seq;
            let mut prev = seg.header.prev.clone();
            if let Some(h) = &out.head
                && (h.index != i || h.next_seq != seq || h.prev != prev)
            {
                bail!("{}: does not continue the segment before it", path.display());
            }
            for (_, bytes) in &seg.lines {
                let e = fractal_core::audit::parse_entry(bytes).map_err(anyhow::Error::msg)?;
                if e.seq != seq || e.prev != prev {
                    bail!("{}: entry {seq} does not continue the chain", path.display());
                }
                out.identities.insert(identity(&e.tenant, &e.pcs_id, e.at, &e.record_sha256));
                prev = hex(&entry_hash(bytes));
                seq += 1;
            }
            let n = seg.lines.len() as u64;
            if !uploaded_path(dir, i).exists() {
                out.backlog += n;
            }
            if sealed {
                out.head = Some(Head { index: i + 1, next_seq: seq, prev });
                out.open_count = 0;
            } else {
                out.head = Some(Head { index: i, next_seq: seq, prev });
                out.open_count = n;
            }
        }
        Ok(out)
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates a file with `bytes` atomically (temp file, fsync, rename, fsync dir).
fn write_atomic(dir: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    sync_dir(dir)
}

/// The writer thread's state: the open segment.
struct Writer {
    dir: PathBuf,
    key: Ed25519Keypair,
    seal_entries: u64,
    seal_every: Duration,
    shared: Arc<Shared>,
    head: Head,
    first_seq: u64,
    count: u64,
    /// When the open segment got its first entry (this run).
    opened: Option<Instant>,
    file: File,
}

/// Most entries taken off the queue per fsync.
const BATCH: usize = 4096;

impl Writer {
    fn open(dir: &Path, head: Head, count: u64, cfg: &config::Audit, shared: Arc<Shared>) -> anyhow::Result<Writer> {
        let first_seq = head.next_seq - count;
        let file = open_segment(dir, &head, first_seq, count)?;
        Ok(Writer {
            dir: dir.to_path_buf(),
            key: cfg.key.0.clone(),
            seal_entries: cfg.seal_entries,
            seal_every: Duration::from_secs(cfg.seal_secs),
            shared,
            first_seq,
            count,
            opened: (count > 0).then(Instant::now),
            head,
            file,
        })
    }

    fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("a timer runtime");
        let mut batch: Vec<Item> = Vec::with_capacity(BATCH);
        let mut stopping = false;
        while !stopping {
            let first = match self.opened {
                Some(t) => match rt
                    .block_on(async { tokio::time::timeout_at((t + self.seal_every).into(), rx.recv()).await })
                {
                    Ok(m) => m,
                    Err(_) => {
                        self.retry(|w| w.seal());
                        continue;
                    }
                },
                None => rt.block_on(rx.recv()),
            };
            match first {
                None | Some(Msg::Stop) => break,
                Some(Msg::Item(it)) => batch.push(it),
            }
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(Msg::Item(it)) => batch.push(it),
                    Ok(Msg::Stop) => {
                        stopping = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            let items = std::mem::take(&mut batch);
            let mut done = 0;
            self.retry(|w| w.write(&items, &mut done));
            let mut inflight = self.shared.inflight.lock().unwrap();
            for it in &items {
                if let std::collections::btree_map::Entry::Occupied(mut e) = inflight.entry(it.lsn) {
                    *e.get_mut() -= 1;
                    if *e.get() == 0 {
                        e.remove();
                    }
                }
            }
        }
        // A clean stop seals what is open, so the uploader can take it now; if that
        // fails the open segment simply stays open for the next start.
        if let Err(e) = self.seal() {
            tracing::warn!(error = %e, "audit: sealing the open segment at shutdown failed; it stays open");
        }
        tracing::info!(next_seq = self.head.next_seq, "audit writer stopped");
    }

    /// Runs `f` until it succeeds (a full or failing disk pauses the chain; the
    /// queue backs up and submissions wait, nothing is dropped).
    fn retry<T>(&mut self, mut f: impl FnMut(&mut Writer) -> io::Result<T>) -> T {
        let mut pause = Duration::from_millis(50);
        let mut failures = 0u64;
        loop {
            match f(self) {
                Ok(v) => return v,
                Err(e) => {
                    failures += 1;
                    if failures.is_power_of_two() {
                        tracing::error!(error = %e, failures, "audit: writing the local segment failed; retrying");
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// Appends and fsyncs `items[*done..]`, sealing at `seal_entries`; `done`
    /// counts the items already fsynced. After a failure the file is cut back to its
    /// last fsynced line, so a retry writes each entry once.
    fn write(&mut self, items: &[Item], done: &mut usize) -> io::Result<()> {
        let mut saved = (self.head.clone(), self.count, self.first_seq);
        let res = self.write_inner(items, done, &mut saved);
        if res.is_err() {
            let (head, count, first_seq) = saved;
            if self.head.index == head.index {
                let len = line_offset(&log_path(&self.dir, head.index), count)?;
                self.file.set_len(len)?;
            }
            self.head = head;
            self.count = count;
            self.first_seq = first_seq;
        }
        res
    }

    fn write_inner(&mut self, items: &[Item], done: &mut usize, saved: &mut (Head, u64, u64)) -> io::Result<()> {
        let mut buf = Vec::with_capacity(items.len() * 512);
        let start = *done;
        for (i, it) in items.iter().enumerate().skip(start) {
            let result: serde_json::Value = serde_json::from_slice(&it.outcome.body).map_err(io::Error::other)?;
            let e = Entry {
                seq: self.head.next_seq,
                prev: self.head.prev.clone(),
                tenant: it.tenant.clone(),
                pcs_id: it.pcs_id.clone(),
                status: it.outcome.status,
                result,
                record_sha256: it.record_sha256.clone(),
                region: self.shared.region.clone(),
                at: it.at,
            };
            let bytes = e.to_bytes().map_err(io::Error::other)?;
            buf.extend_from_slice(it.lsn.to_string().as_bytes());
            buf.push(b' ');
            buf.extend_from_slice(&bytes);
            buf.push(b'\n');
            self.head.prev = hex(&entry_hash(&bytes));
            self.head.next_seq += 1;
            self.count += 1;
            self.opened.get_or_insert_with(Instant::now);
            if self.count >= self.seal_entries {
                self.file.write_all(&buf)?;
                buf.clear();
                self.file.sync_data()?;
                *done = i + 1;
                *saved = (self.head.clone(), self.count, self.first_seq);
                self.seal()?;
                *saved = (self.head.clone(), self.count, self.first_seq);
            }
        }
        if !buf.is_empty() {
            self.file.write_all(&buf)?;
            self.file.sync_data()?;
        }
        *done = items.len();
        self.shared.metrics.appended.inc_by((items.len() - start) as u64);
        self.shared.metrics.last_seq.set(self.head.next_seq as i64 - 1);
        Ok(())
    }

    /// Seals the open segment (if it has entries) and opens the next.
    fn seal(&mut self) -> io::Result<()> {
        if self.count == 0 {
            self.opened = None;
            return Ok(());
        }
        let seal = Seal::sign(&self.key, self.head.index, self.first_seq, self.head.next_seq - 1, &self.head.prev);
        write_atomic(&self.dir, &seal_path(&self.dir, self.head.index), &seal.to_bytes())?;
        self.shared.metrics.sealed.inc();
        let next = Head { index: self.head.index + 1, next_seq: self.head.next_seq, prev: self.head.prev.clone() };
        self.file = open_segment(&self.dir, &next, next.next_seq, 0)?;
        self.head = next;
        self.first_seq = self.head.next_seq;
        self.count = 0;
        self.opened = None;
        self.shared.notify.notify_one();
        Ok(())
    }
}

/// Opens (creating with its header when new) the open segment's local file.
fn open_segment(dir: &Path, head: &Head, first_seq: u64, count: u64) -> io::Result<File> {
    let path = log_path(dir, head.index);
    if count > 0 || path.exists() {
        return OpenOptions::new().append(true).open(&path);
    }
    let header = Header { segment: head.index, first_seq, prev: head.prev.clone() };
    let mut line = b"#".to_vec();
    line.extend_from_slice(&serde_json::to_vec(&header).map_err(io::Error::other)?);
    line.push(b'\n');
    write_atomic(dir, &path, &line)?;
    OpenOptions::new().append(true).open(&path)
}

/// Byte offset just after the header and `n` entry lines of a local segment.
fn line_offset(path: &Path, n: u64) -> io::Result<u64> {
    let bytes = fs::read(path)?;
    let mut at = 0u64;
    for (i, l) in bytes.split_inclusive(|b| *b == b'\n').enumerate() {
        if i as u64 == n + 1 {
            break;
        }
        at += l.len() as u64;
    }
    Ok(at)
}

/// The object store of the sealed segments.
struct Remote {
    store: Arc<dyn ObjectStore>,
    prefix: String,
}

/// How long one object-store call may take.
const REMOTE_TIMEOUT: Duration = Duration::from_secs(30);

impl Remote {
    fn path(&self, name: &str) -> ObjPath {
        if self.prefix.is_empty() { ObjPath::from(name) } else { ObjPath::from(format!("{}/{name}", self.prefix)) }
    }

    /// The seal of the highest segment, if any.
    async fn last_seal(&self) -> anyhow::Result<Option<Seal>> {
        use futures_util::TryStreamExt as _;
        let prefix = self.path("segments");
        let list = self.store.list(Some(&prefix)).try_collect::<Vec<_>>();
        let metas = tokio::time::timeout(REMOTE_TIMEOUT, list).await.context("timed out")??;
        let best =
            metas.iter().filter_map(|m| m.location.filename()?.strip_suffix(".seal.json")?.parse::<u64>().ok()).max();
        let Some(i) = best else { return Ok(None) };
        let get = async { self.store.get(&self.path(&seal_name(i))).await?.bytes().await };
        let bytes = tokio::time::timeout(REMOTE_TIMEOUT, get).await.context("timed out")??;
        Ok(Some(Seal::parse(&bytes).map_err(anyhow::Error::msg)?))
    }

    /// Writes `bytes` at `name` create-only; an identical object already there is fine.
    async fn put_once(&self, name: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
        if let Ok(p) = std::env::var(REFUSE_UPLOADS_ENV)
            && Path::new(&p).exists()
        {
            bail!("injected refusal ({REFUSE_UPLOADS_ENV})");
        }
        let path = self.path(name);
        let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
        let put = self.store.put_opts(&path, PutPayload::from(bytes.clone()), opts);
        match tokio::time::timeout(REMOTE_TIMEOUT, put).await.context("timed out")? {
            Ok(_) => Ok(()),
            Err(object_store::Error::AlreadyExists { .. }) => {
                let get = async { self.store.get(&path).await?.bytes().await };
                let there = tokio::time::timeout(REMOTE_TIMEOUT, get).await.context("timed out")??;
                if there.as_ref() == bytes.as_slice() {
                    Ok(())
                } else {
                    bail!("{name} already exists with other content; it is never overwritten")
                }
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The entry lines of a local segment, as uploaded, and their count and largest LSN.
fn upload_bytes(dir: &Path, index: u64) -> anyhow::Result<(Vec<u8>, u64, u64)> {
    let seg = read_local(&log_path(dir, index))?;
    let mut out = Vec::new();
    let mut max_lsn = 0;
    for (lsn, l) in &seg.lines {
        out.extend_from_slice(l);
        out.push(b'\n');
        max_lsn = max_lsn.max(*lsn);
    }
    Ok((out, seg.lines.len() as u64, max_lsn))
}

/// One pass: uploads the sealed, not yet uploaded segments in index order (stops at
/// the first failure), then removes local segments no longer needed.
async fn upload_pass(dir: &Path, remote: &Remote, shared: &Shared) -> anyhow::Result<()> {
    let indices = {
        let dir = dir.to_path_buf();
        tokio::task::spawn_blocking(move || local_indices(&dir)).await??
    };
    let durable = shared.durable.load(Ordering::SeqCst);
    let mut pruning = true;
    for i in indices {
        if !seal_path(dir, i).exists() {
            break; // the open segment
        }
        let marker = uploaded_path(dir, i);
        let (entries, n, max_lsn) = {
            let dir = dir.to_path_buf();
            tokio::task::spawn_blocking(move || upload_bytes(&dir, i)).await??
        };
        if !marker.exists() {
            let seal = fs::read(seal_path(dir, i))?;
            remote.put_once(&entries_name(i), entries).await?;
            remote.put_once(&seal_name(i), seal).await?;
            File::create(&marker)?;
            shared.metrics.backlog.sub(n as i64);
            shared.metrics.uploaded.inc();
        }
        // Uploaded and below the last durable checkpoint: no replay needs it. Only
        // a prefix goes (entries restored by a replay carry older LSNs than the
        // segments before them), so the local segments stay consecutive.
        if pruning && max_lsn < durable {
            for p in [seal_path(dir, i), marker, log_path(dir, i)] {
                let _ = fs::remove_file(p);
            }
        } else {
            pruning = false;
        }
    }
    Ok(())
}

async fn upload_loop(dir: PathBuf, remote: Remote, shared: Arc<Shared>) {
    let mut pause = Duration::from_millis(100);
    let mut failures = 0u64;
    loop {
        match upload_pass(&dir, &remote, &shared).await {
            Ok(()) => {
                if failures > 0 {
                    tracing::warn!(failures, "audit: object store writes recovered");
                }
                failures = 0;
                pause = Duration::from_millis(100);
                tokio::select! {
                    _ = shared.notify.notified() => {}
                    _ = shared.stop.notified() => return,
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
            }
            Err(e) => {
                failures += 1;
                shared.metrics.upload_errors.inc();
                if failures.is_power_of_two() {
                    tracing::error!(error = %e, failures, "audit: writing a sealed segment to the object store failed; retrying");
                }
                tokio::select! {
                    _ = shared.stop.notified() => return,
                    _ = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(Duration::from_secs(2));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> Arc<Shared> {
        Arc::new(Shared {
            inflight: Mutex::default(),
            seen: Mutex::default(),
            durable: AtomicU64::new(0),
            metrics: AuditMetrics::new(&Metrics::new()),
            notify: Notify::new(),
            stop: Notify::new(),
            region: "r".into(),
        })
    }

    fn cfg(seal_entries: u64) -> config::Audit {
        config::Audit {
            key: config::Secret(Ed25519Keypair::from_seed(&[3; 32])),
            url: "file:///unused".into(),
            region: "r".into(),
            seal_entries,
            seal_secs: 3600,
            queue: 16,
        }
    }

    fn item(lsn: u64) -> Item {
        Item {
            lsn,
            tenant: "t".into(),
            pcs_id: format!("p{lsn}"),
            outcome: Outcome { status: 200, body: br#"{"accepted":true,"escalated":false}"#.to_vec(), expires_at: 9, stamp: None },
            record_sha256: "00".repeat(32),
            at: 1,
        }
    }

    fn writer(dir: &Path, seal_entries: u64) -> Writer {
        let local = Local::recover(dir).unwrap();
        let head = local.head.unwrap_or(Head { index: 0, next_seq: 0, prev: GENESIS.to_string() });
        Writer::open(dir, head, local.open_count, &cfg(seal_entries), shared()).unwrap()
    }

    #[test]
    fn a_torn_last_line_is_cut_and_the_chain_continues() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = writer(dir.path(), 3);
        let items: Vec<Item> = (0..5).map(item).collect();
        let mut done = 0;
        w.write(&items, &mut done).unwrap();
        assert_eq!((w.head.index, w.head.next_seq), (1, 5), "sealed at 3, two entries open");
        drop(w);
        // A write that a crash cut short.
        let open = log_path(dir.path(), 1);
        let mut f = OpenOptions::new().append(true).open(&open).unwrap();
        f.write_all(b"17 {\"at\":1,\"pcs_id\":\"half").unwrap();
        drop(f);
        let local = Local::recover(dir.path()).unwrap();
        let head = local.head.unwrap();
        assert_eq!((head.index, head.next_seq, local.open_count, local.backlog), (1, 5, 2, 5));
        assert_eq!(local.identities.len(), 5);
        assert!(!fs::read_to_string(&open).unwrap().contains("half"), "the torn line is cut");
        // The next entry continues the chain: seq 5, prev = h[4].
        let mut w = writer(dir.path(), 3);
        let mut done = 0;
        w.write(&[item(99)], &mut done).unwrap();
        let seal = Seal::parse(&fs::read(seal_path(dir.path(), 1)).unwrap()).unwrap();
        assert_eq!((seal.first_seq, seal.last_seq), (3, 5));
        let mut segs = Vec::new();
        for i in 0..2 {
            let (entries, _, _) = upload_bytes(dir.path(), i).unwrap();
            segs.push(fractal_core::audit::Segment {
                index: i,
                entries: Some(entries),
                seal: Some(fs::read(seal_path(dir.path(), i)).unwrap()),
            });
        }
        let v = fractal_core::audit::verify_chain(&segs, &cfg(1).key.0.public_bytes(), None).unwrap();
        assert_eq!((v.entries, v.last_seq), (6, Some(5)));
    }

    #[test]
    fn damage_before_the_last_line_or_a_hole_refuses_to_start() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = writer(dir.path(), 2);
        let mut done = 0;
        w.write(&(0..7).map(item).collect::<Vec<_>>(), &mut done).unwrap();
        drop(w);
        // A hole: segment 1 gone while 0 and 2 remain.
        for p in [log_path(dir.path(), 1), seal_path(dir.path(), 1)] {
            fs::rename(&p, p.with_extension("moved")).unwrap();
        }
        let e = Local::recover(dir.path()).err().unwrap().to_string();
        assert!(e.contains("does not continue"), "{e}");
        for p in [log_path(dir.path(), 1), seal_path(dir.path(), 1)] {
            fs::rename(p.with_extension("moved"), &p).unwrap();
        }
        Local::recover(dir.path()).unwrap();
        // A damaged line that is not the last.
        let p = log_path(dir.path(), 3);
        let text = fs::read_to_string(&p).unwrap();
        fs::write(&p, text.replacen("\"tenant\"", "\"tenan", 1) + "1 x\n").unwrap();
        let e = Local::recover(dir.path()).err().unwrap().to_string();
        assert!(e.contains("damaged line"), "{e}");
    }
}
