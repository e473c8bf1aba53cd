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

use fractal_core::sign::format_sig;
use fractal_core::{Algorithm, Ed25519Keypair, HmacSigner, SigVersion, SigningKeyMaterial};
use napi::Env;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::convert::{Keys, record};
use crate::error::{Failure, Res, ToJs, bad_arg};

pub use client::{CallOptionsDecl, Client, ClientOptionsDecl, RetryOptionsDecl, SubmitResult};
pub use ring::Ring;
pub use verifier::{Verifier, VerifierOptionsDecl};

// ---------------------------------------------------------------------------
// Declarations of the plain objects crossing the boundary. The core reads them
// (through convert/de.rs) and the binding writes them (convert/to_js.rs); these
// structs give TypeScript its types, with the SPEC §1 field names.

/// A PCS record (SPEC §1) as a plain object. Integers beyond 2^53−1 (a `seed`,
/// say) come back from `parsePcs` as `bigint`; any integer field also accepts one.
/// Functions that take a record also accept fields the SPEC does not name
/// (`Pcs & Record<string, any>`): they are kept, sent, and signed by v2.
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
    /// The signature (SPEC §4): `'v2:'` + base64 over the v2 digest, or plain
    /// base64 over the v1 digest.
    pub sig: Option<String>,
    #[napi(ts_type = "FaultTolerance")]
    pub ft: Option<FaultToleranceDecl>,
}

/// Options of the signing calls.
#[napi(object, js_name = "SignOptions")]
pub struct SignOptionsDecl {
    /// The payload version (SPEC §3): 2 (default), or 1 for a server or tenant
    /// that does not accept v2 yet. Anything else throws `ERR_INVALID_ARGUMENT`
    /// naming `version`.
    #[napi(ts_type = "1 | 2")]
    pub version: Option<u32>,
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

/// A record read for signing with one payload version: for v1 only what v1
/// signs (the fast path), for v2 the whole record.
pub(crate) enum ToSign {
    V1(fractal_core::SignedRecord),
    /// Boxed: a batch holds many, and v1's are a fifth of the size.
    V2(Box<fractal_core::Pcs>),
}

impl ToSign {
    fn version(&self) -> SigVersion {
        match self {
            ToSign::V1(_) => SigVersion::V1,
            ToSign::V2(_) => SigVersion::V2,
        }
    }

    /// The canonical payload (SPEC §3.1 or §3.2).
    fn payload(&self) -> fractal_core::Result<Vec<u8>> {
        match self {
            ToSign::V1(s) => fractal_core::canonical_fields(&s.fields()),
            ToSign::V2(p) => fractal_core::canonical_payload_v2(p),
        }
    }

    /// What is signed: SHA-256 of the payload (v1), of the v2 domain and the payload (v2).
    fn digest(&self) -> fractal_core::Result<[u8; 32]> {
        match self {
            ToSign::V1(s) => s.fields().digest(),
            ToSign::V2(p) => fractal_core::digest(p, SigVersion::V2),
        }
    }

    /// `sig` under an HMAC signer: base64, behind `v2:` for v2.
    pub(crate) fn sign_hmac(&self, signer: &HmacSigner) -> fractal_core::Result<String> {
        Ok(format_sig(self.version(), signer.sign_digest(&self.digest()?)))
    }
}

/// Reads a record for signing with `version`.
fn to_sign(obj: Object, keys: &Keys, version: SigVersion) -> Res<ToSign> {
    Ok(match version {
        SigVersion::V1 => ToSign::V1(convert::signed(obj, keys)?),
        SigVersion::V2 => ToSign::V2(Box::new(convert::pcs(obj)?)),
    })
}

fn to_sign_arg(v: Unknown, options: Option<Unknown>) -> Res<ToSign> {
    let version = convert::sig_version(options)?;
    to_sign(record(v, "record")?, &Keys::one(), version)
}

/// The canonical signing payload (SPEC §3) of `version` (default 2): for v2,
/// RFC 8785 JSON of the whole record but `sig`, `attempt`, `sent_at` and `ft`,
/// unknown fields included, numbers as given; for v1, of the eight signed
/// fields, numbers rounded to 9 decimals.
#[napi(
    catch_unwind,
    ts_args_type = "record: Pcs & Record<string, any>, options?: SignOptions",
    ts_return_type = "Buffer"
)]
pub fn canonical_payload<'e>(
    env: &'e Env,
    record: Unknown,
    options: Option<Unknown>,
) -> Result<BufferSlice<'e>> {
    let bytes = to_sign_arg(record, options)
        .and_then(|t| Ok(t.payload()?))
        .js(env)?;
    // A copy into a plain Buffer is cheaper than handing V8 an external one.
    BufferSlice::copy_from(env, bytes)
}

