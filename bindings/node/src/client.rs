//! `Client`: submits records to a Fractal LBA server, over the Rust client
//! crate (`fractal-client`, reqwest with rustls) and the core's sans-I/O
//! protocol, so requests, error mapping and the retry schedule are the same as
//! in every other SDK. Each method returns a Promise settled on the JavaScript
//! thread; the HTTP work runs on napi's tokio runtime.
//!
//! Cancellation: a call given an `AbortSignal` registers an `abort` listener (a
//! plain JavaScript function created here, no threadsafe function) that wakes
//! an `Arc<Notify>`. The spawned future races the call against that
//! notification and, when the signal wins, drops the call's future — which
//! closes its connection and ends any retry sleep — and the Promise rejects with
//! an `AbortError` (`code: 'ABORT_ERR'`). The listener is removed when the call
//! settles, so a long-lived signal does not collect listeners.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use fractal_client::{ClientError, RetryPolicy, SubmitResponse};
use fractal_core::Algorithm;
use napi::bindgen_prelude::*;
use napi::{Env, ValueType};
use napi_derive::napi;
use tokio::sync::Notify;

use crate::VerifyResult;
use crate::convert::{self, prop, record};
use crate::error::{Failure, Res, abort_error, bad_arg, client_error};

// ---------------------------------------------------------------------------
// Declarations for TypeScript (the binding reads these objects field by field).

/// Retry settings: exponential backoff with full jitter and a cap (the core's
/// `RetryPolicy`). Missing fields take the defaults.
#[napi(object, js_name = "RetryOptions")]
pub struct RetryOptionsDecl {
    /// Retries after the first attempt (default 3).
    pub max_retries: Option<u32>,
    /// Base delay (default 100): retry `k` waits a uniformly random time in
    /// `[0, min(maxDelayMs, baseDelayMs·2^k))`.
    pub base_delay_ms: Option<f64>,
    /// Cap on a computed delay (default 5000).
    pub max_delay_ms: Option<f64>,
    /// Longest `Retry-After` honoured (default 60000); a longer one ends the
    /// call with the error instead of waiting.
    pub max_retry_after_ms: Option<f64>,
}

/// Settings of a `Client`.
#[napi(object, js_name = "ClientOptions")]
pub struct ClientOptionsDecl {
    /// Server base URL, `http://` or `https://` (e.g. `http://127.0.0.1:8080`).
    pub base_url: String,
    /// Sent as `X-Tenant-Id` (the server's default tenant is `default`).
    pub tenant: Option<String>,
    /// Sign submitted records with this algorithm (needs `key`).
    #[napi(ts_type = "'hmac' | 'ed25519'")]
    pub alg: Option<String>,
    /// The HMAC secret, or the base64 Ed25519 seed (needs `alg`). It also
    /// signs every `get` (SPEC §6.1: `Authorization: Fractal t=…, sig=…`).
    pub key: Option<String>,
    /// The payload `submit` signs (SPEC §3): 2 (default), or 1 for a server or
    /// tenant that does not accept v2 yet.
    #[napi(ts_type = "1 | 2")]
    pub signature_version: Option<u32>,
    /// Timeout of one attempt in milliseconds, connection included (default 10000).
    pub timeout_ms: Option<f64>,
    /// Connection timeout in milliseconds (default 5000).
    pub connect_timeout_ms: Option<f64>,
    /// Retry settings (default: 3 retries, 100 ms base, 5 s cap).
    pub retry: Option<RetryOptionsDecl>,
    /// A fixed jitter seed, so the backoff schedule is reproducible (tests).
    /// By default every call draws one from the OS random source.
    #[napi(ts_type = "number | bigint")]
    pub jitter_seed: Option<f64>,
}

/// Options of one call.
#[napi(object, js_name = "CallOptions")]
pub struct CallOptionsDecl {
    /// Aborting it rejects the call with an `AbortError` (`code: 'ABORT_ERR'`)
    /// and cancels the request in flight (and any retry).
    #[napi(ts_type = "AbortSignal")]
    pub signal: Option<()>,
}

