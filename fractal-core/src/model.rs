//! The PCS record (SPEC §1), verification parameters and outcomes (SPEC §5), and the
//! strict parser that names the offending field.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// The only accepted value of [`Pcs::schema`].
pub const SCHEMA: &str = "fractal-lba-kakeya";

/// Largest epoch that can be signed canonically: 2^53 − 1.
pub const MAX_EPOCH: u64 = (1u64 << 53) - 1;

/// Most entries `scales`, `N_j` and `v_star` may hold (SPEC §1). The bound keeps
/// every check linear in the body: Theil–Sen is quadratic in the scales.
pub const MAX_ENTRIES: usize = 64;

/// Most bytes `shard_id` and `merkle_root` may hold (SPEC §1).
pub const MAX_ID_BYTES: usize = 128;

/// Largest integer magnitude v2 can sign: 2^53 − 1 (SPEC §3.2).
pub const MAX_SAFE_INTEGER: i64 = (1i64 << 53) - 1;

/// The fields SPEC §1 names, in its order; every other key of a record is an
/// unknown field, kept in [`Pcs::extra`]. Bindings that read host objects use this
/// list rather than one of their own.
pub const KNOWN_FIELDS: [&str; 19] = [
    "pcs_id",
    "schema",
    "version",
    "shard_id",
    "epoch",
    "attempt",
    "sent_at",
    "seed",
    "scales",
    "N_j",
    "coh_star",
    "v_star",
    "D_hat",
    "r",
    "regime",
    "budget",
    "merkle_root",
    "sig",
    "ft",
];

/// A Proof-of-Computation Summary (SPEC §1).
///
/// Parse one with [`Pcs::from_json`], which rejects malformed input with an
/// [`Error`] naming the field; build one with [`crate::build_pcs`].
///
/// Fields outside the SPEC's table are kept in [`Pcs::extra`] (v2 signs them), and
/// [`Pcs::omitted`] remembers which optional fields the sender left out, so that
/// the record serializes, and signs, as it was sent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "ObjectOnly<PcsWire>")]
pub struct Pcs {
    /// `pcs_id(merkle_root, epoch, shard_id)` (SPEC §2).
    pub pcs_id: String,
    /// Always [`SCHEMA`].
    pub schema: String,
    /// Record format version, non-empty (e.g. `"0.1"`).
    pub version: String,
    /// The shard that produced the record (1–128 bytes).
    pub shard_id: String,
    /// 0 ≤ epoch ≤ [`MAX_EPOCH`].
    pub epoch: u64,
    /// Delivery attempt, default 1.
    pub attempt: i64,
    /// RFC 3339 timestamp of sending, when given.
    pub sent_at: Option<String>,
    /// Sampling seed.
    pub seed: i64,
    /// The scales at which `N_j` was counted (at most 64, each ≥ 1).
    pub scales: Vec<i64>,
    /// Counts per scale, keyed by the scale's decimal string (at most 64, each ≥ 1).
    pub n_j: BTreeMap<String, i64>,
    /// Coherence statistic.
    pub coh_star: f64,
    /// Coherence direction (at most 64 entries).
    pub v_star: Vec<f64>,
    /// Reported fractal dimension estimate.
    pub d_hat: f64,
    /// Compressibility ratio.
    pub r: f64,
    /// `sticky`, `mixed` or `non_sticky`.
    pub regime: String,
    /// Escalation budget.
    pub budget: f64,
    /// Merkle root of the computation's inputs (1–128 bytes, hex in practice).
    pub merkle_root: String,
    /// The signature (SPEC §4): standard base64 for v1, `v2:` + base64 for v2.
    pub sig: Option<String>,
    /// Fault-tolerance metadata.
    pub ft: Option<FaultTolerance>,
    /// Fields the SPEC does not name, as sent. Verification ignores them; the v2
    /// payload signs them (SPEC §3.2).
    pub extra: BTreeMap<String, Value>,
    /// Optional fields the sender left out (they hold their defaults here).
    pub omitted: Omitted,
}

/// Which optional, signed fields a record left out. An omitted field whose value
/// is still its default is neither serialized nor signed, exactly as it was sent;
/// one given a value afterwards is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Omitted {
    /// `seed` was absent (default 0).
    pub seed: bool,
    /// `scales` was absent (default `[]`).
    pub scales: bool,
    /// `N_j` was absent (default `{}`).
    pub n_j: bool,
    /// `v_star` was absent (default `[]`).
    pub v_star: bool,
    /// `regime` was absent (default `""`).
    pub regime: bool,
    /// `attempt` was absent (default 1).
    pub attempt: bool,
}

