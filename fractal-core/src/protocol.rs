//! The client protocol (sans I/O): how every SDK builds a request, reads an
//! answer and decides whether and when to retry. Each SDK supplies only the
//! transport; the retry rules and the error mapping are the same everywhere
//! because they live here.
//!
//! ```
//! use fractal_core::protocol::*;
//! use fractal_core::{build_pcs, BuildInput, SigningKeyMaterial, Algorithm};
//!
//! let cfg = ClientConfig::new("http://127.0.0.1:8080", "python", "0.1.0").unwrap();
//! let key = SigningKeyMaterial::parse(Algorithm::Hmac, "secret").unwrap();
//! let pcs = build_pcs(&BuildInput::example()).unwrap();
//! let mut sub = Submission::new(&cfg, &pcs, Some(&key), 7).unwrap();
//! assert_eq!(sub.request().path, "/v1/pcs/submit");
//! // The transport sends sub.request() and reports what came back:
//! match sub.on_response(503, &[("Retry-After".into(), "1".into())], b"{}") {
//!     Step::Retry(delay) => assert_eq!(delay.as_millis(), 1000),
//!     Step::Done(_) => unreachable!(),
//! }
//! match sub.on_response(200, &[], br#"{"accepted":true,"escalated":false}"#) {
//!     Step::Done(Ok(resp)) => assert!(resp.result.accepted && !resp.dedup_hit),
//!     _ => unreachable!(),
//! }
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::model::{Pcs, VerifyResult};
use crate::canonical::SigVersion;
use crate::sign::SigningKeyMaterial;
use crate::verify::validate;

/// Path of the submit endpoint.
pub const SUBMIT_PATH: &str = "/v1/pcs/submit";
/// Default timeout of one attempt, connection included, in milliseconds; every
/// SDK's transport uses it unless told otherwise.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Default timeout of establishing a connection, in milliseconds.
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 5_000;

/// An error a client call can end with. Local problems (validation, signing)
/// carry the core's [`Error`]; the rest come from the server or the transport.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The record or an argument was rejected before anything was sent.
    #[error(transparent)]
    Local(#[from] Error),
    /// The server refused the record as malformed (400).
    #[error("server rejected the record ({status} {code}): {message}")]
    Invalid {
        /// HTTP status (400, 413 or 415).
        status: u16,
        /// The server's error code (`invalid_json`, `invalid_field`, …).
        code: String,
        /// The server's message, naming the field.
        message: String,
    },
    /// The server refused the signature (401).
    #[error("server refused the signature ({code}): {message}")]
    Signature {
        /// `signature_missing` or `signature_invalid`.
        code: String,
        /// The server's message.
        message: String,
    },
    /// Rate limited or over quota (429) after every retry.
    #[error("rate limited: {message}")]
    RateLimited {
        /// What the server asked the client to wait, in milliseconds.
        retry_after_ms: Option<u64>,
        /// The server's message.
        message: String,
    },
    /// Any other error answer from the server (403, 404 on submit, 5xx, …).
    #[error("server answered {status} ({code}): {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The server's error code, or `http_<status>` when the body had none.
        code: String,
        /// The server's message, or the start of the body.
        message: String,
        /// The whole body as text (lossy UTF-8).
        body: String,
    },
    /// The request could not be completed (connection refused, reset, timeout).
    #[error("transport: {reason}")]
    Transport {
        /// What the transport said.
        reason: String,
        /// Whether it was a timeout.
        timeout: bool,
    },
}

