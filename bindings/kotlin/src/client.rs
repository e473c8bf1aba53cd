//! The client's sans-IO half: [`ClientCore`] checks the options and makes
//! [`Call`]s; a `Call` holds one request and the core's retry state. The Kotlin
//! `FractalClient` sends `method`/`url`/`headers`/`body` with the JDK's
//! `HttpClient`, reports each answer (or transport failure), and is told to
//! wait and retry or that the call is over. Classification, backoff, jitter and
//! `Retry-After` are all the core's (`fractal_core::protocol`).

use std::sync::{Arc, Mutex, MutexGuard};

use fractal_core::protocol::{
    ClientConfig, ClientError, RetryPolicy, Step, Submission, SubmitResponse, get_request, health_request, unix_now,
};
use fractal_core::{Algorithm, HmacSigner, SigningKeyMaterial};

use crate::error::{FractalError, Res, arg};
use crate::{VerifyResult, uint, version};

/// The core's default timeout of one attempt, connection included, in
/// milliseconds (the client's transport applies it).
#[uniffi::export]
pub fn default_timeout_ms() -> i64 {
    fractal_core::protocol::DEFAULT_TIMEOUT_MS as i64
}

/// The core's default connection timeout, in milliseconds.
#[uniffi::export]
pub fn default_connect_timeout_ms() -> i64 {
    fractal_core::protocol::DEFAULT_CONNECT_TIMEOUT_MS as i64
}

/// The signing key of a client or a read: `hmac` with the secret's bytes, or
/// `ed25519` with the base64 seed's bytes.
pub(crate) fn signing_key(alg: &str, key: &[u8]) -> Res<SigningKeyMaterial> {
    match Algorithm::parse(alg)? {
        Algorithm::Hmac => {
            HmacSigner::new(key)?;
            Ok(SigningKeyMaterial::Hmac(key.to_vec()))
        }
        a @ Algorithm::Ed25519 => {
            let seed = std::str::from_utf8(key).map_err(|_| arg("key", "an Ed25519 seed must be base64 text"))?;
            Ok(SigningKeyMaterial::parse(a, seed)?)
        }
    }
}

/// Retry settings; a null field takes the core's default (3 retries, 100 ms
/// base, 5 s cap, `Retry-After` honoured up to 60 s).
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct RetrySettings {
    /// Retries after the first attempt.
    #[uniffi(default = None)]
    pub max_retries: Option<i32>,
    /// Base delay in milliseconds (full jitter in `[0, min(cap, base·2^k))`).
    #[uniffi(default = None)]
    pub base_delay_ms: Option<i64>,
    /// Cap on a computed delay in milliseconds.
    #[uniffi(default = None)]
    pub max_delay_ms: Option<i64>,
    /// Longest `Retry-After` honoured, in milliseconds.
    #[uniffi(default = None)]
    pub max_retry_after_ms: Option<i64>,
}

impl RetrySettings {
    fn policy(&self) -> Res<RetryPolicy> {
        let mut p = RetryPolicy::default();
        if let Some(n) = self.max_retries {
            p.max_retries = uint(n.into(), "retry.max_retries", u32::MAX.into())? as u32;
        }
        let ms = |v: Option<i64>, name: &str, into: &mut u64| -> Res<()> {
            if let Some(v) = v {
                *into = uint(v, name, u64::MAX)?;
            }
            Ok(())
        };
        ms(self.base_delay_ms, "retry.base_delay_ms", &mut p.base_delay_ms)?;
        ms(self.max_delay_ms, "retry.max_delay_ms", &mut p.max_delay_ms)?;
        ms(self.max_retry_after_ms, "retry.max_retry_after_ms", &mut p.max_retry_after_ms)?;
        Ok(p)
    }
}

/// One HTTP header.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Header {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: String,
}

/// The success of a submit: status (200 or 202), the stored outcome, and
/// whether the server answered from its dedup store.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SubmitOutcome {
    /// 200 (accepted) or 202 (escalated or not accepted).
    pub status: i32,
    /// The stored outcome.
    pub result: VerifyResult,
    /// `X-Dedup: hit`.
    pub dedup_hit: bool,
}

impl From<SubmitResponse> for SubmitOutcome {
    fn from(r: SubmitResponse) -> Self {
        SubmitOutcome { status: r.status.into(), result: r.result.into(), dedup_hit: r.dedup_hit }
    }
}

/// A client's configuration and key; makes the calls a transport drives.
#[derive(Debug, uniffi::Object)]
pub struct ClientCore {
    cfg: ClientConfig,
    key: Option<SigningKeyMaterial>,
}

fn seed(seed: Option<i64>) -> u64 {
    match seed {
        // A Java long carries every 64-bit seed (two's complement).
        Some(s) => s as u64,
        None => {
            let mut b = [0u8; 8];
            // Without OS randomness the schedule is merely predictable, not wrong.
            let _ = getrandom::fill(&mut b);
            u64::from_le_bytes(b)
        }
    }
}

#[uniffi::export]
impl ClientCore {
    /// Checks the options: base URL, tenant, algorithm and key (both or
    /// neither), retry settings, signature version (1 or 2), and the SDK's
    /// version for `User-Agent` (`fractal-lba-kotlin/<v> (core <v>)`).
    #[uniffi::constructor]
    pub fn new(
        base_url: String,
        tenant: Option<String>,
        alg: Option<String>,
        key: Option<Vec<u8>>,
        retry: Option<RetrySettings>,
        signature_version: i32,
        sdk_version: String,
    ) -> Res<Arc<Self>> {
        let mut cfg = ClientConfig::new(&base_url, "kotlin", &sdk_version)?;
        if let Some(t) = tenant {
            cfg = cfg.with_tenant(&t)?;
        }
        cfg.retry = retry.unwrap_or_default().policy()?;
        cfg.signature_version = version(signature_version)?;
        let key = match (alg, key) {
            (Some(a), Some(k)) => Some(signing_key(&a, &k)?),
            (None, None) => None,
            (Some(_), None) => return Err(arg("key", "is needed with alg")),
            (None, Some(_)) => return Err(arg("alg", "is needed with key")),
        };
        Ok(Arc::new(ClientCore { cfg, key }))
    }

