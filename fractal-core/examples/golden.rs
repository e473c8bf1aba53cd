//! Writes the golden vectors of SPEC §8 into a directory:
//!
//! ```text
//! cargo run --release -p fractal-core --example golden -- golden/
//! ```
//!
//! The INPUTS of every case are chosen by hand below; the expected outputs of the
//! canonical, verify and ring files are computed by the core and then checked by
//! an independent oracle (`golden/oracle/check.mjs`). The expected error kind and
//! field of every reject case are written by hand too, and the generator refuses
//! to write a file the core disagrees with. Output is deterministic: fixed keys,
//! struct field order, pretty-printed JSON with a trailing newline.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fractal_core::{
    BuildInput, Ed25519Keypair, Pcs, Ring, ShardSpec, VerifyParams, VerifyResult, b64encode, build_pcs, canonical_payload,
    hex, pcs_id, sha256, sign_hmac_digest, validate, verify,
};
use serde::Serialize;
use serde_json::{Value, json};

/// The HMAC key of every group: non-ASCII on purpose (HMAC keys are UTF-8 bytes).
const HMAC_KEY: &str = "golden-hmac-key/v1/κλειδί";
/// The Ed25519 seed of every group: bytes 0x01 ..= 0x20.
const SEED: [u8; 32] = {
    let mut s = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        s[i] = i as u8 + 1;
        i += 1;
    }
    s
};
const GENERATOR: &str = "cargo run --release -p fractal-core --example golden -- golden/";

#[derive(Serialize)]
struct File<G> {
    algorithm: &'static str,
    version: &'static str,
    generator: &'static str,
    #[serde(rename = "numberOfTests")]
    number_of_tests: usize,
    notes: BTreeMap<&'static str, &'static str>,
    #[serde(rename = "testGroups")]
    test_groups: Vec<G>,
}

fn file<G>(algorithm: &'static str, notes: &[(&'static str, &'static str)], groups: Vec<G>, count: usize) -> File<G> {
    File {
        algorithm,
        version: "1",
        generator: GENERATOR,
        number_of_tests: count,
        notes: notes.iter().copied().collect(),
        test_groups: groups,
    }
}

// ---------------------------------------------------------------- records

/// The SPEC §3 sample record, complete and valid.
fn spec_example() -> Pcs {
    let (scales, n_j) = counts(&[(2, 3), (4, 7), (8, 19), (16, 50), (32, 133)]);
    let mut p = build_pcs(&BuildInput { scales, n_j, ..BuildInput::example() }).expect("the example builds");
    p.d_hat = 1.41;
    p.regime = "sticky".into();
    p.coh_star = 0.73;
    p.r = 0.87;
    p.budget = 0.42;
    p.sent_at = Some("2026-01-02T03:04:05Z".into());
    p
}

/// `f` applied to the SPEC example, with `pcs_id` recomputed from the result.
fn rec(f: impl FnOnce(&mut Pcs)) -> Pcs {
    let mut p = spec_example();
    f(&mut p);
    p.pcs_id = pcs_id(&p.merkle_root, p.epoch, &p.shard_id);
    p
}

/// Like [`rec`] but leaves `pcs_id` as `f` set it.
fn rec_raw(f: impl FnOnce(&mut Pcs)) -> Pcs {
    let mut p = spec_example();
    f(&mut p);
    p
}

fn nums(d_hat: f64, coh_star: f64, r: f64, budget: f64) -> Pcs {
    rec(|p| {
        p.d_hat = d_hat;
        p.coh_star = coh_star;
        p.r = r;
        p.budget = budget;
    })
}

fn strings(merkle_root: &str, shard_id: &str) -> Pcs {
    rec(|p| {
        p.merkle_root = merkle_root.into();
        p.shard_id = shard_id.into();
    })
}

// ---------------------------------------------------------------- canonical.json

#[derive(Serialize)]
struct CanonicalGroup {
    hmac_key: &'static str,
    ed25519_seed: String,
    ed25519_public: String,
    tests: Vec<CanonicalTest>,
}

#[derive(Serialize)]
struct CanonicalTest {
    #[serde(rename = "tcId")]
    tc_id: usize,
    comment: String,
    flags: Vec<&'static str>,
    record: Value,
    expected: CanonicalExpected,
    result: &'static str,
}

#[derive(Serialize)]
struct CanonicalExpected {
    pcs_id: String,
    canonical: String,
    digest_hex: String,
    sig_hmac: String,
    sig_ed25519: String,
}

const CANONICAL_NOTES: &[(&str, &str)] = &[
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
    ("EmptyString", "An empty string field is signed as `\"\"` (validation, not signing, refuses it)."),
    ("LongString", "A long string field is signed whole."),
    ("NearestFloat", "The record's decimal must parse to the nearest binary64: a parser off by one ulp (serde_json without `float_roundtrip`) signs a different payload."),
    ("KeyOrder", "Keys sort by UTF-16 code units: `D_hat` (uppercase) before `budget`."),
];

