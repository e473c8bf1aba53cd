//! The dedup store: one stored outcome per `(tenant, pcs_id)`, first write wins.
//!
//! The handler only sees the [`OutcomeStore`] trait, so a shared tier (Redis,
//! PostgreSQL, object storage) or a sharded store can replace the embedded one
//! without touching it. The embedded default is [`RedbStore`] (in `store/embedded.rs`).

use std::time::{SystemTime, UNIX_EPOCH};

mod embedded;
pub use embedded::{ErrorObserver, FAIL_COMMITS_ENV, RedbStore, StoreWriter, downgrade_to_v1};

/// A stored answer: the status and the exact body first sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// 200 or 202.
    pub status: u16,
    /// The VerifyResult JSON, byte for byte.
    pub body: Vec<u8>,
    /// Seconds since the Unix epoch after which the outcome counts as absent.
    pub expires_at: u64,
    /// Regions on: `(accepted_at, region, record sha256)` of the answer (SPEC §10).
    pub stamp: Option<fractal_core::region::Stamp>,
}

/// What [`OutcomeStore::put_if_absent`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Put {
    /// This outcome is now the stored one.
    Inserted(Outcome),
    /// Another outcome was there first; it stays.
    Existing(Outcome),
}

/// A store error: the request fails closed with 503 and the log keeps the record.
#[derive(Debug, thiserror::Error)]
#[error("outcome store: {0}")]
pub struct StoreError(pub String);

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

/// The dedup store seen by the handler.
pub trait OutcomeStore: Send + Sync + 'static {
    /// The unexpired outcome of `(tenant, pcs_id)`, if any.
    fn get(&self, tenant: &str, pcs_id: &str) -> impl Future<Output = Result<Option<Outcome>, StoreError>> + Send;
    /// Stores `outcome` unless an unexpired one is there; atomic: of concurrent
    /// callers exactly one inserts and all get the winner.
    fn put_if_absent(
        &self,
        tenant: &str,
        pcs_id: &str,
        outcome: Outcome,
    ) -> impl Future<Output = Result<Put, StoreError>> + Send;
    /// `Ok` when the store answers reads and takes writes.
    fn health(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// [`OutcomeStore::lookup`], if the store can answer it without a round trip to
    /// another process, so that a submission may ask before it is judged. `None`
    /// says nothing (the outcome may still be stored): the default, and what a
    /// failed read gives.
    fn peek(&self, tenant: &str, pcs_id: &str) -> Option<Result<Outcome, Absent>> {
        let _ = (tenant, pcs_id);
        None
    }

    /// A cheap hint: `false` while the store is known to be failing, so that a
    /// submission is refused before it is logged. Defaults to `true`.
    fn accepting(&self) -> bool {
        true
    }

    /// [`OutcomeStore::accepting`] for one key: a sharded store says `false` while
    /// the key's owning shard is down (other keys go on). Defaults to `accepting()`.
    fn accepting_for(&self, tenant: &str, pcs_id: &str) -> bool {
        let _ = (tenant, pcs_id);
        self.accepting()
    }

    /// `/ready`: whether to answer 200, and the JSON body (per shard where there
    /// are shards). Defaults to [`OutcomeStore::health`].
    fn readiness(&self) -> impl Future<Output = (bool, serde_json::Value)> + Send {
        async move {
            match self.health().await {
                Ok(()) => (true, serde_json::json!({ "status": "ready" })),
                Err(e) => {
                    tracing::warn!(error = %e, "readiness check failed");
                    (false, serde_json::json!({ "error": { "code": "store_unavailable", "message": "the outcome store is not answering" } }))
                }
            }
        }
    }

    /// [`OutcomeStore::get`], and when there is no outcome, an [`Absent`] that a
    /// following [`OutcomeStore::put_if_absent_seen`] of the same key may use to skip
    /// looking again.
    fn lookup(
        &self,
        tenant: &str,
        pcs_id: &str,
    ) -> impl Future<Output = Result<Result<Outcome, Absent>, StoreError>> + Send {
        async move { Ok(self.get(tenant, pcs_id).await?.ok_or(Absent::UNKNOWN)) }
    }

    /// [`OutcomeStore::put_if_absent`] after a [`OutcomeStore::lookup`] of the same key
    /// found nothing; same atomicity.
    fn put_if_absent_seen(
        &self,
        tenant: &str,
        pcs_id: &str,
        outcome: Outcome,
        seen: Absent,
    ) -> impl Future<Output = Result<Put, StoreError>> + Send {
        let _ = seen;
        self.put_if_absent(tenant, pcs_id, outcome)
    }

    /// Stores an outcome from a region's log by SPEC §10's global order (see
    /// [`RedbStore::merge_stamped`]). A store without stamps: first write wins.
    fn merge(&self, tenant: &str, pcs_id: &str, outcome: Outcome) -> impl Future<Output = Result<Merged, StoreError>> + Send {
        async move {
            Ok(match self.put_if_absent(tenant, pcs_id, outcome).await? {
                Put::Inserted(_) => Merged::Inserted,
                Put::Existing(o) => Merged::Kept(o),
            })
        }
    }
}

