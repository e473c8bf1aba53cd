//! The fuzz targets' inputs and properties, shared by `fuzz_targets/*` (one line
//! each) and `examples/seed_corpus.rs`, which writes the committed corpus in the
//! same layouts.
//!
//! Every check either returns or panics; libFuzzer reports a panic as a crash.
//! A property is asserted only where the contract states it (SPEC §1–§4, §6.1),
//! so a crash is a bug, never an over-strict fuzzer.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use fractal_core::canonical::jcs;
use fractal_core::sign::parse_read_authorization;
use fractal_core::{
    Ed25519Keypair, LegacyEncoding, Pcs, SigVersion, SignaturePolicy, SignedRecord, SigningFields, SigningKeyMaterial, Verifier,
    VerifyParams, canonical_fields, canonical_payload_v1, canonical_payload_v2,
};
use fractal_server::serve::wal;
use serde_json::Value;

/// A payload or its error kind, comparable.
fn outcome(r: fractal_core::Result<Vec<u8>>) -> Result<Vec<u8>, &'static str> {
    r.map_err(|e| e.kind())
}

fn parse_json(bytes: &[u8], what: &str) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("{what} is not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

// ---------------------------------------------------------------------------
// parse_record: the input is the record's bytes.

/// `Pcs::from_json` on any bytes never panics; a record it accepts re-serializes
/// to bytes that parse to an equal record with the same v2 payload (the server
/// stores and forwards records it re-serialized).
pub fn parse_record(data: &[u8]) {
    let Ok(pcs) = Pcs::from_json(data) else { return };
    let wire = pcs.to_json();
    let back = Pcs::from_json(&wire)
        .unwrap_or_else(|e| panic!("to_json output does not parse ({e}): {}", String::from_utf8_lossy(&wire)));
    assert_eq!(back, pcs, "to_json -> from_json changed the record");
    assert_eq!(outcome(canonical_payload_v2(&back)), outcome(canonical_payload_v2(&pcs)), "v2 payload changed");
    assert_eq!(outcome(canonical_payload_v1(&back)), outcome(canonical_payload_v1(&pcs)), "v1 payload changed");
    let via_value = Pcs::from_value(pcs.to_value()).unwrap_or_else(|e| panic!("to_value does not parse back: {e}"));
    assert_eq!(via_value, pcs, "to_value -> from_value changed the record");
}

// ---------------------------------------------------------------------------
// canonical: `[mode][rest]`.

/// Mode of the `canonical` target: `rest` is JSON text (any value; also tried as a record).
pub const CANON_TEXT: u8 = 0;
/// Mode of the `canonical` target: `rest` drives an [`ArbValue`] (numbers JSON text rarely holds).
pub const CANON_VALUE: u8 = 1;
/// Mode of the `canonical` target: `rest` drives [`Fields`] for the legacy encoders.
pub const CANON_LEGACY: u8 = 2;

/// The canonical encoders on any input: `jcs` output parses to the same value and
/// is a fixed point (jcs(parse(jcs(x))) == jcs(x)); the v1 and v2 payloads of a
/// record parse as JSON (v2 a JCS fixed point); each legacy encoding, when it has
/// a payload, is JSON of the same eight fields.
pub fn canonical(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode % 3 {
        CANON_TEXT => {
            if let Ok(v) = serde_json::from_slice::<Value>(rest) {
                check_jcs(&v);
            }
            if let Ok(pcs) = Pcs::from_json(rest) {
                check_record_payloads(&pcs);
            }
        }
        CANON_VALUE => {
            let mut u = Unstructured::new(rest);
            if let Ok(v) = ArbValue::arbitrary(&mut u) {
                check_jcs(&v.to_json(0));
            }
        }
        _ => {
            let mut u = Unstructured::new(rest);
            if let Ok(f) = Fields::arbitrary(&mut u) {
                check_legacy(&f);
            }
        }
    }
}

/// A JSON value built from fuzz bytes: integers beyond ±2^53, negative zero,
/// subnormals and deep nesting that a text mutator rarely reaches.
#[derive(Arbitrary, Debug)]
pub enum ArbValue {
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer (beyond `i64` too).
    Uint(u64),
    /// A float (a non-finite one becomes `null`, as JSON cannot hold it).
    Float(f64),
    /// A string.
    Str(String),
    /// An array.
    Array(Vec<ArbValue>),
    /// An object (a repeated key keeps its last value).
    Object(Vec<(String, ArbValue)>),
}

impl ArbValue {
    /// Nesting is capped (serde_json refuses more than 128 levels when parsing back).
    fn to_json(&self, depth: usize) -> Value {
        const MAX_DEPTH: usize = 64;
        match self {
            ArbValue::Null => Value::Null,
            ArbValue::Bool(b) => Value::Bool(*b),
            ArbValue::Int(i) => Value::from(*i),
            ArbValue::Uint(u) => Value::from(*u),
            ArbValue::Float(x) => serde_json::Number::from_f64(*x).map_or(Value::Null, Value::Number),
            ArbValue::Str(s) => Value::String(s.clone()),
            ArbValue::Array(_) | ArbValue::Object(_) if depth >= MAX_DEPTH => Value::Null,
            ArbValue::Array(items) => Value::Array(items.iter().map(|v| v.to_json(depth + 1)).collect()),
            ArbValue::Object(members) => {
                Value::Object(members.iter().map(|(k, v)| (k.clone(), v.to_json(depth + 1))).collect())
            }
        }
    }
}

/// The eight v1 fields, from fuzz bytes: the core's own owned form of them.
#[derive(Debug)]
pub struct Fields(SignedRecord);

impl<'a> Arbitrary<'a> for Fields {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Fields(SignedRecord {
            pcs_id: u.arbitrary()?,
            merkle_root: u.arbitrary()?,
            epoch: u.arbitrary()?,
            shard_id: u.arbitrary()?,
            d_hat: u.arbitrary()?,
            coh_star: u.arbitrary()?,
            r: u.arbitrary()?,
            budget: u.arbitrary()?,
            sig: None,
        }))
    }
}

