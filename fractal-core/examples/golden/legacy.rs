//! `legacy.json`: SPEC §4.1, the seed SDKs' encodings of v1.

use super::*;

#[derive(Serialize)]
pub(crate) struct LegacyTest {
    #[serde(rename = "tcId")]
    pub(crate) tc_id: usize,
    pub(crate) comment: String,
    pub(crate) flags: Vec<&'static str>,
    pub(crate) encoding: &'static str,
    pub(crate) record: Value,
    pub(crate) expected: LegacyExpected,
    pub(crate) result: &'static str,
}

#[derive(Serialize)]
pub(crate) struct LegacyExpected {
    pub(crate) payload: String,
    pub(crate) digest_hex: String,
    pub(crate) sig_hmac: String,
    pub(crate) sig_ed25519: String,
    pub(crate) canonical_v1: String,
}

#[derive(Serialize)]
pub(crate) struct LegacyGroup {
    pub(crate) hmac_key: &'static str,
    pub(crate) ed25519_seed: String,
    pub(crate) ed25519_public: String,
    pub(crate) tests: Vec<LegacyTest>,
}

pub(crate) const LEGACY_NOTES: &[(&str, &str)] = &[
    ("PythonFloat", "seed-python writes floats by Python repr: `1.0`, `0.0`, `-0.0`, `2.5e-06`, `1e-09`, `1e-05`, `1e+16`."),
    ("PythonRounding", "seed-python rounds with Decimal(repr(x)).quantize(1e-9, ROUND_HALF_UP): a decimal tie rounds up where binary64 round9 rounds down (1.0000000015)."),
    ("PythonAscii", "seed-python writes DEL and every non-ASCII code point as `\\uXXXX` (lowercase hex; a surrogate pair above U+FFFF)."),
    ("GoHtml", "seed-go writes `<`, `>`, `&` as `\\u003c`, `\\u003e`, `\\u0026`."),
    ("GoLineSeparator", "seed-go writes U+2028 and U+2029 as `\\u2028`, `\\u2029`."),
];

