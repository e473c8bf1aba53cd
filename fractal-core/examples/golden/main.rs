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

// Literals with more digits than binary64 holds are the point of some cases
// (the parser must round them to the nearest binary64).
#![allow(clippy::excessive_precision)]

mod protocol;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fractal_core::{
    BuildInput, Ed25519Keypair, LegacyEncoding, Pcs, Ring, ShardSpec, SigVersion, SignaturePolicy, SigningFields,
    SigningKeyMaterial, Verifier, VerifyParams, VerifyResult, b64encode, build_pcs, canonical_payload_v1,
    canonical_payload_v2, hex, pcs_id, read_digest, sha256, sign_hmac_digest, validate, verify,
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
    ("EmptyString", "An empty pcs_id is signed as `\"\"` (validation, not signing, refuses it)."),
    ("LongString", "A string at the SPEC §1 limit of 128 bytes is signed whole."),
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

fn canonical_file(kp: &Ed25519Keypair) -> File<CanonicalGroup> {
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

/// A verify.json group: its comment, parameters and (comment, flags, record) cases.
type VerifyCases = (&'static str, VerifyParams, Vec<(String, Vec<&'static str>, Pcs)>);

fn verify_cases() -> Vec<VerifyCases> {
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
    add("pcs_id does not match merkle_root|epoch|shard_id", &["Structure"], ex(|p| p.pcs_id = pcs_id(&p.merkle_root, p.epoch + 1, &p.shard_id)));
    add("pcs_id is empty", &["Structure"], ex(|p| p.pcs_id = String::new()));
    add("scales and N_j are empty", &["Structure"], ex(|p| {
        p.scales.clear();
        p.n_j.clear();
    }));
    add("schema wrong and D_hat wrong: structure is reported first", &["Structure", "Order"], ex(|p| {
        p.schema = "other".into();
        p.d_hat = 9.0;
    }));

    add("a single scale", &["TheilSen"], ex(|p| {
        p.scales = vec![2];
        p.n_j.retain(|k, _| k == "2");
    }));
    add("N_j has no entry for a scale", &["TheilSen"], ex(|p| {
        p.n_j.remove("8");
    }));
    add("N_j is empty", &["TheilSen"], ex(|p| p.n_j.clear()));
    add("only one distinct scale: no usable pair", &["TheilSen"], ex(|p| {
        p.scales = vec![4, 4, 4];
        p.n_j.retain(|k, _| k == "4");
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
                // Every record must get past the SPEC §1 parser: verification judges
                // only well-formed records.
                let back = Pcs::from_value(pcs.to_value()).unwrap_or_else(|e| panic!("verify case {comment:?} is malformed: {e}"));
                assert_eq!(back.to_value(), pcs.to_value(), "verify case {comment:?} does not round-trip");
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
    type RingGroupIn = (&'static str, u32, Vec<ShardSpec>, Vec<(&'static str, usize)>);
    let groups_in: Vec<RingGroupIn> = vec![
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

/// A signature policy as the golden files write it (SPEC §4, §4.1).
#[derive(Serialize, Clone)]
struct PolicyJson {
    versions: Vec<&'static str>,
    encodings: Vec<&'static str>,
}

impl PolicyJson {
    fn new(versions: &[&'static str], encodings: &[&'static str]) -> Self {
        PolicyJson { versions: versions.to_vec(), encodings: encodings.to_vec() }
    }

    fn core(&self) -> SignaturePolicy {
        SignaturePolicy::parse(&self.versions, &self.encodings).expect("golden policies are valid")
    }
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
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<PolicyJson>,
    input: String,
    error_kind: &'static str,
    field: Option<&'static str>,
    result: &'static str,
}

const REJECT_NOTES: &[(&str, &str)] = &[
    ("NotJson", "Bytes that are not one well-formed JSON object → invalid_json."),
    ("MissingField", "A required field is missing → invalid_field naming it (coh_star, D_hat, r and budget are required since v2)."),
    ("WrongType", "A field of the wrong JSON type → invalid_field naming it (nested fields by path, e.g. `ft.outbox_seq`)."),
    ("IntegerRange", "An integer outside its range (epoch beyond 2^53−1 or negative, seed beyond i64) → invalid_field."),
    ("NumberRange", "A number literal beyond binary64 (1e400) → invalid_field naming its JSON path (`D_hat`, `zz_unknown[0]`)."),
    ("LoneSurrogate", "A `\\uD800`-style escape without its pair → invalid_field naming the string's JSON path (`shard_id`, `zz_unknown.a[0]`); invalid_json when it is in a key."),
    ("Duplicate", "A key given twice → invalid_field naming the object that holds it: the key itself at the top level, `N_j`, `ft`, or the JSON path of an object inside an unknown field (`zz_unknown.b`)."),
    ("Limit", "SPEC §1 limits one past the edge: more than 64 scales, N_j or v_star entries; shard_id or merkle_root of 0 or more than 128 bytes → invalid_field naming it."),
    ("ScaleRange", "A scale below 1 → invalid_field `scales[i]`."),
    ("CountRange", "An N_j value below 1 → invalid_field `N_j.<key>`."),
    ("CountKey", "An N_j key that is not the decimal string of one of `scales` (\"04\", \"3\") → invalid_field `N_j.<key>`."),
    ("Range", "SDK validation: coh_star, r or budget out of range → validation naming the field."),
    ("Structure", "SDK validation: schema, pcs_id, regime, empty version, no scales → validation naming the field."),
    ("NotSignable", "A number whose round9 is not finite cannot be signed with v1 → invalid_field."),
    ("NotSignableV2", "An integer outside ±(2^53−1) (seed, an N_j value, an unknown field at any depth), or a number outside the number fields that RFC 8785 writes as such an integer (1e19, 9007199254740992.0), cannot be signed with v2 → invalid_field naming its path."),
    ("Base64", "A signature that is not strict standard base64 (whitespace, URL-safe alphabet, missing padding, non-zero trailing bits) → signature_invalid."),
    ("SigLength", "A signature that decodes to the wrong length → signature_invalid."),
    ("WrongKey", "A well-formed signature under another key → signature_invalid."),
    ("Tampered", "A signed field changed after signing → signature_invalid."),
    ("TamperedV2", "A v2 signature after a change to a field only v2 signs (regime, scales, N_j, v_star, seed, schema, version, an unknown field, an omitted field added or a present one removed) → signature_invalid."),
    ("SigMissing", "No signature (or an empty one) where one is required → signature_missing."),
    ("SigVersion", "A signature whose version the policy refuses (v1 on a v2-only policy, v2 on a v1-only one) or an unknown `vN:` prefix → unsupported_signature_version."),
    ("CrossVersion", "A MAC over one version's digest presented as the other version → signature_invalid."),
    ("LegacyNotListed", "A signature over a seed encoding (SPEC §4.1) under a policy that does not list that encoding → signature_invalid."),
    ("BadKey", "An Ed25519 key that is not strict base64 of exactly 32 bytes (or not a curve point, for public keys) → invalid_key."),
];

struct Reject {
    comment: String,
    flags: Vec<&'static str>,
    stage: &'static str,
    key_type: Option<&'static str>,
    policy: Option<PolicyJson>,
    input: String,
    error_kind: &'static str,
    field: Option<&'static str>,
}

/// The record text with `key`'s value replaced by `raw` (raw JSON text).
fn splice(o: &Value, key: &str, raw: &str) -> String {
    let mut o = o.clone();
    o[key] = json!("@@SPLICE@@");
    serde_json::to_string(&o).expect("serializes").replace("\"@@SPLICE@@\"", raw)
}

fn reject_cases(kp: &Ed25519Keypair) -> Vec<Reject> {
    let mut out = Vec::new();
    let mut r = |stage: &'static str, flags: &[&'static str], comment: &str, input: String, error_kind: &'static str, field: Option<&'static str>| {
        out.push(Reject { comment: comment.into(), flags: flags.to_vec(), stage, key_type: None, policy: None, input, error_kind, field })
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
    // Scales 1..=n with a count for each.
    let counted = |n: i64| {
        let mut o = base.clone();
        o["scales"] = json!((1..=n).collect::<Vec<i64>>());
        o["N_j"] = Value::Object((1..=n).map(|i| (i.to_string(), json!(i))).collect());
        text(&o)
    };

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
    for f in ["pcs_id", "schema", "version", "shard_id", "epoch", "merkle_root", "coh_star", "D_hat", "r", "budget"] {
        let field: &'static str = f;
        r("parse", &["MissingField"], &format!("{f} missing"), without(f), "invalid_field", Some(field));
    }
    r("parse", &["WrongType"], "pcs_id is a number", with("pcs_id", json!(7)), "invalid_field", Some("pcs_id"));
    r("parse", &["WrongType"], "shard_id is null", with("shard_id", Value::Null), "invalid_field", Some("shard_id"));
    r("parse", &["WrongType"], "epoch is a string", with("epoch", json!("1")), "invalid_field", Some("epoch"));
    r("parse", &["WrongType"], "epoch is not integral (1.5)", with("epoch", json!(1.5)), "invalid_field", Some("epoch"));
    r("parse", &["WrongType"], "epoch written 1.0 (an integer field takes integer literals only)", splice(&base, "epoch", "1.0"), "invalid_field", Some("epoch"));
    r("parse", &["WrongType"], "seed written 4.2E1", splice(&base, "seed", "4.2E1"), "invalid_field", Some("seed"));
    r("parse", &["WrongType"], "D_hat is a string", with("D_hat", json!("1.41")), "invalid_field", Some("D_hat"));
    r("parse", &["WrongType"], "budget is a boolean", with("budget", json!(true)), "invalid_field", Some("budget"));
    r("parse", &["WrongType"], "regime is null (an optional field is omitted, never null)", with("regime", Value::Null), "invalid_field", Some("regime"));
    r("parse", &["WrongType"], "v_star is null", with("v_star", Value::Null), "invalid_field", Some("v_star"));
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
    r("parse", &["NumberRange"], "D_hat 1e400 is beyond binary64", splice(&base, "D_hat", "1e400"), "invalid_field", Some("D_hat"));
    r("parse", &["NumberRange"], "an unknown field holds 1e400", splice(&base, "zz_unknown", "[1e400]"), "invalid_field", Some("zz_unknown[0]"));
    r("parse", &["LoneSurrogate"], "shard_id holds a lone high surrogate", ok_text.replace("\"shard-001\"", "\"shard-\\ud800\""), "invalid_field", Some("shard_id"));
    r("parse", &["LoneSurrogate"], "merkle_root holds a lone low surrogate", ok_text.replacen(&"a".repeat(64), "\\udc00", 1), "invalid_field", Some("merkle_root"));
    r("parse", &["LoneSurrogate"], "an unknown field's string holds a lone high surrogate", splice(&base, "zz_unknown", "{\"a\":[\"x\\ud83d\"]}"), "invalid_field", Some("zz_unknown.a[0]"));
    r("parse", &["LoneSurrogate"], "an unknown key holds a lone surrogate", ok_text.replacen('{', "{\"\\ud800\":1,", 1), "invalid_json", None);
    r("parse", &["Duplicate"], "epoch given twice", ok_text.replacen('{', "{\"epoch\":2,", 1), "invalid_field", Some("epoch"));
    r("parse", &["Duplicate"], "an unknown field given twice", ok_text.replacen('{', "{\"zz\":1,\"zz\":1,", 1), "invalid_field", Some("zz"));
    r("parse", &["Duplicate"], "an N_j key given twice", ok_text.replacen("\"N_j\":{", "\"N_j\":{\"2\":3,", 1), "invalid_field", Some("N_j"));
    r("parse", &["Duplicate"], "a key given twice inside an unknown object", splice(&base, "zz_unknown", "{\"a\":1,\"b\":{\"c\":1,\"c\":2}}"), "invalid_field", Some("zz_unknown.b"));
    r("parse", &["Duplicate"], "a key given twice inside ft", splice(&base, "ft", "{\"degraded\":true,\"degraded\":false}"), "invalid_field", Some("ft"));
    r("parse", &["Limit"], "65 scales (N_j with 64 of them)", {
        let mut o: Value = serde_json::from_str(&counted(64)).expect("JSON");
        o["scales"].as_array_mut().expect("array").push(json!(65));
        text(&o)
    }, "invalid_field", Some("scales"));
    r("parse", &["Limit"], "65 N_j entries (64 scales; the 65th key is not a scale either)", {
        let mut o = base.clone();
        o["scales"] = json!((1..=64).collect::<Vec<i64>>());
        o["N_j"] = Value::Object((1..=65).map(|i| (i.to_string(), json!(i))).collect());
        text(&o)
    }, "invalid_field", Some("N_j"));
    r("parse", &["Limit"], "65 v_star entries", with("v_star", json!(vec![0.5; 65])), "invalid_field", Some("v_star"));
    r("parse", &["Limit"], "shard_id of 129 bytes", with("shard_id", json!("s".repeat(129))), "invalid_field", Some("shard_id"));
    r("parse", &["Limit"], "shard_id of 129 bytes in 32 four-byte characters and one byte", with("shard_id", json!(format!("{}x", "😀".repeat(32)))), "invalid_field", Some("shard_id"));
    r("parse", &["Limit"], "merkle_root of 129 bytes", with("merkle_root", json!("a".repeat(129))), "invalid_field", Some("merkle_root"));
    r("parse", &["Limit"], "merkle_root of 4096 hex digits", with("merkle_root", json!("0123456789abcdef".repeat(256))), "invalid_field", Some("merkle_root"));
    r("parse", &["Limit"], "empty shard_id", with("shard_id", json!("")), "invalid_field", Some("shard_id"));
    r("parse", &["Limit"], "empty merkle_root", with("merkle_root", json!("")), "invalid_field", Some("merkle_root"));
    r("parse", &["ScaleRange"], "scale 0", with("scales", json!([2, 4, 0])), "invalid_field", Some("scales[2]"));
    r("parse", &["ScaleRange"], "scale -2", with("scales", json!([-2, 4])), "invalid_field", Some("scales[0]"));
    r("parse", &["CountRange"], "N_j value 0", with("N_j", json!({"2": 3, "4": 0})), "invalid_field", Some("N_j.4"));
    r("parse", &["CountRange"], "N_j value negative", with("N_j", json!({"16": -5})), "invalid_field", Some("N_j.16"));
    r("parse", &["CountKey"], "N_j key \"04\" is not the decimal string of scale 4", with("N_j", json!({"2": 3, "04": 7})), "invalid_field", Some("N_j.04"));
    r("parse", &["CountKey"], "N_j key \"3\" is not a scale", with("N_j", json!({"3": 3})), "invalid_field", Some("N_j.3"));
    r("parse", &["CountKey"], "N_j keys given but scales omitted", without("scales"), "invalid_field", Some("N_j.16"));

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
    r("validate", &["Structure"], "scales and N_j empty", bad(&|p| {
        p.scales.clear();
        p.n_j.clear();
    }), "validation", Some("scales"));

    // sign_v1
    r("sign_v1", &["NotSignable"], "D_hat 1e300: ×1e9 overflows to Infinity", with("D_hat", json!(1e300)), "invalid_field", Some("D_hat"));
    r("sign_v1", &["NotSignable"], "budget -1.7976931348623157e308", with("budget", json!(-f64::MAX)), "invalid_field", Some("budget"));

    // sign_v2
    r("sign_v2", &["NotSignableV2"], "seed 2^53", with("seed", json!(1i64 << 53)), "invalid_field", Some("seed"));
    r("sign_v2", &["NotSignableV2"], "seed -2^53", with("seed", json!(-(1i64 << 53))), "invalid_field", Some("seed"));
    r("sign_v2", &["NotSignableV2"], "seed 2^63-1", with("seed", json!(i64::MAX)), "invalid_field", Some("seed"));
    r("sign_v2", &["NotSignableV2"], "an N_j value of 2^53", with("N_j", json!({"2": 3, "4": 1i64 << 53})), "invalid_field", Some("N_j.4"));
    r("sign_v2", &["NotSignableV2"], "a scale of 2^53", {
        let mut o = base.clone();
        o["scales"] = json!([2, 1i64 << 53]);
        o["N_j"] = json!({"2": 3});
        text(&o)
    }, "invalid_field", Some("scales[1]"));
    r("sign_v2", &["NotSignableV2"], "an unknown field of 2^53", splice(&base, "zz_unknown", "9007199254740992"), "invalid_field", Some("zz_unknown"));
    r("sign_v2", &["NotSignableV2"], "an unknown field of -2^53", splice(&base, "zz_unknown", "-9007199254740992"), "invalid_field", Some("zz_unknown"));
    r("sign_v2", &["NotSignableV2"], "an unknown field of 10000000000000000000 (a u64)", splice(&base, "zz_unknown", "10000000000000000000"), "invalid_field", Some("zz_unknown"));
    r("sign_v2", &["NotSignableV2"], "an unknown field of 1e19 (RFC 8785 writes 10000000000000000000)", splice(&base, "zz_unknown", "1e19"), "invalid_field", Some("zz_unknown"));
    r("sign_v2", &["NotSignableV2"], "an unknown field of 9007199254740992.0", splice(&base, "zz_unknown", "[9007199254740992.0]"), "invalid_field", Some("zz_unknown[0]"));
    r("sign_v2", &["NotSignableV2"], "an integer of 2^53 nested in an unknown field", splice(&base, "zz_unknown", "{\"a\":[1,{\"b\":9007199254740992}]}"), "invalid_field", Some("zz_unknown.a[1].b"));

    // verify_signature
    let any = PolicyJson::new(&["v1", "v2"], &[]);
    let only_v1 = PolicyJson::new(&["v1"], &[]);
    let only_v2 = PolicyJson::new(&["v2"], &[]);
    let mut vs = |flags: &[&'static str], comment: &str, policy: &PolicyJson, input: String, error_kind: &'static str| {
        out.push(Reject {
            comment: comment.into(),
            flags: flags.to_vec(),
            stage: "verify_signature",
            key_type: None,
            policy: Some(policy.clone()),
            input,
            error_kind,
            field: Some("sig"),
        })
    };
    let signed = |p: &Pcs, sig: String| {
        let mut p = p.clone();
        p.sig = Some(sig);
        String::from_utf8(p.to_json()).expect("UTF-8")
    };
    let p = spec_example();
    let d = fractal_core::digest(&p, SigVersion::V1).expect("digest");
    let d2 = fractal_core::digest(&p, SigVersion::V2).expect("digest");
    let good = sign_hmac_digest(&d, HMAC_KEY.as_bytes()).expect("sign");
    let good_ed = kp.sign_digest(&d);
    let good2 = format!("v2:{}", sign_hmac_digest(&d2, HMAC_KEY.as_bytes()).expect("sign"));
    let good2_ed = format!("v2:{}", kp.sign_digest(&d2));
    let raw = fractal_core::b64decode(&good).expect("base64");
    vs(&["SigMissing"], "no sig field", &any, String::from_utf8(p.to_json()).expect("UTF-8"), "signature_missing");
    vs(&["SigMissing"], "sig is empty", &any, signed(&p, String::new()), "signature_missing");
    vs(&["WrongKey"], "HMAC under another key", &any, signed(&p, sign_hmac_digest(&d, b"another key").expect("sign")), "signature_invalid");
    vs(&["WrongKey"], "HMAC under the key's Latin-1 bytes instead of UTF-8", &any, signed(&p, {
        let latin1: Vec<u8> = HMAC_KEY.chars().map(|c| c as u32 as u8).collect();
        sign_hmac_digest(&d, &latin1).expect("sign")
    }), "signature_invalid");
    vs(&["WrongKey"], "HMAC over the payload instead of the digest", &any, signed(&p, {
        use hmac::{KeyInit, Mac};
        let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(HMAC_KEY.as_bytes()).expect("key");
        m.update(&canonical_payload_v1(&p).expect("payload"));
        b64encode(&m.finalize().into_bytes())
    }), "signature_invalid");
    vs(&["WrongKey"], "HMAC over the hex digest instead of the raw 32 bytes", &any, signed(&p, {
        use hmac::{KeyInit, Mac};
        let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(HMAC_KEY.as_bytes()).expect("key");
        m.update(hex(&d).as_bytes());
        b64encode(&m.finalize().into_bytes())
    }), "signature_invalid");
    vs(&["WrongKey"], "Ed25519 under another seed", &any, signed(&p, Ed25519Keypair::from_seed(&[9; 32]).sign_digest(&d)), "signature_invalid");
    vs(&["WrongKey"], "v2 HMAC under another key", &any, signed(&p, format!("v2:{}", sign_hmac_digest(&d2, b"another key").expect("sign"))), "signature_invalid");
    vs(&["Tampered"], "valid HMAC, then D_hat changed", &any, signed(&rec(|q| q.d_hat = 1.42), good.clone()), "signature_invalid");
    vs(&["Tampered"], "valid Ed25519, then epoch changed", &any, signed(&rec(|q| q.epoch = 2), good_ed.clone()), "signature_invalid");
    vs(&["Base64"], "URL-safe alphabet", &any, signed(&p, base64_urlsafe(&raw)), "signature_invalid");
    vs(&["Base64"], "padding removed", &any, signed(&p, good.trim_end_matches('=').to_string()), "signature_invalid");
    vs(&["Base64"], "a newline inside", &any, signed(&p, format!("{}\n{}", &good[..20], &good[20..])), "signature_invalid");
    vs(&["Base64"], "a trailing space", &any, signed(&p, format!("{good} ")), "signature_invalid");
    vs(&["Base64"], "non-zero trailing bits in the last character", &any, signed(&p, flip_trailing_bits(&good)), "signature_invalid");
    vs(&["Base64"], "v2: followed by nothing", &any, signed(&p, "v2:".into()), "signature_invalid");
    vs(&["Base64"], "v2: with a space before the base64", &any, signed(&p, format!("v2: {}", &good2[3..])), "signature_invalid");
    vs(&["SigLength"], "31 bytes", &any, signed(&p, b64encode(&raw[..31])), "signature_invalid");
    vs(&["SigLength"], "33 bytes", &any, signed(&p, b64encode(&[&raw[..], &[0]].concat())), "signature_invalid");
    vs(&["SigLength"], "the hex of the MAC instead of its base64", &any, signed(&p, hex(&raw)), "signature_invalid");

    vs(&["SigVersion"], "a valid v1 HMAC under the default policy (v2 only)", &only_v2, signed(&p, good.clone()), "unsupported_signature_version");
    vs(&["SigVersion"], "a valid v1 Ed25519 under the default policy (v2 only)", &only_v2, signed(&p, good_ed.clone()), "unsupported_signature_version");
    vs(&["SigVersion"], "a valid v2 HMAC under a v1-only policy", &only_v1, signed(&p, good2.clone()), "unsupported_signature_version");
    vs(&["SigVersion"], "prefix v3:", &any, signed(&p, format!("v3:{}", &good2[3..])), "unsupported_signature_version");
    vs(&["SigVersion"], "prefix v10:", &any, signed(&p, format!("v10:{}", &good2[3..])), "unsupported_signature_version");
    vs(&["SigVersion"], "prefix v0:", &any, signed(&p, format!("v0:{}", &good2[3..])), "unsupported_signature_version");
    vs(&["CrossVersion"], "a v1 MAC behind the v2: prefix", &any, signed(&p, format!("v2:{good}")), "signature_invalid");
    vs(&["CrossVersion"], "a v2 MAC without its prefix (read as v1)", &any, signed(&p, good2[3..].to_string()), "signature_invalid");
    vs(&["CrossVersion"], "a v2 MAC over the v2 payload without the domain prefix", &any, signed(&p, format!("v2:{}", sign_hmac_digest(&sha256(&canonical_payload_v2(&p).expect("payload")), HMAC_KEY.as_bytes()).expect("sign"))), "signature_invalid");

    // v2: every change of a field only v2 signs breaks the signature.
    let v2_tamper: Vec<(&str, Value)> = {
        let mut t = Vec::new();
        let mut o = |comment: &'static str, f: &dyn Fn(&mut serde_json::Map<String, Value>)| {
            let mut v = p.to_value();
            f(v.as_object_mut().expect("object"));
            t.push((comment, v));
        };
        o("regime changed", &|m| { m.insert("regime".into(), json!("mixed")); });
        o("regime removed", &|m| { m.remove("regime"); });
        o("scales reordered", &|m| { m.insert("scales".into(), json!([4, 2, 8, 16, 32])); });
        o("a scale and its N_j entry removed", &|m| {
            m.insert("scales".into(), json!([2, 4, 8, 16]));
            m["N_j"].as_object_mut().expect("N_j").remove("32");
        });
        o("an N_j value changed", &|m| { m["N_j"]["8"] = json!(20); });
        o("v_star changed", &|m| { m.insert("v_star".into(), json!([0.12, 0.99])); });
        o("v_star removed", &|m| { m.remove("v_star"); });
        o("seed changed", &|m| { m.insert("seed".into(), json!(43)); });
        o("seed removed", &|m| { m.remove("seed"); });
        o("schema changed", &|m| { m.insert("schema".into(), json!("fractal-lba")); });
        o("version changed", &|m| { m.insert("version".into(), json!("0.2")); });
        o("an unknown field added", &|m| { m.insert("zz_unknown".into(), json!(true)); });
        o("an unknown field of null added", &|m| { m.insert("zz_unknown".into(), Value::Null); });
        o("D_hat changed below v1's rounding (1.41 → 1.4100000001)", &|m| { m.insert("D_hat".into(), json!(1.4100000001)); });
        t
    };
    for (comment, v) in v2_tamper {
        let mut v = v;
        v["sig"] = json!(good2);
        vs(&["TamperedV2"], &format!("valid v2 HMAC, then {comment}"), &only_v2, text(&v), "signature_invalid");
        v["sig"] = json!(good2_ed);
        vs(&["TamperedV2"], &format!("valid v2 Ed25519, then {comment}"), &only_v2, text(&v), "signature_invalid");
    }
    // A v2 signature over a record with an unknown field, after that field changes.
    let mut with_extra = p.to_value();
    with_extra["zz_unknown"] = json!({"nested": [1, 2, 3]});
    let extra_pcs = Pcs::from_value(with_extra.clone()).expect("parses");
    let extra_sig = format!("v2:{}", sign_hmac_digest(&fractal_core::digest(&extra_pcs, SigVersion::V2).expect("digest"), HMAC_KEY.as_bytes()).expect("sign"));
    for (comment, changed) in [
        ("a nested value of an unknown field changed", json!({"nested": [1, 2, 4]})),
        ("an unknown field's array reordered", json!({"nested": [3, 2, 1]})),
        ("an unknown field's 1 written as true", json!({"nested": [true, 2, 3]})),
    ] {
        let mut v = with_extra.clone();
        v["zz_unknown"] = changed;
        v["sig"] = json!(extra_sig);
        vs(&["TamperedV2"], &format!("valid v2 HMAC, then {comment}"), &only_v2, text(&v), "signature_invalid");
    }
    let mut v = with_extra.clone();
    v.as_object_mut().expect("object").remove("zz_unknown");
    v["sig"] = json!(extra_sig);
    vs(&["TamperedV2"], "valid v2 HMAC, then its unknown field removed", &only_v2, text(&v), "signature_invalid");

    // A seed-python signature (SPEC §4.1) under policies that do not list seed-python.
    let legacy_rec = nums(1.0, 0.73, 0.87, 0.42);
    let f = SigningFields::from(&legacy_rec);
    let py_sig = sign_hmac_digest(&LegacyEncoding::SeedPython.digest(&f).expect("encodable"), HMAC_KEY.as_bytes()).expect("sign");
    vs(&["LegacyNotListed"], "a seed-python HMAC (D_hat written 1.0) under v1 with no encodings", &only_v1, signed(&legacy_rec, py_sig.clone()), "signature_invalid");
    vs(&["LegacyNotListed"], "a seed-python HMAC (D_hat written 1.0) under v1 with seed-go only", &PolicyJson::new(&["v1"], &["seed-go"]), signed(&legacy_rec, py_sig.clone()), "signature_invalid");
    vs(&["LegacyNotListed", "SigVersion"], "a seed-python HMAC under v2 with seed-python listed (encodings widen v1 only)", &PolicyJson::new(&["v2"], &["seed-python"]), signed(&legacy_rec, py_sig), "unsupported_signature_version");
    let go_rec = strings("<b>&amp;</b>", "shard-001");
    let go_sig = sign_hmac_digest(&LegacyEncoding::SeedGo.digest(&SigningFields::from(&go_rec)).expect("encodable"), HMAC_KEY.as_bytes()).expect("sign");
    vs(&["LegacyNotListed"], "a seed-go HMAC (merkle_root with < & >) under v1 with seed-python only", &PolicyJson::new(&["v1"], &["seed-python"]), signed(&go_rec, go_sig), "signature_invalid");

    // key
    let mut k = |key_type: &'static str, comment: &str, input: String| {
        out.push(Reject { comment: comment.into(), flags: vec!["BadKey"], stage: "key", key_type: Some(key_type), policy: None, input, error_kind: "invalid_key", field: None })
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
fn run_reject(c: &Reject, v: &Verifier) -> Result<(), (&'static str, Option<String>)> {
    let err = |e: fractal_core::Error| (e.kind(), e.field().map(String::from));
    let parsed = || Pcs::from_json(c.input.as_bytes()).unwrap_or_else(|e| panic!("{} input {:?} must parse: {e}", c.stage, c.comment));
    match c.stage {
        "parse" => Pcs::from_json(c.input.as_bytes()).map(drop).map_err(err),
        "validate" => validate(&parsed()).map_err(err),
        "sign_v1" => canonical_payload_v1(&parsed()).map(drop).map_err(err),
        "sign_v2" => canonical_payload_v2(&parsed()).map(drop).map_err(err),
        "verify_signature" => {
            let policy = c.policy.as_ref().expect("verify_signature cases carry a policy").core();
            v.verify_with(&parsed(), &policy).map(drop).map_err(err)
        }
        "key" if c.key_type == Some("seed") => Ed25519Keypair::from_seed_b64(&c.input).map(drop).map_err(err),
        "key" => Verifier::new().add_ed25519_public_key(&c.input).map(drop).map_err(err),
        other => panic!("unknown stage {other}"),
    }
}

fn reject_file(kp: &Ed25519Keypair) -> File<RejectGroup> {
    let mut v = Verifier::new();
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
            policy: c.policy,
            input: c.input,
            error_kind: c.error_kind,
            field: c.field,
            result: "invalid",
        });
    }
    assert!(disagreements.is_empty(), "reject cases the core disagrees with:\n{}", disagreements.join("\n"));
    let n = tests.len();
    file(
        "fractal-lba-reject-v2",
        REJECT_NOTES,
        vec![RejectGroup {
            comment: "verify_signature cases are checked by a verifier holding hmac_key and ed25519_public, under the case's policy",
            hmac_key: HMAC_KEY,
            ed25519_public: kp.public_b64(),
            tests,
        }],
        n,
    )
}

// ---------------------------------------------------------------- canonical_v2.json

/// A wire text built field by field: `(raw JSON key, raw JSON value)` in order, so a
/// case can write any number shape, escape or key order the grammar allows.
#[derive(Clone)]
struct Wire(Vec<(String, String)>);

/// The `pcs_id` placeholder that [`Wire::text`] replaces with the SPEC §2 value.
const ID_PLACEHOLDER: &str = "\"@PCS_ID@\"";

impl Wire {
    /// The SPEC §3 example in the order of SPEC §1's table, pcs_id recomputed.
    fn example() -> Wire {
        let v = spec_example().to_value();
        let order = ["pcs_id", "schema", "version", "shard_id", "epoch", "attempt", "sent_at", "seed", "scales", "N_j", "coh_star", "v_star", "D_hat", "r", "regime", "budget", "merkle_root"];
        let mut w = Wire(order.iter().map(|k| (json!(k).to_string(), v[*k].to_string())).collect());
        w = w.set("pcs_id", ID_PLACEHOLDER);
        w
    }

    fn set_raw_key(mut self, raw_key: &str, raw: &str) -> Wire {
        match self.0.iter_mut().find(|(k, _)| k == raw_key) {
            Some(slot) => slot.1 = raw.to_string(),
            None => self.0.push((raw_key.to_string(), raw.to_string())),
        }
        self
    }

    fn set(self, key: &str, raw: &str) -> Wire {
        self.set_raw_key(&json!(key).to_string(), raw)
    }

    fn remove(mut self, key: &str) -> Wire {
        let raw_key = json!(key).to_string();
        self.0.retain(|(k, _)| *k != raw_key);
        self
    }

    /// Compact text, the placeholder replaced by the pcs_id of the decoded fields.
    fn text(&self) -> String {
        self.text_with(",", ":", "{", "}")
    }

    fn text_with(&self, comma: &str, colon: &str, open: &str, close: &str) -> String {
        let body: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}{colon}{v}")).collect();
        let text = format!("{open}{}{close}", body.join(comma));
        if !text.contains(ID_PLACEHOLDER) {
            return text;
        }
        let v: Value = serde_json::from_str(&text.replace(ID_PLACEHOLDER, "\"\"")).expect("wire text is JSON");
        let id = pcs_id(v["merkle_root"].as_str().expect("merkle_root"), v["epoch"].as_u64().expect("epoch"), v["shard_id"].as_str().expect("shard_id"));
        text.replace(ID_PLACEHOLDER, &json!(id).to_string())
    }
}

#[derive(Serialize)]
struct V2Test {
    #[serde(rename = "tcId")]
    tc_id: usize,
    comment: String,
    flags: Vec<&'static str>,
    record_text: String,
    record: Value,
    expected: CanonicalExpected,
    result: &'static str,
}

#[derive(Serialize)]
struct V2Group {
    hmac_key: &'static str,
    ed25519_seed: String,
    ed25519_public: String,
    tests: Vec<V2Test>,
}

const V2_NOTES: &[(&str, &str)] = &[
    ("V1Record", "A record of canonical.json, signed with v2: every field but sig, attempt, sent_at and ft, numbers unrounded."),
    ("NumberShape", "A number written in another shape on the wire (`1.0`, `1E2`, `-0`, `0.0000001`, `1000000000000000000000`, …) is signed as ECMAScript Number#toString writes its binary64 value."),
    ("NearestFloat", "The literal must parse to the nearest binary64 (`4.9e-324` → `5e-324`, 26 significant digits → 1.41)."),
    ("SafeInteger", "Integers at ±(2^53−1) (seed, epoch, a scale, an N_j value, an unknown field) are signed as plain integers."),
    ("StringEscape", "Escapes in the wire text (`\\u00e9`, `\\/`, `\\u0041`, uppercase hex) are decoded; the payload re-escapes only what RFC 8785 escapes."),
    ("SurrogatePair", "A surrogate pair escape (`\\ud83d\\ude00`) is one code point, written as literal UTF-8."),
    ("NonAscii", "Non-ASCII text is literal UTF-8 in the payload, whether it was literal or escaped on the wire."),
    ("HtmlCharacter", "`<`, `>`, `&` are literal in the payload, also when escaped on the wire."),
    ("LineSeparator", "U+2028 and U+2029 are literal UTF-8 in the payload."),
    ("ControlCharacter", "Control characters are `\\b \\f \\n \\r \\t` or `\\u00hh` (lowercase) in the payload; DEL is literal."),
    ("KeyOrder", "Keys sort by UTF-16 code units at every level: `\\ud83d\\ude00` (U+1F600) before U+FB33 and U+FF5A, which code-point or UTF-8 order would put first."),
    ("UnknownField", "Unknown fields (any JSON type, nested to any depth) are signed by v2."),
    ("Omitted", "An optional field that is absent stays absent from the payload (never null, never a default)."),
    ("EmptyContainer", "An optional field present but empty (`[]`, `{}`) is signed as such, unlike an omitted one."),
    ("DeliveryField", "sig, attempt, sent_at and ft are not signed."),
    ("Limit", "At the SPEC §1 limits: 64 scales, 64 N_j entries, 64 v_star entries, 128-byte shard_id and merkle_root (in 1-, 2- and 4-byte characters)."),
    ("WireForm", "Whitespace and key order of the wire text do not change the payload."),
];

fn v2_cases() -> Vec<(String, Vec<&'static str>, String)> {
    let mut cases: Vec<(String, Vec<&'static str>, String)> = Vec::new();
    let mut add = |comment: &str, flags: &[&'static str], w: &Wire| cases.push((comment.into(), flags.to_vec(), w.text()));
    let ex = Wire::example();

    add("SPEC §3 example", &["V1Record", "KeyOrder"], &ex);

    // Number shapes in the four signed numbers and v_star.
    add("D_hat written 1.0 signs as 1", &["NumberShape"], &ex.clone().set("D_hat", "1.0"));
    add("budget written 1E2 signs as 100", &["NumberShape"], &ex.clone().set("budget", "1E2"));
    add("budget written 1E+2 and r written 100e-2", &["NumberShape"], &ex.clone().set("budget", "1E+2").set("r", "100e-2"));
    add("coh_star written -0 signs as 0", &["NumberShape"], &ex.clone().set("coh_star", "-0"));
    add("coh_star written -0.0 and r written 0e5", &["NumberShape"], &ex.clone().set("coh_star", "-0.0").set("r", "0e5"));
    add("r written 1e-7 signs as 1e-7", &["NumberShape"], &ex.clone().set("r", "1e-7"));
    add("r written 0.0000001 signs as 1e-7", &["NumberShape"], &ex.clone().set("r", "0.0000001"));
    add("r written 0.000001 stays 0.000001", &["NumberShape"], &ex.clone().set("r", "0.000001"));
    add("r written 1E-6 signs as 0.000001", &["NumberShape"], &ex.clone().set("r", "1E-6"));
    add("D_hat written 1e21 signs as 1e+21", &["NumberShape"], &ex.clone().set("D_hat", "1e21"));
    add("D_hat written as the integer literal 1000000000000000000000 signs as 1e+21", &["NumberShape"], &ex.clone().set("D_hat", "1000000000000000000000"));
    add("D_hat written 123456789012345680000 stays in plain digits", &["NumberShape"], &ex.clone().set("D_hat", "123456789012345680000"));
    add("D_hat written 1.2345678901234568e20 signs as 123456789012345680000", &["NumberShape"], &ex.clone().set("D_hat", "1.2345678901234568e20"));
    add("budget 999999999999999900000 (just below 1e21)", &["NumberShape"], &ex.clone().set("budget", "999999999999999900000"));
    add("D_hat 1.7976931348623157e308 (largest binary64)", &["NumberShape"], &ex.clone().set("D_hat", "1.7976931348623157e308"));
    add("budget 5e-324 (smallest subnormal) is not rounded away", &["NumberShape"], &ex.clone().set("budget", "5e-324"));
    add("budget 4.9e-324 parses to 5e-324", &["NumberShape", "NearestFloat"], &ex.clone().set("budget", "4.9e-324"));
    add("r 2.2250738585072014E-308 (smallest normal)", &["NumberShape"], &ex.clone().set("r", "2.2250738585072014E-308"));
    add("coh_star 1e-300 and D_hat -1.5e300", &["NumberShape"], &ex.clone().set("coh_star", "1e-300").set("D_hat", "-1.5e300"));
    add("D_hat 0.1e1 and budget 12.50", &["NumberShape"], &ex.clone().set("D_hat", "0.1e1").set("budget", "12.50"));
    add("D_hat 1.41000000000000000000001 parses to 1.41", &["NumberShape", "NearestFloat"], &ex.clone().set("D_hat", "1.41000000000000000000001"));
    add("D_hat 1.0000000015 is signed unrounded (v1 rounds it)", &["NumberShape"], &ex.clone().set("D_hat", "1.0000000015"));
    add("D_hat 0.1234567895 and r 0.30000000000000004 are signed unrounded", &["NumberShape"], &ex.clone().set("D_hat", "0.1234567895").set("r", "0.30000000000000004"));
    add("v_star with every number shape", &["NumberShape"], &ex.clone().set("v_star", "[1.0,1E2,-0,1e-7,0.000001,1e21,5e-324,-1.5e-10,0.1,123456789012345680000,1.7976931348623157e308]"));
    add("seed 2^53-1", &["SafeInteger"], &ex.clone().set("seed", "9007199254740991"));
    add("seed -(2^53-1)", &["SafeInteger"], &ex.clone().set("seed", "-9007199254740991"));
    add("epoch 2^53-1", &["SafeInteger"], &ex.clone().set("epoch", "9007199254740991"));
    add("an N_j value of 2^53-1", &["SafeInteger"], &ex.clone().set("N_j", "{\"2\":9007199254740991,\"4\":7}"));
    add("a scale of 2^53-1 and its N_j entry", &["SafeInteger"], &ex.clone().set("scales", "[2,9007199254740991]").set("N_j", "{\"9007199254740991\":5,\"2\":3}"));
    add("an unknown field holding every number shape", &["NumberShape", "SafeInteger", "UnknownField"], &ex.clone().set("zz_numbers", "[1.0,1E2,-0,-0.0,1e-7,0.000001,1e21,1.5e300,5e-324,9007199254740991,-9007199254740991,0,-1.5,0.1e1]"));

    // Strings.
    let sid = |raw: &str| ex.clone().set("shard_id", raw);
    add("shard_id written with \\u00e9", &["StringEscape", "NonAscii"], &sid(r#""shard-\u00e9""#));
    add("shard_id written with a literal é (the same payload as \\u00e9)", &["NonAscii"], &sid("\"shard-é\""));
    add("shard_id written with the surrogate pair \\ud83d\\ude00", &["StringEscape", "SurrogatePair", "NonAscii"], &sid(r#""shard-\ud83d\ude00""#));
    add("shard_id written with \\uD83D\\uDE00 (uppercase hex)", &["StringEscape", "SurrogatePair", "NonAscii"], &sid(r#""shard-\uD83D\uDE00""#));
    add("shard_id written with a literal 😀", &["SurrogatePair", "NonAscii"], &sid("\"shard-😀\""));
    add("shard_id written with \\u0041, \\/ and \\u005c", &["StringEscape"], &sid(r#""\u0041\/\u005c""#));
    add("shard_id with control characters \\u001F, \\u0000, \\b, \\u000c and DEL", &["StringEscape", "ControlCharacter"], &sid("\"s\\u001F\\u0000\\b\\u000c\u{7f}\""));
    add("merkle_root with < > & literal", &["HtmlCharacter"], &ex.clone().set("merkle_root", "\"<b>&amp;</b>\""));
    add("merkle_root with < > & written \\u003c \\u003e \\u0026", &["HtmlCharacter", "StringEscape"], &ex.clone().set("merkle_root", r#""\u003cb\u003e\u0026amp;\u003c/b\u003e""#));
    add("shard_id with literal U+2028 and U+2029", &["LineSeparator", "NonAscii"], &sid("\"line\u{2028}para\u{2029}\""));
    add("shard_id with U+2028 and U+2029 written \\u2028 \\u2029", &["LineSeparator", "StringEscape", "NonAscii"], &sid(r#""line\u2028para\u2029""#));
    add("an unknown string field with every escape", &["UnknownField", "StringEscape", "SurrogatePair", "HtmlCharacter", "LineSeparator", "ControlCharacter"], &ex.clone().set("zz_text", r#""\"\\\/<>&\u0000\u001f\u007f\u00e9\ud83d\ude00\u2028\t\n\r\b\f ""#));
    add("version and schema with non-ASCII (schema is signed as sent)", &["NonAscii"], &ex.clone().set("version", "\"0.1-β\"").set("schema", "\"fractal-lba-kakeya\""));

    // Keys.
    add("unknown keys needing UTF-16 order: z, é, €, U+FB33, U+FF5A, 😀", &["KeyOrder", "UnknownField", "NonAscii"], &ex.clone()
        .set("z", "1").set("é", "2").set("€", "3").set("\u{fb33}", "4").set("\u{ff5a}", "5").set("😀", "6"));
    add("the same keys written escaped", &["KeyOrder", "UnknownField", "StringEscape", "SurrogatePair"], &ex.clone()
        .set_raw_key(r#""\ud83d\ude00""#, "6").set_raw_key(r#""\uff5a""#, "5").set_raw_key(r#""\ufb33""#, "4").set_raw_key(r#""\u20ac""#, "3").set_raw_key(r#""\u00e9""#, "2").set_raw_key("\"z\"", "1"));
    add("unknown keys around the known ones: empty, _, Z, a, aa, d_hat, D_hat_x, \\u0001", &["KeyOrder", "UnknownField", "ControlCharacter"], &ex.clone()
        .set("", "0").set("_", "1").set("Z", "2").set("a", "3").set("aa", "4").set("d_hat", "5").set("D_hat_x", "6").set_raw_key(r#""\u0001""#, "7"));
    add("nested keys needing UTF-16 order", &["KeyOrder", "UnknownField"], &ex.clone().set("zz_nested", r#"{"😀":{"z":1,"é":2,"ｚ":3,"😀":4},"ｚ":[{"b":1,"a":2}],"é":null}"#));

    // Unknown fields of every type.
    add("unknown fields of every JSON type", &["UnknownField"], &ex.clone()
        .set("zz_null", "null").set("zz_true", "true").set("zz_false", "false").set("zz_empty_array", "[]").set("zz_empty_object", "{}").set("zz_empty_string", "\"\"").set("zz_string", "\"x\""));
    add("nested unknown objects and arrays", &["UnknownField"], &ex.clone().set("aa_unknown", r#"{"b":[1,{"y":null,"x":true}],"a":false,"c":{},"d":[],"e":"s","f":[[[]],[{}]]}"#));
    add("an unknown field nested 32 deep", &["UnknownField"], &ex.clone().set("zz_deep", &format!("{}1{}", "[{\"k\":".repeat(32), "}]".repeat(32))));

    // Omitted and empty optional fields.
    add("no seed", &["Omitted"], &ex.clone().remove("seed"));
    add("no v_star", &["Omitted"], &ex.clone().remove("v_star"));
    add("no regime", &["Omitted"], &ex.clone().remove("regime"));
    add("no scales and no N_j", &["Omitted"], &ex.clone().remove("scales").remove("N_j"));
    add("no N_j", &["Omitted"], &ex.clone().remove("N_j"));
    add("no attempt and no sent_at", &["Omitted", "DeliveryField"], &ex.clone().remove("attempt").remove("sent_at"));
    add("every optional field omitted", &["Omitted"], &ex.clone().remove("seed").remove("v_star").remove("regime").remove("scales").remove("N_j").remove("attempt").remove("sent_at"));
    add("scales [], N_j {} and v_star [] present but empty", &["EmptyContainer"], &ex.clone().set("scales", "[]").set("N_j", "{}").set("v_star", "[]"));
    add("sig, attempt, sent_at and ft present are not signed", &["DeliveryField"], &ex.clone()
        .set("attempt", "9").set("sent_at", "\"2030-01-01T00:00:00Z\"").set("sig", "\"v2:AAAA\"").set("ft", r#"{"outbox_seq":3,"degraded":true,"fallbacks":["disk"],"clock_skew_ms":-12}"#));

    // Limits.
    let scales64: Vec<String> = (1..=64).map(|i| i.to_string()).collect();
    let nj64: Vec<String> = (1..=64).map(|i| format!("\"{i}\":{}", i * 3)).collect();
    add("64 scales and 64 N_j entries", &["Limit"], &ex.clone().set("scales", &format!("[{}]", scales64.join(","))).set("N_j", &format!("{{{}}}", nj64.join(","))));
    add("64 v_star entries", &["Limit"], &ex.clone().set("v_star", &format!("[{}]", (0..64).map(|i| format!("{}", i as f64 / 64.0)).collect::<Vec<_>>().join(","))));
    add("shard_id and merkle_root of 128 ASCII bytes", &["Limit"], &ex.clone().set("shard_id", &json!("s".repeat(128)).to_string()).set("merkle_root", &json!("0123456789abcdef".repeat(8)).to_string()));
    add("shard_id of 128 bytes in 64 two-byte characters", &["Limit", "NonAscii"], &sid(&json!("é".repeat(64)).to_string()));
    add("merkle_root of 128 bytes in 32 emoji written as escapes", &["Limit", "SurrogatePair", "StringEscape"], &ex.clone().set("merkle_root", &format!("\"{}\"", r"\ud83d\ude00".repeat(32))));

    // Wire form.
    cases.push(("pretty-printed with spaces, tabs, CR and LF".into(), vec!["WireForm"], ex.text_with(",\r\n\t", " :\t ", "{\n  ", "\n}\n")));
    let mut reversed = ex.clone();
    reversed.0.reverse();
    cases.push(("keys in reverse order".into(), vec!["WireForm"], reversed.text()));

    // Every canonical.json record, signed with v2.
    for (comment, _, record) in canonical_cases() {
        cases.push((format!("canonical.json case: {comment}"), vec!["V1Record"], serde_json::to_string(&record).expect("serializes")));
    }
    cases
}

fn canonical_v2_file(kp: &Ed25519Keypair) -> File<V2Group> {
    let mut verifier = Verifier::new();
    verifier.add_hmac_key(HMAC_KEY.as_bytes()).expect("key");
    verifier.add_ed25519_public_key(&kp.public_b64()).expect("key");
    let hmac = SigningKeyMaterial::parse(fractal_core::Algorithm::Hmac, HMAC_KEY).expect("key");
    let ed = SigningKeyMaterial::parse(fractal_core::Algorithm::Ed25519, &kp.seed_b64()).expect("key");
    let mut tests = Vec::new();
    for (i, (comment, flags, text)) in v2_cases().into_iter().enumerate() {
        let pcs = Pcs::from_json(text.as_bytes()).unwrap_or_else(|e| panic!("v2 case {comment:?} does not parse: {e}\n{text}"));
        let record: Value = serde_json::from_str(&text).expect("JSON");
        let payload = canonical_payload_v2(&pcs).unwrap_or_else(|e| panic!("v2 case {comment:?}: {e}"));
        let from_object = Pcs::from_value(record.clone()).and_then(|p| canonical_payload_v2(&p));
        assert_eq!(from_object.as_ref().ok(), Some(&payload), "v2 case {comment:?}: the record object signs other bytes than its text");
        let digest = fractal_core::digest(&pcs, SigVersion::V2).expect("digest");
        let (sig_hmac, sig_ed25519) = (hmac.sign_version(&pcs, SigVersion::V2).expect("signs"), ed.sign_version(&pcs, SigVersion::V2).expect("signs"));
        for sig in [&sig_hmac, &sig_ed25519] {
            let mut signed = pcs.clone();
            signed.sig = Some(sig.clone());
            verifier.verify(&signed).unwrap_or_else(|e| panic!("v2 case {comment:?}: its signature does not verify: {e}"));
        }
        tests.push(V2Test {
            tc_id: i + 1,
            comment,
            flags,
            record_text: text,
            record,
            expected: CanonicalExpected {
                pcs_id: pcs_id(&pcs.merkle_root, pcs.epoch, &pcs.shard_id),
                canonical: String::from_utf8(payload).expect("payload is UTF-8"),
                digest_hex: hex(&digest),
                sig_hmac,
                sig_ed25519,
            },
            result: "valid",
        });
    }
    let n = tests.len();
    file(
        "fractal-lba-pcs-canonical-v2",
        V2_NOTES,
        vec![V2Group { hmac_key: HMAC_KEY, ed25519_seed: kp.seed_b64(), ed25519_public: kp.public_b64(), tests }],
        n,
    )
}

// ---------------------------------------------------------------- legacy.json

#[derive(Serialize)]
struct LegacyTest {
    #[serde(rename = "tcId")]
    tc_id: usize,
    comment: String,
    flags: Vec<&'static str>,
    encoding: &'static str,
    record: Value,
    expected: LegacyExpected,
    result: &'static str,
}

#[derive(Serialize)]
struct LegacyExpected {
    payload: String,
    digest_hex: String,
    sig_hmac: String,
    sig_ed25519: String,
    canonical_v1: String,
}

#[derive(Serialize)]
struct LegacyGroup {
    hmac_key: &'static str,
    ed25519_seed: String,
    ed25519_public: String,
    tests: Vec<LegacyTest>,
}

const LEGACY_NOTES: &[(&str, &str)] = &[
    ("PythonFloat", "seed-python writes floats by Python repr: `1.0`, `0.0`, `-0.0`, `2.5e-06`, `1e-09`, `1e-05`, `1e+16`."),
    ("PythonRounding", "seed-python rounds with Decimal(repr(x)).quantize(1e-9, ROUND_HALF_UP): a decimal tie rounds up where binary64 round9 rounds down (1.0000000015)."),
    ("PythonAscii", "seed-python writes DEL and every non-ASCII code point as `\\uXXXX` (lowercase hex; a surrogate pair above U+FFFF)."),
    ("GoHtml", "seed-go writes `<`, `>`, `&` as `\\u003c`, `\\u003e`, `\\u0026`."),
    ("GoLineSeparator", "seed-go writes U+2028 and U+2029 as `\\u2028`, `\\u2029`."),
];

fn legacy_cases() -> Vec<(String, Vec<&'static str>, LegacyEncoding, Pcs)> {
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

fn legacy_file(kp: &Ed25519Keypair) -> File<LegacyGroup> {
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

// ---------------------------------------------------------------- read.json

#[derive(Serialize)]
struct ReadGroup {
    comment: &'static str,
    hmac_key: &'static str,
    ed25519_seed: String,
    ed25519_public: String,
    skew_secs: u64,
    tests: Vec<ReadTest>,
}

#[derive(Serialize)]
struct ReadTest {
    #[serde(rename = "tcId")]
    tc_id: usize,
    comment: String,
    flags: Vec<&'static str>,
    tenant: String,
    pcs_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    t: Option<u64>,
    now: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    expected: Option<ReadExpected>,
    /// For invalid cases: the header as sent (null: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    header: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_kind: Option<&'static str>,
    result: &'static str,
}

#[derive(Serialize)]
struct ReadExpected {
    digest_hex: String,
    authorization_hmac: String,
    authorization_ed25519: String,
}

const READ_NOTES: &[(&str, &str)] = &[
    ("Signed", "The digest SHA-256(\"fractal-lba/read/v1\\n\" ‖ tenant ‖ \"\\n\" ‖ pcs_id ‖ \"\\n\" ‖ decimal t) and `Fractal t=<t>, sig=<base64>` under each key; accepted at `now`."),
    ("SkewEdge", "t exactly 300 s before or after now is accepted."),
    ("NonAscii", "tenant or pcs_id with non-ASCII text: their UTF-8 bytes are hashed."),
    ("Missing", "No Authorization header, or an empty one → signature_missing."),
    ("Stale", "t more than 300 s from now → signature_invalid."),
    ("Malformed", "Not `Fractal t=<decimal>, sig=<base64>`: another scheme, t missing or not decimal, sig missing or not base64 → signature_invalid."),
    ("WrongKey", "Signed with another key, or for another tenant or pcs_id → signature_invalid."),
];

fn read_file(kp: &Ed25519Keypair) -> File<ReadGroup> {
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
fn urlsafe_read_header(hmac: &SigningKeyMaterial, pcs_id: &str, now: u64) -> String {
    (now..now + 100)
        .map(|t| hmac.read_authorization("default", pcs_id, t).expect("signs"))
        .find(|a| a.contains('+') || a.contains('/'))
        .map(|a| {
            let (head, sig) = a.split_once("sig=").expect("sig");
            format!("{head}sig={}", sig.replace('+', "-").replace('/', "_"))
        })
        .expect("some t gives + or /")
}

// ---------------------------------------------------------------- main

// ---------------------------------------------------------------- audit (SPEC §11)

const AUDIT_NOTES: &[(&str, &str)] = &[
    ("Entry", "An entry's RFC 8785 bytes and SHA-256: catches key order, whitespace and number formatting that differ from RFC 8785."),
    ("Numbers", "A VerifyResult with fractional and exponent numbers: catches a number writer that is not ECMAScript's."),
    ("NonAscii", "Non-ASCII tenant or pcs_id: catches escaping or normalising that RFC 8785 does not do."),
    ("Seal", "A seal's signed message and Ed25519 signature: catches a message without the domain prefix or in another layout."),
    ("Intact", "An untouched chain verifies."),
    ("Anchored", "A run that starts after segment 0, anchored by the seal before it (`--from`)."),
    ("UnsealedTail", "A last segment without a seal is reported, not checked."),
    ("Edited", "An entry's bytes changed: the first bad entry is the edited one."),
    ("EditedPrev", "An entry's prev changed: that entry is named, not its predecessor."),
    ("Deleted", "An entry removed: its seq is named as missing."),
    ("Reordered", "Two entries swapped: the first position out of order is named."),
    ("Appended", "An entry beyond the seal's last_seq: named as not covered."),
    ("Resigned", "A segment edited and re-sealed with another key: its seal is named."),
    ("SealEdited", "A seal's last_hash changed: the signature no longer verifies."),
    ("MovedSeal", "A seal copied onto another segment: it names the wrong segment."),
    ("MissingSegment", "A whole segment removed: the gap in indices is named."),
    ("MissingSeal", "A seal removed from a segment that is not the last."),
    ("NotCanonical", "Valid JSON that is not RFC 8785: the entry is named."),
];

fn audit_entry(seq: u64, prev: &str, tenant: &str, pcs_id: &str, status: u16, result: Value, at: u64) -> fractal_core::audit::Entry {
    fractal_core::audit::Entry {
        seq,
        prev: prev.to_string(),
        tenant: tenant.into(),
        pcs_id: pcs_id.into(),
        status,
        result,
        record_sha256: hex(&sha256(format!("record {seq}").as_bytes())),
        region: "eu-west-1".into(),
        at,
    }
}

/// The base chain: entry lines per segment, sealed by `kp`.
fn audit_chain(kp: &Ed25519Keypair, sizes: &[usize]) -> (Vec<Vec<Vec<u8>>>, Vec<fractal_core::audit::Seal>) {
    use fractal_core::audit::{GENESIS, Seal, entry_hash};
    let results = [
        json!({"accepted": true, "escalated": false, "recomputed_D_hat": 1.4999999999999998, "recomputed_budget": 0.42}),
        json!({"accepted": true, "escalated": true, "reason": "budget mismatch: |0.5 - 0.42| > 0.01", "recomputed_budget": 1e-7}),
        json!({"accepted": false, "escalated": true, "reason": "structure: scales must be increasing"}),
    ];
    let tenants = ["default", "acme", "tenant-é-日本"];
    let mut prev = GENESIS.to_string();
    let mut seq = 0u64;
    let (mut segs, mut seals) = (Vec::new(), Vec::new());
    for (i, n) in sizes.iter().enumerate() {
        let first = seq;
        let mut lines = Vec::new();
        for _ in 0..*n {
            let r = results[seq as usize % 3].clone();
            let status = if r["accepted"] == true && r["escalated"] == false { 200 } else { 202 };
            let id = hex(&sha256(format!("pcs {seq}").as_bytes()));
            let e = audit_entry(seq, &prev, tenants[seq as usize % 3], &id, status, r, 1_767_225_600 + seq * 7);
            let b = e.to_bytes().expect("canonical");
            prev = hex(&entry_hash(&b));
            lines.push(b);
            seq += 1;
        }
        seals.push(Seal::sign(kp, i as u64, first, seq - 1, &prev));
        segs.push(lines);
    }
    (segs, seals)
}

fn join_lines(lines: &[Vec<u8>]) -> String {
    lines.iter().map(|l| format!("{}\n", String::from_utf8(l.clone()).expect("UTF-8"))).collect()
}

fn audit_file(kp: &Ed25519Keypair) -> File<Value> {
    use fractal_core::audit::{GENESIS, Seal, Segment, entry_hash, seal_message, verify_chain};
    let mut tc = 0usize;
    let mut next = || {
        tc += 1;
        tc
    };
    // Entries.
    let mut entry_tests = Vec::new();
    let cases: Vec<(&str, Vec<&str>, fractal_core::audit::Entry)> = vec![
        ("entry 0: prev is h[-1], 64 zeros", vec!["Entry"], audit_entry(0, GENESIS, "default", &"ab".repeat(32), 200, json!({"accepted": true, "escalated": false}), 1_700_000_000)),
        ("a 202 with numbers in the result", vec!["Entry", "Numbers"], audit_entry(41, &"0f".repeat(32), "acme", &"cd".repeat(32), 202, json!({"accepted": true, "escalated": true, "recomputed_D_hat": 2.2000000000000002, "recomputed_budget": 1e-7, "reason": "D_hat drift"}), 1_767_225_600)),
        ("large numbers in the result: 1e21 and 2^53-1", vec!["Entry", "Numbers"], audit_entry(9_007_199_254_740_991, &"ee".repeat(32), "default", "id", 202, json!({"accepted": false, "escalated": true, "recomputed_budget": 1e21, "recomputed_D_hat": 9007199254740991.0}), 4_102_444_800)),
        ("integral numbers beyond 2^53 in the result are written as RFC 8785 does (no v2 refusal: every stored outcome gets its entry)", vec!["Entry", "Numbers"], audit_entry(8, &"34".repeat(32), "acme", "big", 202, json!({"accepted": false, "escalated": true, "recomputed_D_hat": 37000000000000000.0, "recomputed_budget": 5e18, "reason": "D_hat drift"}), 1_700_000_002)),
        ("non-ASCII tenant and pcs_id", vec!["Entry", "NonAscii"], audit_entry(7, &"12".repeat(32), "tenant-é-日本", "pcs-😀-\u{7f}", 200, json!({"accepted": true, "escalated": false, "reason": "é\"\\\n"}), 1_700_000_001)),
    ];
    for (comment, flags, e) in cases {
        let b = e.to_bytes().expect("canonical");
        entry_tests.push(json!({
            "tcId": next(), "comment": comment, "flags": flags,
            "entry": serde_json::to_value(&e).expect("serializes"),
            "entry_bytes": String::from_utf8(b.clone()).expect("UTF-8"),
            "entry_sha256": hex(&entry_hash(&b)),
            "result": "valid",
        }));
    }
    // Seals.
    let (segs, seals) = audit_chain(kp, &[3, 3, 2]);
    let mut seal_tests = Vec::new();
    for (i, s) in seals.iter().enumerate() {
        seal_tests.push(json!({
            "tcId": next(), "comment": format!("seal of segment {i} of the chain below"), "flags": ["Seal"],
            "segment": s.segment, "first_seq": s.first_seq, "last_seq": s.last_seq, "last_hash": s.last_hash,
            "message": String::from_utf8(seal_message(s.segment, s.first_seq, s.last_seq, &s.last_hash)).expect("UTF-8"),
            "seal_bytes": String::from_utf8(s.to_bytes()).expect("UTF-8"),
            "result": "valid",
        }));
    }
    // Chains: the base chain and tampered copies, with the first bad entry or seal.
    type Mutate = Box<dyn Fn(&mut Vec<Option<Vec<Vec<u8>>>>, &mut Vec<Option<Vec<u8>>>)>;
    let other = Ed25519Keypair::from_seed(&[9; 32]);
    let (forged_segs, forged_seals) = {
        let (mut s, _) = audit_chain(kp, &[3, 3, 2]);
        // Entry 4 edited, the rest of segment 1 rehashed, re-sealed by `other`.
        let mut e: fractal_core::audit::Entry = serde_json::from_slice(&s[1][1]).expect("entry");
        e.status = 200;
        e.result = json!({"accepted": true, "escalated": false});
        s[1][1] = e.to_bytes().expect("canonical");
        let mut prev = hex(&entry_hash(&s[1][1]));
        let mut e2: fractal_core::audit::Entry = serde_json::from_slice(&s[1][2]).expect("entry");
        e2.prev = prev.clone();
        s[1][2] = e2.to_bytes().expect("canonical");
        prev = hex(&entry_hash(&s[1][2]));
        (s, Seal::sign(&other, 1, 3, 5, &prev))
    };
    let edit = |seg: usize, line: usize, f: fn(&mut fractal_core::audit::Entry)| -> Mutate {
        Box::new(move |s, _| {
            let lines = s[seg].as_mut().expect("segment");
            let mut e: fractal_core::audit::Entry = serde_json::from_slice(&lines[line]).expect("entry");
            f(&mut e);
            lines[line] = e.to_bytes().expect("canonical");
        })
    };
    /// (comment, flags, anchored, tampering, expected first bad (object, segment, seq)).
    type ChainCase<'a> = (&'a str, Vec<&'a str>, bool, Mutate, Option<(&'a str, u64, Option<u64>)>);
    let chain_cases: Vec<ChainCase> = vec![
        ("the intact chain", vec!["Intact"], false, Box::new(|_, _| {}), None),
        ("segments 1-2 anchored by the seal of segment 0", vec!["Intact", "Anchored"], true, Box::new(|_, _| {}), None),
        ("the last seal not written yet", vec!["UnsealedTail"], false, Box::new(|_, seals| seals[2] = None), None),
        ("entry 4's status edited", vec!["Edited"], false, edit(1, 1, |e| e.status = 200), Some(("entry", 1, Some(4)))),
        ("entry 0's tenant edited", vec!["Edited"], false, edit(0, 0, |e| e.tenant = "mallory".into()), Some(("entry", 0, Some(0)))),
        ("the last entry of segment 0 edited", vec!["Edited"], false, edit(0, 2, |e| e.at += 1), Some(("entry", 0, Some(2)))),
        ("entry 7 (the chain's last) edited", vec!["Edited"], false, edit(2, 1, |e| e.region = "us".into()), Some(("entry", 2, Some(7)))),
        ("entry 4's prev edited", vec!["EditedPrev"], false, edit(1, 1, |e| e.prev = "00".repeat(32)), Some(("entry", 1, Some(4)))),
        ("entry 3 (first of segment 1) prev edited", vec!["EditedPrev"], false, edit(1, 0, |e| e.prev = "11".repeat(32)), Some(("entry", 1, Some(3)))),
        ("entry 4 deleted", vec!["Deleted"], false, Box::new(|s, _| { s[1].as_mut().expect("segment").remove(1); }), Some(("entry", 1, Some(4)))),
        ("the last entry of segment 1 deleted", vec!["Deleted"], false, Box::new(|s, _| { s[1].as_mut().expect("segment").pop(); }), Some(("entry", 1, Some(5)))),
        ("entries 3 and 4 swapped", vec!["Reordered"], false, Box::new(|s, _| s[1].as_mut().expect("segment").swap(0, 1)), Some(("entry", 1, Some(3)))),
        ("entry 6 appended again to segment 1", vec!["Appended"], false, Box::new(|s, _| { let l = s[2].as_ref().expect("segment")[0].clone(); s[1].as_mut().expect("segment").push(l); }), Some(("entry", 1, Some(6)))),
        ("segment 1 edited and re-sealed with another key", vec!["Resigned"], false, Box::new(move |s, seals| { s[1] = Some(forged_segs[1].clone()); seals[1] = Some(forged_seals.to_bytes()); }), Some(("seal", 1, None))),
        ("seal 0's last_hash edited", vec!["SealEdited"], false, Box::new(|_, seals| { let mut x = Seal::parse(seals[0].as_ref().expect("seal")).expect("seal"); x.last_hash = "00".repeat(32); seals[0] = Some(x.to_bytes()); }), Some(("seal", 0, None))),
        ("seal 0 copied onto segment 1", vec!["MovedSeal"], false, Box::new(|_, seals| seals[1] = seals[0].clone()), Some(("seal", 1, None))),
        ("segment 1 removed", vec!["MissingSegment"], false, Box::new(|s, seals| { s[1] = None; seals[1] = None; }), Some(("segment", 1, None))),
        ("seal 1 removed", vec!["MissingSeal"], false, Box::new(|_, seals| seals[1] = None), Some(("seal", 1, None))),
        ("entry 1 pretty-printed (same JSON value)", vec!["NotCanonical"], false, Box::new(|s, _| { let l = &mut s[0].as_mut().expect("segment")[1]; let v: Value = serde_json::from_slice(l).expect("JSON"); *l = serde_json::to_string(&v).expect("JSON").replacen("{", "{ ", 1).into_bytes(); }), Some(("entry", 0, Some(1)))),
    ];
    let mut chain_tests = Vec::new();
    for (comment, flags, anchored, mutate, bad) in chain_cases {
        let mut s: Vec<Option<Vec<Vec<u8>>>> = segs.iter().cloned().map(Some).collect();
        let mut z: Vec<Option<Vec<u8>>> = seals.iter().map(|x| Some(x.to_bytes())).collect();
        mutate(&mut s, &mut z);
        let mut segments: Vec<Segment> = s
            .iter()
            .zip(&z)
            .enumerate()
            .filter(|(_, (e, x))| e.is_some() || x.is_some())
            .map(|(i, (e, x))| Segment { index: i as u64, entries: e.as_ref().map(|l| join_lines(l).into_bytes()), seal: x.clone() })
            .collect();
        let anchor = anchored.then(|| segments.remove(0).seal.expect("seal 0"));
        let got = verify_chain(&segments, &kp.public_bytes(), anchor.as_deref());
        let (result, expected, first_bad) = match (&got, bad) {
            (Ok(v), None) => ("valid", json!({"entries": v.entries, "last_seq": v.last_seq, "last_hash": v.last_hash, "unsealed_tail": v.unsealed_tail}), Value::Null),
            (Err(f), Some((object, segment, seq))) if (f.object, f.segment, f.seq) == (object, segment, seq) => {
                ("invalid", Value::Null, json!({"object": object, "segment": segment, "seq": seq}))
            }
            _ => panic!("audit chain case {comment:?}: the core says {got:?}, the case expects {bad:?}"),
        };
        chain_tests.push(json!({
            "tcId": next(), "comment": comment, "flags": flags,
            "segments": segments.iter().map(|g| json!({
                "index": g.index,
                "entries": g.entries.as_ref().map(|b| String::from_utf8(b.clone()).expect("UTF-8")),
                "seal": g.seal.as_ref().map(|b| String::from_utf8(b.clone()).expect("UTF-8")),
            })).collect::<Vec<_>>(),
            "anchor": anchor.map(|b| String::from_utf8(b).expect("UTF-8")),
            "result": result, "expected": expected, "first_bad": first_bad,
        }));
    }
    let n = entry_tests.len() + seal_tests.len() + chain_tests.len();
    file(
        "fractal-lba-audit-v1",
        AUDIT_NOTES,
        vec![
            json!({"type": "entries", "comment": "SPEC §11 entries: RFC 8785 bytes and h[n] = SHA-256(bytes)", "tests": entry_tests}),
            json!({"type": "seals", "comment": "seals sign the message fractal-lba/audit-seal/v1\\n{segment}\\n{first_seq}\\n{last_seq}\\n{last_hash} with Ed25519 (deterministic, so the oracle re-signs and compares)",
                   "ed25519_seed": kp.seed_b64(), "ed25519_public": kp.public_b64(), "tests": seal_tests}),
            json!({"type": "chains", "comment": "offline verification of a chain of segments under ed25519_public; invalid cases name the first bad entry (seq) or seal/segment (index)",
                   "ed25519_public": kp.public_b64(), "tests": chain_tests}),
        ],
        n,
    )
}

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
    write(&dir, "canonical_v2.json", &canonical_v2_file(&kp));
    write(&dir, "legacy.json", &legacy_file(&kp));
    write(&dir, "read.json", &read_file(&kp));
    write(&dir, "verify.json", &verify_file());
    write(&dir, "ring.json", &ring_file());
    write(&dir, "reject.json", &reject_file(&kp));
    // The server's and auditors' vectors live in golden/server/: the SDKs walk every
    // golden/*.json, and none of them builds audit chains.
    let server = dir.join("server");
    std::fs::create_dir_all(&server).unwrap_or_else(|e| panic!("cannot create {}: {e}", server.display()));
    write(&server, "audit.json", &audit_file(&kp));
    // The client protocol's vectors (backoff, Retry-After, classification, whole calls)
    // in golden/client/: each SDK's client tests read the parts they drive.
    let client = dir.join("client");
    std::fs::create_dir_all(&client).unwrap_or_else(|e| panic!("cannot create {}: {e}", client.display()));
    write(&client, "protocol.json", &protocol::protocol_file());
}