/// The answer to a submission.
#[napi(object)]
pub struct SubmitResult {
    /// 200 (accepted, not escalated) or 202 (escalated or refused, stored).
    pub status: u32,
    /// The stored outcome.
    pub result: VerifyResult,
    /// Whether the server answered from its dedup store (`X-Dedup: hit`).
    pub dedup_hit: bool,
}

impl From<SubmitResponse> for SubmitResult {
    fn from(r: SubmitResponse) -> Self {
        SubmitResult {
            status: r.status as u32,
            result: r.result.into(),
            dedup_hit: r.dedup_hit,
        }
    }
}

// ---------------------------------------------------------------------------
// Reading the options.

const OPTIONS: &[&str] = &[
    "baseUrl",
    "tenant",
    "alg",
    "key",
    "signatureVersion",
    "timeoutMs",
    "connectTimeoutMs",
    "retry",
    "jitterSeed",
];
const RETRY_OPTIONS: &[&str] = &["maxRetries", "baseDelayMs", "maxDelayMs", "maxRetryAfterMs"];

/// The largest millisecond count accepted (2^53 − 1: every such double is exact).
const MAX_MS: f64 = 9_007_199_254_740_991.0;

/// Refuses unknown names: a misspelt option would otherwise silently take its default.
fn known_only(obj: &Object, names: &[&str], prefix: &str) -> Res<()> {
    for key in Object::keys(obj)? {
        if !names.contains(&key.as_str()) {
            return Err(bad_arg(format!("{prefix}{key}"), "unknown option").into());
        }
    }
    Ok(())
}

/// A whole number of milliseconds, `0 ≤ x ≤ 2^53 − 1` (or `> 0` when `positive`).
fn millis(v: Unknown, name: &str, positive: bool) -> Res<u64> {
    if v.get_type()? != ValueType::Number {
        return Err(bad_arg(name, "expected a number of milliseconds").into());
    }
    let x = unsafe { v.cast::<f64>()? };
    if !x.is_finite() || x.fract() != 0.0 || !(0.0..=MAX_MS).contains(&x) {
        return Err(bad_arg(name, "expected a whole number of milliseconds").into());
    }
    if positive && x == 0.0 {
        return Err(bad_arg(name, "must be positive").into());
    }
    Ok(x as u64)
}

fn retry_policy(v: Unknown) -> Res<RetryPolicy> {
    let obj = record(v, "retry")?;
    known_only(&obj, RETRY_OPTIONS, "retry.")?;
    let mut p = RetryPolicy::default();
    if let Some(v) = prop(&obj, "maxRetries")? {
        let n = millis(v, "retry.maxRetries", false)?;
        p.max_retries = u32::try_from(n)
            .map_err(|_| Failure::from(bad_arg("retry.maxRetries", "is too large")))?;
    }
    if let Some(v) = prop(&obj, "baseDelayMs")? {
        p.base_delay_ms = millis(v, "retry.baseDelayMs", false)?;
    }
    if let Some(v) = prop(&obj, "maxDelayMs")? {
        p.max_delay_ms = millis(v, "retry.maxDelayMs", false)?;
    }
    if let Some(v) = prop(&obj, "maxRetryAfterMs")? {
        p.max_retry_after_ms = millis(v, "retry.maxRetryAfterMs", false)?;
    }
    Ok(p)
}

fn jitter_seed(v: Unknown) -> Res<u64> {
    match v.get_type()? {
        ValueType::BigInt => {
            let (sign, x, lossless) = unsafe { v.cast::<BigInt>()? }.get_u64();
            if sign || !lossless {
                return Err(bad_arg("jitterSeed", "must fit an unsigned 64-bit integer").into());
            }
            Ok(x)
        }
        ValueType::Number => {
            let x = unsafe { v.cast::<f64>()? };
            if !x.is_finite() || x.fract() != 0.0 || !(0.0..=MAX_MS).contains(&x) {
                return Err(bad_arg(
                    "jitterSeed",
                    "expected an integer between 0 and 2^53-1 (use a bigint for larger seeds)",
                )
                .into());
            }
            Ok(x as u64)
        }
        _ => Err(bad_arg("jitterSeed", "expected a number or a bigint").into()),
    }
}

