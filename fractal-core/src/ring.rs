//! The consistent-hash ring (SPEC §7): weighted virtual nodes, health, `pick`,
//! `pick_n`, stats and migration plans.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// Default virtual nodes per unit of weight.
pub const DEFAULT_VNODES: u32 = 150;
/// Default weight of a shard (weights are ≥ 1).
pub const DEFAULT_WEIGHT: u32 = 1;

/// `h(bytes)`: big-endian u32 of the first 4 bytes of SHA-256.
pub fn ring_hash(bytes: &[u8]) -> u32 {
    let d = Sha256::digest(bytes);
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

#[derive(Debug, Clone)]
struct Shard {
    weight: u32,
    healthy: bool,
}

/// A consistent-hash ring. Mutations rebuild the point list; lookups are a binary
/// search. `Clone` it to plan a change; share it behind a lock to mutate it from
/// several threads (lookups take `&self`).
#[derive(Debug, Clone)]
pub struct Ring {
    vnodes: u32,
    shards: BTreeMap<String, Shard>,
    /// Sorted by (hash, shard name); the second element indexes `names`.
    points: Vec<(u32, u32)>,
    names: Vec<String>,
    healthy: Vec<bool>,
}

/// Counts describing a ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingStats {
    /// Number of shards.
    pub shards: usize,
    /// Number of healthy shards.
    pub healthy_shards: usize,
    /// Number of points on the ring.
    pub points: usize,
    /// Virtual nodes per unit of weight.
    pub vnodes: u32,
}

/// One key that changes owner between two rings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Move {
    /// The key.
    pub key: String,
    /// Its owner before the change (`None` if no healthy shard owned it).
    pub from: Option<String>,
    /// Its owner after the change (`None` if no healthy shard owns it).
    pub to: Option<String>,
}

/// A range of the hash circle whose owner changes between two rings: the keys `k`
/// with `ring_hash(k)` in `(start, end]`, wrapping past `u32::MAX` when `start ≥ end`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeMove {
    /// Exclusive start of the range.
    pub start: u32,
    /// Inclusive end of the range.
    pub end: u32,
    /// The owner before the change (`None` if no healthy shard owned it).
    pub from: Option<String>,
    /// The owner after the change (`None` if no healthy shard owns it).
    pub to: Option<String>,
}

/// A shard as described in configuration and golden vectors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardSpec {
    /// The shard's name.
    pub name: String,
    /// Weight ≥ 1 (default 1).
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Whether the shard is healthy (default true).
    #[serde(default = "yes")]
    pub healthy: bool,
}

impl ShardSpec {
    /// A shard with the defaults: weight [`DEFAULT_WEIGHT`], healthy. Hosts fill
    /// in what their caller gave over this.
    pub fn named(name: impl Into<String>) -> ShardSpec {
        ShardSpec { name: name.into(), weight: DEFAULT_WEIGHT, healthy: true }
    }
}

fn default_weight() -> u32 {
    DEFAULT_WEIGHT
}

fn yes() -> bool {
    true
}

impl Default for Ring {
    fn default() -> Self {
        Ring::new(DEFAULT_VNODES).expect("default vnodes are valid")
    }
}

impl Ring {
    /// An empty ring with `vnodes` virtual nodes per unit of weight (≥ 1).
    pub fn new(vnodes: u32) -> Result<Ring> {
        if vnodes == 0 {
            return Err(Error::arg("vnodes", "must be at least 1"));
        }
        Ok(Ring { vnodes, shards: BTreeMap::new(), points: Vec::new(), names: Vec::new(), healthy: Vec::new() })
    }

    /// A ring holding the given shards.
    ///
    /// ```
    /// use fractal_core::{Ring, ShardSpec};
    /// let shards = ["a", "b", "c"].map(|n| ShardSpec { name: n.into(), weight: 1, healthy: true });
    /// let ring = Ring::with_shards(150, &shards).unwrap();
    /// let owner = ring.pick(b"some-pcs-id").unwrap();
    /// assert!(["a", "b", "c"].contains(&owner));
    /// ```
    pub fn with_shards(vnodes: u32, shards: &[ShardSpec]) -> Result<Ring> {
        let mut ring = Ring::new(vnodes)?;
        for s in shards {
            ring.insert(&s.name, s.weight, s.healthy)?;
        }
        ring.rebuild();
        Ok(ring)
    }

