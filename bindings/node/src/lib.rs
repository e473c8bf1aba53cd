//! Node.js bindings of `fractal-core`, published as `@fractal-lba/client`.
//!
//! Every byte that is hashed or signed comes from the core: this crate only
//! reads JavaScript values (strictly, naming the field on any problem — see
//! `convert.rs`), calls the core, and turns its errors into JavaScript errors
//! with a stable `code` (see `error.rs`). No function here panics on bad input;
//! the core returns errors, and every export is `catch_unwind` so that a bug
//! surfaces as a JavaScript error rather than aborting the process.

#![deny(clippy::unwrap_used)]

mod client;
mod convert;
mod error;
mod ring;
mod tasks;
mod verifier;

use fractal_core::{Ed25519Keypair, canonical_fields, sha256};
use napi::Env;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::convert::{Keys, Signed, record};
use crate::error::{Failure, Res, ToJs};

pub use client::{CallOptionsDecl, Client, ClientOptionsDecl, RetryOptionsDecl, SubmitResult};
pub use ring::Ring;
pub use verifier::Verifier;

// ---------------------------------------------------------------------------
// Declarations of the plain objects crossing the boundary. The binding reads
// and writes them field by field (convert.rs); these structs give TypeScript
// its types, with the SPEC §1 field names.

/// A PCS record (SPEC §1) as a plain object. Integers beyond 2^53−1 (a `seed`,
/// say) come back from `parsePcs` as `bigint`; any integer field also accepts one.
#[napi(object, js_name = "Pcs")]
pub struct PcsDecl {
    #[napi(js_name = "pcs_id")]
    pub pcs_id: String,
    pub schema: String,
    pub version: String,
    #[napi(js_name = "shard_id")]
    pub shard_id: String,
    #[napi(ts_type = "number | bigint")]
    pub epoch: f64,
    #[napi(ts_type = "number | bigint")]
    pub attempt: Option<f64>,
    #[napi(js_name = "sent_at")]
    pub sent_at: Option<String>,
    #[napi(ts_type = "number | bigint")]
    pub seed: Option<f64>,
    #[napi(ts_type = "Array<number | bigint>")]
    pub scales: Option<Vec<f64>>,
    #[napi(js_name = "N_j", ts_type = "Record<string, number | bigint>")]
    pub n_j: Option<std::collections::HashMap<String, f64>>,
    #[napi(js_name = "coh_star")]
    pub coh_star: Option<f64>,
    #[napi(js_name = "v_star")]
    pub v_star: Option<Vec<f64>>,
    #[napi(js_name = "D_hat")]
    pub d_hat: Option<f64>,
    pub r: Option<f64>,
    #[napi(ts_type = "'sticky' | 'mixed' | 'non_sticky' | string")]
    pub regime: Option<String>,
    pub budget: Option<f64>,
    #[napi(js_name = "merkle_root")]
    pub merkle_root: String,
    /// Standard base64 signature over the canonical digest (SPEC §4).
    pub sig: Option<String>,
    #[napi(ts_type = "FaultTolerance")]
    pub ft: Option<FaultToleranceDecl>,
}

/// Optional fault-tolerance metadata of a record (`ft`).
#[napi(object, js_name = "FaultTolerance")]
pub struct FaultToleranceDecl {
    #[napi(js_name = "outbox_seq", ts_type = "number | bigint")]
    pub outbox_seq: Option<f64>,
    pub degraded: Option<bool>,
    pub fallbacks: Option<Vec<String>>,
    #[napi(js_name = "clock_skew_ms", ts_type = "number | bigint")]
    pub clock_skew_ms: Option<f64>,
}

