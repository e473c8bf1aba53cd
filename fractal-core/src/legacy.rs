//! The seed's SDK encodings of the v1 fields (SPEC §4.1): accepted per tenant when
//! verifying, never produced by a signer of ours.
//!
//! Both encode exactly the eight values that the v1 MAC binds, only with other
//! bytes, so accepting them widens no forgery. They are written from the rules
//! the SPEC states, not from the seed's code.

use crate::canonical::{SigningFields, canonical_fields, sha256};

/// A byte encoding of the v1 fields used by one of the seed's clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum LegacyEncoding {
    /// The seed's Python SDK and agent: `Decimal` rounding, `json.dumps(sort_keys=True)`
    /// with Python `repr` floats and ASCII-only strings.
    #[serde(rename = "seed-python")]
    SeedPython,
    /// The seed's Go SDK: the v1 bytes with `<`, `>`, `&`, U+2028 and U+2029
    /// escaped as Go's `encoding/json` does.
    #[serde(rename = "seed-go")]
    SeedGo,
}

impl LegacyEncoding {
    /// Every encoding, in a fixed order.
    pub const ALL: [LegacyEncoding; 2] = [LegacyEncoding::SeedPython, LegacyEncoding::SeedGo];

    /// `seed-python` or `seed-go`.
    pub fn as_str(self) -> &'static str {
        match self {
            LegacyEncoding::SeedPython => "seed-python",
            LegacyEncoding::SeedGo => "seed-go",
        }
    }

    /// The payload bytes of the fields in this encoding; `None` where the seed's
    /// client could not have produced one (a number its `Decimal` arithmetic
    /// refuses, a non-finite number).
    ///
    /// ```
    /// use fractal_core::{LegacyEncoding, SigningFields};
    /// let f = SigningFields { pcs_id: "p", merkle_root: "m<", epoch: 1, shard_id: "s",
    ///                         d_hat: 1.0, coh_star: 0.0000025, r: 0.5, budget: 0.1 };
    /// let py = LegacyEncoding::SeedPython.payload(&f).unwrap();
    /// assert_eq!(py, br#"{"D_hat":1.0,"budget":0.1,"coh_star":2.5e-06,"epoch":1,"merkle_root":"m<","pcs_id":"p","r":0.5,"shard_id":"s"}"#);
    /// let go = LegacyEncoding::SeedGo.payload(&f).unwrap();
    /// assert!(go.windows(6).any(|w| w == br"\u003c"));
    /// ```
    pub fn payload(self, f: &SigningFields<'_>) -> Option<Vec<u8>> {
        match self {
            LegacyEncoding::SeedPython => seed_python(f),
            LegacyEncoding::SeedGo => canonical_fields(f).ok().map(|p| go_escape(&p)),
        }
    }

    /// SHA-256 of [`LegacyEncoding::payload`].
    pub fn digest(self, f: &SigningFields<'_>) -> Option<[u8; 32]> {
        self.payload(f).map(|p| sha256(&p))
    }
}

impl std::fmt::Display for LegacyEncoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for LegacyEncoding {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "seed-python" => Ok(LegacyEncoding::SeedPython),
            "seed-go" => Ok(LegacyEncoding::SeedGo),
            _ => Err(crate::Error::arg("accept_encodings", format!("unknown encoding {s:?} (seed-python, seed-go)"))),
        }
    }
}

