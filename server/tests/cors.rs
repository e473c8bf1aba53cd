//! Browsers (SPEC §6): `OPTIONS` preflight and CORS headers for the origins a
//! tenant lists (`cors_origins`), over real HTTP against the real binary. The
//! browser side (a page on another origin submitting with the WebAssembly SDK)
//! is bindings/wasm/test, run by `make test-web`.

mod common;

use std::process::Command;

use common::*;

const APP: &str = "http://app.example:5173";
const OTHER: &str = "https://evil.example";

fn server() -> Server {
    Server::start(&format!(
        r#"
[[tenants]]
id = "default"
cors_origins = ["{APP}"]
[[tenants]]
id = "closed"
"#
    ))
}

fn preflight(s: &Server, origin: &str, path: &str) -> Resp {
    request(
        s.addr,
        "OPTIONS",
        path,
        &[
            ("Origin", origin),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type,x-tenant-id,authorization"),
        ],
        b"",
    )
}

#[test]
fn a_listed_origin_gets_its_preflight_granted() {
    let s = server();
    for path in ["/v1/pcs/submit", "/v1/pcs/abc"] {
        let r = preflight(&s, APP, path);
        assert_eq!(r.status, 204, "{path}");
        assert_eq!(r.header("access-control-allow-origin"), Some(APP));
        let methods = r.header("access-control-allow-methods").unwrap();
        assert!(methods.contains("POST") && methods.contains("GET"), "{methods}");
        let allowed = r.header("access-control-allow-headers").unwrap().to_ascii_lowercase();
        for h in ["content-type", "x-tenant-id", "authorization"] {
            assert!(allowed.contains(h), "{h} in {allowed}");
        }
        assert!(r.header("access-control-max-age").is_some());
        assert_eq!(r.header("vary"), Some("Origin"));
        assert!(r.body.is_empty());
    }
}

#[test]
fn an_unlisted_origin_gets_no_grant() {
    let s = server();
    let r = preflight(&s, OTHER, "/v1/pcs/submit");
    assert_eq!(r.status, 204);
    for h in ["access-control-allow-origin", "access-control-allow-methods", "access-control-allow-headers"] {
        assert_eq!(r.header(h), None, "{h}");
    }
    // The answer to the request itself carries no grant either.
    let body = hmac_free(1);
    let r = request(s.addr, "POST", "/v1/pcs/submit", &[("Content-Type", "application/json"), ("Origin", OTHER)], &body);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), None);
}

fn hmac_free(epoch: u64) -> Vec<u8> {
    record(epoch).to_json()
}

#[test]
fn answers_carry_the_grant_and_expose_dedup_and_retry_after() {
    let s = server();
    let body = hmac_free(2);
    let h = [("Content-Type", "application/json"), ("Origin", APP)];
    let first = request(s.addr, "POST", "/v1/pcs/submit", &h, &body);
    assert_eq!(first.status, 200);
    assert_eq!(first.header("access-control-allow-origin"), Some(APP));
    let exposed = first.header("access-control-expose-headers").unwrap().to_ascii_lowercase();
    assert!(exposed.contains("x-dedup") && exposed.contains("retry-after"), "{exposed}");
    assert_eq!(first.header("vary"), Some("Origin"));
    let again = request(s.addr, "POST", "/v1/pcs/submit", &h, &body);
    assert!(again.dedup_hit());
    assert_eq!(again.header("access-control-allow-origin"), Some(APP));
    // Error answers too, so a page can read why it was refused.
    let bad = request(s.addr, "POST", "/v1/pcs/submit", &h, b"{");
    assert_eq!(bad.status, 400);
    assert_eq!(bad.header("access-control-allow-origin"), Some(APP));
    // A lookup.
    let id = record(2).pcs_id;
    let got = request(s.addr, "GET", &format!("/v1/pcs/{id}"), &[("Origin", APP)], b"");
    assert_eq!(got.status, 200);
    assert_eq!(got.header("access-control-allow-origin"), Some(APP));
}

#[test]
fn the_grant_is_per_tenant() {
    let s = server();
    let body = hmac_free(3);
    let r = request(
        s.addr,
        "POST",
        "/v1/pcs/submit",
        &[("Content-Type", "application/json"), ("Origin", APP), ("X-Tenant-Id", "closed")],
        &body,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), None, "tenant `closed` lists no origin");
}

#[test]
fn requests_without_origin_are_unchanged() {
    let s = server();
    let r = s.post(None, &hmac_free(4));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), None);
    assert_eq!(r.header("vary"), None);
    // OPTIONS that is not a preflight is still a method the API does not have.
    let r = request(s.addr, "OPTIONS", "/v1/pcs/submit", &[], b"");
    assert_eq!(r.status, 405);
}

#[test]
fn a_malformed_origin_in_the_config_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["app.example", "https://app.example/", "https://*.example", "ftp://x"] {
        let path = dir.path().join("c.toml");
        std::fs::write(&path, format!("[[tenants]]\nid = \"t\"\ncors_origins = [{bad:?}]\n")).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_fractal"))
            .args(["serve", "--config"])
            .arg(&path)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .output()
            .unwrap();
        assert!(!out.status.success(), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("cors_origins") && err.contains("tenant \"t\""), "{bad}: {err}");
    }
}