/// Renames the core's argument names to this SDK's option names.
fn option_name(e: fractal_core::Error) -> fractal_core::Error {
    match e {
        fractal_core::Error::InvalidArgument { name, reason } if name == "base_url" => {
            fractal_core::Error::InvalidArgument {
                name: "baseUrl".into(),
                reason,
            }
        }
        other => other,
    }
}

fn build(options: Unknown) -> Res<fractal_client::Client> {
    let obj = record(options, "options")?;
    known_only(&obj, OPTIONS, "")?;
    let base_url = match prop(&obj, "baseUrl")? {
        Some(v) => convert::text(v, "baseUrl")?,
        None => return Err(bad_arg("baseUrl", "required option is missing").into()),
    };
    let mut b = fractal_client::Client::builder(&base_url).sdk("node", env!("CARGO_PKG_VERSION"));
    if let Some(v) = prop(&obj, "tenant")? {
        b = b.tenant(&convert::text(v, "tenant")?);
    }
    let alg = prop(&obj, "alg")?
        .map(|v| convert::text(v, "alg"))
        .transpose()?;
    let key = prop(&obj, "key")?
        .map(|v| convert::text(v, "key"))
        .transpose()?;
    match (alg, key) {
        (Some(alg), Some(key)) => b = b.signing_key(Algorithm::parse(&alg)?, &key),
        (None, None) => {}
        (Some(_), None) => return Err(bad_arg("key", "`alg` is set but `key` is missing").into()),
        (None, Some(_)) => return Err(bad_arg("alg", "`key` is set but `alg` is missing").into()),
    }
    if let Some(v) = prop(&obj, "signatureVersion")? {
        b = b.signature_version(convert::version_number(v, "signatureVersion")?);
    }
    if let Some(v) = prop(&obj, "timeoutMs")? {
        b = b.timeout(Duration::from_millis(millis(v, "timeoutMs", true)?));
    }
    if let Some(v) = prop(&obj, "connectTimeoutMs")? {
        b = b.connect_timeout(Duration::from_millis(millis(v, "connectTimeoutMs", true)?));
    }
    if let Some(v) = prop(&obj, "retry")? {
        b = b.retry(retry_policy(v)?);
    }
    if let Some(v) = prop(&obj, "jitterSeed")? {
        b = b.jitter_seed(jitter_seed(v)?);
    }
    b.build().map_err(|e| match e {
        ClientError::Local(e) => Failure::from(option_name(e)),
        // Building the HTTP client failed (no TLS roots, say): no request was made.
        other => Failure::from(bad_arg("options", other.to_string())),
    })
}

// ---------------------------------------------------------------------------
// Calls: a future raced against an optional AbortSignal.

/// How a call ended.
enum Outcome<T> {
    Done(std::result::Result<T, ClientError>),
    Aborted,
}

/// `addEventListener` / `removeEventListener` of a signal, called with two arguments.
type ListenerMethod<'e> = Function<'e, FnArgs<(&'static str, Function<'e, (), ()>)>, Unknown<'e>>;

/// The `abort` listener of one call, kept until the call settles so that it
/// can be removed and the signal's `reason` read.
struct Listening {
    signal: ObjectRef<false>,
    listener: FunctionRef<(), ()>,
}

impl Listening {
    /// Removes the listener; returns the signal's `reason` when it was aborted.
    fn finish<'e>(self, env: &'e Env, aborted: bool) -> Result<Option<Unknown<'e>>> {
        let signal = self.signal.get_value(env)?;
        let remove: ListenerMethod = signal.get_named_property("removeEventListener")?;
        remove.apply(signal, ("abort", self.listener.borrow_back(env)?).into())?;
        let reason = if aborted {
            Some(signal.get_named_property::<Unknown>("reason")?)
        } else {
            None
        };
        self.signal.unref(env)?;
        Ok(reason)
    }
}

