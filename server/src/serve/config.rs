//! Configuration: embedded defaults, then a TOML file, then `FRACTAL_*` environment
//! variables, then command-line flags. `docs/config.example.toml` shows every key.
//!
//! Secrets (tenant keys, the metrics password) can be inline, in files
//! (`key_files`, `password_file`) or in environment variables (`key_env`,
//! `password_env`). They are never logged: [`Config`]'s `Debug` leaves them out.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};

mod audit;
mod file;
mod shared;
mod tenant;
#[cfg(test)]
mod tests;

pub use audit::Audit;
pub use file::{
    AuditFile, ColdFile, FileConfig, HotFile, HttpFile, MetricsFile, ShardFile, StoreFile, TenantFile, WalFile,
};
pub use shared::{DEFAULT_HOT_TTL_SECS, Shard, SharedStore};
pub use tenant::{Policy, Tenant, TierPolicy};

/// The resolved `[http]` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Http {
    /// Header read timeout.
    pub header_read_timeout: Duration,
    /// Body read timeout.
    pub body_read_timeout: Duration,
    /// Idle keep-alive timeout.
    pub idle_timeout: Duration,
    /// Connection cap.
    pub max_connections: usize,
    /// SIGTERM grace period.
    pub shutdown_grace: Duration,
}

/// A configuration value out of its range (the message names the key).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{key}: must be between {min} and {max}, not {value}")]
pub struct OutOfRange {
    /// The key, as written in the file.
    pub key: &'static str,
    /// Smallest allowed value.
    pub min: u64,
    /// Largest allowed value.
    pub max: u64,
    /// The value given.
    pub value: u64,
}

fn bounded(key: &'static str, value: u64, min: u64, max: u64) -> Result<u64, OutOfRange> {
    if (min..=max).contains(&value) { Ok(value) } else { Err(OutOfRange { key, min, max, value }) }
}

/// Longest dedup TTL: ten years (keeps `accepted_at + ttl` far from overflow and
/// catches a value given in milliseconds by mistake).
pub const MAX_DEDUP_TTL_SECS: u64 = 10 * 366 * 24 * 3600;
/// Default header read timeout (SPEC §6).
pub const DEFAULT_HEADER_READ_TIMEOUT_SECS: u64 = 10;
/// Default body read timeout (SPEC §6).
pub const DEFAULT_BODY_READ_TIMEOUT_SECS: u64 = 30;
/// Default idle keep-alive timeout (SPEC §6).
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 60;
/// Default connection cap: below the common 1024 open-file limit, with room for the
/// log, the store and the listener.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1000;
/// Default SIGTERM grace period.
pub const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 30;

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default body limit: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;
/// Default dedup TTL: 14 days.
pub const DEFAULT_DEDUP_TTL_SECS: u64 = 14 * 24 * 3600;
/// The embedded store's page cache, in MiB. Its outcome log is appended to and
/// rarely read (a new key is known absent from the index, and a retry mostly finds
/// its outcome in memory), so the cache mostly holds pages just written: 16 MiB
/// where a cache of 32 put the RSS after 1,000,000 outcomes at ~146 MiB (~124 with
/// 8; docs/performance.md).
pub const DEFAULT_STORE_CACHE_MB: usize = 16;

/// The resolved configuration.
#[derive(Debug)]
pub struct Config {
    /// Listen address.
    pub listen: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Largest body in bytes.
    pub body_limit: usize,
    /// Dedup TTL in seconds.
    pub dedup_ttl_secs: u64,
    /// HTTP worker threads.
    pub workers: usize,
    /// WAL segment size.
    pub wal_segment_bytes: u64,
    /// WAL retention in seconds.
    pub wal_retention_secs: u64,
    /// Bytes per group commit at most.
    pub wal_max_batch_bytes: usize,
    /// redb cache in bytes.
    pub store_cache_bytes: usize,
    /// Seconds between checkpoints.
    pub checkpoint_secs: u64,
    /// Seconds between sweeps.
    pub sweep_secs: u64,
    /// Connection bounds.
    pub http: Http,
    /// Basic-auth credentials of `/metrics` (user, password), never printed.
    pub metrics_auth: Option<Secret<(String, String)>>,
    /// The tenants.
    pub tenants: Vec<Tenant>,
    /// `Some` for `[store] backend = "postgres"`; `None`: the embedded store.
    pub shared: Option<SharedStore>,
    /// `Some` when `[audit] enabled = true`.
    pub audit: Option<Audit>,
    /// `Some` when `[region] id` is set.
    pub region: Option<super::region::config::Region>,
}

