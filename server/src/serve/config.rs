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
use fractal_core::{Algorithm, SignaturePolicy, Verifier, VerifyParams};
use serde::Deserialize;

/// The whole file, as written (no `Debug`: it may hold secrets).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `host:port` to listen on; port 0 picks a free one.
    pub listen: Option<String>,
    /// Where the log and the store live.
    pub data_dir: Option<PathBuf>,
    /// Largest accepted request body in bytes.
    pub body_limit: Option<usize>,
    /// `none`, `hmac` or `ed25519`: the default of every tenant.
    pub signature_policy: Option<String>,
    /// How long an outcome is kept for dedup, in seconds.
    pub dedup_ttl_secs: Option<u64>,
    /// Async worker threads for HTTP; 0 or absent: one per CPU.
    pub workers: Option<usize>,
    /// Write-ahead log settings.
    #[serde(default)]
    pub wal: WalFile,
    /// Store settings.
    #[serde(default)]
    pub store: StoreFile,
    /// `/metrics` settings.
    #[serde(default)]
    pub metrics: MetricsFile,
    /// Connection bounds.
    #[serde(default)]
    pub http: HttpFile,
    /// The tenants; none means the one tenant `default`.
    #[serde(default)]
    pub tenants: Vec<TenantFile>,
    /// `[audit]`: the tamper-evident audit log (SPEC §11); off unless enabled.
    #[serde(default)]
    pub audit: AuditFile,
    /// `[region]`: cross-region log shipping (SPEC §10); off unless `id` is set.
    #[serde(default)]
    pub region: super::region::config::RegionFile,
}

/// `[audit]`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AuditFile {
    /// Whether every stored outcome is appended to the audit chain (default false).
    pub enabled: Option<bool>,
    /// File holding the base64 32-byte Ed25519 seed that signs the seals
    /// (`fractal keygen` prints one); chmod 600.
    pub key_file: Option<PathBuf>,
    /// Where sealed segments go: `file:///absolute/dir` or `s3://bucket/prefix`
    /// (default: `file://<data_dir>/audit-store`).
    pub url: Option<String>,
    /// The `region` written into every entry (default `local`).
    pub region: Option<String>,
    /// Seal a segment once it holds this many entries (default 4096).
    pub seal_entries: Option<u64>,
    /// Seal a non-empty segment this many seconds after its first entry (default 60).
    pub seal_secs: Option<u64>,
    /// Entries the in-memory queue holds before submissions wait (default 65536).
    pub queue: Option<usize>,
}

/// `[wal]`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct WalFile {
    /// Rotate a segment at this size.
    pub segment_bytes: Option<u64>,
    /// Keep closed segments at least this long (seconds).
    pub retention_secs: Option<u64>,
    /// Most bytes in one group commit.
    pub max_batch_bytes: Option<usize>,
}

/// `[store]`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StoreFile {
    /// redb page cache in MiB.
    pub cache_mb: Option<usize>,
    /// Seconds between durable checkpoints.
    pub checkpoint_secs: Option<u64>,
    /// Seconds between sweeps of expired outcomes.
    pub sweep_secs: Option<u64>,
    /// `embedded` (default: redb in `data_dir`) or `postgres` (shared, sharded).
    pub backend: Option<String>,
    /// `[[store.shards]]`: the PostgreSQL shards of the `postgres` backend.
    #[serde(default)]
    pub shards: Vec<ShardFile>,
    /// Virtual nodes per unit of shard weight on the ring (SPEC §7; default 150).
    pub vnodes: Option<u32>,
    /// Connections per shard in the pool (default 8).
    pub pool_size: Option<usize>,
    /// Seconds between demotion passes to the cold tier (default 60).
    pub demote_secs: Option<u64>,
    /// `[store.hot]`: the Redis cache in front of the authority.
    pub hot: Option<HotFile>,
    /// `[store.cold]`: the object-store archive behind it.
    pub cold: Option<ColdFile>,
}

/// `[[store.shards]]`.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ShardFile {
    /// The shard's name on the ring: renaming a shard moves its keys.
    pub name: String,
    /// `postgres://user@host:port/db` (a password may come from `PGPASSWORD`-style
    /// URLs; keep such URLs out of shared files).
    pub url: String,
    /// Ring weight, at least 1 (default 1).
    pub weight: Option<u32>,
}