/// Optional fault-tolerance metadata (`ft`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultTolerance {
    /// Sequence number in the agent's outbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbox_seq: Option<i64>,
    /// Whether the agent ran degraded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degraded: Option<bool>,
    /// Fallbacks the agent took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallbacks: Option<Vec<String>>,
    /// Clock skew the agent measured, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_skew_ms: Option<i64>,
}

/// The record as it serializes: borrowed fields, the omitted ones left out.
#[derive(Serialize)]
pub(crate) struct PcsOut<'a> {
    pcs_id: &'a str,
    schema: &'a str,
    version: &'a str,
    shard_id: &'a str,
    epoch: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    attempt: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sent_at: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scales: Option<&'a [i64]>,
    #[serde(rename = "N_j", skip_serializing_if = "Option::is_none")]
    n_j: Option<&'a BTreeMap<String, i64>>,
    coh_star: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    v_star: Option<&'a [f64]>,
    #[serde(rename = "D_hat")]
    d_hat: f64,
    r: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    regime: Option<&'a str>,
    budget: f64,
    merkle_root: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sig: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ft: Option<&'a FaultTolerance>,
    #[serde(flatten)]
    extra: &'a BTreeMap<String, Value>,
}

impl<'a> From<&'a Pcs> for PcsOut<'a> {
    fn from(p: &'a Pcs) -> Self {
        let o = &p.omitted;
        PcsOut {
            pcs_id: &p.pcs_id,
            schema: &p.schema,
            version: &p.version,
            shard_id: &p.shard_id,
            epoch: p.epoch,
            attempt: (!(o.attempt && p.attempt == 1)).then_some(p.attempt),
            sent_at: p.sent_at.as_deref(),
            seed: (!(o.seed && p.seed == 0)).then_some(p.seed),
            scales: (!(o.scales && p.scales.is_empty())).then_some(&p.scales),
            n_j: (!(o.n_j && p.n_j.is_empty())).then_some(&p.n_j),
            coh_star: p.coh_star,
            v_star: (!(o.v_star && p.v_star.is_empty())).then_some(&p.v_star),
            d_hat: p.d_hat,
            r: p.r,
            regime: (!(o.regime && p.regime.is_empty())).then_some(&p.regime),
            budget: p.budget,
            merkle_root: &p.merkle_root,
            sig: p.sig.as_deref(),
            ft: p.ft.as_ref(),
            extra: &p.extra,
        }
    }
}

impl Serialize for Pcs {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        PcsOut::from(self).serialize(s)
    }
}

/// What the wire may carry: required fields are optional here so that a missing
/// one is reported by name rather than as a generic parse failure.
#[derive(Default)]
struct PcsWire {
    pcs_id: Option<String>,
    schema: Option<String>,
    version: Option<String>,
    shard_id: Option<String>,
    epoch: Option<u64>,
    attempt: Option<i64>,
    sent_at: Option<String>,
    seed: Option<i64>,
    scales: Option<Vec<i64>>,
    n_j: Option<BTreeMap<String, i64>>,
    coh_star: Option<f64>,
    v_star: Option<Vec<f64>>,
    d_hat: Option<f64>,
    r: Option<f64>,
    regime: Option<String>,
    budget: Option<f64>,
    merkle_root: Option<String>,
    sig: Option<String>,
    ft: Option<FaultTolerance>,
    extra: BTreeMap<String, Value>,
}

