//! Reading the log back: recovery from a watermark, ranges, inspection, repair and pruning.

use super::*;

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
    /// The records end at this offset and only zeros follow: space the writer
    /// allocated ahead of its appends (see the writer's `PREALLOCATE`).
    Unused(u64),
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

/// Whether the rest of a segment is unwritten space: zeros, which never begin a
/// frame (a frame's length is never 0).
fn unused(rest: &[u8]) -> bool {
    rest.iter().all(|&b| b == 0)
}

/// Reads every record of a segment, calling `f` for those at or after `from`.
/// Returns how the segment ends and its length as read.
fn scan_segment(dir: &Path, id: u64, from: u64, f: &mut dyn FnMut(Record)) -> Result<(Scan, u64), RecoveryError> {
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
            None if unused(&data[pos..]) => return Ok((Scan::Unused(pos as u64), data.len() as u64)),
            None => {
                return match classify_damage(&data, pos) {
                    Ok(()) => Ok((Scan::TornTail(pos as u64), data.len() as u64)),
                    Err(reason) => Err(corrupt(pos, &reason)),
                };
            }
        }
    }
    Ok((Scan::Clean, data.len() as u64))
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
    /// Bytes of unused space (zeros allocated ahead of the appends) that were cut
    /// off: the tail of a server that stopped without closing its log.
    pub unused: u64,
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
        return Ok(Recovered { segment, end: 0, truncated: 0, unused: 0 });
    };
    if last < from_seg {
        // The watermark's segment is gone (deleted by hand): start past it.
        return Ok(Recovered { segment: from_seg + 1, end: 0, truncated: 0, unused: 0 });
    }
    let mut end = 0;
    for &id in ids.iter().filter(|&&id| id >= from_seg) {
        let (scan, len) = scan_segment(dir, id, from, f)?;
        let (at, torn) = match scan {
            Scan::Clean => {
                end = len; // the last segment is scanned last
                continue;
            }
            Scan::Unused(at) => (at, false),
            Scan::TornTail(at) => (at, true),
        };
        if id != last {
            // Closed segments are cut to their records when the writer moves on.
            return Err(RecoveryError::Corrupt {
                file: segment_path(dir, id).display().to_string(),
                segment: id,
                offset: at,
                reason: not_last(torn).into(),
            });
        }
        let file = OpenOptions::new().write(true).open(segment_path(dir, id))?;
        let cut = len - at;
        file.set_len(at)?;
        file.sync_all()?;
        let (truncated, unused) = if torn { (cut, 0) } else { (0, cut) };
        return Ok(Recovered { segment: id, end: at, truncated, unused });
    }
    Ok(Recovered { segment: last, end, truncated: 0, unused: 0 })
}

/// Why damage (`torn`) or unused space at the end of a segment that is not the last
/// stops a start.
fn not_last(torn: bool) -> &'static str {
    if torn {
        "damaged record in a segment that is not the last"
    } else {
        "unwritten space (zeros) in a segment that is not the last"
    }
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

pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
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
    /// Zeros after its last record: space the writer allocated ahead of its
    /// appends (the last segment of a running server, or of one that was killed).
    pub unused_bytes: u64,
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
        let mut r = SegmentReport {
            segment: id,
            file: segment_name(id),
            bytes: 0,
            unused_bytes: 0,
            records_v2: 0,
            records_v1: 0,
            first_lsn: None,
            last_lsn: None,
            damage: None,
        };
        let scanned = scan_segment(dir, id, 0, &mut |rec| {
            if rec.decided.is_some() {
                r.records_v2 += 1;
            } else {
                r.records_v1 += 1;
            }
            r.first_lsn.get_or_insert(rec.lsn);
            r.last_lsn = Some(rec.lsn);
        });
        let corrupt = |offset: u64, reason: String| Some(Damage { offset, kind: "corrupt", reason });
        let last = i + 1 == ids.len();
        match scanned {
            Ok((scan, len)) => {
                r.bytes = len;
                match scan {
                    Scan::Clean => {}
                    Scan::Unused(at) => {
                        r.unused_bytes = len - at;
                        if !last {
                            r.damage = corrupt(at, not_last(false).into());
                        }
                    }
                    Scan::TornTail(at) if last => {
                        let reason = "an interrupted last write".into();
                        r.damage = Some(Damage { offset: at, kind: "torn_tail", reason });
                    }
                    Scan::TornTail(at) => r.damage = corrupt(at, not_last(true).into()),
                }
            }
            Err(RecoveryError::Corrupt { offset, reason, .. }) => {
                r.bytes = fs::metadata(segment_path(dir, id))?.len();
                r.damage = corrupt(offset, reason);
            }
            Err(RecoveryError::Io(e)) => return Err(e),
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
