//! `Verifier`: a set of keys (several per tenant during rotation) that checks
//! signatures (SPEC §4). A signature is valid if it verifies under any key.

use fractal_core::{Algorithm, Error as CoreError, canonical_fields, sha256};
use napi::Env;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::convert::{self, Keys, Signed, record};
use crate::error::{Res, ToJs, code_of};
use crate::tasks::VerifyMany;

/// The outcome of one signature check in a batch.
#[napi(object)]
pub struct SignatureCheck {
    /// Whether the signature verifies under one of the keys.
    pub valid: bool,
    /// When not valid: the error code (`ERR_SIGNATURE`, `ERR_INVALID_FIELD`, …).
    pub code: Option<String>,
    /// When not valid: the core's error kind (`signature_invalid`, …).
    pub kind: Option<String>,
    /// When not valid: the field concerned (`sig`, `epoch`, …).
    pub field: Option<String>,
    /// When not valid: why.
    pub message: Option<String>,
}

impl SignatureCheck {
    pub(crate) fn of(outcome: std::result::Result<(), CoreError>) -> Self {
        match outcome {
            Ok(()) => SignatureCheck {
                valid: true,
                code: None,
                kind: None,
                field: None,
                message: None,
            },
            Err(e) => SignatureCheck {
                valid: false,
                code: Some(code_of(&e).into()),
                kind: Some(e.kind().into()),
                field: e.field().map(String::from),
                message: Some(e.to_string()),
            },
        }
    }
}

/// Checks one record's signature with a core verifier.
pub(crate) fn check(
    v: &fractal_core::Verifier,
    signed: &Signed,
    sig: Option<&str>,
) -> std::result::Result<(), CoreError> {
    let sig = match sig {
        Some(s) if !s.is_empty() => s,
        _ => return Err(CoreError::SignatureMissing),
    };
    v.verify_digest(&sha256(&canonical_fields(&signed.fields())?), sig)
}

/// Holds verification keys and checks records' `sig` against them.
///
/// ```js
/// const v = new Verifier()
/// v.addHmacKey('current-secret')
/// v.addHmacKey('previous-secret') // rotation: either key is accepted
/// v.verify(record)                // throws ERR_SIGNATURE when it does not verify
/// ```
#[napi]
pub struct Verifier {
    inner: fractal_core::Verifier,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new()
    }
}

#[napi]
impl Verifier {
    /// An empty verifier; add keys before verifying.
    #[napi(catch_unwind, constructor)]
    pub fn new() -> Self {
        Verifier {
            inner: fractal_core::Verifier::new(),
        }
    }

    /// Adds an HMAC key (a string is used as its UTF-8 bytes).
    #[napi(catch_unwind, ts_args_type = "key: string | Uint8Array")]
    pub fn add_hmac_key(&mut self, env: &Env, key: Unknown) -> Result<()> {
        let mut run = || -> Res<()> {
            let key = convert::bytes(key, "key")?;
            self.inner.add_hmac_key(&key)?;
            Ok(())
        };
        run().js(env)
    }

    /// Adds an Ed25519 public key (standard base64 of 32 bytes).
    #[napi(catch_unwind, ts_args_type = "publicKey: string")]
    pub fn add_ed25519_public_key(&mut self, env: &Env, public_key: Unknown) -> Result<()> {
        let mut run = || -> Res<()> {
            let key = convert::text(public_key, "publicKey")?;
            self.inner.add_ed25519_public_key(&key)?;
            Ok(())
        };
        run().js(env)
    }

    /// Adds a key by algorithm name: `"hmac"` (the key string) or `"ed25519"`
    /// (the base64 public key).
    #[napi(catch_unwind, ts_args_type = "alg: 'hmac' | 'ed25519', key: string")]
    pub fn add_key(&mut self, env: &Env, alg: Unknown, key: Unknown) -> Result<()> {
        let mut run = || -> Res<()> {
            let alg = Algorithm::parse(&convert::text(alg, "alg")?)?;
            let key = convert::text(key, "key")?;
            self.inner.add_key(alg, &key)?;
            Ok(())
        };
        run().js(env)
    }

    /// How many keys the verifier holds.
    #[napi(catch_unwind, getter)]
    pub fn size(&self) -> u32 {
        self.inner.len() as u32
    }

    /// Checks the record's `sig` over its canonical digest. Returns nothing when
    /// it verifies; throws `ERR_SIGNATURE` (kind `signature_missing` or
    /// `signature_invalid`) when not, `ERR_INVALID_FIELD` for a malformed record.
    #[napi(catch_unwind, ts_args_type = "record: Pcs")]
    pub fn verify(&self, env: &Env, record: Unknown) -> Result<()> {
        let run = || -> Res<()> {
            let (signed, sig) =
                convert::signed_with_sig(&convert::record(record, "record")?, &Keys::Static)?;
            Ok(check(&self.inner, &signed, sig.as_deref())?)
        };
        run().js(env)
    }

    /// Checks many records; never throws for a bad record, reporting each
    /// outcome in order instead (throws only if `records` is not an array).
    #[napi(catch_unwind, ts_args_type = "records: Pcs[]")]
    pub fn verify_many(&self, env: &Env, records: Unknown) -> Result<Vec<SignatureCheck>> {
        let run = || -> Res<Vec<SignatureCheck>> {
            let items = convert::batch(records, "records")?;
            let keys = Keys::cached(env)?;
            let mut out = Vec::with_capacity(items.len());
            for v in items {
                out.push(match read_one(v, &keys)? {
                    Ok((signed, sig)) => {
                        SignatureCheck::of(check(&self.inner, &signed, sig.as_deref()))
                    }
                    Err(e) => SignatureCheck::of(Err(e)),
                });
            }
            Ok(out)
        };
        run().js(env)
    }

    /// `verifyMany` with the hashing and signature checks on libuv's thread
    /// pool (the records are read on the calling thread first).
    #[napi(
        catch_unwind,
        ts_args_type = "records: Pcs[]",
        ts_return_type = "Promise<SignatureCheck[]>"
    )]
    pub fn verify_many_async(&self, env: &Env, records: Unknown) -> Result<AsyncTask<VerifyMany>> {
        let run = || -> Res<AsyncTask<VerifyMany>> {
            let items = convert::batch(records, "records")?;
            let keys = Keys::cached(env)?;
            let mut read = Vec::with_capacity(items.len());
            for v in items {
                read.push(read_one(v, &keys)?);
            }
            Ok(AsyncTask::new(VerifyMany {
                verifier: self.inner.clone(),
                records: read,
            }))
        };
        run().js(env)
    }
}

/// Reads one record of a batch: `Ok(Err(..))` for a record the core refuses,
/// `Err(..)` only when the JavaScript engine itself failed.
pub(crate) type Read = std::result::Result<(Signed, Option<String>), CoreError>;

fn read_one(v: Unknown, keys: &Keys) -> Res<Read> {
    let read = record(v, "record").and_then(|o| convert::signed_with_sig(&o, keys));
    match read {
        Ok(x) => Ok(Ok(x)),
        Err(crate::error::Failure::Core { error, .. }) => Ok(Err(error)),
        Err(other) => Err(other),
    }
}
