//! # fractal-c — the C ABI of fractal-core
//!
//! Every export follows the same rules (see `bindings/c/README.md`):
//!
//! * It returns a [`FractalStatus`]; `FRACTAL_STATUS_OK` (0) means success. On
//!   failure, when the caller passed a non-null `err`, the library fills it with
//!   the field the error is about (or NULL) and a message; the caller frees both
//!   with [`fractal_error_free`]. There is no thread-local "last error".
//! * Input strings are `(pointer, length)` pairs of UTF-8 bytes, borrowed for the
//!   duration of the call only. A NULL pointer is allowed when the length is 0.
//! * Buffers the library allocates come back as [`FractalBytes`] and are freed with
//!   [`fractal_bytes_free`]; handles have their own `_free` function.
//! * No panic crosses the boundary: every export runs inside `catch_unwind` and
//!   reports a panic as `FRACTAL_STATUS_INTERNAL`.
//! * Handles: a `FractalVerifier` and a `FractalEd25519Key` are immutable and may be
//!   used from several threads at once; a `FractalRing` holds its ring behind a
//!   read-write lock, so lookups run in parallel and mutations are serialized.
//!   A `FractalClient` is immutable too; a `FractalSubmission` (one call's retry
//!   state) is for one thread at a time.
//! * Signatures have a payload version (SPEC §3–§4): the `_json` signing and
//!   payload functions take `version` (`FRACTAL_SIG_V2` for new signers,
//!   `FRACTAL_SIG_V1` for the seed's payload); the `_fields_v1` functions sign
//!   the eight v1 fields only. A verifier accepts v2 only unless told otherwise
//!   ([`fractal_verifier_builder_set_policy`]).
//! * The client protocol is sans I/O: the library builds each request and, fed
//!   each answer or transport failure, says whether to retry and after how long;
//!   the caller only moves bytes and sleeps.

#![allow(clippy::missing_safety_doc)]

use std::ffi::{CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::sync::RwLock;

use fractal_core::protocol::{ClientConfig, ClientError, RetryPolicy, Step, Submission, get_request, health_request};
use fractal_core::sign::format_sig;
use fractal_core::{
    Algorithm, BuildInput, Ed25519Keypair, Error, Pcs, Ring, SigVersion, SignaturePolicy, SigningFields,
    SigningKeyMaterial, VerifyParams, build_pcs_with, canonical_fields, canonical_payload, digest, read_digest,
    sign_hmac_digest,
};

/// `version` of the signing and payload functions: the v1 payload (SPEC §3.1, the
/// eight fields rounded to 9 decimals); its `sig` is plain base64.
pub const FRACTAL_SIG_V1: u32 = 1;
/// `version` of the signing and payload functions: the v2 payload (SPEC §3.2, the
/// whole record but its delivery fields, as sent); its `sig` is `v2:` + base64.
/// New signers use it.
pub const FRACTAL_SIG_V2: u32 = 2;
/// Length of a v1 HMAC-SHA256 signature in base64 (32 bytes → 44 characters).
pub const FRACTAL_HMAC_SIG_LEN: usize = 44;
/// Length of a v1 Ed25519 signature in base64 (64 bytes → 88 characters).
pub const FRACTAL_ED25519_SIG_LEN: usize = 88;
/// Length of a v2 HMAC-SHA256 signature: `v2:` + 44 base64 characters.
pub const FRACTAL_HMAC_SIG_V2_LEN: usize = 47;
/// Length of a v2 Ed25519 signature: `v2:` + 88 base64 characters.
pub const FRACTAL_ED25519_SIG_V2_LEN: usize = 91;
/// A buffer of this many bytes holds any signature of any version.
pub const FRACTAL_SIG_MAX_LEN: usize = 91;
/// Length of a base64 Ed25519 seed or public key (32 bytes → 44 characters).
pub const FRACTAL_ED25519_KEY_LEN: usize = 44;
/// Length of a `pcs_id` (lowercase hex SHA-256 → 64 characters).
pub const FRACTAL_PCS_ID_LEN: usize = 64;
/// Length of a digest (SHA-256 → 32 bytes).
pub const FRACTAL_DIGEST_LEN: usize = 32;

// By concern, in the order the header lists them (cbindgen follows these).
mod error;
mod memory;
mod records;
mod signing;
mod verifier;
mod ring;
mod client;

pub use client::*;
pub use error::*;
pub use memory::*;
pub use records::*;
pub use ring::*;
pub use signing::*;
pub use verifier::*;
