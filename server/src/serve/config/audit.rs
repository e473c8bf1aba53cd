//! `[audit]`: the tamper-evident audit log (SPEC §11).

use std::path::Path;

use anyhow::{Context, bail};

use super::{AuditFile, Config, Secret, bounded, env, object_store_url, plain_id, read_secret_file};

/// The resolved `[audit]` settings.
#[derive(Debug, Clone)]
pub struct Audit {
    /// The seal-signing key (never printed).
    pub key: Secret<fractal_core::Ed25519Keypair>,
    /// Object-store URL of the sealed segments.
    pub url: String,
    /// `region` of the entries.
    pub region: String,
    /// Entries per segment at most.
    pub seal_entries: u64,
    /// Seconds a non-empty segment stays open at most.
    pub seal_secs: u64,
    /// Queue capacity.
    pub queue: usize,
}

impl Config {
    /// `[audit]`: off unless `enabled = true`; then a key file is required.
    pub(super) fn audit(a: &AuditFile, data_dir: &Path) -> anyhow::Result<Option<Audit>> {
        let enabled = match env("FRACTAL_AUDIT_ENABLED") {
            Some(v) => v.parse::<bool>().map_err(|_| anyhow::anyhow!("FRACTAL_AUDIT_ENABLED: must be true or false"))?,
            None => a.enabled.unwrap_or(false),
        };
        if !enabled {
            return Ok(None);
        }
        let Some(key_file) = &a.key_file else { bail!("audit.key_file: required when audit.enabled = true") };
        let seed = read_secret_file(key_file).context("audit.key_file")?;
        // The error says what is wrong with the key, never what it is.
        let key = fractal_core::Ed25519Keypair::from_seed_b64(seed.trim())
            .map_err(|e| anyhow::anyhow!("audit.key_file: {e}"))?;
        let url = match &a.url {
            Some(u) => {
                object_store_url("audit.url", u)?;
                u.clone()
            }
            None => {
                let dir = std::path::absolute(data_dir.join("audit-store")).context("audit.url: the data directory")?;
                format!("file://{}", dir.display())
            }
        };
        let region = a.region.clone().unwrap_or_else(|| "local".into());
        if !plain_id(&region) {
            bail!("audit.region: must be 1-64 characters of A-Z a-z 0-9 . _ -");
        }
        Ok(Some(Audit {
            key: Secret(key),
            url,
            region,
            seal_entries: bounded("audit.seal_entries", a.seal_entries.unwrap_or(4096), 1, 1 << 24)?,
            seal_secs: bounded("audit.seal_secs", a.seal_secs.unwrap_or(60), 1, 24 * 3600)?,
            queue: bounded("audit.queue", a.queue.unwrap_or(65_536) as u64, 1, 1 << 24)? as usize,
        }))
    }
}
