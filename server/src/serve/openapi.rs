//! The OpenAPI 3.1 description of the HTTP API (SPEC §6), served at
//! `GET /openapi.json` and committed as `docs/openapi.json`.
//!
//! This module is the one place the description is kept. The limits it states come
//! from the core's constants, the error codes and statuses from the handlers' own
//! answers (`http.rs`); a unit test fails when `docs/openapi.json` differs from
//! [`document`], and `make test-ops` checks a live server's answers against it
//! (schemathesis) and that the server serves exactly the committed file.
//!
//! Regenerate the committed file after a change here:
//! `FRACTAL_WRITE_OPENAPI=1 cargo test -p fractal-server --lib openapi` (or `make openapi`).

use std::sync::LazyLock;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fractal_core::{MAX_ENTRIES, MAX_EPOCH, MAX_ID_BYTES, MAX_SAFE_INTEGER, SCHEMA};
use serde_json::{Value, json};

/// Version of the API description: the wire contract it describes (SPEC v2).
pub const API_VERSION: &str = "2.0.0";

/// The description, pretty-printed with a final newline, exactly as committed.
pub static DOCUMENT_BYTES: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let mut bytes = serde_json::to_vec_pretty(&document()).expect("a JSON value always serializes");
    bytes.push(b'\n');
    bytes
});

/// `GET /openapi.json`.
pub async fn serve() -> Response {
    let mut r = (StatusCode::OK, DOCUMENT_BYTES.as_slice()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// An error answer `{"error":{"code","message"}}` whose code is one of `codes`.
fn error_response(description: &str, codes: &[&str], headers: Value) -> Value {
    let mut r = json!({
        "description": description,
        "content": { "application/json": { "schema": {
            "type": "object",
            "required": ["error"],
            "additionalProperties": false,
            "properties": { "error": {
                "type": "object",
                "required": ["code", "message"],
                "additionalProperties": false,
                "properties": {
                    "code": { "type": "string", "enum": codes },
                    "message": { "type": "string" }
                }
            } }
        } } }
    });
    if headers.as_object().is_some_and(|h| !h.is_empty()) {
        r["headers"] = headers;
    }
    r
}

fn retry_after() -> Value {
    json!({ "Retry-After": { "$ref": "#/components/headers/Retry-After" } })
}

fn no_headers() -> Value {
    json!({})
}

/// The answers every tenant-scoped route shares.
fn tenant_errors() -> Vec<(&'static str, Value)> {
    vec![
        ("403", error_response("The `X-Tenant-Id` names no configured tenant.", &["unknown_tenant"], no_headers())),
        (
            "503",
            error_response(
                "The outcome store or the write-ahead log is not answering (fail closed; retry after `Retry-After`).",
                &["store_unavailable"],
                retry_after(),
            ),
        ),
    ]
}

fn verify_result(description: &str, dedup_header: bool) -> Value {
    let mut r = json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/VerifyResult" } } }
    });
    if dedup_header {
        r["headers"] = json!({ "X-Dedup": { "$ref": "#/components/headers/X-Dedup" } });
    }
    r
}