/// What `buildPcs` needs; everything else (pcs_id, D_hat, regime, budget) is computed.
#[napi(object, js_name = "BuildInput")]
pub struct BuildInputDecl {
    #[napi(js_name = "merkle_root")]
    pub merkle_root: String,
    #[napi(ts_type = "number | bigint")]
    pub epoch: f64,
    #[napi(js_name = "shard_id")]
    pub shard_id: String,
    #[napi(ts_type = "Array<number | bigint>")]
    pub scales: Vec<f64>,
    #[napi(js_name = "N_j", ts_type = "Record<string, number | bigint>")]
    pub n_j: std::collections::HashMap<String, f64>,
    #[napi(js_name = "coh_star")]
    pub coh_star: f64,
    #[napi(js_name = "v_star")]
    pub v_star: Option<Vec<f64>>,
    pub r: f64,
    /// Default `"0.1"`.
    pub version: Option<String>,
    /// Default 1.
    #[napi(ts_type = "number | bigint")]
    pub attempt: Option<f64>,
    #[napi(js_name = "sent_at")]
    pub sent_at: Option<String>,
    /// Default 0.
    #[napi(ts_type = "number | bigint")]
    pub seed: Option<f64>,
    #[napi(ts_type = "FaultTolerance")]
    pub ft: Option<FaultToleranceDecl>,
}

/// Verification parameters (SPEC §5); missing ones take the defaults. The
/// snake_case names of the golden vectors (`tol_d`, `tol_coh`, `budget_tol`)
/// and the SPEC's `D0` are accepted too.
#[napi(object, js_name = "VerifyParams")]
pub struct VerifyParamsDecl {
    /// Tolerance on |D_hat − recomputed_D_hat| (0.15).
    pub tol_d: Option<f64>,
    /// Tolerance above 1 for coh_star (0.05).
    pub tol_coh: Option<f64>,
    /// Budget weight of 1 − r (0.30).
    pub alpha: Option<f64>,
    /// Budget weight of max(0, D_hat − d0) (0.50).
    pub beta: Option<f64>,
    /// Budget weight of coh_star (0.20).
    pub gamma: Option<f64>,
    /// Budget base (0.10).
    pub base: Option<f64>,
    /// Dimension threshold of the budget (2.2).
    pub d0: Option<f64>,
    /// Tolerance on |budget − recomputed_budget| (0.01).
    pub budget_tol: Option<f64>,
}

/// The outcome of verification (SPEC §5), with the wire's field names.
#[napi(object)]
pub struct VerifyResult {
    pub accepted: bool,
    pub escalated: bool,
    #[napi(js_name = "recomputed_D_hat")]
    pub recomputed_d_hat: Option<f64>,
    #[napi(js_name = "recomputed_budget")]
    pub recomputed_budget: Option<f64>,
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

/// A fresh Ed25519 key pair, both halves standard base64 of 32 bytes. Keep
/// `seed` secret; give `publicKey` to verifiers.
#[napi(object)]
pub struct Ed25519KeyPair {
    pub seed: String,
    pub public_key: String,
}

// ---------------------------------------------------------------------------
// Functions.

/// `lowercase_hex(SHA-256(merkle_root + "|" + epoch + "|" + shard_id))` (SPEC §2).
#[napi(
    catch_unwind,
    ts_args_type = "merkleRoot: string, epoch: number | bigint, shardId: string"
)]
pub fn pcs_id(
    env: &Env,
    merkle_root: Unknown,
    epoch: Unknown,
    shard_id: Unknown,
) -> Result<String> {
    let run = || -> Res<String> {
        let root = convert::string(merkle_root, "merkle_root")?;
        let epoch = convert::epoch(epoch, "epoch")?;
        let shard = convert::string(shard_id, "shard_id")?;
        Ok(fractal_core::pcs_id(&root, epoch, &shard))
    };
    run().js(env)
}

fn signed_arg(v: Unknown) -> Res<Signed> {
    convert::signed(&record(v, "record")?, &Keys::Static)
}

fn payload(s: &Signed) -> Res<Vec<u8>> {
    Ok(canonical_fields(&s.fields())?)
}

/// The canonical signing payload (SPEC §3): RFC 8785 JSON of the eight signed
/// fields, numbers rounded to 9 decimals. Only those fields are read.
#[napi(catch_unwind, ts_args_type = "record: Pcs", ts_return_type = "Buffer")]
pub fn canonical_payload<'e>(env: &'e Env, record: Unknown) -> Result<BufferSlice<'e>> {
    let bytes = signed_arg(record).and_then(|s| payload(&s)).js(env)?;
    // A copy into a plain Buffer is cheaper than handing V8 an external one.
    BufferSlice::copy_from(env, bytes)
}

