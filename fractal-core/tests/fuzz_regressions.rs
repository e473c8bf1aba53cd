//! Inputs the fuzz targets found (`make fuzz`, fuzz/), each replayed as a plain
//! test so the bug stays fixed without the fuzzer.

use fractal_core::canonical::jcs;
use fractal_core::{BuildInput, Error, Pcs, build_pcs, canonical_payload_v2};
use serde_json::Value;

fn jcs_text(text: &str) -> Result<String, String> {
    let v: Value = serde_json::from_str(text).unwrap();
    jcs(&v).map(|p| String::from_utf8(p).unwrap()).map_err(|e| e.to_string())
}

/// Target `canonical`, crash-553de4a9c2f05fd6f51e9209d2b7fc7872f14b8a (a structured
/// value holding an integral float beyond 2^53). RFC 8785 writes 1e19 as
/// `10000000000000000000`; read back, that text is an integer outside ±(2^53−1),
/// which v2 refuses, so jcs(parse(jcs(x))) failed where jcs(x) had succeeded. Now
/// both spellings are refused, and whatever jcs accepts it accepts again, unchanged.
#[test]
fn jcs_of_an_integral_value_beyond_2_pow_53_is_refused_in_every_spelling() {
    for (float, integer) in [
        ("[1e19]", "[10000000000000000000]"),
        ("[9007199254740992.0]", "[9007199254740992]"),
        ("[-1.5e20]", "[-150000000000000000000]"),
        (r#"{"a":{"b":[1e18]}}"#, r#"{"a":{"b":[1000000000000000000]}}"#),
    ] {
        let (a, b) = (jcs_text(float), jcs_text(integer));
        assert!(a.is_err(), "{float} was signed as {a:?}");
        assert!(b.is_err(), "{integer} was signed as {b:?}");
    }
    // From 1e21 on RFC 8785 writes an exponent, and the bytes hold no integer.
    assert_eq!(jcs_text("[1e21, 1.5e300]"), Ok("[1e+21,1.5e+300]".into()));
}

#[test]
fn jcs_is_a_fixed_point_on_what_it_accepts() {
    for text in [
        "[9007199254740991.0]",
        "[-9007199254740991]",
        "[2.5e-7, 0.1, 123.456, -0.0, 1e21, -1.5e300]",
        r#"{"D_hat":1e19,"v_star":[10000000000000000000, 1.5]}"#,
        r#"{"r":9007199254740993}"#,
    ] {
        let out = jcs_text(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(jcs_text(&out), Ok(out.clone()), "{text} canonicalizes to {out} which does not canonicalize again");
    }
}

/// The same bug at the record level: a record whose unknown field was `1e19` signed
/// with v2, but the same record written the way its own v2 payload (or JavaScript's
/// `JSON.stringify`) writes that number, `10000000000000000000`, was malformed for
/// v2. One value, one verdict now, whichever way a sender printed it; and a number
/// field (D_hat) takes either spelling and signs the same bytes.
#[test]
fn a_record_gets_one_verdict_for_one_value() {
    let pcs = build_pcs(&BuildInput::example()).unwrap();
    let record: Value = serde_json::from_slice(&pcs.to_json()).unwrap();
    let resend = |field: &str, number: &str| {
        let mut r = record.clone();
        r[field] = serde_json::from_str(number).unwrap();
        let pcs = Pcs::from_json(&serde_json::to_vec(&r).unwrap()).unwrap();
        canonical_payload_v2(&pcs)
    };
    for number in ["1e19", "10000000000000000000"] {
        match resend("x", number) {
            Err(Error::InvalidField { field, .. }) => assert_eq!(field, "x"),
            other => panic!("x = {number}: {other:?}"),
        }
    }
    let (a, b) = (resend("D_hat", "1e19").unwrap(), resend("D_hat", "10000000000000000000").unwrap());
    assert_eq!(a, b);
    assert!(String::from_utf8_lossy(&a).contains(r#""D_hat":10000000000000000000"#));
}
