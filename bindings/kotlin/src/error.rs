//! The one place where the core's errors become Kotlin exceptions. uniffi turns
//! [`FractalError`] into the sealed class `FractalException`, one subclass per
//! variant, with the variant's fields as properties (`field`, `reason`, …).
//!
//! The first nine variants are the core's `Error`, field for field; the last
//! five are the client protocol's answers (`ClientError`), whose server message
//! is called `detail` (a Kotlin exception already has a `message`). The stable
//! machine-readable name of each is [`FractalError::kind`] (`invalid_field`,
//! `signature`, `timeout`, …), the same as every other SDK's, exported to
//! Kotlin as `errorKind(e)`.

use fractal_core::Error as CoreError;
use fractal_core::protocol::ClientError;

/// Everything that can go wrong, as the core says it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Error)]
pub enum FractalError {
    /// The bytes are not well-formed JSON (or not a JSON object).
    InvalidJson { reason: String },
    /// Malformed at parse level (SPEC §1); `field` is a JSON path (`ft.outbox_seq`).
    InvalidField { field: String, reason: String },
    /// SDK-side validation failed (SPEC §1).
    Validation { field: String, reason: String },
    /// A signature was required but the record (or the read) has none; `reason`
    /// is the core's text (every variant carries one field at least, so the
    /// Kotlin exception has a message).
    SignatureMissing { reason: String },
    /// The signature does not verify (or is not base64 of the right length).
    SignatureInvalid { reason: String },
    /// The signature names a payload version the policy does not accept.
    UnsupportedSignatureVersion { version: String },
    /// A key could not be used (never contains key material).
    InvalidKey { reason: String },
    /// A consistent-hash ring operation failed.
    Ring { reason: String },
    /// An invalid argument that is not a record field; `name` is the argument.
    InvalidArgument { name: String, reason: String },
    /// The server refused the record as malformed (400, 413 or 415).
    Rejected { status: i32, code: String, detail: String },
    /// The server refused the signature (401).
    SignatureRefused { code: String, detail: String },
    /// Rate limited (429) after every retry; what the server asked to wait.
    RateLimited { retry_after_ms: Option<i64>, detail: String },
    /// Any other error answer (403, 404 on submit, 5xx, …); `body` is the whole body.
    Api { status: i32, code: String, detail: String, body: String },
    /// The request could not be completed (connection refused, reset, timeout).
    Transport { reason: String, timeout: bool },
}

impl From<CoreError> for FractalError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::InvalidJson { reason } => FractalError::InvalidJson { reason },
            CoreError::InvalidField { field, reason } => FractalError::InvalidField { field, reason },
            CoreError::Validation { field, reason } => FractalError::Validation { field, reason },
            e @ CoreError::SignatureMissing => FractalError::SignatureMissing { reason: e.to_string() },
            CoreError::SignatureInvalid { reason } => FractalError::SignatureInvalid { reason },
            CoreError::UnsupportedSignatureVersion { version } => FractalError::UnsupportedSignatureVersion { version },
            CoreError::InvalidKey { reason } => FractalError::InvalidKey { reason },
            CoreError::Ring { reason } => FractalError::Ring { reason },
            CoreError::InvalidArgument { name, reason } => FractalError::InvalidArgument { name, reason },
            // The core's enum is non_exhaustive: a variant added later still
            // reaches Kotlin, as an argument error carrying its kind and text.
            other => FractalError::InvalidArgument { name: other.kind().to_string(), reason: other.to_string() },
        }
    }
}

impl From<ClientError> for FractalError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Local(c) => c.into(),
            ClientError::Invalid { status, code, message } => {
                FractalError::Rejected { status: status.into(), code, detail: message }
            }
            ClientError::Signature { code, message } => FractalError::SignatureRefused { code, detail: message },
            ClientError::RateLimited { retry_after_ms, message } => FractalError::RateLimited {
                retry_after_ms: retry_after_ms.map(|ms| i64::try_from(ms).unwrap_or(i64::MAX)),
                detail: message,
            },
            ClientError::Api { status, code, message, body } => {
                FractalError::Api { status: status.into(), code, detail: message, body }
            }
            ClientError::Transport { reason, timeout } => FractalError::Transport { reason, timeout },
            // Non-exhaustive: a later kind of answer still reaches Kotlin, as an Api error.
            other => FractalError::Api {
                status: other.status().map_or(0, i32::from),
                code: other.kind().to_string(),
                detail: other.to_string(),
                body: String::new(),
            },
        }
    }
}

