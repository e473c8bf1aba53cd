//! # fractal-c — the C ABI of fractal-core
//!
//! Every export follows the same rules (see `bindings/c/README.md`):
//!
//! * It returns a [`FractalStatus`]; `FRACTAL_STATUS_OK` (0) means success. On
//!   failure, when the caller passed a non-null `err`, the library fills it with
//!   the field the error is about (or NULL) and a message; the caller frees both
//!   with [`fractal_error_free`]. There is no thread-local "last error".
//! * Input strings are `(pointer, length)` pairs of UTF-8 bytes, borrowed for the
//!   duration of the call only. A NULL pointer is allowed when the length is 0.
//! * Buffers the library allocates come back as [`FractalBytes`] and are freed with
//!   [`fractal_bytes_free`]; handles have their own `_free` function.
//! * No panic crosses the boundary: every export runs inside `catch_unwind` and
//!   reports a panic as `FRACTAL_STATUS_INTERNAL`.
//! * Handles: a `FractalVerifier` and a `FractalEd25519Key` are immutable and may be
//!   used from several threads at once; a `FractalRing` holds its ring behind a
//!   read-write lock, so lookups run in parallel and mutations are serialized.
//!   A `FractalClient` is immutable too; a `FractalSubmission` (one call's retry
//!   state) is for one thread at a time.
//! * Signatures have a payload version (SPEC §3–§4): the `_json` signing and
//!   payload functions take `version` (`FRACTAL_SIG_V2` for new signers,
//!   `FRACTAL_SIG_V1` for the seed's payload); the `_fields_v1` functions sign
//!   the eight v1 fields only. A verifier accepts v2 only unless told otherwise
//!   ([`fractal_verifier_builder_set_policy`]).
//! * The client protocol is sans I/O: the library builds each request and, fed
//!   each answer or transport failure, says whether to retry and after how long;
//!   the caller only moves bytes and sleeps.

#![allow(clippy::missing_safety_doc)]

use std::ffi::{CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::sync::RwLock;

use fractal_core::protocol::{ClientConfig, ClientError, RetryPolicy, Step, Submission, get_request, health_request};
use fractal_core::sign::{format_sig, split_sig};
use fractal_core::{
    Algorithm, BuildInput, Ed25519Keypair, Error, Pcs, Ring, SigVersion, SignaturePolicy, SigningFields,
    SigningKeyMaterial, VerifyParams, build_pcs_with, canonical_fields, canonical_payload, digest, read_digest, sha256,
    sign_hmac_digest,
};

/// `version` of the signing and payload functions: the v1 payload (SPEC §3.1, the
/// eight fields rounded to 9 decimals); its `sig` is plain base64.
pub const FRACTAL_SIG_V1: u32 = 1;
/// `version` of the signing and payload functions: the v2 payload (SPEC §3.2, the
/// whole record but its delivery fields, as sent); its `sig` is `v2:` + base64.
/// New signers use it.
pub const FRACTAL_SIG_V2: u32 = 2;
/// Length of a v1 HMAC-SHA256 signature in base64 (32 bytes → 44 characters).
pub const FRACTAL_HMAC_SIG_LEN: usize = 44;
/// Length of a v1 Ed25519 signature in base64 (64 bytes → 88 characters).
pub const FRACTAL_ED25519_SIG_LEN: usize = 88;
/// Length of a v2 HMAC-SHA256 signature: `v2:` + 44 base64 characters.
pub const FRACTAL_HMAC_SIG_V2_LEN: usize = 47;
/// Length of a v2 Ed25519 signature: `v2:` + 88 base64 characters.
pub const FRACTAL_ED25519_SIG_V2_LEN: usize = 91;
/// A buffer of this many bytes holds any signature of any version.
pub const FRACTAL_SIG_MAX_LEN: usize = 91;
/// Length of a base64 Ed25519 seed or public key (32 bytes → 44 characters).
pub const FRACTAL_ED25519_KEY_LEN: usize = 44;
/// Length of a `pcs_id` (lowercase hex SHA-256 → 64 characters).
pub const FRACTAL_PCS_ID_LEN: usize = 64;
/// Length of a digest (SHA-256 → 32 bytes).
pub const FRACTAL_DIGEST_LEN: usize = 32;

/// The outcome of every call. The non-zero values mirror the core's error kinds.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FractalStatus {
    /// Success.
    Ok = 0,
    /// The bytes are not well-formed JSON, or not a JSON object (`invalid_json`).
    InvalidJson = 1,
    /// A record field is malformed at parse level (`invalid_field`).
    InvalidField = 2,
    /// SDK validation failed (`validation`).
    Validation = 3,
    /// A signature was required but the record has none (`signature_missing`).
    SignatureMissing = 4,
    /// The signature is malformed or verifies under no key (`signature_invalid`).
    SignatureInvalid = 5,
    /// A key could not be used (`invalid_key`).
    InvalidKey = 6,
    /// A ring operation failed (`ring`).
    Ring = 7,
    /// An argument that is not a record field is invalid, e.g. a NULL pointer,
    /// bytes that are not UTF-8, a verification parameter (`invalid_argument`).
    InvalidArgument = 8,
    /// A bug: the library caught a panic. Please report it.
    Internal = 9,
    /// The signature names a payload version the verifier's policy does not
    /// accept, e.g. a v1 signature on a v2-only verifier, or an unknown `vN:`
    /// prefix (`unsupported_signature_version`). The field is `sig`.
    UnsupportedSignatureVersion = 10,
}

/// Details of a failed call, filled by the library when the caller passes a
/// non-null `err`. Both strings are NUL-terminated UTF-8 owned by the library
/// until [`fractal_error_free`]; `field` is NULL when the error names no field.
/// Initialise it to `{NULL, NULL}` before the first call.
#[repr(C)]
pub struct FractalError {
    /// The record field (or argument) the error is about, or NULL.
    pub field: *mut c_char,
    /// A human-readable message (never contains key material).
    pub message: *mut c_char,
}

/// A byte buffer allocated by the library. Free it with [`fractal_bytes_free`].
#[repr(C)]
pub struct FractalBytes {
    /// The bytes (not NUL-terminated); NULL only when `len` is 0 and nothing was
    /// allocated.
    pub ptr: *mut u8,
    /// The number of bytes.
    pub len: usize,
}

/// The eight fields the v1 payload signs (SPEC §3.1), borrowed for one call; the
/// `_v1` functions take them (v2 signs the whole record, given as JSON). Strings
/// are `(pointer, length)` UTF-8; a pointer may be NULL when its length is 0.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct FractalFields {
    /// `pcs_id`.
    pub pcs_id: *const u8,
    /// Length of `pcs_id` in bytes.
    pub pcs_id_len: usize,
    /// `merkle_root`.
    pub merkle_root: *const u8,
    /// Length of `merkle_root` in bytes.
    pub merkle_root_len: usize,
    /// `shard_id`.
    pub shard_id: *const u8,
    /// Length of `shard_id` in bytes.
    pub shard_id_len: usize,
    /// `epoch` (at most 2^53−1 to be signable).
    pub epoch: u64,
    /// `D_hat`.
    pub d_hat: f64,
    /// `coh_star`.
    pub coh_star: f64,
    /// `r`.
    pub r: f64,
    /// `budget`.
    pub budget: f64,
}

/// Verification parameters (SPEC §5). [`fractal_verify_params_default`] fills the
/// contract's defaults.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct FractalVerifyParams {
    /// Tolerance on `|D_hat − recomputed_D_hat|` (0.15).
    pub tol_d: f64,
    /// Tolerance above 1 for `coh_star` (0.05).
    pub tol_coh: f64,
    /// Budget weight of `1 − r` (0.30).
    pub alpha: f64,
    /// Budget weight of `max(0, D_hat − D0)` (0.50).
    pub beta: f64,
    /// Budget weight of `coh_star` (0.20).
    pub gamma: f64,
    /// Budget base (0.10).
    pub base: f64,
    /// Dimension threshold of the budget (2.2).
    pub d0: f64,
    /// Tolerance on `|budget − recomputed_budget|` (0.01).
    pub budget_tol: f64,
}