fn canonical_cases() -> Vec<(String, Vec<&'static str>, Value)> {
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
    add("empty shard_id", &["EmptyString"], strings(&"a".repeat(64), ""));
    add("empty merkle_root", &["EmptyString"], strings("", "shard-001"));
    add("merkle_root of 4096 hex digits", &["LongString"], strings(&"0123456789abcdef".repeat(256), "shard-001"));

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

fn canonical_file(kp: &Ed25519Keypair) -> File<CanonicalGroup> {
    let mut tests = Vec::new();
    for (i, (comment, flags, record)) in canonical_cases().into_iter().enumerate() {
        let pcs = Pcs::from_value(record.clone()).unwrap_or_else(|e| panic!("case {comment:?} does not parse: {e}"));
        let payload = canonical_payload(&pcs).unwrap_or_else(|e| panic!("case {comment:?}: {e}"));
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

// ---------------------------------------------------------------- verify.json

#[derive(Serialize)]
struct VerifyGroup {
    comment: &'static str,
    params: VerifyParams,
    tests: Vec<VerifyTest>,
}

#[derive(Serialize)]
struct VerifyTest {
    #[serde(rename = "tcId")]
    tc_id: usize,
    comment: String,
    flags: Vec<&'static str>,
    record: Value,
    expected: VerifyResult,
    result: &'static str,
}

const VERIFY_NOTES: &[(&str, &str)] = &[
    ("Accepted", "Step 7: every check passes."),
    ("Structure", "Step 1: schema, a required string empty, pcs_id mismatch or no scales → rejected, escalated, reason `validation failed: …`."),
    ("TheilSen", "Step 2: the Theil–Sen estimate (upper median of pairwise slopes, scales in the order given) cannot be computed → rejected, escalated."),
    ("TheilSenMedian", "Step 2 succeeds: checks the slope set, the upper median (index len/2) and round9 of recomputed_D_hat."),
    ("DHatTolerance", "Step 3: |D_hat − recomputed_D_hat| > tolD → rejected, escalated; equal to or within tolD passes."),
    ("CohRange", "Step 4: coh_star < 0 or > 1 + tolCoh → rejected, escalated."),
    ("Regime", "Step 5: regime differs from classify(D_hat, coh_star) → accepted, escalated. Boundaries: coh_star ≥ 0.70 and D_hat ≤ 1.5 is sticky, D_hat ≥ 2.6 non_sticky."),
    ("Budget", "Step 6: |budget − recomputed_budget| > 0.01 → accepted, escalated; includes clamping to [0, 1]."),
    ("Order", "Several checks fail: the first in SPEC order decides."),
    ("Params", "Non-default VerifyParams change the outcome."),
];

fn counts(pairs: &[(i64, i64)]) -> (Vec<i64>, BTreeMap<String, i64>) {
    (pairs.iter().map(|p| p.0).collect(), pairs.iter().map(|(s, n)| (s.to_string(), *n)).collect())
}

/// A valid record from measurements (build_pcs derives D_hat, regime and budget).
fn built(pairs: &[(i64, i64)], coh_star: f64, r: f64, f: impl FnOnce(&mut Pcs)) -> Pcs {
    let (scales, n_j) = counts(pairs);
    let input = BuildInput { scales, n_j, coh_star, r, ..BuildInput::example() };
    let mut p = build_pcs(&input).expect("measurements build");
    f(&mut p);
    p
}

fn ex(f: impl FnOnce(&mut Pcs)) -> Pcs {
    let mut p = build_pcs(&BuildInput::example()).expect("the example builds");
    f(&mut p);
    p
}

fn verify_cases() -> Vec<(&'static str, VerifyParams, Vec<(String, Vec<&'static str>, Pcs)>)> {
    let mut default = Vec::new();
    let mut add = |c: &str, f: &[&'static str], p: Pcs| default.push((c.to_string(), f.to_vec(), p));
    let slope2 = [(2, 4), (4, 16), (8, 64)];

    add("the built example record is accepted", &["Accepted"], ex(|_| {}));
    add("the SPEC §3 example: D_hat 1.41 is within tolD, but its budget 0.42 is not the formula's", &["Budget", "TheilSenMedian"], spec_example());
    add("the SPEC §3 example with the formula's budget is accepted", &["Accepted"], rec(|p| p.budget = fractal_core::compute_budget(p.d_hat, p.r, p.coh_star, &VerifyParams::default())));
    add("exact power law, slope 2 (mixed)", &["Accepted", "TheilSenMedian"], built(&slope2, 0.5, 0.5, |_| {}));
    add("scales given in descending order give the same slope", &["Accepted", "TheilSenMedian"], built(&[(8, 64), (2, 4), (4, 16)], 0.5, 0.5, |_| {}));
    add("even number of slopes: the upper median is taken", &["Accepted", "TheilSenMedian"], built(&[(2, 2), (4, 8), (8, 16), (16, 256)], 0.4, 0.9, |_| {}));
    add("noisy counts with an outlier: the median ignores it", &["Accepted", "TheilSenMedian"], built(&[(2, 5), (4, 11), (8, 23), (16, 45), (32, 9000)], 0.8, 0.95, |_| {}));
    add("non-power-of-two scales (log2 not exact)", &["Accepted", "TheilSenMedian"], built(&[(3, 7), (5, 20), (7, 41), (11, 99)], 0.6, 0.3, |_| {}));
    add("a repeated scale is skipped as a pair, others still count", &["Accepted", "TheilSenMedian"], built(&[(2, 4), (2, 4), (8, 64)], 0.5, 0.5, |_| {}));

    add("schema is not fractal-lba-kakeya", &["Structure"], ex(|p| p.schema = "fractal-lba".into()));
    add("version is empty", &["Structure"], ex(|p| p.version = String::new()));
    add("shard_id is empty", &["Structure"], ex(|p| {
        p.shard_id = String::new();
        p.pcs_id = pcs_id(&p.merkle_root, p.epoch, "");
    }));
    add("merkle_root is empty", &["Structure"], ex(|p| {
        p.merkle_root = String::new();
        p.pcs_id = pcs_id("", p.epoch, &p.shard_id);
    }));
    add("pcs_id does not match merkle_root|epoch|shard_id", &["Structure"], ex(|p| p.pcs_id = pcs_id(&p.merkle_root, p.epoch + 1, &p.shard_id)));
    add("pcs_id is empty", &["Structure"], ex(|p| p.pcs_id = String::new()));
    add("scales is empty", &["Structure"], ex(|p| p.scales.clear()));
    add("schema wrong and D_hat wrong: structure is reported first", &["Structure", "Order"], ex(|p| {
        p.schema = "other".into();
        p.d_hat = 9.0;
    }));

    add("a single scale", &["TheilSen"], ex(|p| p.scales = vec![2]));
    add("N_j has no entry for a scale", &["TheilSen"], ex(|p| {
        p.n_j.remove("8");
    }));
    add("N_j entry zero", &["TheilSen"], ex(|p| {
        p.n_j.insert("4".into(), 0);
    }));
    add("N_j entry negative", &["TheilSen"], ex(|p| {
        p.n_j.insert("16".into(), -5);
    }));
    add("only one distinct scale: no usable pair", &["TheilSen"], ex(|p| p.scales = vec![4, 4, 4]));
    add("N_j keyed by \"04\" is not the entry of scale 4", &["TheilSen"], ex(|p| {
        let v = p.n_j.remove("4").expect("example has scale 4");
        p.n_j.insert("04".into(), v);
    }));

    add("D_hat 0.2 above the estimate", &["DHatTolerance"], built(&slope2, 0.5, 0.5, |p| p.d_hat = 2.2));
    add("D_hat 0.2 below the estimate", &["DHatTolerance"], built(&slope2, 0.5, 0.5, |p| p.d_hat = 1.8));
    add("D_hat 2.16 vs 2: the binary64 difference 0.16… is outside tolD", &["DHatTolerance"], built(&slope2, 0.5, 0.5, |p| p.d_hat = 2.16));
    add("D_hat 0.1 off is within tolD", &["DHatTolerance", "Accepted"], built(&slope2, 0.5, 0.5, |p| p.d_hat = 2.1));
    add("D_hat 1.85 vs 2: the binary64 difference 0.1499… is within tolD", &["DHatTolerance", "Accepted"], built(&slope2, 0.5, 0.5, |p| p.d_hat = 1.85));
    add("D_hat wrong and coh_star out of range: D_hat is reported first", &["DHatTolerance", "Order"], built(&slope2, 0.5, 0.5, |p| {
        p.d_hat = 3.0;
        p.coh_star = 2.0;
    }));

    add("coh_star negative", &["CohRange"], built(&slope2, 0.5, 0.5, |p| p.coh_star = -0.01));
    add("coh_star 1.06 above 1 + tolCoh", &["CohRange"], built(&slope2, 0.5, 0.5, |p| p.coh_star = 1.06));
    add("coh_star 1.04 is within 1 + tolCoh", &["CohRange", "Budget"], built(&slope2, 0.5, 0.5, |p| p.coh_star = 1.04));

    add("regime sticky reported for a mixed record", &["Regime"], built(&slope2, 0.5, 0.5, |p| p.regime = "sticky".into()));
    add("regime not one of the three names", &["Regime"], ex(|p| p.regime = "turbulent".into()));
    add("regime empty", &["Regime"], ex(|p| p.regime = String::new()));
    add("boundary: D_hat 1.5 and coh_star 0.70 is sticky", &["Regime", "Accepted"], built(&[(2, 2), (8, 16)], 0.70, 0.5, |_| {}));
    add("boundary: coh_star 0.69 with D_hat 1.5 is mixed, sticky is wrong", &["Regime"], built(&[(2, 2), (8, 16)], 0.69, 0.5, |p| p.regime = "sticky".into()));
    add("boundary: D_hat 2.6 is non_sticky, mixed is wrong", &["Regime"], built(&[(2, 4), (1024, 1_679_616)], 0.5, 0.5, |p| {
        p.d_hat = 2.6;
        p.regime = "mixed".into();
    }));
    add("regime wrong and budget wrong: regime is reported first", &["Regime", "Order"], built(&slope2, 0.5, 0.5, |p| {
        p.regime = "non_sticky".into();
        p.budget = 0.99;
    }));

    add("budget 0.02 above the recomputed budget", &["Budget"], built(&slope2, 0.5, 0.5, |p| p.budget += 0.02));
    add("budget 0.02 below the recomputed budget", &["Budget"], built(&slope2, 0.5, 0.5, |p| p.budget -= 0.02));
    add("budget 0.009 off is within tolerance", &["Budget", "Accepted"], built(&slope2, 0.5, 0.5, |p| p.budget += 0.009));
    add("steep slope: the budget clamps to 1", &["Budget", "Accepted"], built(&[(2, 16), (4, 256), (8, 4096)], 1.0, 0.0, |_| {}));
    add("steep slope with budget 0.9 instead of the clamped 1", &["Budget"], built(&[(2, 16), (4, 256), (8, 4096)], 1.0, 0.0, |p| p.budget = 0.9));

    let mut groups = vec![("SPEC §5 default parameters", VerifyParams::default(), default)];

    let strict = VerifyParams { tol_d: 0.01, budget_tol: 0.001, ..VerifyParams::default() };
    groups.push(("strict tolerances: tol_d 0.01, budget_tol 0.001", strict, vec![
        ("the SPEC example's D_hat 1.41 is now outside tol_d".into(), vec!["Params", "DHatTolerance"], spec_example()),
        ("a built record still passes".into(), vec!["Params", "Accepted"], ex(|_| {})),
        ("budget 0.005 off now fails".into(), vec!["Params", "Budget"], ex(|p| p.budget += 0.005)),
    ]));

    let shifted = VerifyParams { base: -0.5, alpha: 0.0, beta: 1.0, gamma: 0.0, d0: 1.0, tol_coh: 0.5, ..VerifyParams::default() };
    groups.push(("shifted budget formula: base -0.5, alpha 0, beta 1, gamma 0, d0 1, tol_coh 0.5", shifted, vec![
        ("slope 1: -0.5 + 1×max(0, 1-1) clamps to budget 0".into(), vec!["Params", "Budget", "Accepted"], built(&[(2, 2), (4, 4), (8, 8)], 0.5, 0.5, |p| p.budget = 0.0)),
        ("slope 1 with the default formula's budget now fails".into(), vec!["Params", "Budget"], built(&[(2, 2), (4, 4), (8, 8)], 0.5, 0.5, |_| {})),
        ("budget 0.5 = -0.5 + 1×(2-1)".into(), vec!["Params", "Budget", "Accepted"], built(&[(2, 4), (4, 16), (8, 64)], 0.5, 0.5, |p| p.budget = 0.5)),
        ("coh_star 1.4 is inside 1 + tol_coh".into(), vec!["Params", "CohRange", "Accepted"], built(&slope2, 0.5, 0.5, |p| {
            p.coh_star = 1.4;
            p.budget = 0.5;
        })),
    ]));
    groups
}

fn verify_file() -> File<VerifyGroup> {
    let mut groups = Vec::new();
    let mut n = 0;
    for (comment, params, cases) in verify_cases() {
        let tests = cases
            .into_iter()
            .map(|(comment, flags, pcs)| {
                n += 1;
                let expected = verify(&pcs, &params);
                let ok = expected.accepted && !expected.escalated;
                assert_eq!(ok, flags.contains(&"Accepted"), "verify case {comment:?}: outcome {expected:?} disagrees with its flags");
                VerifyTest {
                    tc_id: n,
                    comment,
                    flags,
                    record: pcs.to_value(),
                    expected,
                    result: if ok { "valid" } else { "invalid" },
                }
            })
            .collect();
        groups.push(VerifyGroup { comment, params, tests });
    }
    file("fractal-lba-verify-v1", VERIFY_NOTES, groups, n)
}

// ---------------------------------------------------------------- ring.json

#[derive(Serialize)]
struct RingGroup {
    comment: &'static str,
    vnodes: u32,
    shards: Vec<ShardSpec>,
    tests: Vec<RingTest>,
}

#[derive(Serialize)]
struct RingTest {
    #[serde(rename = "tcId")]
    tc_id: usize,
    comment: String,
    flags: Vec<&'static str>,
    op: &'static str,
    key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expected: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_kind: Option<&'static str>,
    result: &'static str,
}

const RING_NOTES: &[(&str, &str)] = &[
    ("Pick", "pick: first point with hash ≥ h(key), wrapping; points ordered by (hash, shard name)."),
    ("PickN", "pick_n: distinct healthy shards clockwise from the same start."),
    ("Weight", "A shard of weight w owns vnodes·w points (labels `name#0` … `name#(vnodes·w−1)`)."),
    ("Unhealthy", "Unhealthy shards keep their points; lookups walk past them."),
    ("NoHealthy", "No healthy shard (or fewer than n for pick_n) is a `ring` error."),
    ("PcsIdKey", "The key is a pcs_id, as the server routes records."),
];

fn shard(name: &str, weight: u32, healthy: bool) -> ShardSpec {
    ShardSpec { name: name.into(), weight, healthy }
}

fn ring_file() -> File<RingGroup> {
    let example_id = spec_example().pcs_id;
    let keys: Vec<String> = vec!["".into(), "a".into(), "key-1".into(), "key-2".into(), "tenant/7/record".into(), example_id.clone(), "é🦀".into()];
    let numbered = |n: usize, w: u32| (0..n).map(|i| shard(&format!("shard-{i:03}"), w, true)).collect::<Vec<_>>();
    let weighted = vec![shard("alpha", 1, true), shard("beta", 3, true), shard("gamma", 2, true)];
    let mut sick = numbered(5, 1);
    sick[1].healthy = false;
    sick[3].healthy = false;
    let groups_in: Vec<(&'static str, u32, Vec<ShardSpec>, Vec<(&'static str, usize)>)> = vec![
        ("three shards, default vnodes", 150, vec![shard("a", 1, true), shard("b", 1, true), shard("c", 1, true)], vec![("pick", 0), ("pick_n", 2), ("pick_n", 3), ("pick_n", 4)]),
        ("one shard", 150, vec![shard("only", 1, true)], vec![("pick", 0), ("pick_n", 1), ("pick_n", 2)]),
        ("weights 1, 3, 2", 150, weighted, vec![("pick", 0), ("pick_n", 3)]),
        ("five shards, two unhealthy", 150, sick, vec![("pick", 0), ("pick_n", 3), ("pick_n", 4)]),
        ("sixty-four shards, vnodes 40", 40, numbered(64, 1), vec![("pick", 0), ("pick_n", 5)]),
        ("two shards, vnodes 1 (sparse ring, wrap-around)", 1, vec![shard("x", 1, true), shard("y", 2, true)], vec![("pick", 0), ("pick_n", 2)]),
        ("all shards unhealthy", 150, vec![shard("a", 1, false), shard("b", 1, false)], vec![("pick", 0), ("pick_n", 1)]),
    ];
    let mut groups = Vec::new();
    let mut n_tests = 0;
    for (comment, vnodes, shards, ops) in groups_in {
        let ring = Ring::with_shards(vnodes, &shards).expect("ring builds");
        let mut tests = Vec::new();
        for (op, n) in ops {
            for key in &keys {
                n_tests += 1;
                let got = if op == "pick" {
                    ring.pick(key.as_bytes()).map(|s| json!(s))
                } else {
                    ring.pick_n(key.as_bytes(), n).map(|v| json!(v))
                };
                let mut flags = vec![if op == "pick" { "Pick" } else { "PickN" }];
                if shards.iter().any(|s| s.weight > 1) {
                    flags.push("Weight");
                }
                if shards.iter().any(|s| !s.healthy) {
                    flags.push("Unhealthy");
                }
                if *key == example_id {
                    flags.push("PcsIdKey");
                }
                let healthy = shards.iter().filter(|s| s.healthy).count();
                let should_fail = healthy == 0 || (op == "pick_n" && n > healthy);
                assert_eq!(got.is_err(), should_fail, "ring {comment:?} {op} {key:?} {n}");
                if should_fail {
                    flags.push("NoHealthy");
                }
                let what = if op == "pick" { format!("pick({key:?})") } else { format!("pick_n({key:?}, {n})") };
                tests.push(RingTest {
                    tc_id: n_tests,
                    comment: what,
                    flags,
                    op,
                    key: key.clone(),
                    n: (op == "pick_n").then_some(n),
                    error_kind: got.as_ref().err().map(|e| e.kind()),
                    expected: got.ok(),
                    result: if should_fail { "invalid" } else { "valid" },
                });
            }
        }
        groups.push(RingGroup { comment, vnodes, shards, tests });
    }
    file("fractal-lba-ring-v1", RING_NOTES, groups, n_tests)
}

// ---------------------------------------------------------------- reject.json

#[derive(Serialize)]
struct RejectGroup {
    comment: &'static str,
    hmac_key: &'static str,
    ed25519_public: String,
    tests: Vec<RejectTest>,
}

#[derive(Serialize)]
struct RejectTest {
    #[serde(rename = "tcId")]
    tc_id: usize,
    comment: String,
    flags: Vec<&'static str>,
    stage: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_type: Option<&'static str>,
    input: String,
    error_kind: &'static str,
    field: Option<&'static str>,
    result: &'static str,
}

const REJECT_NOTES: &[(&str, &str)] = &[
    ("NotJson", "Bytes that are not one well-formed JSON object → invalid_json."),
    ("MissingField", "A required field is missing → invalid_field naming it."),
    ("WrongType", "A field of the wrong JSON type → invalid_field naming it (nested fields by path, e.g. `ft.outbox_seq`)."),
    ("IntegerRange", "An integer outside its range (epoch beyond 2^53−1 or negative, seed beyond i64) → invalid_field."),
    ("LoneSurrogate", "A `\\uD800`-style escape without its pair → invalid_field naming the string's field."),
    ("Duplicate", "A field given twice → invalid_field."),
    ("Range", "SDK validation: coh_star, r or budget out of range → validation naming the field."),
    ("Structure", "SDK validation: schema, pcs_id, regime, empty strings, no scales → validation naming the field."),
    ("NotSignable", "A number whose round9 is not finite cannot be signed → invalid_field."),
    ("Base64", "A signature that is not strict standard base64 (whitespace, URL-safe alphabet, missing padding, non-zero trailing bits) → signature_invalid."),
    ("SigLength", "A signature that decodes to the wrong length → signature_invalid."),
    ("WrongKey", "A well-formed signature under another key → signature_invalid."),
    ("Tampered", "A signed field changed after signing → signature_invalid."),
    ("SigMissing", "No signature (or an empty one) where one is required → signature_missing."),
    ("BadKey", "An Ed25519 key that is not strict base64 of exactly 32 bytes (or not a curve point, for public keys) → invalid_key."),
];

struct Reject {
    comment: String,
    flags: Vec<&'static str>,
    stage: &'static str,
    key_type: Option<&'static str>,
    input: String,
    error_kind: &'static str,
    field: Option<&'static str>,
}

fn reject_cases(kp: &Ed25519Keypair) -> Vec<Reject> {
    let mut out = Vec::new();
    let mut r = |stage: &'static str, flags: &[&'static str], comment: &str, input: String, error_kind: &'static str, field: Option<&'static str>| {
        out.push(Reject { comment: comment.into(), flags: flags.to_vec(), stage, key_type: None, input, error_kind, field })
    };
    let base = spec_example().to_value();
    let text = |v: &Value| serde_json::to_string(v).expect("serializes");
    let with = |k: &str, v: Value| {
        let mut o = base.clone();
        o[k] = v;
        text(&o)
    };
    let without = |k: &str| {
        let mut o = base.clone();
        o.as_object_mut().expect("object").remove(k);
        text(&o)
    };
    let ok_text = text(&base);

    // parse
    r("parse", &["NotJson"], "empty input", String::new(), "invalid_json", None);
    r("parse", &["NotJson"], "not JSON at all", "hello".into(), "invalid_json", None);
    r("parse", &["NotJson"], "a JSON array, not an object", "[1,2,3]".into(), "invalid_json", None);
    r("parse", &["NotJson"], "a JSON string, not an object", "\"pcs\"".into(), "invalid_json", None);
    r("parse", &["NotJson"], "JSON null", "null".into(), "invalid_json", None);
    r("parse", &["NotJson"], "the field values as an array in declaration order", {
        let o = base.as_object().expect("object");
        let order = ["pcs_id", "schema", "version", "shard_id", "epoch", "attempt", "sent_at", "seed", "scales", "N_j", "coh_star", "v_star", "D_hat", "r", "regime", "budget", "merkle_root"];
        text(&Value::Array(order.iter().map(|k| o[*k].clone()).collect()))
    }, "invalid_json", None);
    r("parse", &["NotJson"], "truncated object", ok_text[..ok_text.len() / 2].to_string(), "invalid_json", None);
    r("parse", &["NotJson"], "trailing garbage after the object", format!("{ok_text} x"), "invalid_json", None);
    r("parse", &["NotJson"], "trailing comma", format!("{},}}", &ok_text[..ok_text.len() - 1]), "invalid_json", None);
    for f in ["pcs_id", "schema", "version", "shard_id", "epoch", "merkle_root"] {
        let field: &'static str = f;
        r("parse", &["MissingField"], &format!("{f} missing"), without(f), "invalid_field", Some(field));
    }
    r("parse", &["WrongType"], "pcs_id is a number", with("pcs_id", json!(7)), "invalid_field", Some("pcs_id"));
    r("parse", &["WrongType"], "shard_id is null", with("shard_id", Value::Null), "invalid_field", Some("shard_id"));
    r("parse", &["WrongType"], "epoch is a string", with("epoch", json!("1")), "invalid_field", Some("epoch"));
    r("parse", &["WrongType"], "epoch is not integral (1.5)", with("epoch", json!(1.5)), "invalid_field", Some("epoch"));
    r("parse", &["WrongType"], "D_hat is a string", with("D_hat", json!("1.41")), "invalid_field", Some("D_hat"));
    r("parse", &["WrongType"], "budget is a boolean", with("budget", json!(true)), "invalid_field", Some("budget"));
    r("parse", &["WrongType"], "scales is not an array", with("scales", json!(2)), "invalid_field", Some("scales"));
    r("parse", &["WrongType"], "a scale is a float", with("scales", json!([2, 4.5])), "invalid_field", Some("scales[1]"));
    r("parse", &["WrongType"], "an N_j count is a float", with("N_j", json!({"2": 3.5})), "invalid_field", Some("N_j.2"));
    r("parse", &["WrongType"], "ft.outbox_seq is a string", with("ft", json!({"outbox_seq": "3"})), "invalid_field", Some("ft.outbox_seq"));
    r("parse", &["WrongType"], "ft.degraded is a number", with("ft", json!({"degraded": 1})), "invalid_field", Some("ft.degraded"));
    r("parse", &["WrongType"], "ft is an array", with("ft", json!([3, true, ["disk"], 0])), "invalid_field", Some("ft"));
    r("parse", &["WrongType"], "sig is a number", with("sig", json!(12)), "invalid_field", Some("sig"));
    r("parse", &["IntegerRange"], "epoch is negative", with("epoch", json!(-1)), "invalid_field", Some("epoch"));
    r("parse", &["IntegerRange"], "epoch is 2^53", with("epoch", json!(1u64 << 53)), "invalid_field", Some("epoch"));
    r("parse", &["IntegerRange"], "epoch is 2^64", ok_text.replace("\"epoch\":1", "\"epoch\":18446744073709551616"), "invalid_field", Some("epoch"));
    r("parse", &["IntegerRange"], "seed is 2^63", ok_text.replace("\"seed\":42", "\"seed\":9223372036854775808"), "invalid_field", Some("seed"));
    r("parse", &["LoneSurrogate"], "shard_id holds a lone high surrogate", ok_text.replace("\"shard-001\"", "\"shard-\\ud800\""), "invalid_field", Some("shard_id"));
    r("parse", &["LoneSurrogate"], "merkle_root holds a lone low surrogate", ok_text.replacen(&"a".repeat(64), "\\udc00", 1), "invalid_field", Some("merkle_root"));
    r("parse", &["Duplicate"], "epoch given twice", ok_text.replacen("{", "{\"epoch\":2,", 1), "invalid_field", Some("epoch"));

    // validate
    let bad = |f: &dyn Fn(&mut Pcs)| {
        let mut p = spec_example();
        f(&mut p);
        String::from_utf8(p.to_json()).expect("UTF-8")
    };
    r("validate", &["Range"], "coh_star 1.06 above 1.05", bad(&|p| p.coh_star = 1.06), "validation", Some("coh_star"));
    r("validate", &["Range"], "coh_star negative", bad(&|p| p.coh_star = -0.01), "validation", Some("coh_star"));
    r("validate", &["Range"], "r above 1", bad(&|p| p.r = 1.5), "validation", Some("r"));
    r("validate", &["Range"], "r negative", bad(&|p| p.r = -0.1), "validation", Some("r"));
    r("validate", &["Range"], "budget above 1", bad(&|p| p.budget = 1.01), "validation", Some("budget"));
    r("validate", &["Range"], "budget negative", bad(&|p| p.budget = -0.5), "validation", Some("budget"));
    r("validate", &["Structure"], "schema is wrong", bad(&|p| p.schema = "fractal-lba".into()), "validation", Some("schema"));
    r("validate", &["Structure"], "pcs_id does not match", bad(&|p| p.pcs_id = "abc123".into()), "validation", Some("pcs_id"));
    r("validate", &["Structure"], "regime unknown", bad(&|p| p.regime = "turbulent".into()), "validation", Some("regime"));
    r("validate", &["Structure"], "version empty", bad(&|p| p.version = String::new()), "validation", Some("version"));
    r("validate", &["Structure"], "scales empty", bad(&|p| p.scales.clear()), "validation", Some("scales"));

    // sign
    r("sign", &["NotSignable"], "D_hat 1e300: ×1e9 overflows to Infinity", with("D_hat", json!(1e300)), "invalid_field", Some("D_hat"));
    r("sign", &["NotSignable"], "budget -1.7976931348623157e308", with("budget", json!(-f64::MAX)), "invalid_field", Some("budget"));

    // verify_signature
    let signed = |p: &Pcs, sig: String| {
        let mut p = p.clone();
        p.sig = Some(sig);
        String::from_utf8(p.to_json()).expect("UTF-8")
    };
    let p = spec_example();
    let d = fractal_core::digest(&p).expect("digest");
    let good = sign_hmac_digest(&d, HMAC_KEY.as_bytes()).expect("sign");
    let good_ed = kp.sign_digest(&d);
    let raw = fractal_core::b64decode(&good).expect("base64");
    r("verify_signature", &["SigMissing"], "no sig field", String::from_utf8(p.to_json()).expect("UTF-8"), "signature_missing", Some("sig"));
    r("verify_signature", &["SigMissing"], "sig is empty", signed(&p, String::new()), "signature_missing", Some("sig"));
    r("verify_signature", &["WrongKey"], "HMAC under another key", signed(&p, sign_hmac_digest(&d, b"another key").expect("sign")), "signature_invalid", Some("sig"));
    r("verify_signature", &["WrongKey"], "HMAC under the key's Latin-1 bytes instead of UTF-8", signed(&p, {
        let latin1: Vec<u8> = HMAC_KEY.chars().map(|c| c as u32 as u8).collect();
        sign_hmac_digest(&d, &latin1).expect("sign")
    }), "signature_invalid", Some("sig"));
    r("verify_signature", &["WrongKey"], "HMAC over the payload instead of the digest", signed(&p, {
        use hmac::{KeyInit, Mac};
        let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(HMAC_KEY.as_bytes()).expect("key");
        m.update(&canonical_payload(&p).expect("payload"));
        b64encode(&m.finalize().into_bytes())
    }), "signature_invalid", Some("sig"));
    r("verify_signature", &["WrongKey"], "HMAC over the hex digest instead of the raw 32 bytes", signed(&p, {
        use hmac::{KeyInit, Mac};
        let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(HMAC_KEY.as_bytes()).expect("key");
        m.update(hex(&d).as_bytes());
        b64encode(&m.finalize().into_bytes())
    }), "signature_invalid", Some("sig"));
    r("verify_signature", &["WrongKey"], "Ed25519 under another seed", signed(&p, Ed25519Keypair::from_seed(&[9; 32]).sign_digest(&d)), "signature_invalid", Some("sig"));
    r("verify_signature", &["Tampered"], "valid HMAC, then D_hat changed", signed(&rec(|q| q.d_hat = 1.42), good.clone()), "signature_invalid", Some("sig"));
    r("verify_signature", &["Tampered"], "valid Ed25519, then epoch changed", signed(&rec(|q| q.epoch = 2), good_ed.clone()), "signature_invalid", Some("sig"));
    r("verify_signature", &["Base64"], "URL-safe alphabet", signed(&p, base64_urlsafe(&raw)), "signature_invalid", Some("sig"));
    r("verify_signature", &["Base64"], "padding removed", signed(&p, good.trim_end_matches('=').to_string()), "signature_invalid", Some("sig"));
    r("verify_signature", &["Base64"], "a newline inside", signed(&p, format!("{}\n{}", &good[..20], &good[20..])), "signature_invalid", Some("sig"));
    r("verify_signature", &["Base64"], "a trailing space", signed(&p, format!("{good} ")), "signature_invalid", Some("sig"));
    r("verify_signature", &["Base64"], "non-zero trailing bits in the last character", signed(&p, flip_trailing_bits(&good)), "signature_invalid", Some("sig"));
    r("verify_signature", &["SigLength"], "31 bytes", signed(&p, b64encode(&raw[..31])), "signature_invalid", Some("sig"));
    r("verify_signature", &["SigLength"], "33 bytes", signed(&p, b64encode(&[&raw[..], &[0]].concat())), "signature_invalid", Some("sig"));
    r("verify_signature", &["SigLength"], "the hex of the MAC instead of its base64", signed(&p, hex(&raw)), "signature_invalid", Some("sig"));

    // key
    let mut k = |key_type: &'static str, comment: &str, input: String| {
        out.push(Reject { comment: comment.into(), flags: vec!["BadKey"], stage: "key", key_type: Some(key_type), input, error_kind: "invalid_key", field: None })
    };
    k("seed", "seed of 31 bytes", b64encode(&SEED[..31]));
    k("seed", "seed of 64 bytes (seed and public key concatenated)", b64encode(&[&SEED[..], &SEED[..]].concat()));
    k("seed", "seed in hex", hex(&SEED));
    k("seed", "seed without padding", kp.seed_b64().trim_end_matches('=').to_string());
    k("seed", "empty seed", String::new());
    k("public", "public key of 33 bytes", b64encode(&[0u8; 33]));
    k("public", "public key in URL-safe base64", base64_urlsafe(&fractal_core::b64decode(&kp.public_b64()).expect("b64")));
    k("public", "public key that is not a curve point", b64encode(&not_a_point()));
    out
}