    fn insert(&mut self, name: &str, weight: u32, healthy: bool) -> Result<()> {
        if name.is_empty() {
            return Err(Error::arg("shard", "name must not be empty"));
        }
        if weight == 0 {
            return Err(Error::arg("weight", "must be at least 1"));
        }
        if self.shards.contains_key(name) {
            return Err(Error::ring(format!("shard {name:?} is already on the ring")));
        }
        if (self.vnodes as u64) * (weight as u64) > 1 << 24 {
            return Err(Error::arg("weight", "vnodes × weight is too large"));
        }
        self.shards.insert(name.to_string(), Shard { weight, healthy });
        Ok(())
    }

    fn rebuild(&mut self) {
        self.names = self.shards.keys().cloned().collect();
        self.healthy = self.shards.values().map(|s| s.healthy).collect();
        let total: usize = self.shards.values().map(|s| (s.weight * self.vnodes) as usize).sum();
        let mut points = Vec::with_capacity(total);
        let mut label = String::new();
        for (idx, (name, s)) in self.shards.iter().enumerate() {
            for i in 0..s.weight * self.vnodes {
                label.clear();
                use std::fmt::Write as _;
                let _ = write!(label, "{name}#{i}");
                points.push((ring_hash(label.as_bytes()), idx as u32));
            }
        }
        // Names are indexed in sorted order, so (hash, index) orders as (hash, name).
        points.sort_unstable();
        self.points = points;
    }

    /// Adds a shard with a weight (≥ 1), healthy.
    pub fn add_shard(&mut self, name: &str, weight: u32) -> Result<()> {
        self.insert(name, weight, true)?;
        self.rebuild();
        Ok(())
    }

    /// Removes a shard.
    pub fn remove_shard(&mut self, name: &str) -> Result<()> {
        if self.shards.remove(name).is_none() {
            return Err(Error::ring(format!("no shard {name:?} on the ring")));
        }
        self.rebuild();
        Ok(())
    }

    /// Marks a shard healthy or unhealthy (its points stay; lookups walk past it).
    pub fn set_healthy(&mut self, name: &str, healthy: bool) -> Result<()> {
        let s = self.shards.get_mut(name).ok_or_else(|| Error::ring(format!("no shard {name:?} on the ring")))?;
        s.healthy = healthy;
        let idx = self.names.binary_search_by(|n| n.as_str().cmp(name)).expect("names mirror shards");
        self.healthy[idx] = healthy;
        Ok(())
    }

    /// The shards on the ring, in name order.
    pub fn shards(&self) -> Vec<ShardSpec> {
        self.shards
            .iter()
            .map(|(n, s)| ShardSpec { name: n.clone(), weight: s.weight, healthy: s.healthy })
            .collect()
    }

    /// Shard, healthy-shard and point counts.
    pub fn stats(&self) -> RingStats {
        RingStats {
            shards: self.shards.len(),
            healthy_shards: self.healthy.iter().filter(|h| **h).count(),
            points: self.points.len(),
            vnodes: self.vnodes,
        }
    }

    fn start(&self, key: &[u8]) -> usize {
        self.start_at(ring_hash(key))
    }

    fn start_at(&self, h: u32) -> usize {
        let i = self.points.partition_point(|p| p.0 < h);
        if i == self.points.len() { 0 } else { i }
    }

    /// The healthy shard that owns `key`: the first point at or after `h(key)`,
    /// walking clockwise past unhealthy shards.
    pub fn pick(&self, key: &[u8]) -> Result<&str> {
        self.pick_hash(ring_hash(key))
    }

    /// The healthy shard that owns the keys hashing to `h` (see [`Ring::pick`]).
    pub fn pick_hash(&self, h: u32) -> Result<&str> {
        if self.points.is_empty() {
            return Err(Error::ring("the ring has no shards"));
        }
        let start = self.start_at(h);
        let n = self.points.len();
        for k in 0..n {
            let idx = self.points[(start + k) % n].1 as usize;
            if self.healthy[idx] {
                return Ok(&self.names[idx]);
            }
        }
        Err(Error::ring("no healthy shard"))
    }

    /// `n` distinct healthy shards for `key`, in clockwise order from its point.
    pub fn pick_n(&self, key: &[u8], n: usize) -> Result<Vec<&str>> {
        if n == 0 {
            return Err(Error::arg("n", "must be at least 1"));
        }
        let mut out: Vec<&str> = Vec::with_capacity(n);
        if !self.points.is_empty() {
            let start = self.start(key);
            let len = self.points.len();
            let mut seen = vec![false; self.names.len()];
            for k in 0..len {
                let idx = self.points[(start + k) % len].1 as usize;
                if self.healthy[idx] && !seen[idx] {
                    seen[idx] = true;
                    out.push(&self.names[idx]);
                    if out.len() == n {
                        return Ok(out);
                    }
                }
            }
        }
        Err(Error::ring(format!("wanted {n} healthy shards, the ring has {}", out.len())))
    }