/// The outcome of [`fractal_verify_json`] (SPEC §5). `reason` is NULL or a
/// NUL-terminated string owned by the library until
/// [`fractal_verify_result_free`].
#[repr(C)]
pub struct FractalVerifyResult {
    /// Whether the record is accepted.
    pub accepted: bool,
    /// Whether it is escalated.
    pub escalated: bool,
    /// Whether `recomputed_d_hat` holds a value.
    pub has_recomputed_d_hat: bool,
    /// Theil–Sen estimate recomputed from `scales` and `N_j`.
    pub recomputed_d_hat: f64,
    /// Whether `recomputed_budget` holds a value.
    pub has_recomputed_budget: bool,
    /// Budget recomputed from the record.
    pub recomputed_budget: f64,
    /// Why the record was not plainly accepted, or NULL.
    pub reason: *mut c_char,
}

/// Counts describing a ring.
#[repr(C)]
pub struct FractalRingStats {
    /// Number of shards.
    pub shards: usize,
    /// Number of healthy shards.
    pub healthy_shards: usize,
    /// Number of points on the ring.
    pub points: usize,
    /// Virtual nodes per unit of weight.
    pub vnodes: u32,
}

/// An Ed25519 private key (opaque, immutable, safe to share between threads).
/// Free it with [`fractal_ed25519_key_free`].
pub struct FractalEd25519Key {
    inner: Ed25519Keypair,
}

/// Collects keys for a verifier (opaque, not thread-safe). Consumed by
/// [`fractal_verifier_builder_build`] or freed by [`fractal_verifier_builder_free`].
pub struct FractalVerifierBuilder {
    inner: fractal_core::Verifier,
}

/// Checks signatures under one or more keys (opaque, immutable, safe to share
/// between threads). Free it with [`fractal_verifier_free`].
pub struct FractalVerifier {
    inner: fractal_core::Verifier,
}

/// A consistent-hash ring behind a read-write lock (opaque, safe to share between
/// threads). Free it with [`fractal_ring_free`].
pub struct FractalRing {
    inner: RwLock<Ring>,
}

// ---------------------------------------------------------------------------
// The boundary: errors, panics, pointers.

/// What a failing call reports: its status, the field it names, its message.
struct Failure {
    status: FractalStatus,
    field: Option<String>,
    message: String,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let status = match e.kind() {
            "invalid_json" => FractalStatus::InvalidJson,
            "invalid_field" => FractalStatus::InvalidField,
            "validation" => FractalStatus::Validation,
            "signature_missing" => FractalStatus::SignatureMissing,
            "signature_invalid" => FractalStatus::SignatureInvalid,
            "unsupported_signature_version" => FractalStatus::UnsupportedSignatureVersion,
            "invalid_key" => FractalStatus::InvalidKey,
            "ring" => FractalStatus::Ring,
            "invalid_argument" => FractalStatus::InvalidArgument,
            _ => FractalStatus::Internal,
        };
        Failure { status, field: e.field().map(String::from), message: e.to_string() }
    }
}

fn bad_arg(name: &str, reason: &str) -> Failure {
    Failure {
        status: FractalStatus::InvalidArgument,
        field: Some(name.to_string()),
        message: format!("invalid argument `{name}`: {reason}"),
    }
}

type FfiResult<T = ()> = Result<T, Failure>;

/// A C string of `s`; interior NULs (impossible in our messages, but field names
/// may echo caller input) become U+FFFD so nothing is lost silently.
fn c_string(s: &str) -> *mut c_char {
    let cleaned = if s.contains('\0') { s.replace('\0', "\u{FFFD}") } else { s.to_string() };
    CString::new(cleaned).map(CString::into_raw).unwrap_or(ptr::null_mut())
}

unsafe fn report(err: *mut FractalError, f: Failure) -> FractalStatus {
    if !err.is_null() {
        // SAFETY: the caller passes a valid, writable FractalError (documented).
        unsafe {
            free_error_fields(&mut *err);
            (*err).field = f.field.as_deref().map_or(ptr::null_mut(), c_string);
            (*err).message = c_string(&f.message);
        }
    }
    f.status
}

unsafe fn free_error_fields(e: &mut FractalError) {
    for p in [&mut e.field, &mut e.message] {
        if !p.is_null() {
            // SAFETY: the pointer came from CString::into_raw in `c_string`.
            drop(unsafe { CString::from_raw(*p) });
            *p = ptr::null_mut();
        }
    }
}

/// Runs `body` behind `catch_unwind`, turning a failure or a panic into a status
/// (and a filled `err`).
fn boundary(err: *mut FractalError, body: impl FnOnce() -> FfiResult) -> FractalStatus {
    let outcome = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|_| {
        Err(Failure {
            status: FractalStatus::Internal,
            field: None,
            message: "internal error: the library panicked (please report this bug)".into(),
        })
    });
    match outcome {
        Ok(()) => FractalStatus::Ok,
        // SAFETY: `err` is NULL or valid, per every export's contract.
        Err(f) => unsafe { report(err, f) },
    }
}

/// Runs a body that cannot fail (but might panic) behind `catch_unwind`.
fn boundary_infallible<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// Borrows `(ptr, len)` as bytes; NULL is allowed only with length 0.
unsafe fn bytes<'a>(name: &str, p: *const u8, len: usize) -> FfiResult<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(bad_arg(name, "is NULL but its length is not 0"));
    }
    // SAFETY: the caller guarantees `p` points to `len` readable bytes for the call.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// Borrows `(ptr, len)` as UTF-8 text.
unsafe fn text<'a>(name: &str, p: *const u8, len: usize) -> FfiResult<&'a str> {
    let b = unsafe { bytes(name, p, len)? };
    std::str::from_utf8(b).map_err(|_| bad_arg(name, "is not valid UTF-8"))
}

fn out_ptr<'a, T>(name: &str, p: *mut T) -> FfiResult<&'a mut T> {
    // SAFETY: non-null output pointers point to writable storage (documented).
    unsafe { p.as_mut() }.ok_or_else(|| bad_arg(name, "is NULL"))
}

fn handle<'a, T>(name: &str, p: *const T) -> FfiResult<&'a T> {
    // SAFETY: non-null handles come from this library and are not yet freed.
    unsafe { p.as_ref() }.ok_or_else(|| bad_arg(name, "is NULL"))
}

fn give_bytes(out: &mut FractalBytes, v: Vec<u8>) {
    let boxed = v.into_boxed_slice();
    out.len = boxed.len();
    out.ptr = Box::into_raw(boxed) as *mut u8;
}

/// Copies `s` into a caller buffer of exactly `cap` bytes, which must be `want`.
unsafe fn fill(name: &str, out: *mut u8, cap: usize, s: &[u8]) -> FfiResult {
    if out.is_null() {
        return Err(bad_arg(name, "is NULL"));
    }
    if cap < s.len() {
        return Err(bad_arg(name, "buffer is too small"));
    }
    // SAFETY: `out` has room for `cap` ≥ `s.len()` bytes (checked above).
    unsafe { ptr::copy_nonoverlapping(s.as_ptr(), out, s.len()) };
    Ok(())
}

/// Copies a signature into a caller buffer and reports its length in `*out_len`.
unsafe fn fill_sig(out: *mut u8, cap: usize, out_len: &mut usize, sig: &str) -> FfiResult {
    unsafe { fill("out", out, cap, sig.as_bytes())? };
    *out_len = sig.len();
    Ok(())
}

/// The payload version of a `version` argument (`FRACTAL_SIG_V1` or `_V2`).
fn version_of(version: u32) -> FfiResult<SigVersion> {
    Ok(SigVersion::from_number(i64::from(version))?)
}