/// A 32-byte string that does not decode to an Edwards point (y = 2).
fn not_a_point() -> [u8; 32] {
    let mut b = [0u8; 32];
    b[0] = 2;
    b
}

fn base64_urlsafe(raw: &[u8]) -> String {
    let s = b64encode(raw).replace('+', "-").replace('/', "_");
    assert!(s.contains('-') || s.contains('_'), "pick bytes whose base64 uses + or /");
    s
}

/// Changes the last base64 character before the padding so its unused low bits
/// are non-zero (the decoded bytes stay the same under a lax decoder).
fn flip_trailing_bits(s: &str) -> String {
    const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let body = s.trim_end_matches('=');
    let pad = s.len() - body.len();
    let last = body.chars().last().expect("non-empty");
    let idx = ALPHABET.find(last).expect("base64 char");
    let unused_bits = if pad == 1 { 2 } else { 4 };
    let flipped = ALPHABET.as_bytes()[idx | ((1 << unused_bits) - 1)] as char;
    assert_ne!(flipped, last);
    format!("{}{}{}", &body[..body.len() - 1], flipped, "=".repeat(pad))
}

/// Runs a reject case through the core; `Err` holds the error's (kind, field).
fn run_reject(c: &Reject, v: &fractal_core::Verifier) -> Result<(), (&'static str, Option<String>)> {
    let err = |e: fractal_core::Error| (e.kind(), e.field().map(String::from));
    match c.stage {
        "parse" => Pcs::from_json(c.input.as_bytes()).map(drop).map_err(err),
        "validate" => validate(&Pcs::from_json(c.input.as_bytes()).expect("validate input parses")).map_err(err),
        "sign" => canonical_payload(&Pcs::from_json(c.input.as_bytes()).expect("sign input parses")).map(drop).map_err(err),
        "verify_signature" => v.verify(&Pcs::from_json(c.input.as_bytes()).expect("signature input parses")).map_err(err),
        "key" if c.key_type == Some("seed") => Ed25519Keypair::from_seed_b64(&c.input).map(drop).map_err(err),
        "key" => fractal_core::Verifier::new().add_ed25519_public_key(&c.input).map(drop).map_err(err),
        other => panic!("unknown stage {other}"),
    }
}