/// `[store.hot]`.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct HotFile {
    /// `redis://host:port/db`.
    pub url: String,
    /// Seconds an outcome stays in Redis (default 3600; never past its own expiry).
    pub ttl_secs: Option<u64>,
}

/// `[store.cold]`.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ColdFile {
    /// `file:///absolute/dir` or `s3://bucket/prefix` (endpoint, region and
    /// credentials from `AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`).
    pub url: String,
}

/// `[http]`: connection bounds (SPEC §6).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct HttpFile {
    /// Seconds a client has to send a request's headers once it started one.
    pub header_read_timeout_secs: Option<u64>,
    /// Seconds a client has to send a request's body.
    pub body_read_timeout_secs: Option<u64>,
    /// Seconds an idle keep-alive connection stays open.
    pub idle_timeout_secs: Option<u64>,
    /// Most open connections; more wait in the kernel's accept queue.
    pub max_connections: Option<usize>,
    /// Seconds SIGTERM waits for open requests before it closes what is left.
    pub shutdown_grace_secs: Option<u64>,
}

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

/// `[metrics]`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MetricsFile {
    /// Basic-auth user name; with a password, `/metrics` requires it.
    pub username: Option<String>,
    /// The password inline (prefer a file or the environment).
    pub password: Option<String>,
    /// A file holding the password (trailing newline ignored).
    pub password_file: Option<PathBuf>,
    /// An environment variable holding the password.
    pub password_env: Option<String>,
}

impl std::fmt::Debug for MetricsFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsFile").field("username", &self.username).finish_non_exhaustive()
    }
}

/// `[[tenants]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantFile {
    /// The `X-Tenant-Id` value.
    pub id: String,
    /// `none`, `hmac` or `ed25519`; defaults to `signature_policy`.
    pub algorithm: Option<String>,
    /// Keys inline: HMAC secrets or base64 Ed25519 public keys.
    #[serde(default)]
    pub keys: Vec<String>,
    /// Files that each hold one key.
    #[serde(default)]
    pub key_files: Vec<PathBuf>,
    /// Environment variables that each hold one key.
    #[serde(default)]
    pub key_env: Vec<String>,
    /// Sustained requests per second (0: unlimited).
    pub rate: Option<f64>,
    /// Bucket size: requests allowed in a burst.
    pub burst: Option<f64>,
    /// Submissions per UTC day (0: unlimited).
    pub daily_quota: Option<u64>,
    /// Verification tolerances for this tenant (VerifyParams fields).
    pub verify: Option<VerifyParams>,
    /// Accepted signature versions (SPEC §4): `["v2"]` (default) or `["v1", "v2"]`
    /// for a fleet that migrates from the seed's clients.
    pub signature_versions: Option<Vec<String>>,
    /// The seed's v1 encodings also accepted (SPEC §4.1): `seed-python`, `seed-go`.
    /// Default none; only meaningful with `v1`.
    #[serde(default)]
    pub accept_encodings: Vec<String>,
    /// Browser origins (`https://app.example`) that may call the API as this
    /// tenant: preflights and CORS headers (SPEC §6). Default none.
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// Tier policy: seconds an outcome of this tenant stays in the hot tier
    /// (default `store.hot.ttl_secs`).
    pub hot_ttl_secs: Option<u64>,
    /// Tier policy: seconds after which an outcome leaves the warm authority for the
    /// cold archive (only with `cold = true`; default: `dedup_ttl_secs`, i.e. never).
    pub warm_ttl_secs: Option<u64>,
    /// Tier policy: whether this tenant's old outcomes are demoted to `[store.cold]`
    /// (default true when `[store.cold]` is configured).
    pub cold: Option<bool>,
}

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default body limit: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;
/// Default dedup TTL: 14 days.
pub const DEFAULT_DEDUP_TTL_SECS: u64 = 14 * 24 * 3600;

/// A signature policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Signatures are not checked.
    None,
    /// Signatures are required with this algorithm.
    Require(Algorithm),
}

