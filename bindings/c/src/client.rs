//! The client protocol (sans I/O): the core builds every request and decides,
//! after each answer, whether to retry and when; the caller only moves bytes.

use super::*;

/// Default timeout of one attempt in milliseconds, connection included
/// (`fractal_core::protocol::DEFAULT_TIMEOUT_MS`); the caller's transport applies it.
pub const FRACTAL_DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Default connection timeout in milliseconds
/// (`fractal_core::protocol::DEFAULT_CONNECT_TIMEOUT_MS`).
pub const FRACTAL_DEFAULT_CONNECT_TIMEOUT_MS: u64 = 5_000;
// cbindgen writes literals only: the build fails if these drift from the core.
const _: () = assert!(FRACTAL_DEFAULT_TIMEOUT_MS == fractal_core::protocol::DEFAULT_TIMEOUT_MS);
const _: () = assert!(FRACTAL_DEFAULT_CONNECT_TIMEOUT_MS == fractal_core::protocol::DEFAULT_CONNECT_TIMEOUT_MS);

// Client protocol: the core builds every request and decides, after
// each answer, whether to retry and when; the caller only moves bytes.

/// `alg` of [`fractal_client_new`]: submit records as given (no signing).
pub const FRACTAL_ALGORITHM_NONE: u32 = 0;
/// `alg` of [`fractal_client_new`]: sign with HMAC-SHA256 (`key` is the secret's bytes).
pub const FRACTAL_ALGORITHM_HMAC: u32 = 1;
/// `alg` of [`fractal_client_new`]: sign with Ed25519 (`key` is the base64 private seed).
pub const FRACTAL_ALGORITHM_ED25519: u32 = 2;

/// What the transport does after an attempt (the `kind` of a [`FractalStep`]).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FractalStepKind {
    /// Sleep `delay_ms`, then send the same request again.
    Retry = 0,
    /// The call is over: `json` holds the answer
    /// `{"status":200|202,"result":{VerifyResult},"dedup_hit":bool}`.
    Success = 1,
    /// The call is over: `json` holds the error
    /// `{"kind","display","message","status","code","body","retry_after_ms","field","retryable","not_found"}`
    /// (`not_found`: a lookup's "no outcome stored", which SDKs report as none)
    /// (`kind` is one of `invalid`, `signature`, `rate_limited`, `api`,
    /// `timeout`, `transport` or a core error kind; absent values are null).
    Failure = 2,
}

/// The decision after one attempt, filled by [`fractal_submission_on_response`]
/// and [`fractal_submission_on_transport_error`]. Initialise it to all zeroes;
/// free `json` with [`fractal_step_free`] (a filled step passed again is freed
/// first).
#[repr(C)]
pub struct FractalStep {
    /// Retry, success or failure.
    pub kind: FractalStepKind,
    /// For `Retry`: how long to wait, in milliseconds (0 otherwise).
    pub delay_ms: u64,
    /// Retries taken so far, this one included.
    pub retries: u32,
    /// For `Success` and `Failure`: the JSON described at [`FractalStepKind`];
    /// `{NULL, 0}` for `Retry`.
    pub json: FractalBytes,
}

/// Where and as whom to submit: the configuration and the signing key, checked
/// once (opaque, immutable, safe to share between threads). Free it with
/// [`fractal_client_free`].
pub struct FractalClient {
    cfg: ClientConfig,
    key: Option<SigningKeyMaterial>,
}

/// One call (submit, get or health) and its retry state (opaque, for one thread
/// at a time). Free it with [`fractal_submission_free`].
pub struct FractalSubmission {
    inner: Submission,
}

