//! `[[tenants]]` resolved: signature policy, keys, limits, CORS origins and tiers.

use std::collections::HashSet;

use anyhow::{Context, bail};
use fractal_core::{Algorithm, SignaturePolicy, Verifier, VerifyParams};

use super::{Config, DEFAULT_HOT_TTL_SECS, MAX_DEDUP_TTL_SECS, TenantFile, env, plain_id, read_secret_file};

/// A signature policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Signatures are not checked.
    None,
    /// Signatures are required with this algorithm.
    Require(Algorithm),
}

impl Policy {
    pub(super) fn parse(s: &str, what: &str) -> anyhow::Result<Policy> {
        match s {
            "none" => Ok(Policy::None),
            other => Algorithm::parse(other)
                .map(Policy::Require)
                .map_err(|_| anyhow::anyhow!("{what}: must be \"none\", \"hmac\" or \"ed25519\", not {other:?}")),
        }
    }

    /// `none`, `hmac` or `ed25519`.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::None => "none",
            Policy::Require(a) => a.as_str(),
        }
    }
}

/// A tenant ready to serve.
pub struct Tenant {
    /// Its id.
    pub id: String,
    /// Its signature policy.
    pub policy: Policy,
    /// Its keys (empty under [`Policy::None`]).
    pub verifier: Verifier,
    /// Requests per second, 0 for unlimited.
    pub rate: f64,
    /// Burst size.
    pub burst: f64,
    /// Submissions per UTC day, 0 for unlimited.
    pub daily_quota: u64,
    /// Its verification parameters.
    pub params: VerifyParams,
    /// Browser origins allowed to call the API as this tenant (CORS).
    pub cors_origins: Vec<String>,
    /// Its tier policy.
    pub tiers: TierPolicy,
}

/// Per-tenant tier policy (shared stores only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierPolicy {
    /// Seconds in the hot tier.
    pub hot_ttl_secs: u64,
    /// Seconds in the warm tier before demotion (when `cold`).
    pub warm_ttl_secs: u64,
    /// Whether old outcomes go to the cold archive.
    pub cold: bool,
}

impl std::fmt::Debug for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenant")
            .field("id", &self.id)
            .field("policy", &self.policy.as_str())
            .field("keys", &self.verifier.len())
            .field("rate", &self.rate)
            .field("burst", &self.burst)
            .field("daily_quota", &self.daily_quota)
            .finish()
    }
}

/// A tenant id travels in a header and keys the store: keep it plain.
fn check_tenant_id(id: &str) -> anyhow::Result<()> {
    if !plain_id(id) {
        bail!("tenant id {id:?}: must be 1-64 characters of A-Z a-z 0-9 . _ -");
    }
    Ok(())
}

impl Config {
    pub(super) fn tenant(t: TenantFile, default: Policy, seen: &mut HashSet<String>) -> anyhow::Result<Tenant> {
        check_tenant_id(&t.id)?;
        if !seen.insert(t.id.clone()) {
            bail!("tenant {:?} is configured twice", t.id);
        }
        let what = format!("tenant {:?}", t.id);
        let policy = match &t.algorithm {
            Some(a) => Policy::parse(a, &format!("{what}: algorithm"))?,
            None => default,
        };
        let mut keys: Vec<String> = t.keys;
        for p in &t.key_files {
            keys.push(read_secret_file(p).with_context(|| format!("{what}: key_files"))?);
        }
        for var in &t.key_env {
            keys.push(env(var).ok_or_else(|| anyhow::anyhow!("{what}: key_env {var} is not set"))?);
        }
        let mut verifier = Verifier::new();
        let versions = t.signature_versions.unwrap_or_else(|| vec!["v2".into()]);
        let sig_policy = SignaturePolicy::parse(&versions, &t.accept_encodings)
            .map_err(|e| anyhow::anyhow!("{what}: {}", e.to_string().replace("argument ", "")))?;
        if !sig_policy.encodings.is_empty() && !sig_policy.accepts(fractal_core::SigVersion::V1) {
            bail!("{what}: accept_encodings needs \"v1\" in signature_versions (the encodings are of v1 signatures)");
        }
        verifier.set_policy(sig_policy);
        match policy {
            Policy::None => {
                if !keys.is_empty() {
                    bail!("{what}: keys are given but its signature policy is \"none\"");
                }
            }
            Policy::Require(alg) => {
                if keys.is_empty() {
                    bail!("{what}: signature policy {:?} needs at least one key", alg.as_str());
                }
                for (i, k) in keys.iter().enumerate() {
                    // The error names the key's position, never its value.
                    verifier.add_key(alg, k).map_err(|e| anyhow::anyhow!("{what}: key #{}: {e}", i + 1))?;
                }
            }
        }
        let rate = t.rate.unwrap_or(0.0);
        if !rate.is_finite() || rate < 0.0 {
            bail!("{what}: rate must be a non-negative number");
        }
        let burst = t.burst.unwrap_or(if rate > 0.0 { rate.max(1.0) } else { 0.0 });
        if !burst.is_finite() || burst < 0.0 || (rate > 0.0 && burst < 1.0) {
            bail!("{what}: burst must be at least 1 when a rate is set");
        }
        let params = t.verify.unwrap_or_default();
        params.check().map_err(|e| anyhow::anyhow!("{what}: verify: {e}"))?;
        for o in &t.cors_origins {
            let host = o.strip_prefix("https://").or_else(|| o.strip_prefix("http://")).unwrap_or("");
            if host.is_empty() || host.contains(['/', '*', ' ', ',']) || !o.is_ascii() {
                bail!("{what}: cors_origins: {o:?} is not an origin like \"https://app.example\" (scheme://host[:port])");
            }
        }
        let cors_origins = t.cors_origins;
        let tiers = TierPolicy { hot_ttl_secs: DEFAULT_HOT_TTL_SECS, warm_ttl_secs: MAX_DEDUP_TTL_SECS, cold: false };
        Ok(Tenant { id: t.id, policy, verifier, rate, burst, daily_quota: t.daily_quota.unwrap_or(0), params, cors_origins, tiers })
    }
}