impl Fields {
    fn signing(&self) -> SigningFields<'_> {
        self.0.fields()
    }
}

/// Whether two JSON values are the same value (numbers compared as binary64,
/// which is all JCS keeps of them).
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_value(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same_value(v, w)))
        }
        _ => a == b,
    }
}

fn check_jcs(v: &Value) {
    let Ok(out) = jcs(v) else { return };
    let parsed = parse_json(&out, "jcs output");
    assert!(same_value(&parsed, v), "jcs changed the value: {v} -> {}", String::from_utf8_lossy(&out));
    let again = jcs(&parsed).unwrap_or_else(|e| panic!("jcs of its own output fails: {e}"));
    assert_eq!(again, out, "jcs is not idempotent");
}

fn check_record_payloads(pcs: &Pcs) {
    if let Ok(v1) = canonical_payload_v1(pcs) {
        let parsed = parse_json(&v1, "v1 payload");
        assert_eq!(parsed.as_object().map(|o| o.len()), Some(8), "the v1 payload is an object of eight fields");
    }
    if let Ok(v2) = canonical_payload_v2(pcs) {
        let parsed = parse_json(&v2, "v2 payload");
        assert!(parsed.get("sig").is_none(), "the v2 payload leaves `sig` out");
        let again = jcs(&parsed).unwrap_or_else(|e| panic!("jcs of the v2 payload fails: {e}"));
        assert_eq!(again, v2, "the v2 payload is not a JCS fixed point");
    }
}

fn check_legacy(f: &Fields) {
    let fields = f.signing();
    let canonical = canonical_fields(&fields).ok();
    if let Some(c) = &canonical {
        parse_json(c, "canonical_fields output");
    }
    for enc in LegacyEncoding::ALL {
        let Some(p) = enc.payload(&fields) else { continue };
        let parsed = parse_json(&p, enc.as_str());
        assert_eq!(parsed.as_object().map(|o| o.len()), Some(8), "{enc} payload is an object of eight fields");
        for (name, s) in [("pcs_id", &f.0.pcs_id), ("merkle_root", &f.0.merkle_root), ("shard_id", &f.0.shard_id)] {
            assert_eq!(parsed.get(name).and_then(Value::as_str), Some(s.as_str()), "{enc} payload changed {name}");
        }
        if enc == LegacyEncoding::SeedGo {
            assert!(!p.iter().any(|b| matches!(b, b'<' | b'>' | b'&')), "seed-go leaves <, > or & unescaped");
        }
        if enc == LegacyEncoding::SeedPython {
            assert!(p.is_ascii(), "seed-python is ASCII-only");
        }
    }
    assert_eq!(
        LegacyEncoding::SeedGo.payload(&fields).is_some(),
        canonical.is_some(),
        "seed-go has a payload exactly when v1 does"
    );
}

