//! Python bindings of fractal-core: the module `fractal_lba._native`.
//!
//! Records are plain `dict`s in and out (see `convert.rs` for the strict
//! conversion); every error is one of the exceptions of `error.rs`. The Python
//! package `fractal_lba` re-exports everything here with the types of `_native.pyi`.

use fractal_core::{BuildInput, Ed25519Keypair, Error, HmacSigner};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

mod batch;
mod client;
mod convert;
mod error;
mod params;
mod ring;
mod signed;
mod verifier;

use convert::{
    counts, fault_tolerance, int64, number, pcs_from_py, pcs_list_from_py, pcs_to_py, string,
    text_or_bytes, verify_result_to_py,
};
use error::{CoreResultExt as _, raise};
use params::{PyVerifyParams, params_or_default};
use signed::{Keys, signed};

/// `lowercase_hex(sha256(merkle_root + "|" + str(epoch) + "|" + shard_id))` (SPEC §2).
///
/// >>> pcs_id("ab", 1, "shard-001") == hashlib.sha256(b"ab|1|shard-001").hexdigest()
/// True
#[pyfunction]
fn pcs_id(
    py: Python<'_>,
    merkle_root: &Bound<'_, PyAny>,
    epoch: &Bound<'_, PyAny>,
    shard_id: &Bound<'_, PyAny>,
) -> PyResult<String> {
    let merkle_root = string(merkle_root, || "merkle_root".into()).or_raise(py)?;
    let epoch = convert::epoch(epoch).or_raise(py)?;
    let shard_id = string(shard_id, || "shard_id".into()).or_raise(py)?;
    Ok(fractal_core::pcs_id(&merkle_root, epoch, &shard_id))
}

/// The canonical signing payload of a record (SPEC §3): RFC 8785 JSON of its eight
/// signed fields, numbers rounded to 9 decimals. Reads only the eight signed
/// fields; use `validate` for the whole record. Signing does not range-check; a
/// malformed signed field raises ValidationError naming the field.
#[pyfunction]
fn canonical_payload<'py>(
    py: Python<'py>,
    record: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let s = signed(record, &Keys::new(py)).or_raise(py)?;
    let payload = fractal_core::canonical_fields(&s.fields()).or_raise(py)?;
    Ok(PyBytes::new(py, &payload))
}

/// SHA-256 of the canonical payload (32 bytes) — what is signed (SPEC §3, step 4).
/// Reads only the eight signed fields; use `validate` for the whole record.
#[pyfunction]
fn digest<'py>(py: Python<'py>, record: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let d = signed(record, &Keys::new(py))
        .and_then(|s| s.digest())
        .or_raise(py)?;
    Ok(PyBytes::new(py, &d))
}

fn hmac_key(py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    text_or_bytes(key).map_err(|reason| {
        raise(
            py,
            Error::InvalidKey {
                reason: format!("HMAC key {reason}"),
            },
        )
    })
}

/// The record's HMAC-SHA256 signature (SPEC §4): standard base64 of
/// HMAC(key, digest). `key` is a str (its UTF-8 bytes) or bytes; an empty key
/// raises InvalidKeyError. Reads only the eight signed fields; use `validate` for
/// the whole record. The record is not modified: set `record["sig"]` yourself.
#[pyfunction]
fn sign_hmac(
    py: Python<'_>,
    record: &Bound<'_, PyAny>,
    key: &Bound<'_, PyAny>,
) -> PyResult<String> {
    let s = signed(record, &Keys::new(py)).or_raise(py)?;
    let key = hmac_key(py, key)?;
    fractal_core::sign_hmac_digest(&s.digest().or_raise(py)?, &key).or_raise(py)
}