unsafe fn fields<'a>(f: &FractalFields) -> FfiResult<SigningFields<'a>> {
    unsafe {
        Ok(SigningFields {
            pcs_id: text("pcs_id", f.pcs_id, f.pcs_id_len)?,
            merkle_root: text("merkle_root", f.merkle_root, f.merkle_root_len)?,
            epoch: f.epoch,
            shard_id: text("shard_id", f.shard_id, f.shard_id_len)?,
            d_hat: f.d_hat,
            coh_star: f.coh_star,
            r: f.r,
            budget: f.budget,
        })
    }
}

unsafe fn record(json: *const u8, len: usize) -> FfiResult<Pcs> {
    let b = unsafe { bytes("json", json, len)? };
    Ok(Pcs::from_json(b)?)
}

fn params_of(p: *const FractalVerifyParams) -> FfiResult<VerifyParams> {
    // SAFETY: NULL or a valid FractalVerifyParams (documented).
    let params = match unsafe { p.as_ref() } {
        None => VerifyParams::default(),
        Some(p) => VerifyParams {
            tol_d: p.tol_d,
            tol_coh: p.tol_coh,
            alpha: p.alpha,
            beta: p.beta,
            gamma: p.gamma,
            base: p.base,
            d0: p.d0,
            budget_tol: p.budget_tol,
        },
    };
    params.check()?;
    Ok(params)
}

// ---------------------------------------------------------------------------
// Memory.

/// The library's version, a static NUL-terminated string (never free it).
#[unsafe(no_mangle)]
pub extern "C" fn fractal_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char
}

/// Frees the strings inside `err` (not `err` itself) and sets them to NULL.
/// NULL and an already-freed error are fine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_error_free(err: *mut FractalError) {
    boundary_infallible((), || {
        // SAFETY: NULL or a FractalError the library filled (documented).
        if let Some(e) = unsafe { err.as_mut() } {
            unsafe { free_error_fields(e) };
        }
    })
}

/// Frees a buffer the library returned and sets it to `{NULL, 0}`. NULL and an
/// empty buffer are fine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_bytes_free(bytes: *mut FractalBytes) {
    boundary_infallible((), || {
        // SAFETY: NULL or a FractalBytes the library filled (documented).
        if let Some(b) = unsafe { bytes.as_mut() } {
            if !b.ptr.is_null() {
                // SAFETY: ptr/len came from Box<[u8]>::into_raw in `give_bytes`.
                drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(b.ptr, b.len)) });
            }
            b.ptr = ptr::null_mut();
            b.len = 0;
        }
    })
}

/// Frees the `reason` inside a verification result and sets it to NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_verify_result_free(result: *mut FractalVerifyResult) {
    boundary_infallible((), || {
        // SAFETY: NULL or a FractalVerifyResult the library filled (documented).
        if let Some(r) = unsafe { result.as_mut() }
            && !r.reason.is_null()
        {
            // SAFETY: `reason` came from CString::into_raw in `c_string`.
            drop(unsafe { CString::from_raw(r.reason) });
            r.reason = ptr::null_mut();
        }
    })
}

// ---------------------------------------------------------------------------
// pcs_id, canonical payload, digest (SPEC §2–§3).

/// Writes `pcs_id(merkle_root, epoch, shard_id)` (SPEC §2) as 64 lowercase hex
/// characters into `out` (capacity `out_cap` ≥ `FRACTAL_PCS_ID_LEN`, not
/// NUL-terminated).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_pcs_id(
    merkle_root: *const u8,
    merkle_root_len: usize,
    epoch: u64,
    shard_id: *const u8,
    shard_id_len: usize,
    out: *mut u8,
    out_cap: usize,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let mr = text("merkle_root", merkle_root, merkle_root_len)?;
        let sh = text("shard_id", shard_id, shard_id_len)?;
        fill("out", out, out_cap, fractal_core::pcs_id(mr, epoch, sh).as_bytes())
    })
}

/// The v1 signing payload (SPEC §3.1) of the eight fields, into `out` (free with
/// [`fractal_bytes_free`]). The eight fields are all v1 signs; the v2 payload
/// needs the whole record: [`fractal_canonical_json`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_canonical_fields_v1(
    fields: FractalFields,
    out: *mut FractalBytes,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let out = out_ptr("out", out)?;
        give_bytes(out, canonical_fields(&self::fields(&fields)?)?);
        Ok(())
    })
}

/// The signing payload of `version` (`FRACTAL_SIG_V1`: SPEC §3.1,
/// `FRACTAL_SIG_V2`: §3.2) of a record given as JSON, into `out` (free with
/// [`fractal_bytes_free`]). The record is parsed strictly; v2 covers its unknown
/// fields too and leaves out the optional fields the JSON leaves out. Another
/// `version` is `INVALID_ARGUMENT` naming `version`; a number v2 cannot sign
/// (an integer beyond ±(2^53−1)) is `INVALID_FIELD` naming it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_canonical_json(
    json: *const u8,
    json_len: usize,
    version: u32,
    out: *mut FractalBytes,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let out = out_ptr("out", out)?;
        let version = version_of(version)?;
        let pcs = record(json, json_len)?;
        give_bytes(out, canonical_payload(&pcs, version)?);
        Ok(())
    })
}

/// Writes the 32-byte digest of the v1 payload of the eight fields,
/// SHA-256 of [`fractal_canonical_fields_v1`], into `out` (capacity `out_cap` ≥
/// `FRACTAL_DIGEST_LEN`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_digest_fields_v1(
    fields: FractalFields,
    out: *mut u8,
    out_cap: usize,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let d = sha256(&canonical_fields(&self::fields(&fields)?)?);
        fill("out", out, out_cap, &d)
    })
}

/// Writes the 32-byte digest both algorithms sign for `version` into `out`
/// (capacity ≥ `FRACTAL_DIGEST_LEN`): SHA-256 of the v1 payload, or
/// SHA-256(`"fractal-lba/pcs/v2\n"` ‖ v2 payload) (SPEC §3.2 step 4).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_digest_json(
    json: *const u8,
    json_len: usize,
    version: u32,
    out: *mut u8,
    out_cap: usize,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let version = version_of(version)?;
        let d = digest(&record(json, json_len)?, version)?;
        fill("out", out, out_cap, &d)
    })
}

// ---------------------------------------------------------------------------
// Records as JSON: parse, validate, build, verify (SPEC §1, §5).

/// Parses a record strictly (SPEC §1, malformed level, limits included) and
/// writes it back as compact JSON into `out` (free with [`fractal_bytes_free`]):
/// unknown fields are kept, optional fields the input leaves out stay out
/// (`attempt` too), so the output signs under v2 exactly as the input does.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_parse_json(
    json: *const u8,
    json_len: usize,
    out: *mut FractalBytes,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let out = out_ptr("out", out)?;
        let pcs = record(json, json_len)?;
        give_bytes(out, pcs.to_json());
        Ok(())
    })
}

/// Parses and validates a record (SPEC §1, SDK validation). `FRACTAL_STATUS_OK`
/// when it is valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_validate_json(
    json: *const u8,
    json_len: usize,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let pcs = record(json, json_len)?;
        Ok(fractal_core::validate(&pcs)?)
    })
}

/// Fills `out` with the contract's default verification parameters.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_verify_params_default(out: *mut FractalVerifyParams) -> FractalStatus {
    boundary(ptr::null_mut(), || {
        let out = out_ptr("out", out)?;
        let d = VerifyParams::default();
        *out = FractalVerifyParams {
            tol_d: d.tol_d,
            tol_coh: d.tol_coh,
            alpha: d.alpha,
            beta: d.beta,
            gamma: d.gamma,
            base: d.base,
            d0: d.d0,
            budget_tol: d.budget_tol,
        };
        Ok(())
    })
}

