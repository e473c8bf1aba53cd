//! Contract v2 over real HTTP against the real `fractal` binary: what is judged is
//! signed (SPEC §3.2), per-tenant signature policies and the seed's encodings
//! (§4, §4.1), the §1 limits before any quadratic work, and signed reads (§6.1).

mod common;

use common::*;
use fractal_core::protocol::unix_now;
use fractal_core::{
    Algorithm, LegacyEncoding, Pcs, SigVersion, SigningFields, SigningKeyMaterial, sign_hmac_digest, sign_hmac_version,
};

const KEY: &str = "v2-tenant-secret";

fn server() -> Server {
    Server::start(&format!(
        r#"
signature_policy = "hmac"
[[tenants]]
id = "v2only"
keys = ["{KEY}"]
[[tenants]]
id = "migrating"
keys = ["{KEY}"]
signature_versions = ["v1", "v2"]
[[tenants]]
id = "legacy"
keys = ["{KEY}"]
signature_versions = ["v1", "v2"]
accept_encodings = ["seed-python", "seed-go"]
[[tenants]]
id = "open"
algorithm = "none"
"#
    ))
}

fn signed(p: &Pcs, version: SigVersion) -> Pcs {
    let mut p = p.clone();
    p.sig = Some(sign_hmac_version(&p, KEY.as_bytes(), version).unwrap());
    p
}

/// The three changes an attacker who saw a signed record first would make.
fn escalations(p: &Pcs) -> Vec<(&'static str, Pcs)> {
    let mut regime = p.clone();
    regime.regime = "non_sticky".into();
    let mut scales = p.clone();
    scales.scales.reverse();
    let mut n_j = p.clone();
    *n_j.n_j.values_mut().next().unwrap() += 1000;
    vec![("regime", regime), ("scales", scales), ("N_j", n_j)]
}