/// SHA-256 of the canonical payload (32 bytes): what is signed.
#[napi(catch_unwind, ts_args_type = "record: Pcs", ts_return_type = "Buffer")]
pub fn digest<'e>(env: &'e Env, record: Unknown) -> Result<BufferSlice<'e>> {
    let bytes = signed_arg(record).and_then(|s| payload(&s)).js(env)?;
    BufferSlice::copy_from(env, sha256(&bytes))
}

pub(crate) fn hmac_one(s: &Signed, key: &[u8]) -> fractal_core::Result<String> {
    fractal_core::sign_hmac_digest(&sha256(&canonical_fields(&s.fields())?), key)
}

/// `base64(HMAC-SHA256(key, digest))` (SPEC §4). A string key is used as its
/// UTF-8 bytes; a Buffer/Uint8Array as is. Only the eight signed fields are
/// read (use `validate` for the rest); the record is not modified.
#[napi(catch_unwind, ts_args_type = "record: Pcs, key: string | Uint8Array")]
pub fn sign_hmac(env: &Env, record: Unknown, key: Unknown) -> Result<String> {
    let run = || -> Res<String> {
        let key = convert::bytes(key, "key")?;
        let s = signed_arg(record)?;
        Ok(hmac_one(&s, &key)?)
    };
    run().js(env)
}

/// Reads the records of a batch call, naming the index of a bad one.
pub(crate) fn signed_batch(env: &Env, records: Unknown) -> Res<Vec<Signed>> {
    let items = convert::batch(records, "records")?;
    let keys = Keys::cached(env)?;
    let mut out = Vec::with_capacity(items.len());
    for (i, v) in items.into_iter().enumerate() {
        out.push(
            record(v, "record")
                .and_then(|o| convert::signed(&o, &keys))
                .map_err(|f| f.at(i))?,
        );
    }
    Ok(out)
}

pub(crate) fn hmac_all(signed: &[Signed], key: &[u8]) -> std::result::Result<Vec<String>, Failure> {
    signed
        .iter()
        .enumerate()
        .map(|(i, s)| hmac_one(s, key).map_err(|e| Failure::from(e).at(i)))
        .collect()
}

/// `signHmac` over many records: one signature per record, in order. The
/// first bad record throws, with its position in `error.index`.
#[napi(
    catch_unwind,
    ts_args_type = "records: Pcs[], key: string | Uint8Array"
)]
pub fn sign_hmac_many(env: &Env, records: Unknown, key: Unknown) -> Result<Vec<String>> {
    let run = || -> Res<Vec<String>> {
        let key = convert::bytes(key, "key")?;
        hmac_all(&signed_batch(env, records)?, &key)
    };
    run().js(env)
}

/// `base64(Ed25519-sign(seed, digest))` (SPEC §4); `seed` is the base64 of the
/// 32-byte private seed.
#[napi(catch_unwind, ts_args_type = "record: Pcs, seed: string")]
pub fn sign_ed25519(env: &Env, record: Unknown, seed: Unknown) -> Result<String> {
    let run = || -> Res<String> {
        let kp = Ed25519Keypair::from_seed_b64(&convert::text(seed, "seed")?)?;
        let s = signed_arg(record)?;
        Ok(kp.sign_digest(&sha256(&payload(&s)?)))
    };
    run().js(env)
}

/// A new random Ed25519 key pair (from the operating system's randomness).
#[napi(catch_unwind)]
pub fn generate_ed25519_keypair(env: &Env) -> Result<Ed25519KeyPair> {
    Ed25519Keypair::generate()
        .map(|kp| Ed25519KeyPair {
            seed: kp.seed_b64(),
            public_key: kp.public_b64(),
        })
        .js(env)
}

/// The public key (base64) of an Ed25519 seed (base64).
#[napi(catch_unwind, ts_args_type = "seed: string")]
pub fn ed25519_public_key(env: &Env, seed: Unknown) -> Result<String> {
    let run = || -> Res<String> {
        Ok(Ed25519Keypair::from_seed_b64(&convert::text(seed, "seed")?)?.public_b64())
    };
    run().js(env)
}