/// The `signal` of a call's options, if any.
fn signal_of<'e>(options: Option<Unknown<'e>>) -> Res<Option<Object<'e>>> {
    let Some(v) = options else { return Ok(None) };
    if matches!(v.get_type()?, ValueType::Undefined | ValueType::Null) {
        return Ok(None);
    }
    let obj = record(v, "options")?;
    known_only(&obj, &["signal"], "")?;
    let Some(s) = prop(&obj, "signal")? else {
        return Ok(None);
    };
    let is_signal = s.get_type()? == ValueType::Object && {
        let o: Object = unsafe { s.cast()? };
        o.has_named_property("aborted")? && o.has_named_property("addEventListener")?
    };
    if !is_signal {
        return Err(bad_arg("signal", "expected an AbortSignal").into());
    }
    Ok(Some(unsafe { s.cast()? }))
}

/// A Promise already rejected with `err` (a failure found before anything was sent).
fn rejected<'e, V: ToNapiValue>(env: &'e Env, err: napi::Error) -> Result<PromiseRaw<'e, V>> {
    PromiseRaw::reject(env, napi::JsError::from(err).into_unknown(*env))
}

/// Runs the future `prepare` builds on napi's tokio runtime and settles a
/// Promise with `ok`'s value or the mapped error. Every failure, including one
/// found before anything was sent, is a rejection, never a synchronous throw.
fn call<'e, T, V, F>(
    env: &'e Env,
    signal: Res<Option<Object<'e>>>,
    prepare: impl FnOnce() -> Res<F>,
    ok: impl FnOnce(&Env, T) -> Result<V> + 'static,
) -> Result<PromiseRaw<'e, V>>
where
    T: Send + 'static,
    V: ToNapiValue,
    F: Future<Output = std::result::Result<T, ClientError>> + Send + 'static,
{
    let signal = match signal {
        Ok(s) => s,
        Err(f) => return rejected(env, f.into_napi(env)),
    };
    if let Some(s) = &signal
        && s.get_named_property::<bool>("aborted")?
    {
        // Nothing is read or sent for an already aborted signal.
        let reason = s.get_named_property::<Unknown>("reason")?;
        return rejected(env, abort_error(env, Some(reason)));
    }
    let fut = match prepare() {
        Ok(f) => f,
        Err(f) => return rejected(env, f.into_napi(env)),
    };
    let (listening, notify) = match signal {
        None => (None, None),
        Some(signal) => {
            let n = Arc::new(Notify::new());
            let wake = n.clone();
            let listener = env.create_function_from_closure::<(), (), _>("onabort", move |_| {
                // `notify_one` keeps a permit, so an abort that comes before
                // the future first waits is not lost.
                wake.notify_one();
                Ok(())
            })?;
            let add: ListenerMethod = signal.get_named_property("addEventListener")?;
            add.apply(signal, ("abort", listener).into())?;
            let l = Listening {
                signal: signal.create_ref::<false>()?,
                listener: listener.create_ref()?,
            };
            (Some(l), Some(n))
        }
    };
    let work = async move {
        Ok(match notify {
            None => Outcome::Done(fut.await),
            Some(n) => tokio::select! {
                biased;
                _ = n.notified() => Outcome::Aborted,
                r = fut => Outcome::Done(r),
            },
        })
    };
    env.spawn_future_with_callback(work, move |env, outcome: Outcome<T>| {
        let aborted = matches!(outcome, Outcome::Aborted);
        let reason = match listening {
            Some(l) => l.finish(env, aborted)?,
            None => None,
        };
        match outcome {
            Outcome::Done(Ok(v)) => ok(env, v),
            Outcome::Done(Err(e)) => Err(client_error(env, &e)),
            Outcome::Aborted => Err(abort_error(env, reason)),
        }
    })
}