/// Verifies a record given as JSON (SPEC §5) under `params` (NULL: defaults).
/// Semantic problems are outcomes in `out`, not errors; errors are malformed JSON
/// or invalid parameters. Free `out` with [`fractal_verify_result_free`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_verify_json(
    json: *const u8,
    json_len: usize,
    params: *const FractalVerifyParams,
    out: *mut FractalVerifyResult,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let out = out_ptr("out", out)?;
        let params = params_of(params)?;
        let pcs = record(json, json_len)?;
        let res = fractal_core::verify(&pcs, &params);
        *out = FractalVerifyResult {
            accepted: res.accepted,
            escalated: res.escalated,
            has_recomputed_d_hat: res.recomputed_d_hat.is_some(),
            recomputed_d_hat: res.recomputed_d_hat.unwrap_or(0.0),
            has_recomputed_budget: res.recomputed_budget.is_some(),
            recomputed_budget: res.recomputed_budget.unwrap_or(0.0),
            reason: res.reason.as_deref().map_or(ptr::null_mut(), c_string),
        };
        Ok(())
    })
}

/// Builds a complete, valid, unsigned record from a JSON build input (the
/// measurements: `merkle_root, epoch, shard_id, scales, N_j, coh_star, r` and the
/// optional `v_star, version, attempt, sent_at, seed, ft`) under `params` (NULL:
/// defaults). The record comes back as JSON in `out` (free with
/// [`fractal_bytes_free`]).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_build_pcs_json(
    input_json: *const u8,
    input_json_len: usize,
    params: *const FractalVerifyParams,
    out: *mut FractalBytes,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let out = out_ptr("out", out)?;
        let params = params_of(params)?;
        let input = BuildInput::from_json(bytes("input_json", input_json, input_json_len)?)?;
        give_bytes(out, build_pcs_with(&input, &params)?.to_json());
        Ok(())
    })
}

// ---------------------------------------------------------------------------
// Signing (SPEC §4).

/// Writes the v1 signature (SPEC §3.1, §4: plain base64 of the HMAC-SHA256 of the
/// eight fields' digest) under `key` (its bytes) into `out` (capacity ≥
/// `FRACTAL_HMAC_SIG_LEN`, not NUL-terminated). For v2, sign the whole record:
/// [`fractal_sign_hmac_json`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_sign_hmac_fields_v1(
    fields: FractalFields,
    key: *const u8,
    key_len: usize,
    out: *mut u8,
    out_cap: usize,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let key = bytes("key", key, key_len)?;
        let d = sha256(&canonical_fields(&self::fields(&fields)?)?);
        fill("out", out, out_cap, sign_hmac_digest(&d, key)?.as_bytes())
    })
}

/// Signs a record given as JSON with HMAC-SHA256 under `key` (its bytes) over
/// the payload of `version` (SPEC §3, §4): writes the `sig` text into `out`
/// (capacity ≥ `FRACTAL_HMAC_SIG_LEN` for v1, `FRACTAL_HMAC_SIG_V2_LEN` for v2,
/// or simply `FRACTAL_SIG_MAX_LEN`; not NUL-terminated) and its length into
/// `*out_len`. A v2 `sig` is `v2:` + base64.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_sign_hmac_json(
    json: *const u8,
    json_len: usize,
    key: *const u8,
    key_len: usize,
    version: u32,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let out_len = out_ptr("out_len", out_len)?;
        let key = bytes("key", key, key_len)?;
        let version = version_of(version)?;
        let d = digest(&record(json, json_len)?, version)?;
        fill_sig(out, out_cap, out_len, &format_sig(version, sign_hmac_digest(&d, key)?))
    })
}

/// Writes the 32-byte digest a read request signs (SPEC §6.1),
/// SHA-256(`"fractal-lba/read/v1\n"` ‖ tenant ‖ `"\n"` ‖ pcs_id ‖ `"\n"` ‖ t),
/// into `out` (capacity ≥ `FRACTAL_DIGEST_LEN`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_read_digest(
    tenant: *const u8,
    tenant_len: usize,
    pcs_id: *const u8,
    pcs_id_len: usize,
    t: u64,
    out: *mut u8,
    out_cap: usize,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let tenant = text("tenant", tenant, tenant_len)?;
        let pcs_id = text("pcs_id", pcs_id, pcs_id_len)?;
        fill("out", out, out_cap, &read_digest(tenant, pcs_id, t))
    })
}

/// Writes the `Authorization` header value of a read (SPEC §6.1),
/// `Fractal t=<t>, sig=<base64>`, signed with HMAC-SHA256 under `key` (its
/// bytes) at unix time `t` for `tenant` and `pcs_id`, into `out` (free with
/// [`fractal_bytes_free`]).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_sign_read_hmac(
    key: *const u8,
    key_len: usize,
    tenant: *const u8,
    tenant_len: usize,
    pcs_id: *const u8,
    pcs_id_len: usize,
    t: u64,
    out: *mut FractalBytes,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let out = out_ptr("out", out)?;
        let key = SigningKeyMaterial::Hmac(bytes("key", key, key_len)?.to_vec());
        let tenant = text("tenant", tenant, tenant_len)?;
        let pcs_id = text("pcs_id", pcs_id, pcs_id_len)?;
        give_bytes(out, key.read_authorization(tenant, pcs_id, t)?.into_bytes());
        Ok(())
    })
}

/// Creates an Ed25519 key from the operating system's random source into `*out`
/// (free with [`fractal_ed25519_key_free`]).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_ed25519_key_generate(
    out: *mut *mut FractalEd25519Key,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || {
        let out = out_ptr("out", out)?;
        *out = Box::into_raw(Box::new(FractalEd25519Key { inner: Ed25519Keypair::generate()? }));
        Ok(())
    })
}

/// Creates an Ed25519 key from the base64 of its 32-byte private seed into `*out`
/// (free with [`fractal_ed25519_key_free`]).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_ed25519_key_from_seed(
    seed_b64: *const u8,
    seed_b64_len: usize,
    out: *mut *mut FractalEd25519Key,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let out = out_ptr("out", out)?;
        let seed = text("seed", seed_b64, seed_b64_len)?;
        *out = Box::into_raw(Box::new(FractalEd25519Key { inner: Ed25519Keypair::from_seed_b64(seed)? }));
        Ok(())
    })
}

/// Writes the base64 public key (`FRACTAL_ED25519_KEY_LEN` characters, not
/// NUL-terminated) into `out`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_ed25519_key_public(
    key: *const FractalEd25519Key,
    out: *mut u8,
    out_cap: usize,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe { fill("out", out, out_cap, handle("key", key)?.inner.public_b64().as_bytes()) })
}

/// Writes the base64 private seed (`FRACTAL_ED25519_KEY_LEN` characters, not
/// NUL-terminated) into `out`. Treat it as a secret.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_ed25519_key_seed(
    key: *const FractalEd25519Key,
    out: *mut u8,
    out_cap: usize,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe { fill("out", out, out_cap, handle("key", key)?.inner.seed_b64().as_bytes()) })
}

/// Writes the v1 signature (plain base64 Ed25519 signature of the eight fields'
/// digest) into `out` (capacity ≥ `FRACTAL_ED25519_SIG_LEN`, not
/// NUL-terminated). For v2, sign the whole record:
/// [`fractal_ed25519_key_sign_json`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_ed25519_key_sign_fields_v1(
    key: *const FractalEd25519Key,
    fields: FractalFields,
    out: *mut u8,
    out_cap: usize,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let key = handle("key", key)?;
        let d = sha256(&canonical_fields(&self::fields(&fields)?)?);
        fill("out", out, out_cap, key.inner.sign_digest(&d).as_bytes())
    })
}

/// Signs a record given as JSON with Ed25519 over the payload of `version`
/// (SPEC §3, §4): writes the `sig` text into `out` (capacity ≥
/// `FRACTAL_ED25519_SIG_LEN` for v1, `FRACTAL_ED25519_SIG_V2_LEN` for v2, or
/// `FRACTAL_SIG_MAX_LEN`; not NUL-terminated) and its length into `*out_len`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_ed25519_key_sign_json(
    key: *const FractalEd25519Key,
    json: *const u8,
    json_len: usize,
    version: u32,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let key = handle("key", key)?;
        let out_len = out_ptr("out_len", out_len)?;
        let version = version_of(version)?;
        let d = digest(&record(json, json_len)?, version)?;
        fill_sig(out, out_cap, out_len, &format_sig(version, key.inner.sign_digest(&d)))
    })
}

