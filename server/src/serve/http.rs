//! The HTTP API of SPEC §6.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use fractal_core::{Error as CoreError, VerifyParams};
use subtle::ConstantTimeEq;
use tokio::sync::watch;

use super::config::{Config, Policy};
use super::limits::Limiter;
use super::metrics::{self, Counters, Metrics};
use super::keylock::KeyLocks;
use super::store::{Outcome, OutcomeStore, now_secs};
use super::wal::Wal;

mod submit;
pub use submit::{Admission, admit, check_signature};

/// Seconds a client should wait after a 503.
const RETRY_AFTER_UNAVAILABLE: u64 = 1;

/// A tenant as the handler sees it.
pub struct TenantState {
    policy: Policy,
    verifier: fractal_core::Verifier,
    params: VerifyParams,
    limiter: Limiter,
    counters: Counters,
    cors_origins: Vec<String>,
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
    body_read_timeout: Duration,
    /// The whole expected `Authorization` header value.
    metrics_auth: Option<String>,
    /// One lock per `(tenant, pcs_id)` being submitted.
    keys: KeyLocks,
    /// Submissions whose log/store section is still running.
    pub tasks: Arc<Tasks>,
    /// Set when the server stops: store retries give up (the log keeps their records).
    stopping: watch::Receiver<bool>,
    /// The audit log (SPEC §11), when on.
    audit: Option<super::audit::Audit>,
    /// The region (SPEC §10), when `[region]` is configured: stamps every outcome.
    region: Option<Arc<super::region::Region>>,
}

/// Counts running tasks; [`Tasks::idle`] waits until there are none.
#[derive(Default)]
pub struct Tasks {
    running: std::sync::atomic::AtomicUsize,
    idle: tokio::sync::Notify,
}

/// One running task; dropping it ends it.
pub struct TaskToken(Arc<Tasks>);

impl Tasks {
    /// A task starts.
    pub fn enter(self: &Arc<Self>) -> TaskToken {
        self.running.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        TaskToken(self.clone())
    }

    /// Waits until no task runs.
    pub async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.running.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for TaskToken {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl<S: OutcomeStore> App<S> {
    /// Builds the handler state from the configuration.
    pub fn new(config: &Config, wal: Wal, store: S, metrics: Arc<Metrics>, stopping: watch::Receiver<bool>) -> App<S> {
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
                    cors_origins: t.cors_origins.clone(),
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
            body_read_timeout: config.http.body_read_timeout,
            metrics_auth,
            keys: KeyLocks::default(),
            tasks: Arc::default(),
            stopping,
            audit: None,
            region: None,
        }
    }

    /// Appends every outcome this server stores to `audit`.
    pub fn with_audit(mut self, audit: Option<super::audit::Audit>) -> App<S> {
        self.audit = audit;
        self
    }

    /// Stamps every outcome with the region's clock (SPEC §10).
    pub fn with_region(mut self, region: Option<Arc<super::region::Region>>) -> App<S> {
        self.region = region;
        self
    }

    /// The per-key locks: importing a peer region's record takes the same lock as a
    /// submission of its key, so that per key the log order is the store order.
    pub fn key_locks(&self) -> &KeyLocks {
        &self.keys
    }
}

/// The router of SPEC §6.
pub fn router<S: OutcomeStore>(app: Arc<App<S>>) -> Router {
    Router::new()
        .route("/v1/pcs/submit", post(submit::submit::<S>).fallback(method_not_allowed))
        .route("/v1/pcs/{pcs_id}", get(lookup::<S>).fallback(method_not_allowed))
        .route("/health", get(health).fallback(method_not_allowed))
        .route("/ready", get(ready::<S>).fallback(method_not_allowed))
        .route("/metrics", get(metrics_text::<S>).fallback(method_not_allowed))
        .route("/openapi.json", get(super::openapi::serve).fallback(method_not_allowed))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(app.clone(), cors::<S>))
        .with_state(app)
}

/// Request headers a browser may send (CORS preflight).
const CORS_ALLOW_HEADERS: &str = "Content-Type, X-Tenant-Id, Authorization";
/// Response headers a browser page may read besides the safelisted ones.
const CORS_EXPOSE_HEADERS: &str = "X-Dedup, Retry-After";

/// CORS (SPEC §6). A preflight (`OPTIONS` with `Access-Control-Request-Method`)
/// cannot name its tenant, so it is granted to an origin some tenant lists; the
/// answer itself carries `Access-Control-Allow-Origin` only when the request's
/// tenant lists the origin, so a page reads only the answers of its tenants.
async fn cors<S: OutcomeStore>(
    State(app): State<Arc<App<S>>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Some(origin) = req.headers().get(header::ORIGIN).cloned() else { return next.run(req).await };
    let listed = |t: &TenantState| t.cors_origins.iter().any(|o| o.as_bytes() == origin.as_bytes());
    let mut r = if req.method() == Method::OPTIONS && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) {
        let mut r = StatusCode::NO_CONTENT.into_response();
        if app.tenants.values().any(listed) {
            let h = r.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST"));
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(CORS_ALLOW_HEADERS));
            h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        }
        r
    } else {
        let allowed = tenant_of(req.headers()).and_then(|t| app.tenants.get(t)).is_some_and(listed);
        let mut r = next.run(req).await;
        if allowed {
            let h = r.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(CORS_EXPOSE_HEADERS));
        }
        r
    };
    r.headers_mut().append(header::VARY, HeaderValue::from_static("Origin"));
    r
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

/// `application/json` or any `application/*+json` (RFC 6839 §3.1), with any
/// parameters, as hyperium's `mime` parser (already axum's) reads a media type.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(m) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<mime::Mime>().ok())
    else {
        return false;
    };
    m.type_() == mime::APPLICATION && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
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

/// A value fit for a log line: control characters replaced, length capped.
pub fn loggable(s: &str) -> String {
    s.chars().take(128).map(|c| if c.is_control() { '\u{fffd}' } else { c }).collect()
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
    let (ok, body) = app.store.readiness().await;
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let mut r = (status, serde_json::to_vec(&body).unwrap()).into_response();
    if !ok {
        r = with_retry_after(r, RETRY_AFTER_UNAVAILABLE);
    }
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// Compares in constant time (the `subtle` crate: no early exit, no data-dependent
/// branch the optimizer could introduce), so timing does not reveal a matching prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_media_types() {
        let is = |ct: &str| is_json(&HeaderMap::from_iter([(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap())]));
        for ct in ["application/json", "Application/JSON; charset=utf-8", "application/vnd.api+json", "application/problem+json;q=1"] {
            assert!(is(ct), "{ct}");
        }
        for ct in ["text/json", "application/jsonx", "application/x-json", "application/json-seq", "", "application/", "json"] {
            assert!(!is(ct), "{ct}");
        }
        assert!(!is_json(&HeaderMap::new()));
    }
}