impl ClientError {
    /// Stable machine-readable name: the core error's kind for local errors,
    /// else `invalid`, `signature`, `rate_limited`, `api`, `timeout` or `transport`.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientError::Local(e) => e.kind(),
            ClientError::Invalid { .. } => "invalid",
            ClientError::Signature { .. } => "signature",
            ClientError::RateLimited { .. } => "rate_limited",
            ClientError::Api { .. } => "api",
            ClientError::Transport { timeout: true, .. } => "timeout",
            ClientError::Transport { .. } => "transport",
        }
    }

    /// The HTTP status, for errors that came from the server.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Invalid { status, .. } | ClientError::Api { status, .. } => Some(*status),
            ClientError::Signature { .. } => Some(401),
            ClientError::RateLimited { .. } => Some(429),
            _ => None,
        }
    }

    /// The server's error code (`invalid_field`, `signature_invalid`,
    /// `http_<status>` for a body without one, …) of a 400, 401 or other error
    /// answer; `None` for a 429 (its kind says it), transport and local errors.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Invalid { code, .. } | ClientError::Signature { code, .. } | ClientError::Api { code, .. } => {
                Some(code)
            }
            _ => None,
        }
    }

    /// The code an SDK shows for an answer of the server: [`ClientError::code`], and
    /// `rate_limited` for a 429 (SPEC §6's code for it, whatever its body said);
    /// `None` for transport and local errors.
    ///
    /// ```
    /// use fractal_core::protocol::ClientError;
    /// let e = ClientError::RateLimited { message: "slow".into(), retry_after_ms: None };
    /// assert_eq!((e.code(), e.server_code()), (None, Some("rate_limited")));
    /// ```
    pub fn server_code(&self) -> Option<&str> {
        match self {
            ClientError::RateLimited { .. } => Some("rate_limited"),
            _ => self.code(),
        }
    }

    /// The server's message, or a transport failure's reason; `None` for local
    /// errors (their text is the error's `Display`).
    pub fn message(&self) -> Option<&str> {
        match self {
            ClientError::Invalid { message, .. }
            | ClientError::Signature { message, .. }
            | ClientError::Api { message, .. }
            | ClientError::RateLimited { message, .. } => Some(message),
            ClientError::Transport { reason, .. } => Some(reason),
            ClientError::Local(_) => None,
        }
    }

    /// What a 429 asked the client to wait, in milliseconds.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            ClientError::RateLimited { retry_after_ms, .. } => *retry_after_ms,
            _ => None,
        }
    }

    /// Whether this ends a lookup (`GET /v1/pcs/{pcs_id}`) with "no outcome
    /// stored": the server's 404 (SPEC §6). SDKs turn it into their "none"
    /// (`None`, `nil`, `null`) instead of an error.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClientError::Api { status: 404, .. })
    }

    /// Whether another attempt may succeed: 429, 503 (and other 5xx) and
    /// transport failures. Validation errors, 400 and 401 are never retried.
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::RateLimited { .. } | ClientError::Transport { .. } => true,
            ClientError::Api { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

/// Retry settings: exponential backoff with full jitter and a cap.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// Retries after the first attempt (default 3).
    pub max_retries: u32,
    /// Base delay in milliseconds (default 100): attempt `k` (from 0) waits a
    /// uniformly random time in `[0, min(cap, base·2^k))`.
    pub base_delay_ms: u64,
    /// Cap on a computed delay in milliseconds (default 5000).
    pub max_delay_ms: u64,
    /// Longest `Retry-After` honoured, in milliseconds (default 60000); a longer
    /// one ends the call with the error instead of sleeping.
    pub max_retry_after_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base_delay_ms: 100,
            max_delay_ms: 5_000,
            max_retry_after_ms: 60_000,
        }
    }
}

/// The deterministic backoff schedule of one call. With the same policy and seed
/// every SDK sleeps the same delays.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: RetryPolicy,
    rng: u64,
    retries: u32,
}

impl Backoff {
    /// A schedule from a policy and a jitter seed (SDKs seed it from the OS
    /// random source; tests fix it).
    pub fn new(policy: RetryPolicy, seed: u64) -> Backoff {
        Backoff {
            policy,
            rng: seed,
            retries: 0,
        }
    }

    /// Retries taken so far.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// The delay before the next retry, or `None` when retries are used up.
    /// A `Retry-After` from the server replaces the computed delay.
    pub fn next_delay(&mut self, retry_after: Option<Duration>) -> Option<Duration> {
        if self.retries >= self.policy.max_retries {
            return None;
        }
        let exp = self
            .policy
            .base_delay_ms
            .saturating_mul(1u64 << self.retries.min(32));
        let ceiling = exp.min(self.policy.max_delay_ms);
        let jitter = if ceiling == 0 {
            0
        } else {
            self.next_u64() % ceiling
        };
        self.retries += 1;
        Some(match retry_after {
            Some(d) if millis(d) > self.policy.max_retry_after_ms => return None,
            Some(d) => d,
            None => Duration::from_millis(jitter),
        })
    }