/// Writes the `Authorization` header value of a read (SPEC §6.1),
/// `Fractal t=<t>, sig=<base64>`, signed with this key at unix time `t` for
/// `tenant` and `pcs_id`, into `out` (free with [`fractal_bytes_free`]).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_ed25519_key_sign_read(
    key: *const FractalEd25519Key,
    tenant: *const u8,
    tenant_len: usize,
    pcs_id: *const u8,
    pcs_id_len: usize,
    t: u64,
    out: *mut FractalBytes,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let key = handle("key", key)?;
        let out = out_ptr("out", out)?;
        let tenant = text("tenant", tenant, tenant_len)?;
        let pcs_id = text("pcs_id", pcs_id, pcs_id_len)?;
        let material = SigningKeyMaterial::Ed25519(key.inner.clone());
        give_bytes(out, material.read_authorization(tenant, pcs_id, t)?.into_bytes());
        Ok(())
    })
}

/// Frees a key. NULL is fine; freeing twice is not.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_ed25519_key_free(key: *mut FractalEd25519Key) {
    boundary_infallible((), || {
        if !key.is_null() {
            // SAFETY: the pointer came from Box::into_raw in this library.
            drop(unsafe { Box::from_raw(key) });
        }
    })
}

// ---------------------------------------------------------------------------
// Verifier (SPEC §4): a builder collects keys, then an immutable verifier.

/// A builder holding no key (never NULL; free with
/// [`fractal_verifier_builder_free`] unless it is built).
#[unsafe(no_mangle)]
pub extern "C" fn fractal_verifier_builder_new() -> *mut FractalVerifierBuilder {
    boundary_infallible(ptr::null_mut(), || {
        Box::into_raw(Box::new(FractalVerifierBuilder { inner: fractal_core::Verifier::new() }))
    })
}

/// Adds an HMAC shared secret (its bytes; must not be empty).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_verifier_builder_add_hmac_key(
    builder: *mut FractalVerifierBuilder,
    key: *const u8,
    key_len: usize,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let b = out_ptr("builder", builder)?;
        b.inner.add_hmac_key(bytes("key", key, key_len)?)?;
        Ok(())
    })
}

/// Adds an Ed25519 public key given as base64 of its 32 bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_verifier_builder_add_ed25519_public_key(
    builder: *mut FractalVerifierBuilder,
    public_b64: *const u8,
    public_b64_len: usize,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let b = out_ptr("builder", builder)?;
        b.inner.add_ed25519_public_key(text("public_key", public_b64, public_b64_len)?)?;
        Ok(())
    })
}

/// Sets which signatures the verifier will accept (SPEC §4, §4.1), from the JSON
/// object `{"versions":["v1","v2"],"encodings":["seed-python","seed-go"]}`:
/// `versions` (required, at least one of `v1`, `v2`) and `encodings` (optional:
/// the seed's v1 encodings tried after the canonical v1 payload fails). Without
/// a policy a verifier accepts v2 only. A bad policy is `INVALID_ARGUMENT`
/// naming `policy_json`, `signature_versions` or `accept_encodings`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_verifier_builder_set_policy(
    builder: *mut FractalVerifierBuilder,
    policy_json: *const u8,
    policy_json_len: usize,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let b = out_ptr("builder", builder)?;
        let raw = bytes("policy_json", policy_json, policy_json_len)?;
        b.inner.set_policy(policy_of(raw)?);
        Ok(())
    })
}

fn policy_of(raw: &[u8]) -> FfiResult<SignaturePolicy> {
    let v: serde_json::Value =
        serde_json::from_slice(raw).map_err(|e| bad_arg("policy_json", &format!("is not JSON ({e})")))?;
    let obj = v.as_object().ok_or_else(|| bad_arg("policy_json", "must be a JSON object"))?;
    if let Some(k) = obj.keys().find(|k| !matches!(k.as_str(), "versions" | "encodings")) {
        return Err(bad_arg("policy_json", &format!("unknown setting `{k}` (versions, encodings)")));
    }
    let names = |key: &str, arg: &str| -> FfiResult<Vec<String>> {
        match obj.get(key) {
            None | Some(serde_json::Value::Null) => Ok(Vec::new()),
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|_| bad_arg(arg, &format!("`{key}` must be an array of strings"))),
        }
    };
    let versions = names("versions", "signature_versions")?;
    let encodings = names("encodings", "accept_encodings")?;
    Ok(SignaturePolicy::parse(&versions, &encodings)?)
}

/// Consumes the builder (it must not be used or freed afterwards) and returns an
/// immutable verifier (free with [`fractal_verifier_free`]). NULL in, NULL out.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_verifier_builder_build(
    builder: *mut FractalVerifierBuilder,
) -> *const FractalVerifier {
    boundary_infallible(ptr::null(), || {
        if builder.is_null() {
            return ptr::null();
        }
        // SAFETY: the pointer came from fractal_verifier_builder_new.
        let b = unsafe { Box::from_raw(builder) };
        Box::into_raw(Box::new(FractalVerifier { inner: b.inner })) as *const FractalVerifier
    })
}

/// Frees a builder that was not built. NULL is fine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_verifier_builder_free(builder: *mut FractalVerifierBuilder) {
    boundary_infallible((), || {
        if !builder.is_null() {
            drop(unsafe { Box::from_raw(builder) });
        }
    })
}

/// The number of keys a verifier holds (0 for NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_verifier_key_count(verifier: *const FractalVerifier) -> usize {
    // SAFETY: NULL or a live verifier.
    boundary_infallible(0, || unsafe { verifier.as_ref() }.map_or(0, |v| v.inner.len()))
}

/// Checks a v1 `sig` (plain base64) over the eight fields under any key and the
/// verifier's policy, as [`fractal_verifier_verify_json`] does for a v1
/// signature (the policy's legacy encodings included): `FRACTAL_STATUS_OK`,
/// `..._SIGNATURE_MISSING` (empty `sig`), `..._UNSUPPORTED_SIGNATURE_VERSION`
/// (the policy refuses the version `sig` names) or `..._SIGNATURE_INVALID`.
/// A v2 signature covers the whole record, not these fields: it is
/// `INVALID_ARGUMENT` naming `sig` (check it with
/// [`fractal_verifier_verify_json`]).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_verifier_verify_fields_v1(
    verifier: *const FractalVerifier,
    fields: FractalFields,
    sig: *const u8,
    sig_len: usize,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let v = handle("verifier", verifier)?;
        let sig = text("sig", sig, sig_len)?;
        if sig.is_empty() {
            return Err(Error::SignatureMissing.into());
        }
        let policy = v.inner.policy();
        let (version, mac) = split_sig(sig)?;
        if !policy.accepts(version) {
            return Err(Error::UnsupportedSignatureVersion { version: version.as_str().into() }.into());
        }
        if version != SigVersion::V1 {
            return Err(bad_arg(
                "sig",
                "a v2 signature covers the whole record: check it with fractal_verifier_verify_json",
            ));
        }
        let f = self::fields(&fields)?;
        let first = v.inner.verify_digest(&sha256(&canonical_fields(&f)?), mac);
        if first.is_err() {
            for enc in &policy.encodings {
                if let Some(d) = enc.digest(&f)
                    && v.inner.verify_digest(&d, mac).is_ok()
                {
                    return Ok(());
                }
            }
        }
        Ok(first?)
    })
}

