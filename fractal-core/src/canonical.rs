//! `pcs_id` (SPEC §2) and the canonical signing payloads and digests (SPEC §3):
//! v1 over the seed's eight fields, v2 over everything the verdict depends on.

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};
use crate::model::{MAX_SAFE_INTEGER, Pcs, PcsOut};

/// Which signing payload a signature covers (SPEC §3, §4).
///
/// ```
/// use fractal_core::SigVersion;
/// assert_eq!(SigVersion::default(), SigVersion::V2);
/// assert_eq!("v1".parse::<SigVersion>().unwrap(), SigVersion::V1);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SigVersion {
    /// The seed's eight fields, rounded to 9 decimals (SPEC §3.1); `sig` is plain base64.
    V1,
    /// The whole record but its delivery fields, as sent (SPEC §3.2); `sig` is `v2:` + base64.
    #[default]
    V2,
}

impl SigVersion {
    /// `v1` or `v2`.
    pub fn as_str(self) -> &'static str {
        match self {
            SigVersion::V1 => "v1",
            SigVersion::V2 => "v2",
        }
    }

    /// The version as a number (1 or 2), for bindings.
    pub fn number(self) -> u32 {
        match self {
            SigVersion::V1 => 1,
            SigVersion::V2 => 2,
        }
    }

    /// The version of a number (1 or 2).
    pub fn from_number(n: i64) -> Result<SigVersion> {
        match n {
            1 => Ok(SigVersion::V1),
            2 => Ok(SigVersion::V2),
            _ => Err(Error::arg("version", format!("signature version must be 1 or 2, not {n}"))),
        }
    }
}

impl std::fmt::Display for SigVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for SigVersion {
    type Err = Error;
    fn from_str(s: &str) -> Result<SigVersion> {
        match s {
            "v1" | "1" => Ok(SigVersion::V1),
            "v2" | "2" => Ok(SigVersion::V2),
            _ => Err(Error::arg("version", format!("signature version must be v1 or v2, not {s:?}"))),
        }
    }
}

/// The domain prefix of the v2 digest (SPEC §3.2, step 4).
pub const V2_DOMAIN: &[u8] = b"fractal-lba/pcs/v2\n";

/// `lowercase_hex(SHA-256(merkle_root + "|" + decimal(epoch) + "|" + shard_id))`.
///
/// ```
/// let id = fractal_core::pcs_id("ab", 1, "shard-001");
/// assert_eq!(id.len(), 64);
/// ```
pub fn pcs_id(merkle_root: &str, epoch: u64, shard_id: &str) -> String {
    let mut h = Sha256::new();
    h.update(merkle_root.as_bytes());
    h.update(b"|");
    h.update(epoch.to_string().as_bytes());
    h.update(b"|");
    h.update(shard_id.as_bytes());
    hex(&h.finalize())
}

/// Lowercase hexadecimal of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// `roundHalfAwayFromZero(x × 1e9) / 1e9` in binary64, with −0 mapped to 0.
///
/// ```
/// use fractal_core::round9;
/// assert_eq!(round9(0.1234567895), 0.12345679);
/// assert_eq!(round9(-0.0).to_bits(), 0.0f64.to_bits());
/// ```
pub fn round9(x: f64) -> f64 {
    let r = (x * 1e9).round() / 1e9;
    if r == 0.0 { 0.0 } else { r }
}

/// The eight signed fields of a record (SPEC §3, step 1), borrowed.
#[derive(Debug, Clone, Copy)]
pub struct SigningFields<'a> {
    /// `pcs_id`.
    pub pcs_id: &'a str,
    /// `merkle_root`.
    pub merkle_root: &'a str,
    /// `epoch`.
    pub epoch: u64,
    /// `shard_id`.
    pub shard_id: &'a str,
    /// `D_hat`.
    pub d_hat: f64,
    /// `coh_star`.
    pub coh_star: f64,
    /// `r`.
    pub r: f64,
    /// `budget`.
    pub budget: f64,
}