    /// splitmix64: tiny, well known, and the same in every language.
    fn next_u64(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Where and as whom a client talks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// Server base URL, `http://` or `https://`, without a trailing slash.
    pub base_url: String,
    /// Tenant sent as `X-Tenant-Id` (the server defaults to `default`).
    #[serde(default)]
    pub tenant: Option<String>,
    /// `User-Agent`, e.g. `fractal-lba-python/0.1.0 (core 0.1.0)`.
    pub user_agent: String,
    /// Retry settings.
    #[serde(default)]
    pub retry: RetryPolicy,
    /// The payload version submissions are signed with (v2 unless told otherwise).
    #[serde(default)]
    pub signature_version: SigVersion,
}

impl ClientConfig {
    /// A configuration for `base_url` with a `User-Agent` naming the SDK.
    pub fn new(base_url: &str, sdk_name: &str, sdk_version: &str) -> Result<ClientConfig, Error> {
        let base = base_url.trim_end_matches('/');
        let host = base
            .strip_prefix("http://")
            .or_else(|| base.strip_prefix("https://"));
        if host.is_none_or(|h| h.is_empty() || h.contains(char::is_whitespace)) {
            return Err(Error::arg(
                "base_url",
                "must be an http:// or https:// URL with a host",
            ));
        }
        if sdk_name.is_empty() || sdk_name.contains(char::is_whitespace) {
            return Err(Error::arg("sdk_name", "must be a non-empty token"));
        }
        Ok(ClientConfig {
            base_url: base.to_string(),
            tenant: None,
            user_agent: format!(
                "fractal-lba-{sdk_name}/{sdk_version} (core {})",
                crate::VERSION
            ),
            retry: RetryPolicy::default(),
            signature_version: SigVersion::V2,
        })
    }

    /// Sets the tenant.
    pub fn with_tenant(mut self, tenant: &str) -> Result<ClientConfig, Error> {
        if tenant.is_empty() || !tenant.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::arg("tenant", "must be non-empty printable ASCII"));
        }
        self.tenant = Some(tenant.to_string());
        Ok(self)
    }

    fn request(&self, method: &'static str, path: String, body: Vec<u8>) -> HttpRequest {
        let mut headers = vec![("User-Agent".to_string(), self.user_agent.clone())];
        if !body.is_empty() {
            headers.push(("Content-Type".into(), "application/json".into()));
        }
        if let Some(t) = &self.tenant {
            headers.push(("X-Tenant-Id".into(), t.clone()));
        }
        headers.push(("Accept".into(), "application/json".into()));
        HttpRequest {
            method,
            url: format!("{}{}", self.base_url, path),
            path,
            headers,
            body,
        }
    }
}

/// A request for the transport to send, exactly as built.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HttpRequest {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// Full URL.
    pub url: String,
    /// Path and query only.
    pub path: String,
    /// Headers, in order.
    pub headers: Vec<(String, String)>,
    /// Body bytes (empty for GET).
    pub body: Vec<u8>,
}

/// A successful submit or lookup.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubmitResponse {
    /// 200 or 202.
    pub status: u16,
    /// The stored outcome.
    pub result: VerifyResult,
    /// Whether the server answered from its dedup store (`X-Dedup: hit`).
    pub dedup_hit: bool,
}

/// What the transport should do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Sleep this long, then send the same request again.
    Retry(Duration),
    /// The call is over.
    Done(Result<SubmitResponse, ClientError>),
}

/// Builds the submit request: validates the record (SPEC §1), signs it when a key
/// is given (setting `sig`), and serializes it.
pub fn submit_request(
    cfg: &ClientConfig,
    pcs: &Pcs,
    key: Option<&SigningKeyMaterial>,
) -> Result<HttpRequest, Error> {
    validate(pcs)?;
    let body = match key {
        Some(k) => {
            let mut signed = pcs.clone();
            k.sign_in_place_version(&mut signed, cfg.signature_version)?;
            signed.to_json()
        }
        None => pcs.to_json(),
    };
    Ok(cfg.request("POST", SUBMIT_PATH.to_string(), body))
}

/// Builds `GET /v1/pcs/{pcs_id}`; with a key, signed as SPEC §6.1 says at unix
/// time `now` (`Authorization: Fractal t=…, sig=…`, for the configured tenant or
/// `default`).
pub fn get_request(
    cfg: &ClientConfig,
    pcs_id: &str,
    key: Option<&SigningKeyMaterial>,
    now: u64,
) -> Result<HttpRequest, Error> {
    if pcs_id.is_empty()
        || !pcs_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(Error::arg(
            "pcs_id",
            "must be non-empty and URL-safe (hex in practice)",
        ));
    }
    let mut req = cfg.request("GET", format!("/v1/pcs/{pcs_id}"), Vec::new());
    if let Some(k) = key {
        let tenant = cfg.tenant.as_deref().unwrap_or("default");
        req.headers.push(("Authorization".into(), k.read_authorization(tenant, pcs_id, now)?));
    }
    Ok(req)
}

