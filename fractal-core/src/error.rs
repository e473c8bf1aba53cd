//! The one error type of the core. Every binding maps each variant once to its
//! language's error type; [`Error::kind`] is the stable machine-readable name.

/// Result alias used throughout the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the core. Variants that concern a record name
/// the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not well-formed JSON (or not a JSON object).
    #[error("invalid JSON: {reason}")]
    InvalidJson {
        /// What the parser said, with line and column.
        reason: String,
    },
    /// Malformed at parse level (SPEC §1): a missing required field, a wrong type,
    /// an integer that does not fit, a number that cannot be signed canonically.
    #[error("invalid field `{field}`: {reason}")]
    InvalidField {
        /// The field's name (a JSON path such as `ft.outbox_seq` for nested fields).
        field: String,
        /// Why it is malformed.
        reason: String,
    },
    /// SDK-side validation failed (SPEC §1, before anything is signed or sent).
    #[error("validation failed: `{field}` {reason}")]
    Validation {
        /// The field's name.
        field: String,
        /// Why it is invalid.
        reason: String,
    },
    /// A signature was required but the record has none.
    #[error("signature missing")]
    SignatureMissing,
    /// The signature is not valid standard base64 of the right length, or does not
    /// verify under any of the verifier's keys.
    #[error("signature invalid: {reason}")]
    SignatureInvalid {
        /// Why it was rejected (never contains key material).
        reason: String,
    },
    /// The signature names a payload version the verifier's policy does not accept
    /// (a v1 signature on a v2-only tenant, or an unknown `vN:` prefix).
    #[error("unsupported signature version `{version}`")]
    UnsupportedSignatureVersion {
        /// The version the signature names (`v1`, `v2`, or the unknown prefix).
        version: String,
    },
    /// A key could not be used (wrong encoding or length, empty HMAC key).
    #[error("invalid key: {reason}")]
    InvalidKey {
        /// Why the key was rejected (never contains key material).
        reason: String,
    },
    /// A consistent-hash ring operation failed.
    #[error("ring: {reason}")]
    Ring {
        /// What went wrong.
        reason: String,
    },
    /// An invalid argument to an API call that is not a record field
    /// (verification parameters, builder settings, client options).
    #[error("invalid argument `{name}`: {reason}")]
    InvalidArgument {
        /// The argument's name.
        name: String,
        /// Why it is invalid.
        reason: String,
    },
}

impl Error {
    /// Stable, machine-readable name of the variant, shared by every SDK and the
    /// golden vectors: `invalid_json`, `invalid_field`, `validation`,
    /// `signature_missing`, `signature_invalid`, `unsupported_signature_version`,
    /// `invalid_key`, `ring`,
    /// `invalid_argument`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::InvalidJson { .. } => "invalid_json",
            Error::InvalidField { .. } => "invalid_field",
            Error::Validation { .. } => "validation",
            Error::SignatureMissing => "signature_missing",
            Error::SignatureInvalid { .. } => "signature_invalid",
            Error::UnsupportedSignatureVersion { .. } => "unsupported_signature_version",
            Error::InvalidKey { .. } => "invalid_key",
            Error::Ring { .. } => "ring",
            Error::InvalidArgument { .. } => "invalid_argument",
        }
    }

    /// The record field (or argument) the error is about, when there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::InvalidField { field, .. } | Error::Validation { field, .. } => Some(field),
            Error::InvalidArgument { name, .. } => Some(name),
            Error::SignatureMissing | Error::SignatureInvalid { .. } | Error::UnsupportedSignatureVersion { .. } => {
                Some("sig")
            }
            _ => None,
        }
    }

    pub(crate) fn bad_field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidField { field: field.into(), reason: reason.into() }
    }

    pub(crate) fn validation(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Validation { field: field.into(), reason: reason.into() }
    }

    pub(crate) fn sig(reason: impl Into<String>) -> Self {
        Error::SignatureInvalid { reason: reason.into() }
    }

    pub(crate) fn key(reason: impl Into<String>) -> Self {
        Error::InvalidKey { reason: reason.into() }
    }

    pub(crate) fn ring(reason: impl Into<String>) -> Self {
        Error::Ring { reason: reason.into() }
    }

    pub(crate) fn arg(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidArgument { name: name.into(), reason: reason.into() }
    }
}
