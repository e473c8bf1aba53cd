//! Which keys the store may hold, so that looking up a key it has never seen (every
//! unique submission does) needs no redb read transaction.
//!
//! A Bloom filter of key hashes, grown in layers: a filter's size is fixed when it
//! is made, and the number of keys is not known in advance, so when the newest
//! layer is full a new one twice its size takes the inserts, and a key may be in any
//! layer. A filter never forgets a key (expired and swept ones included: they only
//! cost a redb read, as every lookup did before), so a "no" is always right.

use fastbloom::BloomFilter;

/// Keys the first layer of a shard is sized for; each further layer doubles it.
const FIRST_LAYER: usize = 1024;
/// False positives of a full layer (each costs one redb read).
const FALSE_POSITIVES: f64 = 0.005;

/// One shard's filter.
#[derive(Default)]
pub(super) struct KeyFilter {
    layers: Vec<Layer>,
}

struct Layer {
    bloom: BloomFilter,
    len: usize,
    capacity: usize,
}

impl KeyFilter {
    /// Records the key of `hash` (a well-mixed 64-bit hash of the key).
    pub(super) fn insert(&mut self, hash: u64) {
        let full = self.layers.last().is_none_or(|l| l.len >= l.capacity);
        if full {
            let capacity = self.layers.last().map_or(FIRST_LAYER, |l| l.capacity * 2);
            let bloom = BloomFilter::with_false_pos(FALSE_POSITIVES).expected_items(capacity);
            self.layers.push(Layer { bloom, len: 0, capacity });
        }
        let layer = self.layers.last_mut().expect("a layer was just ensured");
        layer.bloom.insert_hash(hash);
        layer.len += 1;
    }

    /// `false` when the key of `hash` was certainly never inserted.
    pub(super) fn may_contain(&self, hash: u64) -> bool {
        self.layers.iter().any(|l| l.bloom.contains_hash(hash))
    }
}

#[cfg(test)]
mod tests {
    use std::hash::{BuildHasher, RandomState};

    use super::*;

    #[test]
    fn never_forgets_a_key_across_layers_and_mostly_refuses_others() {
        let h = RandomState::new();
        let mut f = KeyFilter::default();
        assert!(!f.may_contain(h.hash_one(0u64)), "an empty filter holds nothing");
        // Enough keys for five layers (1024 + 2048 + 4096 + 8192 + ...).
        let n = 20_000u64;
        for i in 0..n {
            f.insert(h.hash_one(i));
        }
        assert_eq!(f.layers.len(), 5);
        assert!((0..n).all(|i| f.may_contain(h.hash_one(i))), "no false negative");
        let false_positives = (n..2 * n).filter(|i| f.may_contain(h.hash_one(i))).count();
        // Each full layer errs on ~0.5% of unknown keys; five of them at most ~2.5%.
        assert!(false_positives < (n as usize) * 4 / 100, "{false_positives} false positives of {n}");
    }
}
