//! `canonical.json`: SPEC §2–§4, the v1 payload and its signatures.

use super::*;

#[derive(Serialize)]
pub(crate) struct CanonicalGroup {
    pub(crate) hmac_key: &'static str,
    pub(crate) ed25519_seed: String,
    pub(crate) ed25519_public: String,
    pub(crate) tests: Vec<CanonicalTest>,
}

#[derive(Serialize)]
pub(crate) struct CanonicalTest {
    #[serde(rename = "tcId")]
    pub(crate) tc_id: usize,
    pub(crate) comment: String,
    pub(crate) flags: Vec<&'static str>,
    pub(crate) record: Value,
    pub(crate) expected: CanonicalExpected,
    pub(crate) result: &'static str,
}

#[derive(Serialize)]
pub(crate) struct CanonicalExpected {
    pub(crate) pcs_id: String,
    pub(crate) canonical: String,
    pub(crate) digest_hex: String,
    pub(crate) sig_hmac: String,
    pub(crate) sig_ed25519: String,
}

pub(crate) const CANONICAL_NOTES: &[(&str, &str)] = &[
    ("SpecExample", "The SPEC §3 sample record: catches any deviation on the common path."),
    ("IntegralFloat", "An integral binary64 value (1.0, 0.0, 2.0) must print without `.0` (ECMAScript Number#toString)."),
    ("SmallNumber", "|x| < 1e-6 must print in exponent form (`1e-7`, `5e-9`), and 1e-6 itself must not."),
    ("LargeNumber", "|x| ≥ 1e21 must print in exponent form with an explicit `+` (`1e+21`); below it, plain digits."),
    ("RoundingTie", "A value on (or a binary64 hair from) a tie at the tenth decimal: round9 rounds half away from zero in binary64, not half-up, not half-even, not via decimal strings."),
    ("Rounding", "round9 discards digits past the ninth decimal (and 0.1+0.2 style noise)."),
    ("NegativeNumber", "Negative values keep their sign and round away from zero."),
    ("NegativeZero", "−0, or a negative value that rounds to zero, must print as `0`, never `-0`."),
    ("EpochBoundary", "Epoch 0, 2^32 and 2^53−1 must print as plain integers."),
    ("StringEscape", "`\"` and `\\` are escaped; `\\b \\f \\n \\r \\t` use their short escapes."),
    ("ControlCharacter", "Other code points below U+0020 are `\\u00hh` with lowercase hex; U+007F is literal."),
    ("NonAscii", "Non-ASCII letters and emoji are literal UTF-8, never `\\u` escapes."),
    ("HtmlCharacter", "`<`, `>` and `&` are literal (no HTML-safe escaping)."),
    ("LineSeparator", "U+2028 and U+2029 are literal UTF-8 (JSON.stringify does not escape them)."),
    ("PcsIdMismatch", "`record.pcs_id` is not the SPEC §2 value: the payload signs the record's pcs_id as given, while `expected.pcs_id` is the recomputed one."),
    ("UnsignedField", "Fields outside the eight signed ones (unknown fields, ft, sig, v_star, …) do not change the payload."),
    ("EmptyString", "An empty pcs_id is signed as `\"\"` (validation, not signing, refuses it)."),
    ("LongString", "A string at the SPEC §1 limit of 128 bytes is signed whole."),
    ("NearestFloat", "The record's decimal must parse to the nearest binary64: a parser off by one ulp (serde_json without `float_roundtrip`) signs a different payload."),
    ("KeyOrder", "Keys sort by UTF-16 code units: `D_hat` (uppercase) before `budget`."),
];

