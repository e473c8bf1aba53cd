//! Python bindings of fractal-core: the module `fractal_lba._native`.
//!
//! Records are plain `dict`s in and out, read by the core's own parser through
//! the deserializer of `de.rs`; every error is one of the exceptions of `error.rs`. The Python
//! package `fractal_lba` re-exports everything here with the types of `_native.pyi`.

use fractal_core::sign::format_sig;
use fractal_core::{
    BuildInput, Ed25519Keypair, Error, HmacSigner, Pcs, SigVersion, SigningKeyMaterial,
};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

mod batch;
mod client;
mod convert;
mod de;
mod error;
mod params;
mod ring;
mod signed;
mod verifier;

use convert::{
    given_dict, key_error, pcs_from_py, pcs_list_from_py, pcs_to_py, string, text_or_bytes,
    verify_result_to_py,
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
    let epoch = signed::value(epoch, "epoch")
        .and_then(|e| fractal_core::check_epoch(e).map(|()| e))
        .or_raise(py)?;
    let shard_id = string(shard_id, || "shard_id".into()).or_raise(py)?;
    Ok(fractal_core::pcs_id(&merkle_root, epoch, &shard_id))
}

/// A record read for signing with `version`: the eight fields of v1 (the fast
/// path), or the whole record for v2.
enum ForSigning<'py> {
    V1(signed::Signed<'py>),
    V2(Box<Pcs>),
}

impl ForSigning<'_> {
    fn read<'py>(
        record: &Bound<'py, PyAny>,
        keys: &Keys<'py>,
        version: SigVersion,
    ) -> Result<ForSigning<'py>, Error> {
        Ok(match version {
            SigVersion::V1 => ForSigning::V1(signed(record, keys)?),
            SigVersion::V2 => ForSigning::V2(Box::new(pcs_from_py(record)?)),
        })
    }

    fn payload(&self) -> Result<Vec<u8>, Error> {
        match self {
            ForSigning::V1(s) => fractal_core::canonical_fields(&s.fields()),
            ForSigning::V2(p) => fractal_core::canonical_payload_v2(p),
        }
    }

    fn digest(&self) -> Result<[u8; 32], Error> {
        match self {
            ForSigning::V1(s) => s.digest(),
            ForSigning::V2(p) => fractal_core::digest(p, SigVersion::V2),
        }
    }

    fn version(&self) -> SigVersion {
        match self {
            ForSigning::V1(_) => SigVersion::V1,
            ForSigning::V2(_) => SigVersion::V2,
        }
    }
}

/// The signing payload of a record (SPEC §3) for `version` (2 by default): v2 is
/// RFC 8785 JSON of the whole record but `sig`, `attempt`, `sent_at` and `ft`,
/// unknown fields included, numbers as given; v1 is RFC 8785 JSON of the eight
/// fields `pcs_id, merkle_root, epoch, shard_id, D_hat, coh_star, r, budget`,
/// numbers rounded to 9 decimals (only those eight are read). Signing does not
/// range-check (use `validate`); a malformed field raises ValidationError naming
/// it, a `version` other than 1 or 2 InvalidArgumentError.
#[pyfunction]
#[pyo3(signature = (record, *, version=None), text_signature = "(record, *, version=2)")]
fn canonical_payload<'py>(
    py: Python<'py>,
    record: &Bound<'py, PyAny>,
    version: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let version = convert::sig_version(version).or_raise(py)?;
    let payload = ForSigning::read(record, &Keys::new(py), version)
        .and_then(|r| r.payload())
        .or_raise(py)?;
    Ok(PyBytes::new(py, &payload))
}

/// The 32-byte digest a signature of `version` covers (SPEC §3 step 4): for v2
/// SHA-256("fractal-lba/pcs/v2\n" + payload), for v1 SHA-256(payload).
#[pyfunction]
#[pyo3(signature = (record, *, version=None), text_signature = "(record, *, version=2)")]
fn digest<'py>(
    py: Python<'py>,
    record: &Bound<'py, PyAny>,
    version: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let version = convert::sig_version(version).or_raise(py)?;
    let d = ForSigning::read(record, &Keys::new(py), version)
        .and_then(|r| r.digest())
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

/// The record's HMAC-SHA256 signature (SPEC §4) over the payload of `version`
/// (2 by default): `"v2:"` + standard base64 of HMAC(key, digest), or for
/// `version=1` (servers that do not accept v2 yet) the plain base64 over the v1
/// digest. `key` is a str (its UTF-8 bytes) or bytes; an empty key raises
/// InvalidKeyError. The record is not modified: set `record["sig"]` yourself, and
/// send the record as it was signed (v2 signs every field but `sig`, `attempt`,
/// `sent_at` and `ft`).
#[pyfunction]
#[pyo3(signature = (record, key, *, version=None), text_signature = "(record, key, *, version=2)")]
fn sign_hmac(
    py: Python<'_>,
    record: &Bound<'_, PyAny>,
    key: &Bound<'_, PyAny>,
    version: Option<&Bound<'_, PyAny>>,
) -> PyResult<String> {
    let version = convert::sig_version(version).or_raise(py)?;
    let r = ForSigning::read(record, &Keys::new(py), version).or_raise(py)?;
    let signer = HmacSigner::new(&hmac_key(py, key)?).or_raise(py)?;
    Ok(format_sig(
        r.version(),
        signer.sign_digest(&r.digest().or_raise(py)?),
    ))
}