// ---------------------------------------------------------------------------
// The class.

/// A client of the Fractal LBA server. Every method returns a Promise; the
/// client reuses connections and is cheap to share.
///
/// ```js
/// const client = new Client({ baseUrl: 'http://127.0.0.1:8080', tenant: 'default', alg: 'hmac', key: 'tenant-secret' })
/// const { status, result, dedupHit } = await client.submit(record, { signal: AbortSignal.timeout(30_000) })
/// ```
#[napi]
pub struct Client {
    inner: fractal_client::Client,
}

#[napi]
impl Client {
    /// Checks the options (throws `ERR_INVALID_ARGUMENT` naming the option, or
    /// `ERR_INVALID_KEY`); connects lazily, on the first call.
    #[napi(catch_unwind, constructor, ts_args_type = "options: ClientOptions")]
    pub fn new(env: &Env, options: Unknown) -> Result<Self> {
        build(options)
            .map(|inner| Client { inner })
            .map_err(|f| f.into_napi(env))
    }

    /// Validates (SPEC §1), signs when the client has a key (over the payload
    /// of `signatureVersion`, v2 by default; else sends the record as is, e.g.
    /// signed elsewhere) and submits a record, unknown fields included, retrying 429,
    /// 503, other 5xx and transport failures per the retry settings (safe:
    /// submissions are idempotent by `pcs_id`). Never retries 400 or 401.
    #[napi(
        catch_unwind,
        ts_args_type = "record: Pcs & Record<string, any>, options?: CallOptions",
        ts_return_type = "Promise<SubmitResult>"
    )]
    pub fn submit<'e>(
        &self,
        env: &'e Env,
        record: Unknown<'e>,
        options: Option<Unknown<'e>>,
    ) -> Result<PromiseRaw<'e, SubmitResult>> {
        let client = self.inner.clone();
        call(
            env,
            signal_of(options),
            move || {
                let pcs = convert::pcs(convert::record(record, "record")?)?;
                // Refuse an invalid record here, before anything is spawned or sent.
                fractal_core::validate(&pcs)?;
                Ok(async move { client.submit(&pcs).await })
            },
            |_, r| Ok(SubmitResult::from(r)),
        )
    }

    /// The stored outcome of `pcsId` for this client's tenant, `null` if none
    /// (404). With a key, the read is signed (SPEC §6.1); a server that requires
    /// signed reads answers an unsigned one with 401 (`ERR_SIGNATURE`).
    #[napi(
        catch_unwind,
        ts_args_type = "pcsId: string, options?: CallOptions",
        ts_return_type = "Promise<VerifyResult | null>"
    )]
    pub fn get<'e>(
        &self,
        env: &'e Env,
        pcs_id: Unknown<'e>,
        options: Option<Unknown<'e>>,
    ) -> Result<PromiseRaw<'e, Option<VerifyResult>>> {
        let client = self.inner.clone();
        call(
            env,
            signal_of(options),
            move || {
                let id = convert::text(pcs_id, "pcsId")?;
                Ok(async move { client.get(&id).await })
            },
            |_, r: Option<fractal_core::VerifyResult>| Ok(r.map(VerifyResult::from)),
        )
    }

    /// Whether the server answers `GET /health` with 200. Rejects with
    /// `ERR_TRANSPORT`/`ERR_TIMEOUT` when it cannot be reached.
    #[napi(
        catch_unwind,
        ts_args_type = "options?: CallOptions",
        ts_return_type = "Promise<boolean>"
    )]
    pub fn health<'e>(
        &self,
        env: &'e Env,
        options: Option<Unknown<'e>>,
    ) -> Result<PromiseRaw<'e, bool>> {
        let client = self.inner.clone();
        call(
            env,
            signal_of(options),
            move || Ok(async move { client.health().await }),
            |_, up| Ok(up),
        )
    }
}