pub(crate) fn canonical_cases() -> Vec<(String, Vec<&'static str>, Value)> {
    let mut cases: Vec<(String, Vec<&'static str>, Value)> = Vec::new();
    let mut add = |comment: &str, flags: &[&'static str], p: Pcs| cases.push((comment.into(), flags.to_vec(), p.to_value()));

    add("SPEC §3 example: merkle_root 64×a, epoch 1, shard-001, D_hat 1.41, coh_star 0.73, r 0.87, budget 0.42", &["SpecExample", "KeyOrder"], spec_example());

    // Integral floats.
    add("budget 1.0 prints as 1", &["IntegralFloat"], nums(1.41, 0.73, 0.87, 1.0));
    add("budget 0.0 prints as 0", &["IntegralFloat"], nums(1.41, 0.73, 0.87, 0.0));
    add("D_hat 2.0 and coh_star 1.0 print as 2 and 1", &["IntegralFloat"], nums(2.0, 1.0, 0.87, 0.42));
    add("all four numbers zero", &["IntegralFloat"], nums(0.0, 0.0, 0.0, 0.0));
    add("all four numbers one", &["IntegralFloat"], nums(1.0, 1.0, 1.0, 1.0));
    add("D_hat 1000000000000000 (1e15) prints in full", &["IntegralFloat", "LargeNumber"], nums(1e15, 0.73, 0.87, 0.42));

    // Small magnitudes.
    add("r 0.000001 is the smallest plain-decimal value", &["SmallNumber"], nums(1.41, 0.73, 0.000001, 0.42));
    add("r 0.0000015 stays plain", &["SmallNumber"], nums(1.41, 0.73, 0.0000015, 0.42));
    add("budget 1e-7 prints as 1e-7", &["SmallNumber"], nums(1.41, 0.73, 0.87, 1e-7));
    add("coh_star 5e-9 prints as 5e-9", &["SmallNumber"], nums(1.41, 5e-9, 0.87, 0.42));
    add("D_hat 1e-9 (one unit of the ninth decimal)", &["SmallNumber"], nums(1e-9, 0.73, 0.87, 0.42));
    add("budget 1.23e-7 prints as 1.23e-7", &["SmallNumber"], nums(1.41, 0.73, 0.87, 1.23e-7));
    add("r 9.999999995e-7 rounds to 0.000001", &["SmallNumber", "Rounding"], nums(1.41, 0.73, 9.999999995e-7, 0.42));
    add("budget 4e-10 rounds to 0", &["SmallNumber", "Rounding"], nums(1.41, 0.73, 0.87, 4e-10));
    add("budget 5e-324 (smallest subnormal) rounds to 0", &["SmallNumber", "Rounding"], nums(1.41, 0.73, 0.87, 5e-324));

    // Large magnitudes.
    add("D_hat 1e21 prints as 1e+21", &["LargeNumber"], nums(1e21, 0.73, 0.87, 0.42));
    add("D_hat 999999999999999900000 (just below 1e21) prints in plain digits", &["LargeNumber", "NearestFloat"], nums(999999999999999900000.0, 0.73, 0.87, 0.42));
    add("D_hat 123456789012345680000 prints in plain digits", &["LargeNumber"], nums(123456789012345680000.0, 0.73, 0.87, 0.42));
    add("budget 1.5e22 prints as 1.5e+22", &["LargeNumber"], nums(1.41, 0.73, 0.87, 1.5e22));
    add("coh_star -1e21 prints as -1e+21", &["LargeNumber", "NegativeNumber"], nums(1.41, -1e21, 0.87, 0.42));
    add("r 1e299 (×1e9 still finite)", &["LargeNumber"], nums(1.41, 0.73, 1e299, 0.42));

    // Ties at the tenth decimal.
    add("D_hat 0.1234567895: ×1e9 is exactly 123456789.5, rounds up", &["RoundingTie"], nums(0.1234567895, 0.73, 0.87, 0.42));
    add("D_hat 1.0000000005: ×1e9 is exactly 1000000000.5", &["RoundingTie"], nums(1.0000000005, 0.73, 0.87, 0.42));
    add("budget 2.5e-9 rounds away from zero to 3e-9", &["RoundingTie", "SmallNumber"], nums(1.41, 0.73, 0.87, 2.5e-9));
    add("budget -2.5e-9: ×1e9 is exactly -2.5, rounds away from zero to -3e-9 (Math.round gives -2)", &["RoundingTie", "NegativeNumber", "SmallNumber"], nums(1.41, 0.73, 0.87, -2.5e-9));
    add("r 1.5e-9: ×1e9 is exactly 1.5, rounds to 2e-9", &["RoundingTie", "SmallNumber"], nums(1.41, 0.73, 1.5e-9, 0.42));
    add("coh_star 0.9999999995 rounds up to 1", &["RoundingTie", "IntegralFloat"], nums(1.41, 0.9999999995, 0.87, 0.42));
    add("coh_star -0.9999999995 rounds to -1", &["RoundingTie", "NegativeNumber"], nums(1.41, -0.9999999995, 0.87, 0.42));
    add("D_hat 1.4999999995: ×1e9 is exactly 1499999999.5, rounds to 1.5", &["RoundingTie"], nums(1.4999999995, 0.73, 0.87, 0.42));
    add("budget 0.5000000005: ×1e9 is a binary64 hair above the tie", &["RoundingTie"], nums(1.41, 0.73, 0.87, 0.5000000005));
    add("budget 5e-10: ×1e9 is exactly 0.5, rounds away from zero to 1e-9", &["RoundingTie", "SmallNumber"], nums(1.41, 0.73, 0.87, 5e-10));
    add("r 2.0000000025: ×1e9 is a binary64 hair above the tie", &["RoundingTie"], nums(1.41, 0.73, 2.0000000025, 0.42));
    add("D_hat 4503599.6274969605 parses to 4503599.627496961; ×1e9 is above 2^52, already integral", &["RoundingTie"], nums(4503599.6274969605, 0.73, 0.87, 0.42));

    // Rounding without ties.
    add("r 0.1+0.2 rounds to 0.3", &["Rounding"], nums(1.41, 0.73, 0.1 + 0.2, 0.42));
    add("D_hat 1/3 rounds to 0.333333333", &["Rounding"], nums(1.0 / 3.0, 0.73, 0.87, 0.42));
    add("coh_star 2/3 rounds to 0.666666667", &["Rounding"], nums(1.41, 2.0 / 3.0, 0.87, 0.42));
    add("D_hat pi", &["Rounding"], nums(std::f64::consts::PI, 0.73, 0.87, 0.42));
    add("budget 0.123456789123 drops digits after the ninth", &["Rounding"], nums(1.41, 0.73, 0.87, 0.123456789123));
    add("D_hat 123456789.123456789 (17 significant digits)", &["Rounding", "NearestFloat"], nums(123456789.123456789, 0.73, 0.87, 0.42));

    // Negatives and negative zero.
    add("D_hat -1.41", &["NegativeNumber"], nums(-1.41, 0.73, 0.87, 0.42));
    add("r -0.5 and budget -0.42", &["NegativeNumber"], nums(1.41, 0.73, -0.5, -0.42));
    add("coh_star -0 prints as 0", &["NegativeZero"], nums(1.41, -0.0, 0.87, 0.42));
    add("all four numbers -0", &["NegativeZero"], nums(-0.0, -0.0, -0.0, -0.0));
    add("budget -1e-12 rounds to -0 and prints as 0", &["NegativeZero", "Rounding"], nums(1.41, 0.73, 0.87, -1e-12));
    add("r -4e-10 rounds to -0 and prints as 0", &["NegativeZero", "Rounding"], nums(1.41, 0.73, -4e-10, 0.42));

    // Epochs.
    add("epoch 0", &["EpochBoundary"], rec(|p| p.epoch = 0));
    add("epoch 2^53-1 (9007199254740991)", &["EpochBoundary"], rec(|p| p.epoch = (1 << 53) - 1));
    add("epoch 2^32", &["EpochBoundary"], rec(|p| p.epoch = 1 << 32));
    add("epoch 1700000000 (a Unix time)", &["EpochBoundary"], rec(|p| p.epoch = 1_700_000_000));

    // Strings.
    add("shard_id with a double quote", &["StringEscape"], strings(&"a".repeat(64), "shard\"1\""));
    add("shard_id with a backslash", &["StringEscape"], strings(&"a".repeat(64), "shard\\001"));
    add("shard_id with \\b \\f \\n \\r", &["StringEscape", "ControlCharacter"], strings(&"a".repeat(64), "s\u{8}\u{c}\n\r"));
    add("shard_id with a tab", &["StringEscape", "ControlCharacter"], strings(&"a".repeat(64), "shard\t001"));
    add("shard_id with U+0000, U+0001, U+001F", &["ControlCharacter"], strings(&"a".repeat(64), "s\u{0}\u{1}\u{1f}"));
    add("shard_id with U+000B and U+001B (no short escape)", &["ControlCharacter"], strings(&"a".repeat(64), "v\u{b}esc\u{1b}"));
    add("shard_id with U+007F (literal)", &["ControlCharacter"], strings(&"a".repeat(64), "del\u{7f}"));
    add("merkle_root with < > &", &["HtmlCharacter"], strings("<script>&amp;</script>", "shard-001"));
    add("shard_id with non-ASCII letters", &["NonAscii"], strings(&"a".repeat(64), "shärd-ñ-日本-Ωμέγα"));
    add("shard_id with an emoji (astral plane)", &["NonAscii"], strings(&"a".repeat(64), "shard-🦀-😀"));
    add("shard_id with U+2028 and U+2029", &["LineSeparator", "NonAscii"], strings(&"a".repeat(64), "line\u{2028}para\u{2029}"));
    add("merkle_root with a slash (not escaped)", &["StringEscape"], strings("ab/cd/ef", "shard-001"));
    add("every escape at once", &["StringEscape", "ControlCharacter", "HtmlCharacter", "NonAscii", "LineSeparator"], strings("\"\\/<>&\u{0}\u{1f}\u{7f}é😀\u{2028}", "\t\n\r\u{8}\u{c}"));
    add("merkle_root of 128 bytes (the SPEC §1 limit)", &["LongString"], strings(&"0123456789abcdef".repeat(8), "shard-001"));
    add("shard_id of 128 bytes in 64 two-byte characters", &["LongString", "NonAscii"], strings(&"a".repeat(64), &"é".repeat(64)));

    // pcs_id as given.
    add("pcs_id that does not match: the payload signs it as given", &["PcsIdMismatch"], rec_raw(|p| p.pcs_id = "abc123".into()));
    add("empty pcs_id", &["PcsIdMismatch", "EmptyString"], rec_raw(|p| p.pcs_id = String::new()));

    // Unsigned fields.
    add("ft, sig, attempt, seed, v_star and regime do not enter the payload", &["UnsignedField"], rec(|p| {
        p.attempt = 7;
        p.seed = -9;
        p.v_star = vec![0.5, -0.25];
        p.regime = "mixed".into();
        p.sig = Some("AAAA".into());
        p.ft = Some(fractal_core::FaultTolerance { outbox_seq: Some(3), degraded: Some(true), fallbacks: Some(vec!["disk".into()]), clock_skew_ms: Some(-12) });
    }));
    let mut unknown = spec_example().to_value();
    unknown["zz_unknown"] = json!({"nested": [1, 2, 3]});
    unknown["aa_unknown"] = json!("ignored");
    cases.push(("unknown fields are accepted and not signed".into(), vec!["UnsignedField"], unknown));
    cases
}

pub(crate) fn canonical_file(kp: &Ed25519Keypair) -> File<CanonicalGroup> {
    let mut tests = Vec::new();
    for (i, (comment, flags, record)) in canonical_cases().into_iter().enumerate() {
        let pcs = Pcs::from_value(record.clone()).unwrap_or_else(|e| panic!("case {comment:?} does not parse: {e}"));
        let payload = canonical_payload_v1(&pcs).unwrap_or_else(|e| panic!("case {comment:?}: {e}"));
        let digest = sha256(&payload);
        let expected_id = pcs_id(&pcs.merkle_root, pcs.epoch, &pcs.shard_id);
        assert_eq!(
            expected_id == pcs.pcs_id,
            !flags.contains(&"PcsIdMismatch"),
            "case {comment:?}: PcsIdMismatch flag disagrees with the record"
        );
        tests.push(CanonicalTest {
            tc_id: i + 1,
            comment,
            flags,
            record,
            expected: CanonicalExpected {
                pcs_id: expected_id,
                canonical: String::from_utf8(payload).expect("payload is UTF-8"),
                digest_hex: hex(&digest),
                sig_hmac: sign_hmac_digest(&digest, HMAC_KEY.as_bytes()).expect("key is not empty"),
                sig_ed25519: kp.sign_digest(&digest),
            },
            result: "valid",
        });
    }
    let n = tests.len();
    file(
        "fractal-lba-pcs-canonical-v1",
        CANONICAL_NOTES,
        vec![CanonicalGroup { hmac_key: HMAC_KEY, ed25519_seed: kp.seed_b64(), ed25519_public: kp.public_b64(), tests }],
        n,
    )
}
