//! Batch work on libuv's thread pool (`AsyncTask`): the records are read from
//! JavaScript on the calling thread, then hashed and signed or verified on the
//! pool, so a large batch does not block the event loop.

use napi::bindgen_prelude::*;
use napi::{Env, Task};
use napi_derive::napi;

use crate::convert::{self, Signed};
use crate::error::{Failure, Res, ToJs};
use crate::verifier::{Read, SignatureCheck, check};

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
    signed: Vec<Signed>,
    key: Vec<u8>,
}

impl Task for SignMany {
    type Output = std::result::Result<Vec<String>, (usize, fractal_core::Error)>;
    type JsValue = Vec<String>;

    fn compute(&mut self) -> Result<Self::Output> {
        no_panic(|| {
            let mut out = Vec::with_capacity(self.signed.len());
            for (i, s) in self.signed.iter().enumerate() {
                match crate::hmac_one(s, &self.key) {
                    Ok(sig) => out.push(sig),
                    Err(e) => return Err((i, e)),
                }
            }
            Ok(out)
        })
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<Self::JsValue> {
        output.map_err(|(i, e)| Failure::from(e).at(i).into_napi(&env))
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
                    Ok((signed, sig)) => check(&self.verifier, signed, sig.as_deref()),
                    Err(e) => Err(e.clone()),
                })
                .collect()
        })
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> Result<Self::JsValue> {
        Ok(output.into_iter().map(SignatureCheck::of).collect())
    }
}

/// `signHmacMany` with the hashing and signing on libuv's thread pool. The
/// promise rejects with the first bad record's error (`error.index` set).
#[napi(
    catch_unwind,
    ts_args_type = "records: Pcs[], key: string | Uint8Array",
    ts_return_type = "Promise<string[]>"
)]
pub fn sign_hmac_many_async(
    env: &Env,
    records: Unknown,
    key: Unknown,
) -> Result<AsyncTask<SignMany>> {
    let run = || -> Res<AsyncTask<SignMany>> {
        let key = convert::bytes(key, "key")?;
        let signed = crate::signed_batch(env, records)?;
        Ok(AsyncTask::new(SignMany { signed, key }))
    };
    run().js(env)
}