impl<'de> Deserialize<'de> for PcsWire {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = PcsWire;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a PCS record object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<PcsWire, A::Error> {
                use serde::de::Error as _;
                fn put<'de, A: serde::de::MapAccess<'de>, T: Deserialize<'de>>(
                    map: &mut A,
                    slot: &mut Option<T>,
                    key: &str,
                ) -> std::result::Result<(), A::Error> {
                    if slot.is_some() {
                        return Err(A::Error::custom(format_args!("duplicate field `{key}`")));
                    }
                    *slot = Some(map.next_value()?);
                    Ok(())
                }
                let mut w = PcsWire::default();
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match key.as_ref() {
                        "pcs_id" => put(&mut map, &mut w.pcs_id, &key)?,
                        "schema" => put(&mut map, &mut w.schema, &key)?,
                        "version" => put(&mut map, &mut w.version, &key)?,
                        "shard_id" => put(&mut map, &mut w.shard_id, &key)?,
                        "epoch" => put(&mut map, &mut w.epoch, &key)?,
                        "attempt" => put(&mut map, &mut w.attempt, &key)?,
                        "sent_at" => put(&mut map, &mut w.sent_at, &key)?,
                        "seed" => put(&mut map, &mut w.seed, &key)?,
                        "scales" => {
                            let mut v: Option<Bounded<i64>> = w.scales.take().map(Bounded);
                            put(&mut map, &mut v, &key)?;
                            w.scales = v.map(|b| b.0);
                        }
                        "N_j" => {
                            let mut v: Option<BoundedMap> = w.n_j.take().map(BoundedMap);
                            put(&mut map, &mut v, &key)?;
                            w.n_j = v.map(|b| b.0);
                        }
                        "coh_star" => put(&mut map, &mut w.coh_star, &key)?,
                        "v_star" => {
                            let mut v: Option<Bounded<f64>> = w.v_star.take().map(Bounded);
                            put(&mut map, &mut v, &key)?;
                            w.v_star = v.map(|b| b.0);
                        }
                        "D_hat" => put(&mut map, &mut w.d_hat, &key)?,
                        "r" => put(&mut map, &mut w.r, &key)?,
                        "regime" => put(&mut map, &mut w.regime, &key)?,
                        "budget" => put(&mut map, &mut w.budget, &key)?,
                        "merkle_root" => put(&mut map, &mut w.merkle_root, &key)?,
                        "sig" => put(&mut map, &mut w.sig, &key)?,
                        "ft" => {
                            let mut v: Option<ObjectOnly<FaultTolerance>> = w.ft.take().map(ObjectOnly);
                            put(&mut map, &mut v, &key)?;
                            w.ft = v.map(|o| o.0);
                        }
                        _ => {
                            let value: StrictValue = map.next_value()?;
                            if w.extra.insert(key.clone().into_owned(), value.0).is_some() {
                                return Err(A::Error::custom(format_args!("duplicate field `{key}`")));
                            }
                        }
                    }
                }
                Ok(w)
            }
        }
        d.deserialize_map(Fields)
    }
}

/// A JSON array of at most [`MAX_ENTRIES`] elements; reading stops at the first
/// element past the bound, so a huge array costs no more than the bound.
struct Bounded<T>(Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Bounded<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Elems<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Elems<T> {
            type Value = Bounded<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "an array of at most {MAX_ENTRIES} entries")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX_ENTRIES));
                while let Some(x) = seq.next_element()? {
                    if out.len() == MAX_ENTRIES {
                        return Err(serde::de::Error::custom(format_args!("has more than {MAX_ENTRIES} entries")));
                    }
                    out.push(x);
                }
                Ok(Bounded(out))
            }
        }
        d.deserialize_seq(Elems(std::marker::PhantomData))
    }
}

/// The `N_j` object: at most [`MAX_ENTRIES`] entries, no key twice.
struct BoundedMap(BTreeMap<String, i64>);

impl<'de> Deserialize<'de> for BoundedMap {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = BoundedMap;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "an object of at most {MAX_ENTRIES} integer counts")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<Self::Value, A::Error> {
                use serde::de::Error as _;
                let mut out = BTreeMap::new();
                while let Some(k) = map.next_key::<String>()? {
                    if out.len() == MAX_ENTRIES {
                        return Err(A::Error::custom(format_args!("has more than {MAX_ENTRIES} entries")));
                    }
                    let v: i64 = map.next_value()?;
                    if out.contains_key(&k) {
                        return Err(A::Error::custom(format_args!("key {k:?} appears more than once")));
                    }
                    out.insert(k, v);
                }
                Ok(BoundedMap(out))
            }
        }
        d.deserialize_map(Entries)
    }
}

