//! The two handles with real state: a verifier holding keys and a policy, and
//! the consistent-hash ring (SPEC §7). Both are safe to share between threads:
//! reads take a shared lock, changes an exclusive one.

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use fractal_core::{ShardSpec, SignaturePolicy};

use crate::error::Res;
use crate::uint;

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    // A panic inside the core cannot leave these half-changed: every change is
    // one call that either fails first or completes.
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

/// A verifier's signature policy: accepted payload versions (`v1`, `v2`) and
/// the seed's legacy v1 encodings (`seed-python`, `seed-go`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Policy {
    /// `v1` and/or `v2`.
    pub versions: Vec<String>,
    /// `seed-python` and/or `seed-go` (only meaningful with `v1`).
    #[uniffi(default = [])]
    pub encodings: Vec<String>,
}

/// Which payload a valid signature was over.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SignatureMatch {
    /// 1 or 2.
    pub version: i32,
    /// The legacy encoding that matched (`seed-python`, `seed-go`), if any.
    pub encoding: Option<String>,
}

/// Holds verification keys and a signature policy (default: v2 only).
#[derive(Debug, uniffi::Object)]
pub struct Verifier {
    inner: RwLock<fractal_core::Verifier>,
}

#[uniffi::export]
impl Verifier {
    /// An empty verifier under `policy` (default: v2 only).
    #[uniffi::constructor(default(policy = None))]
    pub fn new(policy: Option<Policy>) -> Res<Arc<Self>> {
        let mut inner = fractal_core::Verifier::new();
        if let Some(p) = policy {
            inner.set_policy(SignaturePolicy::parse(&p.versions, &p.encodings)?);
        }
        Ok(Arc::new(Verifier { inner: RwLock::new(inner) }))
    }

    /// Sets the accepted versions and legacy encodings.
    pub fn set_policy(&self, policy: Policy) -> Res<()> {
        let p = SignaturePolicy::parse(&policy.versions, &policy.encodings)?;
        write(&self.inner).set_policy(p);
        Ok(())
    }

    /// The policy in force.
    pub fn policy(&self) -> Policy {
        let v = read(&self.inner);
        let p = v.policy();
        Policy {
            versions: p.versions.iter().map(|v| v.as_str().to_string()).collect(),
            encodings: p.encodings.iter().map(|e| e.as_str().to_string()).collect(),
        }
    }

    /// Adds an HMAC key (the secret's bytes).
    pub fn add_hmac_key(&self, key: Vec<u8>) -> Res<()> {
        write(&self.inner).add_hmac_key(&key)?;
        Ok(())
    }

    /// Adds an Ed25519 public key (base64).
    pub fn add_ed25519_public_key(&self, public_key: String) -> Res<()> {
        write(&self.inner).add_ed25519_public_key(&public_key)?;
        Ok(())
    }

    /// Adds a key as it travels: `hmac` and the secret, or `ed25519` and the
    /// base64 public key.
    pub fn add_key(&self, alg: String, key: String) -> Res<()> {
        let alg = fractal_core::Algorithm::parse(&alg)?;
        write(&self.inner).add_key(alg, &key)?;
        Ok(())
    }

    /// How many keys it holds.
    pub fn size(&self) -> i32 {
        i32::try_from(read(&self.inner).len()).unwrap_or(i32::MAX)
    }

    /// Checks a record's `sig` under the policy.
    pub fn verify(&self, record: String) -> Res<()> {
        let pcs = crate::record(&record)?;
        Ok(read(&self.inner).verify(&pcs)?)
    }

    /// Checks a record's `sig` under the policy; tells which payload matched.
    pub fn verify_detailed(&self, record: String) -> Res<SignatureMatch> {
        let pcs = crate::record(&record)?;
        let v = read(&self.inner);
        let (version, encoding) = v.verify_with(&pcs, v.policy())?;
        Ok(SignatureMatch {
            version: if version == fractal_core::SigVersion::V1 { 1 } else { 2 },
            encoding: encoding.map(|e| e.as_str().to_string()),
        })
    }

    /// Checks a read's `Authorization` header (SPEC §6.1) at unix time `now`
    /// (null: no header).
    pub fn verify_read(&self, tenant: String, pcs_id: String, authorization: Option<String>, now: i64) -> Res<()> {
        let now = uint(now, "now", u64::MAX)?;
        Ok(read(&self.inner).verify_read(&tenant, &pcs_id, authorization.as_deref(), now)?)
    }
}

/// A shard of a ring.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Shard {
    /// The shard's name.
    pub name: String,
    /// Weight ≥ 1.
    #[uniffi(default = 1)]
    pub weight: i32,
    /// Whether it takes keys.
    #[uniffi(default = true)]
    pub healthy: bool,
}