fn responses(entries: Vec<(&str, Value)>) -> Value {
    Value::Object(entries.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// The request and result schemas.
fn schemas() -> Value {
    json!({
        "VerifyResult": {
            "type": "object",
            "description": "The verification outcome (SPEC §5).",
            "required": ["accepted", "escalated"],
            "additionalProperties": false,
            "properties": {
                "accepted": { "type": "boolean" },
                "escalated": { "type": "boolean" },
                "recomputed_D_hat": { "type": "number", "description": "Theil–Sen estimate recomputed from `scales` and `N_j`, when it could be." },
                "recomputed_budget": { "type": "number", "description": "Budget recomputed from the record, when verification got that far." },
                "reason": { "type": "string", "description": "Why the record was not plainly accepted." }
            }
        },
        "Pcs": {
            "type": "object",
            "description": "A Proof-of-Computation Summary (SPEC §1). Unknown fields are accepted (v2 signs them). Semantic problems are not refused: they give an escalated outcome (202).",
            "required": ["pcs_id", "schema", "version", "shard_id", "epoch", "coh_star", "D_hat", "r", "budget", "merkle_root"],
            "properties": {
                "pcs_id": { "type": "string", "description": "64 lowercase hex digits, pcs_id(merkle_root, epoch, shard_id) (SPEC §2).", "pattern": "^[0-9a-f]{64}$" },
                "schema": { "type": "string", "const": SCHEMA },
                "version": { "type": "string", "minLength": 1 },
                "shard_id": { "type": "string", "minLength": 1, "maxLength": MAX_ID_BYTES, "description": format!("1–{MAX_ID_BYTES} bytes of UTF-8.") },
                "epoch": { "type": "integer", "minimum": 0, "maximum": MAX_EPOCH },
                "attempt": { "type": "integer", "default": 1 },
                "sent_at": { "type": "string", "description": "RFC 3339 timestamp." },
                "seed": { "type": "integer", "minimum": -MAX_SAFE_INTEGER, "maximum": MAX_SAFE_INTEGER },
                "scales": { "type": "array", "maxItems": MAX_ENTRIES, "items": { "type": "integer", "minimum": 1 } },
                "N_j": {
                    "type": "object",
                    "maxProperties": MAX_ENTRIES,
                    "description": "Keys are the decimal strings of `scales`.",
                    "propertyNames": { "pattern": "^[1-9][0-9]*$" },
                    "additionalProperties": { "type": "integer", "minimum": 1 }
                },
                "coh_star": { "type": "number" },
                "v_star": { "type": "array", "maxItems": MAX_ENTRIES, "items": { "type": "number" } },
                "D_hat": { "type": "number" },
                "r": { "type": "number" },
                "regime": { "type": "string", "enum": ["sticky", "mixed", "non_sticky"] },
                "budget": { "type": "number" },
                "merkle_root": { "type": "string", "minLength": 1, "maxLength": MAX_ID_BYTES },
                "sig": { "type": "string", "description": "v2: `v2:` + standard base64 (SPEC §4); v1: standard base64. Required when the tenant demands signatures." },
                "ft": {
                    "type": "object",
                    "properties": {
                        "outbox_seq": { "type": "integer" },
                        "degraded": { "type": "boolean" },
                        "fallbacks": { "type": "array", "items": { "type": "string" } },
                        "clock_skew_ms": { "type": "integer" }
                    }
                }
            }
        }
    })
}

/// The CORS preflight of an API path (SPEC §6 Browsers; the `cors` layer in `http.rs`).
fn preflight(id: &str) -> Value {
    let optional = |d: &str, v: Value| json!({ "description": d, "required": false, "schema": v });
    json!({
        "operationId": id,
        "summary": "CORS preflight: granted to an origin that some tenant lists in `cors_origins`.",
        "parameters": [
            { "name": "Origin", "in": "header", "required": true, "schema": { "type": "string" } },
            { "name": "Access-Control-Request-Method", "in": "header", "required": true, "schema": { "type": "string" } }
        ],
        "responses": {
            "405": error_response(
                "Not a preflight: `OPTIONS` without `Origin` or `Access-Control-Request-Method`.",
                &["method_not_allowed"],
                no_headers(),
            ),
            "204": {
            "description": "The preflight's answer; the `Access-Control-Allow-*` headers only when some tenant lists the origin.",
            "headers": {
                "Access-Control-Allow-Origin": optional("The request's `Origin`.", json!({ "type": "string" })),
                "Access-Control-Allow-Methods": optional("`GET, POST`.", json!({ "const": "GET, POST" })),
                "Access-Control-Allow-Headers": optional("`Content-Type, X-Tenant-Id, Authorization`.", json!({ "const": "Content-Type, X-Tenant-Id, Authorization" })),
                "Access-Control-Max-Age": optional("`600`.", json!({ "const": "600" }))
            }
        } }
    })
}

/// The OpenAPI 3.1 document.
pub fn document() -> Value {
    let tenant_header = json!({ "$ref": "#/components/parameters/X-Tenant-Id" });

    let mut submit = vec![
        (
            "200",
            verify_result(
                "Accepted and not escalated (or the stored outcome of a duplicate, with `X-Dedup: hit`).",
                true,
            ),
        ),
        (
            "202",
            verify_result(
                "Escalated or not accepted (or the stored outcome of a duplicate, with `X-Dedup: hit`).",
                true,
            ),
        ),
        (
            "400",
            error_response(
                "Malformed record (SPEC §1): `invalid_json`, or `invalid_field` whose message names the field.",
                &["invalid_json", "invalid_field"],
                no_headers(),
            ),
        ),
        (
            "401",
            error_response(
                "The tenant requires signatures and the record's `sig` is missing, wrong, or of a version it does not accept.",
                &["signature_missing", "signature_invalid", "unsupported_signature_version"],
                no_headers(),
            ),
        ),
        (
            "408",
            error_response(
                "The body did not arrive within `body_read_timeout_secs`; the connection is closed.",
                &["request_timeout"],
                no_headers(),
            ),
        ),
        (
            "413",
            error_response(
                "The body is larger than `body_limit` (1 MiB by default).",
                &["payload_too_large"],
                no_headers(),
            ),
        ),
        (
            "415",
            error_response(
                "`Content-Type` is not `application/json` (nor `application/*+json`).",
                &["unsupported_media_type"],
                no_headers(),
            ),
        ),
        (
            "429",
            error_response("The tenant's rate limit or daily quota is exhausted.", &["rate_limited"], retry_after()),
        ),
    ];
    submit.extend(tenant_errors());

    let mut lookup = vec![
        ("200", verify_result("The stored outcome, byte for byte as it was answered.", false)),
        (
            "401",
            error_response(
                "The tenant requires signatures and the read's `Authorization` header is missing, wrong or stale (SPEC §6.1).",
                &["signature_missing", "signature_invalid"],
                json!({ "WWW-Authenticate": {
                    "description": "Always `Fractal`.",
                    "required": true,
                    "schema": { "type": "string", "const": "Fractal" }
                } }),
            ),
        ),
        ("404", error_response("No outcome is stored for this tenant and `pcs_id`.", &["not_found"], no_headers())),
    ];
    lookup.extend(tenant_errors());

    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Fractal LBA reference server",
            "version": API_VERSION,
            "summary": "Submit Proof-of-Computation Summaries, read their stored outcomes (SPEC §6).",
            "description": "`fractal serve`: every submission passes tenant and rate limit → media type → body size → parse → signature → daily quota → write-ahead log (fsynced) → dedup lookup → store → answer. An outcome, once answered, never changes before its TTL. Errors are `{\"error\":{\"code\",\"message\"}}`. See docs/server.md.",
            "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" }
        },
        "paths": {
            "/v1/pcs/submit": { "post": {
                "operationId": "submitPcs",
                "summary": "Submit a record; answers its verification outcome (SPEC §6).",
                "description": "The signature (for tenants whose algorithm is not `none`) is the record's own `sig` field (SPEC §4). A duplicate of a stored record (same tenant, same `pcs_id`) gets the stored outcome with its original status and `X-Dedup: hit`.",
                "parameters": [tenant_header],
                "requestBody": {
                    "required": true,
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Pcs" } } }
                },
                "responses": responses(submit)
            }, "options": preflight("submitPreflight") },
            "/v1/pcs/{pcs_id}": {
                "parameters": [{
                    "name": "pcs_id",
                    "in": "path",
                    "required": true,
                    "description": "The record's `pcs_id` (SPEC §2).",
                    "schema": { "type": "string", "pattern": "^[0-9a-f]{64}$" }
                }],
                "get": {
                "operationId": "getOutcome",
                "summary": "Read the stored outcome of a record (SPEC §6, §6.1).",
                "parameters": [tenant_header],
                "security": [{}, { "fractalRead": [] }],
                "responses": responses(lookup)
            }, "options": preflight("getOutcomePreflight") },
            "/health": { "get": {
                "operationId": "health",
                "summary": "Liveness: 200 while the process serves.",
                "responses": { "200": {
                    "description": "The process serves.",
                    "content": { "application/json": { "schema": {
                        "type": "object", "required": ["status"], "additionalProperties": false,
                        "properties": { "status": { "const": "ok" } }
                    } } }
                } }
            } },
            "/ready": { "get": {
                "operationId": "ready",
                "summary": "Readiness: 200 when the write-ahead log and the outcome store answer.",
                "responses": {
                    "200": {
                        "description": "The log and the store answer.",
                        "content": { "application/json": { "schema": {
                            "type": "object", "required": ["status"], "additionalProperties": false,
                            "properties": { "status": { "const": "ready" } }
                        } } }
                    },
                    "503": error_response("The log or the store is not answering.", &["store_unavailable"], retry_after())
                }
            } },
            "/metrics": { "get": {
                "operationId": "metrics",
                "summary": "Prometheus text exposition (Basic authentication when `[metrics]` is configured).",
                "security": [{}, { "metricsBasic": [] }],
                "responses": {
                    "200": {
                        "description": "The metrics (docs/server.md lists them).",
                        "content": { "text/plain": { "schema": { "type": "string" } } }
                    },
                    "401": error_response(
                        "`[metrics]` credentials are configured and the request's are missing or wrong.",
                        &["unauthorized"],
                        json!({ "WWW-Authenticate": {
                            "description": "`Basic realm=\"metrics\"`.",
                            "required": true,
                            "schema": { "type": "string", "const": "Basic realm=\"metrics\"" }
                        } })
                    )
                }
            } },
            "/openapi.json": { "get": {
                "operationId": "openapi",
                "summary": "This description (the same bytes as docs/openapi.json).",
                "responses": { "200": {
                    "description": "The OpenAPI 3.1 document.",
                    "content": { "application/json": { "schema": {
                        "type": "object", "required": ["openapi", "info", "paths"],
                        "properties": { "openapi": { "const": "3.1.0" } }
                    } } }
                } }
            } }
        },
        "components": {
            "parameters": {
                "X-Tenant-Id": {
                    "name": "X-Tenant-Id",
                    "in": "header",
                    "required": false,
                    "description": "The tenant; `default` without the header. Dedup keys are `(tenant, pcs_id)`.",
                    "schema": { "type": "string" }
                }
            },
            "headers": {
                "Retry-After": {
                    "description": "Seconds to wait before retrying (delta-seconds).",
                    "required": true,
                    "schema": { "type": "string", "pattern": "^[0-9]+$" }
                },
                "X-Dedup": {
                    "description": "`hit` when the answer is the stored outcome of an earlier submission.",
                    "required": false,
                    "schema": { "type": "string", "const": "hit" }
                }
            },
            "securitySchemes": {
                "fractalRead": {
                    "type": "http",
                    "scheme": "Fractal",
                    "description": "SPEC §6.1, for tenants whose algorithm is not `none`: `Authorization: Fractal t=<unix seconds>, sig=<base64>`, `sig` being the tenant's HMAC or Ed25519 signature of SHA-256(\"fractal-lba/read/v1\\n\" ‖ tenant ‖ \"\\n\" ‖ pcs_id ‖ \"\\n\" ‖ t), within ±300 s of the server's clock. The SDKs' `get` and `fractal get` sign reads."
                },
                "metricsBasic": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "Only when `[metrics] username` and a password are configured."
                }
            },
            "schemas": schemas()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");

    /// docs/openapi.json is exactly what the server serves; with
    /// FRACTAL_WRITE_OPENAPI=1 the test rewrites it instead.
    #[test]
    fn committed_document_is_current() {
        if std::env::var_os("FRACTAL_WRITE_OPENAPI").is_some() {
            std::fs::write(COMMITTED, DOCUMENT_BYTES.as_slice()).unwrap();
        }
        let committed = std::fs::read(COMMITTED).unwrap_or_default();
        assert!(
            committed == *DOCUMENT_BYTES,
            "docs/openapi.json is stale: run `make openapi` (FRACTAL_WRITE_OPENAPI=1 cargo test -p fractal-server --lib openapi) and commit it"
        );
    }

    /// Every status the handlers can answer on a route is described, and nothing else.
    #[test]
    fn statuses_match_the_handlers() {
        let doc = document();
        let statuses = |path: &str, method: &str| -> Vec<String> {
            let mut s: Vec<String> =
                doc["paths"][path][method]["responses"].as_object().unwrap().keys().cloned().collect();
            s.sort();
            s
        };
        assert_eq!(
            statuses("/v1/pcs/submit", "post"),
            ["200", "202", "400", "401", "403", "408", "413", "415", "429", "503"]
        );
        assert_eq!(statuses("/v1/pcs/{pcs_id}", "get"), ["200", "401", "403", "404", "503"]);
        assert_eq!(statuses("/ready", "get"), ["200", "503"]);
        assert_eq!(statuses("/metrics", "get"), ["200", "401"]);
        assert_eq!(statuses("/v1/pcs/submit", "options"), ["204", "405"]);
        assert_eq!(statuses("/v1/pcs/{pcs_id}", "options"), ["204", "405"]);
        // Every $ref resolves.
        let text = doc.to_string();
        for part in text.split("\"$ref\":\"#/").skip(1) {
            let target = &part[..part.find('"').unwrap()];
            let mut node = &doc;
            for key in target.split('/') {
                node = &node[key];
            }
            assert!(!node.is_null(), "dangling $ref #/{target}");
        }
    }
}
