//! The one place where the core's [`fractal_core::Error`] becomes a JavaScript
//! error. Every thrown error is an `Error` carrying:
//!
//! - `code`: a stable Node-style code (`ERR_VALIDATION`, `ERR_SIGNATURE`, …),
//! - `kind`: the core's `Error::kind()` (`invalid_field`, `signature_missing`, …),
//!   the same names the golden vectors use,
//! - `field`: the record field (or argument) concerned, when there is one,
//! - `index`: the position in the input array, for batch calls.
//!
//! Messages never contain key material or payloads: they are the core's
//! messages, which name fields and reasons only.

use fractal_core::Error as CoreError;
use napi::bindgen_prelude::*;
use napi::{Env, JsError};

/// The stable `code` of each core error kind.
pub(crate) fn code_of(e: &CoreError) -> &'static str {
    match e.kind() {
        "invalid_json" => "ERR_INVALID_JSON",
        "invalid_field" => "ERR_INVALID_FIELD",
        "validation" => "ERR_VALIDATION",
        "signature_missing" | "signature_invalid" => "ERR_SIGNATURE",
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
