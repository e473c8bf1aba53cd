//! `reject.json`: what every reader must refuse, at which stage, naming which field.

use super::*;

#[derive(Serialize)]
pub(crate) struct RejectGroup {
    pub(crate) comment: &'static str,
    pub(crate) hmac_key: &'static str,
    pub(crate) ed25519_public: String,
    pub(crate) tests: Vec<RejectTest>,
}

/// A signature policy as the golden files write it (SPEC §4, §4.1).
#[derive(Serialize, Clone)]
pub(crate) struct PolicyJson {
    pub(crate) versions: Vec<&'static str>,
    pub(crate) encodings: Vec<&'static str>,
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
pub(crate) struct RejectTest {
    #[serde(rename = "tcId")]
    pub(crate) tc_id: usize,
    pub(crate) comment: String,
    pub(crate) flags: Vec<&'static str>,
    pub(crate) stage: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) key_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) policy: Option<PolicyJson>,
    pub(crate) input: String,
    pub(crate) error_kind: &'static str,
    pub(crate) field: Option<&'static str>,
    pub(crate) result: &'static str,
}

pub(crate) const REJECT_NOTES: &[(&str, &str)] = &[
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

pub(crate) struct Reject {
    pub(crate) comment: String,
    pub(crate) flags: Vec<&'static str>,
    pub(crate) stage: &'static str,
    pub(crate) key_type: Option<&'static str>,
    pub(crate) policy: Option<PolicyJson>,
    pub(crate) input: String,
    pub(crate) error_kind: &'static str,
    pub(crate) field: Option<&'static str>,
}

/// The record text with `key`'s value replaced by `raw` (raw JSON text).
pub(crate) fn splice(o: &Value, key: &str, raw: &str) -> String {
    let mut o = o.clone();
    o[key] = json!("@@SPLICE@@");
    serde_json::to_string(&o).expect("serializes").replace("\"@@SPLICE@@\"", raw)
}

pub(crate) fn reject_cases(kp: &Ed25519Keypair) -> Vec<Reject> {
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
pub(crate) fn not_a_point() -> [u8; 32] {
    let mut b = [0u8; 32];
    b[0] = 2;
    b
}

pub(crate) fn base64_urlsafe(raw: &[u8]) -> String {
    let s = b64encode(raw).replace('+', "-").replace('/', "_");
    assert!(s.contains('-') || s.contains('_'), "pick bytes whose base64 uses + or /");
    s
}

/// Changes the last base64 character before the padding so its unused low bits
/// are non-zero (the decoded bytes stay the same under a lax decoder).
pub(crate) fn flip_trailing_bits(s: &str) -> String {
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
pub(crate) fn run_reject(c: &Reject, v: &Verifier) -> Result<(), (&'static str, Option<String>)> {
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

pub(crate) fn reject_file(kp: &Ed25519Keypair) -> File<RejectGroup> {
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
