//! `canonical_v2.json`: SPEC §3.2, the v2 payload (what is judged is what is signed).

use super::*;

/// A wire text built field by field: `(raw JSON key, raw JSON value)` in order, so a
/// case can write any number shape, escape or key order the grammar allows.
#[derive(Clone)]
pub(crate) struct Wire(Vec<(String, String)>);

/// The `pcs_id` placeholder that [`Wire::text`] replaces with the SPEC §2 value.
pub(crate) const ID_PLACEHOLDER: &str = "\"@PCS_ID@\"";

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
pub(crate) struct V2Test {
    #[serde(rename = "tcId")]
    pub(crate) tc_id: usize,
    pub(crate) comment: String,
    pub(crate) flags: Vec<&'static str>,
    pub(crate) record_text: String,
    pub(crate) record: Value,
    pub(crate) expected: CanonicalExpected,
    pub(crate) result: &'static str,
}

#[derive(Serialize)]
pub(crate) struct V2Group {
    pub(crate) hmac_key: &'static str,
    pub(crate) ed25519_seed: String,
    pub(crate) ed25519_public: String,
    pub(crate) tests: Vec<V2Test>,
}

pub(crate) const V2_NOTES: &[(&str, &str)] = &[
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

pub(crate) fn v2_cases() -> Vec<(String, Vec<&'static str>, String)> {
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

pub(crate) fn canonical_v2_file(kp: &Ed25519Keypair) -> File<V2Group> {
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
