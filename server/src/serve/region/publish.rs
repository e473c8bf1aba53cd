//! Publishing this region's log: sealed segments, create-only, in sequence.
//!
//! A segment is `MAGIC ‖ sealed_at_ms ‖ from_lsn ‖ to_lsn` (u64 LE each) followed by
//! the v3 log frames of the records this region accepted in `[from_lsn, to_lsn)`.
//! Records imported from peers are not published again (each region ships its own).
//! The cursor (`published.json`) moves only after the object is written; a crash
//! between the two finds the object there on the next pass (`AlreadyExists`) and
//! moves the cursor to its `to_lsn`: nothing is published twice under two numbers.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use object_store::{ObjectStoreExt as _, PutMode, PutOptions, PutPayload};

use super::state::Published;
use super::{Region, Remote, now_ms, segment_name};
use crate::serve::wal::{self, Wal};

/// The first bytes of a published segment.
pub const MAGIC: &[u8; 8] = b"FLKRSEG1";
const HEAD: usize = 32;
const REMOTE_TIMEOUT: Duration = Duration::from_secs(30);

/// A published segment's header and records.
pub struct Segment {
    /// When it was sealed (ms since the epoch).
    pub sealed_at_ms: u64,
    /// First log position it covers.
    pub from_lsn: u64,
    /// Log position after the last it covers.
    pub to_lsn: u64,
    /// The records.
    pub records: Vec<wal::Record>,
}

/// Encodes a segment.
pub fn encode(sealed_at_ms: u64, from_lsn: u64, to_lsn: u64, frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEAD + frames.iter().map(Vec::len).sum::<usize>());
    out.extend_from_slice(MAGIC);
    for v in [sealed_at_ms, from_lsn, to_lsn] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for f in frames {
        out.extend_from_slice(f);
    }
    out
}

/// Decodes a segment.
pub fn decode(data: &[u8]) -> Result<Segment, String> {
    if data.len() < HEAD || &data[..8] != MAGIC {
        return Err("not a region log segment".into());
    }
    let u = |i: usize| u64::from_le_bytes(data[8 + 8 * i..16 + 8 * i].try_into().unwrap());
    let records = wal::decode_frames(&data[HEAD..])?;
    Ok(Segment { sealed_at_ms: u(0), from_lsn: u(1), to_lsn: u(2), records })
}

/// The publishing loop.
pub async fn run(region: Arc<Region>, remote: Remote, wal_dir: PathBuf, wal: Wal) {
    let mut cursor = match Published::load(&region.dir) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "region: cannot read published.json; not publishing");
            return;
        }
    };
    let mut tick = tokio::time::interval(Duration::from_millis(region.cfg.publish_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if region.paused() {
            region.save_status();
            continue;
        }
        match publish_once(&region, &remote, &wal_dir, wal.watermark(), &mut cursor).await {
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, seq = cursor.seq, "region: publishing failed; retrying"),
        }
        {
            let mut s = region.status.lock().unwrap();
            s.next_segment = cursor.seq;
            s.published_lsn = cursor.lsn;
        }
        region.save_status();
    }
}

/// Publishes the records in `[cursor.lsn, until)` as the next segment. Returns
/// whether a segment was written.
pub async fn publish_once(
    region: &Region,
    remote: &Remote,
    wal_dir: &std::path::Path,
    until: u64,
    cursor: &mut Published,
) -> anyhow::Result<bool> {
    if until <= cursor.lsn {
        return Ok(false);
    }
    let (dir, from, id) = (wal_dir.to_path_buf(), cursor.lsn, region.id.clone());
    let (frames, max_hlc) = tokio::task::spawn_blocking(move || {
        let mut frames = Vec::new();
        let mut max_hlc = 0;
        wal::read_range(&dir, from, until, &mut |r| {
            if let Some(d) = &r.decided
                && let Some(o) = &d.origin
                && o.region == id
            {
                max_hlc = max_hlc.max(o.hlc);
                frames.push(wal::frame(&r.tenant, d, &r.body));
            }
        })
        .map(|()| (frames, max_hlc))
    })
    .await??;
    if frames.is_empty() {
        cursor.lsn = until;
        cursor.save(&region.dir)?;
        region.set_published(until);
        return Ok(false);
    }
    let bytes = encode(now_ms(), from, until, &frames);
    let path = remote.path(&segment_name(&region.id, cursor.seq));
    let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
    let put = remote.store.put_opts(&path, PutPayload::from(bytes), opts);
    let to = match tokio::time::timeout(REMOTE_TIMEOUT, put).await? {
        Ok(_) => {
            region.metrics.published.inc();
            tracing::info!(seq = cursor.seq, records = frames.len(), "region: log segment published");
            until
        }
        Err(object_store::Error::AlreadyExists { .. }) => {
            // Written before a crash that lost the cursor: continue after it.
            let get = async { remote.store.get(&path).await?.bytes().await };
            let there = tokio::time::timeout(REMOTE_TIMEOUT, get).await??;
            let seg = decode(&there).map_err(anyhow::Error::msg)?;
            if seg.from_lsn != from {
                anyhow::bail!(
                    "{path} exists and starts at log position {} (ours: {from}): two servers publish as region {}?",
                    seg.from_lsn,
                    region.id
                );
            }
            tracing::warn!(seq = cursor.seq, "region: segment already published (before a restart); moving past it");
            seg.to_lsn
        }
        Err(e) => return Err(e.into()),
    };
    cursor.seq += 1;
    cursor.lsn = to;
    cursor.hlc = cursor.hlc.max(max_hlc);
    cursor.save(&region.dir)?;
    region.set_published(to);
    Ok(true)
}