/// A value kept out of `Debug` output and logs.
#[derive(Clone)]
pub struct Secret<T>(pub T);

impl<T> std::fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secret>")
    }
}

/// Overrides from flags (highest precedence).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
}

/// Ids that travel in headers, object names and store keys (tenants, the audit
/// region): 1-64 characters of `A-Z a-z 0-9 . _ -`.
fn plain_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// An object-store URL the server can open (`file:///…` or `s3://bucket/prefix`).
pub(crate) fn object_store_url(key: &str, url: &str) -> anyhow::Result<()> {
    if !(url.starts_with("file:///") || url.starts_with("s3://")) {
        bail!("{key}: must be file:///… or s3://bucket/prefix");
    }
    Ok(())
}

// The environment layer is this and a dozen named `env(..)` calls in `resolve`, on
// purpose: figment or config-rs would need the same list of variables (`only`/`map`,
// as FRACTAL_METRICS_USERNAME is `metrics.username` but FRACTAL_BODY_LIMIT is
// `body_limit`, and other FRACTAL_* variables must not reach `deny_unknown_fields`),
// they type values by their look (a numeric password becomes a number) and treat an
// empty variable as a value, not as unset.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn parse_env<T: std::str::FromStr>(name: &str) -> anyhow::Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    match env(name) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|e| anyhow::anyhow!("{name}: {e}")),
    }
}

/// Whether a secret file can be read by its group or by everyone.
pub fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).map(|m| m.permissions().mode() & 0o077 != 0).unwrap_or(false)
}

fn read_secret_file(path: &Path) -> anyhow::Result<String> {
    if readable_by_others(path) {
        tracing::warn!(
            file = %super::http::loggable(&path.display().to_string()),
            "secret file is accessible by its group or others; chmod 600 it"
        );
    }
    let s = std::fs::read_to_string(path).with_context(|| format!("reading secret file {}", path.display()))?;
    Ok(s.trim_end_matches(['\n', '\r']).to_string())
}

