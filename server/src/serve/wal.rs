//! The inbox write-ahead log: every accepted request body is on disk (fsync) before
//! the server answers.
//!
//! * **Files.** Segments `wal-<id>.log` (zero-padded, increasing) in one directory.
//!   A segment is rotated once it grows past the configured size; closed segments
//!   whose records all lie below the store's checkpoint and that are older than the
//!   retention age are deleted ([`prune`]).
//! * **Frame.** `[len: u32 LE][crc: u32 LE][payload: len bytes]`, where `crc` is the
//!   CRC-32 of the four length bytes followed by the payload, so a corrupted length is
//!   caught too. The payload is `[tenant_len: u8][tenant][request body]`.
//! * **Positions.** A record's LSN is `(segment id << 40) | byte offset`: ordered,
//!   stable across restarts, and it says where to resume a replay.
//! * **Group commit.** One writer thread drains a channel: it concatenates every
//!   pending frame, writes them with one `write` and makes them durable with one
//!   `fdatasync`, then wakes all the waiting requests. Concurrent requests share the
//!   cost of one fsync.
//! * **Recovery.** A torn tail (a crash in the middle of the last write) is detected
//!   and truncated. Damage anywhere else — a bad checksum followed by more data, or a
//!   bad record in a segment that is not the last — is an error at start: the log is
//!   never silently skipped in the middle.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, oneshot};

/// Bytes of a frame header: length and checksum.
pub const HEADER: usize = 8;
/// Bits of an LSN that hold the byte offset inside a segment.
const OFFSET_BITS: u32 = 40;
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

/// Encodes one record as a frame.
pub fn frame(tenant: &str, body: &[u8]) -> Vec<u8> {
    assert!(tenant.len() <= u8::MAX as usize, "tenant ids are at most 255 bytes");
    let len = 1 + tenant.len() + body.len();
    let mut out = Vec::with_capacity(HEADER + len);
    let len_bytes = (len as u32).to_le_bytes();
    out.extend_from_slice(&len_bytes);
    out.extend_from_slice(&[0; 4]);
    out.push(tenant.len() as u8);
    out.extend_from_slice(tenant.as_bytes());
    out.extend_from_slice(body);
    let mut h = crc32fast::Hasher::new();
    h.update(&len_bytes);
    h.update(&out[HEADER..]);
    out[4..8].copy_from_slice(&h.finalize().to_le_bytes());
    out
}

/// One logged request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Where it lies in the log.
    pub lsn: u64,
    /// The tenant it was submitted for.
    pub tenant: String,
    /// The request body, byte for byte.
    pub body: Vec<u8>,
}

/// What is wrong with a log at start.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// The disk said no.
    #[error("write-ahead log I/O: {0}")]
    Io(#[from] io::Error),
    /// A record that is not the tail of the last segment is damaged.
    #[error(
        "write-ahead log corrupted in {file} at byte {offset}: {reason} (not a torn tail; refusing to skip records)"
    )]
    Corrupt {
        /// The segment file.
        file: String,
        /// Where the damaged record starts.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
}

enum Scan {
    /// The segment parsed to its end.
    Clean,
    /// A damaged or incomplete record at this offset reaches the end of the file.
    TornTail(u64),
}