/// Go's `encoding/json` HTML-safe escapes applied to JSON text: `<`, `>`, `&` as
/// `\u003c`, `\u003e`, `\u0026`, U+2028 and U+2029 as `\u2028`, `\u2029`. In
/// the v1 payload these bytes occur only inside strings.
fn go_escape(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 16);
    let mut i = 0;
    while i < payload.len() {
        match payload[i] {
            b'<' => out.extend_from_slice(br"\u003c"),
            b'>' => out.extend_from_slice(br"\u003e"),
            b'&' => out.extend_from_slice(br"\u0026"),
            0xE2 if payload.get(i + 1) == Some(&0x80) && matches!(payload.get(i + 2), Some(0xA8 | 0xA9)) => {
                out.extend_from_slice(if payload[i + 2] == 0xA8 { br"\u2028" } else { br"\u2029" });
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// `json.dumps({...}, sort_keys=True, separators=(",", ":"))` of the fields, each
/// number first passed through `float(Decimal(repr(x)).quantize(Decimal("1e-9"), ROUND_HALF_UP))`.
fn seed_python(f: &SigningFields<'_>) -> Option<Vec<u8>> {
    let d_hat = py_quantize9(f.d_hat)?;
    let budget = py_quantize9(f.budget)?;
    let coh_star = py_quantize9(f.coh_star)?;
    let r = py_quantize9(f.r)?;
    let mut out = Vec::with_capacity(128 + f.pcs_id.len() + f.merkle_root.len() + f.shard_id.len());
    // Python sorts keys by code point; for these ASCII keys that is the v1 order.
    out.extend_from_slice(b"{\"D_hat\":");
    out.extend_from_slice(py_repr(d_hat).as_bytes());
    out.extend_from_slice(b",\"budget\":");
    out.extend_from_slice(py_repr(budget).as_bytes());
    out.extend_from_slice(b",\"coh_star\":");
    out.extend_from_slice(py_repr(coh_star).as_bytes());
    out.extend_from_slice(b",\"epoch\":");
    out.extend_from_slice(f.epoch.to_string().as_bytes());
    out.extend_from_slice(b",\"merkle_root\":");
    py_string(&mut out, f.merkle_root);
    out.extend_from_slice(b",\"pcs_id\":");
    py_string(&mut out, f.pcs_id);
    out.extend_from_slice(b",\"r\":");
    out.extend_from_slice(py_repr(r).as_bytes());
    out.extend_from_slice(b",\"shard_id\":");
    py_string(&mut out, f.shard_id);
    out.push(b'}');
    Some(out)
}

/// The shortest round-trip decimal digits of a finite `x` and the exponent of its
/// first digit: `x = ±0.d1d2… × 10^(exp+1)`, i.e. `d1.d2… × 10^exp`.
fn shortest_digits(x: f64) -> (bool, Vec<u8>, i32) {
    // Rust's `{:e}` prints the shortest digits that round-trip, like Python's repr.
    let s = format!("{:e}", x.abs());
    let (mant, exp) = s.split_once('e').expect("LowerExp has an exponent");
    let exp: i32 = exp.parse().expect("LowerExp exponent is an integer");
    let digits: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).map(|b| b - b'0').collect();
    (x.is_sign_negative(), digits, exp)
}

/// Python's `float(Decimal(repr(x)).quantize(Decimal("1e-9"), ROUND_HALF_UP))`;
/// `None` where Python raises (non-finite input, or a result needing more than the
/// default context's 28 digits).
fn py_quantize9(x: f64) -> Option<f64> {
    if !x.is_finite() {
        return None;
    }
    let (neg, digits, exp) = shortest_digits(x);
    let sign = if neg { "-" } else { "" };
    if x == 0.0 {
        return format!("{sign}0").parse().ok();
    }
    // digits[i] has place value 10^(exp - i); keep the places ≥ 10^-9.
    let keep = exp + 10; // how many leading digits lie at or above 10^-9
    let mut kept: Vec<u8> = if keep <= 0 {
        Vec::new()
    } else {
        let mut k: Vec<u8> = digits.iter().copied().take(keep as usize).collect();
        k.resize(keep as usize, 0);
        k
    };
    let first_dropped = if keep < 0 { 0 } else { digits.get(keep as usize).copied().unwrap_or(0) };
    if first_dropped >= 5 {
        // Half up (away from zero) on the magnitude.
        let mut i = kept.len();
        loop {
            if i == 0 {
                kept.insert(0, 1);
                break;
            }
            i -= 1;
            if kept[i] == 9 {
                kept[i] = 0;
            } else {
                kept[i] += 1;
                break;
            }
        }
    }
    while kept.len() > 1 && kept[0] == 0 {
        kept.remove(0);
    }
    if kept.len() > 28 {
        return None; // decimal.InvalidOperation: the quantized coefficient exceeds the precision.
    }
    let coeff: String = if kept.is_empty() { "0".into() } else { kept.iter().map(|d| (b'0' + d) as char).collect() };
    format!("{sign}{coeff}e-9").parse().ok()
}

/// Python's `repr(float)`: the shortest round-trip digits, positional when the
/// decimal exponent is in -4..=15 (always with a fractional part, `1.0`),
/// scientific otherwise with at least two exponent digits (`1e-05`, `2.5e+16`).
fn py_repr(x: f64) -> String {
    let neg = x.is_sign_negative();
    let sign = if neg { "-" } else { "" };
    if x == 0.0 {
        return format!("{sign}0.0");
    }
    let (_, digits, exp) = shortest_digits(x);
    let ds: String = digits.iter().map(|d| (b'0' + d) as char).collect();
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if ds.len() <= int_len {
                format!("{sign}{ds}{}.0", "0".repeat(int_len - ds.len()))
            } else {
                format!("{sign}{}.{}", &ds[..int_len], &ds[int_len..])
            }
        } else {
            format!("{sign}0.{}{ds}", "0".repeat((-exp - 1) as usize))
        }
    } else {
        let mant = if ds.len() == 1 { ds.clone() } else { format!("{}.{}", &ds[..1], &ds[1..]) };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{mant}e{esign}{:02}", exp.abs())
    }
}

