//! Errors across the boundary: the status every export returns, the caller's
//! `FractalError`, and `boundary`, which turns a failure or a panic into both.

use super::*;

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


// ---------------------------------------------------------------------------
// The boundary: errors, panics, pointers.

/// What a failing call reports: its status, the field it names, its message.
pub(crate) struct Failure {
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

pub(crate) fn bad_arg(name: &str, reason: &str) -> Failure {
    Failure {
        status: FractalStatus::InvalidArgument,
        field: Some(name.to_string()),
        message: format!("invalid argument `{name}`: {reason}"),
    }
}

pub(crate) type FfiResult<T = ()> = Result<T, Failure>;

/// A C string of `s`; interior NULs (impossible in our messages, but field names
/// may echo caller input) become U+FFFD so nothing is lost silently.
pub(crate) fn c_string(s: &str) -> *mut c_char {
    let cleaned = if s.contains('\0') { s.replace('\0', "\u{FFFD}") } else { s.to_string() };
    CString::new(cleaned).map(CString::into_raw).unwrap_or(ptr::null_mut())
}

pub(crate) unsafe fn report(err: *mut FractalError, f: Failure) -> FractalStatus {
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

pub(crate) unsafe fn free_error_fields(e: &mut FractalError) {
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
pub(crate) fn boundary(err: *mut FractalError, body: impl FnOnce() -> FfiResult) -> FractalStatus {
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

/// [`boundary`] for an export that answers through its out-pointer `out`: checks
/// `out` before anything else, then stores there what `body` returns.
pub(crate) fn boundary_out<T>(
    err: *mut FractalError,
    out: *mut T,
    body: impl FnOnce() -> FfiResult<T>,
) -> FractalStatus {
    boundary(err, || {
        let out = out_ptr("out", out)?;
        *out = body()?;
        Ok(())
    })
}

/// Runs a body that cannot fail (but might panic) behind `catch_unwind`.
pub(crate) fn boundary_infallible<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
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
