//! The inbox write-ahead log: every accepted request body is on disk (fsync) before
//! the server answers.
//!
//! * **Files.** Segments `wal-<id>.log` (zero-padded, increasing) in one directory.
//!   A segment is rotated once it grows past the configured size; closed segments
//!   whose records all lie below the store's checkpoint and that are older than the
//!   retention age are deleted ([`prune`]).
//! * **Frame.** `[len: u32 LE][crc: u32 LE][payload: len bytes]`, where `crc` is the
//!   CRC-32 of the four length bytes followed by the payload, so a corrupted length is
//!   caught too. Two payload versions exist:
//!   - v2 (written now): `[0x00][0x02][batch_start: u64][accepted_at: u64]
//!     [expires_at: u64][status: u16][tenant_len: u8][tenant][pcs_id_len: u16][pcs_id]
//!     [outcome_len: u32][outcome: VerifyResult JSON][request body]`, all LE. It carries
//!     what was *decided* (status, exact answer bytes, expiry), so a replay restores
//!     the outcome without judging again, whatever the configuration is at restart.
//!     `batch_start` is the offset of the first frame of the group commit that wrote
//!     this frame: it tells a torn final batch from damage in the middle. A repeat
//!     answered from the store has `expires_at` 0 ([`Decided::repeat`]): a replay
//!     restores nothing from it.
//!   - v3 (regions on, SPEC §10): v2 with `[hlc: u64][region_len: u8][region]` between
//!     the outcome and the request body: the stamp of the region that accepted the
//!     record. Written only with `[region]` configured (without it frames stay v2),
//!     for local records and for records imported from a peer region's log.
//!   - v1 (before): `[tenant_len: u8][tenant][request body]`. A tenant id is never
//!     empty, so a leading 0x00 marks v2. v1 frames are still read (upgrade) and
//!     replayed the old way (parse, signature, verify under the current configuration).
//! * **Positions.** A record's LSN is `(segment id << 40) | byte offset`: ordered,
//!   stable across restarts, and it says where to resume a replay.
//! * **Group commit.** One writer thread drains a channel: it concatenates every
//!   pending frame, writes them with one `write` and makes them durable with one
//!   `fdatasync`, then wakes all the waiting requests. Concurrent requests share the
//!   cost of one fsync.
//! * **Preallocation.** The writer allocates the segment ahead of its appends, by
//!   writing zeros [`PREALLOCATE`] bytes at a time (in the same `fdatasync` as the
//!   batch that needs them). An append then overwrites allocated blocks, and its
//!   `fdatasync` writes data only: a file that grows makes every `fdatasync` also
//!   write its metadata for the new size (the inode here, on ext4 without a journal;
//!   a journal commit where there is one), which took ~35% more CPU and ~80% more
//!   time per sync here. A closed segment is cut to its records, and so is
//!   the last one at a clean stop; after a kill, recovery cuts the zeros (a frame
//!   never starts with a zero length).
//! * **Recovery.** Only the last write can be torn. Damage at offset `p` of the last
//!   segment is a torn tail when no intact frame after `p` belongs to a later group
//!   commit (every intact v2 frame after it has `batch_start <= p`: it is part of the
//!   same unacknowledged batch); the tail is truncated at `p`. Anything else — intact
//!   frames of a later batch after the damage, an intact v1 frame after it, damage in
//!   a segment that is not the last — is an error at start naming the segment and
//!   offset: the log is never silently skipped in the middle (`fractal wal inspect`
//!   shows it, `fractal wal repair` cuts it deliberately).

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, oneshot};

mod frame;
mod recovery;
pub use frame::{frame, frame_v1};
use frame::{Decoded, decode_payload, set_batch_start};
use recovery::sync_dir;
pub use recovery::*;

/// Bytes of a frame header: length and checksum.
pub const HEADER: usize = 8;
/// Bits of an LSN that hold the byte offset inside a segment.
const OFFSET_BITS: u32 = 40;
/// The writer allocates a segment ahead of its appends this many bytes at a time.
/// Writing and syncing 1 MiB of zeros took ~1 ms here (4 MiB took ~18 ms): the batch
/// that pays for it waits about that much longer, once per ~2,500 records.
pub const PREALLOCATE: u64 = 1 << 20;
/// No record is larger than this (a bigger length is corruption).
pub const MAX_RECORD: usize = 64 << 20;

