//! The SDK's exceptions, and the one place where a core error (or a client
//! error) becomes one.
//!
//! Every exception carries `.kind` (the core's stable `Error::kind()` name, or
//! `ClientError::kind()` for errors of a server call), `.field` (the record field
//! or argument at fault, or `None`), `.status` and `.code` (the server's HTTP
//! status and error code, `None` for local errors); a message names the field.
//! Messages never contain key material or record payloads.

use fractal_client::ClientError;
use pyo3::exceptions::{PyException, PyTimeoutError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};
use pyo3::{create_exception, intern};

create_exception!(
    fractal_lba,
    FractalError,
    PyException,
    "Base class of every error raised by fractal_lba. `.kind` is the core's error kind, `.field` the field at fault (or None)."
);
create_exception!(
    fractal_lba,
    ValidationError,
    FractalError,
    "A record is malformed or fails SDK validation (kinds invalid_json, invalid_field, validation)."
);
create_exception!(
    fractal_lba,
    SignatureError,
    FractalError,
    "A signature is missing or does not verify (kinds signature_missing, signature_invalid)."
);
create_exception!(
    fractal_lba,
    UnsupportedSignatureVersionError,
    SignatureError,
    "The signature names a payload version the verifier's policy does not accept: a v1 signature on a v2-only verifier, or an unknown `vN:` prefix (kind unsupported_signature_version, field `sig`)."
);
create_exception!(
    fractal_lba,
    InvalidKeyError,
    FractalError,
    "A key cannot be used: wrong encoding or length, or an empty HMAC key (kind invalid_key)."
);
create_exception!(
    fractal_lba,
    RingError,
    FractalError,
    "A consistent-hash ring operation failed (kind ring)."
);
create_exception!(
    fractal_lba,
    InvalidArgumentError,
    FractalError,
    "An argument that is not a record field is invalid, e.g. a VerifyParams value (kind invalid_argument)."
);

create_exception!(
    fractal_lba,
    ServerValidationError,
    ValidationError,
    "The server refused the record as malformed (HTTP 400, 413 or 415; kind invalid). `.status` and `.code` (e.g. invalid_field) are the server's; the message names the field. Never retried."
);
create_exception!(
    fractal_lba,
    ServerSignatureError,
    SignatureError,
    "The server refused the record's signature (HTTP 401; kind signature). `.code` is signature_missing, signature_invalid or unsupported_signature_version (the tenant does not accept the signature's version: sign with `signature_version=1` for a v1-only tenant). Never retried."
);
create_exception!(
    fractal_lba,
    RateLimitedError,
    FractalError,
    "The server still answered 429 after every retry (kind rate_limited). `.retry_after` is the wait it asked for, in seconds, or None."
);
create_exception!(
    fractal_lba,
    ApiError,
    FractalError,
    "Any other error answer of the server: 403, 404 on submit, 5xx after every retry, or an answer that is not a VerifyResult (kind api). `.status`, `.code` and `.body` (the whole answer as text)."
);
create_exception!(
    fractal_lba,
    TransportError,
    FractalError,
    "The request could not be completed: connection refused or reset, DNS, TLS (kind transport), after every retry."
);

const TIMEOUT_DOC: &str = "One attempt took longer than the client's `timeout` (or `connect_timeout`), after every retry (kind timeout). Also a builtin TimeoutError.";

/// `ClientTimeoutError(TransportError, TimeoutError)`: two bases, which
/// `create_exception!` cannot express, so it is made with `type()` once.
static CLIENT_TIMEOUT_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn client_timeout_error(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    CLIENT_TIMEOUT_ERROR
        .get_or_try_init(py, || {
            let bases = PyTuple::new(
                py,
                [
                    py.get_type::<TransportError>(),
                    py.get_type::<PyTimeoutError>(),
                ],
            )?;
            let ns = PyDict::new(py);
            ns.set_item("__module__", "fractal_lba")?;
            ns.set_item("__doc__", TIMEOUT_DOC)?;
            ns.set_item("kind", "timeout")?;
            let class = py
                .get_type::<PyType>()
                .call1(("ClientTimeoutError", bases, ns))?
                .cast_into::<PyType>()?;
            Ok(class.unbind())
        })
        .map(|t| t.bind(py))
}

/// Converts a client error (local, server or transport) into the matching
/// Python exception, with `.status`, `.code` and the class's extra attributes.
pub(crate) fn raise_client(py: Python<'_>, e: ClientError) -> PyErr {
    let e = match e {
        ClientError::Local(core) => return raise(py, core),
        other => other,
    };
    let msg = e.to_string();
    let err = match &e {
        ClientError::Invalid { .. } => ServerValidationError::new_err(msg),
        ClientError::Signature { .. } => ServerSignatureError::new_err(msg),
        ClientError::RateLimited { .. } => RateLimitedError::new_err(msg),
        ClientError::Api { body, .. } => {
            let err = ApiError::new_err(msg);
            let _ = err.value(py).setattr(intern!(py, "body"), body);
            err
        }
        ClientError::Transport { timeout: true, .. } => match client_timeout_error(py) {
            Ok(class) => PyErr::from_type(class.clone(), msg),
            Err(e) => return e,
        },
        ClientError::Transport { .. } => TransportError::new_err(msg),
        // A variant added to the core later is still a FractalError.
        _ => FractalError::new_err(msg),
    };
    let value = err.value(py);
    let _ = value.setattr(intern!(py, "kind"), e.kind());
    let _ = value.setattr(intern!(py, "status"), e.status());
    let _ = value.setattr(intern!(py, "code"), e.server_code());
    if let Some(ms) = e.retry_after_ms() {
        let _ = value.setattr(intern!(py, "retry_after"), ms as f64 / 1000.0);
    }
    err
}