/// Any JSON value, refusing an object key given twice (its meaning, and so its
/// v2 signature, would be ambiguous). Lone surrogates are refused by the parser.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = StrictValue;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E>(self, b: bool) -> std::result::Result<StrictValue, E> {
                Ok(StrictValue(Value::Bool(b)))
            }
            fn visit_i64<E>(self, i: i64) -> std::result::Result<StrictValue, E> {
                Ok(StrictValue(Value::from(i)))
            }
            fn visit_u64<E>(self, u: u64) -> std::result::Result<StrictValue, E> {
                Ok(StrictValue(Value::from(u)))
            }
            fn visit_f64<E: serde::de::Error>(self, f: f64) -> std::result::Result<StrictValue, E> {
                serde_json::Number::from_f64(f)
                    .map(|n| StrictValue(Value::Number(n)))
                    .ok_or_else(|| E::custom("is not a finite number"))
            }
            fn visit_str<E>(self, s: &str) -> std::result::Result<StrictValue, E> {
                Ok(StrictValue(Value::String(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> std::result::Result<StrictValue, E> {
                Ok(StrictValue(Value::String(s)))
            }
            fn visit_unit<E>(self) -> std::result::Result<StrictValue, E> {
                Ok(StrictValue(Value::Null))
            }
            fn visit_none<E>(self) -> std::result::Result<StrictValue, E> {
                Ok(StrictValue(Value::Null))
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<StrictValue, D::Error> {
                StrictValue::deserialize(d)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<StrictValue, A::Error> {
                let mut out = Vec::new();
                while let Some(StrictValue(v)) = seq.next_element()? {
                    out.push(v);
                }
                Ok(StrictValue(Value::Array(out)))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<StrictValue, A::Error> {
                use serde::de::Error as _;
                let mut out = serde_json::Map::new();
                while let Some(k) = map.next_key::<String>()? {
                    let StrictValue(v) = map.next_value()?;
                    if out.contains_key(&k) {
                        return Err(A::Error::custom(format_args!("key {k:?} appears more than once")));
                    }
                    out.insert(k, v);
                }
                Ok(StrictValue(Value::Object(out)))
            }
        }
        d.deserialize_any(V)
    }
}

/// Deserializes `T` from a JSON object only. serde's derived structs also accept
/// an array of the fields in declaration order, which the wire format does not
/// allow (SPEC §1: a record and its `ft` are objects).
struct ObjectOnly<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Objects<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Objects<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> std::result::Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(Objects(std::marker::PhantomData)).map(ObjectOnly)
    }
}

impl TryFrom<ObjectOnly<PcsWire>> for Pcs {
    type Error = Error;

    fn try_from(w: ObjectOnly<PcsWire>) -> Result<Pcs> {
        Pcs::try_from(w.0)
    }
}

fn required<T>(v: Option<T>, field: &str) -> Result<T> {
    v.ok_or_else(|| Error::bad_field(field, "required field is missing"))
}

fn id_bytes(v: Option<String>, field: &str) -> Result<String> {
    let v = required(v, field)?;
    if v.is_empty() || v.len() > MAX_ID_BYTES {
        return Err(Error::bad_field(field, format!("must be 1 to {MAX_ID_BYTES} bytes of UTF-8 (got {})", v.len())));
    }
    Ok(v)
}

impl TryFrom<PcsWire> for Pcs {
    type Error = Error;

    fn try_from(w: PcsWire) -> Result<Pcs> {
        let epoch = required(w.epoch, "epoch")?;
        if epoch > MAX_EPOCH {
            return Err(Error::bad_field("epoch", "must be at most 2^53-1 (9007199254740991)"));
        }
        let pcs = Pcs {
            pcs_id: required(w.pcs_id, "pcs_id")?,
            schema: required(w.schema, "schema")?,
            version: required(w.version, "version")?,
            shard_id: id_bytes(w.shard_id, "shard_id")?,
            epoch,
            omitted: Omitted {
                seed: w.seed.is_none(),
                scales: w.scales.is_none(),
                n_j: w.n_j.is_none(),
                v_star: w.v_star.is_none(),
                regime: w.regime.is_none(),
                attempt: w.attempt.is_none(),
            },
            attempt: w.attempt.unwrap_or(1),
            sent_at: w.sent_at,
            seed: w.seed.unwrap_or(0),
            scales: w.scales.unwrap_or_default(),
            n_j: w.n_j.unwrap_or_default(),
            coh_star: required(w.coh_star, "coh_star")?,
            v_star: w.v_star.unwrap_or_default(),
            d_hat: required(w.d_hat, "D_hat")?,
            r: required(w.r, "r")?,
            regime: w.regime.unwrap_or_default(),
            budget: required(w.budget, "budget")?,
            merkle_root: id_bytes(w.merkle_root, "merkle_root")?,
            sig: w.sig,
            ft: w.ft,
            extra: w.extra,
        };
        pcs.check_limits()?;
        Ok(pcs)
    }
}

impl Pcs {
    /// Parses a record from JSON bytes (SPEC §1, malformed level).
    ///
    /// Unknown fields are ignored. Errors are [`Error::InvalidJson`] for bytes that
    /// are not a JSON object and [`Error::InvalidField`] naming the field otherwise.
    ///
    /// ```
    /// let err = fractal_core::Pcs::from_json(br#"{"pcs_id": 7}"#).unwrap_err();
    /// assert_eq!(err.kind(), "invalid_field");
    /// assert_eq!(err.field(), Some("pcs_id"));
    /// ```
    pub fn from_json(bytes: &[u8]) -> Result<Pcs> {
        // Fast path without path tracking; redo with it only to explain a failure.
        match serde_json::from_slice::<ObjectOnly<PcsWire>>(bytes) {
            Ok(w) => Pcs::try_from(w.0),
            Err(_) => {
                let mut de = serde_json::Deserializer::from_slice(bytes);
                let w = serde_path_to_error::deserialize::<_, ObjectOnly<PcsWire>>(&mut de).map_err(map_parse_error)?;
                // The object parsed: the fast path failed on what follows it.
                de.end().map_err(|e| Error::InvalidJson { reason: e.to_string() })?;
                Pcs::try_from(w.0)
            }
        }
    }

    /// Parses a record from an already-decoded JSON value (used by bindings).
    pub fn from_value(value: serde_json::Value) -> Result<Pcs> {
        match serde_path_to_error::deserialize::<_, ObjectOnly<PcsWire>>(value) {
            Ok(w) => Pcs::try_from(w.0),
            Err(e) => Err(map_parse_error(e)),
        }
    }

    /// Checks the limits of SPEC §1 that keep every later check linear in the
    /// body: at most [`MAX_ENTRIES`] scales (each ≥ 1), `N_j` entries (keys the
    /// decimal strings of scales, values ≥ 1) and `v_star` entries; `shard_id` and
    /// `merkle_root` of 1 to [`MAX_ID_BYTES`] bytes. The parser applies them; call
    /// it on a record assembled field by field.
    pub fn check_limits(&self) -> Result<()> {
        for (field, v) in [("shard_id", &self.shard_id), ("merkle_root", &self.merkle_root)] {
            if v.is_empty() || v.len() > MAX_ID_BYTES {
                return Err(Error::bad_field(
                    field,
                    format!("must be 1 to {MAX_ID_BYTES} bytes of UTF-8 (got {})", v.len()),
                ));
            }
        }
        if self.epoch > MAX_EPOCH {
            return Err(Error::bad_field("epoch", "must be at most 2^53-1 (9007199254740991)"));
        }
        for (field, len) in [("scales", self.scales.len()), ("N_j", self.n_j.len()), ("v_star", self.v_star.len())] {
            if len > MAX_ENTRIES {
                return Err(Error::bad_field(field, format!("has more than {MAX_ENTRIES} entries ({len})")));
            }
        }
        for (i, &s) in self.scales.iter().enumerate() {
            if s < 1 {
                return Err(Error::bad_field(format!("scales[{i}]"), format!("scale {s} must be at least 1")));
            }
        }
        for (k, &v) in &self.n_j {
            let is_scale = k.parse::<i64>().is_ok_and(|n| n.to_string() == *k && self.scales.contains(&n));
            if !is_scale {
                return Err(Error::bad_field(format!("N_j.{k}"), "key must be the decimal string of one of `scales`"));
            }
            if v < 1 {
                return Err(Error::bad_field(format!("N_j.{k}"), format!("count {v} must be at least 1")));
            }
        }
        Ok(())
    }

    /// Serializes the record as compact JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a Pcs always serializes")
    }

    /// The record as a JSON value.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a Pcs always serializes")
    }
}