impl SigningFields<'_> {
    /// SPEC §1's limits on these fields, as the record parser applies them: `epoch`
    /// at most 2^53−1, `shard_id` and `merkle_root` 1 to 128 bytes. For readers of
    /// just these fields (the SDKs' v1 fast paths), so the limits stay the core's.
    ///
    /// ```
    /// let pcs = fractal_core::build_pcs(&fractal_core::BuildInput::example()).unwrap();
    /// let mut f = fractal_core::SigningFields::from(&pcs);
    /// assert!(f.check().is_ok());
    /// f.shard_id = "";
    /// assert_eq!(f.check().unwrap_err().field(), Some("shard_id"));
    /// ```
    pub fn check(&self) -> Result<()> {
        crate::model::check_id_bytes(self.shard_id, "shard_id")?;
        crate::model::check_id_bytes(self.merkle_root, "merkle_root")?;
        crate::model::check_epoch(self.epoch)
    }

    /// What a v1 signature covers: SHA-256 of [`canonical_fields`] (SPEC §3.1, step 4).
    ///
    /// ```
    /// use fractal_core::{build_pcs, digest, BuildInput, SigVersion, SigningFields};
    /// let pcs = build_pcs(&BuildInput::example()).unwrap();
    /// assert_eq!(SigningFields::from(&pcs).digest().unwrap(), digest(&pcs, SigVersion::V1).unwrap());
    /// ```
    pub fn digest(&self) -> Result<[u8; 32]> {
        Ok(sha256(&canonical_fields(self)?))
    }
}

impl<'a> From<&'a Pcs> for SigningFields<'a> {
    fn from(p: &'a Pcs) -> Self {
        SigningFields {
            pcs_id: &p.pcs_id,
            merkle_root: &p.merkle_root,
            epoch: p.epoch,
            shard_id: &p.shard_id,
            d_hat: p.d_hat,
            coh_star: p.coh_star,
            r: p.r,
            budget: p.budget,
        }
    }
}

/// The canonical payload bytes of a record for `version` (SPEC §3).
///
/// Fails with [`Error::InvalidField`] naming the field for a number that cannot
/// be signed (non-finite; for v2 an integer outside ±(2^53−1)).
///
/// ```
/// use fractal_core::{build_pcs, canonical_payload, BuildInput, SigVersion};
/// let pcs = build_pcs(&BuildInput::example()).unwrap();
/// let v1 = canonical_payload(&pcs, SigVersion::V1).unwrap();
/// assert!(v1.starts_with(br#"{"D_hat":"#));
/// let v2 = canonical_payload(&pcs, SigVersion::V2).unwrap();
/// assert!(v2.starts_with(br#"{"D_hat":"#) && v2.len() > v1.len());
/// ```
pub fn canonical_payload(pcs: &Pcs, version: SigVersion) -> Result<Vec<u8>> {
    match version {
        SigVersion::V1 => canonical_payload_v1(pcs),
        SigVersion::V2 => canonical_payload_v2(pcs),
    }
}

/// The v1 payload (SPEC §3.1): RFC 8785 JSON of the eight signed fields, numbers
/// rounded with [`round9`].
pub fn canonical_payload_v1(pcs: &Pcs) -> Result<Vec<u8>> {
    canonical_fields(&SigningFields::from(pcs))
}

/// The v2 payload (SPEC §3.2): RFC 8785 JSON of the whole record except `sig`,
/// `attempt`, `sent_at` and `ft`, unknown fields included, numbers as sent.
pub fn canonical_payload_v2(pcs: &Pcs) -> Result<Vec<u8>> {
    for (field, x) in [("D_hat", pcs.d_hat), ("coh_star", pcs.coh_star), ("r", pcs.r), ("budget", pcs.budget)] {
        if !x.is_finite() {
            return Err(Error::bad_field(field, "must be a finite number (NaN and Infinity cannot be signed)"));
        }
    }
    for (i, x) in pcs.v_star.iter().enumerate() {
        if !x.is_finite() {
            return Err(Error::bad_field(
                format!("v_star[{i}]"),
                "must be a finite number (NaN and Infinity cannot be signed)",
            ));
        }
    }
    let out = PcsOut::from(pcs);
    if out.extra.is_empty() {
        return write_v2_known(&out);
    }
    canonical_payload_v2_general(&out)
}

/// The v2 payload through a JSON value: any unknown fields sorted in among the known.
fn canonical_payload_v2_general(out: &PcsOut<'_>) -> Result<Vec<u8>> {
    let value = serde_json::to_value(out).map_err(|e| Error::bad_field("record", e.to_string()))?;
    let Value::Object(mut map) = value else { unreachable!("a record serializes as an object") };
    for delivery in ["sig", "attempt", "sent_at", "ft"] {
        map.remove(delivery);
    }
    let mut out = Vec::with_capacity(512);
    let mut path = String::new();
    write_jcs_object(&mut out, &map, &mut path, Rules::V2)?;
    Ok(out)
}