impl Policy {
    fn parse(s: &str, what: &str) -> anyhow::Result<Policy> {
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

/// Default `[store.hot] ttl_secs`.
pub const DEFAULT_HOT_TTL_SECS: u64 = 3600;

/// The shared-store backend (`[store] backend = "postgres"`).
#[derive(Debug, Clone)]
pub struct SharedStore {
    /// The shards, in configuration order.
    pub shards: Vec<Shard>,
    /// Ring virtual nodes per unit of weight.
    pub vnodes: u32,
    /// Connections per shard.
    pub pool_size: usize,
    /// Redis URL and TTL.
    pub hot: Option<(Secret<String>, u64)>,
    /// Object-store URL.
    pub cold: Option<String>,
    /// Seconds between demotion passes.
    pub demote_secs: u64,
}

/// One shard of the authority.
#[derive(Debug, Clone)]
pub struct Shard {
    /// Ring name.
    pub name: String,
    /// Connection URL (may hold a password: never logged).
    pub url: Secret<String>,
    /// Ring weight.
    pub weight: u32,
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

/// A tenant id travels in a header and keys the store: keep it plain.
fn check_tenant_id(id: &str) -> anyhow::Result<()> {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
        bail!("tenant id {id:?}: must be 1-64 characters of A-Z a-z 0-9 . _ -");
    }
    Ok(())
}

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
            vec![TenantFile {
                id: "default".into(),
                algorithm: None,
                keys: vec![],
                key_files: vec![],
                key_env: vec![],
                rate: None,
                burst: None,
                daily_quota: None,
                verify: None,
                signature_versions: None,
                accept_encodings: vec![],
                cors_origins: vec![],
                hot_ttl_secs: None,
                warm_ttl_secs: None,
                cold: None,
            }]
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
            wal_segment_bytes: file.wal.segment_bytes.unwrap_or(64 << 20).max(4096),
            wal_retention_secs: file.wal.retention_secs.unwrap_or(3600),
            wal_max_batch_bytes: file.wal.max_batch_bytes.unwrap_or(1 << 20).max(1),
            store_cache_bytes: file.store.cache_mb.unwrap_or(64).max(1) << 20,
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

    /// `[audit]`: off unless `enabled = true`; then a key file is required.
    fn audit(a: &AuditFile, data_dir: &Path) -> anyhow::Result<Option<Audit>> {
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
                if !(u.starts_with("file:///") || u.starts_with("s3://")) {
                    bail!("audit.url: must be file:///… or s3://bucket/prefix");
                }
                u.clone()
            }
            None => {
                let dir = std::path::absolute(data_dir.join("audit-store")).context("audit.url: the data directory")?;
                format!("file://{}", dir.display())
            }
        };
        let region = a.region.clone().unwrap_or_else(|| "local".into());
        if region.is_empty() || region.len() > 64 || !region.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
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

    /// `[store] backend` and what the shared backend needs.
    pub(crate) fn shared(store: &StoreFile) -> anyhow::Result<Option<SharedStore>> {
        let backend = env("FRACTAL_STORE_BACKEND").or(store.backend.clone()).unwrap_or_else(|| "embedded".into());
        match backend.as_str() {
            "embedded" => {
                if !store.shards.is_empty() || store.hot.is_some() || store.cold.is_some() {
                    bail!("store: [[store.shards]], [store.hot] and [store.cold] need backend = \"postgres\"");
                }
                return Ok(None);
            }
            "postgres" => {}
            other => bail!("store.backend: must be \"embedded\" or \"postgres\", not {other:?}"),
        }
        if store.shards.is_empty() {
            bail!("store.backend = \"postgres\" needs at least one [[store.shards]] table (name, url)");
        }
        let mut names = HashSet::new();
        let mut shards = Vec::new();
        for s in &store.shards {
            if s.name.is_empty() || !names.insert(s.name.clone()) {
                bail!("store.shards: names must be non-empty and unique ({:?})", s.name);
            }
            if !(s.url.starts_with("postgres://") || s.url.starts_with("postgresql://")) {
                bail!("store.shards {:?}: url must be a postgres:// URL", s.name);
            }
            let weight = bounded("store.shards.weight", s.weight.unwrap_or(1) as u64, 1, 1000)? as u32;
            shards.push(Shard { name: s.name.clone(), url: Secret(s.url.clone()), weight });
        }
        let hot = match &store.hot {
            Some(h) => {
                if !(h.url.starts_with("redis://") || h.url.starts_with("rediss://")) {
                    bail!("store.hot.url: must be a redis:// URL");
                }
                let ttl = bounded("store.hot.ttl_secs", h.ttl_secs.unwrap_or(DEFAULT_HOT_TTL_SECS), 1, MAX_DEDUP_TTL_SECS)?;
                Some((Secret(h.url.clone()), ttl))
            }
            None => None,
        };
        let cold = match &store.cold {
            Some(c) => {
                if !(c.url.starts_with("file:///") || c.url.starts_with("s3://")) {
                    bail!("store.cold.url: must be file:///… or s3://bucket/prefix");
                }
                Some(c.url.clone())
            }
            None => None,
        };
        Ok(Some(SharedStore {
            shards,
            vnodes: bounded("store.vnodes", store.vnodes.unwrap_or(fractal_core::DEFAULT_VNODES) as u64, 1, 10_000)? as u32,
            pool_size: bounded("store.pool_size", store.pool_size.unwrap_or(8) as u64, 1, 1024)? as usize,
            hot,
            cold,
            demote_secs: bounded("store.demote_secs", store.demote_secs.unwrap_or(60), 1, 24 * 3600)?,
        }))
    }