pub(crate) fn legacy_cases() -> Vec<(String, Vec<&'static str>, LegacyEncoding, Pcs)> {
    let mut out = Vec::new();
    let py = LegacyEncoding::SeedPython;
    let go = LegacyEncoding::SeedGo;
    let mut add = |c: &str, f: &[&'static str], e: LegacyEncoding, p: Pcs| out.push((c.to_string(), f.to_vec(), e, p));
    add("D_hat 1.0 is written 1.0", &["PythonFloat"], py, nums(1.0, 0.73, 0.87, 0.42));
    add("budget 0.0 is written 0.0", &["PythonFloat"], py, nums(1.41, 0.73, 0.87, 0.0));
    add("coh_star -0.0 is written -0.0", &["PythonFloat"], py, nums(1.41, -0.0, 0.87, 0.42));
    add("budget -1e-12 rounds to -0.0", &["PythonFloat", "PythonRounding"], py, nums(1.41, 0.73, 0.87, -1e-12));
    add("coh_star 0.0000025 is written 2.5e-06", &["PythonFloat"], py, nums(1.41, 0.0000025, 0.87, 0.42));
    add("D_hat 1e-9 is written 1e-09", &["PythonFloat"], py, nums(1e-9, 0.73, 0.87, 0.42));
    add("r 0.00001 is written 1e-05", &["PythonFloat"], py, nums(1.41, 0.73, 0.00001, 0.42));
    add("budget 1e-7 is written 1e-07", &["PythonFloat"], py, nums(1.41, 0.73, 0.87, 1e-7));
    add("D_hat 1e16 is written 1e+16", &["PythonFloat"], py, nums(1e16, 0.73, 0.87, 0.42));
    add("D_hat 1e18 is written 1e+18 (the largest power of ten Decimal(28 digits) quantizes to 1e-9)", &["PythonFloat"], py, nums(1e18, 0.73, 0.87, 0.42));
    add("all four numbers integral", &["PythonFloat"], py, nums(2.0, 1.0, 0.0, 1.0));
    add("D_hat 1.0000000015: decimal tie rounds up to 1.000000002, binary64 round9 gives 1.000000001", &["PythonRounding"], py, nums(1.0000000015, 0.73, 0.87, 0.42));
    add("coh_star -1.0000000045: decimal tie rounds away from zero to -1.000000005", &["PythonRounding"], py, nums(1.41, -1.0000000045, 0.87, 0.42));
    add("shard_id with DEL", &["PythonAscii"], py, strings(&"a".repeat(64), "del\u{7f}"));
    add("shard_id with non-ASCII letters", &["PythonAscii"], py, strings(&"a".repeat(64), "shärd-ñ-日本-Ωμέγα"));
    add("shard_id with an emoji (surrogate pair)", &["PythonAscii"], py, strings(&"a".repeat(64), "shard-🦀-😀"));
    add("merkle_root with U+2028, U+2029 and U+FFFF", &["PythonAscii"], py, strings("line\u{2028}para\u{2029}\u{ffff}", "shard-001"));
    add("shard_id with control characters and non-ASCII", &["PythonAscii"], py, strings(&"a".repeat(64), "\t\u{1}é\n"));
    add("merkle_root with < > &", &["GoHtml"], go, strings("<script>&amp;</script>", "shard-001"));
    add("shard_id with &", &["GoHtml"], go, strings(&"a".repeat(64), "a&b"));
    add("shard_id with U+2028 and U+2029", &["GoLineSeparator"], go, strings(&"a".repeat(64), "line\u{2028}para\u{2029}"));
    add("pcs_id with > (not the SPEC §2 value)", &["GoHtml"], go, rec_raw(|p| p.pcs_id = "id>".into()));
    add("every Go escape at once, with non-ASCII left literal", &["GoHtml", "GoLineSeparator"], go, strings("<é>&\u{2028}", "\u{2029}😀&"));
    out
}

pub(crate) fn legacy_file(kp: &Ed25519Keypair) -> File<LegacyGroup> {
    let mut verifier = Verifier::new();
    verifier.add_hmac_key(HMAC_KEY.as_bytes()).expect("key");
    verifier.add_ed25519_public_key(&kp.public_b64()).expect("key");
    let mut tests = Vec::new();
    for (i, (comment, flags, enc, pcs)) in legacy_cases().into_iter().enumerate() {
        let fields = SigningFields::from(&pcs);
        let payload = enc.payload(&fields).unwrap_or_else(|| panic!("legacy case {comment:?}: not encodable"));
        let v1 = canonical_payload_v1(&pcs).expect("v1 payload");
        assert_ne!(payload, v1, "legacy case {comment:?}: the {} payload equals the canonical v1 payload", enc.as_str());
        let digest = sha256(&payload);
        let (sig_hmac, sig_ed25519) = (sign_hmac_digest(&digest, HMAC_KEY.as_bytes()).expect("signs"), kp.sign_digest(&digest));
        for sig in [&sig_hmac, &sig_ed25519] {
            let mut signed = pcs.clone();
            signed.sig = Some(sig.clone());
            let listed = SignaturePolicy::parse(&["v1"], &[enc.as_str()]).expect("policy");
            assert_eq!(verifier.verify_with(&signed, &listed).ok(), Some((SigVersion::V1, Some(enc))), "legacy case {comment:?}");
            let unlisted = SignaturePolicy::parse::<&str, &str>(&["v1"], &[]).expect("policy");
            assert_eq!(verifier.verify_with(&signed, &unlisted).map_err(|e| e.kind()), Err("signature_invalid"), "legacy case {comment:?}");
        }
        tests.push(LegacyTest {
            tc_id: i + 1,
            comment,
            flags,
            encoding: enc.as_str(),
            record: pcs.to_value(),
            expected: LegacyExpected {
                payload: String::from_utf8(payload).expect("ASCII or UTF-8"),
                digest_hex: hex(&digest),
                sig_hmac,
                sig_ed25519,
                canonical_v1: String::from_utf8(v1).expect("UTF-8"),
            },
            result: "valid",
        });
    }
    let n = tests.len();
    file(
        "fractal-lba-pcs-legacy-v1",
        LEGACY_NOTES,
        vec![LegacyGroup { hmac_key: HMAC_KEY, ed25519_seed: kp.seed_b64(), ed25519_public: kp.public_b64(), tests }],
        n,
    )
}