/// The v2 payload of a record without unknown fields, written field by field in
/// RFC 8785 order: the same bytes (and the same refusals) as the general path, without
/// building a JSON value first. Its number fields were checked to be finite.
fn write_v2_known(p: &PcsOut<'_>) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(384 + p.pcs_id.len() + p.merkle_root.len() + p.shard_id.len());
    let number = |out: &mut Vec<u8>, key: &[u8], x: f64| {
        out.extend_from_slice(key);
        write_number(out, x);
    };
    number(&mut out, b"{\"D_hat\":", p.d_hat);
    if let Some(n_j) = p.n_j {
        out.extend_from_slice(b",\"N_j\":{");
        for (i, (k, &v)) in n_j.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_json_string(&mut out, k);
            out.push(b':');
            safe_integer(&mut out, v, || format!("N_j.{k}"))?;
        }
        out.push(b'}');
    }
    number(&mut out, b",\"budget\":", p.budget);
    number(&mut out, b",\"coh_star\":", p.coh_star);
    out.extend_from_slice(b",\"epoch\":");
    if p.epoch > MAX_SAFE_INTEGER as u64 {
        return Err(Error::bad_field("epoch", "integer outside ±(2^53-1) cannot be signed with v2"));
    }
    safe_integer(&mut out, p.epoch as i64, || "epoch".into())?;
    for (key, s) in [(&b",\"merkle_root\":"[..], p.merkle_root), (b",\"pcs_id\":", p.pcs_id)] {
        out.extend_from_slice(key);
        write_json_string(&mut out, s);
    }
    number(&mut out, b",\"r\":", p.r);
    if let Some(regime) = p.regime {
        out.extend_from_slice(b",\"regime\":");
        write_json_string(&mut out, regime);
    }
    if let Some(scales) = p.scales {
        out.extend_from_slice(b",\"scales\":[");
        for (i, &s) in scales.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            safe_integer(&mut out, s, || format!("scales[{i}]"))?;
        }
        out.push(b']');
    }
    out.extend_from_slice(b",\"schema\":");
    write_json_string(&mut out, p.schema);
    if let Some(seed) = p.seed {
        out.extend_from_slice(b",\"seed\":");
        safe_integer(&mut out, seed, || "seed".into())?;
    }
    out.extend_from_slice(b",\"shard_id\":");
    write_json_string(&mut out, p.shard_id);
    if let Some(v_star) = p.v_star {
        out.extend_from_slice(b",\"v_star\":[");
        for (i, &x) in v_star.iter().enumerate() {
            number(&mut out, if i > 0 { b"," } else { b"" }, x);
        }
        out.push(b']');
    }
    out.extend_from_slice(b",\"version\":");
    write_json_string(&mut out, p.version);
    out.push(b'}');
    Ok(out)
}

/// An integer field of the v2 payload: within ±(2^53−1), written as itself.
fn safe_integer(out: &mut Vec<u8>, v: i64, field: impl FnOnce() -> String) -> Result<()> {
    if !(-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&v) {
        return Err(Error::bad_field(field(), "integer outside ±(2^53-1) cannot be signed with v2"));
    }
    let mut buf = [0u8; 20];
    if v < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(format_u64(v.unsigned_abs(), &mut buf));
    Ok(())
}

/// RFC 8785 bytes of any JSON value, with the v2 rules for numbers: no integer outside
/// ±(2^53−1) in the value or in the bytes written (so `1e19`, which RFC 8785 writes
/// as `10000000000000000000`, is refused like that integer). Errors name the JSON
/// path of the offending value.
///
/// ```
/// let v = serde_json::json!({"b": [1.0, 1e-7, "é<"], "a": {"z": 1, "B": null}});
/// let out = fractal_core::canonical::jcs(&v).unwrap();
/// assert_eq!(out, r#"{"a":{"B":null,"z":1},"b":[1,1e-7,"é<"]}"#.as_bytes());
/// ```
pub fn jcs(value: &Value) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut path = String::new();
    write_jcs(&mut out, value, &mut path, Rules::V2)?;
    Ok(out)
}

