//! The strict parser of SPEC §1: what the wire may carry, the bounded and
//! duplicate-refusing readers, and the mapping of serde's errors to an [`Error`]
//! naming the field.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::*;

/// What the wire may carry: required fields are optional here so that a missing
/// one is reported by name rather than as a generic parse failure.
#[derive(Default)]
pub(super) struct PcsWire {
    /// The fields a v1 signature covers (and `sig`).
    signed: SignedWire,
    schema: Option<String>,
    version: Option<String>,
    attempt: Option<i64>,
    sent_at: Option<String>,
    seed: Option<i64>,
    scales: Option<Vec<i64>>,
    n_j: Option<BTreeMap<String, i64>>,
    v_star: Option<Vec<f64>>,
    regime: Option<String>,
    ft: Option<FaultTolerance>,
    extra: BTreeMap<String, Value>,
}

impl<'de> Deserialize<'de> for PcsWire {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        PcsWire::read(d)
    }
}

/// What a v1 signature covers, as the wire carries it: [`SIGNED_FIELDS`]. Read
/// alone (every other field skipped unread) by the SDKs' v1 batches, one per
/// record: moving the whole wire struct around cost them a fifth of their time.
/// [`PcsWire`] holds one for the same fields of a whole record.
#[derive(Default)]
pub(super) struct SignedWire {
    pub(super) pcs_id: Option<String>,
    pub(super) merkle_root: Option<String>,
    pub(super) epoch: Option<u64>,
    pub(super) shard_id: Option<String>,
    pub(super) d_hat: Option<f64>,
    pub(super) coh_star: Option<f64>,
    pub(super) r: Option<f64>,
    pub(super) budget: Option<f64>,
    pub(super) sig: Option<String>,
}

impl<'de> Deserialize<'de> for SignedWire {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = SignedWire;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a PCS record object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<SignedWire, A::Error> {
                let mut w = SignedWire::default();
                while let Some(Key(key)) = map.next_key::<Key>()? {
                    if !w.read_field(&mut map, &key)? {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                Ok(w)
            }
        }
        d.deserialize_map(Fields)
    }
}

