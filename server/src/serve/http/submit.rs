//! `POST /v1/pcs/submit` (SPEC §6): tenant and rate limit, media type, body size,
//! parse, signature, quota, then log → dedup lookup → store → answer under the
//! key's lock. [`admit`] and [`Decided::judge`] are also what the replay of an old
//! log runs, so a record is judged one way whether it arrives live or from the log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use fractal_core::{Error as CoreError, Pcs, verify};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tokio::sync::oneshot;

use super::super::config::Policy;
use super::super::store::{Absent, OutcomeStore, Put, now_secs};
use super::super::store::Outcome;
use super::super::wal::{Decided, Ticket};
use super::*;

pub(super) async fn submit<S: OutcomeStore>(State(app): State<Arc<App<S>>>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let r = submit_inner(&app, &headers, body).await;
    app.routes.done(&app.routes.submit, started, r)
}

/// The signature check of a submission: the one place it happens.
pub fn check_signature(policy: Policy, verifier: &fractal_core::Verifier, pcs: &Pcs) -> Result<(), CoreError> {
    match policy {
        Policy::Require(_) => verifier.verify(pcs),
        Policy::None => Ok(()),
    }
}

/// Steps 4 and 5 of a submission (SPEC §6), live and in the replay of a log written
/// before decisions were logged: the record parsed, and its signature checked.
pub fn admit(policy: Policy, verifier: &fractal_core::Verifier, body: &[u8]) -> Result<Pcs, Admission> {
    let pcs = Pcs::from_json(body).map_err(Admission::Malformed)?;
    match check_signature(policy, verifier, &pcs) {
        Ok(()) => Ok(pcs),
        Err(e) => Err(Admission::Refused(Box::new(pcs), e)),
    }
}

/// Why [`admit`] refused a record.
pub enum Admission {
    /// It did not parse.
    Malformed(CoreError),
    /// It parsed, and its signature was refused.
    Refused(Box<Pcs>, CoreError),
}

impl Decided {
    /// The outcome of an admitted record under a tenant's parameters, accepted at
    /// `accepted_at` and kept for `ttl_secs`: verification is a pure function of the
    /// two, so the log carries its result and a replay restores it without judging
    /// again.
    pub fn judge(pcs: &Pcs, params: &fractal_core::VerifyParams, accepted_at: u64, ttl_secs: u64) -> (Decided, fractal_core::VerifyResult) {
        let result = verify(pcs, params);
        let decided = Decided {
            pcs_id: pcs.pcs_id.clone(),
            status: result.http_status(),
            outcome: serde_json::to_vec(&result).expect("a VerifyResult always serializes"),
            accepted_at,
            expires_at: accepted_at.saturating_add(ttl_secs),
            origin: None,
        };
        (decided, result)
    }

    /// The log's record of a repeat answered from the store: the stored answer, and
    /// an expiry of 0. A replay restores nothing from it (the key's first record
    /// restores the outcome, and the audit chain has that one already); it is in the
    /// log because every answer is logged first (SPEC §6).
    pub fn repeat(pcs_id: String, stored: &Outcome, accepted_at: u64) -> Decided {
        Decided {
            pcs_id,
            status: stored.status,
            outcome: stored.body.clone(),
            accepted_at,
            expires_at: 0,
            origin: None,
        }
    }

    /// The stored outcome of this decision, with its region stamp if any.
    pub fn into_outcome(self, stamp: Option<fractal_core::region::Stamp>) -> Outcome {
        Outcome { status: self.status, body: self.outcome, expires_at: self.expires_at, stamp }
    }
}


