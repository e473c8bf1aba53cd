//! The one place where the core's [`fractal_core::Error`] becomes a JavaScript
//! error. Every thrown error is an `Error` carrying:
//!
//! - `code`: a stable Node-style code (`ERR_VALIDATION`, `ERR_SIGNATURE`, …),
//! - `kind`: the core's `Error::kind()` (`invalid_field`, `signature_missing`,
//!   `unsupported_signature_version`, …), the same names the golden vectors use,
//! - `field`: the record field (or argument) concerned, when there is one,
//! - `index`: the position in the input array, for batch calls.
//!
//! Errors of the `Client` (see [`client_error`]) add `status` (the HTTP
//! status, when the server answered), `serverCode` (the server's error code,
//! e.g. `unknown_tenant`), `body` (`ERR_API`) and `retryAfterMs`
//! (`ERR_RATE_LIMITED`); a cancelled call rejects with an `AbortError`
//! (`code: 'ABORT_ERR'`, `kind: 'aborted'`, `cause`: the signal's reason).
//!
//! Messages never contain key material or payloads: they are the core's
//! messages, which name fields and reasons only (and, for server errors, the
//! server's own error message).

use fractal_client::ClientError;
use fractal_core::Error as CoreError;
use napi::bindgen_prelude::*;
use napi::{Env, JsError};

/// The stable `code` of each core error kind.
pub(crate) fn code_of(e: &CoreError) -> &'static str {
    match e.kind() {
        "invalid_json" => "ERR_INVALID_JSON",
        "invalid_field" => "ERR_INVALID_FIELD",
        "validation" => "ERR_VALIDATION",
        // A version the verifier's policy refuses is a signature error too,
        // told apart by its kind.
        "signature_missing" | "signature_invalid" | "unsupported_signature_version" => "ERR_SIGNATURE",
        "invalid_key" => "ERR_INVALID_KEY",
        "ring" => "ERR_RING",
        "invalid_argument" => "ERR_INVALID_ARGUMENT",
        _ => "ERR_FRACTAL",
    }
}

/// Why a call failed: either the core (or our own input checks, phrased as core
/// errors) refused the input, or the JavaScript engine itself failed (a getter
/// threw, memory ran out), in which case the engine's error is passed on as is.
pub(crate) enum Failure {
    Core {
        error: CoreError,
        index: Option<u32>,
    },
    Js(napi::Error),
}

impl From<CoreError> for Failure {
    fn from(error: CoreError) -> Self {
        Failure::Core { error, index: None }
    }
}

impl From<napi::Error> for Failure {
    fn from(e: napi::Error) -> Self {
        Failure::Js(e)
    }
}

impl Failure {
    /// Records the array position of the failing element of a batch call.
    pub(crate) fn at(self, i: usize) -> Self {
        match self {
            Failure::Core { error, index: None } => Failure::Core {
                error,
                index: Some(i as u32),
            },
            other => other,
        }
    }

    /// The JavaScript error to throw or to reject a promise with.
    pub(crate) fn into_napi(self, env: &Env) -> napi::Error {
        match self {
            Failure::Js(e) => e,
            Failure::Core { error, index } => match build_error(env, &error, index) {
                Ok(e) => e,
                // Creating the error object failed (the engine is shutting down);
                // still report the code and the message.
                Err(_) => napi::Error::new(Status::GenericFailure, message(&error, index)),
            },
        }
    }
}

/// Shorthand for the binding's internal results.
pub(crate) type Res<T> = std::result::Result<T, Failure>;

/// Converts an internal result at the FFI boundary.
pub(crate) trait ToJs<T> {
    fn js(self, env: &Env) -> napi::Result<T>;
}

impl<T> ToJs<T> for Res<T> {
    fn js(self, env: &Env) -> napi::Result<T> {
        self.map_err(|f| f.into_napi(env))
    }
}

impl<T> ToJs<T> for fractal_core::Result<T> {
    fn js(self, env: &Env) -> napi::Result<T> {
        self.map_err(|e| Failure::from(e).into_napi(env))
    }
}