#[test]
fn a_verdict_changed_after_v2_signing_is_refused_and_v1_stays_weak() {
    let s = server();
    for (field, changed) in escalations(&signed(&record(1), SigVersion::V2)) {
        let r = s.post(Some("migrating"), &changed.to_json());
        assert_eq!(r.status, 401, "changing `{field}` after v2 signing: {:?}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.error().0, "signature_invalid");
    }
    // Nothing was stored: the genuine record is answered fresh, not as a duplicate.
    let genuine = s.post(Some("migrating"), &signed(&record(1), SigVersion::V2).to_json());
    assert_eq!((genuine.status, genuine.dedup_hit()), (200, false), "{:?}", String::from_utf8_lossy(&genuine.body));

    // v1 signs only eight fields: the same change goes through on a v1 tenant
    // (SPEC §3.1, the documented weakness of v1).
    let v1 = signed(&record(2), SigVersion::V1);
    let (_, tampered) = escalations(&v1).remove(0);
    let r = s.post(Some("migrating"), &tampered.to_json());
    assert_eq!(r.status, 202, "{:?}", String::from_utf8_lossy(&r.body));
    assert!(r.json()["reason"].as_str().unwrap().contains("regime"));
}

#[test]
fn a_v1_signature_on_a_v2_only_tenant_is_an_unsupported_version() {
    let s = server();
    let v1 = signed(&record(3), SigVersion::V1).to_json();
    let r = s.post(Some("v2only"), &v1);
    assert_eq!((r.status, r.error().0.as_str()), (401, "unsupported_signature_version"));
    let r = s.post(Some("migrating"), &v1);
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    let mut v3 = record(4);
    v3.sig = Some("v3:AAAA".into());
    let r = s.post(Some("migrating"), &v3.to_json());
    assert_eq!((r.status, r.error().0.as_str()), (401, "unsupported_signature_version"));
}

#[test]
fn the_seed_clients_encodings_verify_only_where_listed() {
    let s = server();
    for (epoch, enc) in [(10u64, LegacyEncoding::SeedPython), (11, LegacyEncoding::SeedGo)] {
        let mut p = record(epoch);
        // Values on which the encodings differ from the canonical v1 bytes.
        p.shard_id = "shard<&>\u{2028}é".into();
        p.pcs_id = fractal_core::pcs_id(&p.merkle_root, p.epoch, &p.shard_id);
        let digest = enc.digest(&SigningFields::from(&p)).unwrap();
        p.sig = Some(sign_hmac_digest(&digest, KEY.as_bytes()).unwrap());
        let body = p.to_json();
        for tenant in ["v2only", "migrating"] {
            let r = s.post(Some(tenant), &body);
            assert_eq!(r.status, 401, "{enc} on {tenant}");
        }
        let r = s.post(Some("legacy"), &body);
        assert!(matches!(r.status, 200 | 202), "{enc} on legacy: {:?}", String::from_utf8_lossy(&r.body));
    }
}

fn rss_kib(s: &Server) -> u64 {
    let pid = s.child.as_ref().unwrap().id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn forty_thousand_scales_are_refused_by_name_before_any_quadratic_work() {
    let s = server();
    let mut v = record(20).to_value();
    let scales: Vec<i64> = (1..=40_000).collect();
    v["scales"] = serde_json::json!(scales);
    let body = serde_json::to_vec(&v).unwrap();
    assert!(body.len() < 1 << 20, "{} bytes", body.len());
    let before = rss_kib(&s);
    for _ in 0..20 {
        let r = s.post(Some("open"), &body);
        assert_eq!(r.status, 400, "{:?}", String::from_utf8_lossy(&r.body));
        let (code, message) = r.error();
        assert_eq!(code, "invalid_field");
        assert!(message.contains("`scales`"), "{message}");
    }
    // Theil–Sen over 40,000 scales needs ~6 GB of slopes; refusing at the 65th
    // entry keeps the process where it was (a loose bound: allocator noise only).
    let grown = rss_kib(&s).saturating_sub(before);
    assert!(grown < 64 * 1024, "RSS grew by {grown} KiB");
    // 65 entries of N_j or v_star, and a 129-byte shard_id, are refused likewise.
    for (field, value) in [
        ("v_star", serde_json::json!(vec![0.5; 65])),
        ("shard_id", serde_json::json!("s".repeat(129))),
    ] {
        let mut w = record(21).to_value();
        w[field] = value;
        let r = s.post(Some("open"), &serde_json::to_vec(&w).unwrap());
        assert_eq!(r.status, 400);
        assert!(r.error().1.contains(&format!("`{field}`")), "{:?}", r.error());
    }
}

fn get_with(s: &Server, tenant: &str, pcs_id: &str, auth: Option<&str>) -> Resp {
    let mut h = vec![("X-Tenant-Id", tenant)];
    if let Some(a) = auth {
        h.push(("Authorization", a));
    }
    request(s.addr, "GET", &format!("/v1/pcs/{pcs_id}"), &h, b"")
}

#[test]
fn reads_of_a_signed_tenant_are_authenticated() {
    let s = server();
    let p = signed(&record(30), SigVersion::V2);
    assert_eq!(s.post(Some("v2only"), &p.to_json()).status, 200);
    let key = SigningKeyMaterial::parse(Algorithm::Hmac, KEY).unwrap();
    let now = unix_now();

    let r = get_with(&s, "v2only", &p.pcs_id, None);
    assert_eq!((r.status, r.error().0.as_str()), (401, "signature_missing"));
    let stale = key.read_authorization("v2only", &p.pcs_id, now - 3600).unwrap();
    let r = get_with(&s, "v2only", &p.pcs_id, Some(&stale));
    assert_eq!((r.status, r.error().0.as_str()), (401, "signature_invalid"));
    // Signed for another tenant or another id: refused.
    for (tenant, id) in [("migrating", p.pcs_id.as_str()), ("v2only", "00")] {
        let other = key.read_authorization(tenant, id, now).unwrap();
        let r = get_with(&s, "v2only", &p.pcs_id, Some(&other));
        assert_eq!(r.status, 401);
    }
    let wrong = SigningKeyMaterial::parse(Algorithm::Hmac, "not-the-key").unwrap();
    let r = get_with(&s, "v2only", &p.pcs_id, Some(&wrong.read_authorization("v2only", &p.pcs_id, now).unwrap()));
    assert_eq!(r.status, 401);

    let good = key.read_authorization("v2only", &p.pcs_id, now).unwrap();
    let r = get_with(&s, "v2only", &p.pcs_id, Some(&good));
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["accepted"], true);

    // A tenant whose policy is `none` stays open.
    let open = record(31);
    assert_eq!(s.post(Some("open"), &open.to_json()).status, 200);
    assert_eq!(get_with(&s, "open", &open.pcs_id, None).status, 200);
}

#[test]
fn the_cli_get_signs_its_read() {
    let s = server();
    let p = signed(&record(40), SigVersion::V2);
    assert_eq!(s.post(Some("v2only"), &p.to_json()).status, 200);
    let run = |key: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_fractal"))
            .args(["get", "--url", &format!("http://{}", s.addr), "--tenant", "v2only", &p.pcs_id])
            .env("FRACTAL_HMAC_KEY", key)
            .output()
            .unwrap()
    };
    let out = run(KEY);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["found"].as_bool(), v["result"]["accepted"].as_bool()), (Some(true), Some(true)));
    let out = run("wrong-key");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("signature_invalid"), "{}", String::from_utf8_lossy(&out.stderr));
}
