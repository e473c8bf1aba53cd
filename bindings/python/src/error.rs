//! The SDK's exceptions, and the one place where a core error becomes one.
//!
//! Every exception carries `.kind` (the core's stable `Error::kind()` name) and
//! `.field` (the record field or argument at fault, or `None`), and its message
//! names the field. Messages never contain key material or record payloads.

use pyo3::exceptions::PyException;
use pyo3::prelude::*;
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
    let err = match kind {
        "invalid_json" | "invalid_field" | "validation" => ValidationError::new_err(msg),
        "signature_missing" | "signature_invalid" => SignatureError::new_err(msg),
        "invalid_key" => InvalidKeyError::new_err(msg),
        "ring" => RingError::new_err(msg),
        "invalid_argument" => InvalidArgumentError::new_err(msg),
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

/// Registers the exception classes, with class-level defaults for `.kind` and
/// `.field` so that the attributes exist even on instances raised by Python code.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let classes: [(&str, Bound<'_, pyo3::types::PyType>, &str); 6] = [
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
    ];
    for (name, class, kind) in classes {
        class.setattr("kind", kind)?;
        class.setattr("field", py.None())?;
        m.add(name, class)?;
    }
    Ok(())
}