/// RFC 8785 bytes of any JSON value as the RFC writes them: every number is a
/// binary64 in ECMAScript's form, with none of [`jcs`]'s v2 refusals (an integral
/// value such as `5e18` is written `5000000000000000000`). For data the server
/// writes itself (the audit entries of SPEC §11, whose VerifyResult numbers can
/// be any finite binary64), where refusing would lose the entry. Fails only on a
/// number that is not finite.
///
/// ```
/// let v = serde_json::json!({"b": 5e18, "a": 1e21});
/// let out = fractal_core::canonical::jcs_rfc8785(&v).unwrap();
/// assert_eq!(out, br#"{"a":1e+21,"b":5000000000000000000}"#);
/// assert!(fractal_core::canonical::jcs(&v).is_err());
/// ```
pub fn jcs_rfc8785(value: &Value) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut path = String::new();
    write_jcs(&mut out, value, &mut path, Rules::Rfc8785)?;
    Ok(out)
}

/// Which numbers a JCS writer refuses.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rules {
    /// The v2 signing rules: no integer beyond ±(2^53−1), written or implied.
    V2,
    /// RFC 8785 alone: any finite binary64.
    Rfc8785,
}

fn write_jcs(out: &mut Vec<u8>, value: &Value, path: &mut String, rules: Rules) -> Result<()> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_jcs_number(out, n, path, rules)?,
        Value::String(s) => write_json_string(out, s),
        Value::Array(items) => {
            out.push(b'[');
            let len = path.len();
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                use std::fmt::Write as _;
                let _ = write!(path, "[{i}]");
                write_jcs(out, item, path, rules)?;
                path.truncate(len);
            }
            out.push(b']');
        }
        Value::Object(map) => write_jcs_object(out, map, path, rules)?,
    }
    Ok(())
}

/// One number: an integer within ±(2^53−1) as itself, anything else as the binary64
/// it denotes, in ECMAScript's form (RFC 8785 §3.2.2.3).
fn write_jcs_number(out: &mut Vec<u8>, n: &serde_json::Number, path: &str, rules: Rules) -> Result<()> {
    if let Some(i) = n.as_i64().filter(|i| (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(i)) {
        out.extend_from_slice(i.to_string().as_bytes());
        return Ok(());
    }
    let x = n.as_f64().unwrap_or(f64::NAN);
    if !x.is_finite() {
        return Err(Error::bad_field(path_or_record(path), "must be a finite number"));
    }
    // v2 refuses an integer beyond ±(2^53−1), whether the text sent was one (an
    // integer literal reaching here is out of range) or the text written would be:
    // RFC 8785 writes an integral value below 1e21 as an integer (1e19 as
    // `10000000000000000000`), so refusing only the literal would give one value two
    // verdicts and a payload that does not sign again as written. From 1e21 on the
    // text is exponential (`1e+21`). The record's number fields take any binary64.
    let integer_beyond = !n.is_f64() || (x.fract() == 0.0 && x.abs() > MAX_SAFE_INTEGER as f64 && x.abs() < 1e21);
    if rules == Rules::V2 && integer_beyond && !is_number_field(path) {
        return Err(Error::bad_field(path_or_record(path), "integer outside ±(2^53-1) cannot be signed with v2"));
    }
    write_number(out, x);
    Ok(())
}

fn write_jcs_object(
    out: &mut Vec<u8>,
    map: &serde_json::Map<String, Value>,
    path: &mut String,
    rules: Rules,
) -> Result<()> {
    // RFC 8785 §3.2.3: member names sorted by their UTF-16 code units.
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
    out.push(b'{');
    let len = path.len();
    for (i, k) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_string(out, k);
        out.push(b':');
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(k);
        write_jcs(out, &map[k.as_str()], path, rules)?;
        path.truncate(len);
    }
    out.push(b'}');
    Ok(())
}

/// The record's number fields (`D_hat`, `coh_star`, `r`, `budget`, `v_star[i]`) take
/// any finite binary64; everywhere else an integral value is an integer (SPEC §3.2).
fn is_number_field(path: &str) -> bool {
    let top = path.split(['.', '[']).next().unwrap_or("");
    matches!(top, "D_hat" | "coh_star" | "r" | "budget" | "v_star")
}

