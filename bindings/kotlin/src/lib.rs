//! # fractal-kotlin
//!
//! The Fractal LBA core for the JVM: a uniffi interface over `fractal-core`,
//! generated into Kotlin (`io.github.fractallba`, JNA underneath). Records
//! cross the boundary as JSON text, parsed by the core's own strict parser
//! exactly as the server parses a body; bytes are `ByteArray`. Nothing here
//! does I/O: the Kotlin `FractalClient` sends what [`client::ClientCore`]'s
//! calls build with `java.net.http.HttpClient` and feeds the answers back to
//! the core's sans-IO protocol, which decides about retries and errors.
//!
//! Numbers that are unsigned in the core are signed here (Java has no unsigned
//! types); a negative or too large value is an `InvalidArgument` naming it.

#![forbid(unsafe_code)]

mod client;
mod error;
mod objects;

use fractal_core::{BuildInput, Ed25519Keypair, HmacSigner, MAX_SAFE_INTEGER, Pcs, SigVersion, VerifyParams};

pub use crate::error::FractalError;
use crate::error::{Res, arg};

uniffi::setup_scaffolding!("fractal");

pub(crate) fn record(json: &str) -> Res<Pcs> {
    Ok(Pcs::from_json(json.as_bytes())?)
}

pub(crate) fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).expect("the core writes UTF-8")
}

fn params(json: Option<String>) -> Res<VerifyParams> {
    let Some(text) = json else { return Ok(VerifyParams::default()) };
    let p: VerifyParams =
        serde_json::from_str(&text).map_err(|e| arg("params", format!("not verification parameters: {e}")))?;
    p.check()?;
    Ok(p)
}

pub(crate) fn version(n: i32) -> Res<SigVersion> {
    Ok(SigVersion::from_number(i64::from(n))?)
}

/// A whole number in `0..=max`.
pub(crate) fn uint(n: i64, name: &str, max: u64) -> Res<u64> {
    let n = u64::try_from(n).map_err(|_| arg(name, "must be a whole number ≥ 0"))?;
    if n > max {
        return Err(arg(name, format!("must be at most {max}")));
    }
    Ok(n)
}

/// The outcome of verification (SPEC §5).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct VerifyResult {
    /// Whether the record is accepted.
    pub accepted: bool,
    /// Whether it needs a closer look.
    pub escalated: bool,
    /// Theil–Sen estimate recomputed from `scales` and `N_j`, when it could be.
    pub recomputed_d_hat: Option<f64>,
    /// Budget recomputed from the record, when verification got that far.
    pub recomputed_budget: Option<f64>,
    /// Why the record was not plainly accepted.
    pub reason: Option<String>,
}

impl From<fractal_core::VerifyResult> for VerifyResult {
    fn from(r: fractal_core::VerifyResult) -> Self {
        VerifyResult {
            accepted: r.accepted,
            escalated: r.escalated,
            recomputed_d_hat: r.recomputed_d_hat,
            recomputed_budget: r.recomputed_budget,
            reason: r.reason,
        }
    }
}

impl From<VerifyResult> for fractal_core::VerifyResult {
    fn from(r: VerifyResult) -> Self {
        fractal_core::VerifyResult {
            accepted: r.accepted,
            escalated: r.escalated,
            recomputed_d_hat: r.recomputed_d_hat,
            recomputed_budget: r.recomputed_budget,
            reason: r.reason,
        }
    }
}

/// A verification outcome as the server's wire JSON (`recomputed_D_hat`, …).
#[uniffi::export]
pub fn verify_result_json(result: VerifyResult) -> String {
    serde_json::to_string(&fractal_core::VerifyResult::from(result)).expect("a VerifyResult always serializes")
}

/// The HTTP status the server answers a record with: 200 when accepted and not
/// escalated, 202 otherwise (SPEC §6).
#[uniffi::export]
pub fn verify_result_status(result: VerifyResult) -> i32 {
    fractal_core::VerifyResult::from(result).http_status().into()
}

/// The version of the Rust core inside this library.
#[uniffi::export]
pub fn core_version() -> String {
    fractal_core::VERSION.to_string()
}

/// Parses a record with the core's strict parser; returns it as wire JSON
/// (unknown fields kept, omitted optional fields left out).
#[uniffi::export]
pub fn parse_pcs(json: String) -> Res<String> {
    Ok(text(record(&json)?.to_json()))
}

/// Builds a complete, valid record from a `BuildInput` (JSON), optionally
/// under verification parameters (JSON of `VerifyParams`).
#[uniffi::export(default(params = None))]
pub fn build_pcs(input: String, params: Option<String>) -> Res<String> {
    let input = BuildInput::from_json(input.as_bytes())?;
    let pcs = fractal_core::build_pcs_with(&input, &self::params(params)?)?;
    Ok(text(pcs.to_json()))
}

