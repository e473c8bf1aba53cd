//! The HTTP API of SPEC §6.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use fractal_core::{Error as CoreError, Pcs, VerifyParams, verify};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::config::{Config, Policy};
use super::limits::{Limiter, Refusal};
use super::metrics::{self, Counters, Metrics};
use super::store::{Outcome, OutcomeStore, Put, now_secs};
use super::wal::Wal;

/// Seconds a client should wait after a 503.
const RETRY_AFTER_UNAVAILABLE: u64 = 1;

/// A tenant as the handler sees it.
pub struct TenantState {
    policy: Policy,
    verifier: fractal_core::Verifier,
    params: VerifyParams,
    limiter: Limiter,
    counters: Counters,
}

/// Everything a request needs.
pub struct App<S> {
    tenants: HashMap<String, TenantState>,
    wal: Wal,
    store: S,
    metrics: Arc<Metrics>,
    routes: RouteMetrics,
    body_limit: usize,
    dedup_ttl_secs: u64,
    /// The whole expected `Authorization` header value.
    metrics_auth: Option<String>,
}

impl<S: OutcomeStore> App<S> {
    /// Builds the handler state from the configuration.
    pub fn new(config: &Config, wal: Wal, store: S, metrics: Arc<Metrics>) -> App<S> {
        let tenants = config
            .tenants
            .iter()
            .map(|t| {
                let state = TenantState {
                    policy: t.policy,
                    verifier: t.verifier.clone(),
                    params: t.params,
                    limiter: Limiter::new(t.rate, t.burst, t.daily_quota),
                    counters: metrics.tenant(&t.id),
                };
                (t.id.clone(), state)
            })
            .collect();
        let metrics_auth = config
            .metrics_auth
            .as_ref()
            .map(|s| format!("Basic {}", fractal_core::b64encode(format!("{}:{}", s.0.0, s.0.1).as_bytes())));
        App {
            tenants,
            wal,
            store,
            routes: RouteMetrics::new(&metrics),
            metrics,
            body_limit: config.body_limit,
            dedup_ttl_secs: config.dedup_ttl_secs,
            metrics_auth,
        }
    }
}

/// The router of SPEC §6.
pub fn router<S: OutcomeStore>(app: Arc<App<S>>) -> Router {
    Router::new()
        .route("/v1/pcs/submit", post(submit::<S>).fallback(method_not_allowed))
        .route("/v1/pcs/{pcs_id}", get(lookup::<S>).fallback(method_not_allowed))
        .route("/health", get(health).fallback(method_not_allowed))
        .route("/ready", get(ready::<S>).fallback(method_not_allowed))
        .route("/metrics", get(metrics_text::<S>).fallback(method_not_allowed))
        .fallback(not_found)
        .with_state(app)
}

