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
//!     this frame: it tells a torn final batch from damage in the middle.
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

/// Encodes one record as a v1 frame (the format before v2; kept to test upgrades).
pub fn frame_v1(tenant: &str, body: &[u8]) -> Vec<u8> {
    assert!(!tenant.is_empty() && tenant.len() <= u8::MAX as usize, "tenant ids are 1-255 bytes");
    let mut payload = Vec::with_capacity(1 + tenant.len() + body.len());
    payload.push(tenant.len() as u8);
    payload.extend_from_slice(tenant.as_bytes());
    payload.extend_from_slice(body);
    seal(payload)
}

/// Frames a payload: length, checksum, payload.
fn seal(payload: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&payload);
    reseal(&mut out);
    out
}

/// Recomputes the checksum of a frame after its payload changed.
fn reseal(frame: &mut [u8]) {
    let mut h = crc32fast::Hasher::new();
    h.update(&frame[0..4]);
    h.update(&frame[HEADER..]);
    let crc = h.finalize().to_le_bytes();
    frame[4..8].copy_from_slice(&crc);
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
    /// When the outcome expires: `accepted_at` + the dedup TTL in force.
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

/// Offset of `batch_start` in a v2 frame.
const BATCH_AT: usize = HEADER + 2;

/// Encodes one record and its decided outcome as a v2 frame (`batch_start` is filled
/// in by the writer).
pub fn frame(tenant: &str, d: &Decided, body: &[u8]) -> Vec<u8> {
    assert!(!tenant.is_empty() && tenant.len() <= u8::MAX as usize, "tenant ids are 1-255 bytes");
    assert!(d.pcs_id.len() <= u16::MAX as usize, "pcs_ids are short");
    let mut p = Vec::with_capacity(80 + tenant.len() + d.pcs_id.len() + d.outcome.len() + body.len());
    p.extend_from_slice(&[0, if d.origin.is_some() { 3 } else { 2 }]);
    p.extend_from_slice(&0u64.to_le_bytes());
    p.extend_from_slice(&d.accepted_at.to_le_bytes());
    p.extend_from_slice(&d.expires_at.to_le_bytes());
    p.extend_from_slice(&d.status.to_le_bytes());
    p.push(tenant.len() as u8);
    p.extend_from_slice(tenant.as_bytes());
    p.extend_from_slice(&(d.pcs_id.len() as u16).to_le_bytes());
    p.extend_from_slice(d.pcs_id.as_bytes());
    p.extend_from_slice(&(d.outcome.len() as u32).to_le_bytes());
    p.extend_from_slice(&d.outcome);
    if let Some(o) = &d.origin {
        assert!(!o.region.is_empty() && o.region.len() <= u8::MAX as usize, "region ids are 1-64 bytes");
        p.extend_from_slice(&o.hlc.to_le_bytes());
        p.push(o.region.len() as u8);
        p.extend_from_slice(o.region.as_bytes());
    }
    p.extend_from_slice(body);
    seal(p)
}

/// Sets the `batch_start` of a v2 frame (and its checksum).
fn set_batch_start(frame: &mut [u8], start: u64) {
    if frame.len() >= BATCH_AT + 8 && frame[HEADER] == 0 {
        frame[BATCH_AT..BATCH_AT + 8].copy_from_slice(&start.to_le_bytes());
        reseal(frame);
    }
}

/// A decoded payload.
struct Decoded {
    tenant: String,
    body: Vec<u8>,
    decided: Option<Decided>,
    /// v2 frames: the offset of their batch's first frame.
    batch_start: Option<u64>,
}

fn decode_payload(p: &[u8]) -> Result<Decoded, &'static str> {
    struct Cur<'a>(&'a [u8]);
    impl<'a> Cur<'a> {
        fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
            if self.0.len() < n {
                return Err("a field runs past the record's end");
            }
            let (a, b) = self.0.split_at(n);
            self.0 = b;
            Ok(a)
        }
        fn u64(&mut self) -> Result<u64, &'static str> {
            Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
        }
        fn u16(&mut self) -> Result<u16, &'static str> {
            Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
        }
        fn string(&mut self, n: usize) -> Result<String, &'static str> {
            String::from_utf8(self.take(n)?.to_vec()).map_err(|_| "a text field is not UTF-8")
        }
    }
    let mut c = Cur(p);
    let first = c.take(1)?[0];
    if first != 0 {
        // v1: [tenant_len][tenant][body]
        let tenant = c.string(first as usize)?;
        return Ok(Decoded { tenant, body: c.0.to_vec(), decided: None, batch_start: None });
    }
    let version = c.take(1)?[0];
    if version != 2 && version != 3 {
        return Err("unknown record version");
    }
    let batch_start = c.u64()?;
    let accepted_at = c.u64()?;
    let expires_at = c.u64()?;
    let status = c.u16()?;
    let tlen = c.take(1)?[0] as usize;
    if tlen == 0 {
        return Err("empty tenant");
    }
    let tenant = c.string(tlen)?;
    let plen = c.u16()? as usize;
    let pcs_id = c.string(plen)?;
    let olen = u32::from_le_bytes(c.take(4)?.try_into().unwrap()) as usize;
    let outcome = c.take(olen)?.to_vec();
    let origin = if version == 3 {
        let hlc = c.u64()?;
        let rlen = c.take(1)?[0] as usize;
        if rlen == 0 {
            return Err("empty region");
        }
        Some(Origin { hlc, region: c.string(rlen)? })
    } else {
        None
    };
    Ok(Decoded {
        tenant,
        body: c.0.to_vec(),
        decided: Some(Decided { pcs_id, status, outcome, accepted_at, expires_at, origin }),
        batch_start: Some(batch_start),
    })
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
    /// What was decided (v2 frames); `None` for v1 frames, which predate it.
    pub decided: Option<Decided>,
}