fn path_or_record(path: &str) -> String {
    if path.is_empty() { "record".into() } else { path.to_string() }
}

/// [`canonical_payload`] from the eight fields directly.
pub fn canonical_fields(f: &SigningFields<'_>) -> Result<Vec<u8>> {
    crate::model::check_epoch(f.epoch)?;
    let d_hat = signed_number("D_hat", f.d_hat)?;
    let budget = signed_number("budget", f.budget)?;
    let coh_star = signed_number("coh_star", f.coh_star)?;
    let r = signed_number("r", f.r)?;

    let mut out = Vec::with_capacity(128 + f.pcs_id.len() + f.merkle_root.len() + f.shard_id.len());
    // Keys in UTF-16 code-unit order (SPEC §3).
    out.extend_from_slice(b"{\"D_hat\":");
    write_number(&mut out, d_hat);
    out.extend_from_slice(b",\"budget\":");
    write_number(&mut out, budget);
    out.extend_from_slice(b",\"coh_star\":");
    write_number(&mut out, coh_star);
    out.extend_from_slice(b",\"epoch\":");
    let mut ibuf = [0u8; 20];
    out.extend_from_slice(format_u64(f.epoch, &mut ibuf));
    out.extend_from_slice(b",\"merkle_root\":");
    write_json_string(&mut out, f.merkle_root);
    out.extend_from_slice(b",\"pcs_id\":");
    write_json_string(&mut out, f.pcs_id);
    out.extend_from_slice(b",\"r\":");
    write_number(&mut out, r);
    out.extend_from_slice(b",\"shard_id\":");
    write_json_string(&mut out, f.shard_id);
    out.push(b'}');
    Ok(out)
}

/// The digest a signature of `version` covers: SHA-256 of the v1 payload, or of
/// [`V2_DOMAIN`] followed by the v2 payload (SPEC §3.1 step 4, §3.2 step 4).
pub fn digest(pcs: &Pcs, version: SigVersion) -> Result<[u8; 32]> {
    match version {
        SigVersion::V1 => SigningFields::from(pcs).digest(),
        SigVersion::V2 => Ok(digest_v2_payload(&canonical_payload_v2(pcs)?)),
    }
}

/// SHA-256 of [`V2_DOMAIN`] ‖ `payload`.
pub fn digest_v2_payload(payload: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(V2_DOMAIN);
    h.update(payload);
    h.finalize().into()
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn signed_number(field: &str, x: f64) -> Result<f64> {
    if !x.is_finite() {
        return Err(Error::bad_field(field, "must be a finite number (NaN and Infinity cannot be signed)"));
    }
    let r = round9(x);
    if !r.is_finite() {
        return Err(Error::bad_field(field, "is too large to be rounded to 9 decimals"));
    }
    Ok(r)
}

/// Formats a finite number as ECMAScript `Number.prototype.toString` does.
///
/// ```
/// assert_eq!(fractal_core::canonical::format_number(1.0), "1");
/// assert_eq!(fractal_core::canonical::format_number(1e-7), "1e-7");
/// assert_eq!(fractal_core::canonical::format_number(1e21), "1e+21");
/// ```
pub fn format_number(x: f64) -> String {
    if !x.is_finite() {
        // NaN and ±Infinity: never signed, but named as ECMAScript names them
        // (write_number assumes a finite number, which the payload writers check).
        return ryu_js::Buffer::new().format(x).to_string();
    }
    let mut out = Vec::with_capacity(24);
    write_number(&mut out, x);
    String::from_utf8(out).expect("a number is written in ASCII")
}

/// Appends a finite number as [`format_number`] writes it (`-0` as `0`), without
/// allocating: every payload writer's numbers go through here.
#[inline]
fn write_number(out: &mut Vec<u8>, x: f64) {
    if x == 0.0 {
        out.push(b'0');
    } else {
        out.extend_from_slice(ryu_js::Buffer::new().format_finite(x).as_bytes());
    }
}

fn format_u64(mut v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}

/// Appends `s` as an ECMAScript `JSON.stringify` string literal (SPEC §3).
pub fn write_json_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    // Ids and hex digests have nothing to escape: one check the compiler can
    // vectorize (no early exit), then one copy.
    if !bytes.iter().fold(false, |any, &b| any | (b < 0x20) | (b == b'"') | (b == b'\\')) {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests;