/// An error answer `{"error":{"code","message"}}`.
pub fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    let mut r = (status, serde_json::to_vec(&body).unwrap()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn with_retry_after(mut r: Response, secs: u64) -> Response {
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    r
}

fn unavailable(message: &str) -> Response {
    with_retry_after(error(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", message), RETRY_AFTER_UNAVAILABLE)
}

fn outcome_response(o: &Outcome, dedup_hit: bool) -> Response {
    let status = StatusCode::from_u16(o.status).unwrap_or(StatusCode::ACCEPTED);
    let mut r = (status, o.body.clone()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if dedup_hit {
        r.headers_mut().insert("x-dedup", HeaderValue::from_static("hit"));
    }
    r
}

async fn method_not_allowed(method: Method) -> Response {
    error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", &format!("method {method} is not allowed on this path"))
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not_found", "no such path")
}

/// The tenant named by `X-Tenant-Id` (`default` without one); `None` when the
/// header is not visible ASCII, which no configured tenant id can match.
fn tenant_of(headers: &HeaderMap) -> Option<&str> {
    match headers.get("x-tenant-id") {
        None => Some("default"),
        Some(v) => v.to_str().ok(),
    }
}

fn unknown_tenant(id: &str) -> Response {
    error(StatusCode::FORBIDDEN, "unknown_tenant", &format!("tenant {id:?} is not known"))
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    let essence = ct.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
        || (essence.len() > 17
            && essence[..12].eq_ignore_ascii_case("application/")
            && essence[essence.len() - 5..].eq_ignore_ascii_case("+json"))
}

/// Latency and status counters resolved once: no label lookup per request.
pub struct RouteMetrics {
    submit: prometheus::Histogram,
    get: prometheus::Histogram,
    statuses: Vec<(u16, prometheus::IntCounter)>,
    other: prometheus::IntCounter,
}

impl RouteMetrics {
    fn new(m: &Metrics) -> RouteMetrics {
        let statuses = [200u16, 202, 400, 401, 403, 404, 405, 413, 415, 429, 503]
            .into_iter()
            .map(|s| (s, m.responses.with_label_values(&[&s.to_string()])))
            .collect();
        RouteMetrics {
            submit: m.latency.with_label_values(&["submit"]),
            get: m.latency.with_label_values(&["get"]),
            statuses,
            other: m.responses.with_label_values(&["other"]),
        }
    }

    fn done(&self, hist: &prometheus::Histogram, started: Instant, r: Response) -> Response {
        hist.observe(started.elapsed().as_secs_f64());
        let code = r.status().as_u16();
        match self.statuses.iter().find(|(s, _)| *s == code) {
            Some((_, c)) => c.inc(),
            None => self.other.inc(),
        }
        r
    }
}

async fn submit<S: OutcomeStore>(State(app): State<Arc<App<S>>>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let r = submit_inner(&app, &headers, body).await;
    app.routes.done(&app.routes.submit, started, r)
}

async fn submit_inner<S: OutcomeStore>(app: &App<S>, headers: &HeaderMap, body: Body) -> Response {
    // 1. Tenant and quota.
    let Some(tenant_id) = tenant_of(headers) else { return unknown_tenant("(not ASCII)") };
    let Some(tenant) = app.tenants.get(tenant_id) else {
        tracing::info!(tenant = %tenant_id.escape_debug(), status = 403, "unknown tenant");
        return unknown_tenant(tenant_id);
    };
    tenant.counters.ingest();
    if let Err(refusal) = tenant.limiter.check(Instant::now(), now_secs()) {
        let (msg, secs) = match refusal {
            Refusal::Rate(_) => ("rate limit exceeded", refusal.retry_after_secs()),
            Refusal::Quota(_) => ("daily quota exhausted", refusal.retry_after_secs()),
        };
        tracing::debug!(tenant = tenant_id, status = 429, reason = msg, "refused");
        return with_retry_after(error(StatusCode::TOO_MANY_REQUESTS, "rate_limited", msg), secs);
    }
    if !is_json(headers) {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Content-Type must be application/json",
        );
    }
    // 2. Body size: refuse by the declared length before reading, and cap the read.
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            &format!("the body is larger than {} bytes", app.body_limit),
        )
    };
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > app.body_limit as u64) {
        return too_large();
    }
    let bytes = match Limited::new(body, app.body_limit).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) if e.is::<LengthLimitError>() => return too_large(),
        Err(_) => return error(StatusCode::BAD_REQUEST, "invalid_json", "the request body could not be read"),
    };
    // 3. The write-ahead log: durable before any answer.
    let ticket = match app.wal.append(tenant_id, &bytes).await {
        Ok(t) => t,
        Err(e) => {
            tenant.counters.wal_errors();
            tracing::error!(tenant = tenant_id, error = %e, status = 503, "write-ahead log append failed");
            return unavailable("the write-ahead log is not accepting records");
        }
    };
    // 4. Parse.
    let pcs = match Pcs::from_json(&bytes) {
        Ok(p) => p,
        Err(e) => {
            tracing::info!(tenant = tenant_id, status = 400, kind = e.kind(), field = e.field(), "malformed record");
            return core_error(&e);
        }
    };
    // 5. Signature, before dedup: an unsigned retry never reads a stored outcome.
    if let Policy::Require(_) = tenant.policy
        && let Err(e) = tenant.verifier.verify(&pcs)
    {
        if matches!(
            e,
            CoreError::SignatureMissing
                | CoreError::SignatureInvalid { .. }
                | CoreError::UnsupportedSignatureVersion { .. }
        ) {
            tenant.counters.signature_errors();
        }
        tracing::info!(tenant = tenant_id, pcs_id = %pcs.pcs_id, status = 401, kind = e.kind(), "signature refused");
        return core_error(&e);
    }
    // 6. Dedup lookup.
    let seen = match app.store.lookup(tenant_id, &pcs.pcs_id).await {
        Ok(Ok(o)) => {
            tenant.counters.dedup_hits();
            tracing::debug!(tenant = tenant_id, pcs_id = %pcs.pcs_id, status = o.status, "dedup hit");
            return outcome_response(&o, true);
        }
        Ok(Err(absent)) => absent,
        Err(e) => {
            tracing::error!(tenant = tenant_id, pcs_id = %pcs.pcs_id, error = %e, status = 503, "store lookup failed");
            ticket.keep();
            return unavailable("the outcome store is not answering");
        }
    };
    // 7. Verify.
    let result = verify(&pcs, &tenant.params);
    let outcome = Outcome {
        status: result.http_status(),
        body: serde_json::to_vec(&result).expect("a VerifyResult always serializes"),
        expires_at: now_secs() + app.dedup_ttl_secs,
    };
    // 8. Store: first write wins.
    match app.store.put_if_absent_seen(tenant_id, &pcs.pcs_id, outcome, seen).await {
        Ok(Put::Inserted(o)) => {
            if result.accepted {
                tenant.counters.accepted();
            }
            if result.escalated {
                tenant.counters.escalated();
            }
            tracing::debug!(tenant = tenant_id, pcs_id = %pcs.pcs_id, status = o.status, "stored");
            drop(ticket);
            outcome_response(&o, false)
        }
        Ok(Put::Existing(o)) => {
            tenant.counters.dedup_hits();
            tracing::debug!(tenant = tenant_id, pcs_id = %pcs.pcs_id, status = o.status, "dedup hit (concurrent)");
            outcome_response(&o, true)
        }
        Err(e) => {
            tracing::error!(tenant = tenant_id, pcs_id = %pcs.pcs_id, error = %e, status = 503, "store write failed");
            ticket.keep();
            unavailable("the outcome store is not answering")
        }
    }
}

