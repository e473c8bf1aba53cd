use super::*;
use crate::model::MAX_EPOCH;

#[test]
fn signing_fields_check_the_parsers_limits() {
    let pcs = crate::build_pcs(&crate::BuildInput::example()).unwrap();
    let ok = SigningFields::from(&pcs);
    assert!(ok.check().is_ok());
    let long = "m".repeat(129);
    for (f, field) in [
        (SigningFields { epoch: MAX_EPOCH + 1, ..ok }, "epoch"),
        (SigningFields { shard_id: "", ..ok }, "shard_id"),
        (SigningFields { merkle_root: &long, ..ok }, "merkle_root"),
    ] {
        let err = f.check().unwrap_err();
        assert_eq!((err.kind(), err.field()), ("invalid_field", Some(field)));
    }
}

fn s(x: &str) -> String {
    let mut v = Vec::new();
    write_json_string(&mut v, x);
    String::from_utf8(v).unwrap()
}

#[test]
fn strings_escape_like_json_stringify() {
    assert_eq!(s("a\"b\\c"), r#""a\"b\\c""#);
    assert_eq!(s("\u{8}\u{c}\n\r\t"), r#""\b\f\n\r\t""#);
    assert_eq!(s("\u{1}\u{1f}\u{7f}"), "\"\\u0001\\u001f\u{7f}\"");
    assert_eq!(s("<>&\u{2028}\u{2029}é😀"), "\"<>&\u{2028}\u{2029}é😀\"");
    // Nothing to escape (the fast path), and one escape at either end of a long id.
    assert_eq!(s(" ~0123456789abcdef"), "\" ~0123456789abcdef\"");
    let hex = "0123456789abcdef".repeat(4);
    assert_eq!(s(&format!("{hex}\u{1f}")), format!("\"{hex}\\u001f\""));
    assert_eq!(s(&format!("\"{hex}")), format!("\"\\\"{hex}\""));
}

#[test]
fn numbers_format_like_ecmascript() {
    for (x, want) in [
        (1.0, "1"),
        (0.0, "0"),
        (-0.0, "0"),
        (0.000001, "0.000001"),
        (1e-7, "1e-7"),
        (1e21, "1e+21"),
        (123456789012345680000.0, "123456789012345680000"),
        (-1.5, "-1.5"),
        (0.1, "0.1"),
        // Not signable, but formatted as ECMAScript does, as before write_number.
        (f64::NAN, "NaN"),
        (f64::INFINITY, "Infinity"),
        (f64::NEG_INFINITY, "-Infinity"),
    ] {
        assert_eq!(format_number(x), want, "{x}");
    }
}

#[test]
fn round9_ties_away_from_zero_and_no_negative_zero() {
    assert_eq!(round9(2.5e-9), 3e-9);
    assert_eq!(round9(-2.5e-9), -3e-9);
    assert_eq!(round9(-1e-12).to_bits(), 0f64.to_bits());
    assert_eq!(round9(1.0), 1.0);
}

#[test]
fn epoch_digits() {
    let mut b = [0u8; 20];
    assert_eq!(format_u64(0, &mut b), b"0");
    assert_eq!(format_u64(MAX_EPOCH, &mut b), b"9007199254740991");
    assert_eq!(format_u64(u64::MAX, &mut b), b"18446744073709551615");
}

#[test]
fn the_direct_v2_writer_matches_the_general_one() {
    use crate::{BuildInput, build_pcs};
    let base = build_pcs(&BuildInput::example()).unwrap();
    let mut cases = vec![base.clone()];
    for i in 0..64u32 {
        let mut p = base.clone();
        let bit = |n: u32| i & (1 << n) != 0;
        p.omitted.seed = bit(0);
        p.omitted.scales = bit(1);
        p.omitted.n_j = bit(2);
        p.omitted.v_star = bit(3);
        p.omitted.regime = bit(4);
        if bit(0) {
            p.seed = 0;
        }
        if bit(1) && bit(2) {
            p.scales.clear();
            p.n_j.clear();
        }
        if bit(3) {
            p.v_star.clear();
        }
        if bit(4) {
            p.regime.clear();
        }
        if bit(5) {
            p.v_star = vec![1e21, 1e-7, -0.0, 2.0, 1e19, -5e-324, 0.1 + 0.2];
            p.seed = -MAX_SAFE_INTEGER;
            p.d_hat = 1e300;
            p.shard_id = "ü\u{1}\"\\\u{2028}<é>".into();
        }
        cases.push(p);
    }
    for (field, edit) in [
        ("seed", Box::new(|p: &mut Pcs| p.seed = MAX_SAFE_INTEGER + 1) as Box<dyn Fn(&mut Pcs)>),
        ("scales[1]", Box::new(|p: &mut Pcs| p.scales[1] = -(1 << 60))),
        ("epoch", Box::new(|p: &mut Pcs| p.epoch = u64::MAX)),
    ] {
        let mut p = base.clone();
        edit(&mut p);
        let direct = write_v2_known(&PcsOut::from(&p)).unwrap_err();
        assert_eq!(direct, canonical_payload_v2_general(&PcsOut::from(&p)).unwrap_err());
        assert_eq!(direct.field(), Some(field));
    }
    let mut p = base.clone();
    p.n_j.insert("8".into(), 1 << 54);
    let direct = write_v2_known(&PcsOut::from(&p)).unwrap_err();
    assert_eq!(direct, canonical_payload_v2_general(&PcsOut::from(&p)).unwrap_err());
    for p in &cases {
        let out = PcsOut::from(p);
        assert_eq!(
            String::from_utf8(write_v2_known(&out).unwrap()).unwrap(),
            String::from_utf8(canonical_payload_v2_general(&out).unwrap()).unwrap()
        );
    }
}