impl SignedWire {
    /// Reads the value of `key` if it is one of [`SIGNED_FIELDS`]; `false` for any
    /// other key, whose value is left unread. The whole-record reader uses it too.
    /// Always inlined: out of line it cost Node's v1 batches 3-5%.
    #[inline(always)]
    fn read_field<'de, A: serde::de::MapAccess<'de>>(
        &mut self,
        map: &mut A,
        key: &str,
    ) -> std::result::Result<bool, A::Error> {
        match key {
            "pcs_id" => put_once(map, &mut self.pcs_id, key)?,
            "merkle_root" => put_once(map, &mut self.merkle_root, key)?,
            "epoch" => put_once(map, &mut self.epoch, key)?,
            "shard_id" => put_once(map, &mut self.shard_id, key)?,
            "D_hat" => put_once(map, &mut self.d_hat, key)?,
            "coh_star" => put_once(map, &mut self.coh_star, key)?,
            "r" => put_once(map, &mut self.r, key)?,
            "budget" => put_once(map, &mut self.budget, key)?,
            "sig" => put_once(map, &mut self.sig, key)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// Reads the value of `key` into `slot`, refusing a key given twice.
fn put_once<'de, A: serde::de::MapAccess<'de>, T: Deserialize<'de>>(
    map: &mut A,
    slot: &mut Option<T>,
    key: &str,
) -> std::result::Result<(), A::Error> {
    use serde::de::Error as _;
    if slot.is_some() {
        return Err(A::Error::custom(format_args!("duplicate field `{key}`")));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

impl PcsWire {
    /// Reads the fields of a record.
    fn read<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = PcsWire;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a PCS record object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<PcsWire, A::Error> {
                use serde::de::Error as _;
                let mut w = PcsWire::default();
                while let Some(Key(key)) = map.next_key::<Key>()? {
                    if w.signed.read_field(&mut map, &key)? {
                        continue;
                    }
                    match key.as_ref() {
                        "schema" => put_once(&mut map, &mut w.schema, &key)?,
                        "version" => put_once(&mut map, &mut w.version, &key)?,
                        "attempt" => put_once(&mut map, &mut w.attempt, &key)?,
                        "sent_at" => put_once(&mut map, &mut w.sent_at, &key)?,
                        "seed" => put_once(&mut map, &mut w.seed, &key)?,
                        "scales" => {
                            let mut v: Option<Bounded<i64>> = w.scales.take().map(Bounded);
                            put_once(&mut map, &mut v, &key)?;
                            w.scales = v.map(|b| b.0);
                        }
                        "N_j" => {
                            let mut v: Option<BoundedMap> = w.n_j.take().map(BoundedMap);
                            put_once(&mut map, &mut v, &key)?;
                            w.n_j = v.map(|b| b.0);
                        }
                        "v_star" => {
                            let mut v: Option<Bounded<f64>> = w.v_star.take().map(Bounded);
                            put_once(&mut map, &mut v, &key)?;
                            w.v_star = v.map(|b| b.0);
                        }
                        "regime" => put_once(&mut map, &mut w.regime, &key)?,
                        "ft" => {
                            let mut v: Option<ObjectOnly<FaultTolerance>> = w.ft.take().map(ObjectOnly);
                            put_once(&mut map, &mut v, &key)?;
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

/// A record's key, copied only when it is unknown and not borrowed from the input
/// (serde's own `Cow<str>` copies every key).
struct Key<'de>(std::borrow::Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Name;
        impl<'de> serde::de::Visitor<'de> for Name {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> std::result::Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> std::result::Result<Key<'de>, E> {
                Ok(Key(match KNOWN_FIELDS.iter().find(|k| **k == s) {
                    Some(k) => std::borrow::Cow::Borrowed(k),
                    None => std::borrow::Cow::Owned(s.to_owned()),
                }))
            }
        }
        d.deserialize_str(Name)
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
pub(super) struct ObjectOnly<T>(T);

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

/// For `#[serde(deserialize_with)]` on an optional object field (`BuildInput::ft`):
/// as [`ObjectOnly`], an array is refused.
pub(crate) fn optional_object<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> std::result::Result<Option<T>, D::Error> {
    Ok(Option::<ObjectOnly<T>>::deserialize(d)?.map(|o| o.0))
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
    check_id_bytes(&v, field)?;
    Ok(v)
}

/// SPEC §1's limit on `shard_id` and `merkle_root`.
pub(crate) fn check_id_bytes(v: &str, field: &str) -> Result<()> {
    if v.is_empty() || v.len() > MAX_ID_BYTES {
        return Err(Error::bad_field(field, format!("must be 1 to {MAX_ID_BYTES} bytes of UTF-8 (got {})", v.len())));
    }
    Ok(())
}

/// SPEC §1's limit on `epoch` (at most [`MAX_EPOCH`]), for a reader of an epoch
/// outside a record (the SDKs' `pcs_id`).
///
/// ```
/// assert!(fractal_core::check_epoch(fractal_core::MAX_EPOCH).is_ok());
/// assert_eq!(fractal_core::check_epoch(1 << 53).unwrap_err().field(), Some("epoch"));
/// ```
pub fn check_epoch(epoch: u64) -> Result<()> {
    if epoch > MAX_EPOCH {
        return Err(Error::bad_field("epoch", "must be at most 2^53-1 (9007199254740991)"));
    }
    Ok(())
}

/// The signed fields' rules: required, and SPEC §1's limits on the ids and `epoch`.
impl TryFrom<SignedWire> for SignedRecord {
    type Error = Error;

    fn try_from(w: SignedWire) -> Result<SignedRecord> {
        let epoch = required(w.epoch, "epoch")?;
        check_epoch(epoch)?;
        Ok(SignedRecord {
            pcs_id: required(w.pcs_id, "pcs_id")?,
            shard_id: id_bytes(w.shard_id, "shard_id")?,
            epoch,
            coh_star: required(w.coh_star, "coh_star")?,
            d_hat: required(w.d_hat, "D_hat")?,
            r: required(w.r, "r")?,
            budget: required(w.budget, "budget")?,
            merkle_root: id_bytes(w.merkle_root, "merkle_root")?,
            sig: w.sig,
        })
    }
}

impl TryFrom<PcsWire> for Pcs {
    type Error = Error;

    fn try_from(mut w: PcsWire) -> Result<Pcs> {
        let signed = SignedRecord::try_from(std::mem::take(&mut w.signed))?;
        Pcs::assemble(signed, w)
    }
}

impl Pcs {
    /// A record from its checked signed fields and the rest of what the wire
    /// carried (`w.signed` is not read): the defaults of the optional fields and
    /// the record's limits are applied here.
    fn assemble(s: SignedRecord, w: PcsWire) -> Result<Pcs> {
        let pcs = Pcs {
            pcs_id: s.pcs_id,
            schema: required(w.schema, "schema")?,
            version: required(w.version, "version")?,
            shard_id: s.shard_id,
            epoch: s.epoch,
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
            coh_star: s.coh_star,
            v_star: w.v_star.unwrap_or_default(),
            d_hat: s.d_hat,
            r: s.r,
            regime: w.regime.unwrap_or_default(),
            budget: s.budget,
            merkle_root: s.merkle_root,
            sig: s.sig,
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

    /// Parses a record from an already-decoded JSON value.
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
        crate::SigningFields::from(self).check()?;
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
        // Conversion errors (TryFrom) already carry their field.
        serde_json::error::Category::Data if at_root => root_error(msg, "a JSON object", Error::bad_field),
        serde_json::error::Category::Data if !in_key => Error::bad_field(path, strip_position(&msg)),
        serde_json::error::Category::Syntax if !at_root && !in_key => Error::bad_field(path, strip_position(&msg)),
        _ => Error::InvalidJson { reason: msg },
    }
}

/// A failure at the top of the input: a field missing, given twice or unknown is
/// named through `make(field, reason)`; anything but an object is `expected`.
pub(super) fn root_error(msg: String, expected: &str, make: impl Fn(String, String) -> Error) -> Error {
    for (prefix, reason) in [
        ("missing field `", "required field is missing"),
        ("duplicate field `", "field appears more than once"),
        ("unknown field `", "unknown field"),
    ] {
        if let Some(field) = backticked(&msg, prefix) {
            return make(field.to_string(), reason.to_string());
        }
    }
    if msg.starts_with("invalid type") {
        return Error::InvalidJson { reason: format!("expected {expected}") };
    }
    Error::InvalidJson { reason: msg }
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

mod host;