/// Checks the `sig` of a record given as JSON under any key and the verifier's
/// policy (SPEC §4, §4.1): the prefix names the payload (`v2:` for v2, none for
/// v1). `FRACTAL_STATUS_OK`, `..._SIGNATURE_MISSING`,
/// `..._UNSUPPORTED_SIGNATURE_VERSION` (a version the policy refuses, or an
/// unknown `vN:` prefix), `..._SIGNATURE_INVALID`, or a parse error naming the
/// field.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_verifier_verify_json(
    verifier: *const FractalVerifier,
    json: *const u8,
    json_len: usize,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let v = handle("verifier", verifier)?;
        Ok(v.inner.verify(&record(json, json_len)?)?)
    })
}

/// Checks the `Authorization` header value of a read (SPEC §6.1) for `tenant`
/// and `pcs_id` at the verifier's unix time `now`: `FRACTAL_STATUS_OK`,
/// `..._SIGNATURE_MISSING` (empty `authorization`) or `..._SIGNATURE_INVALID`
/// (malformed, more than 300 s from `now`, or verifying under no key).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_verifier_verify_read(
    verifier: *const FractalVerifier,
    tenant: *const u8,
    tenant_len: usize,
    pcs_id: *const u8,
    pcs_id_len: usize,
    authorization: *const u8,
    authorization_len: usize,
    now: u64,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let v = handle("verifier", verifier)?;
        let tenant = text("tenant", tenant, tenant_len)?;
        let pcs_id = text("pcs_id", pcs_id, pcs_id_len)?;
        let auth = text("authorization", authorization, authorization_len)?;
        Ok(v.inner.verify_read(tenant, pcs_id, Some(auth), now)?)
    })
}

/// Frees a verifier. NULL is fine; freeing twice is not.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_verifier_free(verifier: *const FractalVerifier) {
    boundary_infallible((), || {
        if !verifier.is_null() {
            drop(unsafe { Box::from_raw(verifier as *mut FractalVerifier) });
        }
    })
}

// ---------------------------------------------------------------------------
// Ring (SPEC §7).

fn with_ring<T>(ring: *const FractalRing, f: impl FnOnce(&Ring) -> FfiResult<T>) -> FfiResult<T> {
    let r = handle("ring", ring)?;
    let guard = r.inner.read().unwrap_or_else(|p| p.into_inner());
    f(&guard)
}

fn with_ring_mut<T>(ring: *const FractalRing, f: impl FnOnce(&mut Ring) -> FfiResult<T>) -> FfiResult<T> {
    let r = handle("ring", ring)?;
    let mut guard = r.inner.write().unwrap_or_else(|p| p.into_inner());
    f(&mut guard)
}

fn json_names(names: &[&str]) -> Vec<u8> {
    serde_json::to_vec(names).expect("a list of strings always serializes")
}

/// Creates an empty ring with `vnodes` (≥ 1; 150 is the default of SPEC §7)
/// virtual nodes per unit of weight into `*out` (free with [`fractal_ring_free`]).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_ring_new(
    vnodes: u32,
    out: *mut *mut FractalRing,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || {
        let out = out_ptr("out", out)?;
        *out = Box::into_raw(Box::new(FractalRing { inner: RwLock::new(Ring::new(vnodes)?) }));
        Ok(())
    })
}

/// Adds a healthy shard with a weight (≥ 1).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_ring_add_shard(
    ring: *const FractalRing,
    name: *const u8,
    name_len: usize,
    weight: u32,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || {
        let name = unsafe { text("shard", name, name_len)? };
        with_ring_mut(ring, |r| Ok(r.add_shard(name, weight)?))
    })
}

/// Removes a shard.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_ring_remove_shard(
    ring: *const FractalRing,
    name: *const u8,
    name_len: usize,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || {
        let name = unsafe { text("shard", name, name_len)? };
        with_ring_mut(ring, |r| Ok(r.remove_shard(name)?))
    })
}

/// Marks a shard healthy or unhealthy.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_ring_set_healthy(
    ring: *const FractalRing,
    name: *const u8,
    name_len: usize,
    healthy: bool,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || {
        let name = unsafe { text("shard", name, name_len)? };
        with_ring_mut(ring, |r| Ok(r.set_healthy(name, healthy)?))
    })
}

/// The healthy shard owning `key` (its bytes), as UTF-8 in `out` (free with
/// [`fractal_bytes_free`]).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_ring_pick(
    ring: *const FractalRing,
    key: *const u8,
    key_len: usize,
    out: *mut FractalBytes,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || {
        let out = out_ptr("out", out)?;
        let key = unsafe { bytes("key", key, key_len)? };
        let name = with_ring(ring, |r| Ok(r.pick(key)?.to_string()))?;
        give_bytes(out, name.into_bytes());
        Ok(())
    })
}

/// `n` distinct healthy shards for `key`, clockwise, as a JSON array of strings in
/// `out` (free with [`fractal_bytes_free`]).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_ring_pick_n(
    ring: *const FractalRing,
    key: *const u8,
    key_len: usize,
    n: usize,
    out: *mut FractalBytes,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || {
        let out = out_ptr("out", out)?;
        let key = unsafe { bytes("key", key, key_len)? };
        let names = with_ring(ring, |r| Ok(json_names(&r.pick_n(key, n)?)))?;
        give_bytes(out, names);
        Ok(())
    })
}

/// The keys whose owner differs between `before` and `after` (which may be the
/// same ring). `keys_json` is a JSON array of strings; the answer in `out` is a
/// JSON array of `{"key","from","to"}` objects (`from`/`to` null when no healthy
/// shard owns the key), free with [`fractal_bytes_free`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_ring_plan(
    before: *const FractalRing,
    after: *const FractalRing,
    keys_json: *const u8,
    keys_json_len: usize,
    out: *mut FractalBytes,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || {
        let out = out_ptr("out", out)?;
        let raw = unsafe { bytes("keys_json", keys_json, keys_json_len)? };
        let keys: Vec<String> = serde_json::from_slice(raw)
            .map_err(|e| bad_arg("keys_json", &format!("must be a JSON array of strings ({e})")))?;
        // Snapshot `before` first so the two locks are never held together.
        let snapshot = with_ring(before, |r| Ok(r.clone()))?;
        let moves = with_ring(after, |r| Ok(snapshot.plan(r, keys.iter().map(String::as_str))))?;
        give_bytes(out, serde_json::to_vec(&moves).expect("moves always serialize"));
        Ok(())
    })
}

/// Shard, healthy-shard and point counts into `out`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_ring_stats(
    ring: *const FractalRing,
    out: *mut FractalRingStats,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || {
        let out = out_ptr("out", out)?;
        let s = with_ring(ring, |r| Ok(r.stats()))?;
        *out =
            FractalRingStats { shards: s.shards, healthy_shards: s.healthy_shards, points: s.points, vnodes: s.vnodes };
        Ok(())
    })
}

/// Frees a ring. NULL is fine; freeing twice, or while another thread uses the
/// ring, is not.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_ring_free(ring: *mut FractalRing) {
    boundary_infallible((), || {
        if !ring.is_null() {
            drop(unsafe { Box::from_raw(ring) });
        }
    })
}

// ---------------------------------------------------------------------------
// Client protocol: the core builds every request and decides, after
// each answer, whether to retry and when; the caller only moves bytes.

/// `alg` of [`fractal_client_new`]: submit records as given (no signing).
pub const FRACTAL_ALGORITHM_NONE: u32 = 0;
/// `alg` of [`fractal_client_new`]: sign with HMAC-SHA256 (`key` is the secret's bytes).
pub const FRACTAL_ALGORITHM_HMAC: u32 = 1;
/// `alg` of [`fractal_client_new`]: sign with Ed25519 (`key` is the base64 private seed).
pub const FRACTAL_ALGORITHM_ED25519: u32 = 2;

/// What the transport does after an attempt (the `kind` of a [`FractalStep`]).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FractalStepKind {
    /// Sleep `delay_ms`, then send the same request again.
    Retry = 0,
    /// The call is over: `json` holds the answer
    /// `{"status":200|202,"result":{VerifyResult},"dedup_hit":bool}`.
    Success = 1,
    /// The call is over: `json` holds the error
    /// `{"kind","display","message","status","code","body","retry_after_ms","field","retryable"}`
    /// (`kind` is one of `invalid`, `signature`, `rate_limited`, `api`,
    /// `timeout`, `transport` or a core error kind; absent values are null).
    Failure = 2,
}

