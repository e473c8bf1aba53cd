//! Divergence between regions, measured without shipping keys (SPEC §10).
//!
//! Per shard, a digest is 256 buckets (by the first byte of SHA-256 of the key); a
//! bucket holds the number of unexpired keys and the XOR of one 64-bit hash per key
//! over `(tenant, pcs_id, status, VerifyResult, stamp)`. Two regions whose stores hold
//! the same keys with the same outcomes have equal digests. Comparing buckets gives a
//! lower bound of the divergence: `missing` sums the count differences, `differs`
//! counts the buckets with equal counts and different hashes. Exact whenever the
//! diverging keys fall in different buckets, and zero exactly when the digests agree.
//!
//! The embedded store is one shard, named `0`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use object_store::{ObjectStoreExt as _, PutPayload};
use serde::{Deserialize, Serialize};

use super::{Region, Remote, digest_name, now_ms};
use crate::serve::Backend;
use crate::serve::store::Outcome;

const BUCKETS: usize = 256;
const REMOTE_TIMEOUT: Duration = Duration::from_secs(30);

/// One shard's buckets.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ShardDigest {
    /// Keys per bucket.
    pub counts: Vec<u64>,
    /// XOR of the key hashes per bucket.
    pub hashes: Vec<u64>,
}

impl Default for ShardDigest {
    fn default() -> Self {
        ShardDigest { counts: vec![0; BUCKETS], hashes: vec![0; BUCKETS] }
    }
}

/// A region's digest.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Digest {
    /// The region.
    pub region: String,
    /// When it was computed (ms since the epoch).
    pub at_ms: u64,
    /// By shard.
    pub shards: BTreeMap<String, ShardDigest>,
}

impl Digest {
    /// Adds one stored outcome.
    pub fn add(&mut self, shard: &str, tenant: &str, pcs_id: &str, o: &Outcome) {
        let key = [tenant.as_bytes(), b"\0", pcs_id.as_bytes()].concat();
        let bucket = fractal_core::sha256(&key)[0] as usize;
        let mut h = key;
        h.push(0);
        h.extend_from_slice(&o.status.to_le_bytes());
        h.extend_from_slice(&o.body);
        if let Some(s) = &o.stamp {
            h.extend_from_slice(&s.accepted_at.to_le_bytes());
            h.extend_from_slice(s.region.as_bytes());
            h.extend_from_slice(&s.record_sha256);
        }
        let x = u64::from_le_bytes(fractal_core::sha256(&h)[..8].try_into().unwrap());
        let d = self.shards.entry(shard.to_string()).or_default();
        d.counts[bucket] += 1;
        d.hashes[bucket] ^= x;
    }

    /// Divergence from `other` per shard: (missing, differs), lower bounds.
    pub fn compare(&self, other: &Digest) -> BTreeMap<String, (u64, u64)> {
        let empty = ShardDigest::default();
        let mut out = BTreeMap::new();
        for shard in self.shards.keys().chain(other.shards.keys()) {
            let a = self.shards.get(shard).unwrap_or(&empty);
            let b = other.shards.get(shard).unwrap_or(&empty);
            let (mut missing, mut differs) = (0, 0);
            for i in 0..BUCKETS {
                let (ca, cb) = (a.counts.get(i).copied().unwrap_or(0), b.counts.get(i).copied().unwrap_or(0));
                if ca != cb {
                    missing += ca.abs_diff(cb);
                } else if a.hashes.get(i) != b.hashes.get(i) {
                    differs += 1;
                }
            }
            out.insert(shard.clone(), (missing, differs));
        }
        out
    }
}