/// The retry policy of [`fractal_client_new`] (the core's `RetryPolicy`): retry
/// `k` (from 0) waits a random time in `[0, min(max_delay_ms, base_delay_ms·2^k))`.
#[repr(C)]
pub struct FractalRetryPolicy {
    /// Retries after the first attempt (default 3).
    pub max_retries: u32,
    /// Ceiling of the first retry's delay, in milliseconds (default 100).
    pub base_delay_ms: u64,
    /// Cap on a computed delay, in milliseconds (default 5000).
    pub max_delay_ms: u64,
    /// Longest `Retry-After` honoured, in milliseconds (0: the default, 60000); a
    /// longer one ends the call with the error.
    pub max_retry_after_ms: u64,
}

pub(crate) fn signing_key(alg: u32, key: &[u8]) -> FfiResult<Option<SigningKeyMaterial>> {
    match alg {
        FRACTAL_ALGORITHM_NONE if key.is_empty() => Ok(None),
        FRACTAL_ALGORITHM_NONE => Err(bad_arg("key", "must be empty when alg is FRACTAL_ALGORITHM_NONE")),
        FRACTAL_ALGORITHM_HMAC => {
            // Refuses an empty secret with the core's own error.
            sign_hmac_digest(&[0u8; 32], key)?;
            Ok(Some(SigningKeyMaterial::Hmac(key.to_vec())))
        }
        FRACTAL_ALGORITHM_ED25519 => {
            let seed = std::str::from_utf8(key).map_err(|_| bad_arg("key", "is not valid UTF-8"))?;
            Ok(Some(SigningKeyMaterial::parse(Algorithm::Ed25519, seed)?))
        }
        _ => Err(bad_arg("alg", "must be FRACTAL_ALGORITHM_NONE, _HMAC or _ED25519")),
    }
}

pub(crate) fn error_json(e: &ClientError) -> Vec<u8> {
    let (field, body) = match e {
        ClientError::Local(inner) => (inner.field(), None),
        ClientError::Api { body, .. } => (None, Some(body.as_str())),
        _ => (None, None),
    };
    let v = serde_json::json!({
        "kind": e.kind(),
        "display": e.to_string(),
        "message": e.message().map_or_else(|| e.to_string(), str::to_string),
        "status": e.status(),
        "code": e.code(),
        "body": body,
        "retry_after_ms": e.retry_after_ms(),
        "field": field,
        "retryable": e.is_retryable(),
        "not_found": e.is_not_found(),
    });
    serde_json::to_vec(&v).expect("a JSON value always serializes")
}

pub(crate) fn give_step(out: &mut FractalStep, step: Step, retries: u32) {
    // SAFETY: `out.json` is `{NULL, 0}` or a buffer this library filled.
    unsafe { fractal_bytes_free(&mut out.json) };
    out.retries = retries;
    out.delay_ms = 0;
    match step {
        Step::Retry(d) => {
            out.kind = FractalStepKind::Retry;
            out.delay_ms = fractal_core::protocol::millis(d);
        }
        Step::Done(Ok(resp)) => {
            out.kind = FractalStepKind::Success;
            out.json = serde_json::to_vec(&resp).expect("a response always serializes").into();
        }
        Step::Done(Err(e)) => {
            out.kind = FractalStepKind::Failure;
            out.json = error_json(&e).into();
        }
    }
}

pub(crate) fn give_submission(out: *mut *mut FractalSubmission, inner: Submission) -> FfiResult {
    let out = out_ptr("out", out)?;
    *out = Box::into_raw(Box::new(FractalSubmission { inner }));
    Ok(())
}

