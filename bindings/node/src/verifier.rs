//! `Verifier`: a set of keys (several per tenant during rotation) that checks
//! signatures (SPEC §4) under a signature policy: which payload versions it
//! accepts (v2 only by default) and which of the seed's v1 encodings (§4.1).
//! A signature is valid if it verifies under any key.
//!
//! The `sig` prefix names the payload: a `v2:` signature needs the whole record
//! (`convert::pcs`), any other only the eight v1 fields (the fast path). Either
//! way the core's `Verifier::verify` decides, policy included.

use fractal_core::{Algorithm, Error as CoreError, Pcs};
use napi::bindgen_prelude::*;
use napi::{Env, ValueType};
use napi_derive::napi;

use crate::convert::{self, Keys, record};
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

/// The signature policy of a `Verifier`, as `new Verifier(options)` takes it
/// and `verifier.policy` reports it.
#[napi(object, js_name = "VerifierOptions")]
pub struct VerifierOptionsDecl {
    /// Accepted payload versions (default `['v2']`; at least one).
    #[napi(ts_type = "Array<1 | 2 | 'v1' | 'v2'>")]
    pub versions: Option<Vec<String>>,
    /// The seed's v1 encodings also accepted (SPEC §4.1; default none): tried
    /// after the canonical v1 payload fails, only when v1 is accepted.
    #[napi(ts_type = "Array<'seed-python' | 'seed-go'>")]
    pub accept_encodings: Option<Vec<String>>,
}

/// The policy a `Verifier` applies.
#[napi(object)]
pub struct SignaturePolicy {
    #[napi(ts_type = "Array<'v1' | 'v2'>")]
    pub versions: Vec<String>,
    #[napi(ts_type = "Array<'seed-python' | 'seed-go'>")]
    pub accept_encodings: Vec<String>,
}

/// Holds verification keys and checks records' `sig` against them, under a
/// signature policy (v2 only unless told otherwise).
///
/// ```js
/// const v = new Verifier()                     // accepts v2 signatures only
/// v.addHmacKey('current-secret')
/// v.addHmacKey('previous-secret')              // rotation: either key is accepted
/// v.verify(record)                             // throws ERR_SIGNATURE when it does not verify
/// const old = new Verifier({ versions: ['v1', 'v2'], acceptEncodings: ['seed-python'] })
/// ```
#[napi]
pub struct Verifier {
    inner: fractal_core::Verifier,
}

#[napi]
impl Verifier {
    /// An empty verifier with the given signature policy (default: v2 only, no
    /// legacy encoding); add keys before verifying. Throws
    /// `ERR_INVALID_ARGUMENT` naming a bad option (`versions[0]`, …).
    #[napi(catch_unwind, constructor, ts_args_type = "options?: VerifierOptions")]
    pub fn new(env: &Env, options: Option<Unknown>) -> Result<Self> {
        let policy = convert::policy(options).js(env)?;
        let mut inner = fractal_core::Verifier::new();
        inner.set_policy(policy);
        Ok(Verifier { inner })
    }

    /// The signature policy this verifier applies.
    #[napi(catch_unwind, getter)]
    pub fn policy(&self) -> SignaturePolicy {
        let p = self.inner.policy();
        SignaturePolicy {
            versions: p.versions.iter().map(|v| v.as_str().to_string()).collect(),
            accept_encodings: p.encodings.iter().map(|e| e.as_str().to_string()).collect(),
        }
    }

    /// Replaces the signature policy (same options as the constructor; the
    /// keys stay).
    #[napi(catch_unwind, ts_args_type = "options: VerifierOptions")]
    pub fn set_policy(&mut self, env: &Env, options: Unknown) -> Result<()> {
        let policy = convert::policy(Some(options)).js(env)?;
        self.inner.set_policy(policy);
        Ok(())
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

    /// Checks the record's `sig` under the policy: its prefix names the payload
    /// (`v2:` the v2 digest of the whole record, none the v1 digest). Returns
    /// nothing when it verifies; throws `ERR_SIGNATURE` with kind
    /// `signature_missing`, `signature_invalid`, or
    /// `unsupported_signature_version` (a version the policy refuses), and
    /// `ERR_INVALID_FIELD` for a malformed record.
    #[napi(catch_unwind, ts_args_type = "record: Pcs & Record<string, any>")]
    pub fn verify(&self, env: &Env, record: Unknown) -> Result<()> {
        let run = || -> Res<()> {
            let pcs = convert::for_check(convert::record(record, "record")?, &Keys::one())?;
            Ok(self.inner.verify(&pcs)?)
        };
        run().js(env)
    }

    /// Checks a read request's `Authorization` header (SPEC §6.1), as the
    /// server does: `Fractal t=<unix seconds>, sig=<base64>` over
    /// `readDigest(tenant, pcsId, t)`, `t` within 300 s of `now` (unix
    /// seconds, default the current time). Throws `ERR_SIGNATURE` (kind
    /// `signature_missing` without a header, `signature_invalid` otherwise).
    #[napi(
        catch_unwind,
        ts_args_type = "tenant: string, pcsId: string, authorization: string | null | undefined, now?: number | bigint"
    )]
    pub fn verify_read(
        &self,
        env: &Env,
        tenant: Unknown,
        pcs_id: Unknown,
        authorization: Option<Unknown>,
        now: Option<Unknown>,
    ) -> Result<()> {
        let run = || -> Res<()> {
            let tenant = convert::text(tenant, "tenant")?;
            let id = convert::text(pcs_id, "pcsId")?;
            let header = match authorization {
                Some(v) if !matches!(v.get_type()?, ValueType::Undefined | ValueType::Null) => {
                    Some(convert::text(v, "authorization")?)
                }
                _ => None,
            };
            let now = match now {
                Some(v) if !matches!(v.get_type()?, ValueType::Undefined | ValueType::Null) => {
                    crate::unix_seconds(v, "now")?
                }
                _ => fractal_core::protocol::unix_now(),
            };
            Ok(self.inner.verify_read(&tenant, &id, header.as_deref(), now)?)
        };
        run().js(env)
    }

    /// Checks many records; never throws for a bad record, reporting each
    /// outcome in order instead (throws only if `records` is not an array).
    #[napi(catch_unwind, ts_args_type = "records: Array<Pcs & Record<string, any>>")]
    pub fn verify_many(&self, env: &Env, records: Unknown) -> Result<Vec<SignatureCheck>> {
        let run = || -> Res<Vec<SignatureCheck>> {
            let items = convert::batch(records, "records")?;
            let keys = Keys::many(env)?;
            let mut out = Vec::with_capacity(items.len());
            for v in items {
                out.push(match read_one(v, &keys)? {
                    Ok(pcs) => SignatureCheck::of(self.inner.verify(&pcs)),
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
        ts_args_type = "records: Array<Pcs & Record<string, any>>",
        ts_return_type = "Promise<SignatureCheck[]>"
    )]
    pub fn verify_many_async(&self, env: &Env, records: Unknown) -> Result<AsyncTask<VerifyMany>> {
        let run = || -> Res<AsyncTask<VerifyMany>> {
            let items = convert::batch(records, "records")?;
            let keys = Keys::many(env)?;
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
pub(crate) type Read = std::result::Result<Pcs, CoreError>;

fn read_one(v: Unknown, keys: &Keys) -> Res<Read> {
    let read = record(v, "record").and_then(|o| convert::for_check(o, keys));
    match read {
        Ok(x) => Ok(Ok(x)),
        Err(crate::error::Failure::Core { error, .. }) => Ok(Err(error)),
        Err(other) => Err(other),
    }
}
