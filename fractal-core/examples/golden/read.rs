//! `read.json`: SPEC §6.1, signed reads.

use super::*;

#[derive(Serialize)]
pub(crate) struct ReadGroup {
    pub(crate) comment: &'static str,
    pub(crate) hmac_key: &'static str,
    pub(crate) ed25519_seed: String,
    pub(crate) ed25519_public: String,
    pub(crate) skew_secs: u64,
    pub(crate) tests: Vec<ReadTest>,
}

#[derive(Serialize)]
pub(crate) struct ReadTest {
    #[serde(rename = "tcId")]
    pub(crate) tc_id: usize,
    pub(crate) comment: String,
    pub(crate) flags: Vec<&'static str>,
    pub(crate) tenant: String,
    pub(crate) pcs_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) t: Option<u64>,
    pub(crate) now: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) expected: Option<ReadExpected>,
    /// For invalid cases: the header as sent (null: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) header: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error_kind: Option<&'static str>,
    pub(crate) result: &'static str,
}

#[derive(Serialize)]
pub(crate) struct ReadExpected {
    pub(crate) digest_hex: String,
    pub(crate) authorization_hmac: String,
    pub(crate) authorization_ed25519: String,
}

pub(crate) const READ_NOTES: &[(&str, &str)] = &[
    ("Signed", "The digest SHA-256(\"fractal-lba/read/v1\\n\" ‖ tenant ‖ \"\\n\" ‖ pcs_id ‖ \"\\n\" ‖ decimal t) and `Fractal t=<t>, sig=<base64>` under each key; accepted at `now`."),
    ("SkewEdge", "t exactly 300 s before or after now is accepted."),
    ("NonAscii", "tenant or pcs_id with non-ASCII text: their UTF-8 bytes are hashed."),
    ("Missing", "No Authorization header, or an empty one → signature_missing."),
    ("Stale", "t more than 300 s from now → signature_invalid."),
    ("Malformed", "Not `Fractal t=<decimal>, sig=<base64>`: another scheme, t missing or not decimal, sig missing or not base64 → signature_invalid."),
    ("WrongKey", "Signed with another key, or for another tenant or pcs_id → signature_invalid."),
];

