//! The configuration file as written: every table and key, all optional, unknown
//! keys refused. [`super::Config::resolve`] turns it into the settings the server runs with.

use std::path::PathBuf;

use fractal_core::VerifyParams;
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
    pub region: crate::serve::region::config::RegionFile,
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
#[derive(Deserialize, Default)]
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