fn map_parse_error(e: serde_path_to_error::Error<serde_json::Error>) -> Error {
    let path = e.path().to_string();
    let inner = e.into_inner();
    let at_root = path.is_empty() || path == ".";
    // `?` marks a position where no field name is known yet (a syntax error where
    // a key should be): nothing to name, so the JSON itself is malformed.
    let in_key = path.ends_with('?');
    let msg = inner.to_string();
    match inner.classify() {
        serde_json::error::Category::Data if at_root => {
            if let Some(field) = backticked(&msg, "missing field `") {
                Error::bad_field(field, "required field is missing")
            } else if let Some(field) = backticked(&msg, "duplicate field `") {
                Error::bad_field(field, "field appears more than once")
            } else if msg.starts_with("invalid type") {
                Error::InvalidJson { reason: "expected a JSON object".into() }
            } else {
                // Conversion errors (TryFrom) already carry their field.
                Error::InvalidJson { reason: msg }
            }
        }
        serde_json::error::Category::Data if !in_key => Error::bad_field(path, strip_position(&msg)),
        serde_json::error::Category::Syntax if !at_root && !in_key => Error::bad_field(path, strip_position(&msg)),
        _ => Error::InvalidJson { reason: msg },
    }
}

fn backticked<'a>(msg: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = msg.strip_prefix(prefix)?;
    rest.split('`').next()
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// The three regimes of SPEC §5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Regime {
    /// `coh_star ≥ 0.70` and `D_hat ≤ 1.5`.
    Sticky,
    /// Neither sticky nor non-sticky.
    Mixed,
    /// `D_hat ≥ 2.6` (and not sticky).
    NonSticky,
}

