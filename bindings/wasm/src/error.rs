//! The one place where the core's errors become JavaScript errors, with the
//! same shape as the Node addon's (bindings/node/src/error.rs):
//!
//! - `code`: `ERR_VALIDATION`, `ERR_SIGNATURE`, … (stable),
//! - `kind`: the core's `Error::kind()` (`invalid_field`, …), the golden names,
//! - `field`: the record field or argument concerned, when there is one.
//!
//! Client errors add `status`, `serverCode`, `body` (`ERR_API`),
//! `retryAfterMs` (`ERR_RATE_LIMITED`) and `notFound` (the core's "a lookup's
//! 404: no outcome stored", which `Client.get` turns into `null`). Messages are the core's: they name
//! fields and reasons, never keys or payloads.

use fractal_core::Error as CoreError;
use fractal_core::protocol::ClientError;
use js_sys::Reflect;
use wasm_bindgen::JsValue;

/// The stable `code` of each core error kind (the Node addon's table).
pub fn code_of(e: &CoreError) -> &'static str {
    match e.kind() {
        "invalid_json" => "ERR_INVALID_JSON",
        "invalid_field" => "ERR_INVALID_FIELD",
        "validation" => "ERR_VALIDATION",
        "signature_missing" | "signature_invalid" | "unsupported_signature_version" => "ERR_SIGNATURE",
        "invalid_key" => "ERR_INVALID_KEY",
        "ring" => "ERR_RING",
        "invalid_argument" => "ERR_INVALID_ARGUMENT",
        _ => "ERR_FRACTAL",
    }
}

fn set(obj: &JsValue, key: &str, value: impl Into<JsValue>) {
    // Setting a property on a fresh Error object cannot fail.
    let _ = Reflect::set(obj, &JsValue::from_str(key), &value.into());
}

fn base(code: &str, message: &str, kind: &str) -> JsValue {
    let err: JsValue = js_sys::Error::new(message).into();
    set(&err, "code", code);
    set(&err, "kind", kind);
    err
}

/// The JavaScript error of a core error.
pub fn core(e: &CoreError) -> JsValue {
    let err = base(code_of(e), &e.to_string(), e.kind());
    if let Some(field) = e.field() {
        set(&err, "field", field);
    }
    err
}

/// A core result at the boundary.
pub trait Js<T> {
    /// Maps the error to its JavaScript error.
    fn js(self) -> Result<T, JsValue>;
}

impl<T> Js<T> for fractal_core::Result<T> {
    fn js(self) -> Result<T, JsValue> {
        self.map_err(|e| core(&e))
    }
}

/// An `ERR_INVALID_ARGUMENT` naming `name`.
pub fn arg(name: &str, reason: impl Into<String>) -> JsValue {
    core(&CoreError::InvalidArgument { name: name.into(), reason: reason.into() })
}

/// The JavaScript error of a failed client call: local problems keep the core's
/// codes; server answers and transport failures get their own.
pub fn client(e: &ClientError) -> JsValue {
    let code = match e {
        ClientError::Local(c) => return core(c),
        ClientError::Invalid { .. } => "ERR_VALIDATION",
        ClientError::Signature { .. } => "ERR_SIGNATURE",
        ClientError::RateLimited { .. } => "ERR_RATE_LIMITED",
        ClientError::Api { .. } => "ERR_API",
        ClientError::Transport { timeout: true, .. } => "ERR_TIMEOUT",
        ClientError::Transport { .. } => "ERR_TRANSPORT",
        _ => "ERR_FRACTAL",
    };
    let err = base(code, &e.to_string(), e.kind());
    let or_null = |v: Option<f64>| v.map_or(JsValue::NULL, JsValue::from);
    set(&err, "status", or_null(e.status().map(f64::from)));
    set(&err, "notFound", e.is_not_found());
    if let Some(code) = e.server_code() {
        set(&err, "serverCode", code);
    }
    if let ClientError::RateLimited { .. } = e {
        set(&err, "retryAfterMs", or_null(e.retry_after_ms().map(|ms| ms as f64)));
    }
    if let ClientError::Api { body, .. } = e {
        set(&err, "body", body.as_str());
    }
    err
}