/// Reads every record of a segment, calling `f` for those at or after `from`.
fn scan_segment(dir: &Path, id: u64, from: u64, f: &mut dyn FnMut(Record)) -> Result<Scan, RecoveryError> {
    let path = segment_path(dir, id);
    let mut data = Vec::new();
    File::open(&path)?.read_to_end(&mut data)?;
    let corrupt = |offset: usize, reason: &str| RecoveryError::Corrupt {
        file: path.display().to_string(),
        offset: offset as u64,
        reason: reason.to_string(),
    };
    let mut pos = 0usize;
    while pos < data.len() {
        let rest = &data[pos..];
        // A crash can leave a zero-filled extension past the last complete write.
        if rest.iter().all(|&b| b == 0) {
            return Ok(Scan::TornTail(pos as u64));
        }
        if rest.len() < HEADER {
            return Ok(Scan::TornTail(pos as u64));
        }
        let len = u32::from_le_bytes(rest[0..4].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(rest[4..8].try_into().unwrap());
        if len > MAX_RECORD || len == 0 {
            // A wild length: torn only if nothing valid could follow it.
            if is_last_write(rest) {
                return Ok(Scan::TornTail(pos as u64));
            }
            return Err(corrupt(pos, "impossible record length"));
        }
        if rest.len() < HEADER + len {
            // The length runs past the end of the file: the last write was cut short.
            return Ok(Scan::TornTail(pos as u64));
        }
        let payload = &rest[HEADER..HEADER + len];
        let mut h = crc32fast::Hasher::new();
        h.update(&rest[0..4]);
        h.update(payload);
        if h.finalize() != crc {
            if rest.len() == HEADER + len {
                // The very last record is damaged: the tail of an interrupted write.
                return Ok(Scan::TornTail(pos as u64));
            }
            return Err(corrupt(pos, "checksum mismatch with more records after it"));
        }
        let tlen = payload[0] as usize;
        if 1 + tlen > payload.len() {
            return Err(corrupt(pos, "tenant length past the record's end"));
        }
        let tenant = std::str::from_utf8(&payload[1..1 + tlen]).map_err(|_| corrupt(pos, "tenant is not UTF-8"))?;
        let at = lsn(id, pos as u64);
        if at >= from {
            f(Record { lsn: at, tenant: tenant.to_string(), body: payload[1 + tlen..].to_vec() });
        }
        pos += HEADER + len;
    }
    Ok(Scan::Clean)
}

/// Whether a damaged header could be the start of the last, interrupted write: no
/// well-formed frame starts anywhere after it.
fn is_last_write(rest: &[u8]) -> bool {
    // An interrupted group commit is at most one batch long; look for any valid
    // frame start after the damaged header. Finding one means mid-log corruption.
    for start in 1..rest.len().saturating_sub(HEADER) {
        let r = &rest[start..];
        let len = u32::from_le_bytes(r[0..4].try_into().unwrap()) as usize;
        if len == 0 || len > MAX_RECORD || r.len() < HEADER + len {
            continue;
        }
        let crc = u32::from_le_bytes(r[4..8].try_into().unwrap());
        let mut h = crc32fast::Hasher::new();
        h.update(&r[0..4]);
        h.update(&r[HEADER..HEADER + len]);
        if h.finalize() == crc {
            return false;
        }
    }
    true
}

/// The log after recovery: where appends continue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recovered {
    /// The segment that takes the next append.
    pub segment: u64,
    /// Its length (the offset of the next append).
    pub end: u64,
    /// Bytes of torn tail that were cut off (0 after a clean stop).
    pub truncated: u64,
}

impl Recovered {
    /// The LSN the next append will get.
    pub fn end_lsn(&self) -> u64 {
        lsn(self.segment, self.end)
    }
}

/// Checks the log from `from` on, truncates a torn tail of the last segment, and
/// calls `f` for every record at or after `from`, in order.
///
/// Segments wholly before `from` are not read (their records are already applied).
pub fn recover(dir: &Path, from: u64, f: &mut dyn FnMut(Record)) -> Result<Recovered, RecoveryError> {
    fs::create_dir_all(dir)?;
    let ids = list_segments(dir)?;
    let (from_seg, _) = split_lsn(from);
    let Some(&last) = ids.last() else {
        // No log at all: start past the watermark so LSNs keep growing.
        let segment = if from == 0 { 0 } else { from_seg + 1 };
        return Ok(Recovered { segment, end: 0, truncated: 0 });
    };
    if last < from_seg {
        // The watermark's segment is gone (deleted by hand): start past it.
        return Ok(Recovered { segment: from_seg + 1, end: 0, truncated: 0 });
    }
    for &id in ids.iter().filter(|&&id| id >= from_seg) {
        match scan_segment(dir, id, from, f)? {
            Scan::Clean => {}
            Scan::TornTail(at) if id == last => {
                let path = segment_path(dir, id);
                let file = OpenOptions::new().write(true).open(&path)?;
                let len = file.metadata()?.len();
                file.set_len(at)?;
                file.sync_all()?;
                return Ok(Recovered { segment: id, end: at, truncated: len - at });
            }
            Scan::TornTail(at) => {
                return Err(RecoveryError::Corrupt {
                    file: segment_path(dir, id).display().to_string(),
                    offset: at,
                    reason: "damaged record in a segment that is not the last".into(),
                });
            }
        }
    }
    let end = fs::metadata(segment_path(dir, last))?.len();
    Ok(Recovered { segment: last, end, truncated: 0 })
}

