//! Batch work on libuv's thread pool (`AsyncTask`): the records are read from
//! JavaScript on the calling thread, then hashed and signed or verified on the
//! pool, so a large batch does not block the event loop.

use napi::bindgen_prelude::*;
use napi::{Env, Task};
use napi_derive::napi;

use fractal_core::HmacSigner;

use crate::ToSign;
use crate::convert;
use crate::error::{Failure, Res, ToJs};
use crate::verifier::{Read, SignatureCheck};

/// Runs pool-thread work so that a bug surfaces as a rejected promise, never as
/// an unwind out of libuv's worker (napi-rs does not catch there).
fn no_panic<T>(work: impl FnOnce() -> T) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).map_err(|_| {
        napi::Error::new(
            Status::GenericFailure,
            "internal error in fractal-node (a bug: please report it)",
        )
    })
}

/// Signs a batch with one HMAC key.
pub struct SignMany {
    /// The records and the signer, or why reading them failed: a bad record
    /// or key rejects the promise (with `error.index` for a record), as a
    /// failure while signing does, rather than throwing synchronously.
    work: std::result::Result<(Vec<ToSign>, HmacSigner), (Option<usize>, fractal_core::Error)>,
}

impl Task for SignMany {
    type Output = std::result::Result<Vec<String>, (Option<usize>, fractal_core::Error)>;
    type JsValue = Vec<String>;

    fn compute(&mut self) -> Result<Self::Output> {
        no_panic(|| {
            let (records, signer) = self.work.as_ref().map_err(Clone::clone)?;
            let mut out = Vec::with_capacity(records.len());
            for (i, t) in records.iter().enumerate() {
                match t.sign_hmac(signer) {
                    Ok(sig) => out.push(sig),
                    Err(e) => return Err((Some(i), e)),
                }
            }
            Ok(out)
        })
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<Self::JsValue> {
        output.map_err(|(i, e)| {
            let f = Failure::from(e);
            match i {
                Some(i) => f.at(i),
                None => f,
            }
            .into_napi(&env)
        })
    }
}

/// Verifies a batch of signatures with a snapshot of a verifier's keys.
pub struct VerifyMany {
    pub(crate) verifier: fractal_core::Verifier,
    pub(crate) records: Vec<Read>,
}

impl Task for VerifyMany {
    type Output = Vec<std::result::Result<(), fractal_core::Error>>;
    type JsValue = Vec<SignatureCheck>;

    fn compute(&mut self) -> Result<Self::Output> {
        no_panic(|| {
            self.records
                .iter()
                .map(|r| match r {
                    Ok(pcs) => self.verifier.verify(pcs),
                    Err(e) => Err(e.clone()),
                })
                .collect()
        })
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> Result<Self::JsValue> {
        Ok(output.into_iter().map(SignatureCheck::of).collect())
    }
}

/// `signHmacMany` with the hashing and signing on libuv's thread pool (the
/// records are read on the calling thread first). The promise rejects with
/// the first bad record's error (`error.index` set), or a bad key's or option's.
#[napi(
    catch_unwind,
    ts_args_type = "records: Array<Pcs & Record<string, any>>, key: string | Uint8Array, options?: SignOptions",
    ts_return_type = "Promise<string[]>"
)]
pub fn sign_hmac_many_async(
    env: &Env,
    records: Unknown,
    key: Unknown,
    options: Option<Unknown>,
) -> Result<AsyncTask<SignMany>> {
    let read = || -> Res<(Vec<ToSign>, HmacSigner)> {
        let signer = HmacSigner::new(&convert::bytes(key, "key")?)?;
        let version = convert::sig_version(options)?;
        Ok((crate::batch_to_sign(env, records, version)?, signer))
    };
    let work = match read() {
        Ok(w) => Ok(w),
        Err(Failure::Core { error, index }) => Err((index.map(|i| i as usize), error)),
        // The engine itself failed (a getter threw): pass its error on as is.
        Err(f @ Failure::Js(_)) => return Err(f).js(env),
    };
    Ok(AsyncTask::new(SignMany { work }))
}
