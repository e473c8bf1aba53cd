//! The tool subcommands of `fractal`: `pcs-id`, `canonical`, `sign`, `verify`,
//! `get`, `keygen`, `ring pick|plan`, `wal inspect|repair`, `audit verify|proof|tail`,
//! `region status|conflicts|pause|resume|reconcile` and `dedup-migrate`. Each reads
//! its input from a file or stdin, takes keys from an environment variable or a file (never from argv), prints
//! one JSON document on stdout and fails with a one-line error. `docs/cli.md`
//! documents them with examples.

mod audit;
mod input;
mod migrate;
mod migrate_data;
mod region;
mod ring;
mod store;
mod wal;

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use fractal_core::{
    Algorithm, Ed25519Keypair, Pcs, SigVersion, SignaturePolicy, SigningKeyMaterial, Verifier, VerifyParams,
    canonical_payload, hex, sha256,
};
use serde_json::json;

use input::{KeyArgs, read_input, read_record};

/// Tool subcommands.
#[derive(clap::Subcommand)]
pub enum ToolCommand {
    /// Print a record's pcs_id (SPEC §2), recomputed, and whether the record's own matches.
    PcsId(PcsIdArgs),
    /// Print a record's canonical signing payload (SPEC §3) and its SHA-256 digest.
    Canonical(CanonicalArgs),
    /// Validate and sign a record (SPEC §4); print the record with its `sig`.
    Sign(SignArgs),
    /// Check a record's signature, then run the verification engine (SPEC §5).
    Verify(VerifyArgs),
    /// Read a stored outcome from a server (`GET /v1/pcs/{id}`), signing the read (SPEC §6.1).
    Get(GetArgs),
    /// Generate an Ed25519 key pair (base64 seed and public key).
    Keygen(KeygenArgs),
    /// Consistent-hash ring tools (SPEC §7).
    #[command(subcommand)]
    Ring(ring::RingCommand),
    /// Write-ahead log tools of the server: inspect, repair.
    #[command(subcommand)]
    Wal(wal::WalCommand),
    /// The embedded outcome store's file, offline: downgrade.
    #[command(subcommand)]
    Store(store::StoreCommand),
    /// Audit log tools (SPEC §11), offline: verify, proof, tail.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Regions (SPEC §10): status, conflicts, pause, resume, reconcile.
    #[command(subcommand)]
    Region(region::RegionCommand),
    /// Move the shared stores' keys to a new ring under live load (SPEC §9):
    /// plan, copy, verify, cutover, cleanup.
    #[command(subcommand, name = "dedup-migrate")]
    DedupMigrate(migrate::MigrateCommand),
}

impl ToolCommand {
    /// Runs the subcommand, writing its JSON answer to stdout.
    pub fn run(self) -> anyhow::Result<()> {
        let out = match self {
            ToolCommand::PcsId(a) => a.run()?,
            ToolCommand::Canonical(a) => return a.run(),
            ToolCommand::Sign(a) => a.run()?,
            ToolCommand::Verify(a) => a.run()?,
            ToolCommand::Get(a) => a.run()?,
            ToolCommand::Keygen(a) => a.run()?,
            ToolCommand::Ring(c) => c.run()?,
            ToolCommand::Wal(c) => c.run()?,
            ToolCommand::Store(c) => c.run()?,
            ToolCommand::Audit(c) => c.run()?,
            ToolCommand::Region(c) => c.run()?,
            ToolCommand::DedupMigrate(c) => return c.run(),
        };
        print_json(&out)
    }
}

fn print_json(v: &serde_json::Value) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer(&mut stdout, v)?;
    stdout.write_all(b"\n")?;
    stdout.flush()?;
    Ok(())
}

/// Options of `fractal pcs-id`.
#[derive(clap::Args)]
pub struct PcsIdArgs {
    /// The record (JSON); `-` or nothing reads stdin. Ignored when the three
    /// fields below are given.
    file: Option<PathBuf>,
    /// Compute from this merkle_root instead of a record (needs --epoch and --shard-id).
    #[arg(long, requires_all = ["epoch", "shard_id"])]
    merkle_root: Option<String>,
    /// Epoch, 0 ≤ epoch ≤ 2^53−1.
    #[arg(long, requires = "merkle_root")]
    epoch: Option<u64>,
    /// Shard id.
    #[arg(long, requires = "merkle_root")]
    shard_id: Option<String>,
}

