//! Importing the peers' logs: each peer's segments in sequence order, each record
//! logged here (durable) and then stored by SPEC §10's global order.
//!
//! Per record, under the key's lock (the one submissions take): read the stored
//! outcome; if the peer's record supersedes an answer of *this* region with another
//! answer, write the conflict (fsync, once); append the record to the local log (so
//! a restart replays it: the merged log replays to the same store); store it by the
//! global order; audit the new stored outcome. The peer's cursor moves after the
//! whole segment, so a crash re-imports it, and every step above is idempotent.

use std::sync::Arc;
use std::time::Duration;

use fractal_core::region::{Stamp, hlc_millis, supersedes};
use object_store::ObjectStoreExt as _;

use super::state::{Answer, Conflict, Imported};
use super::{Region, Remote, now_ms, publish, segment_name};
use crate::serve::Backend;
use crate::serve::http::App;
use crate::serve::store::{Merged, Outcome, OutcomeStore, Put, now_secs};
use crate::serve::wal::{Record, Wal};

const REMOTE_TIMEOUT: Duration = Duration::from_secs(30);

/// The importing loop.
pub async fn run(
    region: Arc<Region>,
    remote: Remote,
    wal: Wal,
    store: Backend,
    app: Arc<App<Backend>>,
    audit: Option<crate::serve::audit::Audit>,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(region.cfg.import_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // When each peer was last caught up with (since the start, at first): the lag is
    // the time since, so it grows while the peer cannot be read, while this region
    // is paused, or while it falls behind, and is 0 right after a complete import.
    let started = now_ms();
    let mut caught_up: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    loop {
        tick.tick().await;
        let set_lag = |peer: &str, at: u64| {
            let lag = now_ms().saturating_sub(at) as f64 / 1000.0;
            region.metrics.lag.with_label_values(&[peer]).set(lag);
            region.status.lock().unwrap().peers.entry(peer.to_string()).or_default().lag_seconds = lag;
        };
        let peers = if region.paused() {
            Err(anyhow::anyhow!("paused"))
        } else {
            peers(&region, &remote)
                .await
                .inspect_err(|e| tracing::warn!(error = %e, "region: listing peer regions failed"))
        };
        let Ok(peers) = peers else {
            let known: Vec<String> = region.status.lock().unwrap().peers.keys().cloned().collect();
            for p in known {
                set_lag(&p, *caught_up.get(&p).unwrap_or(&started));
            }
            region.save_status();
            continue;
        };
        for peer in peers {
            match import_peer(&region, &remote, &peer, &wal, &store, &app, audit.as_ref()).await {
                Ok(()) => {
                    caught_up.insert(peer.clone(), now_ms());
                    region.metrics.lag.with_label_values(&[&peer]).set(0.0);
                    region.status.lock().unwrap().peers.entry(peer.clone()).or_default().lag_seconds = 0.0;
                }
                Err(e) => {
                    tracing::warn!(error = %e, peer = %peer, "region: import failed; retrying");
                    set_lag(&peer, *caught_up.get(&peer).unwrap_or(&started));
                }
            }
        }
        region.save_status();
    }
}

/// The regions that published a log, other than this one.
pub async fn peers(region: &Region, remote: &Remote) -> anyhow::Result<Vec<String>> {
    let prefix = remote.path("log");
    let list = remote.store.list_with_delimiter(Some(&prefix));
    let l = tokio::time::timeout(REMOTE_TIMEOUT, list).await??;
    Ok(l.common_prefixes
        .iter()
        .filter_map(|p| p.filename().map(str::to_string))
        .filter(|p| *p != region.id && fractal_core::region::check_region_id(p).is_ok())
        .collect())
}

/// Reads a peer's segment `seq`; `None` when it is not published (yet).
pub async fn fetch(remote: &Remote, peer: &str, seq: u64) -> anyhow::Result<Option<publish::Segment>> {
    let path = remote.path(&segment_name(peer, seq));
    let get = async { remote.store.get(&path).await?.bytes().await };
    match tokio::time::timeout(REMOTE_TIMEOUT, get).await? {
        Ok(b) => Ok(Some(publish::decode(&b).map_err(|e| anyhow::anyhow!("{path}: {e}"))?)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn import_peer(
    region: &Region,
    remote: &Remote,
    peer: &str,
    wal: &Wal,
    store: &Backend,
    app: &App<Backend>,
    audit: Option<&crate::serve::audit::Audit>,
) -> anyhow::Result<()> {
    let mut cursor = Imported::load(&region.dir, peer)?;
    loop {
        let Some(seg) = fetch(remote, peer, cursor.seq).await? else {
            let mut s = region.status.lock().unwrap();
            s.peers.entry(peer.to_string()).or_default().next_segment = cursor.seq;
            return Ok(());
        };
        let mut n = 0u64;
        for rec in seg.records {
            if apply(region, peer, rec, wal, store, app, audit).await? {
                n += 1;
            }
        }
        region.metrics.imported.with_label_values(&[peer]).inc_by(n);
        cursor.seq += 1;
        cursor.save(&region.dir, peer)?;
        let mut s = region.status.lock().unwrap();
        let p = s.peers.entry(peer.to_string()).or_default();
        p.next_segment = cursor.seq;
        p.imported_records += n;
    }
}

fn answer(o: &Outcome) -> Answer {
    let s = o.stamp.clone().unwrap_or_else(|| Stamp { accepted_at: 0, region: String::new(), record_sha256: [0; 32] });
    Answer {
        region: s.region,
        accepted_at: s.accepted_at,
        record_sha256: fractal_core::hex(&s.record_sha256),
        status: o.status,
        result: serde_json::from_slice(&o.body).unwrap_or(serde_json::Value::Null),
    }
}

/// Imports one record of `peer`. Returns whether it was new here (logged).
async fn apply(
    region: &Region,
    peer: &str,
    rec: Record,
    wal: &Wal,
    store: &Backend,
    app: &App<Backend>,
    audit: Option<&crate::serve::audit::Audit>,
) -> anyhow::Result<bool> {
    let Some(d) = rec.decided else { return Ok(false) };
    let Some(origin) = d.origin.clone() else { return Ok(false) };
    if origin.region != peer {
        return Ok(false);
    }
    region.observe(origin.hlc);
    if d.expires_at <= now_secs() {
        return Ok(false);
    }
    let stamp = Stamp::new(origin.hlc, &origin.region, &rec.body);
    let candidate =
        Outcome { status: d.status, body: d.outcome.clone(), expires_at: d.expires_at, stamp: Some(stamp.clone()) };
    let _key = app.key_locks().lock(&rec.tenant, &d.pcs_id).await;
    let current = store.get(&rec.tenant, &d.pcs_id).await?;
    if let Some(cur) = &current {
        match &cur.stamp {
            Some(s) if *s == stamp => return Ok(false), // imported before
            // This region's answer loses to another answer: on record before the store changes.
            Some(s)
                if supersedes(&stamp, s)
                    && s.region == region.id
                    && (cur.status, &cur.body) != (candidate.status, &candidate.body) =>
            {
                let c = Conflict {
                    tenant: rec.tenant.clone(),
                    pcs_id: d.pcs_id.clone(),
                    superseded: answer(cur),
                    winner: answer(&candidate),
                };
                if region.record_conflict(&c)? {
                    tracing::warn!(peer = %peer, "region: an answer of this region was superseded by an earlier one (see fractal region conflicts)");
                }
            }
            _ => {}
        }
    }
    let ticket = wal.append(&rec.tenant, &d, &rec.body).await?;
    let merged = store.merge(&rec.tenant, &d.pcs_id, candidate.clone()).await?;
    if let Some(a) = audit
        && !matches!(merged, Merged::Kept(_))
    {
        let sha = fractal_core::hex(&stamp.record_sha256);
        let at = hlc_millis(origin.hlc) / 1000;
        a.replayed(ticket.lsn(), &rec.tenant, &d.pcs_id, &candidate, &Put::Inserted(candidate.clone()), &sha, at).await;
    }
    drop(ticket);
    Ok(true)
}