async fn submit_inner<S: OutcomeStore>(app: &Arc<App<S>>, headers: &HeaderMap, body: Body) -> Response {
    // 1. Tenant and rate limit (the daily quota is charged after the signature).
    let Some(tenant_id) = tenant_of(headers) else { return unknown_tenant("(not ASCII)") };
    let Some(tenant) = app.tenants.get(tenant_id) else {
        tracing::info!(tenant = %loggable(tenant_id), status = 403, "unknown tenant");
        return unknown_tenant(tenant_id);
    };
    tenant.counters.ingest();
    if let Err(refusal) = tenant.limiter.check_rate(Instant::now()) {
        tracing::debug!(tenant = tenant_id, status = 429, reason = "rate limit exceeded", "refused");
        return with_retry_after(
            error(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "rate limit exceeded"),
            refusal.retry_after_secs(),
        );
    }
    // 2. Media type.
    if !is_json(headers) {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Content-Type must be application/json",
        );
    }
    // 3. Body size: refuse by the declared length before reading, cap the read, and
    // bound the time the client may take to send it.
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
    let bytes = match tokio::time::timeout(app.body_read_timeout, Limited::new(body, app.body_limit).collect()).await {
        Ok(Ok(c)) => c.to_bytes(),
        Ok(Err(e)) if e.is::<LengthLimitError>() => return too_large(),
        Ok(Err(_)) => return error(StatusCode::BAD_REQUEST, "invalid_json", "the request body could not be read"),
        Err(_) => {
            tracing::info!(tenant = tenant_id, status = 408, "request body not received in time");
            let mut r = error(StatusCode::REQUEST_TIMEOUT, "request_timeout", "the request body was not received in time");
            r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            return r;
        }
    };
    // 4. Parse. 5. Signature, before dedup and before the log: the log holds only
    // records that passed it, and an unsigned retry never reads a stored outcome.
    let pcs = match admit(tenant.policy, &tenant.verifier, &bytes) {
        Ok(p) => p,
        Err(Admission::Malformed(e)) => {
            tracing::info!(tenant = tenant_id, status = 400, kind = e.kind(), field = e.field(), "malformed record");
            return core_error(&e);
        }
        Err(Admission::Refused(pcs, e)) => {
            if matches!(
            e,
                CoreError::SignatureMissing
                    | CoreError::SignatureInvalid { .. }
                    | CoreError::UnsupportedSignatureVersion { .. }
            ) {
                tenant.counters.signature_errors();
            }
            tracing::info!(tenant = tenant_id, pcs_id = %loggable(&pcs.pcs_id), status = 401, kind = e.kind(), "signature refused");
            return core_error(&e);
        }
    };
    // 6. Daily quota: only authenticated submissions count.
    if let Err(refusal) = tenant.limiter.charge_quota(now_secs()) {
        tracing::debug!(tenant = tenant_id, status = 429, reason = "daily quota exhausted", "refused");
        return with_retry_after(
            error(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "daily quota exhausted"),
            refusal.retry_after_secs(),
        );
    }
    // Fail fast while the store is known to be failing: nothing is logged then.
    if !app.store.accepting_for(tenant_id, &pcs.pcs_id) {
        return unavailable("the outcome store is not answering");
    }
    // 7-10. Log → dedup lookup → store → answer, in a task of its own: a client that
    // goes away cannot cancel it half-way (a logged record whose outcome is never
    // stored, an outcome in the store's pending map that never reaches its writer).
    let (answer, answered) = oneshot::channel();
    let token = app.tasks.enter();
    let (app, tenant_id) = (app.clone(), tenant_id.to_string());
    // A repeat of a record whose outcome is stored (a client's retry, mostly) is not
    // judged: SPEC §6 verifies after the dedup lookup, and the stored answer is the
    // answer. Its log record stores nothing on replay, where a judgement logged for
    // it would be stored once the first outcome expired: an answer nobody was given.
    // With regions on, a merge may still replace an outcome, so every record takes
    // the path below.
    let peeked = if app.region.is_none() { app.store.peek(&tenant_id, &pcs.pcs_id) } else { None };
    let task: std::pin::Pin<Box<dyn Future<Output = ()> + Send>> = match peeked {
        Some(Ok(stored)) => Box::pin(async move {
            repeat(&app, &tenant_id, pcs, stored, bytes, answer).await;
            drop(token);
        }),
        peeked => {
            let seen = peeked.and_then(Result::err);
            // The outcome is decided now (verification is a pure function of the
            // record and the tenant's parameters) so that the log carries it: a replay
            // restores it and never judges again. It is only stored if the dedup
            // lookup finds nothing.
            let (decided, result) = Decided::judge(&pcs, &tenant.params, now_secs(), app.dedup_ttl_secs);
            let flags = (result.accepted, result.escalated);
            // Boxed: the future is ~4.8 KB, which the task's cell would otherwise copy
            // in at the spawn and overwrite with the output at the end (~1.5% of the
            // workers' CPU).
            Box::pin(async move {
                decide(&app, &tenant_id, decided, bytes, flags, seen, answer).await;
                drop(token);
            })
        }
    };
    tokio::spawn(task);
    answered.await.unwrap_or_else(|_| unavailable("the request could not be finished"))
}