pub(crate) fn read_file(kp: &Ed25519Keypair) -> File<ReadGroup> {
    let hmac = SigningKeyMaterial::parse(fractal_core::Algorithm::Hmac, HMAC_KEY).expect("key");
    let ed = SigningKeyMaterial::parse(fractal_core::Algorithm::Ed25519, &kp.seed_b64()).expect("key");
    let mut verifier = Verifier::new();
    verifier.add_hmac_key(HMAC_KEY.as_bytes()).expect("key");
    verifier.add_ed25519_public_key(&kp.public_b64()).expect("key");
    let id = spec_example().pcs_id;
    let mut tests = Vec::new();
    type ValidRead<'a> = (&'a str, &'a [&'static str], &'a str, String, u64, u64);
    let valid: Vec<ValidRead> = vec![
        ("default tenant, the SPEC example's pcs_id", &["Signed"], "default", id.clone(), 1_700_000_000, 1_700_000_000),
        ("tenant acme", &["Signed"], "acme", id.clone(), 1_767_225_600, 1_767_225_610),
        ("t = 0", &["Signed"], "default", id.clone(), 0, 0),
        ("t = 2^53-1", &["Signed"], "default", id.clone(), (1 << 53) - 1, (1 << 53) - 1),
        ("t 300 s before now", &["Signed", "SkewEdge"], "acme", id.clone(), 1_700_000_000, 1_700_000_300),
        ("t 300 s after now", &["Signed", "SkewEdge"], "acme", id.clone(), 1_700_000_300, 1_700_000_000),
        ("non-ASCII tenant", &["Signed", "NonAscii"], "tenant-é-日本", id.clone(), 1_700_000_000, 1_700_000_000),
        ("a pcs_id that is not 64 hex digits is still signed as given", &["Signed", "NonAscii"], "default", "not-an-id-😀".into(), 1_700_000_000, 1_700_000_000),
    ];
    for (comment, flags, tenant, pcs_id, t, now) in valid {
        let auth_h = hmac.read_authorization(tenant, &pcs_id, t).expect("signs");
        let auth_e = ed.read_authorization(tenant, &pcs_id, t).expect("signs");
        for a in [&auth_h, &auth_e] {
            verifier.verify_read(tenant, &pcs_id, Some(a), now).unwrap_or_else(|e| panic!("read case {comment:?}: {e}"));
        }
        tests.push(ReadTest {
            tc_id: tests.len() + 1,
            comment: comment.into(),
            flags: flags.to_vec(),
            tenant: tenant.into(),
            pcs_id: pcs_id.clone(),
            t: Some(t),
            now,
            expected: Some(ReadExpected { digest_hex: hex(&read_digest(tenant, &pcs_id, t)), authorization_hmac: auth_h, authorization_ed25519: auth_e }),
            header: None,
            error_kind: None,
            result: "valid",
        });
    }
    let now = 1_700_000_000u64;
    let good = hmac.read_authorization("default", &id, now).expect("signs");
    let good_sig = good.split_once("sig=").expect("sig").1.to_string();
    let other_key = SigningKeyMaterial::parse(fractal_core::Algorithm::Hmac, "another key").expect("key");
    let invalid: Vec<(&str, &[&'static str], Option<String>, &'static str)> = vec![
        ("no Authorization header", &["Missing"], None, "signature_missing"),
        ("an empty Authorization header", &["Missing"], Some(String::new()), "signature_missing"),
        ("scheme Bearer", &["Malformed"], Some(format!("Bearer t={now}, sig={good_sig}")), "signature_invalid"),
        ("no scheme", &["Malformed"], Some(format!("t={now}, sig={good_sig}")), "signature_invalid"),
        ("t is not decimal", &["Malformed"], Some(format!("Fractal t=abc, sig={good_sig}")), "signature_invalid"),
        ("t is negative", &["Malformed"], Some(format!("Fractal t=-{now}, sig={good_sig}")), "signature_invalid"),
        ("t missing", &["Malformed"], Some(format!("Fractal sig={good_sig}")), "signature_invalid"),
        ("sig missing", &["Malformed"], Some(format!("Fractal t={now}")), "signature_invalid"),
        ("t given twice", &["Malformed"], Some(format!("Fractal t={now}, t={now}, sig={good_sig}")), "signature_invalid"),
        ("sig in URL-safe base64 (t chosen so the MAC's base64 has + or /)", &["Malformed"], Some(urlsafe_read_header(&hmac, &id, now)), "signature_invalid"),
        ("sig without padding", &["Malformed"], Some(format!("Fractal t={now}, sig={}", good_sig.trim_end_matches('='))), "signature_invalid"),
        ("sig with a v2: prefix", &["Malformed"], Some(format!("Fractal t={now}, sig=v2:{good_sig}")), "signature_invalid"),
        ("t 301 s before now", &["Stale"], Some(hmac.read_authorization("default", &id, now - 301).expect("signs")), "signature_invalid"),
        ("t 301 s after now", &["Stale"], Some(hmac.read_authorization("default", &id, now + 301).expect("signs")), "signature_invalid"),
        ("Ed25519, t 301 s before now", &["Stale"], Some(ed.read_authorization("default", &id, now - 301).expect("signs")), "signature_invalid"),
        ("signed with another HMAC key", &["WrongKey"], Some(other_key.read_authorization("default", &id, now).expect("signs")), "signature_invalid"),
        ("signed with another Ed25519 seed", &["WrongKey"], Some(SigningKeyMaterial::parse(fractal_core::Algorithm::Ed25519, &Ed25519Keypair::from_seed(&[9; 32]).seed_b64()).expect("key").read_authorization("default", &id, now).expect("signs")), "signature_invalid"),
        ("signed for tenant acme, sent as default", &["WrongKey"], Some(hmac.read_authorization("acme", &id, now).expect("signs")), "signature_invalid"),
        ("signed for another pcs_id", &["WrongKey"], Some(hmac.read_authorization("default", &"0".repeat(64), now).expect("signs")), "signature_invalid"),
        ("signed for t, header carries t+1", &["WrongKey"], Some(format!("Fractal t={}, sig={good_sig}", now + 1)), "signature_invalid"),
    ];
    for (comment, flags, header, kind) in invalid {
        let got = verifier.verify_read("default", &id, header.as_deref(), now).map_err(|e| e.kind());
        assert_eq!(got, Err(kind), "read case {comment:?}");
        tests.push(ReadTest {
            tc_id: tests.len() + 1,
            comment: comment.into(),
            flags: flags.to_vec(),
            tenant: "default".into(),
            pcs_id: id.clone(),
            t: None,
            now,
            expected: None,
            header: Some(header),
            error_kind: Some(kind),
            result: "invalid",
        });
    }
    let n = tests.len();
    file(
        "fractal-lba-read-v1",
        READ_NOTES,
        vec![ReadGroup {
            comment: "SPEC §6.1 read signatures; invalid cases are checked by a verifier holding hmac_key and ed25519_public",
            hmac_key: HMAC_KEY,
            ed25519_seed: kp.seed_b64(),
            ed25519_public: kp.public_b64(),
            skew_secs: fractal_core::sign::READ_SKEW_SECS,
            tests,
        }],
        n,
    )
}


/// A header for a t near `now` whose HMAC base64 holds `+` or `/`, written URL-safe.
pub(crate) fn urlsafe_read_header(hmac: &SigningKeyMaterial, pcs_id: &str, now: u64) -> String {
    (now..now + 100)
        .map(|t| hmac.read_authorization("default", pcs_id, t).expect("signs"))
        .find(|a| a.contains('+') || a.contains('/'))
        .map(|a| {
            let (head, sig) = a.split_once("sig=").expect("sig");
            format!("{head}sig={}", sig.replace('+', "-").replace('/', "_"))
        })
        .expect("some t gives + or /")
}