// ---------------------------------------------------------------------------
// verify: `[mode][...]`. Even mode: `[mode][8 parameter bytes][record]`, the sig
// replaced as `mode / 2` says ([`VerifySig`]). Odd mode: `[mode][delta: i16 LE]`
// then `tenant \n pcs_id \n Authorization header` as (lossy) UTF-8.

/// The key both the fuzzer and the verifier use (HMAC).
const HMAC_KEY: &[u8] = b"fuzz-hmac-key";
/// The Ed25519 seed both use.
const ED_SEED: [u8; 32] = [7; 32];
/// The server clock of the read checks.
pub const READ_NOW: u64 = 1_700_000_000;

/// What the `verify` target puts into the record's `sig` before checking it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifySig {
    /// The record's own `sig` (any string the fuzzer wrote).
    AsSent,
    /// HMAC over the v1 payload.
    HmacV1,
    /// HMAC over the v2 payload.
    HmacV2,
    /// Ed25519 over the v1 payload.
    Ed25519V1,
    /// Ed25519 over the v2 payload.
    Ed25519V2,
    /// HMAC over the seed's Python encoding (SPEC §4.1).
    SeedPython,
    /// HMAC over the seed's Go encoding.
    SeedGo,
    /// No `sig`.
    Missing,
}

impl VerifySig {
    /// Every choice; the target's mode byte is `2 * index`.
    pub const ALL: [VerifySig; 8] = [
        VerifySig::AsSent,
        VerifySig::HmacV1,
        VerifySig::HmacV2,
        VerifySig::Ed25519V1,
        VerifySig::Ed25519V2,
        VerifySig::SeedPython,
        VerifySig::SeedGo,
        VerifySig::Missing,
    ];
}

/// Values a parameter byte selects (a byte past the table keeps the default).
const PARAM_VALUES: [f64; 12] =
    [0.0, -0.0, -1.0, 1.0, 0.5, 2.2, 1e-300, 1e308, f64::MAX, f64::NAN, f64::INFINITY, f64::NEG_INFINITY];

struct Keys {
    hmac: SigningKeyMaterial,
    ed: SigningKeyMaterial,
    verifier: Verifier,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let ed = Ed25519Keypair::from_seed(&ED_SEED);
        let mut verifier = Verifier::new();
        verifier.add_hmac_key(HMAC_KEY).unwrap();
        verifier.add_ed25519_public_key(&ed.public_b64()).unwrap();
        verifier.set_policy(SignaturePolicy::parse(&["v1", "v2"], &["seed-python", "seed-go"]).unwrap());
        Keys { hmac: SigningKeyMaterial::Hmac(HMAC_KEY.to_vec()), ed: SigningKeyMaterial::Ed25519(ed), verifier }
    })
}

/// Verification parameters from eight bytes, one per field ([`PARAM_VALUES`]).
pub fn params_from(bytes: &[u8; 8]) -> VerifyParams {
    let mut p = VerifyParams::default();
    let slots = [
        &mut p.tol_d,
        &mut p.tol_coh,
        &mut p.alpha,
        &mut p.beta,
        &mut p.gamma,
        &mut p.base,
        &mut p.d0,
        &mut p.budget_tol,
    ];
    for (slot, &b) in slots.into_iter().zip(bytes) {
        if let Some(&x) = PARAM_VALUES.get(b as usize) {
            *slot = x;
        }
    }
    p
}

/// The verifier on any record and any read header never panics; a record or a
/// read signed with one of its keys verifies (a read only within ±300 s).
pub fn verify(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode & 1 == 0 {
        verify_record(VerifySig::ALL[(mode as usize >> 1) % VerifySig::ALL.len()], rest);
    } else {
        verify_read(rest);
    }
}