impl PcsIdArgs {
    fn run(self) -> anyhow::Result<serde_json::Value> {
        if let (Some(m), Some(e), Some(s)) = (&self.merkle_root, self.epoch, &self.shard_id) {
            if e > fractal_core::MAX_EPOCH {
                bail!("invalid argument `epoch`: must be at most 2^53-1 (9007199254740991)");
            }
            return Ok(json!({ "pcs_id": fractal_core::pcs_id(m, e, s) }));
        }
        let pcs = read_record(self.file.as_deref())?;
        let id = fractal_core::pcs_id(&pcs.merkle_root, pcs.epoch, &pcs.shard_id);
        Ok(json!({ "matches": id == pcs.pcs_id, "pcs_id": id }))
    }
}

/// Options of `fractal canonical`.
#[derive(clap::Args)]
pub struct CanonicalArgs {
    /// The record (JSON); `-` or nothing reads stdin.
    file: Option<PathBuf>,
    /// Write the payload bytes alone, exactly as they are hashed (no JSON wrapper,
    /// no newline), e.g. to pipe into `sha256sum` (for v2 the digest also hashes
    /// the domain prefix, see SPEC §3.2).
    #[arg(long)]
    raw: bool,
    /// The signing payload: 2 (SPEC §3.2, the default) or 1 (§3.1).
    #[arg(long, value_parser = parse_version, default_value = "2")]
    version: SigVersion,
}

fn parse_version(s: &str) -> Result<SigVersion, String> {
    s.parse::<SigVersion>().map_err(|_| format!("{s:?} is not a signature version (1 or 2)"))
}

impl CanonicalArgs {
    fn run(self) -> anyhow::Result<()> {
        let pcs = read_record(self.file.as_deref())?;
        let payload = canonical_payload(&pcs, self.version)?;
        if self.raw {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(&payload)?;
            stdout.flush()?;
            return Ok(());
        }
        let digest = match self.version {
            SigVersion::V1 => sha256(&payload),
            SigVersion::V2 => fractal_core::canonical::digest_v2_payload(&payload),
        };
        let canonical = String::from_utf8(payload).context("canonical payload is not UTF-8")?;
        print_json(&json!({ "canonical": canonical, "digest_hex": hex(&digest), "version": self.version }))
    }
}

/// Options of `fractal sign`.
#[derive(clap::Args)]
pub struct SignArgs {
    /// The record (JSON); `-` or nothing reads stdin.
    file: Option<PathBuf>,
    /// Signature algorithm.
    #[arg(long, value_enum, default_value_t = AlgArg::Hmac)]
    alg: AlgArg,
    #[command(flatten)]
    key: KeyArgs,
    /// Sign without SDK validation (SPEC §1); for test vectors only.
    #[arg(long)]
    no_validate: bool,
    /// The signing payload: 2 (SPEC §3.2, the default: everything the verdict
    /// depends on) or 1 (§3.1, eight fields, for servers that accept only v1).
    #[arg(long, value_parser = parse_version, default_value = "2")]
    version: SigVersion,
}

/// `--alg` values.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum AlgArg {
    /// HMAC-SHA256 with a shared secret (its UTF-8 bytes).
    Hmac,
    /// Ed25519 with a base64 32-byte seed (sign) or public key (verify).
    Ed25519,
}

impl From<AlgArg> for Algorithm {
    fn from(a: AlgArg) -> Algorithm {
        match a {
            AlgArg::Hmac => Algorithm::Hmac,
            AlgArg::Ed25519 => Algorithm::Ed25519,
        }
    }
}

impl SignArgs {
    fn run(self) -> anyhow::Result<serde_json::Value> {
        let alg = Algorithm::from(self.alg);
        let key = self.key.read_one(alg, input::KeyRole::Signing)?;
        let material = SigningKeyMaterial::parse(alg, &key)?;
        let mut pcs = read_record(self.file.as_deref())?;
        if !self.no_validate {
            fractal_core::validate(&pcs)?;
        }
        material.sign_in_place_version(&mut pcs, self.version)?;
        Ok(pcs.to_value())
    }
}