/// Converts a core error into the matching Python exception.
///
/// (A free function rather than `impl From<fractal_core::Error> for PyErr`: both
/// types are foreign to this crate, so the orphan rule forbids that impl.)
pub(crate) fn raise(py: Python<'_>, e: fractal_core::Error) -> PyErr {
    raise_with_context(py, e, None)
}

/// Like [`raise`], prefixing the message with where the error happened
/// (e.g. `records[3]`) so that batch callers can find the bad record.
pub(crate) fn raise_with_context(
    py: Python<'_>,
    e: fractal_core::Error,
    context: Option<&str>,
) -> PyErr {
    let kind = e.kind();
    let field = e.field().map(str::to_owned);
    let mut msg = match context {
        Some(c) => format!("{c}: {e}"),
        None => e.to_string(),
    };
    // Every message names its field (the core's `signature missing` does not).
    if let Some(f) = &field
        && !msg.contains(&format!("`{f}`"))
    {
        msg.push_str(&format!(" (field `{f}`)"));
    }
    use fractal_core::Error as E;
    let err = match &e {
        E::InvalidJson { .. } | E::InvalidField { .. } | E::Validation { .. } => ValidationError::new_err(msg),
        E::SignatureMissing | E::SignatureInvalid { .. } => SignatureError::new_err(msg),
        E::UnsupportedSignatureVersion { .. } => UnsupportedSignatureVersionError::new_err(msg),
        E::InvalidKey { .. } => InvalidKeyError::new_err(msg),
        E::Ring { .. } => RingError::new_err(msg),
        E::InvalidArgument { .. } => InvalidArgumentError::new_err(msg),
        _ => FractalError::new_err(msg),
    };
    let value = err.value(py);
    // Setting attributes on a fresh exception instance cannot fail in practice;
    // if it ever did, the exception is still raised with its message.
    let _ = value.setattr(intern!(py, "kind"), kind);
    let _ = value.setattr(intern!(py, "field"), field);
    err
}

/// Adds `.py(py)` to core results.
pub(crate) trait CoreResultExt<T> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> CoreResultExt<T> for Result<T, fractal_core::Error> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| raise(py, e))
    }
}

/// Registers the exception classes, with class-level defaults for `.kind`,
/// `.field`, `.status`, `.code` (and the client errors' own attributes) so that
/// the attributes exist even on instances raised by Python code.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let classes: [(&str, Bound<'_, PyType>, &str); 13] = [
        ("FractalError", py.get_type::<FractalError>(), "error"),
        (
            "ValidationError",
            py.get_type::<ValidationError>(),
            "validation",
        ),
        (
            "SignatureError",
            py.get_type::<SignatureError>(),
            "signature_invalid",
        ),
        (
            "UnsupportedSignatureVersionError",
            py.get_type::<UnsupportedSignatureVersionError>(),
            "unsupported_signature_version",
        ),
        (
            "InvalidKeyError",
            py.get_type::<InvalidKeyError>(),
            "invalid_key",
        ),
        ("RingError", py.get_type::<RingError>(), "ring"),
        (
            "InvalidArgumentError",
            py.get_type::<InvalidArgumentError>(),
            "invalid_argument",
        ),
        (
            "ServerValidationError",
            py.get_type::<ServerValidationError>(),
            "invalid",
        ),
        (
            "ServerSignatureError",
            py.get_type::<ServerSignatureError>(),
            "signature",
        ),
        (
            "RateLimitedError",
            py.get_type::<RateLimitedError>(),
            "rate_limited",
        ),
        ("ApiError", py.get_type::<ApiError>(), "api"),
        (
            "TransportError",
            py.get_type::<TransportError>(),
            "transport",
        ),
        (
            "ClientTimeoutError",
            client_timeout_error(py)?.clone(),
            "timeout",
        ),
    ];
    for (name, class, kind) in classes {
        class.setattr("kind", kind)?;
        if name == "FractalError" {
            class.setattr("field", py.None())?;
            class.setattr("status", py.None())?;
            class.setattr("code", py.None())?;
        }
        m.add(name, class)?;
    }
    py.get_type::<ServerSignatureError>()
        .setattr("status", 401)?;
    py.get_type::<RateLimitedError>().setattr("status", 429)?;
    py.get_type::<RateLimitedError>()
        .setattr("retry_after", py.None())?;
    py.get_type::<ApiError>().setattr("body", "")?;
    Ok(())
}
