//! `Verifier`: signature checking with several keys (SPEC §4, key rotation) under
//! a signature policy (which payload versions, which of the seed's v1 encodings).
//!
//! The `sig` prefix names the payload: a `v2:` signature needs the whole record
//! (the core's reader over the dict, `convert::pcs_from_py`), any other only the eight v1
//! fields (the fast path of `signed.rs`). Either way the core's
//! `Verifier::verify` decides, policy included.

use std::sync::{PoisonError, RwLock};

use fractal_core::sign::V2_PREFIX;
use fractal_core::{Error, LegacyEncoding, Pcs, SigVersion, SignaturePolicy, Verifier};
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};

use crate::batch::read_then_compute;
use crate::convert::{CoreResult, describe, pcs_from_py, string, text_or_bytes};
use crate::error::{CoreResultExt as _, raise};
use crate::signed::{Keys, Signed, Text, sig_of, signed};

/// A record read for a signature check.
enum Read<'py> {
    /// A `v2:` signature: the whole record (boxed: its address must not change
    /// while a worker reads it).
    V2(Box<Pcs>),
    /// Any other (or no) signature: the eight v1 fields and `sig`.
    V1(Signed<'py>, Option<Text<'py>>),
}

/// [`Read`] as plain data for computing without the GIL.
enum View {
    V2(&'static Pcs),
    V1(fractal_core::SigningFields<'static>, Option<&'static str>),
}

fn read<'py>(record: &Bound<'py, PyAny>, keys: &Keys<'py>) -> CoreResult<Read<'py>> {
    let sig = sig_of(record, keys)?;
    if sig
        .as_ref()
        .is_some_and(|s| s.as_str().starts_with(V2_PREFIX))
    {
        return Ok(Read::V2(Box::new(pcs_from_py(record)?)));
    }
    Ok(Read::V1(signed(record, keys)?, sig))
}

impl Read<'_> {
    /// # Safety
    ///
    /// The view must not be used once `self` is dropped (see `Text::detached`;
    /// the boxed record does not move when `self` does).
    unsafe fn view(&self) -> View {
        match self {
            // SAFETY: forwarded to the caller.
            Read::V2(p) => View::V2(unsafe { std::mem::transmute::<&Pcs, &'static Pcs>(&**p) }),
            Read::V1(s, sig) => unsafe {
                View::V1(s.detached_fields(), sig.as_ref().map(|t| t.detached()))
            },
        }
    }
}

impl View {
    fn check(&self, verifier: &Verifier) -> Result<(), Error> {
        match self {
            View::V2(p) => verifier.verify(p),
            View::V1(f, sig) => verifier.verify_fields_v1(f, *sig).map(drop),
        }
    }
}

/// The accepted signature versions: each the int 1 or 2 or the str "v1" or "v2".
fn versions_arg(obj: &Bound<'_, PyAny>) -> CoreResult<Vec<SigVersion>> {
    let bad = |reason: String| Error::InvalidArgument {
        name: "versions".into(),
        reason,
    };
    if obj.is_instance_of::<PyString>() {
        return Err(bad(
            "must be a sequence of versions, e.g. (2,) or (\"v1\", \"v2\"), not a str".into(),
        ));
    }
    let mut out = Vec::new();
    for item in obj.try_iter().map_err(|_| {
        bad(format!(
            "must be a sequence of versions, not {}",
            describe(obj)
        ))
    })? {
        let item = item.map_err(|e| bad(format!("could not be read: {e}")))?;
        let v = match crate::convert::sig_version(Some(&item)) {
            Ok(v) => v,
            Err(_) => match string(&item, String::new) {
                Ok(s) if s == "v1" || s == "v2" => s.parse()?,
                _ => {
                    return Err(bad(format!(
                        "each version must be 1, 2, \"v1\" or \"v2\", not {}",
                        describe(&item)
                    )));
                }
            },
        };
        if !out.contains(&v) {
            out.push(v);
        }
    }
    if out.is_empty() {
        return Err(bad("must name at least one version (1 or 2)".into()));
    }
    out.sort();
    Ok(out)
}

/// The accepted legacy encodings: `"seed-python"`, `"seed-go"`.
fn encodings_arg(obj: &Bound<'_, PyAny>) -> CoreResult<Vec<LegacyEncoding>> {
    let bad = |reason: String| Error::InvalidArgument {
        name: "accept_encodings".into(),
        reason,
    };
    if obj.is_instance_of::<PyString>() {
        return Err(bad(
            "must be a sequence of encoding names, e.g. (\"seed-python\",), not a str".into(),
        ));
    }
    let mut out = Vec::new();
    for item in obj.try_iter().map_err(|_| {
        bad(format!(
            "must be a sequence of encoding names, not {}",
            describe(obj)
        ))
    })? {
        let item = item.map_err(|e| bad(format!("could not be read: {e}")))?;
        let name = string(&item, String::new).map_err(|_| {
            bad(format!(
                "each encoding must be \"seed-python\" or \"seed-go\", not {}",
                describe(&item)
            ))
        })?;
        let e: LegacyEncoding = name.parse().map_err(|_| {
            bad(format!(
                "unknown encoding {name:?} (\"seed-python\", \"seed-go\")"
            ))
        })?;
        if !out.contains(&e) {
            out.push(e);
        }
    }
    out.sort();
    Ok(out)
}

/// Checks record signatures against a set of keys; a signature is valid if it
/// verifies under any of them (key rotation). Keys are HMAC secrets (str as UTF-8,
/// or bytes) and Ed25519 public keys (standard base64 of 32 bytes).
///
/// The policy says which signatures count (SPEC §4): `versions` (default `(2,)`:
/// v2 only; `(1, 2)` while a fleet migrates; ints or "v1"/"v2") and
/// `accept_encodings` (default none: the seed's v1 encodings "seed-python",
/// "seed-go" of SPEC §4.1, tried when a v1 signature fails on the canonical
/// payload). A signature of a version outside the policy raises
/// UnsupportedSignatureVersionError.
///
/// Safe to share between threads: checks take a read lock, adding a key a write
/// lock. `verify_many` releases the GIL while it checks.
///
/// Example: `Verifier(hmac_keys=["old-secret", "new-secret"]).verify(record)`
/// returns None if either key signed `record` (v2) and raises SignatureError otherwise.
#[pyclass(frozen, module = "fractal_lba", name = "Verifier")]
pub(crate) struct PyVerifier {
    inner: RwLock<Verifier>,
}

impl PyVerifier {
    fn snapshot(&self) -> Verifier {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[pymethods]
impl PyVerifier {
    #[new]
    #[pyo3(
        signature = (*, hmac_keys=None, ed25519_public_keys=None, versions=None, accept_encodings=None),
        text_signature = "(*, hmac_keys=None, ed25519_public_keys=None, versions=None, accept_encodings=None)"
    )]
    fn new(
        py: Python<'_>,
        hmac_keys: Option<Vec<Bound<'_, PyAny>>>,
        ed25519_public_keys: Option<Vec<Bound<'_, PyAny>>>,
        versions: Option<&Bound<'_, PyAny>>,
        accept_encodings: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let mut policy = SignaturePolicy::default();
        if let Some(v) = versions.filter(|v| !v.is_none()) {
            policy.versions = versions_arg(v).or_raise(py)?;
        }
        if let Some(e) = accept_encodings.filter(|e| !e.is_none()) {
            policy.encodings = encodings_arg(e).or_raise(py)?;
        }
        let mut verifier = Verifier::new();
        verifier.set_policy(policy);
        let this = PyVerifier {
            inner: RwLock::new(verifier),
        };
        for k in hmac_keys.unwrap_or_default() {
            this.add_hmac_key(py, &k)?;
        }
        for k in ed25519_public_keys.unwrap_or_default() {
            this.add_ed25519_public_key(py, &k)?;
        }
        Ok(this)
    }

    /// Adds an HMAC-SHA256 secret (str, used as UTF-8 bytes, or bytes).
    /// Raises InvalidKeyError for an empty key.
    fn add_hmac_key(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let key = text_or_bytes(key).map_err(|reason| {
            raise(
                py,
                Error::InvalidKey {
                    reason: format!("HMAC key {reason}"),
                },
            )
        })?;
        self.inner
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .add_hmac_key(&key)
            .or_raise(py)?;
        Ok(())
    }

    /// Adds an Ed25519 public key (standard base64 of 32 bytes).
    /// Raises InvalidKeyError for anything else.
    fn add_ed25519_public_key(
        &self,
        py: Python<'_>,
        public_b64: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let key = string(public_b64, || "public_b64".into()).map_err(|_| {
            raise(
                py,
                Error::InvalidKey {
                    reason: "Ed25519 public key must be a base64 str".into(),
                },
            )
        })?;
        self.inner
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .add_ed25519_public_key(&key)
            .or_raise(py)?;
        Ok(())
    }

    /// Checks the record's `sig` under the policy. Returns None when it verifies
    /// under some key; raises SignatureError (kind signature_missing or
    /// signature_invalid), UnsupportedSignatureVersionError when the policy does
    /// not accept the signature's version, and ValidationError when the record is
    /// malformed. A `v2:` signature covers, and reads, the whole record; a v1
    /// signature only the eight v1 fields (use `validate` for the rest).
    fn verify(&self, py: Python<'_>, record: &Bound<'_, PyAny>) -> PyResult<()> {
        let r = read(record, &Keys::new(py)).or_raise(py)?;
        let guard = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        // SAFETY: `r` outlives the view, which is used only in this statement.
        let out = unsafe { r.view() }.check(&guard);
        drop(guard);
        out.or_raise(py)
    }

    /// Checks the signatures of many records; one bool per record (False when the
    /// signature is missing, does not verify or is of a version the policy
    /// refuses). The records are read under the GIL; the checks run without it
    /// (on two or more threads for a large batch). Raises ValidationError, naming
    /// the index, when a record is malformed (as `verify` reads it).
    fn verify_many(&self, py: Python<'_>, records: &Bound<'_, PyAny>) -> PyResult<Vec<bool>> {
        let keys = Keys::new(py);
        let verifier = self.snapshot();
        read_then_compute(
            py,
            records,
            |r| read(r, &keys),
            // SAFETY: `read_then_compute` keeps each record read alive until
            // every check has returned.
            |r| unsafe { r.view() },
            |v| v.check(&verifier).is_ok(),
        )
    }

    /// Checks the `Authorization` header of a read of `pcs_id` by `tenant` (SPEC
    /// §6.1) at unix time `now` (default: the clock now). Returns None when it
    /// verifies under some key within 300 s; raises SignatureError (kind
    /// signature_missing when `authorization` is None or empty, signature_invalid
    /// when malformed, stale or not verifying).
    #[pyo3(signature = (tenant, pcs_id, authorization, *, now=None))]
    fn verify_read(
        &self,
        py: Python<'_>,
        tenant: &Bound<'_, PyAny>,
        pcs_id: &Bound<'_, PyAny>,
        authorization: Option<&Bound<'_, PyAny>>,
        now: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let tenant = crate::convert::arg_string(tenant, "tenant").or_raise(py)?;
        let pcs_id = crate::convert::arg_string(pcs_id, "pcs_id").or_raise(py)?;
        let authorization = authorization
            .filter(|a| !a.is_none())
            .map(|a| crate::convert::arg_string(a, "authorization"))
            .transpose()
            .or_raise(py)?;
        let now = match now.filter(|n| !n.is_none()) {
            Some(n) => crate::convert::uint64(n, "now").or_raise(py)?,
            None => fractal_core::protocol::unix_now(),
        };
        let guard = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        guard
            .verify_read(&tenant, &pcs_id, authorization.as_deref(), now)
            .or_raise(py)
    }

    /// The accepted signature versions, as ints (e.g. `(2,)`).
    #[getter]
    fn versions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let guard = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        PyTuple::new(py, guard.policy().versions.iter().map(|v| v.number()))
    }

    /// The accepted legacy v1 encodings (e.g. `("seed-python",)`).
    #[getter]
    fn accept_encodings<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let guard = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        PyTuple::new(py, guard.policy().encodings.iter().map(|e| e.as_str()))
    }

    /// Number of keys held.
    fn __len__(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn __repr__(&self) -> String {
        let guard = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        let p = guard.policy();
        let versions: Vec<String> = p.versions.iter().map(|v| v.number().to_string()).collect();
        let encodings: Vec<String> = p
            .encodings
            .iter()
            .map(|e| format!("{:?}", e.as_str()))
            .collect();
        format!(
            "Verifier(<{} keys>, versions={}, accept_encodings={})",
            guard.len(),
            tuple_repr(&versions),
            tuple_repr(&encodings)
        )
    }
}

/// Python's repr of a tuple of already-repr'd items: `()`, `(a,)`, `(a, b)`.
fn tuple_repr(items: &[String]) -> String {
    match items {
        [one] => format!("({one},)"),
        _ => format!("({})", items.join(", ")),
    }
}