/// What a store knew when [`OutcomeStore::lookup`] found no outcome (opaque; a store
/// may ignore it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Absent {
    /// The key's hash and its pending shard's removal count at the lookup.
    seen: Option<(u64, u64)>,
}

impl Absent {
    /// Nothing known: the put looks everywhere.
    pub const UNKNOWN: Absent = Absent { seen: None };
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

fn key(tenant: &str, pcs_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(tenant.len() + 1 + pcs_id.len());
    k.extend_from_slice(tenant.as_bytes());
    k.push(0);
    k.extend_from_slice(pcs_id.as_bytes());
    k
}

/// Marks a stored value that carries a region stamp.
const STAMPED: u64 = 1 << 63;

pub(crate) fn encode(o: &Outcome) -> Vec<u8> {
    let mut v = Vec::with_capacity(50 + o.body.len());
    let expiry = o.expires_at & !STAMPED;
    match &o.stamp {
        None => {
            v.extend_from_slice(&expiry.to_le_bytes());
            v.extend_from_slice(&o.status.to_le_bytes());
        }
        Some(s) => {
            v.extend_from_slice(&(expiry | STAMPED).to_le_bytes());
            v.extend_from_slice(&o.status.to_le_bytes());
            v.extend_from_slice(&s.accepted_at.to_le_bytes());
            v.extend_from_slice(&s.record_sha256);
            v.push(s.region.len().min(255) as u8);
            v.extend_from_slice(&s.region.as_bytes()[..s.region.len().min(255)]);
        }
    }
    v.extend_from_slice(&o.body);
    v
}

pub(crate) fn decode(v: &[u8]) -> Option<Outcome> {
    if v.len() < 10 {
        return None;
    }
    let head = u64::from_le_bytes(v[0..8].try_into().ok()?);
    let status = u16::from_le_bytes(v[8..10].try_into().ok()?);
    if head & STAMPED == 0 {
        return Some(Outcome { expires_at: head, status, body: v[10..].to_vec(), stamp: None });
    }
    let accepted_at = u64::from_le_bytes(v.get(10..18)?.try_into().ok()?);
    let record_sha256: [u8; 32] = v.get(18..50)?.try_into().ok()?;
    let rlen = *v.get(50)? as usize;
    let region = String::from_utf8(v.get(51..51 + rlen)?.to_vec()).ok()?;
    Some(Outcome {
        expires_at: head & !STAMPED,
        status,
        body: v[51 + rlen..].to_vec(),
        stamp: Some(fractal_core::region::Stamp { accepted_at, region, record_sha256 }),
    })
}

fn expiry_of(v: &[u8]) -> u64 {
    v.get(0..8).map(|b| u64::from_le_bytes(b.try_into().unwrap()) & !STAMPED).unwrap_or(0)
}

/// What [`RedbStore::merge`] did with an outcome from a region's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merged {
    /// The key was absent: the outcome is now stored.
    Inserted,
    /// The stored outcome stays (it is earlier in the global order, or the same).
    Kept(Outcome),
    /// The outcome superseded this earlier-stored one (SPEC §10).
    Replaced(Outcome),
}