fn full_record(v: Unknown) -> Res<fractal_core::Pcs> {
    convert::pcs(&record(v, "record")?)
}

/// SDK-side validation (SPEC §1) before anything is signed or sent: throws
/// `ERR_INVALID_FIELD` for a malformed record, `ERR_VALIDATION` naming the
/// field for an invalid one; returns nothing when the record is fine.
#[napi(catch_unwind, ts_args_type = "record: Pcs")]
pub fn validate(env: &Env, record: Unknown) -> Result<()> {
    full_record(record)
        .and_then(|p| Ok(fractal_core::validate(&p)?))
        .js(env)
}

/// Verification (SPEC §5): semantic problems are an escalated outcome, not an
/// error. Throws only for a malformed record or bad parameters.
#[napi(catch_unwind, ts_args_type = "record: Pcs, params?: VerifyParams")]
pub fn verify(env: &Env, record: Unknown, params: Option<Unknown>) -> Result<VerifyResult> {
    let run = || -> Res<VerifyResult> {
        let params = convert::verify_params(params)?;
        Ok(fractal_core::verify(&full_record(record)?, &params).into())
    };
    run().js(env)
}

/// `verify` over many records, in order. A malformed record throws, with its
/// position in `error.index`.
#[napi(catch_unwind, ts_args_type = "records: Pcs[], params?: VerifyParams")]
pub fn verify_many(
    env: &Env,
    records: Unknown,
    params: Option<Unknown>,
) -> Result<Vec<VerifyResult>> {
    let run = || -> Res<Vec<VerifyResult>> {
        let params = convert::verify_params(params)?;
        let items = convert::batch(records, "records")?;
        let mut out = Vec::with_capacity(items.len());
        for (i, v) in items.into_iter().enumerate() {
            out.push(fractal_core::verify(&full_record(v).map_err(|f| f.at(i))?, &params).into());
        }
        Ok(out)
    };
    run().js(env)
}

/// Builds a complete, valid record: computes `pcs_id`, `D_hat` (Theil–Sen),
/// `regime` and `budget`, then validates it. Unknown input fields are refused.
#[napi(
    catch_unwind,
    ts_args_type = "input: BuildInput, params?: VerifyParams",
    ts_return_type = "Pcs"
)]
pub fn build_pcs<'e>(env: &'e Env, input: Unknown, params: Option<Unknown>) -> Result<Object<'e>> {
    let run = || -> Res<fractal_core::Pcs> {
        let params = convert::verify_params(params)?;
        let input = convert::build_input(&record(input, "input")?)?;
        Ok(fractal_core::build_pcs_with(&input, &params)?)
    };
    let pcs = run().js(env)?;
    convert::pcs_to_js(env, &pcs)
}

/// Parses a record from JSON text or bytes with the core's strict parser
/// (SPEC §1, malformed level): `ERR_INVALID_JSON` for text that is not a JSON
/// object, `ERR_INVALID_FIELD` naming the field otherwise. Unknown fields are
/// dropped. Integers beyond 2^53−1 come back as `bigint`, losing nothing.
#[napi(
    catch_unwind,
    ts_args_type = "json: string | Uint8Array",
    ts_return_type = "Pcs"
)]
pub fn parse_pcs<'e>(env: &'e Env, json: Unknown) -> Result<Object<'e>> {
    let run = || -> Res<fractal_core::Pcs> {
        let bytes = match convert::bytes(json, "json") {
            Ok(b) => b,
            Err(Failure::Core {
                error: fractal_core::Error::InvalidArgument { reason, .. },
                ..
            }) if reason.contains("surrogate") => {
                return Err(fractal_core::Error::InvalidJson {
                    reason: "text contains a lone UTF-16 surrogate".into(),
                }
                .into());
            }
            Err(f) => return Err(f),
        };
        Ok(fractal_core::Pcs::from_json(&bytes)?)
    };
    let pcs = run().js(env)?;
    convert::pcs_to_js(env, &pcs)
}

/// The version of the Rust core inside this addon.
#[napi(catch_unwind)]
pub fn core_version() -> &'static str {
    fractal_core::VERSION
}