/// Maps a core error to its SPEC §6 answer.
fn core_error(e: &CoreError) -> Response {
    let msg = e.to_string();
    match e {
        CoreError::InvalidJson { .. } => error(StatusCode::BAD_REQUEST, "invalid_json", &msg),
        CoreError::SignatureMissing => error(StatusCode::UNAUTHORIZED, "signature_missing", &msg),
        CoreError::SignatureInvalid { .. } => error(StatusCode::UNAUTHORIZED, "signature_invalid", &msg),
        CoreError::UnsupportedSignatureVersion { .. } => {
            error(StatusCode::UNAUTHORIZED, "unsupported_signature_version", &msg)
        }
        _ => error(StatusCode::BAD_REQUEST, "invalid_field", &msg),
    }
}

async fn lookup<S: OutcomeStore>(
    State(app): State<Arc<App<S>>>,
    headers: HeaderMap,
    Path(pcs_id): Path<String>,
) -> Response {
    let started = Instant::now();
    let r = async {
        let Some(tenant_id) = tenant_of(&headers) else { return unknown_tenant("(not ASCII)") };
        let Some(tenant) = app.tenants.get(tenant_id) else { return unknown_tenant(tenant_id) };
        // SPEC §6.1: a signed tenant's reads carry `Authorization: Fractal t=…, sig=…`.
        if let Policy::Require(_) = tenant.policy {
            let auth = headers.get(header::AUTHORIZATION).map(|v| v.to_str().unwrap_or("\u{0}"));
            if let Err(e) = tenant.verifier.verify_read(tenant_id, &pcs_id, auth, now_secs()) {
                tenant.counters.signature_errors();
                tracing::info!(tenant = tenant_id, status = 401, kind = e.kind(), "read signature refused");
                let mut r = core_error(&e);
                r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Fractal"));
                return r;
            }
        }
        match app.store.get(tenant_id, &pcs_id).await {
            Ok(Some(o)) => {
                let mut r = outcome_response(&o, false);
                *r.status_mut() = StatusCode::OK;
                r
            }
            Ok(None) => error(StatusCode::NOT_FOUND, "not_found", "no outcome is stored for this pcs_id"),
            Err(e) => {
                tracing::error!(tenant = tenant_id, error = %e, "store lookup failed");
                unavailable("the outcome store is not answering")
            }
        }
    }
    .await;
    app.routes.done(&app.routes.get, started, r)
}

async fn health() -> Response {
    let mut r = (StatusCode::OK, r#"{"status":"ok"}"#).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

async fn ready<S: OutcomeStore>(State(app): State<Arc<App<S>>>) -> Response {
    if !app.wal.healthy() {
        return unavailable("the write-ahead log is not accepting records");
    }
    if let Err(e) = app.store.health().await {
        tracing::warn!(error = %e, "readiness check failed");
        return unavailable("the outcome store is not answering");
    }
    let mut r = (StatusCode::OK, r#"{"status":"ready"}"#).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// Compares without an early exit, so timing does not reveal the matching prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn metrics_text<S: OutcomeStore>(State(app): State<Arc<App<S>>>, headers: HeaderMap) -> Response {
    if let Some(expected) = &app.metrics_auth {
        let given = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()).unwrap_or(b"");
        if !constant_time_eq(given, expected.as_bytes()) {
            let mut r = error(StatusCode::UNAUTHORIZED, "unauthorized", "metrics need Basic authentication");
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"metrics\""));
            return r;
        }
    }
    let mut r = (StatusCode::OK, app.metrics.render()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(metrics::CONTENT_TYPE));
    r
}