/// What is wrong with a log at start.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// The disk said no.
    #[error("write-ahead log I/O: {0}")]
    Io(#[from] io::Error),
    /// A record that is not the tail of the last segment is damaged.
    #[error(
        "write-ahead log corrupted in {file} (segment {segment}) at byte {offset}: {reason} (not a torn tail; \
         refusing to skip acknowledged records). Inspect with `fractal wal inspect --data-dir DIR`; to cut the \
         log there deliberately, losing what follows in that segment: `fractal wal repair --data-dir DIR \
         --segment {segment} --truncate-at {offset}`"
    )]
    Corrupt {
        /// The segment file.
        file: String,
        /// The segment id.
        segment: u64,
        /// Where the damaged record starts.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
}

enum Scan {
    /// The segment parsed to its end.
    Clean,
    /// A damaged or incomplete record at this offset, followed by nothing but (at
    /// most) the rest of its own unacknowledged batch.
    TornTail(u64),
}

/// An intact frame at the start of `rest`: its total length and decoded payload.
fn intact_frame(rest: &[u8]) -> Option<(usize, Result<Decoded, &'static str>)> {
    if rest.len() < HEADER {
        return None;
    }
    let len = u32::from_le_bytes(rest[0..4].try_into().unwrap()) as usize;
    if len == 0 || len > MAX_RECORD || rest.len() < HEADER + len {
        return None;
    }
    let crc = u32::from_le_bytes(rest[4..8].try_into().unwrap());
    let mut h = crc32fast::Hasher::new();
    h.update(&rest[0..4]);
    h.update(&rest[HEADER..HEADER + len]);
    if h.finalize() != crc {
        return None;
    }
    Some((HEADER + len, decode_payload(&rest[HEADER..HEADER + len])))
}