/// `sign_hmac` over a list of records, one signature per record. The signed
/// fields are read under the GIL; hashing and signing run without it (on two or
/// more threads for a large batch). Reads only the eight signed fields of each
/// record; use `validate` for the whole record. A malformed signed field raises
/// ValidationError naming the record's index.
#[pyfunction]
fn sign_hmac_many<'py>(
    py: Python<'py>,
    records: &Bound<'py, PyAny>,
    key: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyList>> {
    let keys = Keys::new(py);
    // The key is checked before any record is read.
    let key = hmac_key(py, key)?;
    let signer = HmacSigner::new(&key).or_raise(py)?;
    let sigs: Vec<Result<Sig, Error>> = batch::read_then_compute(
        py,
        records,
        |r| signed(r, &keys),
        // SAFETY: `read_then_compute` keeps each `Signed` alive until every
        // computation has returned.
        |s| unsafe { s.detached_fields() },
        |f| Ok(Sig::new(signer.sign_digest(&signed::digest(f)?))),
    )?;
    if let Some((i, e)) = sigs
        .iter()
        .enumerate()
        .find_map(|(i, s)| s.as_ref().err().map(|e| (i, e)))
    {
        return Err(error::raise_with_context(
            py,
            e.clone(),
            Some(&format!("records[{i}]")),
        ));
    }
    PyList::new(py, sigs.iter().map(|s| s.as_ref().map_or("", Sig::as_str)))
}

/// A signature as the worker thread that computed it hands it back: inline, so
/// that no heap block allocated by a worker is freed by the calling thread (a
/// cross-thread `free` per record costs glibc's allocator a lock).
enum Sig {
    /// Standard base64 of a 32-byte HMAC is always 44 ASCII bytes.
    Inline([u8; 44]),
    Other(String),
}

impl Sig {
    fn new(s: String) -> Sig {
        match <[u8; 44]>::try_from(s.as_bytes()) {
            Ok(bytes) => Sig::Inline(bytes),
            Err(_) => Sig::Other(s),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // Copied from a `String`, so valid UTF-8.
            Sig::Inline(b) => std::str::from_utf8(b).unwrap_or_default(),
            Sig::Other(s) => s,
        }
    }
}

fn seed_arg(py: Python<'_>, seed_b64: &Bound<'_, PyAny>) -> PyResult<Ed25519Keypair> {
    let seed = string(seed_b64, || "seed_b64".into()).map_err(|_| {
        raise(
            py,
            Error::InvalidKey {
                reason: "Ed25519 seed must be a base64 str".into(),
            },
        )
    })?;
    Ed25519Keypair::from_seed_b64(&seed).or_raise(py)
}

/// The record's Ed25519 signature (SPEC §4): standard base64 of
/// Ed25519-sign(seed, digest). `seed_b64` is the standard base64 of the 32-byte
/// private seed; anything else raises InvalidKeyError. Reads only the eight
/// signed fields; use `validate` for the whole record.
#[pyfunction]
fn sign_ed25519(
    py: Python<'_>,
    record: &Bound<'_, PyAny>,
    seed_b64: &Bound<'_, PyAny>,
) -> PyResult<String> {
    let s = signed(record, &Keys::new(py)).or_raise(py)?;
    let keypair = seed_arg(py, seed_b64)?;
    Ok(keypair.sign_digest(&s.digest().or_raise(py)?))
}

/// A fresh Ed25519 key pair from the OS's randomness, as `(seed_b64, public_b64)`:
/// standard base64 of the 32-byte private seed and of the 32-byte public key.
#[pyfunction]
fn generate_ed25519_keypair(py: Python<'_>) -> PyResult<(String, String)> {
    let kp = Ed25519Keypair::generate().or_raise(py)?;
    Ok((kp.seed_b64(), kp.public_b64()))
}

/// The Ed25519 public key (standard base64) of a private seed (standard base64).
#[pyfunction]
fn ed25519_public_key(py: Python<'_>, seed_b64: &Bound<'_, PyAny>) -> PyResult<String> {
    Ok(seed_arg(py, seed_b64)?.public_b64())
}