/// Creates a client into `*out` (free with [`fractal_client_free`]) for the
/// server at `base_url` (`http://` or `https://`). `User-Agent` becomes
/// `fractal-lba-<sdk_name>/<sdk_version> (core <version>)`. When `has_tenant`,
/// `tenant` is sent as `X-Tenant-Id` (non-empty printable ASCII). `retry` is
/// NULL for the default policy. Submissions are signed over the payload of
/// `signature_version` (`FRACTAL_SIG_V2` for new signers, or `FRACTAL_SIG_V1`).
/// `alg` is a `FRACTAL_ALGORITHM_*` value and `key` its key: the HMAC secret's
/// bytes, or the base64 Ed25519 seed (empty for `_NONE`). Everything is copied;
/// the library never writes the key anywhere.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_client_new(
    base_url: *const u8,
    base_url_len: usize,
    sdk_name: *const u8,
    sdk_name_len: usize,
    sdk_version: *const u8,
    sdk_version_len: usize,
    has_tenant: bool,
    tenant: *const u8,
    tenant_len: usize,
    retry: *const FractalRetryPolicy,
    signature_version: u32,
    alg: u32,
    key: *const u8,
    key_len: usize,
    out: *mut *mut FractalClient,
    err: *mut FractalError,
) -> FractalStatus {
    boundary_out(err, out, || unsafe {
        let (name, version) =
            (text("sdk_name", sdk_name, sdk_name_len)?, text("sdk_version", sdk_version, sdk_version_len)?);
        let mut cfg = ClientConfig::new(text("base_url", base_url, base_url_len)?, name, version)?;
        if has_tenant {
            cfg = cfg.with_tenant(text("tenant", tenant, tenant_len)?)?;
        }
        if let Some(r) = retry.as_ref() {
            let (max_retries, base_delay_ms, max_delay_ms) = (r.max_retries, r.base_delay_ms, r.max_delay_ms);
            cfg.retry = RetryPolicy { max_retries, base_delay_ms, max_delay_ms, ..cfg.retry };
            if r.max_retry_after_ms > 0 {
                cfg.retry.max_retry_after_ms = r.max_retry_after_ms;
            }
        }
        cfg.signature_version = SigVersion::from_number(i64::from(signature_version))
            .map_err(|_| bad_arg("signature_version", "must be FRACTAL_SIG_V1 or FRACTAL_SIG_V2"))?;
        let key = signing_key(alg, bytes("key", key, key_len)?)?;
        Ok(Box::into_raw(Box::new(FractalClient { cfg, key })))
    })
}

/// Frees a client. NULL is fine; freeing twice is not. Submissions made from it
/// stay valid (they hold their own copy of what they need).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_client_free(client: *mut FractalClient) {
    // SAFETY: the pointer came from Box::into_raw in fractal_client_new.
    boundary_infallible((), || unsafe { free_handle(client) })
}

/// Starts a submit call into `*out` (free with [`fractal_submission_free`]):
/// parses the record JSON strictly, validates it (SPEC §1), signs it when the
/// client has a key (over the configured `signature_version`, v2 by default;
/// the body is the record as parsed, unknown fields kept, so it is what was
/// signed), and seeds the backoff's jitter with `jitter_seed`. A record
/// that fails is reported here (`INVALID_JSON`, `INVALID_FIELD`, `VALIDATION`,
/// naming the field) and nothing is to be sent.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_client_submit(
    client: *const FractalClient,
    record_json: *const u8,
    record_json_len: usize,
    jitter_seed: u64,
    out: *mut *mut FractalSubmission,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let c = handle("client", client)?;
        let pcs = Pcs::from_json(bytes("record_json", record_json, record_json_len)?)?;
        give_submission(out, Submission::new(&c.cfg, &pcs, c.key.as_ref(), jitter_seed)?)
    })
}

/// Starts a `GET /v1/pcs/{pcs_id}` call into `*out` (free with
/// [`fractal_submission_free`]). When the client has a key the request carries
/// `Authorization: Fractal t=<now>, sig=…` (SPEC §6.1) for the client's tenant
/// (or `default`), signed at `now`, the caller's clock in unix seconds
/// (`time(NULL)`; the server accepts ±300 s). A 404 ends the call as an `api`
/// failure with status 404.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_client_get(
    client: *const FractalClient,
    pcs_id: *const u8,
    pcs_id_len: usize,
    now: u64,
    jitter_seed: u64,
    out: *mut *mut FractalSubmission,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let c = handle("client", client)?;
        let id = text("pcs_id", pcs_id, pcs_id_len)?;
        let req = get_request(&c.cfg, id, c.key.as_ref(), now)?;
        give_submission(out, Submission::for_request(&c.cfg, req, jitter_seed))
    })
}