/// Damage at `pos`: is it the torn tail of the last group commit? Yes when no intact
/// frame after it was written by a later group commit. Returns the reason otherwise.
fn classify_damage(data: &[u8], pos: usize) -> Result<(), String> {
    let mut at = pos + 1;
    while at + HEADER <= data.len() {
        match intact_frame(&data[at..]) {
            Some((n, Ok(d))) => match d.batch_start {
                Some(start) if start <= pos as u64 => at += n, // the same (unacknowledged) batch
                Some(start) => {
                    return Err(format!(
                        "damaged record followed by intact records of a later write (at byte {at}, batch {start})"
                    ));
                }
                None => return Err(format!("damaged record followed by an intact record at byte {at}")),
            },
            _ => at += 1,
        }
    }
    Ok(())
}

/// Reads every record of a segment, calling `f` for those at or after `from`.
fn scan_segment(dir: &Path, id: u64, from: u64, f: &mut dyn FnMut(Record)) -> Result<Scan, RecoveryError> {
    let path = segment_path(dir, id);
    let mut data = Vec::new();
    File::open(&path)?.read_to_end(&mut data)?;
    let corrupt = |offset: usize, reason: &str| RecoveryError::Corrupt {
        file: path.display().to_string(),
        segment: id,
        offset: offset as u64,
        reason: reason.to_string(),
    };
    let mut pos = 0usize;
    while pos < data.len() {
        match intact_frame(&data[pos..]) {
            Some((n, Ok(d))) => {
                let at = lsn(id, pos as u64);
                if at >= from {
                    f(Record { lsn: at, tenant: d.tenant, body: d.body, decided: d.decided });
                }
                pos += n;
            }
            // The checksum holds but the contents do not parse: written wrong, not torn.
            Some((_, Err(reason))) => return Err(corrupt(pos, reason)),
            None => {
                return match classify_damage(&data, pos) {
                    Ok(()) => Ok(Scan::TornTail(pos as u64)),
                    Err(reason) => Err(corrupt(pos, &reason)),
                };
            }
        }
    }
    Ok(Scan::Clean)
}

/// Reads, without changing anything, the records at or after `from` and below
/// `until`, in order (for shipping the log while the server appends to it: pass the
/// log's watermark as `until`, below which every record is durable). A damaged
/// frame at the end of the last segment read is where the writer is: reading stops.
pub fn read_range(dir: &Path, from: u64, until: u64, f: &mut dyn FnMut(Record)) -> Result<(), RecoveryError> {
    let (from_seg, _) = split_lsn(from);
    let (until_seg, _) = split_lsn(until);
    for id in list_segments(dir)?.into_iter().filter(|&id| id >= from_seg && id <= until_seg) {
        scan_segment(dir, id, from, &mut |r| {
            if r.lsn < until {
                f(r)
            }
        })?;
    }
    Ok(())
}

/// Decodes a run of whole frames (a published region segment): every frame must be
/// intact. The records' LSNs are their byte offsets in `data`.
pub fn decode_frames(data: &[u8]) -> Result<Vec<Record>, String> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < data.len() {
        match intact_frame(&data[pos..]) {
            Some((n, Ok(d))) => {
                out.push(Record { lsn: pos as u64, tenant: d.tenant, body: d.body, decided: d.decided });
                pos += n;
            }
            Some((_, Err(reason))) => return Err(format!("frame at byte {pos}: {reason}")),
            None => return Err(format!("frame at byte {pos}: damaged or cut short")),
        }
    }
    Ok(out)
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
                    segment: id,
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

/// What `fractal wal inspect` reports about one segment.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SegmentReport {
    /// The segment id.
    pub segment: u64,
    /// Its file name.
    pub file: String,
    /// Its length in bytes.
    pub bytes: u64,
    /// Intact records before the first damage (v2 frames, with decided outcomes).
    pub records_v2: u64,
    /// Intact v1 frames (written before the upgrade) before the first damage.
    pub records_v1: u64,
    /// The LSN range of the intact records.
    pub first_lsn: Option<u64>,
    /// The last intact record's LSN.
    pub last_lsn: Option<u64>,
    /// The first damage, if any.
    pub damage: Option<Damage>,
}