impl FractalError {
    /// Back to the core's types, so `kind`, `status` and the text are the core's.
    fn to_client(&self) -> ClientError {
        let s = |x: &i32| u16::try_from(*x).unwrap_or(0);
        match self.clone() {
            FractalError::InvalidJson { reason } => CoreError::InvalidJson { reason }.into(),
            FractalError::InvalidField { field, reason } => CoreError::InvalidField { field, reason }.into(),
            FractalError::Validation { field, reason } => CoreError::Validation { field, reason }.into(),
            FractalError::SignatureMissing { .. } => CoreError::SignatureMissing.into(),
            FractalError::SignatureInvalid { reason } => CoreError::SignatureInvalid { reason }.into(),
            FractalError::UnsupportedSignatureVersion { version } => {
                CoreError::UnsupportedSignatureVersion { version }.into()
            }
            FractalError::InvalidKey { reason } => CoreError::InvalidKey { reason }.into(),
            FractalError::Ring { reason } => CoreError::Ring { reason }.into(),
            FractalError::InvalidArgument { name, reason } => CoreError::InvalidArgument { name, reason }.into(),
            FractalError::Rejected { status, code, detail } => {
                ClientError::Invalid { status: s(&status), code, message: detail }
            }
            FractalError::SignatureRefused { code, detail } => ClientError::Signature { code, message: detail },
            FractalError::RateLimited { retry_after_ms, detail } => ClientError::RateLimited {
                retry_after_ms: retry_after_ms.and_then(|ms| u64::try_from(ms).ok()),
                message: detail,
            },
            FractalError::Api { status, code, detail, body } => {
                ClientError::Api { status: s(&status), code, message: detail, body }
            }
            FractalError::Transport { reason, timeout } => ClientError::Transport { reason, timeout },
        }
    }
}

impl std::fmt::Display for FractalError {
    /// The core's message.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.to_client().fmt(f)
    }
}

impl std::error::Error for FractalError {}

/// The stable machine-readable name of an error, shared by every SDK and the
/// golden vectors: the core's `Error::kind()` (`invalid_json`, `invalid_field`,
/// `validation`, `signature_missing`, …), or for server and transport answers
/// `invalid`, `signature`, `rate_limited`, `api`, `timeout`, `transport`.
#[uniffi::export]
pub fn error_kind(e: FractalError) -> String {
    e.to_client().kind().to_string()
}

/// The core's message for an error (it names the field and the reason, never a
/// key or a payload), e.g. ``invalid field `epoch`: …``.
#[uniffi::export]
pub fn error_message(e: FractalError) -> String {
    e.to_client().to_string()
}

/// The HTTP status of an error that came from the server, else null.
#[uniffi::export]
pub fn error_status(e: FractalError) -> Option<i32> {
    e.to_client().status().map(i32::from)
}

/// Whether another attempt may succeed (429, 5xx, transport failures).
#[uniffi::export]
pub fn error_is_retryable(e: FractalError) -> bool {
    e.to_client().is_retryable()
}

/// The record field or argument an error is about, when there is one.
#[uniffi::export]
pub fn error_field(e: FractalError) -> Option<String> {
    match e.to_client() {
        ClientError::Local(c) => c.field().map(str::to_string),
        _ => None,
    }
}

/// A core result at the boundary.
pub type Res<T> = Result<T, FractalError>;

/// An `InvalidArgument` naming `name`.
pub fn arg(name: &str, reason: impl Into<String>) -> FractalError {
    FractalError::InvalidArgument { name: name.into(), reason: reason.into() }
}