/// The LSN of a byte offset in a segment.
pub fn lsn(segment: u64, offset: u64) -> u64 {
    (segment << OFFSET_BITS) | offset
}

/// The segment id and byte offset of an LSN.
pub fn split_lsn(lsn: u64) -> (u64, u64) {
    (lsn >> OFFSET_BITS, lsn & ((1 << OFFSET_BITS) - 1))
}

fn segment_name(id: u64) -> String {
    format!("wal-{id:012}.log")
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(segment_name(id))
}

/// The segment ids present in `dir`, ascending.
pub fn list_segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut ids = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(id) = name.strip_prefix("wal-").and_then(|s| s.strip_suffix(".log"))
            && let Ok(id) = id.parse::<u64>()
        {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

/// What was decided for a logged record: replay stores exactly this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    /// The record's pcs_id (the dedup key, with the tenant).
    pub pcs_id: String,
    /// 200 or 202.
    pub status: u16,
    /// The VerifyResult JSON answered, byte for byte.
    pub outcome: Vec<u8>,
    /// When the server accepted the record (seconds since the Unix epoch).
    pub accepted_at: u64,
    /// When the outcome expires: `accepted_at` + the dedup TTL in force; 0 for a
    /// repeat answered from the store, which stores nothing.
    pub expires_at: u64,
    /// With regions on: the hybrid logical clock value and the region that accepted
    /// the record (v3 frames). `None` in v1/v2 frames.
    pub origin: Option<Origin>,
}

/// The region stamp of a logged record (SPEC §10), without the record hash (the
/// frame holds the record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Hybrid logical clock value at acceptance.
    pub hlc: u64,
    /// The accepting region's id (1-64 bytes).
    pub region: String,
}

/// Settings of the log writer.
#[derive(Debug, Clone)]
pub struct WalOptions {
    /// The directory of the segments.
    pub dir: PathBuf,
    /// Rotate a segment once it is at least this long.
    pub segment_bytes: u64,
    /// Most bytes written by one group commit.
    pub max_batch_bytes: usize,
    /// Room in the queue in front of the writer (back-pressure beyond it).
    pub queue: usize,
}

impl WalOptions {
    /// `[wal] segment_bytes` when unset.
    pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;
    /// `[wal] max_batch_bytes` when unset.
    pub const DEFAULT_MAX_BATCH_BYTES: usize = 1 << 20;
    /// The queue `fractal serve` puts in front of its writer.
    pub const QUEUE: usize = 16_384;

    /// The options `fractal serve` starts its log in `dir` with, when `[wal]` sets
    /// nothing.
    pub fn defaults(dir: PathBuf) -> WalOptions {
        WalOptions {
            dir,
            segment_bytes: Self::DEFAULT_SEGMENT_BYTES,
            max_batch_bytes: Self::DEFAULT_MAX_BATCH_BYTES,
            queue: Self::QUEUE,
        }
    }
}

/// Called by the writer after each group commit with its fsync time and size.
pub type CommitObserver = Arc<dyn Fn(Duration, usize) + Send + Sync>;

struct Append {
    frame: Vec<u8>,
    done: oneshot::Sender<io::Result<u64>>,
}

/// The LSNs that are logged but whose requests have not finished, and the end of
/// the log: together they give the checkpoint watermark.
#[derive(Default)]
struct Pending {
    open: BTreeSet<u64>,
    end: u64,
}

/// Handle to the log writer. Cheap to clone.
#[derive(Clone)]
pub struct Wal {
    tx: mpsc::Sender<Append>,
    pending: Arc<Mutex<Pending>>,
    healthy: Arc<std::sync::atomic::AtomicBool>,
}

/// The writer thread; join it after dropping every [`Wal`] handle to flush the log.
pub struct WalWriter(std::thread::JoinHandle<()>);