/// Damage found by [`inspect`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct Damage {
    /// Where the damaged record starts.
    pub offset: u64,
    /// `torn_tail` (a start truncates it by itself) or `corrupt` (a start stops).
    pub kind: &'static str,
    /// What is wrong.
    pub reason: String,
}

/// Reads every segment without changing anything and reports what a start would
/// find (nothing of a record's contents is reported: no tenant data, no bodies).
pub fn inspect(dir: &Path) -> io::Result<Vec<SegmentReport>> {
    let ids = list_segments(dir)?;
    let mut out = Vec::new();
    for (i, &id) in ids.iter().enumerate() {
        let path = segment_path(dir, id);
        let data = fs::read(&path)?;
        let mut r = SegmentReport {
            segment: id,
            file: segment_name(id),
            bytes: data.len() as u64,
            records_v2: 0,
            records_v1: 0,
            first_lsn: None,
            last_lsn: None,
            damage: None,
        };
        let mut pos = 0usize;
        while pos < data.len() {
            match intact_frame(&data[pos..]) {
                Some((n, Ok(d))) => {
                    if d.decided.is_some() {
                        r.records_v2 += 1;
                    } else {
                        r.records_v1 += 1;
                    }
                    r.first_lsn.get_or_insert(lsn(id, pos as u64));
                    r.last_lsn = Some(lsn(id, pos as u64));
                    pos += n;
                }
                Some((_, Err(reason))) => {
                    r.damage = Some(Damage { offset: pos as u64, kind: "corrupt", reason: reason.into() });
                    break;
                }
                None => {
                    let last = i + 1 == ids.len();
                    r.damage = Some(match classify_damage(&data, pos) {
                        Ok(()) if last => Damage {
                            offset: pos as u64,
                            kind: "torn_tail",
                            reason: "an interrupted last write".into(),
                        },
                        Ok(()) => Damage {
                            offset: pos as u64,
                            kind: "corrupt",
                            reason: "damaged record in a segment that is not the last".into(),
                        },
                        Err(reason) => Damage { offset: pos as u64, kind: "corrupt", reason },
                    });
                    break;
                }
            }
        }
        out.push(r);
    }
    Ok(out)
}

