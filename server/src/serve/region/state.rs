//! The region's local state in `<data_dir>/region`: how far the log was published
//! and each peer imported, the conflict list, the status `fractal region status`
//! reads, and the pause flag. Every file is replaced atomically (temp, fsync,
//! rename, fsync of the directory) or appended and fsynced.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Present while shipping is paused.
pub const PAUSED_FILE: &str = "paused";
/// What `fractal region status` reads.
pub const STATUS_FILE: &str = "status.json";
/// The conflict list, one JSON object a line.
pub const CONFLICTS_FILE: &str = "conflicts.jsonl";
const PUBLISHED_FILE: &str = "published.json";

/// Writes `value` as JSON at `path`, atomically and durably.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn read_json<T: for<'de> Deserialize<'de> + Default>(path: &Path) -> anyhow::Result<T> {
    match fs::read(path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| anyhow::anyhow!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(anyhow::anyhow!("{}: {e}", path.display())),
    }
}

/// How far this region's log is published.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Published {
    /// The sequence number the next segment gets.
    pub seq: u64,
    /// Log records below this LSN are published (or not this region's).
    pub lsn: u64,
    /// The largest clock value published: the clock restarts above it.
    pub hlc: u64,
}

impl Published {
    /// Reads `published.json` (nothing published: zeros).
    pub fn load(dir: &Path) -> anyhow::Result<Published> {
        read_json(&dir.join(PUBLISHED_FILE))
    }

    /// Records it durably.
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        write_json(&dir.join(PUBLISHED_FILE), self)
    }
}

/// How far a peer's log is imported.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Imported {
    /// The sequence number of the peer's next segment to import.
    pub seq: u64,
}

fn imported_path(dir: &Path, peer: &str) -> PathBuf {
    dir.join("imported").join(format!("{peer}.json"))
}

impl Imported {
    /// Reads `imported/<peer>.json`.
    pub fn load(dir: &Path, peer: &str) -> anyhow::Result<Imported> {
        read_json(&imported_path(dir, peer))
    }

    /// Records it durably.
    pub fn save(&self, dir: &Path, peer: &str) -> std::io::Result<()> {
        write_json(&imported_path(dir, peer), self)
    }
}

/// One side of a conflict.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Answer {
    /// The region that answered.
    pub region: String,
    /// Its hybrid logical clock value.
    pub accepted_at: u64,
    /// Hex SHA-256 of the record bytes.
    pub record_sha256: String,
    /// 200 or 202.
    pub status: u16,
    /// The VerifyResult answered.
    pub result: serde_json::Value,
}

/// A superseded answer of this region (SPEC §10).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Conflict {
    /// The tenant.
    pub tenant: String,
    /// The key.
    pub pcs_id: String,
    /// This region's answer, superseded.
    pub superseded: Answer,
    /// The global winner now stored.
    pub winner: Answer,
}

impl Conflict {
    fn identity(&self) -> String {
        format!("{}\0{}\0{}\0{}", self.tenant, self.pcs_id, self.superseded.record_sha256, self.winner.record_sha256)
    }
}

/// The conflict list and the identities it holds.
pub struct Conflicts {
    file: File,
    seen: HashSet<String>,
}

impl Conflicts {
    /// Opens (creates) `conflicts.jsonl`.
    pub fn open(dir: &Path) -> anyhow::Result<Conflicts> {
        let path = dir.join(CONFLICTS_FILE);
        let mut seen = HashSet::new();
        for c in read_conflicts(&path)? {
            seen.insert(c.identity());
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Conflicts { file, seen })
    }

    /// How many are recorded.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Appends `c` (fsynced) unless it is recorded already; returns whether it was new.
    pub fn record(&mut self, c: &Conflict) -> anyhow::Result<bool> {
        let id = c.identity();
        if self.seen.contains(&id) {
            return Ok(false);
        }
        let mut line = serde_json::to_vec(c)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.sync_data()?;
        self.seen.insert(id);
        Ok(true)
    }
}

/// Reads a conflict list (a missing file: none). A torn last line is skipped.
pub fn read_conflicts(path: &Path) -> anyhow::Result<Vec<Conflict>> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(anyhow::anyhow!("{}: {e}", path.display())),
    };
    let mut out = Vec::new();
    for line in std::io::BufReader::new(f).lines() {
        let line = line?;
        if let Ok(c) = serde_json::from_str::<Conflict>(&line) {
            out.push(c);
        }
    }
    Ok(out)
}

/// A peer as seen from here.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Peer {
    /// The next segment to import.
    pub next_segment: u64,
    /// Seconds since the last import that left nothing of the peer's to read.
    pub lag_seconds: f64,
    /// Records imported since the start.
    pub imported_records: u64,
    /// Keys in one store and not the other, per shard (a lower bound).
    pub divergence_missing: BTreeMap<String, u64>,
    /// Keys whose outcomes differ, per shard (a lower bound).
    pub divergence_differs: BTreeMap<String, u64>,
    /// When the peer's digest compared was computed (ms since the epoch).
    pub digest_at_ms: u64,
}

/// `region/status.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Status {
    /// This region.
    pub region: String,
    /// Whether shipping is paused.
    pub paused: bool,
    /// The next segment this region publishes.
    pub next_segment: u64,
    /// Log records below this position are published.
    pub published_lsn: u64,
    /// Conflicts recorded.
    pub conflicts: u64,
    /// The peers.
    pub peers: BTreeMap<String, Peer>,
    /// When this file was written (ms since the epoch).
    pub written_at_ms: u64,
}

impl Status {
    /// Reads `status.json`.
    pub fn load(dir: &Path) -> anyhow::Result<Status> {
        let path = dir.join(STATUS_FILE);
        let b = fs::read(&path)
            .map_err(|e| anyhow::anyhow!("{}: {e} (is the server running with [region]?)", path.display()))?;
        Ok(serde_json::from_slice(&b)?)
    }

    /// Whether shipping runs, every peer is caught up (its last import pass left
    /// nothing to read) and no divergence is measured.
    pub fn converged(&self) -> bool {
        !self.paused
            && !self.peers.is_empty()
            && self.peers.values().all(|p| {
                p.lag_seconds == 0.0
                    && p.divergence_missing.values().all(|&n| n == 0)
                    && p.divergence_differs.values().all(|&n| n == 0)
            })
    }
}