    /// The `User-Agent` the calls send.
    pub fn user_agent(&self) -> String {
        self.cfg.user_agent.clone()
    }

    /// A submit call: validates, signs when the client holds a key, serializes.
    pub fn submit(&self, record: String, jitter_seed: Option<i64>) -> Res<Arc<Call>> {
        let pcs = crate::record(&record)?;
        let sub = Submission::new(&self.cfg, &pcs, self.key.as_ref(), seed(jitter_seed))?;
        Ok(Call::new(sub, Kind::Submit))
    }

    /// A lookup call of `pcs_id`, its read signed (SPEC §6.1) when the client
    /// holds a key, at unix time `now` (null: the system clock).
    pub fn get(&self, pcs_id: String, now: Option<i64>, jitter_seed: Option<i64>) -> Res<Arc<Call>> {
        let now = match now {
            Some(n) => uint(n, "now", u64::MAX)?,
            None => unix_now(),
        };
        let req = get_request(&self.cfg, &pcs_id, self.key.as_ref(), now)?;
        Ok(Call::new(Submission::for_request(&self.cfg, req, seed(jitter_seed)), Kind::Get))
    }

    /// A `GET /health` call.
    pub fn health(&self, jitter_seed: Option<i64>) -> Arc<Call> {
        Call::new(Submission::for_request(&self.cfg, health_request(&self.cfg), seed(jitter_seed)), Kind::Health)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Submit,
    Get,
    Health,
}

#[derive(Debug)]
struct State {
    sub: Submission,
    done: Option<Result<SubmitResponse, ClientError>>,
    healthy: Option<bool>,
}

/// One call with its retry state. The transport sends the request, then calls
/// `onResponse` or `onTransportError`: a delay ≥ 0 (milliseconds) means wait
/// and send the same request again, −1 means the call is over (read `finish`,
/// `finishGet` or `finishHealth`). Safe to share; meant for one driver.
#[derive(Debug, uniffi::Object)]
pub struct Call {
    kind: Kind,
    state: Mutex<State>,
}

impl Call {
    fn new(sub: Submission, kind: Kind) -> Arc<Call> {
        Arc::new(Call { kind, state: Mutex::new(State { sub, done: None, healthy: None }) })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn step(state: &mut State, step: Step) -> i64 {
        match step {
            Step::Retry(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Step::Done(r) => {
                state.done = Some(r);
                -1
            }
        }
    }

    fn take(&self) -> Res<SubmitResponse> {
        self.take_result()?.map_err(FractalError::from)
    }

    /// The finished call's result, still as the core's error.
    fn take_result(&self) -> Res<Result<SubmitResponse, ClientError>> {
        self.lock().done.take().ok_or_else(|| arg("call", "is not finished"))
    }
}

#[uniffi::export]
impl Call {
    /// `GET` or `POST`.
    pub fn method(&self) -> String {
        self.lock().sub.request().method.to_string()
    }

    /// The full URL.
    pub fn url(&self) -> String {
        self.lock().sub.request().url.clone()
    }

    /// The headers, in order.
    pub fn headers(&self) -> Vec<Header> {
        let s = self.lock();
        s.sub.request().headers.iter().map(|(k, v)| Header { name: k.clone(), value: v.clone() }).collect()
    }

    /// The body (empty for GET).
    pub fn body(&self) -> Vec<u8> {
        self.lock().sub.request().body.clone()
    }

    /// Retries taken so far.
    pub fn retries(&self) -> i32 {
        i32::try_from(self.lock().sub.retries()).unwrap_or(i32::MAX)
    }

    /// Feeds an answer; returns the delay in milliseconds before the next
    /// attempt, or −1 when the call is over.
    pub fn on_response(&self, status: i32, headers: Vec<Header>, body: Vec<u8>) -> i64 {
        let mut s = self.lock();
        if self.kind == Kind::Health {
            // Any answer ends a health check: the server is up, healthy or not.
            s.healthy = Some(status == 200);
            return -1;
        }
        let status = u16::try_from(status).unwrap_or(0);
        let pairs: Vec<(String, String)> = headers.into_iter().map(|h| (h.name, h.value)).collect();
        let step = s.sub.on_response(status, &pairs, &body);
        Self::step(&mut s, step)
    }

    /// Feeds a transport failure (`timeout`: the attempt timed out); returns
    /// as `onResponse` does.
    pub fn on_transport_error(&self, reason: String, timeout: bool) -> i64 {
        let mut s = self.lock();
        let step = s.sub.on_transport_error(&reason, timeout);
        Self::step(&mut s, step)
    }

    /// The outcome of a finished submit; throws its typed error otherwise.
    pub fn finish(&self) -> Res<SubmitOutcome> {
        Ok(self.take()?.into())
    }

    /// The outcome of a finished lookup: the stored result, or null when the
    /// server has none for this tenant (404); throws other errors.
    pub fn finish_get(&self) -> Res<Option<VerifyResult>> {
        match self.take_result()? {
            Ok(r) => Ok(Some(r.result.into())),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether a finished health check got 200; throws its transport error
    /// when no answer came.
    pub fn finish_health(&self) -> Res<bool> {
        if let Some(h) = self.lock().healthy {
            return Ok(h);
        }
        self.take().map(|_| true)
    }
}