/// A string as Python's `json.dumps` (`ensure_ascii=True`) writes it.
fn py_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let unit = |out: &mut Vec<u8>, u: u16| {
        out.extend_from_slice(b"\\u");
        for shift in [12, 8, 4, 0] {
            out.push(HEX[((u >> shift) & 15) as usize]);
        }
    };
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            ' '..='~' => out.push(c as u8),
            _ => {
                let mut buf = [0u16; 2];
                for &u in c.encode_utf16(&mut buf).iter() {
                    unit(out, u);
                }
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_repr_matches_cpython() {
        // Expected texts are CPython's repr of the same doubles.
        for (x, want) in [
            (1.0, "1.0"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.41, "1.41"),
            (2.5e-6, "2.5e-06"),
            (1e-9, "1e-09"),
            (1e16, "1e+16"),
            (1234567890123456.0, "1234567890123456.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (123.456, "123.456"),
            (1.5e300, "1.5e+300"),
            (-0.25, "-0.25"),
        ] {
            assert_eq!(py_repr(x), want, "{x}");
        }
    }

    #[test]
    fn decimal_quantize_rounds_the_repr_half_up() {
        // Decimal works on repr's digits: 0.1234567895 is a tie there (half up),
        // although the double is slightly below it.
        assert_eq!(py_quantize9(0.1234567895), Some(0.12345679));
        assert_eq!(py_quantize9(-0.1234567895), Some(-0.12345679));
        assert_eq!(py_quantize9(0.1234567894), Some(0.123456789));
        assert_eq!(py_quantize9(4e-10), Some(0.0));
        assert_eq!(py_quantize9(5e-10), Some(1e-9));
        assert_eq!(py_quantize9(9.9999999995), Some(10.0));
        assert_eq!(py_quantize9(1.41), Some(1.41));
        assert!(py_quantize9(-1e-12).unwrap().is_sign_negative());
        assert_eq!(py_quantize9(1e20), None, "30 digits exceed Decimal's default precision");
        assert_eq!(py_quantize9(f64::NAN), None);
    }

    #[test]
    fn python_strings_are_ascii_with_lowercase_escapes() {
        let mut out = Vec::new();
        py_string(&mut out, "a\"\\\u{7f}é😀\u{1}<");
        assert_eq!(out, br#""a\"\\\u007f\u00e9\ud83d\ude00\u0001<""#);
    }

    #[test]
    fn go_escapes_html_and_line_separators() {
        assert_eq!(
            go_escape("<a&b>\u{2028}\u{2029}é".as_bytes()),
            br"\u003ca\u0026b\u003e\u2028\u2029".iter().copied().chain("é".bytes()).collect::<Vec<u8>>()
        );
    }
}