/// Cuts segment `segment` at `offset`, deliberately: the bytes from `offset` on are
/// first saved to `wal-<id>.log.cut-<offset>` next to it (fsynced), then the segment
/// is truncated. Run it only while the server is stopped. Returns the saved file.
pub fn repair(dir: &Path, segment: u64, offset: u64) -> io::Result<PathBuf> {
    let path = segment_path(dir, segment);
    let data = fs::read(&path)?;
    if offset > data.len() as u64 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("--truncate-at {offset} is past the end of {} ({} bytes)", path.display(), data.len()),
        ));
    }
    let saved = dir.join(format!("{}.cut-{offset}", segment_name(segment)));
    {
        let mut f = OpenOptions::new().create_new(true).write(true).open(&saved)?;
        f.write_all(&data[offset as usize..])?;
        f.sync_all()?;
    }
    let f = OpenOptions::new().write(true).open(&path)?;
    f.set_len(offset)?;
    f.sync_all()?;
    sync_dir(dir)?;
    Ok(saved)
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
        for a in batch.iter_mut() {
            lsns.push(lsn(self.segment, self.size + buf.len() as u64));
            set_batch_start(&mut a.frame, self.size);
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
            data.extend_from_slice(&frame_v1(t, b));
        }
        fs::write(segment_path(dir, id), &data).unwrap();
        offsets
    }

    fn decided(pcs_id: &str) -> Decided {
        Decided {
            pcs_id: pcs_id.into(),
            status: 202,
            outcome: format!("{{\"id\":\"{pcs_id}\"}}").into_bytes(),
            accepted_at: 1_000,
            expires_at: 2_000,
            origin: None,
        }
    }

    /// Writes v2 frames grouped in batches, as the writer does; returns each frame's offset.
    fn write_batches(dir: &Path, id: u64, batches: &[&[&str]]) -> Vec<u64> {
        let mut data = Vec::new();
        let mut offsets = Vec::new();
        for batch in batches {
            let start = data.len() as u64;
            for pcs in batch.iter() {
                offsets.push(data.len() as u64);
                let mut f = frame("t", &decided(pcs), b"{}");
                set_batch_start(&mut f, start);
                data.extend_from_slice(&f);
            }
        }
        fs::write(segment_path(dir, id), &data).unwrap();
        offsets
    }

    fn ids(recs: &[Record]) -> Vec<String> {
        recs.iter().map(|r| r.decided.as_ref().unwrap().pcs_id.clone()).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_append_does_not_pin_the_watermark() {
        let dir = tempfile::tempdir().unwrap();
        let at = recover(dir.path(), 0, &mut |_| {}).unwrap();
        let opts = WalOptions { dir: dir.path().into(), segment_bytes: 1 << 20, max_batch_bytes: 1 << 16, queue: 16 };
        let (wal, writer) = Wal::start(opts, at, Arc::new(|_, _| {})).unwrap();
        // Poll the append once (the frame is queued to the writer), then drop it, as
        // hyper does with the handler of a client that disconnected.
        {
            let gone = decided("gone");
            let fut = wal.append("t", &gone, b"{}");
            tokio::pin!(fut);
            std::future::poll_fn(|cx| {
                let _ = fut.as_mut().poll(cx);
                std::task::Poll::Ready(())
            })
            .await;
        }
        // A later append completes after the writer handled the cancelled one (FIFO).
        let t = wal.append("t", &decided("kept"), b"{}").await.unwrap();
        drop(t);
        let end = wal.pending.lock().unwrap().end;
        assert_eq!(wal.watermark(), end, "nothing is open: the cancelled record does not hold the watermark");
        drop(wal);
        writer.join();
    }

    #[test]
    fn v3_frames_carry_the_region_stamp_and_v2_frames_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut stamped = decided("p3");
        stamped.origin = Some(Origin { hlc: (7 << 16) | 3, region: "eu-west".into() });
        let mut data = frame("t", &decided("p2"), b"{\"v\":2}");
        let mut f = frame("t", &stamped, b"{\"v\":3}");
        set_batch_start(&mut f, data.len() as u64);
        data.extend_from_slice(&f);
        fs::write(segment_path(dir.path(), 0), &data).unwrap();
        let (recs, _) = collect(dir.path(), 0).unwrap();
        assert_eq!(recs[0].decided, Some(decided("p2")));
        assert_eq!(recs[1].decided, Some(stamped));
        assert_eq!(recs[1].body, b"{\"v\":3}");
        // The read-only reader sees the same records, below its bound.
        let mut seen = Vec::new();
        read_range(dir.path(), 0, recs[1].lsn, &mut |r| seen.push(r)).unwrap();
        assert_eq!(seen, recs[..1].to_vec());
    }

    #[test]
    fn v2_frames_carry_the_decision_and_v1_frames_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut data = frame_v1("old", b"{\"v\":1}");
        let mut f = frame("new", &decided("p1"), b"{\"v\":2}");
        set_batch_start(&mut f, data.len() as u64);
        data.extend_from_slice(&f);
        fs::write(segment_path(dir.path(), 0), &data).unwrap();
        let (recs, r) = collect(dir.path(), 0).unwrap();
        assert_eq!(r.truncated, 0);
        assert_eq!((recs[0].tenant.as_str(), recs[0].body.as_slice(), &recs[0].decided), ("old", &b"{\"v\":1}"[..], &None));
        assert_eq!((recs[1].tenant.as_str(), recs[1].body.as_slice()), ("new", &b"{\"v\":2}"[..]));
        assert_eq!(recs[1].decided, Some(decided("p1")));
    }

    #[test]
    fn a_flipped_length_byte_in_an_early_frame_is_corruption_not_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        // Five acknowledged group commits of one record each.
        let offs = write_batches(dir.path(), 3, &[&["a"], &["b"], &["c"], &["d"], &["e"]]);
        let path = segment_path(dir.path(), 3);
        let mut data = fs::read(&path).unwrap();
        data[offs[1] as usize + 2] ^= 0x10; // the length now runs past the end of the file
        fs::write(&path, &data).unwrap();
        match collect(dir.path(), 0) {
            Err(e @ RecoveryError::Corrupt { .. }) => {
                let RecoveryError::Corrupt { segment, offset, .. } = &e else { unreachable!() };
                assert_eq!((*segment, *offset), (3, offs[1]));
                let msg = e.to_string();
                assert!(msg.contains("fractal wal repair") && msg.contains(&format!("--truncate-at {}", offs[1])), "{msg}");
            }
            other => panic!("expected corruption, got {:?}", other.map(|(r, _)| ids(&r))),
        }
        assert_eq!(fs::read(&path).unwrap(), data, "nothing is truncated");
    }

    #[test]
    fn a_torn_write_inside_the_last_batch_is_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        // The last group commit wrote three frames; the crash left the middle one
        // garbage and the third intact (pages reach the disk in any order).
        let offs = write_batches(dir.path(), 0, &[&["a"], &["b"], &["c", "d", "e"]]);
        let path = segment_path(dir.path(), 0);
        let mut data = fs::read(&path).unwrap();
        let total = data.len();
        data[offs[3] as usize + HEADER + 20] ^= 0xff;
        fs::write(&path, &data).unwrap();
        let (recs, r) = collect(dir.path(), 0).unwrap();
        assert_eq!(ids(&recs), vec!["a", "b", "c"]);
        assert_eq!(r.end, offs[3]);
        assert_eq!(r.truncated as usize, total - offs[3] as usize);
        // The same damage with a later batch after it is corruption.
        let dir = tempfile::tempdir().unwrap();
        let offs = write_batches(dir.path(), 0, &[&["a"], &["c", "d", "e"], &["f"]]);
        let path = segment_path(dir.path(), 0);
        let mut data = fs::read(&path).unwrap();
        data[offs[2] as usize + HEADER + 20] ^= 0xff;
        fs::write(&path, &data).unwrap();
        assert!(matches!(collect(dir.path(), 0), Err(RecoveryError::Corrupt { segment: 0, .. })));
    }

    #[test]
    fn inspect_reports_and_repair_cuts_deliberately() {
        let dir = tempfile::tempdir().unwrap();
        write_batches(dir.path(), 0, &[&["a"], &["b"]]);
        let offs = write_batches(dir.path(), 1, &[&["c"], &["d"], &["e"]]);
        let path = segment_path(dir.path(), 1);
        let mut data = fs::read(&path).unwrap();
        data[offs[1] as usize + HEADER + 5] ^= 0x01;
        fs::write(&path, &data).unwrap();
        let report = inspect(dir.path()).unwrap();
        assert_eq!(report.len(), 2);
        assert!(report[0].damage.is_none());
        assert_eq!(report[0].records_v2, 2);
        let d = report[1].damage.as_ref().unwrap();
        assert_eq!((d.offset, d.kind), (offs[1], "corrupt"));
        assert_eq!(report[1].records_v2, 1);
        assert!(collect(dir.path(), 0).is_err());
        let saved = repair(dir.path(), 1, offs[1]).unwrap();
        assert_eq!(fs::read(&saved).unwrap(), data[offs[1] as usize..].to_vec(), "the cut bytes are kept");
        let (recs, _) = collect(dir.path(), 0).unwrap();
        assert_eq!(ids(&recs), vec!["a", "b", "c"]);
        assert!(repair(dir.path(), 1, 1 << 30).is_err(), "past the end");
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
        let third = frame_v1("default", b"three-three-three");
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
                let d = decided(&format!("p{i}"));
                wal.append("default", &d, format!("body-{i:04}-{}", "x".repeat(100)).as_bytes()).await.unwrap()
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
        // Every frame names the start of the group commit that wrote it.
        assert!(recs.iter().all(|r| r.decided.is_some()));
    }
}