impl Regime {
    /// The wire name: `sticky`, `mixed` or `non_sticky`.
    pub fn as_str(self) -> &'static str {
        match self {
            Regime::Sticky => "sticky",
            Regime::Mixed => "mixed",
            Regime::NonSticky => "non_sticky",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Regime> {
        match s {
            "sticky" => Some(Regime::Sticky),
            "mixed" => Some(Regime::Mixed),
            "non_sticky" => Some(Regime::NonSticky),
            _ => None,
        }
    }
}

impl std::fmt::Display for Regime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Verification parameters (SPEC §5). `Default` gives the contract's defaults.
///
/// In JSON the fields are `tol_d, tol_coh, alpha, beta, gamma, base, d0,
/// budget_tol` (the SPEC's spellings `tolD`, `tolCoh`, `D0` are accepted too);
/// missing fields take their defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VerifyParams {
    /// Tolerance on `|D_hat − recomputed_D_hat|` (0.15).
    #[serde(alias = "tolD")]
    pub tol_d: f64,
    /// Tolerance above 1 for `coh_star` (0.05).
    #[serde(alias = "tolCoh")]
    pub tol_coh: f64,
    /// Budget weight of `1 − r` (0.30).
    pub alpha: f64,
    /// Budget weight of `max(0, D_hat − D0)` (0.50).
    pub beta: f64,
    /// Budget weight of `coh_star` (0.20).
    pub gamma: f64,
    /// Budget base (0.10).
    pub base: f64,
    /// Dimension threshold of the budget (2.2).
    #[serde(alias = "D0")]
    pub d0: f64,
    /// Tolerance on `|budget − recomputed_budget|` (0.01).
    pub budget_tol: f64,
}

impl Default for VerifyParams {
    fn default() -> Self {
        VerifyParams {
            tol_d: 0.15,
            tol_coh: 0.05,
            alpha: 0.30,
            beta: 0.50,
            gamma: 0.20,
            base: 0.10,
            d0: 2.2,
            budget_tol: 0.01,
        }
    }
}

impl VerifyParams {
    /// Checks that every parameter is finite and every tolerance non-negative.
    pub fn check(&self) -> Result<()> {
        let all = [
            ("tol_d", self.tol_d),
            ("tol_coh", self.tol_coh),
            ("alpha", self.alpha),
            ("beta", self.beta),
            ("gamma", self.gamma),
            ("base", self.base),
            ("d0", self.d0),
            ("budget_tol", self.budget_tol),
        ];
        for (name, v) in all {
            if !v.is_finite() {
                return Err(Error::arg(name, "must be a finite number"));
            }
        }
        for (name, v) in [("tol_d", self.tol_d), ("tol_coh", self.tol_coh), ("budget_tol", self.budget_tol)] {
            if v < 0.0 {
                return Err(Error::arg(name, "must not be negative"));
            }
        }
        Ok(())
    }
}