fn verify_record(choice: VerifySig, rest: &[u8]) {
    let Some((params, record)) = rest.split_first_chunk::<8>() else { return };
    let Ok(mut pcs) = Pcs::from_json(record) else { return };
    let k = keys();
    let legacy = |enc: LegacyEncoding| {
        let d = enc.digest(&SigningFields::from(&pcs));
        d.map(|d| k.hmac.sign_digest(&d).expect("HMAC signs any digest"))
    };
    // `Some(Some(sig))`: we signed it, so it must verify; `Some(None)`: unsignable.
    let signed: Option<Option<String>> = match choice {
        VerifySig::AsSent => None,
        VerifySig::HmacV1 => Some(k.hmac.sign_version(&pcs, SigVersion::V1).ok()),
        VerifySig::HmacV2 => Some(k.hmac.sign_version(&pcs, SigVersion::V2).ok()),
        VerifySig::Ed25519V1 => Some(k.ed.sign_version(&pcs, SigVersion::V1).ok()),
        VerifySig::Ed25519V2 => Some(k.ed.sign_version(&pcs, SigVersion::V2).ok()),
        VerifySig::SeedPython => Some(legacy(LegacyEncoding::SeedPython)),
        VerifySig::SeedGo => Some(legacy(LegacyEncoding::SeedGo)),
        VerifySig::Missing => {
            pcs.sig = None;
            None
        }
    };
    if let Some(Some(sig)) = &signed {
        pcs.sig = Some(sig.clone());
    }
    let result = k.verifier.verify(&pcs);
    if let Some(Some(_)) = signed {
        if let Err(e) = &result {
            panic!("{choice:?}: a record signed with the verifier's key does not verify: {e}");
        }
        let strict = k.verifier.verify_with(&pcs, &SignaturePolicy::default());
        let v2 = matches!(choice, VerifySig::HmacV2 | VerifySig::Ed25519V2);
        assert_eq!(strict.is_ok(), v2, "{choice:?} under the default (v2-only) policy: {strict:?}");
    }
    if choice == VerifySig::Missing {
        assert_eq!(result.map_err(|e| e.kind()), Err("signature_missing"));
    }
    let out = fractal_core::verify(&pcs, &params_from(params));
    assert!(matches!(out.http_status(), 200 | 202));
}

fn verify_read(rest: &[u8]) {
    let Some((delta, text)) = rest.split_first_chunk::<2>() else { return };
    let delta = i16::from_le_bytes(*delta);
    let text = String::from_utf8_lossy(text);
    let mut parts = text.splitn(3, '\n');
    let tenant = parts.next().unwrap_or_default();
    let pcs_id = parts.next().unwrap_or_default();
    let header = parts.next().unwrap_or_default();
    let k = keys();

    let parsed = parse_read_authorization(header);
    let result = k.verifier.verify_read(tenant, pcs_id, Some(header), READ_NOW);
    if parsed.is_err() && !header.trim().is_empty() {
        assert!(result.is_err(), "a header that does not parse verifies: {header:?}");
    }
    assert_eq!(k.verifier.verify_read(tenant, pcs_id, None, READ_NOW).map_err(|e| e.kind()), Err("signature_missing"));

    let t = READ_NOW.checked_add_signed(i64::from(delta)).expect("READ_NOW ± 2^15 fits");
    for key in [&k.hmac, &k.ed] {
        let auth = key.read_authorization(tenant, pcs_id, t).expect("a read signs with any tenant and id");
        let (pt, _) = parse_read_authorization(&auth).unwrap_or_else(|e| panic!("our own header does not parse: {e}"));
        assert_eq!(pt, t);
        let ok = k.verifier.verify_read(tenant, pcs_id, Some(&auth), READ_NOW);
        assert_eq!(ok.is_ok(), delta.unsigned_abs() <= 300, "signed read {delta:+} s from now: {ok:?}");
    }
}

// ---------------------------------------------------------------------------
// wal_recover: `[flags][first id][gap][from kind][from offset: u16 LE][first
// length: u16 LE][segment bytes...]`. One segment, or two when `flags & 1`
// (the first holds `first length` bytes, the second the rest).

/// Bytes before the segment data in a `wal_recover` input.
pub const WAL_HEAD: usize = 8;

/// A `wal_recover` input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalInput {
    /// The first segment's id.
    pub first: u8,
    /// The second segment's id minus the first's (two segments when `Some`).
    pub gap: Option<u8>,
    /// 0: replay from LSN 0; 1 and 2: from an offset of the first or second
    /// segment; 3: from the segment after the last.
    pub from_kind: u8,
    /// The offset of `from` inside its segment.
    pub from_offset: u16,
    /// The segments' bytes.
    pub segments: Vec<Vec<u8>>,
}