/// What is signed (32 bytes): for v2 (default) SHA-256 of
/// `"fractal-lba/pcs/v2\n"` followed by the payload; for v1 SHA-256 of the payload.
#[napi(
    catch_unwind,
    ts_args_type = "record: Pcs & Record<string, any>, options?: SignOptions",
    ts_return_type = "Buffer"
)]
pub fn digest<'e>(env: &'e Env, record: Unknown, options: Option<Unknown>) -> Result<BufferSlice<'e>> {
    let bytes = to_sign_arg(record, options)
        .and_then(|t| Ok(t.digest()?))
        .js(env)?;
    BufferSlice::copy_from(env, bytes)
}

/// `'v2:' + base64(HMAC-SHA256(key, digest))` (SPEC §4), or plain base64 with
/// `{ version: 1 }`. A string key is used as its UTF-8 bytes; a
/// Buffer/Uint8Array as is. The record is not modified.
#[napi(
    catch_unwind,
    ts_args_type = "record: Pcs & Record<string, any>, key: string | Uint8Array, options?: SignOptions"
)]
pub fn sign_hmac(env: &Env, record: Unknown, key: Unknown, options: Option<Unknown>) -> Result<String> {
    let run = || -> Res<String> {
        let signer = HmacSigner::new(&convert::bytes(key, "key")?)?;
        Ok(to_sign_arg(record, options)?.sign_hmac(&signer)?)
    };
    run().js(env)
}

/// Reads the records of a batch call, naming the index of a bad one.
pub(crate) fn batch_to_sign(env: &Env, records: Unknown, version: SigVersion) -> Res<Vec<ToSign>> {
    let items = convert::batch(records, "records")?;
    let keys = Keys::many(env)?;
    let read = |(i, v)| record(v, "record").and_then(|o| to_sign(o, &keys, version)).map_err(|f| f.at(i));
    items.into_iter().enumerate().map(read).collect()
}

pub(crate) fn hmac_all(records: &[ToSign], signer: &HmacSigner) -> std::result::Result<Vec<String>, Failure> {
    records
        .iter()
        .enumerate()
        .map(|(i, t)| t.sign_hmac(signer).map_err(|e| Failure::from(e).at(i)))
        .collect()
}

/// `signHmac` over many records: one signature per record, in order. The
/// first bad record throws, with its position in `error.index`.
#[napi(
    catch_unwind,
    ts_args_type = "records: Array<Pcs & Record<string, any>>, key: string | Uint8Array, options?: SignOptions"
)]
pub fn sign_hmac_many(
    env: &Env,
    records: Unknown,
    key: Unknown,
    options: Option<Unknown>,
) -> Result<Vec<String>> {
    let run = || -> Res<Vec<String>> {
        let signer = HmacSigner::new(&convert::bytes(key, "key")?)?;
        let version = convert::sig_version(options)?;
        hmac_all(&batch_to_sign(env, records, version)?, &signer)
    };
    run().js(env)
}

/// `'v2:' + base64(Ed25519-sign(seed, digest))` (SPEC §4), or plain base64
/// with `{ version: 1 }`; `seed` is the base64 of the 32-byte private seed.
#[napi(catch_unwind, ts_args_type = "record: Pcs & Record<string, any>, seed: string, options?: SignOptions")]
pub fn sign_ed25519(env: &Env, record: Unknown, seed: Unknown, options: Option<Unknown>) -> Result<String> {
    let run = || -> Res<String> {
        let kp = Ed25519Keypair::from_seed_b64(&convert::text(seed, "seed")?)?;
        let t = to_sign_arg(record, options)?;
        Ok(format_sig(t.version(), kp.sign_digest(&t.digest()?)))
    };
    run().js(env)
}

/// The signing key of a read: `alg` and the key as a `Client` takes it.
fn read_key(alg: Unknown, key: Unknown) -> Res<SigningKeyMaterial> {
    let alg = Algorithm::parse(&convert::text(alg, "alg")?)?;
    Ok(match alg {
        // An HMAC key may be bytes, as for signHmac.
        Algorithm::Hmac => {
            let key = convert::bytes(key, "key")?;
            HmacSigner::new(&key)?;
            SigningKeyMaterial::Hmac(key)
        }
        Algorithm::Ed25519 => SigningKeyMaterial::parse(alg, &convert::text(key, "key")?)?,
    })
}

/// A read's unix time in seconds: a whole number ≥ 0 (a bigint too).
pub(crate) fn unix_seconds(v: Unknown, name: &str) -> Res<u64> {
    let x: i64 = convert::value(v, |reason| bad_arg(name, reason))?;
    u64::try_from(x).map_err(|_| bad_arg(name, "must not be negative").into())
}