/// The outcome of verification (SPEC §5), stored once and answered on every retry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyResult {
    /// Whether the record is accepted.
    pub accepted: bool,
    /// Whether it needs a human (or a stricter pipeline) to look at it.
    pub escalated: bool,
    /// Theil–Sen estimate recomputed from `scales` and `N_j`, when it could be.
    #[serde(rename = "recomputed_D_hat", default, skip_serializing_if = "Option::is_none")]
    pub recomputed_d_hat: Option<f64>,
    /// Budget recomputed from the record, when verification got that far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recomputed_budget: Option<f64>,
    /// Why the record was not plainly accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl VerifyResult {
    /// The HTTP status the server answers with: 200 when accepted and not
    /// escalated, 202 otherwise (SPEC §6).
    pub fn http_status(&self) -> u16 {
        if self.accepted && !self.escalated { 200 } else { 202 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example_json() -> Vec<u8> {
        crate::build_pcs(&crate::BuildInput::example()).unwrap().to_json()
    }

    #[test]
    fn known_fields_are_the_ones_the_parser_reads() {
        let base: serde_json::Value = serde_json::from_slice(&example_json()).unwrap();
        for k in KNOWN_FIELDS {
            let mut rec = base.clone();
            rec[k] = serde_json::json!({"probe": [1]});
            // Every known field is typed: an object there is refused naming the field
            // (ft is an object, but not one with these keys), never kept as extra.
            match Pcs::from_value(rec) {
                Err(e) => assert!(e.to_string().contains(k), "{k}: {e}"),
                Ok(p) => assert!(!p.extra.contains_key(k), "{k} was kept as an unknown field"),
            }
        }
        let mut rec = base;
        rec["probe"] = serde_json::json!({"probe": [1]});
        assert!(Pcs::from_value(rec).unwrap().extra.contains_key("probe"));
    }

    #[test]
    fn a_record_is_an_object_never_an_array() {
        let v: serde_json::Value = serde_json::from_slice(&example_json()).unwrap();
        let o = v.as_object().unwrap();
        // The SPEC §1 order, without the delivery fields sig and ft.
        let order = &KNOWN_FIELDS[..17];
        let as_array = serde_json::Value::Array(order.iter().map(|k| o.get(*k).cloned().unwrap_or_default()).collect());
        let err = Pcs::from_json(&serde_json::to_vec(&as_array).unwrap()).unwrap_err();
        assert_eq!(err.kind(), "invalid_json", "{err}");
        assert!(Pcs::from_value(as_array.clone()).is_err());
        assert!(serde_json::from_value::<Pcs>(as_array).is_err(), "Deserialize for Pcs refuses arrays too");

        let mut with_ft = v.clone();
        with_ft["ft"] = serde_json::json!([1, true, ["x"], 2]);
        let err = Pcs::from_json(&serde_json::to_vec(&with_ft).unwrap()).unwrap_err();
        assert_eq!((err.kind(), err.field()), ("invalid_field", Some("ft")), "{err}");
    }

    #[test]
    fn bytes_after_the_record_are_refused() {
        let mut bytes = example_json();
        bytes.extend_from_slice(b" {}");
        assert_eq!(Pcs::from_json(&bytes).unwrap_err().kind(), "invalid_json");
        let mut ok = example_json();
        ok.extend_from_slice(b" \n\t");
        Pcs::from_json(&ok).expect("trailing whitespace is fine");
    }

    #[test]
    fn a_syntax_error_in_key_position_names_no_field() {
        let mut bytes = example_json();
        bytes.pop();
        bytes.extend_from_slice(b",}");
        let err = Pcs::from_json(&bytes).unwrap_err();
        assert_eq!((err.kind(), err.field()), ("invalid_json", None), "{err}");
    }

    #[test]
    fn numbers_parse_to_the_nearest_double() {
        // serde_json's default float parser reads this one ulp off.
        let mut v: serde_json::Value = serde_json::from_slice(&example_json()).unwrap();
        let text = serde_json::to_string(&v).unwrap().replace(&format!("\"r\":{}", v["r"]), "\"r\":123456789.12345679");
        v = serde_json::from_str(&text).unwrap();
        let p = Pcs::from_json(text.as_bytes()).unwrap();
        assert_eq!(p.r.to_bits(), 123456789.12345679f64.to_bits());
        assert_eq!(v["r"].as_f64().unwrap().to_bits(), 123456789.12345679f64.to_bits());
    }
}