/// SDK-side validation (SPEC §1): structure, `pcs_id` match, `schema`,
/// 0 ≤ coh_star ≤ 1.05, 0 ≤ r ≤ 1, 0 ≤ budget ≤ 1, a known `regime`. Returns None
/// or raises ValidationError naming the field.
#[pyfunction]
fn validate(py: Python<'_>, record: &Bound<'_, PyAny>) -> PyResult<()> {
    let pcs = pcs_from_py(record).or_raise(py)?;
    fractal_core::validate(&pcs).or_raise(py)
}

/// The verification outcome of a record (SPEC §5) as a dict: `accepted`,
/// `escalated`, and when computed `recomputed_D_hat`, `recomputed_budget`, `reason`.
/// Semantic problems are outcomes (escalated), not exceptions; only a malformed
/// record raises ValidationError. `params` defaults to `VerifyParams()`.
#[pyfunction]
#[pyo3(signature = (record, params=None))]
fn verify<'py>(
    py: Python<'py>,
    record: &Bound<'py, PyAny>,
    params: Option<&Bound<'py, PyVerifyParams>>,
) -> PyResult<Bound<'py, PyAny>> {
    let pcs = pcs_from_py(record).or_raise(py)?;
    let out = fractal_core::verify(&pcs, &params_or_default(params));
    Ok(verify_result_to_py(py, &out)?.into_any())
}

/// `verify` over a list of records, computed without holding the GIL; one outcome
/// dict per record. A malformed record raises ValidationError naming its index.
#[pyfunction]
#[pyo3(signature = (records, params=None))]
fn verify_many<'py>(
    py: Python<'py>,
    records: &Bound<'py, PyAny>,
    params: Option<&Bound<'py, PyVerifyParams>>,
) -> PyResult<Bound<'py, PyList>> {
    let pcs = pcs_list_from_py(py, records)?;
    let params = params_or_default(params);
    let outcomes = py.detach(|| batch::par_map(&pcs, |p| fractal_core::verify(p, &params)));
    let out = PyList::empty(py);
    for o in &outcomes {
        out.append(verify_result_to_py(py, o)?)?;
    }
    Ok(out)
}

/// Builds a complete, valid record from measurements: computes `pcs_id`, `D_hat`
/// (Theil–Sen over `scales`/`N_j`), `regime` and `budget`, then validates it.
/// Keyword-only; unsigned (sign it with `sign_hmac`/`sign_ed25519`). Raises
/// ValidationError naming the field.
#[pyfunction]
#[pyo3(signature = (*, merkle_root, epoch, shard_id, scales, N_j, coh_star, r, v_star=None, version=None, attempt=None, sent_at=None, seed=None, ft=None, params=None))]
#[allow(non_snake_case, clippy::too_many_arguments)]
fn build_pcs<'py>(
    py: Python<'py>,
    merkle_root: &Bound<'py, PyAny>,
    epoch: &Bound<'py, PyAny>,
    shard_id: &Bound<'py, PyAny>,
    scales: &Bound<'py, PyAny>,
    N_j: &Bound<'py, PyAny>,
    coh_star: &Bound<'py, PyAny>,
    r: &Bound<'py, PyAny>,
    v_star: Option<&Bound<'py, PyAny>>,
    version: Option<&Bound<'py, PyAny>>,
    attempt: Option<&Bound<'py, PyAny>>,
    sent_at: Option<&Bound<'py, PyAny>>,
    seed: Option<&Bound<'py, PyAny>>,
    ft: Option<&Bound<'py, PyAny>>,
    params: Option<&Bound<'py, PyVerifyParams>>,
) -> PyResult<Bound<'py, PyAny>> {
    let input = (|| -> Result<BuildInput, Error> {
        let mut scale_list = Vec::new();
        convert::each_item(scales, "scales", |i, x| {
            scale_list.push(int64(&x, || format!("scales[{i}]"))?);
            Ok(())
        })?;
        let mut v_list = Vec::new();
        if let Some(v) = v_star.filter(|v| !v.is_none()) {
            convert::each_item(v, "v_star", |i, x| {
                v_list.push(number(&x, || format!("v_star[{i}]"))?);
                Ok(())
            })?;
        }
        Ok(BuildInput {
            merkle_root: string(merkle_root, || "merkle_root".into())?,
            epoch: convert::epoch(epoch)?,
            shard_id: string(shard_id, || "shard_id".into())?,
            scales: scale_list,
            n_j: counts(N_j, "N_j")?,
            coh_star: number(coh_star, || "coh_star".into())?,
            v_star: v_list,
            r: number(r, || "r".into())?,
            version: match version.filter(|v| !v.is_none()) {
                Some(v) => string(v, || "version".into())?,
                None => "0.1".into(),
            },
            attempt: match attempt.filter(|v| !v.is_none()) {
                Some(v) => int64(v, || "attempt".into())?,
                None => 1,
            },
            sent_at: sent_at
                .filter(|v| !v.is_none())
                .map(|v| string(v, || "sent_at".into()))
                .transpose()?,
            seed: match seed.filter(|v| !v.is_none()) {
                Some(v) => int64(v, || "seed".into())?,
                None => 0,
            },
            ft: ft
                .filter(|v| !v.is_none())
                .map(|v| fault_tolerance(v, "ft"))
                .transpose()?,
        })
    })()
    .or_raise(py)?;
    let pcs = fractal_core::build_pcs_with(&input, &params_or_default(params)).or_raise(py)?;
    Ok(pcs_to_py(py, &pcs)?.into_any())
}