impl WalWriter {
    /// Waits until every queued record is written and synced.
    pub fn join(self) {
        let _ = self.0.join();
    }
}

/// A logged request that has not finished yet. Dropping it marks the request done;
/// [`Ticket::keep`] leaves it open so the next start replays it.
pub struct Ticket {
    lsn: u64,
    pending: Option<Arc<Mutex<Pending>>>,
}

impl Ticket {
    /// The record's LSN.
    pub fn lsn(&self) -> u64 {
        self.lsn
    }

    /// The request could not finish (its outcome is not stored): keep the record
    /// below the checkpoint watermark so that a restart replays it.
    pub fn keep(mut self) {
        self.pending = None;
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(p) = self.pending.take() {
            p.lock().unwrap().open.remove(&self.lsn);
        }
    }
}

impl Wal {
    /// Starts the writer thread, appending at `at` (from [`recover`]).
    pub fn start(opts: WalOptions, at: Recovered, observe: CommitObserver) -> io::Result<(Wal, WalWriter)> {
        fs::create_dir_all(&opts.dir)?;
        let path = segment_path(&opts.dir, at.segment);
        let mut file = OpenOptions::new().create(true).write(true).truncate(false).open(&path)?;
        file.seek(SeekFrom::Start(at.end))?;
        sync_dir(&opts.dir)?;
        let (tx, rx) = mpsc::channel(opts.queue.max(1));
        let pending = Arc::new(Mutex::new(Pending { open: BTreeSet::new(), end: at.end_lsn() }));
        let healthy = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let mut w = Writer {
            opts,
            rx,
            file,
            segment: at.segment,
            size: at.end,
            // Recovery left the segment ending at its last record (it cuts a torn tail
            // and unused zeros): nothing is allocated ahead yet.
            allocated: at.end,
            pending: pending.clone(),
            healthy: healthy.clone(),
            observe,
        };
        let handle = std::thread::Builder::new().name("wal-writer".into()).spawn(move || w.run())?;
        Ok((Wal { tx, pending, healthy }, WalWriter(handle)))
    }

    /// Appends a record with its decided outcome and waits until it is durable. The
    /// ticket stays open until the request is finished.
    pub async fn append(&self, tenant: &str, decided: &Decided, body: &[u8]) -> io::Result<Ticket> {
        self.append_frame(frame(tenant, decided, body)).await
    }

    /// Appends an encoded frame (see [`frame`]).
    pub async fn append_frame(&self, frame: Vec<u8>) -> io::Result<Ticket> {
        let (done, wait) = oneshot::channel();
        self.tx.send(Append { frame, done }).await.map_err(|_| io::Error::other("the log writer has stopped"))?;
        let lsn = wait.await.map_err(|_| io::Error::other("the log writer has stopped"))??;
        Ok(Ticket { lsn, pending: Some(self.pending.clone()) })
    }

    /// Every record below this LSN belongs to a finished request.
    pub fn watermark(&self) -> u64 {
        let p = self.pending.lock().unwrap();
        p.open.first().copied().unwrap_or(p.end)
    }

    /// Whether the last write succeeded.
    pub fn healthy(&self) -> bool {
        self.healthy.load(std::sync::atomic::Ordering::Relaxed) && !self.tx.is_closed()
    }
}

struct Writer {
    opts: WalOptions,
    rx: mpsc::Receiver<Append>,
    file: File,
    segment: u64,
    /// The end of the records in the segment: where the next batch goes.
    size: u64,
    /// The length of the segment file: `size` and the zeros allocated after it.
    allocated: u64,
    pending: Arc<Mutex<Pending>>,
    healthy: Arc<std::sync::atomic::AtomicBool>,
    observe: CommitObserver,
}