/// `sign_hmac` over a list of records, one signature per record. The records are
/// read under the GIL; hashing and signing run without it (on two or more threads
/// for a large batch). A malformed field raises ValidationError naming the
/// record's index.
#[pyfunction]
#[pyo3(signature = (records, key, *, version=None), text_signature = "(records, key, *, version=2)")]
fn sign_hmac_many<'py>(
    py: Python<'py>,
    records: &Bound<'py, PyAny>,
    key: &Bound<'py, PyAny>,
    version: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyList>> {
    let keys = Keys::new(py);
    // The arguments are checked before any record is read.
    let version = convert::sig_version(version).or_raise(py)?;
    let key = hmac_key(py, key)?;
    let signer = HmacSigner::new(&key).or_raise(py)?;
    let sigs: Vec<Result<Sig, Error>> = match version {
        SigVersion::V1 => batch::read_then_compute(
            py,
            records,
            |r| signed(r, &keys),
            // SAFETY: `read_then_compute` keeps each `Signed` alive until every
            // computation has returned.
            |s| unsafe { s.detached_fields() },
            |f| Ok(Sig::new(&signer.sign_digest(&f.digest()?))),
        )?,
        SigVersion::V2 => batch::read_then_compute(
            py,
            records,
            |r| pcs_from_py(r).map(Box::new),
            // SAFETY: `read_then_compute` keeps each boxed record (at a fixed
            // address) alive until every computation has returned.
            |p| unsafe { std::mem::transmute::<&Pcs, &'static Pcs>(&**p) },
            |p| {
                let d = fractal_core::digest(p, SigVersion::V2)?;
                Ok(Sig::new(&format_sig(
                    SigVersion::V2,
                    signer.sign_digest(&d),
                )))
            },
        )?,
    };
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
    /// Standard base64 of a 32-byte HMAC is always 44 ASCII bytes, 47 with `v2:`.
    Inline([u8; 48], u8),
    Other(String),
}

impl Sig {
    fn new(s: &str) -> Sig {
        let mut buf = [0u8; 48];
        match buf.get_mut(..s.len()) {
            Some(dst) => {
                dst.copy_from_slice(s.as_bytes());
                Sig::Inline(buf, s.len() as u8)
            }
            None => Sig::Other(s.to_owned()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // Copied from a `str`, so valid UTF-8.
            Sig::Inline(b, len) => std::str::from_utf8(&b[..usize::from(*len)]).unwrap_or_default(),
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

/// The record's Ed25519 signature (SPEC §4) over the payload of `version` (2 by
/// default): `"v2:"` + standard base64 of Ed25519-sign(seed, digest), or for
/// `version=1` the plain base64 over the v1 digest. `seed_b64` is the standard
/// base64 of the 32-byte private seed; anything else raises InvalidKeyError.
#[pyfunction]
#[pyo3(signature = (record, seed_b64, *, version=None), text_signature = "(record, seed_b64, *, version=2)")]
fn sign_ed25519(
    py: Python<'_>,
    record: &Bound<'_, PyAny>,
    seed_b64: &Bound<'_, PyAny>,
    version: Option<&Bound<'_, PyAny>>,
) -> PyResult<String> {
    let version = convert::sig_version(version).or_raise(py)?;
    let r = ForSigning::read(record, &Keys::new(py), version).or_raise(py)?;
    let keypair = seed_arg(py, seed_b64)?;
    Ok(format_sig(
        r.version(),
        keypair.sign_digest(&r.digest().or_raise(py)?),
    ))
}

/// A read time argument: an `int` (not a bool) of unix seconds, or None for now.
fn unix_seconds(py: Python<'_>, obj: Option<&Bound<'_, PyAny>>, name: &str) -> PyResult<u64> {
    match obj.filter(|o| !o.is_none()) {
        None => Ok(fractal_core::protocol::unix_now()),
        Some(o) => convert::uint64(o, name).or_raise(py),
    }
}

/// The digest a read request signs (SPEC §6.1): SHA-256 of
/// "fractal-lba/read/v1\n" + tenant + "\n" + pcs_id + "\n" + str(t).
#[pyfunction]
fn read_digest<'py>(
    py: Python<'py>,
    tenant: &Bound<'py, PyAny>,
    pcs_id: &Bound<'py, PyAny>,
    t: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let tenant = convert::arg_string(tenant, "tenant").or_raise(py)?;
    let pcs_id = convert::arg_string(pcs_id, "pcs_id").or_raise(py)?;
    let t = convert::uint64(t, "t").or_raise(py)?;
    Ok(PyBytes::new(
        py,
        &fractal_core::read_digest(&tenant, &pcs_id, t),
    ))
}

fn read_authorization(
    py: Python<'_>,
    key: SigningKeyMaterial,
    tenant: &Bound<'_, PyAny>,
    pcs_id: &Bound<'_, PyAny>,
    t: Option<&Bound<'_, PyAny>>,
) -> PyResult<String> {
    let tenant = convert::arg_string(tenant, "tenant").or_raise(py)?;
    let pcs_id = convert::arg_string(pcs_id, "pcs_id").or_raise(py)?;
    let t = unix_seconds(py, t, "t")?;
    key.read_authorization(&tenant, &pcs_id, t).or_raise(py)
}

/// The `Authorization` header value of a read of `pcs_id` by `tenant` (SPEC
/// §6.1), HMAC-signed: `"Fractal t=<t>, sig=<base64>"`. `t` is unix seconds
/// (default: now); the server accepts it within 300 s of its clock. `Client.get`
/// does this for you; this is for other HTTP clients.
#[pyfunction]
#[pyo3(signature = (tenant, pcs_id, key, *, t=None))]
fn sign_read_hmac(
    py: Python<'_>,
    tenant: &Bound<'_, PyAny>,
    pcs_id: &Bound<'_, PyAny>,
    key: &Bound<'_, PyAny>,
    t: Option<&Bound<'_, PyAny>>,
) -> PyResult<String> {
    let key = hmac_key(py, key)?;
    HmacSigner::new(&key).or_raise(py)?;
    read_authorization(py, SigningKeyMaterial::Hmac(key), tenant, pcs_id, t)
}

/// `sign_read_hmac` with an Ed25519 private seed (standard base64).
#[pyfunction]
#[pyo3(signature = (tenant, pcs_id, seed_b64, *, t=None))]
fn sign_read_ed25519(
    py: Python<'_>,
    tenant: &Bound<'_, PyAny>,
    pcs_id: &Bound<'_, PyAny>,
    seed_b64: &Bound<'_, PyAny>,
    t: Option<&Bound<'_, PyAny>>,
) -> PyResult<String> {
    let keypair = seed_arg(py, seed_b64)?;
    read_authorization(py, SigningKeyMaterial::Ed25519(keypair), tenant, pcs_id, t)
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
    let given = given_dict(
        py,
        [
            ("merkle_root", Some(merkle_root)),
            ("epoch", Some(epoch)),
            ("shard_id", Some(shard_id)),
            ("scales", Some(scales)),
            ("N_j", Some(N_j)),
            ("coh_star", Some(coh_star)),
            ("r", Some(r)),
            ("v_star", v_star),
            ("version", version),
            ("attempt", attempt),
            ("sent_at", sent_at),
            ("seed", seed),
            ("ft", ft),
        ],
    )?;
    // The optional fields keep the core's defaults unless given.
    let input = BuildInput::deserialize_from(de::Host::new(&given))
        .map_err(key_error)
        .or_raise(py)?;
    let pcs = fractal_core::build_pcs_with(&input, &params_or_default(params)).or_raise(py)?;
    Ok(pcs_to_py(py, &pcs)?.into_any())
}

/// Parses a record from JSON text (str) or bytes, strictly (SPEC §1): malformed
/// JSON raises ValidationError with kind `invalid_json`; a missing field, a wrong
/// type or an out-of-range integer raises it with kind `invalid_field` naming the
/// field; a value past SPEC §1's limits (65 scales, an `N_j` key that is not a
/// scale, …) raises it too. Unknown fields are kept, and optional fields the text
/// leaves out stay out, so that the dict signs (v2) exactly like the text.
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
    m.add("MAX_ENTRIES", fractal_core::MAX_ENTRIES)?;
    m.add("READ_SKEW_SECS", fractal_core::sign::READ_SKEW_SECS)?;
    m.add_function(wrap_pyfunction!(pcs_id, m)?)?;
    m.add_function(wrap_pyfunction!(canonical_payload, m)?)?;
    m.add_function(wrap_pyfunction!(digest, m)?)?;
    m.add_function(wrap_pyfunction!(sign_hmac, m)?)?;
    m.add_function(wrap_pyfunction!(sign_hmac_many, m)?)?;
    m.add_function(wrap_pyfunction!(sign_ed25519, m)?)?;
    m.add_function(wrap_pyfunction!(generate_ed25519_keypair, m)?)?;
    m.add_function(wrap_pyfunction!(ed25519_public_key, m)?)?;
    m.add_function(wrap_pyfunction!(read_digest, m)?)?;
    m.add_function(wrap_pyfunction!(sign_read_hmac, m)?)?;
    m.add_function(wrap_pyfunction!(sign_read_ed25519, m)?)?;
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