/// Options of `fractal verify`.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The signed record (JSON); `-` or nothing reads stdin.
    file: Option<PathBuf>,
    /// Signature algorithm.
    #[arg(long, value_enum, default_value_t = AlgArg::Hmac)]
    alg: AlgArg,
    #[command(flatten)]
    key: KeyArgs,
    /// An Ed25519 public key in base64 (public keys are not secrets, so argv is
    /// fine). Repeatable: any key may match (rotation).
    #[arg(long = "public-key", value_name = "BASE64")]
    public_keys: Vec<String>,
    /// Verification parameters as a JSON file (`tol_d, tol_coh, alpha, beta,
    /// gamma, base, d0, budget_tol`; missing fields take the SPEC defaults).
    #[arg(long, value_name = "PATH")]
    params: Option<PathBuf>,
    /// Accepted signature versions, comma-separated: `v2` (default), `v1,v2`, `v1`.
    #[arg(long, value_delimiter = ',', default_value = "v2", value_name = "VERSIONS")]
    accept: Vec<String>,
    /// The seed's v1 encodings also accepted (SPEC §4.1), comma-separated:
    /// `seed-python`, `seed-go`. Only meaningful with `--accept v1`.
    #[arg(long = "accept-encoding", value_delimiter = ',', value_name = "ENCODINGS")]
    accept_encodings: Vec<String>,
}

impl VerifyArgs {
    fn run(self) -> anyhow::Result<serde_json::Value> {
        let alg = Algorithm::from(self.alg);
        let params = match &self.params {
            Some(path) => {
                let bytes = read_input(Some(path))?;
                let p: VerifyParams = serde_json::from_slice(&bytes)
                    .map_err(|e| anyhow::anyhow!("invalid verification parameters in {}: {e}", path.display()))?;
                p.check()?;
                p
            }
            None => VerifyParams::default(),
        };
        let mut verifier = Verifier::new();
        verifier.set_policy(SignaturePolicy::parse(&self.accept, &self.accept_encodings)?);
        for k in &self.public_keys {
            if !matches!(alg, Algorithm::Ed25519) {
                bail!("invalid argument `public-key`: only with --alg ed25519");
            }
            verifier.add_ed25519_public_key(k)?;
        }
        let keys = if self.public_keys.is_empty() || self.key.is_given() {
            self.key.read_all(alg, input::KeyRole::Verifying)?
        } else {
            Vec::new()
        };
        for k in &keys {
            verifier.add_key(alg, k)?;
        }
        let pcs: Pcs = read_record(self.file.as_deref())?;
        let policy = verifier.policy().clone();
        verifier.verify_with(&pcs, &policy)?;
        let outcome = fractal_core::verify(&pcs, &params);
        Ok(serde_json::to_value(outcome)?)
    }
}

/// Options of `fractal get`.
#[derive(clap::Args)]
pub struct GetArgs {
    /// The record's pcs_id (64 lowercase hex digits).
    pcs_id: String,
    /// Server base URL.
    #[arg(long, env = "FRACTAL_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Tenant (`X-Tenant-Id`); the server's default is `default`.
    #[arg(long, env = "FRACTAL_TENANT")]
    tenant: Option<String>,
    /// Signature algorithm of the tenant.
    #[arg(long, value_enum, default_value_t = AlgArg::Hmac)]
    alg: AlgArg,
    #[command(flatten)]
    key: KeyArgs,
    /// Send the read unsigned (for a tenant whose policy is `none`).
    #[arg(long, conflicts_with_all = ["key_env", "key_file"])]
    unsigned: bool,
}

impl GetArgs {
    fn run(self) -> anyhow::Result<serde_json::Value> {
        let mut builder = fractal_client::blocking::Client::builder(&self.url).sdk("cli", fractal_core::VERSION);
        if let Some(t) = &self.tenant {
            builder = builder.tenant(t);
        }
        if !self.unsigned {
            let alg = Algorithm::from(self.alg);
            builder = builder.signing_key(alg, &self.key.read_one(alg, input::KeyRole::Signing)?);
        }
        let client = builder.build_blocking()?;
        match client.get(&self.pcs_id)? {
            Some(result) => Ok(json!({ "found": true, "pcs_id": self.pcs_id, "result": result })),
            None => Ok(json!({ "found": false, "pcs_id": self.pcs_id })),
        }
    }
}

/// Options of `fractal keygen`.
#[derive(clap::Args)]
pub struct KeygenArgs {
    /// Write the base64 seed to this new file (mode 0600, never overwritten) and
    /// print only the public key. Without it the seed is printed too.
    #[arg(long, value_name = "PATH")]
    seed_file: Option<PathBuf>,
}

impl KeygenArgs {
    fn run(self) -> anyhow::Result<serde_json::Value> {
        let kp = Ed25519Keypair::generate()?;
        match &self.seed_file {
            Some(path) => {
                input::write_secret_file(path, kp.seed_b64().as_bytes())?;
                Ok(json!({ "algorithm": "ed25519", "public": kp.public_b64(), "seed_file": path }))
            }
            None => Ok(json!({ "algorithm": "ed25519", "public": kp.public_b64(), "seed": kp.seed_b64() })),
        }
    }
}