/// The decision after one attempt, filled by [`fractal_submission_on_response`]
/// and [`fractal_submission_on_transport_error`]. Initialise it to all zeroes;
/// free `json` with [`fractal_step_free`] (a filled step passed again is freed
/// first).
#[repr(C)]
pub struct FractalStep {
    /// Retry, success or failure.
    pub kind: FractalStepKind,
    /// For `Retry`: how long to wait, in milliseconds (0 otherwise).
    pub delay_ms: u64,
    /// Retries taken so far, this one included.
    pub retries: u32,
    /// For `Success` and `Failure`: the JSON described at [`FractalStepKind`];
    /// `{NULL, 0}` for `Retry`.
    pub json: FractalBytes,
}

/// Where and as whom to submit: the configuration and the signing key, checked
/// once (opaque, immutable, safe to share between threads). Free it with
/// [`fractal_client_free`].
pub struct FractalClient {
    cfg: ClientConfig,
    key: Option<SigningKeyMaterial>,
}

/// One call (submit, get or health) and its retry state (opaque, for one thread
/// at a time). Free it with [`fractal_submission_free`].
pub struct FractalSubmission {
    inner: Submission,
}

fn client_config(raw: &[u8]) -> FfiResult<ClientConfig> {
    let v: serde_json::Value =
        serde_json::from_slice(raw).map_err(|e| bad_arg("config_json", &format!("is not JSON ({e})")))?;
    let obj = v.as_object().ok_or_else(|| bad_arg("config_json", "must be a JSON object"))?;
    for k in obj.keys() {
        if !matches!(k.as_str(), "base_url" | "tenant" | "sdk_name" | "sdk_version" | "retry" | "signature_version") {
            return Err(bad_arg("config_json", &format!("unknown setting `{k}`")));
        }
    }
    let string = |name: &str| -> FfiResult<Option<&str>> {
        match obj.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(bad_arg(name, "must be a string")),
        }
    };
    let required = |name: &str| string(name)?.ok_or_else(|| bad_arg(name, "is required"));
    let mut cfg = ClientConfig::new(required("base_url")?, required("sdk_name")?, required("sdk_version")?)?;
    if let Some(t) = string("tenant")? {
        cfg = cfg.with_tenant(t)?;
    }
    if let Some(r) = obj.get("retry").filter(|r| !r.is_null()) {
        cfg.retry = serde_json::from_value::<RetryPolicy>(r.clone())
            .map_err(|e| bad_arg("retry", &format!("must be a retry policy object ({e})")))?;
    }
    let bad_version = || bad_arg("signature_version", "must be \"v1\", \"v2\", 1 or 2");
    match obj.get("signature_version") {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::String(s)) => cfg.signature_version = s.parse().map_err(|_| bad_version())?,
        Some(serde_json::Value::Number(n)) => {
            let n = n.as_i64().ok_or_else(bad_version)?;
            cfg.signature_version = SigVersion::from_number(n).map_err(|_| bad_version())?;
        }
        Some(_) => return Err(bad_version()),
    }
    Ok(cfg)
}

fn signing_key(alg: u32, key: &[u8]) -> FfiResult<Option<SigningKeyMaterial>> {
    match alg {
        FRACTAL_ALGORITHM_NONE if key.is_empty() => Ok(None),
        FRACTAL_ALGORITHM_NONE => Err(bad_arg("key", "must be empty when alg is FRACTAL_ALGORITHM_NONE")),
        FRACTAL_ALGORITHM_HMAC => {
            // Refuses an empty secret with the core's own error.
            sign_hmac_digest(&[0u8; 32], key)?;
            Ok(Some(SigningKeyMaterial::Hmac(key.to_vec())))
        }
        FRACTAL_ALGORITHM_ED25519 => {
            let seed = std::str::from_utf8(key).map_err(|_| bad_arg("key", "is not valid UTF-8"))?;
            Ok(Some(SigningKeyMaterial::parse(Algorithm::Ed25519, seed)?))
        }
        _ => Err(bad_arg("alg", "must be FRACTAL_ALGORITHM_NONE, _HMAC or _ED25519")),
    }
}

fn error_json(e: &ClientError) -> Vec<u8> {
    use serde_json::{Value, json};
    let mut v = json!({
        "kind": e.kind(),
        "display": e.to_string(),
        "message": e.to_string(),
        "status": e.status(),
        "code": Value::Null,
        "body": Value::Null,
        "retry_after_ms": Value::Null,
        "field": Value::Null,
        "retryable": e.is_retryable(),
    });
    match e {
        ClientError::Local(inner) => v["field"] = json!(inner.field()),
        ClientError::Invalid { code, message, .. } | ClientError::Signature { code, message } => {
            v["code"] = json!(code);
            v["message"] = json!(message);
        }
        ClientError::RateLimited { retry_after_ms, message } => {
            v["retry_after_ms"] = json!(retry_after_ms);
            v["message"] = json!(message);
        }
        ClientError::Api { code, message, body, .. } => {
            v["code"] = json!(code);
            v["message"] = json!(message);
            v["body"] = json!(body);
        }
        ClientError::Transport { reason, .. } => v["message"] = json!(reason),
        _ => {}
    }
    serde_json::to_vec(&v).expect("a JSON value always serializes")
}

fn give_step(out: &mut FractalStep, step: Step, retries: u32) {
    // SAFETY: `out.json` is `{NULL, 0}` or a buffer this library filled.
    unsafe { fractal_bytes_free(&mut out.json) };
    out.retries = retries;
    out.delay_ms = 0;
    match step {
        Step::Retry(d) => {
            out.kind = FractalStepKind::Retry;
            out.delay_ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        }
        Step::Done(Ok(resp)) => {
            out.kind = FractalStepKind::Success;
            give_bytes(&mut out.json, serde_json::to_vec(&resp).expect("a response always serializes"));
        }
        Step::Done(Err(e)) => {
            out.kind = FractalStepKind::Failure;
            give_bytes(&mut out.json, error_json(&e));
        }
    }
}

fn give_submission(out: *mut *mut FractalSubmission, inner: Submission) -> FfiResult {
    let out = out_ptr("out", out)?;
    *out = Box::into_raw(Box::new(FractalSubmission { inner }));
    Ok(())
}

/// Creates a client into `*out` (free with [`fractal_client_free`]).
///
/// `config_json` is a JSON object: `base_url` (required, `http://` or
/// `https://`), `sdk_name` and `sdk_version` (required; `User-Agent` becomes
/// `fractal-lba-<sdk_name>/<sdk_version> (core <version>)`), `tenant` (string or
/// null: sent as `X-Tenant-Id`), `retry` (null or an object with any of
/// `max_retries`, `base_delay_ms`, `max_delay_ms`, `max_retry_after_ms`; the
/// others keep their defaults 3, 100, 5000, 60000), `signature_version`
/// (`"v2"` by default, or `"v1"`; 1 and 2 too: the payload submissions are
/// signed over). An unknown setting is an error. `alg` is a `FRACTAL_ALGORITHM_*` value and `key` its key: the HMAC
/// secret's bytes, or the base64 Ed25519 seed (empty for `_NONE`). The key is
/// copied; the library never writes it anywhere.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_client_new(
    config_json: *const u8,
    config_json_len: usize,
    alg: u32,
    key: *const u8,
    key_len: usize,
    out: *mut *mut FractalClient,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let out = out_ptr("out", out)?;
        let cfg = client_config(bytes("config_json", config_json, config_json_len)?)?;
        let key = signing_key(alg, bytes("key", key, key_len)?)?;
        *out = Box::into_raw(Box::new(FractalClient { cfg, key }));
        Ok(())
    })
}