/// Appends an authenticated record to the write-ahead log and waits until it is
/// durable; on failure, the 503 to answer.
async fn log<S: OutcomeStore>(app: &App<S>, tenant_id: &str, decided: &Decided, body: &[u8]) -> Result<Ticket, Response> {
    app.wal.append(tenant_id, decided, body).await.map_err(|e| {
        app.tenants[tenant_id].counters.wal_errors();
        tracing::error!(tenant = tenant_id, error = %e, status = 503, "write-ahead log append failed");
        unavailable("the write-ahead log is not accepting records")
    })
}

/// A repeat of a record whose outcome [`OutcomeStore::peek`] found: logged with the
/// stored answer ([`Decided::repeat`]), looked up again after the log (SPEC §6's
/// order) and answered from the store. No key lock: nothing is stored, and a stored
/// outcome never changes. If it expired meanwhile, the record is judged and goes the
/// way of a new one.
async fn repeat<S: OutcomeStore>(
    app: &App<S>,
    tenant_id: &str,
    pcs: Pcs,
    stored: Outcome,
    body: Bytes,
    answer: oneshot::Sender<Response>,
) {
    let tenant = &app.tenants[tenant_id];
    let ticket = match log(app, tenant_id, &Decided::repeat(pcs.pcs_id.clone(), &stored, now_secs()), &body).await {
        Ok(t) => t,
        Err(r) => {
            let _ = answer.send(r);
            return;
        }
    };
    match app.store.lookup(tenant_id, &pcs.pcs_id).await {
        Ok(Ok(o)) => {
            tenant.counters.dedup_hits();
            tracing::debug!(tenant = tenant_id, pcs_id = %loggable(&pcs.pcs_id), status = o.status, "dedup hit");
            let _ = answer.send(outcome_response(&o, true));
        }
        Ok(Err(_)) => {
            drop(ticket);
            let (decided, result) = Decided::judge(&pcs, &tenant.params, now_secs(), app.dedup_ttl_secs);
            decide(app, tenant_id, decided, body, (result.accepted, result.escalated), None, answer).await;
        }
        Err(e) => {
            tracing::error!(tenant = tenant_id, pcs_id = %loggable(&pcs.pcs_id), error = %e, status = 503, "store lookup failed");
            let _ = answer.send(unavailable("the outcome store is not answering"));
        }
    }
}

/// How long a request waits for another request of the same `(tenant, pcs_id)`.
const KEY_WAIT: Duration = Duration::from_secs(10);