    fn tenant(t: TenantFile, default: Policy, seen: &mut HashSet<String>) -> anyhow::Result<Tenant> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> anyhow::Result<Config> {
        Config::resolve(toml::from_str(s)?, &Overrides::default())
    }

    #[test]
    fn embedded_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.body_limit, 1 << 20);
        assert_eq!(c.dedup_ttl_secs, 14 * 86400);
        assert_eq!(c.tenants.len(), 1);
        assert_eq!(c.tenants[0].id, "default");
        assert_eq!(c.tenants[0].policy, Policy::None);
    }

    #[test]
    fn tenants_keys_and_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let kf = dir.path().join("k");
        std::fs::write(&kf, "from-file\n").unwrap();
        let c = parse(&format!(
            r#"
signature_policy = "hmac"
[[tenants]]
id = "acme"
keys = ["inline"]
key_files = [{kf:?}]
rate = 10
burst = 20
daily_quota = 100
[tenants.verify]
tol_d = 0.3
[[tenants]]
id = "open"
algorithm = "none"
"#
        ))
        .unwrap();
        assert_eq!(c.tenants[0].verifier.len(), 2);
        assert_eq!(c.tenants[0].params.tol_d, 0.3);
        assert_eq!(c.tenants[0].burst, 20.0);
        assert_eq!(c.tenants[1].policy, Policy::None);
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("inline") && !dbg.contains("from-file"), "no key in Debug output: {dbg}");
    }

    #[test]
    fn bad_configs_name_the_problem() {
        let e = parse("signature_policy = \"rsa\"").unwrap_err().to_string();
        assert!(e.contains("signature_policy"), "{e}");
        let e = parse("[[tenants]]\nid = \"a\"\nalgorithm = \"hmac\"").unwrap_err().to_string();
        assert!(e.contains("needs at least one key"), "{e}");
        let e = parse("[[tenants]]\nid = \"a b\"").unwrap_err().to_string();
        assert!(e.contains("tenant id"), "{e}");
        let e = parse("[[tenants]]\nid = \"a\"\nalgorithm = \"ed25519\"\nkeys = [\"secret-not-base64\"]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("key #1") && !e.contains("secret-not-base64"), "{e}");
        assert!(parse("bogus = 1").is_err());
        let e = parse("[metrics]\nusername = \"u\"").unwrap_err().to_string();
        assert!(e.contains("metrics"), "{e}");
    }

    #[test]
    fn bounded_keys_give_a_typed_error_naming_the_key() {
        let e = parse("dedup_ttl_secs = 0").unwrap_err();
        let typed = e.downcast_ref::<OutOfRange>().expect("a typed error");
        assert_eq!((typed.key, typed.value), ("dedup_ttl_secs", 0));
        let e = parse("dedup_ttl_secs = 18446744073709551615").unwrap_err();
        assert_eq!(e.downcast_ref::<OutOfRange>().unwrap().key, "dedup_ttl_secs");
        assert!(e.to_string().contains("dedup_ttl_secs"), "{e}");
        let e = parse("[http]\nheader_read_timeout_secs = 0").unwrap_err();
        assert_eq!(e.downcast_ref::<OutOfRange>().unwrap().key, "http.header_read_timeout_secs");
        let e = parse("[http]\nmax_connections = 0").unwrap_err();
        assert_eq!(e.downcast_ref::<OutOfRange>().unwrap().key, "http.max_connections");
        let c = parse("").unwrap();
        assert_eq!(c.http.header_read_timeout, Duration::from_secs(10));
        assert_eq!(c.http.body_read_timeout, Duration::from_secs(30));
        assert_eq!(c.http.idle_timeout, Duration::from_secs(60));
        assert_eq!(c.http.max_connections, DEFAULT_MAX_CONNECTIONS);
        assert_eq!(c.http.shutdown_grace, Duration::from_secs(30));
    }

    #[test]
    fn shared_store_keys_resolve_and_are_checked() {
        let c = parse(
            r#"
[store]
backend = "postgres"
[[store.shards]]
name = "a"
url = "postgres://u:hunter2@h/db"
[[store.shards]]
name = "b"
url = "postgres://u@h2/db"
weight = 3
[store.hot]
url = "redis://h:6379/0"
[store.cold]
url = "s3://bucket/prefix"
[[tenants]]
id = "t"
warm_ttl_secs = 60
[[tenants]]
id = "u"
cold = false
hot_ttl_secs = 5
"#,
        )
        .unwrap();
        let sh = c.shared.as_ref().unwrap();
        assert_eq!((sh.shards.len(), sh.shards[1].weight, sh.vnodes, sh.hot.as_ref().unwrap().1), (2, 3, 150, 3600));
        assert_eq!(c.tenants[0].tiers, TierPolicy { hot_ttl_secs: 3600, warm_ttl_secs: 60, cold: true });
        assert_eq!(c.tenants[1].tiers, TierPolicy { hot_ttl_secs: 5, warm_ttl_secs: DEFAULT_DEDUP_TTL_SECS, cold: false });
        assert!(!format!("{c:?}").contains("hunter2"), "shard URLs stay out of Debug output");
        assert!(parse("").unwrap().shared.is_none(), "embedded by default");
        for (bad, says) in [
            ("[store]\nbackend = \"postgres\"", "needs at least one"),
            ("[store]\nbackend = \"mysql\"", "store.backend"),
            ("[[store.shards]]\nname = \"a\"\nurl = \"postgres://h/db\"", "need backend"),
            ("[store]\nbackend = \"postgres\"\n[[store.shards]]\nname = \"a\"\nurl = \"mysql://h\"", "postgres://"),
            (
                "[store]\nbackend = \"postgres\"\n[[store.shards]]\nname = \"a\"\nurl = \"postgres://h\"\n[[tenants]]\nid = \"t\"\ncold = true",
                "[store.cold]",
            ),
        ] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }

    #[test]
    fn key_files_open_to_others_are_noticed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("k");
        std::fs::write(&f, "secret").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(readable_by_others(&f));
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(!readable_by_others(&f));
    }

    #[test]
    fn the_documented_example_is_valid() {
        let text = include_str!("../../../docs/config.example.toml");
        let mut file: FileConfig = toml::from_str(text).expect("docs/config.example.toml parses");
        // Stand in for the secrets that live outside the file.
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("default.hmac");
        std::fs::write(&key, "a-shared-secret\n").unwrap();
        file.tenants[0].key_files = vec![key];
        file.tenants[0].key_env.clear();
        file.metrics.password_env = None;
        file.metrics.password = Some("pw".into());
        let c = Config::resolve(file, &Overrides::default()).unwrap();
        assert_eq!(c.tenants.len(), 2);
        assert_eq!(c.tenants[0].verifier.len(), 1);
        assert_eq!(c.tenants[1].policy, Policy::Require(Algorithm::Ed25519));
        assert_eq!(c.tenants[1].params.tol_d, 0.20);
        assert_eq!(c.dedup_ttl_secs, DEFAULT_DEDUP_TTL_SECS);
        assert_eq!(c.body_limit, DEFAULT_BODY_LIMIT);
        assert!(c.audit.is_none(), "the example keeps the audit log off (make run stays unchanged)");
    }
}