/// The digest a read request signs (SPEC §6.1):
/// `SHA-256("fractal-lba/read/v1\n" ‖ tenant ‖ "\n" ‖ pcsId ‖ "\n" ‖ t)`.
#[napi(
    catch_unwind,
    ts_args_type = "tenant: string, pcsId: string, t: number | bigint",
    ts_return_type = "Buffer"
)]
pub fn read_digest<'e>(
    env: &'e Env,
    tenant: Unknown,
    pcs_id: Unknown,
    t: Unknown,
) -> Result<BufferSlice<'e>> {
    let run = || -> Res<[u8; 32]> {
        let tenant = convert::text(tenant, "tenant")?;
        let id = convert::text(pcs_id, "pcsId")?;
        Ok(fractal_core::read_digest(&tenant, &id, unix_seconds(t, "t")?))
    };
    let d = run().js(env)?;
    BufferSlice::copy_from(env, d)
}

/// The `Authorization` header of a read of `pcsId` for `tenant` at unix time
/// `t` (SPEC §6.1): `Fractal t=<t>, sig=<base64>`, signed with an HMAC secret
/// or a base64 Ed25519 seed. `Client.get` sends it by itself when the client
/// holds a key; this is for other HTTP stacks.
#[napi(
    catch_unwind,
    ts_args_type = "tenant: string, pcsId: string, t: number | bigint, alg: 'hmac' | 'ed25519', key: string | Uint8Array"
)]
pub fn read_authorization(
    env: &Env,
    tenant: Unknown,
    pcs_id: Unknown,
    t: Unknown,
    alg: Unknown,
    key: Unknown,
) -> Result<String> {
    let run = || -> Res<String> {
        let tenant = convert::text(tenant, "tenant")?;
        let id = convert::text(pcs_id, "pcsId")?;
        let t = unix_seconds(t, "t")?;
        Ok(read_key(alg, key)?.read_authorization(&tenant, &id, t)?)
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
    convert::pcs(record(v, "record")?)
}

/// SDK-side validation (SPEC §1) before anything is signed or sent: throws
/// `ERR_INVALID_FIELD` for a malformed record, `ERR_VALIDATION` naming the
/// field for an invalid one; returns nothing when the record is fine.
#[napi(catch_unwind, ts_args_type = "record: Pcs & Record<string, any>")]
pub fn validate(env: &Env, record: Unknown) -> Result<()> {
    full_record(record)
        .and_then(|p| Ok(fractal_core::validate(&p)?))
        .js(env)
}

/// Verification (SPEC §5): semantic problems are an escalated outcome, not an
/// error. Throws only for a malformed record or bad parameters.
#[napi(catch_unwind, ts_args_type = "record: Pcs & Record<string, any>, params?: VerifyParams")]
pub fn verify(env: &Env, record: Unknown, params: Option<Unknown>) -> Result<VerifyResult> {
    let run = || -> Res<VerifyResult> {
        let params = convert::verify_params(params)?;
        Ok(fractal_core::verify(&full_record(record)?, &params).into())
    };
    run().js(env)
}

/// `verify` over many records, in order. A malformed record throws, with its
/// position in `error.index`.
#[napi(catch_unwind, ts_args_type = "records: Array<Pcs & Record<string, any>>, params?: VerifyParams")]
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
        let input = convert::build_input(input)?;
        Ok(fractal_core::build_pcs_with(&input, &params)?)
    };
    let pcs = run().js(env)?;
    convert::pcs_to_js(env, &pcs)
}

/// Parses a record from JSON text or bytes with the core's strict parser
/// (SPEC §1, malformed level): `ERR_INVALID_JSON` for text that is not a JSON
/// object, `ERR_INVALID_FIELD` naming the field otherwise. Unknown fields are
/// kept, and optional fields the text left out stay out, so the object signs
/// (v2) exactly as the text does. Integers beyond 2^53−1 come back as
/// `bigint`, losing nothing.
#[napi(
    catch_unwind,
    ts_args_type = "json: string | Uint8Array",
    ts_return_type = "Pcs & Record<string, any>"
)]
pub fn parse_pcs<'e>(env: &'e Env, json: Unknown) -> Result<Object<'e>> {
    let run = || -> Res<fractal_core::Pcs> {
        // Text that is not UTF-8 (a lone surrogate) is not JSON.
        let bytes = match json.get_type()? {
            ValueType::String => convert::value::<String>(json, |reason| {
                fractal_core::Error::InvalidJson { reason: format!("text {reason}") }
            })?
            .into_bytes(),
            _ => convert::bytes(json, "json")?,
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