/// Log append, dedup lookup and store for one authenticated record, under the lock
/// of its key. Answers through `answer` as soon as the answer is known; if the store
/// fails after the record was logged, answers 503 and keeps trying to store the
/// logged outcome (still under the key lock, so log order stays store order) until
/// it succeeds or the server stops, in which case the record stays in the log for
/// the next start. `seen` is what a lookup before the judgement found, if the store
/// could answer one ([`OutcomeStore::peek`]).
async fn decide<S: OutcomeStore>(
    app: &App<S>,
    tenant_id: &str,
    decided: Decided,
    body: Bytes,
    (accepted, escalated): (bool, bool),
    mut seen: Option<Absent>,
    answer: oneshot::Sender<Response>,
) {
    let tenant = &app.tenants[tenant_id];
    let pcs_id = decided.pcs_id.clone();
    let Ok(_key) = tokio::time::timeout(KEY_WAIT, app.keys.lock(tenant_id, &pcs_id)).await else {
        let _ = answer.send(unavailable("an earlier submission of this record is still being stored"));
        return;
    };
    // Regions on: the stamp is taken under the key lock, so that per key the log
    // order is the clock order (replay and import order by the clock).
    let mut decided = decided;
    let stamp = app.region.as_ref().map(|r| {
        let origin = r.origin();
        let stamp = fractal_core::region::Stamp::new(origin.hlc, &origin.region, &body);
        decided.origin = Some(origin);
        stamp
    });
    // Write-ahead log: durable before any answer.
    let ticket = match log(app, tenant_id, &decided, &body).await {
        Ok(t) => t,
        Err(r) => {
            let _ = answer.send(r);
            return;
        }
    };
    let accepted_at = decided.accepted_at;
    let outcome = decided.into_outcome(stamp);
    let mut answer = Some(answer);
    // Whether an attempt failed: a store that committed before failing to answer
    // shows this request's own outcome as "existing" on the next attempt.
    let mut failed_before = false;
    let mut backoff = Duration::from_millis(50);
    let mut stopping = app.stopping.clone();
    loop {
        let peeked = seen.take();
        let attempt = async {
            let absent = match peeked {
                // The dedup lookup after the log is the put's own: under the key's
                // shard lock, it finds what was stored since the lookup before the
                // judgement, without reading again what that one read.
                Some(absent) => absent,
                None => match app.store.lookup(tenant_id, &pcs_id).await? {
                    Ok(o) => return Ok::<_, super::super::store::StoreError>((o, true)),
                    Err(absent) => absent,
                },
            };
            match app.store.put_if_absent_seen(tenant_id, &pcs_id, outcome.clone(), absent).await? {
                Put::Inserted(o) => Ok((o, false)),
                Put::Existing(o) => Ok((o, true)),
            }
        };
        match attempt.await {
            Ok((o, hit)) => {
                if hit {
                    tenant.counters.dedup_hits();
                    tracing::debug!(tenant = tenant_id, pcs_id = %loggable(&pcs_id), status = o.status, "dedup hit");
                } else {
                    if accepted {
                        tenant.counters.accepted();
                    }
                    if escalated {
                        tenant.counters.escalated();
                    }
                    tracing::debug!(tenant = tenant_id, pcs_id = %loggable(&pcs_id), status = o.status, "stored");
                }
                if let Some(a) = answer.take() {
                    let _ = a.send(outcome_response(&o, hit));
                }
                // The audit entry, after the answer: it waits only for queue space,
                // and the ticket holds the watermark until the entry is in flight.
                if let Some(audit) = &app.audit
                    && (!hit || (failed_before && o == outcome))
                {
                    let item = super::super::audit::Item {
                        lsn: ticket.lsn(),
                        tenant: tenant_id.to_string(),
                        pcs_id: pcs_id.clone(),
                        outcome: o,
                        record_sha256: fractal_core::hex(&fractal_core::sha256(&body)),
                        at: accepted_at,
                    };
                    audit.append(item).await;
                }
                drop(ticket); // the request is finished: the watermark may pass it
                return;
            }
            Err(e) => {
                failed_before = true;
                if let Some(a) = answer.take() {
                    tracing::error!(tenant = tenant_id, pcs_id = %loggable(&pcs_id), error = %e, status = 503, "store failed; retrying the logged record");
                    let _ = a.send(unavailable("the outcome store is not answering"));
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stopping.wait_for(|s| *s) => {
                // Shutting down with the store still failing: the log keeps the
                // record and the next start stores it.
                ticket.keep();
                return;
            }
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}