/// Deletes closed segments that lie wholly below `watermark` (every record in them
/// has its outcome durably stored) and were last written more than `retention` ago.
/// Returns how many were deleted.
pub fn prune(dir: &Path, watermark: u64, retention: Duration) -> io::Result<usize> {
    let (wm_seg, _) = split_lsn(watermark);
    let now = SystemTime::now();
    let mut deleted = 0;
    for id in list_segments(dir)? {
        if id >= wm_seg {
            break;
        }
        let path = segment_path(dir, id);
        let modified = fs::metadata(&path)?.modified()?;
        if now.duration_since(modified).unwrap_or_default() >= retention {
            fs::remove_file(&path)?;
            deleted += 1;
        }
    }
    if deleted > 0 {
        sync_dir(dir)?;
    }
    Ok(deleted)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
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
            pending: pending.clone(),
            healthy: healthy.clone(),
            observe,
        };
        let handle = std::thread::Builder::new().name("wal-writer".into()).spawn(move || w.run())?;
        Ok((Wal { tx, pending, healthy }, WalWriter(handle)))
    }

    /// Appends a record and waits until it is durable. The ticket stays open until
    /// the request is finished.
    pub async fn append(&self, tenant: &str, body: &[u8]) -> io::Result<Ticket> {
        let (done, wait) = oneshot::channel();
        let frame = frame(tenant, body);
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
    size: u64,
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
                        let _ = a.done.send(Ok(l));
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
        // Every handle is gone: the queue is drained and every write synced.
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
        for a in batch.iter() {
            lsns.push(lsn(self.segment, self.size + buf.len() as u64));
            buf.extend_from_slice(&a.frame);
        }
        let started = Instant::now();
        let written = self.file.write_all(buf).and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            // Leave no half-written batch behind for the next append to follow.
            let _ = self.file.set_len(self.size);
            let _ = self.file.seek(SeekFrom::Start(self.size));
            return Err(e);
        }
        (self.observe)(started.elapsed(), batch.len());
        self.size += buf.len() as u64;
        if buf.capacity() > 4 * self.opts.max_batch_bytes {
            *buf = Vec::with_capacity(self.opts.max_batch_bytes);
        }
        Ok(lsns)
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file.sync_all()?;
        let next = self.segment + 1;
        let file = OpenOptions::new().create_new(true).write(true).open(segment_path(&self.opts.dir, next))?;
        sync_dir(&self.opts.dir)?;
        self.file = file;
        self.segment = next;
        self.size = 0;
        tracing::info!(segment = next, "write-ahead log rotated");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(dir: &Path, from: u64) -> Result<(Vec<Record>, Recovered), RecoveryError> {
        let mut out = Vec::new();
        let r = recover(dir, from, &mut |rec| out.push(rec))?;
        Ok((out, r))
    }

    fn write_segment(dir: &Path, id: u64, records: &[(&str, &[u8])]) -> Vec<u64> {
        let mut data = Vec::new();
        let mut offsets = Vec::new();
        for (t, b) in records {
            offsets.push(data.len() as u64);
            data.extend_from_slice(&frame(t, b));
        }
        fs::write(segment_path(dir, id), &data).unwrap();
        offsets
    }

    #[test]
    fn frames_round_trip_through_recovery() {
        let dir = tempfile::tempdir().unwrap();
        let offs = write_segment(dir.path(), 0, &[("default", b"{\"a\":1}"), ("t2", b"xyz")]);
        let (recs, r) = collect(dir.path(), 0).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].tenant, "default");
        assert_eq!(recs[0].body, b"{\"a\":1}");
        assert_eq!(recs[1].lsn, lsn(0, offs[1]));
        assert_eq!(r.truncated, 0);
        assert_eq!(r.end, fs::metadata(segment_path(dir.path(), 0)).unwrap().len());
    }

    #[test]
    fn torn_tail_is_truncated() {
        let dir = tempfile::tempdir().unwrap();
        write_segment(dir.path(), 0, &[("default", b"one"), ("default", b"two")]);
        let path = segment_path(dir.path(), 0);
        let full = fs::read(&path).unwrap();
        let good = full.len();
        // Half of a third record: the crash happened during the write.
        let third = frame("default", b"three-three-three");
        let mut torn = full.clone();
        torn.extend_from_slice(&third[..third.len() / 2]);
        fs::write(&path, &torn).unwrap();
        let (recs, r) = collect(dir.path(), 0).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(r.end as usize, good);
        assert_eq!(r.truncated as usize, third.len() / 2);
        assert_eq!(fs::read(&path).unwrap().len(), good, "the torn tail is cut off on disk");
    }

    #[test]
    fn damaged_last_record_and_zero_tail_are_torn() {
        let dir = tempfile::tempdir().unwrap();
        write_segment(dir.path(), 0, &[("default", b"one"), ("default", b"two")]);
        let path = segment_path(dir.path(), 0);
        let mut data = fs::read(&path).unwrap();
        let n = data.len();
        data[n - 1] ^= 0xff; // the last record's payload is garbage
        fs::write(&path, &data).unwrap();
        let (recs, r) = collect(dir.path(), 0).unwrap();
        assert_eq!(recs.len(), 1);
        assert!(r.truncated > 0);

        let mut data = fs::read(&path).unwrap();
        data.extend_from_slice(&[0u8; 4096]); // the file grew but the data never landed
        fs::write(&path, &data).unwrap();
        let (recs, r) = collect(dir.path(), 0).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(r.truncated, 4096);
    }

    #[test]
    fn corruption_in_the_middle_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let offs = write_segment(dir.path(), 0, &[("default", b"one"), ("default", b"two"), ("default", b"three")]);
        let path = segment_path(dir.path(), 0);
        let mut data = fs::read(&path).unwrap();
        data[offs[1] as usize + HEADER + 3] ^= 0x01; // flip a bit inside the second record
        fs::write(&path, &data).unwrap();
        let before = data.len();
        match collect(dir.path(), 0) {
            Err(RecoveryError::Corrupt { offset, .. }) => assert_eq!(offset, offs[1]),
            other => panic!("expected corruption, got {other:?}", other = other.map(|(r, _)| r.len())),
        }
        assert_eq!(fs::read(&path).unwrap().len(), before, "nothing is truncated on corruption");
    }

    #[test]
    fn corrupted_length_in_the_middle_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let offs = write_segment(dir.path(), 0, &[("default", b"one"), ("default", b"two"), ("default", b"three")]);
        let path = segment_path(dir.path(), 0);
        let mut data = fs::read(&path).unwrap();
        data[offs[1] as usize + 3] = 0x7f; // an impossible length, valid records after it
        fs::write(&path, &data).unwrap();
        assert!(matches!(collect(dir.path(), 0), Err(RecoveryError::Corrupt { .. })));
    }

    #[test]
    fn damage_in_an_older_segment_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        write_segment(dir.path(), 0, &[("default", b"one"), ("default", b"two")]);
        write_segment(dir.path(), 1, &[("default", b"three")]);
        let path = segment_path(dir.path(), 0);
        let mut data = fs::read(&path).unwrap();
        data.truncate(data.len() - 2);
        fs::write(&path, &data).unwrap();
        assert!(matches!(collect(dir.path(), 0), Err(RecoveryError::Corrupt { .. })));
    }

    #[test]
    fn recovery_starts_at_the_watermark() {
        let dir = tempfile::tempdir().unwrap();
        write_segment(dir.path(), 0, &[("default", b"one")]);
        let offs = write_segment(dir.path(), 1, &[("default", b"two"), ("default", b"three")]);
        // Segment 0 is below the watermark: even damage there is not read.
        fs::write(segment_path(dir.path(), 0), b"garbage").unwrap();
        let (recs, _) = collect(dir.path(), lsn(1, offs[1])).unwrap();
        assert_eq!(recs.iter().map(|r| r.body.clone()).collect::<Vec<_>>(), vec![b"three".to_vec()]);
    }

    #[test]
    fn prune_deletes_only_old_segments_below_the_watermark() {
        let dir = tempfile::tempdir().unwrap();
        for id in 0..3 {
            write_segment(dir.path(), id, &[("default", b"x")]);
        }
        assert_eq!(prune(dir.path(), lsn(2, 0), Duration::from_secs(3600)).unwrap(), 0, "too young");
        assert_eq!(prune(dir.path(), lsn(2, 0), Duration::ZERO).unwrap(), 2);
        assert_eq!(list_segments(dir.path()).unwrap(), vec![2]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn group_commit_appends_durably_and_rotates() {
        let dir = tempfile::tempdir().unwrap();
        let at = recover(dir.path(), 0, &mut |_| {}).unwrap();
        let batches = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let b2 = batches.clone();
        let opts = WalOptions { dir: dir.path().into(), segment_bytes: 4096, max_batch_bytes: 2048, queue: 1024 };
        let (wal, writer) = Wal::start(
            opts,
            at,
            Arc::new(move |_, _| {
                b2.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }),
        )
        .unwrap();
        let mut tasks = Vec::new();
        for i in 0..200u32 {
            let wal = wal.clone();
            tasks.push(tokio::spawn(async move {
                wal.append("default", format!("body-{i:04}-{}", "x".repeat(100)).as_bytes()).await.unwrap()
            }));
        }
        let mut tickets = Vec::new();
        for t in tasks {
            tickets.push(t.await.unwrap());
        }
        assert!(wal.watermark() <= tickets.iter().map(|t| t.lsn()).min().unwrap());
        let first_open = tickets.iter().map(|t| t.lsn()).min().unwrap();
        let kept = tickets.remove(tickets.iter().position(|t| t.lsn() == first_open).unwrap());
        drop(tickets);
        kept.keep();
        assert_eq!(wal.watermark(), first_open, "a kept ticket holds the watermark");
        drop(wal);
        writer.join();
        assert!(batches.load(std::sync::atomic::Ordering::Relaxed) <= 200);
        assert!(list_segments(dir.path()).unwrap().len() > 1, "4 KiB segments rotate");
        let (recs, _) = collect(dir.path(), 0).unwrap();
        let mut bodies: Vec<_> = recs.iter().map(|r| String::from_utf8(r.body.clone()).unwrap()).collect();
        bodies.sort();
        assert_eq!(bodies.len(), 200);
        assert!(bodies[0].starts_with("body-0000-"));
        assert!(bodies[199].starts_with("body-0199-"));
    }
}