fn reject_file(kp: &Ed25519Keypair) -> File<RejectGroup> {
    let mut v = fractal_core::Verifier::new();
    v.add_hmac_key(HMAC_KEY.as_bytes()).expect("key");
    v.add_ed25519_public_key(&kp.public_b64()).expect("key");
    let mut tests = Vec::new();
    let mut disagreements = Vec::new();
    for (i, c) in reject_cases(kp).into_iter().enumerate() {
        match run_reject(&c, &v) {
            Ok(()) => disagreements.push(format!("{:?}: accepted by the core", c.comment)),
            Err((kind, field)) if (kind, field.as_deref()) != (c.error_kind, c.field) => disagreements
                .push(format!("{:?}: core says ({kind}, {field:?}), expected ({}, {:?})", c.comment, c.error_kind, c.field)),
            Err(_) => {}
        }
        tests.push(RejectTest {
            tc_id: i + 1,
            comment: c.comment,
            flags: c.flags,
            stage: c.stage,
            key_type: c.key_type,
            input: c.input,
            error_kind: c.error_kind,
            field: c.field,
            result: "invalid",
        });
    }
    assert!(disagreements.is_empty(), "reject cases the core disagrees with:\n{}", disagreements.join("\n"));
    let n = tests.len();
    file(
        "fractal-lba-reject-v1",
        REJECT_NOTES,
        vec![RejectGroup {
            comment: "verify_signature cases are checked by a verifier holding hmac_key and ed25519_public",
            hmac_key: HMAC_KEY,
            ed25519_public: kp.public_b64(),
            tests,
        }],
        n,
    )
}

// ---------------------------------------------------------------- main

fn write<T: Serialize>(dir: &Path, name: &str, value: &T) {
    let mut text = serde_json::to_string_pretty(value).expect("serializes");
    text.push('\n');
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    println!("wrote {}", path.display());
}

fn main() {
    let dir: PathBuf = std::env::args_os().nth(1).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("golden"));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    let kp = Ed25519Keypair::from_seed(&SEED);
    write(&dir, "canonical.json", &canonical_file(&kp));
    write(&dir, "verify.json", &verify_file());
    write(&dir, "ring.json", &ring_file());
    write(&dir, "reject.json", &reject_file(&kp));
}
