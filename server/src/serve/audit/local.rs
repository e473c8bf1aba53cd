//! The local segment files: `DATA/audit/<index>.log` (a header line, then
//! `<lsn> <entry bytes>` per line) and their seals, and how they are read back at
//! start.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use fractal_core::audit::entry_hash;
use fractal_core::hex;

use super::identity;

/// Where the chain continues.
#[derive(Debug, Clone)]
pub(super) struct Head {
    pub(super) index: u64,
    pub(super) next_seq: u64,
    pub(super) prev: String,
}

/// The local segments read back at start.
pub(super) struct Local {
    /// The open segment's position; `None` when there are no local files.
    pub(super) head: Option<Head>,
    /// Entries in the open segment.
    pub(super) open_count: u64,
    pub(super) identities: HashSet<String>,
    /// Entries not yet uploaded.
    pub(super) backlog: u64,
}

pub(super) fn log_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{index:020}.log"))
}

pub(super) fn seal_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{index:020}.seal.json"))
}

pub(super) fn uploaded_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{index:020}.uploaded"))
}

/// The indices of the local segment logs, ascending.
pub(super) fn local_indices(dir: &Path) -> io::Result<Vec<u64>> {
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
pub(super) struct Header {
    pub(super) segment: u64,
    pub(super) first_seq: u64,
    pub(super) prev: String,
}

/// A local segment file: header, then `(lsn, entry bytes)` lines. `torn` is the
/// byte length of the intact part when the last line is incomplete.
pub(super) struct LocalSegment {
    pub(super) header: Header,
    pub(super) lines: Vec<(u64, Vec<u8>)>,
    pub(super) intact_len: Option<u64>,
}

pub(super) fn read_local(path: &Path) -> anyhow::Result<LocalSegment> {
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
    pub(super) fn recover(dir: &Path) -> anyhow::Result<Local> {
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
pub(super) fn write_atomic(dir: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    sync_dir(dir)
}

/// Opens (creating with its header when new) the open segment's local file.
pub(super) fn open_segment(dir: &Path, head: &Head, first_seq: u64, count: u64) -> io::Result<File> {
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
pub(super) fn line_offset(path: &Path, n: u64) -> io::Result<u64> {
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