/// A duration in whole milliseconds, saturating: a `Retry-After` of 2^64/1000
/// seconds must not wrap around to a short wait.
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Seconds since the Unix epoch by the system clock (0 before it), for
/// [`get_request`]'s `now`.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Builds `GET /health`.
pub fn health_request(cfg: &ClientConfig) -> HttpRequest {
    cfg.request("GET", "/health".into(), Vec::new())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// Reads `Retry-After` in either form of RFC 9110 §10.2.3: delay-seconds (what
/// this server sends), or an HTTP-date, which counts from the answer's own `Date`
/// header, so the client's clock and any skew between the two clocks do not
/// matter (a date before `Date` means "now"). An HTTP-date without a `Date` header,
/// or anything unreadable, is no `Retry-After`: the computed backoff applies.
pub fn retry_after(headers: &[(String, String)]) -> Option<Duration> {
    let value = header(headers, "retry-after")?;
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<u64>().ok().map(Duration::from_secs);
    }
    let until = httpdate::parse_http_date(value).ok()?;
    let sent = httpdate::parse_http_date(header(headers, "date")?).ok()?;
    Some(until.duration_since(sent).unwrap_or(Duration::ZERO))
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
}

/// Classifies one answer to a submit or lookup: 200/202 with a VerifyResult is a
/// success; everything else is a typed [`ClientError`].
pub fn classify_response(
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<SubmitResponse, ClientError> {
    if status == 200 || status == 202 {
        return match serde_json::from_slice::<VerifyResult>(body) {
            Ok(result) => Ok(SubmitResponse {
                status,
                result,
                dedup_hit: header(headers, "x-dedup")
                    .is_some_and(|v| v.eq_ignore_ascii_case("hit")),
            }),
            Err(e) => Err(ClientError::Api {
                status,
                code: "invalid_response".into(),
                message: format!("the answer is not a VerifyResult: {e}"),
                body: String::from_utf8_lossy(body).into_owned(),
            }),
        };
    }
    let (code, message) = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => (b.error.code, b.error.message),
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            (format!("http_{status}"), text.chars().take(200).collect())
        }
    };
    Err(match status {
        400 | 413 | 415 => ClientError::Invalid {
            status,
            code,
            message,
        },
        401 => ClientError::Signature { code, message },
        429 => ClientError::RateLimited {
            retry_after_ms: retry_after(headers).map(millis),
            message,
        },
        _ => ClientError::Api {
            status,
            code,
            message,
            body: String::from_utf8_lossy(body).into_owned(),
        },
    })
}

/// One call (submit, get or health) with its retry state.
#[derive(Debug, Clone)]
pub struct Submission {
    request: HttpRequest,
    backoff: Backoff,
}

impl Submission {
    /// A submit call: builds (validates, signs) the request and a backoff seeded
    /// with `jitter_seed`.
    pub fn new(
        cfg: &ClientConfig,
        pcs: &Pcs,
        key: Option<&SigningKeyMaterial>,
        jitter_seed: u64,
    ) -> Result<Submission, Error> {
        Ok(Submission::for_request(
            cfg,
            submit_request(cfg, pcs, key)?,
            jitter_seed,
        ))
    }

    /// A call of any prepared request (e.g. [`get_request`]).
    pub fn for_request(cfg: &ClientConfig, request: HttpRequest, jitter_seed: u64) -> Submission {
        Submission {
            request,
            backoff: Backoff::new(cfg.retry, jitter_seed),
        }
    }

    /// The request to send (the same on every attempt).
    pub fn request(&self) -> &HttpRequest {
        &self.request
    }

    /// Retries taken so far.
    pub fn retries(&self) -> u32 {
        self.backoff.retries()
    }

    fn decide(&mut self, err: ClientError, after: Option<Duration>) -> Step {
        if err.is_retryable()
            && let Some(d) = self.backoff.next_delay(after)
        {
            return Step::Retry(d);
        }
        Step::Done(Err(err))
    }

    /// Feeds the answer of the last attempt; says whether to retry and when.
    pub fn on_response(&mut self, status: u16, headers: &[(String, String)], body: &[u8]) -> Step {
        match classify_response(status, headers, body) {
            Ok(r) => Step::Done(Ok(r)),
            Err(e) => {
                let after = if status == 429 || status == 503 {
                    retry_after(headers)
                } else {
                    None
                };
                self.decide(e, after)
            }
        }
    }

    /// Feeds a transport failure of the last attempt (connection error or
    /// timeout of one attempt); says whether to retry and when.
    pub fn on_transport_error(&mut self, reason: &str, timeout: bool) -> Step {
        self.decide(
            ClientError::Transport {
                reason: reason.to_string(),
                timeout,
            },
            None,
        )
    }
}

#[cfg(test)]
mod tests;