/// One key that changes owner between two rings.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Move {
    /// The key.
    pub key: String,
    /// Its owner before (null if no healthy shard owned it).
    pub from: Option<String>,
    /// Its owner after (null if no healthy shard owns it).
    pub to: Option<String>,
}

/// Counts of a ring.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RingStats {
    /// Shards.
    pub shards: i64,
    /// Healthy shards.
    pub healthy_shards: i64,
    /// Points on the ring.
    pub points: i64,
    /// Virtual nodes per unit of weight.
    pub vnodes: i32,
}

fn u32_arg(n: i32, name: &str) -> Res<u32> {
    Ok(uint(n.into(), name, u32::MAX.into())? as u32)
}

fn vnodes_arg(n: Option<i32>) -> Res<u32> {
    n.map_or(Ok(fractal_core::DEFAULT_VNODES), |n| u32_arg(n, "vnodes"))
}

/// The consistent-hash ring of SPEC §7.
#[derive(Debug, uniffi::Object)]
pub struct Ring {
    inner: RwLock<fractal_core::Ring>,
}

#[uniffi::export]
impl Ring {
    /// An empty ring with `vnodes` points per unit of weight (null: the core's default).
    #[uniffi::constructor(default(vnodes = None))]
    pub fn new(vnodes: Option<i32>) -> Res<Arc<Self>> {
        let ring = fractal_core::Ring::new(vnodes_arg(vnodes)?)?;
        Ok(Arc::new(Ring { inner: RwLock::new(ring) }))
    }

    /// A ring holding `shards`.
    #[uniffi::constructor(default(vnodes = None))]
    pub fn with_shards(shards: Vec<Shard>, vnodes: Option<i32>) -> Res<Arc<Self>> {
        let specs = shards
            .into_iter()
            .map(|s| Ok(ShardSpec { name: s.name, weight: u32_arg(s.weight, "weight")?, healthy: s.healthy }))
            .collect::<Res<Vec<_>>>()?;
        let ring = fractal_core::Ring::with_shards(vnodes_arg(vnodes)?, &specs)?;
        Ok(Arc::new(Ring { inner: RwLock::new(ring) }))
    }

    /// Adds a healthy shard.
    #[uniffi::method(default(weight = 1))]
    pub fn add_shard(&self, name: String, weight: i32) -> Res<()> {
        Ok(write(&self.inner).add_shard(&name, u32_arg(weight, "weight")?)?)
    }

    /// Removes a shard.
    pub fn remove_shard(&self, name: String) -> Res<()> {
        Ok(write(&self.inner).remove_shard(&name)?)
    }

    /// Marks a shard healthy or not.
    pub fn set_healthy(&self, name: String, healthy: bool) -> Res<()> {
        Ok(write(&self.inner).set_healthy(&name, healthy)?)
    }

    /// The shard owning `key` (its bytes).
    pub fn pick(&self, key: Vec<u8>) -> Res<String> {
        Ok(read(&self.inner).pick(&key)?.to_string())
    }

    /// `n` distinct healthy shards clockwise from `key`.
    pub fn pick_n(&self, key: Vec<u8>, n: i32) -> Res<Vec<String>> {
        let n = uint(n.into(), "n", u32::MAX.into())? as usize;
        Ok(read(&self.inner).pick_n(&key, n)?.into_iter().map(str::to_string).collect())
    }

    /// The keys whose owner differs between this ring and `after`.
    pub fn plan(&self, after: Arc<Ring>, keys: Vec<String>) -> Vec<Move> {
        // A copy of one side, so planning against itself takes no lock twice.
        let before = read(&self.inner).clone();
        let moves = before.plan(&read(&after.inner), keys.iter().map(String::as_str));
        moves.into_iter().map(|m| Move { key: m.key, from: m.from, to: m.to }).collect()
    }

    /// The shards, sorted by name.
    pub fn shards(&self) -> Vec<Shard> {
        read(&self.inner)
            .shards()
            .into_iter()
            .map(|s| Shard { name: s.name, weight: i32::try_from(s.weight).unwrap_or(i32::MAX), healthy: s.healthy })
            .collect()
    }

    /// Counts of shards, healthy shards and points.
    pub fn stats(&self) -> RingStats {
        let s = read(&self.inner).stats();
        let n = |x: usize| i64::try_from(x).unwrap_or(i64::MAX);
        RingStats {
            shards: n(s.shards),
            healthy_shards: n(s.healthy_shards),
            points: n(s.points),
            vnodes: i32::try_from(s.vnodes).unwrap_or(i32::MAX),
        }
    }
}