/// Starts a `GET /health` call into `*out` (free with [`fractal_submission_free`]).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_client_health(
    client: *const FractalClient,
    jitter_seed: u64,
    out: *mut *mut FractalSubmission,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || {
        let c = handle("client", client)?;
        give_submission(out, Submission::for_request(&c.cfg, health_request(&c.cfg), jitter_seed))
    })
}

/// The request to send, the same on every attempt: `head` gets the JSON
/// `{"method":"POST"|"GET","url":"…","path":"…","headers":[["name","value"],…]}`
/// and `body` the raw body bytes (`{NULL, 0}` for GET). Free both with
/// [`fractal_bytes_free`]. Send exactly these headers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_submission_request(
    sub: *const FractalSubmission,
    head: *mut FractalBytes,
    body: *mut FractalBytes,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || {
        let s = handle("sub", sub)?;
        let head = out_ptr("head", head)?;
        let body = out_ptr("body", body)?;
        let req = s.inner.request();
        let json = serde_json::json!({
            "method": req.method,
            "url": req.url,
            "path": req.path,
            "headers": req.headers,
        });
        *head = serde_json::to_vec(&json).expect("a request head always serializes").into();
        if req.body.is_empty() {
            *body = FractalBytes { ptr: ptr::null_mut(), len: 0 };
        } else {
            *body = req.body.clone().into();
        }
        Ok(())
    })
}

/// Feeds the answer to the last attempt: its status, its headers as a JSON array
/// of `["name","value"]` pairs (a header sent twice is two pairs; length 0 means
/// none) and its body. `out` says whether to retry (and after how long) or
/// that the call is over (with the answer or the error).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_submission_on_response(
    sub: *mut FractalSubmission,
    status: u16,
    headers_json: *const u8,
    headers_json_len: usize,
    body: *const u8,
    body_len: usize,
    out: *mut FractalStep,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let s = out_ptr("sub", sub)?;
        let out = out_ptr("out", out)?;
        let raw = bytes("headers_json", headers_json, headers_json_len)?;
        let headers: Vec<(String, String)> = if raw.is_empty() {
            Vec::new()
        } else {
            serde_json::from_slice(raw)
                .map_err(|e| bad_arg("headers_json", &format!("must be a JSON array of [name, value] pairs ({e})")))?
        };
        let body = bytes("body", body, body_len)?;
        let step = s.inner.on_response(status, &headers, body);
        give_step(out, step, s.inner.retries());
        Ok(())
    })
}

/// Feeds a transport failure of the last attempt (`reason`: what the transport
/// said, without URLs or credentials; `is_timeout`: whether the attempt timed
/// out). `out` says whether to retry and when, or gives the final error.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_submission_on_transport_error(
    sub: *mut FractalSubmission,
    reason: *const u8,
    reason_len: usize,
    is_timeout: bool,
    out: *mut FractalStep,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let s = out_ptr("sub", sub)?;
        let out = out_ptr("out", out)?;
        let reason = text("reason", reason, reason_len)?;
        let step = s.inner.on_transport_error(reason, is_timeout);
        give_step(out, step, s.inner.retries());
        Ok(())
    })
}

/// Frees the JSON inside a step and sets it to `{NULL, 0}`. NULL is fine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_step_free(step: *mut FractalStep) {
    boundary_infallible((), || {
        // SAFETY: NULL or a FractalStep the library filled (documented).
        if let Some(s) = unsafe { step.as_mut() } {
            unsafe { fractal_bytes_free(&mut s.json) };
        }
    })
}

/// Frees a submission. NULL is fine; freeing twice is not.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_submission_free(sub: *mut FractalSubmission) {
    // SAFETY: the pointer came from Box::into_raw in give_submission.
    boundary_infallible((), || unsafe { free_handle(sub) })
}