    /// For each key, whether its owner differs between `self` (before) and `after`;
    /// returns only the keys that move.
    pub fn plan<'k, I>(&self, after: &Ring, keys: I) -> Vec<Move>
    where
        I: IntoIterator<Item = &'k str>,
    {
        keys.into_iter()
            .filter_map(|k| {
                let from = self.pick(k.as_bytes()).ok();
                let to = after.pick(k.as_bytes()).ok();
                (from != to).then(|| Move { key: k.to_string(), from: from.map(String::from), to: to.map(String::from) })
            })
            .collect()
    }

    /// The ranges of the hash circle whose owner differs between `self` (before) and
    /// `after`, adjacent ranges with the same owners merged, in hash order. Every
    /// key [`Ring::plan`] returns hashes into exactly one of them.
    pub fn plan_ranges(&self, after: &Ring) -> Vec<RangeMove> {
        let mut bounds: Vec<u32> = self.points.iter().chain(&after.points).map(|p| p.0).collect();
        bounds.sort_unstable();
        bounds.dedup();
        let mut out: Vec<RangeMove> = Vec::new();
        let n = bounds.len();
        for j in 0..n {
            // Keys hashing into (bounds[j-1], bounds[j]] share their owners in both rings.
            let (start, end) = (bounds[(j + n - 1) % n], bounds[j]);
            let from = self.pick_hash(end).ok().map(String::from);
            let to = after.pick_hash(end).ok().map(String::from);
            if from == to {
                continue;
            }
            match out.last_mut() {
                Some(last) if last.end == start && last.from == from && last.to == to => last.end = end,
                _ => out.push(RangeMove { start, end, from, to }),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(names: &[&str]) -> Ring {
        let specs: Vec<ShardSpec> =
            names.iter().map(|n| ShardSpec { name: n.to_string(), weight: 1, healthy: true }).collect();
        Ring::with_shards(DEFAULT_VNODES, &specs).unwrap()
    }

    #[test]
    fn unhealthy_shards_are_skipped_and_pick_n_is_distinct() {
        let mut r = ring(&["a", "b", "c"]);
        let owner = r.pick(b"k").unwrap().to_string();
        r.set_healthy(&owner, false).unwrap();
        assert_ne!(r.pick(b"k").unwrap(), owner);
        let two = r.pick_n(b"k", 2).unwrap();
        assert_eq!(two.len(), 2);
        assert_ne!(two[0], two[1]);
        assert!(r.pick_n(b"k", 3).is_err());
    }

    #[test]
    fn adding_a_shard_moves_only_keys_to_it() {
        let before = ring(&["a", "b", "c"]);
        let mut after = before.clone();
        after.add_shard("d", 1).unwrap();
        let keys: Vec<String> = (0..2000).map(|i| format!("key-{i}")).collect();
        let moves = before.plan(&after, keys.iter().map(String::as_str));
        assert!(!moves.is_empty());
        assert!(moves.iter().all(|m| m.to.as_deref() == Some("d")));
        // Roughly a quarter of the keys move to the new shard.
        assert!(moves.len() > 300 && moves.len() < 700, "{}", moves.len());
    }

    #[test]
    fn range_plan_covers_exactly_the_moved_keys() {
        let before = ring(&["a", "b"]);
        let after = ring(&["a", "b", "c"]);
        let ranges = before.plan_ranges(&after);
        assert!(!ranges.is_empty() && ranges.iter().all(|r| r.to.as_deref() == Some("c")));
        let within = |h: u32, r: &RangeMove| {
            if r.start < r.end { h > r.start && h <= r.end } else { h > r.start || h <= r.end }
        };
        let keys: Vec<String> = (0..3000).map(|i| format!("key-{i}")).collect();
        let moved: std::collections::HashSet<String> =
            before.plan(&after, keys.iter().map(String::as_str)).into_iter().map(|m| m.key).collect();
        for k in &keys {
            let h = ring_hash(k.as_bytes());
            let hits: Vec<&RangeMove> = ranges.iter().filter(|r| within(h, r)).collect();
            assert!(hits.len() <= 1, "ranges overlap at {h}");
            assert_eq!(hits.len() == 1, moved.contains(k), "key {k}");
        }
        assert!(after.plan_ranges(&after).is_empty());
    }

    #[test]
    fn weights_scale_points() {
        let mut r = Ring::new(10).unwrap();
        r.add_shard("a", 1).unwrap();
        r.add_shard("b", 3).unwrap();
        assert_eq!(r.stats().points, 40);
        assert!(r.add_shard("a", 1).is_err());
        assert!(r.add_shard("z", 0).is_err());
        r.remove_shard("a").unwrap();
        assert_eq!(r.stats().points, 30);
    }
}
