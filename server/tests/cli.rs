//! The `fractal` tool subcommands, end to end: the real binary, real processes.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

/// sha256("aaaa…(64)|1|shard-001"), computed outside the project with
/// `printf '%s|1|shard-001' $(printf 'a%.0s' $(seq 64)) | sha256sum`.
const SPEC_PCS_ID: &str = "a687cafc6f56b4da5a9854606076663877ea5e3660cd739af9147d0904665da2";

fn fractal(args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fractal"));
    cmd.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for var in ["FRACTAL_HMAC_KEY", "FRACTAL_ED25519_SEED", "FRACTAL_ED25519_PUBLIC"] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("the fractal binary runs");
    // A command that fails early (bad key, bad argument) exits without reading
    // stdin: a broken pipe here is its business, not the test's.
    match child.stdin.take().expect("stdin").write_all(stdin) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("write stdin: {e}"),
        _ => {}
    }
    child.wait_with_output().expect("fractal exits")
}

/// Runs a command that must succeed and returns its JSON output.
fn ok_json(args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Value {
    let out = fractal(args, stdin, env);
    assert!(out.status.success(), "fractal {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("fractal {args:?} printed no JSON ({e}): {:?}", out.stdout))
}

/// Runs a command that must fail and returns its one-line error.
fn err_line(args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> String {
    let out = fractal(args, stdin, env);
    assert!(!out.status.success(), "fractal {args:?} should fail, printed {}", String::from_utf8_lossy(&out.stdout));
    assert!(out.stdout.is_empty(), "a failing command prints nothing on stdout");
    let err = String::from_utf8(out.stderr).expect("UTF-8 stderr");
    assert_eq!(err.lines().count(), 1, "one line on stderr: {err:?}");
    assert!(err.starts_with("error: "), "{err:?}");
    err
}

fn tmpdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fractal-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The SPEC §3 sample record, complete.
fn spec_record() -> Value {
    json!({
        "pcs_id": SPEC_PCS_ID,
        "schema": "fractal-lba-kakeya",
        "version": "0.1",
        "shard_id": "shard-001",
        "epoch": 1,
        "attempt": 1,
        "seed": 42,
        "scales": [2, 4, 8, 16, 32],
        "N_j": {"2": 3, "4": 7, "8": 19, "16": 50, "32": 133},
        "coh_star": 0.73,
        "v_star": [0.12, 0.98],
        "D_hat": 1.41,
        "r": 0.87,
        "regime": "sticky",
        "budget": 0.42,
        "merkle_root": "a".repeat(64),
    })
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("serializes")
}

/// Each signed field changed to another valid value: the eight v1 fields and, for
/// the v2 signatures the CLI makes by default, what §5 judges besides them.
fn one_field_changed(signed: &Value) -> Vec<(&'static str, Value)> {
    let changes: [(&str, Value); 12] = [
        ("regime", json!("non_sticky")),
        ("scales", json!([32, 16, 8, 4, 2])),
        ("N_j", json!({"2": 3, "4": 7, "8": 19, "16": 50, "32": 134})),
        ("seed", json!(43)),
        ("pcs_id", json!("b".repeat(64))),
        ("merkle_root", json!("b".repeat(64))),
        ("epoch", json!(2)),
        ("shard_id", json!("shard-002")),
        ("D_hat", json!(1.42)),
        ("coh_star", json!(0.74)),
        ("r", json!(0.86)),
        ("budget", json!(0.43)),
    ];
    changes
        .into_iter()
        .map(|(field, v)| {
            let mut c = signed.clone();
            c[field] = v;
            (field, c)
        })
        .collect()
}

#[test]
fn pcs_id_and_canonical_of_the_spec_example() {
    let rec = spec_record();
    let id = ok_json(&["pcs-id", "--merkle-root", &"a".repeat(64), "--epoch", "1", "--shard-id", "shard-001"], b"", &[]);
    assert_eq!(id, json!({ "pcs_id": SPEC_PCS_ID }));
    let id = ok_json(&["pcs-id"], &bytes(&rec), &[]);
    assert_eq!(id, json!({ "pcs_id": SPEC_PCS_ID, "matches": true }));

    let want = format!(
        "{{\"D_hat\":1.41,\"budget\":0.42,\"coh_star\":0.73,\"epoch\":1,\"merkle_root\":\"{}\",\"pcs_id\":\"{SPEC_PCS_ID}\",\"r\":0.87,\"shard_id\":\"shard-001\"}}",
        "a".repeat(64)
    );
    let c = ok_json(&["canonical", "--version", "1", "-"], &bytes(&rec), &[]);
    assert_eq!(c["canonical"], json!(want));
    let raw = fractal(&["canonical", "--version", "1", "--raw"], &bytes(&rec), &[]);
    assert!(raw.status.success());
    assert_eq!(String::from_utf8(raw.stdout).unwrap(), want, "--raw prints the payload bytes alone");
    // v2 (the default) signs what §5 judges too: N_j, regime, scales…
    let c = ok_json(&["canonical", "-"], &bytes(&rec), &[]);
    let v2 = c["canonical"].as_str().unwrap();
    assert!(v2.starts_with(r#"{"D_hat":1.41,"N_j":{"16":50,"2":3,"#), "{v2}");
    assert!(v2.contains(r#""regime":"#) && v2.contains(r#""scales":[2,4,8,16,32]"#), "{v2}");
    assert_eq!(c["version"], json!("v2"));
}

#[test]
fn v1_signatures_need_the_verifier_to_accept_them() {
    let env = [("K", "k")];
    let v1 = ok_json(&["sign", "--version", "1", "--key-env", "K"], &bytes(&spec_record()), &env);
    assert_eq!(v1["sig"].as_str().unwrap().len(), 44, "plain base64, no prefix");
    let err = err_line(&["verify", "--key-env", "K"], &bytes(&v1), &env);
    assert!(err.contains("unsupported signature version `v1`"), "{err}");
    let outcome = ok_json(&["verify", "--accept", "v1,v2", "--key-env", "K"], &bytes(&v1), &env);
    assert_eq!(outcome["accepted"], json!(true));
    // v1's weakness: a changed regime still verifies.
    let mut changed = v1.clone();
    changed["regime"] = json!("non_sticky");
    ok_json(&["verify", "--accept", "v1", "--key-env", "K"], &bytes(&changed), &env);
    let err = err_line(&["verify", "--accept", "v9", "--key-env", "K"], &bytes(&v1), &env);
    assert!(err.contains("signature_versions") || err.contains("v9"), "{err}");
}

#[test]
fn hmac_sign_then_verify_accepts_and_any_signed_change_rejects() {
    let env = [("TENANT_SECRET", "s3cret-κλειδί")];
    let signed = ok_json(&["sign", "--alg", "hmac", "--key-env", "TENANT_SECRET"], &bytes(&spec_record()), &env);
    let sig = signed["sig"].as_str().expect("sig is set");
    assert_eq!(sig.len(), 47, "v2: and base64 of 32 bytes");
    assert!(sig.starts_with("v2:"));

    let outcome = ok_json(&["verify", "--key-env", "TENANT_SECRET"], &bytes(&signed), &env);
    assert_eq!(outcome["accepted"], json!(true));
    // The SPEC example reports budget 0.42; the formula gives 0.285: escalated.
    assert_eq!(outcome["escalated"], json!(true));
    assert!(outcome["reason"].as_str().unwrap().starts_with("budget mismatch"), "{outcome}");
    assert_eq!(outcome["recomputed_budget"], json!(0.285));

    // The default variable works too, and an unsigned field may change.
    let mut unsigned_change = signed.clone();
    unsigned_change["attempt"] = json!(3);
    ok_json(&["verify"], &bytes(&unsigned_change), &[("FRACTAL_HMAC_KEY", "s3cret-κλειδί")]);

    for (field, changed) in one_field_changed(&signed) {
        let err = err_line(&["verify", "--key-env", "TENANT_SECRET"], &bytes(&changed), &env);
        assert!(err.contains("signature invalid"), "{field}: {err}");
    }
    let err = err_line(&["verify"], &bytes(&signed), &[("FRACTAL_HMAC_KEY", "another")]);
    assert!(err.contains("signature invalid"), "{err}");
    let mut unsigned = signed.clone();
    unsigned.as_object_mut().unwrap().remove("sig");
    let err = err_line(&["verify", "--key-env", "TENANT_SECRET"], &bytes(&unsigned), &env);
    assert!(err.contains("signature missing"), "{err}");
}

#[test]
fn ed25519_keygen_sign_verify_with_files() {
    let dir = tmpdir("ed25519");
    let seed_file = dir.join("seed");
    let kg = ok_json(&["keygen", "--seed-file", seed_file.to_str().unwrap()], b"", &[]);
    assert!(kg.get("seed").is_none(), "with --seed-file the seed is not printed");
    let public = kg["public"].as_str().expect("public key").to_string();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&seed_file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // Never overwrites a seed.
    err_line(&["keygen", "--seed-file", seed_file.to_str().unwrap()], b"", &[]);

    let rec_file = dir.join("pcs.json");
    std::fs::write(&rec_file, bytes(&spec_record())).unwrap();
    let signed = ok_json(&["sign", "--alg", "ed25519", "--key-file", seed_file.to_str().unwrap(), rec_file.to_str().unwrap()], b"", &[]);
    assert_eq!(signed["sig"].as_str().unwrap().len(), 91, "v2: and base64 of 64 bytes");

    let outcome = ok_json(&["verify", "--alg", "ed25519", "--public-key", &public], &bytes(&signed), &[]);
    assert_eq!(outcome["accepted"], json!(true));
    let outcome = ok_json(&["verify", "--alg", "ed25519"], &bytes(&signed), &[("FRACTAL_ED25519_PUBLIC", &public)]);
    assert_eq!(outcome["accepted"], json!(true));
    for (field, changed) in one_field_changed(&signed) {
        let err = err_line(&["verify", "--alg", "ed25519", "--public-key", &public], &bytes(&changed), &[]);
        assert!(err.contains("signature invalid"), "{field}: {err}");
    }
    // Rotation: a second, unrelated key does not hide the matching one.
    let other = ok_json(&["keygen"], b"", &[])["public"].as_str().unwrap().to_string();
    ok_json(&["verify", "--alg", "ed25519", "--public-key", &other, "--public-key", &public], &bytes(&signed), &[]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn verify_params_file_changes_the_outcome() {
    let dir = tmpdir("params");
    let env = [("K", "k")];
    let signed = ok_json(&["sign", "--key-env", "K"], &bytes(&spec_record()), &env);
    let params = dir.join("params.json");
    std::fs::write(&params, br#"{"budget_tol": 0.2}"#).unwrap();
    let outcome = ok_json(&["verify", "--key-env", "K", "--params", params.to_str().unwrap()], &bytes(&signed), &env);
    assert_eq!(outcome, json!({"accepted": true, "escalated": false, "recomputed_D_hat": outcome["recomputed_D_hat"], "recomputed_budget": 0.285}));
    std::fs::write(&params, br#"{"budget_tol": -1}"#).unwrap();
    let err = err_line(&["verify", "--key-env", "K", "--params", params.to_str().unwrap()], &bytes(&signed), &env);
    assert!(err.contains("budget_tol"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_input_fails_with_one_line_naming_the_field() {
    let env = [("FRACTAL_HMAC_KEY", "k")];
    let mut rec = spec_record();
    rec["epoch"] = json!("one");
    let err = err_line(&["sign"], &bytes(&rec), &env);
    assert!(err.contains("`epoch`"), "{err}");

    let err = err_line(&["canonical"], b"{not json", &[]);
    assert!(err.contains("invalid JSON"), "{err}");

    let mut rec = spec_record();
    rec["r"] = json!(1.5);
    let err = err_line(&["sign"], &bytes(&rec), &env);
    assert!(err.contains("`r`"), "validation before signing: {err}");
    ok_json(&["sign", "--no-validate"], &bytes(&rec), &env);

    let err = err_line(&["sign"], &bytes(&spec_record()), &[]);
    assert!(err.contains("FRACTAL_HMAC_KEY"), "names the missing variable: {err}");
    let err = err_line(&["sign", "--alg", "ed25519"], &bytes(&spec_record()), &[("FRACTAL_ED25519_SEED", "c2VjcmV0")]);
    assert!(err.contains("invalid key"), "{err}");
    assert!(!err.contains("c2VjcmV0"), "never echoes key material: {err}");

    let err = err_line(&["canonical", "/nonexistent/pcs.json"], b"", &[]);
    assert!(err.contains("/nonexistent/pcs.json"), "{err}");

    // There is no way to pass a secret key in argv.
    let out = fractal(&["sign", "--key", "secret"], &bytes(&spec_record()), &[]);
    assert!(!out.status.success());
}

/// `ring pick` reproduces every case of golden/ring.json.
#[test]
fn ring_pick_matches_the_golden_vectors() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../golden/ring.json");
    let doc: Value = serde_json::from_slice(&std::fs::read(path).expect("golden/ring.json")).unwrap();
    let mut checked = 0;
    for g in doc["testGroups"].as_array().unwrap() {
        let mut args: Vec<String> = vec!["ring".into(), "pick".into(), "--vnodes".into(), g["vnodes"].to_string()];
        for s in g["shards"].as_array().unwrap() {
            let name = s["name"].as_str().unwrap();
            args.extend(["--shard".into(), format!("{name}:{}", s["weight"])]);
            if s["healthy"] == json!(false) {
                args.extend(["--down".into(), name.to_string()]);
            }
        }
        for t in g["tests"].as_array().unwrap() {
            checked += 1;
            let mut a = args.clone();
            if t["op"] == "pick_n" {
                a.extend(["--n".into(), t["n"].to_string()]);
            }
            a.extend(["--key".into(), t["key"].as_str().unwrap().into()]);
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            if t["result"] == "valid" {
                let out = ok_json(&a, b"", &[]);
                let pick = &out["picks"][0];
                let got = if t["op"] == "pick" { &pick["shard"] } else { &pick["shards"] };
                assert_eq!(got, &t["expected"], "ring.json #{}", t["tcId"]);
            } else {
                let err = err_line(&a, b"", &[]);
                assert!(err.contains("ring"), "ring.json #{}: {err}", t["tcId"]);
            }
        }
    }
    assert!(checked >= 10);
}

#[test]
fn ring_plan_moves_keys_only_to_the_new_shard() {
    let dir = tmpdir("plan");
    let keys: String = (0..1000).map(|i| format!("key-{i}\n")).collect();
    let keys_file = dir.join("keys");
    std::fs::write(&keys_file, keys).unwrap();
    let out = ok_json(
        &["ring", "plan", "--before", "a", "--before", "b", "--before", "c", "--after", "a", "--after", "b", "--after", "c", "--after", "d:2", "--keys-file", keys_file.to_str().unwrap()],
        b"",
        &[],
    );
    assert_eq!(out["keys"], json!(1000));
    let moves = out["moves"].as_array().unwrap();
    assert_eq!(out["moved"], json!(moves.len()));
    // d holds 2 of 5 weight units: about 400 keys move, all of them to d.
    assert!((250..550).contains(&moves.len()), "{}", moves.len());
    assert!(moves.iter().all(|m| m["to"] == "d" && m["from"] != "d"));

    let err = err_line(&["ring", "plan", "--before", "a", "--after", "a:0", "--key", "k"], b"", &[]);
    assert!(err.contains("weight"), "{err}");
    let err = err_line(&["ring", "pick", "--shard", "a"], b"", &[]);
    assert!(err.contains("no keys"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