impl Writer {
    fn run(&mut self) {
        let mut batch: Vec<Append> = Vec::with_capacity(256);
        let mut buf: Vec<u8> = Vec::with_capacity(self.opts.max_batch_bytes);
        while let Some(first) = self.rx.blocking_recv() {
            batch.push(first);
            let mut bytes = batch[0].frame.len();
            while bytes < self.opts.max_batch_bytes {
                match self.rx.try_recv() {
                    Ok(a) => {
                        bytes += a.frame.len();
                        batch.push(a);
                    }
                    Err(_) => break,
                }
            }
            let result = self.commit(&mut batch, &mut buf);
            match result {
                Ok(lsns) => {
                    self.healthy.store(true, std::sync::atomic::Ordering::Relaxed);
                    {
                        let mut p = self.pending.lock().unwrap();
                        p.open.extend(lsns.iter().copied());
                        p.end = lsn(self.segment, self.size);
                    }
                    for (a, l) in batch.drain(..).zip(lsns) {
                        if a.done.send(Ok(l)).is_err() {
                            // The request was cancelled while it waited: no ticket will
                            // ever close this LSN, so do not let it hold the watermark.
                            self.pending.lock().unwrap().open.remove(&l);
                        }
                    }
                }
                Err(e) => {
                    self.healthy.store(false, std::sync::atomic::Ordering::Relaxed);
                    tracing::error!(error = %e, records = batch.len(), "write-ahead log append failed");
                    for a in batch.drain(..) {
                        let _ = a.done.send(Err(io::Error::new(e.kind(), e.to_string())));
                    }
                }
            }
        }
        // Every handle is gone: the queue is drained and every write synced. The
        // zeros after the records go, so a clean stop leaves the segment as written.
        let _ = self.file.set_len(self.size);
        let _ = self.file.sync_all();
    }

    /// Writes and syncs one batch; returns each record's LSN.
    fn commit(&mut self, batch: &mut [Append], buf: &mut Vec<u8>) -> io::Result<Vec<u64>> {
        let bytes: u64 = batch.iter().map(|a| a.frame.len() as u64).sum();
        if self.size > 0 && self.size + bytes > self.opts.segment_bytes {
            self.rotate()?;
        }
        buf.clear();
        let mut lsns = Vec::with_capacity(batch.len());
        for a in batch.iter_mut() {
            lsns.push(lsn(self.segment, self.size + buf.len() as u64));
            set_batch_start(&mut a.frame, self.size);
            buf.extend_from_slice(&a.frame);
        }
        let started = Instant::now();
        let end = self.size + buf.len() as u64;
        let written = self.file.write_all(buf).and_then(|()| self.allocate(end)).and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            // Leave no half-written batch behind for the next append to follow.
            let _ = self.file.set_len(self.size);
            let _ = self.file.seek(SeekFrom::Start(self.size));
            self.allocated = self.size;
            return Err(e);
        }
        (self.observe)(started.elapsed(), batch.len());
        self.size += buf.len() as u64;
        if buf.capacity() > 4 * self.opts.max_batch_bytes {
            *buf = Vec::with_capacity(self.opts.max_batch_bytes);
        }
        Ok(lsns)
    }

    /// Makes sure the segment is allocated past `end` (the end of the batch just
    /// written): if not, writes zeros up to [`PREALLOCATE`] bytes further, within the
    /// segment's size. The caller's `fdatasync` makes them durable with the batch.
    fn allocate(&mut self, end: u64) -> io::Result<()> {
        use std::os::unix::fs::FileExt as _;
        if end < self.allocated {
            return Ok(());
        }
        let target = (end + PREALLOCATE).min(self.opts.segment_bytes.max(end));
        if target > end {
            self.file.write_all_at(&vec![0; (target - end) as usize], end)?;
        }
        self.allocated = target;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        // A closed segment holds its records and nothing after them.
        self.file.set_len(self.size)?;
        self.file.sync_all()?;
        let next = self.segment + 1;
        let file = OpenOptions::new().create_new(true).write(true).open(segment_path(&self.opts.dir, next))?;
        sync_dir(&self.opts.dir)?;
        self.file = file;
        self.segment = next;
        self.size = 0;
        self.allocated = 0;
        tracing::info!(segment = next, "write-ahead log rotated");
        Ok(())
    }
}

#[cfg(test)]
mod tests;
