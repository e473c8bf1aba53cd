use fractal_core::Algorithm;

use super::*;

fn parse(s: &str) -> anyhow::Result<Config> {
    Config::resolve(toml::from_str(s)?, &Overrides::default())
}

#[test]
fn embedded_defaults() {
    let c = parse("").unwrap();
    assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
    assert_eq!(c.body_limit, 1 << 20);
    assert_eq!(c.dedup_ttl_secs, 14 * 86400);
    assert_eq!(c.tenants.len(), 1);
    assert_eq!(c.tenants[0].id, "default");
    assert_eq!(c.tenants[0].policy, Policy::None);
}

#[test]
fn tenants_keys_and_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let kf = dir.path().join("k");
    std::fs::write(&kf, "from-file\n").unwrap();
    let c = parse(&format!(
        r#"
signature_policy = "hmac"
[[tenants]]
id = "acme"
keys = ["inline"]
key_files = [{kf:?}]
rate = 10
burst = 20
daily_quota = 100
[tenants.verify]
tol_d = 0.3
[[tenants]]
id = "open"
algorithm = "none"
"#
    ))
    .unwrap();
    assert_eq!(c.tenants[0].verifier.len(), 2);
    assert_eq!(c.tenants[0].params.tol_d, 0.3);
    assert_eq!(c.tenants[0].burst, 20.0);
    assert_eq!(c.tenants[1].policy, Policy::None);
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("inline") && !dbg.contains("from-file"), "no key in Debug output: {dbg}");
}

#[test]
fn bad_configs_name_the_problem() {
    let e = parse("signature_policy = \"rsa\"").unwrap_err().to_string();
    assert!(e.contains("signature_policy"), "{e}");
    let e = parse("[[tenants]]\nid = \"a\"\nalgorithm = \"hmac\"").unwrap_err().to_string();
    assert!(e.contains("needs at least one key"), "{e}");
    let e = parse("[[tenants]]\nid = \"a b\"").unwrap_err().to_string();
    assert!(e.contains("tenant id"), "{e}");
    let e = parse("[[tenants]]\nid = \"a\"\nalgorithm = \"ed25519\"\nkeys = [\"secret-not-base64\"]")
        .unwrap_err()
        .to_string();
    assert!(e.contains("key #1") && !e.contains("secret-not-base64"), "{e}");
    assert!(parse("bogus = 1").is_err());
    let e = parse("[metrics]\nusername = \"u\"").unwrap_err().to_string();
    assert!(e.contains("metrics"), "{e}");
}

#[test]
fn bounded_keys_give_a_typed_error_naming_the_key() {
    let e = parse("dedup_ttl_secs = 0").unwrap_err();
    let typed = e.downcast_ref::<OutOfRange>().expect("a typed error");
    assert_eq!((typed.key, typed.value), ("dedup_ttl_secs", 0));
    let e = parse("dedup_ttl_secs = 18446744073709551615").unwrap_err();
    assert_eq!(e.downcast_ref::<OutOfRange>().unwrap().key, "dedup_ttl_secs");
    assert!(e.to_string().contains("dedup_ttl_secs"), "{e}");
    let e = parse("[http]\nheader_read_timeout_secs = 0").unwrap_err();
    assert_eq!(e.downcast_ref::<OutOfRange>().unwrap().key, "http.header_read_timeout_secs");
    let e = parse("[http]\nmax_connections = 0").unwrap_err();
    assert_eq!(e.downcast_ref::<OutOfRange>().unwrap().key, "http.max_connections");
    let c = parse("").unwrap();
    assert_eq!(c.http.header_read_timeout, Duration::from_secs(10));
    assert_eq!(c.http.body_read_timeout, Duration::from_secs(30));
    assert_eq!(c.http.idle_timeout, Duration::from_secs(60));
    assert_eq!(c.http.max_connections, DEFAULT_MAX_CONNECTIONS);
    assert_eq!(c.http.shutdown_grace, Duration::from_secs(30));
}

#[test]
fn shared_store_keys_resolve_and_are_checked() {
    let c = parse(
        r#"
[store]
backend = "postgres"
[[store.shards]]
name = "a"
url = "postgres://u:hunter2@h/db"
[[store.shards]]
name = "b"
url = "postgres://u@h2/db"
weight = 3
[store.hot]
url = "redis://h:6379/0"
[store.cold]
url = "s3://bucket/prefix"
[[tenants]]
id = "t"
warm_ttl_secs = 60
[[tenants]]
id = "u"
cold = false
hot_ttl_secs = 5
"#,
    )
    .unwrap();
    let sh = c.shared.as_ref().unwrap();
    assert_eq!((sh.shards.len(), sh.shards[1].weight, sh.vnodes, sh.hot.as_ref().unwrap().1), (2, 3, 150, 3600));
    assert_eq!(c.tenants[0].tiers, TierPolicy { hot_ttl_secs: 3600, warm_ttl_secs: 60, cold: true });
    assert_eq!(c.tenants[1].tiers, TierPolicy { hot_ttl_secs: 5, warm_ttl_secs: DEFAULT_DEDUP_TTL_SECS, cold: false });
    assert!(!format!("{c:?}").contains("hunter2"), "shard URLs stay out of Debug output");
    assert!(parse("").unwrap().shared.is_none(), "embedded by default");
    for (bad, says) in [
        ("[store]\nbackend = \"postgres\"", "needs at least one"),
        ("[store]\nbackend = \"mysql\"", "store.backend"),
        ("[[store.shards]]\nname = \"a\"\nurl = \"postgres://h/db\"", "need backend"),
        ("[store]\nbackend = \"postgres\"\n[[store.shards]]\nname = \"a\"\nurl = \"mysql://h\"", "postgres://"),
        (
            "[store]\nbackend = \"postgres\"\n[[store.shards]]\nname = \"a\"\nurl = \"postgres://h\"\n[[tenants]]\nid = \"t\"\ncold = true",
            "[store.cold]",
        ),
    ] {
        let e = parse(bad).unwrap_err().to_string();
        assert!(e.contains(says), "{bad:?}: {e}");
    }
}

#[test]
fn key_files_open_to_others_are_noticed() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("k");
    std::fs::write(&f, "secret").unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(readable_by_others(&f));
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(!readable_by_others(&f));
}

#[test]
fn the_documented_example_is_valid() {
    let text = include_str!("../../../../docs/config.example.toml");
    let mut file: FileConfig = toml::from_str(text).expect("docs/config.example.toml parses");
    // Stand in for the secrets that live outside the file.
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("default.hmac");
    std::fs::write(&key, "a-shared-secret\n").unwrap();
    file.tenants[0].key_files = vec![key];
    file.tenants[0].key_env.clear();
    file.metrics.password_env = None;
    file.metrics.password = Some("pw".into());
    let c = Config::resolve(file, &Overrides::default()).unwrap();
    assert_eq!(c.tenants.len(), 2);
    assert_eq!(c.tenants[0].verifier.len(), 1);
    assert_eq!(c.tenants[1].policy, Policy::Require(Algorithm::Ed25519));
    assert_eq!(c.tenants[1].params.tol_d, 0.20);
    assert_eq!(c.dedup_ttl_secs, DEFAULT_DEDUP_TTL_SECS);
    assert_eq!(c.body_limit, DEFAULT_BODY_LIMIT);
    assert!(c.audit.is_none(), "the example keeps the audit log off (make run stays unchanged)");
}