impl WalInput {
    /// Reads an input; `None` when it is too short.
    pub fn decode(data: &[u8]) -> Option<WalInput> {
        let (head, rest) = data.split_first_chunk::<WAL_HEAD>()?;
        let two = head[0] & 1 == 1;
        let first_len = (u16::from_le_bytes([head[6], head[7]]) as usize).min(rest.len());
        let segments =
            if two { vec![rest[..first_len].to_vec(), rest[first_len..].to_vec()] } else { vec![rest.to_vec()] };
        Some(WalInput {
            first: head[1],
            gap: two.then_some(head[2].max(1)),
            from_kind: head[3] % 4,
            from_offset: u16::from_le_bytes([head[4], head[5]]),
            segments,
        })
    }

    /// The bytes [`WalInput::decode`] reads back.
    pub fn encode(&self) -> Vec<u8> {
        let first_len = if self.segments.len() == 2 { self.segments[0].len() as u16 } else { 0 };
        let mut out = vec![u8::from(self.gap.is_some()), self.first, self.gap.unwrap_or(0), self.from_kind];
        out.extend_from_slice(&self.from_offset.to_le_bytes());
        out.extend_from_slice(&first_len.to_le_bytes());
        for s in &self.segments {
            out.extend_from_slice(s);
        }
        out
    }

    fn ids(&self) -> Vec<u64> {
        let first = u64::from(self.first);
        match self.gap {
            Some(g) => vec![first, first + u64::from(g)],
            None => vec![first],
        }
    }

    fn from(&self) -> u64 {
        let ids = self.ids();
        let off = u64::from(self.from_offset);
        match self.from_kind {
            0 => 0,
            1 => wal::lsn(ids[0], off),
            2 => wal::lsn(*ids.last().unwrap(), off),
            _ => wal::lsn(ids.last().unwrap() + 1, 0),
        }
    }
}

/// One directory per fuzzing process, emptied before each input (tmpfs when the
/// machine has one: recovery fsyncs after truncating a torn tail).
fn wal_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
        let dir = base.join(format!("fractal-fuzz-wal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the fuzz WAL directory");
        dir
    })
}

/// `wal::inspect` and `wal::recover` over fuzzed segment files never panic. When
/// recovery succeeds, the records come in increasing LSN order at or after `from`
/// (from 0: as many as inspect counted intact), the log ends where it says, and a
/// second recovery finds the same records and nothing to cut.
pub fn wal_recover(data: &[u8]) {
    let Some(input) = WalInput::decode(data) else { return };
    let dir = wal_dir();
    for entry in std::fs::read_dir(dir).expect("read the fuzz WAL directory") {
        std::fs::remove_file(entry.expect("list the fuzz WAL directory").path()).expect("empty the fuzz WAL directory");
    }
    for (id, bytes) in input.ids().into_iter().zip(&input.segments) {
        std::fs::write(dir.join(format!("wal-{id:012}.log")), bytes).expect("write a segment");
    }
    let from = input.from();
    let report = wal::inspect(dir).expect("inspect reads the segments");
    let intact: u64 = report.iter().map(|s| s.records_v1 + s.records_v2).sum();
    let mut records = Vec::new();
    let Ok(at) = wal::recover(dir, from, &mut |r| records.push(r)) else { return };
    if from == 0 {
        assert_eq!(records.len() as u64, intact, "recovery replays other records than inspect counts: {report:?}");
    }
    for pair in records.windows(2) {
        assert!(pair[0].lsn < pair[1].lsn, "records out of order: {:#x} then {:#x}", pair[0].lsn, pair[1].lsn);
    }
    if let Some(r) = records.first() {
        assert!(r.lsn >= from, "record {:#x} before from {from:#x}", r.lsn);
    }
    if let Some(r) = records.last() {
        assert!(r.lsn < at.end_lsn(), "record {:#x} at or after the end {:#x}", r.lsn, at.end_lsn());
    }
    let path = dir.join(format!("wal-{:012}.log", at.segment));
    if path.exists() {
        let len = std::fs::metadata(&path).expect("stat the last segment").len();
        assert_eq!(len, at.end, "the last segment's length is not the recovered end");
    }
    let mut again = Vec::new();
    let at2 = wal::recover(dir, from, &mut |r| again.push(r))
        .unwrap_or_else(|e| panic!("a recovered log fails to recover again: {e}"));
    assert_eq!(again, records, "a second recovery finds other records");
    assert_eq!(at2.truncated, 0, "a second recovery cuts again");
    assert_eq!((at2.segment, at2.end), (at.segment, at.end));
}