impl Config {
    /// Loads `path` (if any), applies `FRACTAL_*` variables and the flags.
    pub fn load(path: Option<&Path>, flags: &Overrides) -> anyhow::Result<Config> {
        let file: FileConfig = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).with_context(|| format!("reading config {}", p.display()))?;
                toml::from_str(&text).with_context(|| format!("config {}", p.display()))?
            }
            None => FileConfig::default(),
        };
        Self::resolve(file, flags)
    }

    /// Resolves a parsed file against the environment and flags.
    pub fn resolve(file: FileConfig, flags: &Overrides) -> anyhow::Result<Config> {
        let listen = flags
            .listen
            .clone()
            .or_else(|| env("FRACTAL_LISTEN"))
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.into());
        let listen: SocketAddr = listen.parse().with_context(|| format!("listen: {listen:?} is not host:port"))?;
        let data_dir = flags
            .data_dir
            .clone()
            .or_else(|| env("FRACTAL_DATA_DIR").map(PathBuf::from))
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./data"));
        let body_limit = parse_env("FRACTAL_BODY_LIMIT")?.or(file.body_limit).unwrap_or(DEFAULT_BODY_LIMIT);
        if body_limit == 0 || body_limit > 16 << 20 {
            bail!("body_limit: must be between 1 byte and 16 MiB");
        }
        let dedup_ttl_secs =
            parse_env("FRACTAL_DEDUP_TTL_SECS")?.or(file.dedup_ttl_secs).unwrap_or(DEFAULT_DEDUP_TTL_SECS);
        let dedup_ttl_secs = bounded("dedup_ttl_secs", dedup_ttl_secs, 1, MAX_DEDUP_TTL_SECS)?;
        let h = &file.http;
        let secs = |key, v: Option<u64>, default| -> Result<Duration, OutOfRange> {
            Ok(Duration::from_secs(bounded(key, v.unwrap_or(default), 1, 24 * 3600)?))
        };
        let http = Http {
            header_read_timeout: secs(
                "http.header_read_timeout_secs",
                h.header_read_timeout_secs,
                DEFAULT_HEADER_READ_TIMEOUT_SECS,
            )?,
            body_read_timeout: secs("http.body_read_timeout_secs", h.body_read_timeout_secs, DEFAULT_BODY_READ_TIMEOUT_SECS)?,
            idle_timeout: secs("http.idle_timeout_secs", h.idle_timeout_secs, DEFAULT_IDLE_TIMEOUT_SECS)?,
            max_connections: bounded(
                "http.max_connections",
                h.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS) as u64,
                1,
                1 << 20,
            )? as usize,
            shutdown_grace: Duration::from_secs(bounded(
                "http.shutdown_grace_secs",
                h.shutdown_grace_secs.unwrap_or(DEFAULT_SHUTDOWN_GRACE_SECS),
                0,
                3600,
            )?),
        };
        // One HTTP worker per CPU by default: measured against one less than the CPUs
        // (which leaves the log and store writers a core), it served more requests.
        let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let workers = match parse_env::<usize>("FRACTAL_WORKERS")?.or(file.workers).unwrap_or(0) {
            0 => cpus,
            n => n,
        };
        let policy_s = env("FRACTAL_SIGNATURE_POLICY").or(file.signature_policy).unwrap_or_else(|| "none".into());
        let policy = Policy::parse(&policy_s, "signature_policy")?;

        let metrics_user = env("FRACTAL_METRICS_USERNAME").or(file.metrics.username);
        let mut metrics_pass = env("FRACTAL_METRICS_PASSWORD").or(file.metrics.password);
        if metrics_pass.is_none() {
            if let Some(p) = &file.metrics.password_file {
                metrics_pass = Some(read_secret_file(p).context("metrics.password_file")?);
            } else if let Some(var) = &file.metrics.password_env {
                metrics_pass = Some(env(var).ok_or_else(|| anyhow::anyhow!("metrics.password_env: {var} is not set"))?);
            }
        }
        let metrics_auth = match (metrics_user, metrics_pass) {
            (Some(u), Some(p)) => Some(Secret((u, p))),
            (None, None) => None,
            _ => bail!("metrics: set both a username and a password, or neither"),
        };

        let mut tenants = Vec::new();
        let files = if file.tenants.is_empty() {
            vec![TenantFile { id: "default".into(), ..TenantFile::default() }]
        } else {
            file.tenants
        };
        let shared = Self::shared(&file.store)?;
        let hot_ttl = shared.as_ref().and_then(|s| s.hot.as_ref().map(|h| h.1)).unwrap_or(DEFAULT_HOT_TTL_SECS);
        let cold_on = shared.as_ref().is_some_and(|s| s.cold.is_some());
        let mut seen = HashSet::new();
        for t in files {
            let tiers = TierPolicy {
                hot_ttl_secs: bounded("tenants.hot_ttl_secs", t.hot_ttl_secs.unwrap_or(hot_ttl), 1, MAX_DEDUP_TTL_SECS)?,
                warm_ttl_secs: bounded(
                    "tenants.warm_ttl_secs",
                    t.warm_ttl_secs.unwrap_or(dedup_ttl_secs),
                    1,
                    MAX_DEDUP_TTL_SECS,
                )?,
                cold: t.cold.unwrap_or(cold_on),
            };
            if tiers.cold && !cold_on {
                bail!("tenant {:?}: cold = true needs a [store.cold] url", t.id);
            }
            let mut tenant = Self::tenant(t, policy, &mut seen)?;
            tenant.tiers = tiers;
            tenants.push(tenant);
        }
        let audit = Self::audit(&file.audit, &data_dir)?;
        let region = super::region::config::Region::resolve(&file.region, shared.is_some())?;
        let c = Config {
            listen,
            data_dir,
            body_limit,
            dedup_ttl_secs,
            workers,
            wal_segment_bytes: file.wal.segment_bytes.unwrap_or(super::wal::WalOptions::DEFAULT_SEGMENT_BYTES).max(4096),
            wal_retention_secs: file.wal.retention_secs.unwrap_or(3600),
            wal_max_batch_bytes: file.wal.max_batch_bytes.unwrap_or(super::wal::WalOptions::DEFAULT_MAX_BATCH_BYTES).max(1),
            store_cache_bytes: file.store.cache_mb.unwrap_or(DEFAULT_STORE_CACHE_MB).max(1) << 20,
            checkpoint_secs: file.store.checkpoint_secs.unwrap_or(5).max(1),
            sweep_secs: file.store.sweep_secs.unwrap_or(3600).max(1),
            http,
            metrics_auth,
            tenants,
            shared,
            audit,
            region,
        };
        Ok(c)
    }
}