fn message(e: &CoreError, index: Option<u32>) -> String {
    match index {
        Some(i) => format!("records[{i}]: {e}"),
        None => e.to_string(),
    }
}

fn build_error(env: &Env, e: &CoreError, index: Option<u32>) -> napi::Result<napi::Error> {
    let base = napi::Error::new(code_of(e), message(e, index));
    let value = JsError::from(base).into_unknown(*env);
    let mut obj: Object = unsafe { value.cast()? };
    obj.set_named_property("kind", e.kind())?;
    if let Some(field) = e.field() {
        obj.set_named_property("field", field)?;
    }
    if let Some(i) = index {
        obj.set_named_property("index", i)?;
    }
    Ok(napi::Error::from(value))
}

/// The JavaScript error of a failed client call: local problems keep the core's
/// codes (`ERR_VALIDATION`, `ERR_INVALID_FIELD`, …); server answers and
/// transport failures get their own.
pub(crate) fn client_error(env: &Env, e: &ClientError) -> napi::Error {
    match e {
        ClientError::Local(core) => Failure::from(core.clone()).into_napi(env),
        other => match build_client_error(env, other) {
            Ok(err) => err,
            Err(_) => napi::Error::new(Status::GenericFailure, other.to_string()),
        },
    }
}

fn build_client_error(env: &Env, e: &ClientError) -> napi::Result<napi::Error> {
    let code = match e {
        // A server-side 400 (413, 415): the record (or its encoding) was refused.
        ClientError::Invalid { .. } => "ERR_VALIDATION",
        ClientError::Signature { .. } => "ERR_SIGNATURE",
        ClientError::RateLimited { .. } => "ERR_RATE_LIMITED",
        ClientError::Api { .. } => "ERR_API",
        ClientError::Transport { timeout: true, .. } => "ERR_TIMEOUT",
        ClientError::Transport { .. } => "ERR_TRANSPORT",
        _ => "ERR_FRACTAL",
    };
    let value = JsError::from(napi::Error::new(code, e.to_string())).into_unknown(*env);
    let mut obj: Object = unsafe { value.cast()? };
    obj.set_named_property("kind", e.kind())?;
    obj.set_named_property("status", e.status().map(u32::from))?;
    if let Some(server_code) = e.server_code() {
        obj.set_named_property("serverCode", server_code)?;
    }
    // A 429's wait, when the server gave one, comes along.
    if let ClientError::RateLimited { .. } = e {
        obj.set_named_property("retryAfterMs", e.retry_after_ms().map(|ms| ms as f64))?;
    }
    if let ClientError::Api { body, .. } = e {
        obj.set_named_property("body", body.as_str())?;
    }
    Ok(napi::Error::from(value))
}

/// The rejection of a cancelled call, shaped like Node's own `AbortError`
/// (`name`, `code: 'ABORT_ERR'`, `cause`: the signal's `reason`).
pub(crate) fn abort_error(env: &Env, reason: Option<Unknown>) -> napi::Error {
    let build = || -> napi::Result<napi::Error> {
        let value = JsError::from(napi::Error::new("ABORT_ERR", "The operation was aborted"))
            .into_unknown(*env);
        let mut obj: Object = unsafe { value.cast()? };
        obj.set_named_property("name", "AbortError")?;
        obj.set_named_property("kind", "aborted")?;
        obj.set_named_property("status", Null)?;
        if let Some(r) = reason {
            obj.set_named_property("cause", r)?;
        }
        Ok(napi::Error::from(value))
    };
    build().unwrap_or_else(|_| napi::Error::new(Status::Cancelled, "The operation was aborted"))
}

/// A core error for a record field that has the wrong JavaScript type or value.
pub(crate) fn bad_field(field: impl Into<String>, reason: impl Into<String>) -> CoreError {
    CoreError::InvalidField {
        field: field.into(),
        reason: reason.into(),
    }
}

/// A core error for an argument that is not a record field.
pub(crate) fn bad_arg(name: impl Into<String>, reason: impl Into<String>) -> CoreError {
    CoreError::InvalidArgument {
        name: name.into(),
        reason: reason.into(),
    }
}
