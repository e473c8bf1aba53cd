//! Where each committed key's record is in the outcome log: key hash → sequence
//! number.
//!
//! The log table is keyed by sequence number, so that a commit appends to its last
//! pages instead of copying a leaf page per random key; finding a key's record needs
//! this map. It holds every key in the file, so a key it does not know is absent
//! without a read (every unique submission looks one up). An entry is 16 bytes;
//! distinct keys whose 64-bit hashes collide get an entry each, and the reader
//! compares the record's key.

use hashbrown::HashTable;

/// One shard's index.
#[derive(Default)]
pub(super) struct KeyIndex {
    table: HashTable<Entry>,
}

#[derive(Clone, Copy)]
struct Entry {
    hash: u64,
    seq: u64,
}

impl KeyIndex {
    /// Records that the log's record `seq` holds a key of `hash` (a well-mixed hash).
    pub(super) fn insert(&mut self, hash: u64, seq: u64) {
        self.table.insert_unique(hash, Entry { hash, seq }, |e| e.hash);
    }

    /// Forgets record `seq` (deleted from the log).
    pub(super) fn remove(&mut self, hash: u64, seq: u64) {
        if let Ok(e) = self.table.find_entry(hash, |e| e.hash == hash && e.seq == seq) {
            e.remove();
        }
    }

    /// The records that may hold the key of `hash`, newest first (most often none or
    /// one).
    pub(super) fn seqs(&self, hash: u64) -> Vec<u64> {
        let mut seqs: Vec<u64> = self.table.iter_hash(hash).filter(|e| e.hash == hash).map(|e| e.seq).collect();
        if seqs.len() > 1 {
            seqs.sort_unstable_by(|a, b| b.cmp(a));
        }
        seqs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_record_of_a_hash_newest_first_and_forgets_removed_ones() {
        let mut i = KeyIndex::default();
        assert!(i.seqs(7).is_empty());
        for seq in 0..10_000u64 {
            i.insert(seq.wrapping_mul(0x9E37_79B9_7F4A_7C15), seq);
        }
        // Two records of one hash: a collision, or a key's old and new record.
        i.insert(42, 3);
        i.insert(42, 9);
        assert_eq!(i.seqs(42), vec![9, 3]);
        i.remove(42, 9);
        assert_eq!(i.seqs(42), vec![3]);
        i.remove(42, 9); // twice: nothing happens
        assert_eq!(i.seqs(42), vec![3]);
        for seq in 0..10_000u64 {
            assert_eq!(i.seqs(seq.wrapping_mul(0x9E37_79B9_7F4A_7C15)), vec![seq]);
        }
        assert!(i.seqs(43).is_empty());
    }
}
