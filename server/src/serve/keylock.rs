//! Per-key async locks: requests for the same `(tenant, pcs_id)` run their "log
//! append → dedup lookup → store" section one at a time, so the order of their log
//! records is the order in which the store decided them, and a replay in log order
//! (first logged wins) restores exactly what was answered. Requests for different
//! keys never wait for each other: one entry per key currently locked, removed when
//! its last holder or waiter is gone.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

const SHARDS: usize = 64;

type Entry = Arc<tokio::sync::Mutex<()>>;

/// The lock table.
pub struct KeyLocks {
    shards: Vec<Mutex<HashMap<Vec<u8>, Entry>>>,
    hasher: RandomState,
}

/// Holds one key's lock; dropping it releases the key.
pub struct KeyGuard<'a> {
    locks: &'a KeyLocks,
    key: Vec<u8>,
    entry: Entry,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Default for KeyLocks {
    fn default() -> Self {
        KeyLocks { shards: (0..SHARDS).map(|_| Mutex::default()).collect(), hasher: RandomState::new() }
    }
}

impl KeyLocks {
    fn shard(&self, key: &[u8]) -> &Mutex<HashMap<Vec<u8>, Entry>> {
        &self.shards[self.hasher.hash_one(key) as usize % SHARDS]
    }

    /// Waits for the lock of `(tenant, pcs_id)`. Cancel-safe: a waiter dropped
    /// before it gets the lock leaves nothing behind.
    pub async fn lock(&self, tenant: &str, pcs_id: &str) -> KeyGuard<'_> {
        let mut key = Vec::with_capacity(tenant.len() + 1 + pcs_id.len());
        key.extend_from_slice(tenant.as_bytes());
        key.push(0);
        key.extend_from_slice(pcs_id.as_bytes());
        let entry = self.shard(&key).lock().unwrap().entry(key.clone()).or_default().clone();
        let mut g = KeyGuard { locks: self, key, entry, guard: None };
        // Declared after `g`, so a cancelled wait drops the future (and its reference
        // to the entry) before `g`, whose drop then removes an unused entry.
        let wait = g.entry.clone().lock_owned();
        g.guard = Some(wait.await);
        g
    }

    /// Keys with an entry (held or awaited).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap().len()).sum()
    }

    /// Whether no key is locked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut shard = self.locks.shard(&self.key).lock().unwrap();
        // The map holds one reference and this guard one: nobody else waits.
        if Arc::strong_count(&self.entry) == 2 && shard.get(&self.key).is_some_and(|e| Arc::ptr_eq(e, &self.entry)) {
            shard.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn same_key_is_exclusive_other_keys_are_not_and_entries_go_away() {
        let locks = Arc::new(KeyLocks::default());
        let a = locks.lock("t", "p").await;
        // Another key is free at once.
        let b = locks.lock("t", "q").await;
        drop(b);
        // The same key waits until the first guard is gone.
        let l2 = locks.clone();
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        let waiter = tokio::spawn(async move {
            let _g = l2.lock("t", "p").await;
            tx.send(()).unwrap();
        });
        tokio::task::yield_now().await;
        assert!(rx.try_recv().is_err(), "the second holder must wait");
        drop(a);
        waiter.await.unwrap();
        assert!(locks.is_empty(), "no entry outlives its holders");
        // A cancelled waiter leaves nothing behind.
        let g = locks.lock("t", "p").await;
        let l3 = locks.clone();
        let w = tokio::spawn(async move {
            let _g = l3.lock("t", "p").await;
        });
        tokio::task::yield_now().await;
        w.abort();
        let _ = w.await;
        drop(g);
        assert!(locks.is_empty());
    }
}