/// SDK-side validation (SPEC §1).
#[uniffi::export]
pub fn validate(record: String) -> Res<()> {
    Ok(fractal_core::validate(&self::record(&record)?)?)
}

/// Verification of a record's signals (SPEC §5), under `params` (JSON of
/// `VerifyParams`; missing fields take the defaults).
#[uniffi::export(default(params = None))]
pub fn verify(record: String, params: Option<String>) -> Res<VerifyResult> {
    let p = self::params(params)?;
    Ok(fractal_core::verify(&self::record(&record)?, &p).into())
}

/// `pcs_id` (SPEC §2): hex SHA-256 of `merkle_root|epoch|shard_id`.
#[uniffi::export]
pub fn pcs_id(merkle_root: String, epoch: i64, shard_id: String) -> Res<String> {
    Ok(fractal_core::pcs_id(&merkle_root, uint(epoch, "epoch", MAX_SAFE_INTEGER as u64)?, &shard_id))
}

/// The canonical payload of `version` (1 or 2; 2 by default) as UTF-8 bytes.
#[uniffi::export(default(version = 2))]
pub fn canonical_payload(record: String, version: i32) -> Res<Vec<u8>> {
    Ok(fractal_core::canonical_payload(&self::record(&record)?, self::version(version)?)?)
}

/// What is signed under `version` (32 bytes; v2 carries its domain prefix).
#[uniffi::export(default(version = 2))]
pub fn digest(record: String, version: i32) -> Res<Vec<u8>> {
    Ok(fractal_core::digest(&self::record(&record)?, self::version(version)?)?.to_vec())
}

/// `sig` under an HMAC key (`v2:` + base64 for v2, plain base64 for v1).
#[uniffi::export(default(version = 2))]
pub fn sign_hmac(record: String, key: Vec<u8>, version: i32) -> Res<String> {
    let signer = HmacSigner::new(&key)?;
    Ok(signer.sign_version(&self::record(&record)?, self::version(version)?)?)
}

/// `sig` under an Ed25519 seed (base64 of 32 bytes).
#[uniffi::export(default(version = 2))]
pub fn sign_ed25519(record: String, seed: String, version: i32) -> Res<String> {
    let kp = Ed25519Keypair::from_seed_b64(&seed)?;
    Ok(kp.sign_version(&self::record(&record)?, self::version(version)?)?)
}

/// Signs every record of `records` with one HMAC key (the key is prepared once).
#[uniffi::export(default(version = 2))]
pub fn sign_hmac_many(records: Vec<String>, key: Vec<u8>, version: i32) -> Res<Vec<String>> {
    let signer = HmacSigner::new(&key)?;
    let v = self::version(version)?;
    records.iter().map(|r| Ok(signer.sign_version(&record(r)?, v)?)).collect()
}

/// The record with `sig` set, as wire JSON (the eight v1 fields or the whole
/// record but its delivery fields are signed, per `version`).
#[uniffi::export(default(version = 2))]
pub fn sign_record(record: String, alg: String, key: Vec<u8>, version: i32) -> Res<String> {
    let mut pcs = self::record(&record)?;
    client::signing_key(&alg, &key)?.sign_in_place_version(&mut pcs, self::version(version)?)?;
    Ok(text(pcs.to_json()))
}

/// The base64 public key of a base64 Ed25519 seed.
#[uniffi::export]
pub fn ed25519_public_key(seed: String) -> Res<String> {
    Ok(Ed25519Keypair::from_seed_b64(&seed)?.public_b64())
}

/// An Ed25519 key pair, both halves base64 (the seed is the secret).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Ed25519Keys {
    /// The 32-byte seed, base64: keep it secret.
    pub seed: String,
    /// The 32-byte public key, base64.
    pub public_key: String,
}

/// A fresh key pair from the OS random source.
#[uniffi::export]
pub fn generate_ed25519_keypair() -> Res<Ed25519Keys> {
    let kp = Ed25519Keypair::generate()?;
    Ok(Ed25519Keys { seed: kp.seed_b64(), public_key: kp.public_b64() })
}

/// The digest a read signs (SPEC §6.1).
#[uniffi::export]
pub fn read_digest(tenant: String, pcs_id: String, t: i64) -> Res<Vec<u8>> {
    Ok(fractal_core::read_digest(&tenant, &pcs_id, uint(t, "t", u64::MAX)?).to_vec())
}

/// The `Authorization` header of a read (SPEC §6.1) at unix time `t`: `alg`
/// is `hmac` (key: the secret's bytes) or `ed25519` (key: the base64 seed's bytes).
#[uniffi::export]
pub fn read_authorization(tenant: String, pcs_id: String, t: i64, alg: String, key: Vec<u8>) -> Res<String> {
    let t = uint(t, "t", u64::MAX)?;
    Ok(client::signing_key(&alg, &key)?.read_authorization(&tenant, &pcs_id, t)?)
}