/// Computes this region's digest from its store.
pub async fn compute(region: &str, store: &Backend) -> anyhow::Result<Digest> {
    let Backend::Embedded(s) = store else { anyhow::bail!("regions need the embedded store") };
    let (s, region) = (s.clone(), region.to_string());
    Ok(tokio::task::spawn_blocking(move || {
        let mut d = Digest { region, at_ms: now_ms(), shards: BTreeMap::new() };
        d.shards.insert("0".into(), ShardDigest::default());
        s.for_each(|t, p, o| d.add("0", t, p, o)).map(|()| d)
    })
    .await??)
}

/// Reads every peer's published digest.
pub async fn peer_digests(region: &str, remote: &Remote) -> anyhow::Result<Vec<Digest>> {
    use futures_util::TryStreamExt as _;
    let list = remote.store.list(Some(&remote.path("digest"))).try_collect::<Vec<_>>();
    let metas = tokio::time::timeout(REMOTE_TIMEOUT, list).await??;
    let mut out = Vec::new();
    for m in metas {
        let Some(name) = m.location.filename().and_then(|f| f.strip_suffix(".json")) else { continue };
        if name == region {
            continue;
        }
        let get = async { remote.store.get(&m.location).await?.bytes().await };
        let b = tokio::time::timeout(REMOTE_TIMEOUT, get).await??;
        match serde_json::from_slice::<Digest>(&b) {
            Ok(d) if d.region == name => out.push(d),
            _ => tracing::warn!(object = %m.location, "region: a peer digest does not parse; ignored"),
        }
    }
    Ok(out)
}

/// One pass: publish ours, compare with every peer's, set the gauges.
pub async fn once(region: &Region, remote: &Remote, store: &Backend) -> anyhow::Result<()> {
    let ours = compute(&region.id, store).await?;
    let path = remote.path(&digest_name(&region.id));
    let put = remote.store.put(&path, PutPayload::from(serde_json::to_vec(&ours)?));
    tokio::time::timeout(REMOTE_TIMEOUT, put).await??;
    for peer in peer_digests(&region.id, remote).await? {
        let cmp = ours.compare(&peer);
        let mut s = region.status.lock().unwrap();
        let p = s.peers.entry(peer.region.clone()).or_default();
        p.digest_at_ms = peer.at_ms;
        for (shard, (missing, differs)) in cmp {
            region.metrics.divergence.with_label_values(&[&peer.region, &shard, "missing"]).set(missing as i64);
            region.metrics.divergence.with_label_values(&[&peer.region, &shard, "differs"]).set(differs as i64);
            p.divergence_missing.insert(shard.clone(), missing);
            p.divergence_differs.insert(shard, differs);
        }
    }
    Ok(())
}

/// The digest loop (runs while shipping is paused too: a partition shows).
pub async fn run(region: Arc<Region>, remote: Remote, store: Backend) {
    let mut tick = tokio::time::interval(Duration::from_millis(region.cfg.digest_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = once(&region, &remote, &store).await {
            tracing::warn!(error = %e, "region: divergence digest failed");
        }
        region.save_status();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fractal_core::region::Stamp;

    fn o(body: &str, at: u64) -> Outcome {
        Outcome { status: 200, body: body.into(), expires_at: u64::MAX >> 2, stamp: Some(Stamp::new(at, "eu", b"r")) }
    }

    #[test]
    fn equal_stores_have_equal_digests_and_differences_are_counted() {
        let (mut a, mut b) = (Digest::default(), Digest::default());
        for i in 0..50 {
            a.add("0", "t", &format!("k{i}"), &o("{}", i));
            b.add("0", "t", &format!("k{i}"), &o("{}", i));
        }
        assert_eq!(a.compare(&b).get("0"), Some(&(0, 0)));
        a.add("0", "t", "only-in-a", &o("{}", 1));
        b.add("0", "t", "both", &o("{\"x\":1}", 1));
        a.add("0", "t", "both", &o("{\"x\":2}", 1));
        assert_eq!(a.compare(&b).get("0"), Some(&(1, 1)));
        assert_eq!(b.compare(&a).get("0"), Some(&(1, 1)), "symmetric");
    }
}
