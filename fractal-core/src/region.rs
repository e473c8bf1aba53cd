//! Regions (SPEC §10): the hybrid logical clock every stored outcome carries, and the
//! order that picks the global winner of a key answered in more than one region.
//!
//! Pure: the caller passes the wall clock in, so the rules test without time.
//!
//! An HLC value is one `u64`: the high 48 bits are milliseconds since the Unix epoch,
//! the low 16 bits a logical counter. Values compare as integers, so "earlier" is `<`.
//!
//! ```
//! use fractal_core::region::{Hlc, Stamp};
//! let mut clock = Hlc::default();
//! let a = clock.tick(1_000);
//! let b = clock.tick(1_000); // same millisecond: the counter moves
//! assert!(a < b);
//! let eu = Stamp::new(a, "eu-west", b"record one");
//! let us = Stamp::new(b, "us-east", b"record two");
//! assert_eq!(fractal_core::region::winner(&eu, &us), &eu);
//! ```

use std::cmp::Ordering;

/// Bits of an HLC value that hold the logical counter.
pub const LOGICAL_BITS: u32 = 16;

/// The milliseconds part of an HLC value.
pub fn hlc_millis(hlc: u64) -> u64 {
    hlc >> LOGICAL_BITS
}

/// The HLC value of a wall-clock millisecond with counter 0.
pub fn hlc_from_millis(ms: u64) -> u64 {
    ms << LOGICAL_BITS
}

/// A hybrid logical clock: never goes backwards, follows the wall clock when it
/// can, and moves past every value it has observed (from a peer region's log).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hlc {
    last: u64,
}

impl Hlc {
    /// A clock that has already issued (or seen) `last`.
    pub fn starting_at(last: u64) -> Hlc {
        Hlc { last }
    }

    /// The largest value issued or observed so far.
    pub fn last(&self) -> u64 {
        self.last
    }

    /// A new value, greater than every value issued or observed before, at wall
    /// time `now_ms`.
    pub fn tick(&mut self, now_ms: u64) -> u64 {
        let wall = hlc_from_millis(now_ms);
        self.last = if wall > self.last { wall } else { self.last.saturating_add(1) };
        self.last
    }

    /// Takes a value seen elsewhere into account: later ticks are greater than it.
    pub fn observe(&mut self, seen: u64) {
        self.last = self.last.max(seen);
    }
}

/// Where and when an outcome was decided: `(accepted_at, region, SHA-256 of the
/// record bytes)`. The derived order is SPEC §10's: the smallest stamp wins.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Stamp {
    /// The hybrid logical clock value at acceptance.
    pub accepted_at: u64,
    /// The region that accepted the record.
    pub region: String,
    /// SHA-256 of the record bytes as submitted.
    pub record_sha256: [u8; 32],
}

impl Stamp {
    /// A stamp for `record` accepted at `accepted_at` in `region`.
    pub fn new(accepted_at: u64, region: &str, record: &[u8]) -> Stamp {
        Stamp { accepted_at, region: region.to_string(), record_sha256: crate::sha256(record) }
    }
}

/// The global winner of two stamps of one key: the smaller.
pub fn winner<'a>(a: &'a Stamp, b: &'a Stamp) -> &'a Stamp {
    if a <= b { a } else { b }
}

/// Whether an outcome stamped `candidate` replaces one stamped `stored`.
pub fn supersedes(candidate: &Stamp, stored: &Stamp) -> bool {
    candidate.cmp(stored) == Ordering::Less
}

/// Checks a region id: 1-64 bytes of `A-Z a-z 0-9 . _ -` (it names objects and
/// metric labels). Returns the reason otherwise.
pub fn check_region_id(id: &str) -> Result<(), &'static str> {
    if id.is_empty() || id.len() > 64 {
        return Err("must be 1-64 characters");
    }
    if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
        return Err("may hold only A-Z a-z 0-9 . _ -");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(at: u64, region: &str, sha: u8) -> Stamp {
        Stamp { accepted_at: at, region: region.into(), record_sha256: [sha; 32] }
    }

    #[test]
    fn the_clock_never_goes_back_and_passes_what_it_saw() {
        let mut c = Hlc::default();
        let a = c.tick(5_000);
        assert_eq!(a, hlc_from_millis(5_000));
        let b = c.tick(4_000); // the wall clock stepped back
        assert!(b > a);
        assert_eq!(hlc_millis(b), 5_000);
        c.observe(hlc_from_millis(9_000) + 7);
        let d = c.tick(6_000);
        assert_eq!(d, hlc_from_millis(9_000) + 8);
        assert_eq!(c.tick(10_000), hlc_from_millis(10_000), "the wall clock leads again once it is ahead");
        c.observe(1);
        assert!(c.tick(0) > hlc_from_millis(10_000), "observing the past changes nothing");
        assert_eq!(Hlc::starting_at(42).tick(0), 43);
    }

    #[test]
    fn the_global_winner_is_the_smallest_triple() {
        // accepted_at decides first, whatever the region or the record.
        assert!(supersedes(&stamp(1, "zz", 9), &stamp(2, "aa", 0)));
        // Then the region, bytewise.
        assert!(supersedes(&stamp(5, "eu-west", 9), &stamp(5, "us-east", 0)));
        assert!(!supersedes(&stamp(5, "us-east", 0), &stamp(5, "eu-west", 9)));
        // Then the record's hash.
        assert!(supersedes(&stamp(5, "eu", 1), &stamp(5, "eu", 2)));
        // A stamp never supersedes itself (importing twice changes nothing).
        assert!(!supersedes(&stamp(5, "eu", 1), &stamp(5, "eu", 1)));
        let (a, b) = (stamp(3, "b", 0), stamp(3, "a", 0));
        assert_eq!(winner(&a, &b), &b);
        assert_eq!(winner(&b, &a), &b, "the order does not depend on the argument order");
    }

    #[test]
    fn region_ids_name_objects_safely() {
        assert!(check_region_id("eu-west").is_ok());
        assert!(check_region_id("").is_err());
        assert!(check_region_id("eu/west").is_err());
        assert!(check_region_id(&"x".repeat(65)).is_err());
    }
}
