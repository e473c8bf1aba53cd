//! Inputs the fuzz targets found (`make fuzz`, fuzz/), each replayed as a plain
//! test so the bug stays fixed without the fuzzer.

use fractal_core::canonical::jcs;
use fractal_core::{BuildInput, Pcs, build_pcs, canonical_payload_v2};
use serde_json::Value;

/// Target `canonical`, crash-553de4a9c2f05fd6f51e9209d2b7fc7872f14b8a (a structured
/// value holding an integral float beyond 2^53). RFC 8785 writes 1e19 as
/// `10000000000000000000`; read back, that text is an integer outside ±(2^53−1),
/// which the v2 rules refuse, so jcs(parse(jcs(x))) fails where jcs(x) succeeded.
#[test]
fn jcs_of_an_integral_float_beyond_2_pow_53_is_a_fixed_point() {
    for text in ["[1e19]", "[9007199254740992.0]", "[-1.5e20]", r#"{"a":{"b":[1e18]}}"#] {
        let v: Value = serde_json::from_str(text).unwrap();
        let out = jcs(&v).unwrap();
        let reparsed: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            jcs(&reparsed).map(|p| String::from_utf8(p).unwrap()).map_err(|e| e.to_string()),
            Ok(String::from_utf8(out.clone()).unwrap()),
            "{text} canonicalizes to {} which does not canonicalize again",
            String::from_utf8_lossy(&out)
        );
    }
}

/// The same bug at the record level: a record whose unknown field is `1e19` signs
/// with v2, but the same record written the way its own v2 payload (or JavaScript's
/// `JSON.stringify`) writes that number, `10000000000000000000`, is malformed for
/// v2. One value, two verdicts, depending on how a sender happened to print it.
#[test]
fn a_v2_record_resent_as_its_payload_writes_it_signs_the_same() {
    let mut pcs = build_pcs(&BuildInput::example()).unwrap();
    pcs.extra.insert("x".into(), serde_json::from_str("1e19").unwrap());
    let payload = canonical_payload_v2(&pcs).unwrap();
    assert!(String::from_utf8_lossy(&payload).contains(r#""x":10000000000000000000"#));

    let mut resent: Value = serde_json::from_slice(&pcs.to_json()).unwrap();
    resent["x"] = serde_json::from_str("10000000000000000000").unwrap();
    let resent = Pcs::from_json(&serde_json::to_vec(&resent).unwrap()).unwrap();
    let text = |r: fractal_core::Result<Vec<u8>>| r.map(|p| String::from_utf8(p).unwrap()).map_err(|e| e.to_string());
    assert_eq!(text(canonical_payload_v2(&resent)), text(Ok(payload)));
}
