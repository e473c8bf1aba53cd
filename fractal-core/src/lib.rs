//! # fractal-core
//!
//! The one implementation of the Fractal LBA wire contract (`docs/spec.md`): the PCS
//! model and its strict parser, `pcs_id`, the canonical signing payloads (v1 and
//! v2) and the seed's legacy encodings, HMAC-SHA256
//! and Ed25519 signatures, SDK-side validation, the verification engine and the
//! consistent-hash ring. No I/O, no async runtime: every SDK and the server link
//! this crate, so their bytes agree by construction.
//!
//! ```
//! use fractal_core::*;
//!
//! // An agent builds and signs a record...
//! let mut pcs = build_pcs(&BuildInput::example()).unwrap();
//! pcs.sig = Some(sign_hmac(&pcs, b"tenant-secret").unwrap());
//!
//! // ...the server parses it, checks the signature, then verifies its signals.
//! let wire = pcs.to_json();
//! let got = Pcs::from_json(&wire).unwrap();
//! let mut verifier = Verifier::new();
//! verifier.add_hmac_key(b"tenant-secret").unwrap();
//! verifier.verify(&got).unwrap();
//! let outcome = verify(&got, &VerifyParams::default());
//! assert_eq!(outcome.http_status(), 200);
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod audit;
mod build;
pub mod canonical;
mod error;
mod legacy;
mod model;
pub mod protocol;
pub mod region;
pub mod ring;
pub mod sign;
mod verify;

pub use build::{BuildInput, build_pcs, build_pcs_with};
pub use canonical::{
    SigVersion, SigningFields, canonical_fields, canonical_payload, canonical_payload_v1, canonical_payload_v2, digest,
    hex, pcs_id, round9, sha256,
};
pub use error::{Error, Result};
pub use legacy::LegacyEncoding;
pub use model::{
    FaultTolerance, KNOWN_FIELDS, MAX_ENTRIES, MAX_EPOCH, MAX_ID_BYTES, MAX_SAFE_INTEGER, Omitted, Pcs, Regime, SCHEMA,
    SIGNED_FIELDS, SignedRecord, VerifyParams, VerifyResult, check_epoch,
};
pub use ring::{DEFAULT_VNODES, DEFAULT_WEIGHT, Move, RangeMove, Ring, RingStats, ShardSpec, ring_hash};
pub use sign::{
    Algorithm, Ed25519Keypair, HmacSigner, SignaturePolicy, SigningKeyMaterial, Verifier, b64decode, b64encode,
    read_digest, sign_ed25519, sign_ed25519_version, sign_hmac, sign_hmac_digest, sign_hmac_version,
};
pub use verify::{
    check_structure, classify_regime, compute_budget, theil_sen_d_hat, theil_sen_slope, validate, verify,
};

/// Version of this crate, for `User-Agent` strings and diagnostics.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
