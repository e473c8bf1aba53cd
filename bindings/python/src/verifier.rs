//! `Verifier`: signature checking with several keys (SPEC §4, key rotation).

use std::sync::{PoisonError, RwLock};

use fractal_core::{Error, Verifier};
use pyo3::prelude::*;

use crate::batch::read_then_compute;
use crate::convert::{string, text_or_bytes};
use crate::error::{CoreResultExt as _, raise};
use crate::signed::{Keys, Text, digest, signed_with_sig};

/// Checks record signatures against a set of keys; a signature is valid if it
/// verifies under any of them (key rotation). Keys are HMAC secrets (str as UTF-8,
/// or bytes) and Ed25519 public keys (standard base64 of 32 bytes).
///
/// Safe to share between threads: checks take a read lock, adding a key a write
/// lock. `verify_many` releases the GIL while it checks.
///
/// Example: `Verifier(hmac_keys=["old-secret", "new-secret"]).verify(record)`
/// returns None if either key signed `record` and raises SignatureError otherwise.
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
    #[pyo3(signature = (*, hmac_keys=None, ed25519_public_keys=None))]
    fn new(
        py: Python<'_>,
        hmac_keys: Option<Vec<Bound<'_, PyAny>>>,
        ed25519_public_keys: Option<Vec<Bound<'_, PyAny>>>,
    ) -> PyResult<Self> {
        let this = PyVerifier {
            inner: RwLock::new(Verifier::new()),
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

    /// Checks the record's `sig`. Returns None when it verifies under some key;
    /// raises SignatureError (kind signature_missing or signature_invalid) when not,
    /// and ValidationError when a signed field or `sig` is malformed. Reads only
    /// the eight signed fields and `sig`; use `validate` for the whole record.
    fn verify(&self, py: Python<'_>, record: &Bound<'_, PyAny>) -> PyResult<()> {
        let (s, sig) = signed_with_sig(record, &Keys::new(py)).or_raise(py)?;
        let sig = match sig.as_ref().map(Text::as_str) {
            Some(sig) if !sig.is_empty() => sig,
            _ => return Err(raise(py, Error::SignatureMissing)),
        };
        let digest = s.digest().or_raise(py)?;
        let guard = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        guard.verify_digest(&digest, sig).or_raise(py)
    }

    /// Checks the signatures of many records; one bool per record (False when the
    /// signature is missing or does not verify). The signed fields and `sig` are
    /// read under the GIL; the checks run without it (on two or more threads for
    /// a large batch). Reads only the eight signed fields and `sig` of each
    /// record; use `validate` for the whole record. Raises ValidationError, naming
    /// the index, when a signed field or `sig` is malformed.
    fn verify_many(&self, py: Python<'_>, records: &Bound<'_, PyAny>) -> PyResult<Vec<bool>> {
        let keys = Keys::new(py);
        let verifier = self.snapshot();
        read_then_compute(
            py,
            records,
            |r| signed_with_sig(r, &keys),
            // SAFETY: `read_then_compute` keeps each record's fields alive until
            // every check has returned.
            |(s, sig)| unsafe { (s.detached_fields(), sig.as_ref().map(|t| t.detached())) },
            |(f, sig)| match sig {
                Some(sig) if !sig.is_empty() => match digest(f) {
                    Ok(d) => verifier.verify_digest(&d, sig).is_ok(),
                    Err(_) => false,
                },
                _ => false,
            },
        )
    }

    /// Number of keys held.
    fn __len__(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn __repr__(&self) -> String {
        format!("Verifier(<{} keys>)", self.__len__())
    }
}