/// Frees a client. NULL is fine; freeing twice is not. Submissions made from it
/// stay valid (they hold their own copy of what they need).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_client_free(client: *mut FractalClient) {
    boundary_infallible((), || {
        if !client.is_null() {
            // SAFETY: the pointer came from Box::into_raw in fractal_client_new.
            drop(unsafe { Box::from_raw(client) });
        }
    })
}

/// Starts a submit call into `*out` (free with [`fractal_submission_free`]):
/// parses the record JSON strictly, validates it (SPEC §1), signs it when the
/// client has a key (over the configured `signature_version`, v2 by default;
/// the body is the record as parsed, unknown fields kept, so it is what was
/// signed), and seeds the backoff's jitter with `jitter_seed`. A record
/// that fails is reported here (`INVALID_JSON`, `INVALID_FIELD`, `VALIDATION`,
/// naming the field) and nothing is to be sent.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_client_submit(
    client: *const FractalClient,
    record_json: *const u8,
    record_json_len: usize,
    jitter_seed: u64,
    out: *mut *mut FractalSubmission,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let c = handle("client", client)?;
        let pcs = Pcs::from_json(bytes("record_json", record_json, record_json_len)?)?;
        give_submission(out, Submission::new(&c.cfg, &pcs, c.key.as_ref(), jitter_seed)?)
    })
}

/// Starts a `GET /v1/pcs/{pcs_id}` call into `*out` (free with
/// [`fractal_submission_free`]). When the client has a key the request carries
/// `Authorization: Fractal t=<now>, sig=…` (SPEC §6.1) for the client's tenant
/// (or `default`), signed at `now`, the caller's clock in unix seconds
/// (`time(NULL)`; the server accepts ±300 s). A 404 ends the call as an `api`
/// failure with status 404.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_client_get(
    client: *const FractalClient,
    pcs_id: *const u8,
    pcs_id_len: usize,
    now: u64,
    jitter_seed: u64,
    out: *mut *mut FractalSubmission,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let c = handle("client", client)?;
        let id = text("pcs_id", pcs_id, pcs_id_len)?;
        let req = get_request(&c.cfg, id, c.key.as_ref(), now)?;
        give_submission(out, Submission::for_request(&c.cfg, req, jitter_seed))
    })
}

/// Starts a `GET /health` call into `*out` (free with [`fractal_submission_free`]).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_client_health(
    client: *const FractalClient,
    jitter_seed: u64,
    out: *mut *mut FractalSubmission,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || {
        let c = handle("client", client)?;
        give_submission(out, Submission::for_request(&c.cfg, health_request(&c.cfg), jitter_seed))
    })
}

/// The request to send, the same on every attempt: `head` gets the JSON
/// `{"method":"POST"|"GET","url":"…","path":"…","headers":[["name","value"],…]}`
/// and `body` the raw body bytes (`{NULL, 0}` for GET). Free both with
/// [`fractal_bytes_free`]. Send exactly these headers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_submission_request(
    sub: *const FractalSubmission,
    head: *mut FractalBytes,
    body: *mut FractalBytes,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || {
        let s = handle("sub", sub)?;
        let head = out_ptr("head", head)?;
        let body = out_ptr("body", body)?;
        let req = s.inner.request();
        let json = serde_json::json!({
            "method": req.method,
            "url": req.url,
            "path": req.path,
            "headers": req.headers,
        });
        give_bytes(head, serde_json::to_vec(&json).expect("a request head always serializes"));
        if req.body.is_empty() {
            *body = FractalBytes { ptr: ptr::null_mut(), len: 0 };
        } else {
            give_bytes(body, req.body.clone());
        }
        Ok(())
    })
}

/// Feeds the answer to the last attempt: its status, its headers as a JSON array
/// of `["name","value"]` pairs (a header sent twice is two pairs; length 0 means
/// none) and its body. `out` says whether to retry (and after how long) or
/// that the call is over (with the answer or the error).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_submission_on_response(
    sub: *mut FractalSubmission,
    status: u16,
    headers_json: *const u8,
    headers_json_len: usize,
    body: *const u8,
    body_len: usize,
    out: *mut FractalStep,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let s = out_ptr("sub", sub)?;
        let out = out_ptr("out", out)?;
        let raw = bytes("headers_json", headers_json, headers_json_len)?;
        let headers: Vec<(String, String)> = if raw.is_empty() {
            Vec::new()
        } else {
            serde_json::from_slice(raw)
                .map_err(|e| bad_arg("headers_json", &format!("must be a JSON array of [name, value] pairs ({e})")))?
        };
        let body = bytes("body", body, body_len)?;
        let step = s.inner.on_response(status, &headers, body);
        give_step(out, step, s.inner.retries());
        Ok(())
    })
}

/// Feeds a transport failure of the last attempt (`reason`: what the transport
/// said, without URLs or credentials; `is_timeout`: whether the attempt timed
/// out). `out` says whether to retry and when, or gives the final error.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_submission_on_transport_error(
    sub: *mut FractalSubmission,
    reason: *const u8,
    reason_len: usize,
    is_timeout: bool,
    out: *mut FractalStep,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let s = out_ptr("sub", sub)?;
        let out = out_ptr("out", out)?;
        let reason = text("reason", reason, reason_len)?;
        let step = s.inner.on_transport_error(reason, is_timeout);
        give_step(out, step, s.inner.retries());
        Ok(())
    })
}

/// Frees the JSON inside a step and sets it to `{NULL, 0}`. NULL is fine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_step_free(step: *mut FractalStep) {
    boundary_infallible((), || {
        // SAFETY: NULL or a FractalStep the library filled (documented).
        if let Some(s) = unsafe { step.as_mut() } {
            unsafe { fractal_bytes_free(&mut s.json) };
        }
    })
}

/// Frees a submission. NULL is fine; freeing twice is not.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_submission_free(sub: *mut FractalSubmission) {
    boundary_infallible((), || {
        if !sub.is_null() {
            // SAFETY: the pointer came from Box::into_raw in give_submission.
            drop(unsafe { Box::from_raw(sub) });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_internal_status_with_a_message() {
        let mut err = FractalError { field: ptr::null_mut(), message: ptr::null_mut() };
        let st = boundary(&mut err, || panic!("boom"));
        assert_eq!(st, FractalStatus::Internal);
        assert!(err.field.is_null());
        let msg = unsafe { std::ffi::CStr::from_ptr(err.message) }.to_str().unwrap().to_string();
        assert!(msg.contains("panicked"), "{msg}");
        unsafe { fractal_error_free(&mut err) };
        assert_eq!(boundary_infallible(7, || -> i32 { panic!("boom") }), 7);
    }

    #[test]
    fn every_core_error_kind_has_its_status() {
        for (e, st) in [
            (Error::InvalidJson { reason: "x".into() }, FractalStatus::InvalidJson),
            (Error::InvalidField { field: "f".into(), reason: "x".into() }, FractalStatus::InvalidField),
            (Error::Validation { field: "f".into(), reason: "x".into() }, FractalStatus::Validation),
            (Error::SignatureMissing, FractalStatus::SignatureMissing),
            (Error::SignatureInvalid { reason: "x".into() }, FractalStatus::SignatureInvalid),
            (Error::UnsupportedSignatureVersion { version: "v1".into() }, FractalStatus::UnsupportedSignatureVersion),
            (Error::InvalidKey { reason: "x".into() }, FractalStatus::InvalidKey),
            (Error::Ring { reason: "x".into() }, FractalStatus::Ring),
            (Error::InvalidArgument { name: "n".into(), reason: "x".into() }, FractalStatus::InvalidArgument),
        ] {
            assert_eq!(Failure::from(e).status, st);
        }
    }

    #[test]
    fn interior_nul_in_a_message_is_not_lost() {
        let p = c_string("a\0b");
        let s = unsafe { CString::from_raw(p) };
        assert_eq!(s.to_str().unwrap(), "a\u{FFFD}b");
    }
}