/// Parses a record from JSON text (str) or bytes, strictly (SPEC §1): malformed
/// JSON raises ValidationError with kind `invalid_json`; a missing field, a wrong
/// type or an out-of-range integer raises it with kind `invalid_field` naming the
/// field. Unknown fields are dropped. Returns the record as a dict.
#[pyfunction]
fn parse_pcs<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let bytes = text_or_bytes(data).map_err(|reason| {
        raise(
            py,
            Error::InvalidJson {
                reason: format!("the input {reason}"),
            },
        )
    })?;
    let pcs = fractal_core::Pcs::from_json(&bytes).or_raise(py)?;
    Ok(pcs_to_py(py, &pcs)?.into_any())
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("CORE_VERSION", fractal_core::VERSION)?;
    m.add("SCHEMA", fractal_core::SCHEMA)?;
    m.add("MAX_EPOCH", fractal_core::MAX_EPOCH)?;
    m.add_function(wrap_pyfunction!(pcs_id, m)?)?;
    m.add_function(wrap_pyfunction!(canonical_payload, m)?)?;
    m.add_function(wrap_pyfunction!(digest, m)?)?;
    m.add_function(wrap_pyfunction!(sign_hmac, m)?)?;
    m.add_function(wrap_pyfunction!(sign_hmac_many, m)?)?;
    m.add_function(wrap_pyfunction!(sign_ed25519, m)?)?;
    m.add_function(wrap_pyfunction!(generate_ed25519_keypair, m)?)?;
    m.add_function(wrap_pyfunction!(ed25519_public_key, m)?)?;
    m.add_function(wrap_pyfunction!(validate, m)?)?;
    m.add_function(wrap_pyfunction!(verify, m)?)?;
    m.add_function(wrap_pyfunction!(verify_many, m)?)?;
    m.add_function(wrap_pyfunction!(build_pcs, m)?)?;
    m.add_function(wrap_pyfunction!(parse_pcs, m)?)?;
    m.add_class::<PyVerifyParams>()?;
    m.add_class::<verifier::PyVerifier>()?;
    m.add_class::<ring::PyRing>()?;
    m.add_class::<client::PyClient>()?;
    m.add_class::<client::PyAsyncClient>()?;
    m.add_class::<client::PySubmitResult>()?;
    error::register(m)?;
    Ok(())
}
