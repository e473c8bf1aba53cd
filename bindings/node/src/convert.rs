//! JavaScript values ⇄ the core's types, read field by field with napi getters
//! (no detour through `serde_json::Value`: this is the hot path of signing).
//!
//! JavaScript numbers are doubles. An integer field (epoch, attempt, seed,
//! scales, `N_j` values, `ft` integers) accepts an integral double (or a
//! BigInt) and becomes that integer; a fractional, non-finite or out-of-range
//! value is an `invalid_field` error naming the field, exactly as the core's
//! JSON parser would refuse it. `undefined` and `null` both mean "absent", as
//! `null` does for the core's parser.

use std::collections::BTreeMap;

use fractal_core::{
    BuildInput, FaultTolerance, LegacyEncoding, MAX_EPOCH, MAX_ID_BYTES, Omitted, Pcs, SigVersion,
    SignaturePolicy, SigningFields, VerifyParams,
};
use napi::bindgen_prelude::*;
use napi::{Env, JsString, JsValue, ValueType};
use napi::{KeyCollectionMode, KeyConversion, KeyFilter};

use crate::error::{Failure, Res, bad_arg, bad_field};

/// 2^63 as a double: the first value above `i64::MAX`.
const TWO_63: f64 = 9_223_372_036_854_775_808.0;
/// Largest integer a double holds exactly: 2^53 − 1.
const MAX_SAFE: i64 = (1 << 53) - 1;

/// A property, or `None` when it is `undefined` or `null`.
pub(crate) fn prop<'e>(obj: &Object<'e>, name: &str) -> Res<Option<Unknown<'e>>> {
    let v: Unknown = obj.get_named_property_unchecked(name)?;
    match v.get_type()? {
        ValueType::Undefined | ValueType::Null => Ok(None),
        _ => Ok(Some(v)),
    }
}

fn type_name(t: ValueType) -> &'static str {
    match t {
        ValueType::Undefined => "undefined",
        ValueType::Null => "null",
        ValueType::Boolean => "a boolean",
        ValueType::Number => "a number",
        ValueType::String => "a string",
        ValueType::Symbol => "a symbol",
        ValueType::Object => "an object",
        ValueType::Function => "a function",
        ValueType::External => "an external",
        ValueType::BigInt => "a bigint",
        _ => "an unsupported value",
    }
}

fn wrong_type(field: &str, want: &str, got: ValueType) -> Res<std::convert::Infallible> {
    Err(bad_field(field, format!("expected {want}, got {}", type_name(got))).into())
}

/// A string; a lone UTF-16 surrogate is malformed (SPEC §1), never replaced.
pub(crate) fn string(v: Unknown, field: &str) -> Res<String> {
    let t = v.get_type()?;
    if t != ValueType::String {
        match wrong_type(field, "a string", t)? {}
    }
    let s = utf8(v)?;
    // Node replaces a lone surrogate with U+FFFD when it encodes UTF-8; only
    // then is the (slower) UTF-16 check needed to tell it from a real U+FFFD.
    if s.contains('\u{FFFD}') {
        let js: JsString = unsafe { v.cast()? };
        let units = js.into_utf16()?;
        if char::decode_utf16(units.as_slice().iter().copied()).any(|c| c.is_err()) {
            return Err(bad_field(field, "contains a lone UTF-16 surrogate").into());
        }
    }
    Ok(s)
}

/// The UTF-8 of a JavaScript string. Strings that fit a stack buffer (record
/// fields nearly always do) take one engine call instead of two and one
/// allocation; longer ones take napi-rs's general path.
fn utf8(v: Unknown) -> Res<String> {
    let mut buf = [0u8; 256];
    let mut written = 0usize;
    let status = unsafe {
        napi::sys::napi_get_value_string_utf8(
            v.value().env,
            v.raw(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut written,
        )
    };
    if status != napi::sys::Status::napi_ok {
        return Err(napi::Error::new(Status::from(status), "cannot read a string").into());
    }
    // Node writes at most len − 1 bytes and never splits a character, so with
    // 4 bytes (the longest UTF-8 character) to spare nothing was cut off.
    if written + 4 < buf.len() {
        return String::from_utf8(buf[..written].to_vec()).map_err(|_| {
            Failure::Js(napi::Error::new(
                Status::StringExpected,
                "the engine returned invalid UTF-8",
            ))
        });
    }
    let js: JsString = unsafe { v.cast()? };
    Ok(js.into_utf8()?.into_owned()?)
}

/// A finite double: NaN and ±Infinity are not JSON (JSON.stringify would
/// send `null`), so the core's parser could never have read them either.
pub(crate) fn number(v: Unknown, field: &str) -> Res<f64> {
    let t = v.get_type()?;
    if t != ValueType::Number {
        match wrong_type(field, "a number", t)? {}
    }
    let x = unsafe { v.cast::<f64>()? };
    if !x.is_finite() {
        return Err(bad_field(field, format!("must be a finite number (JSON has no {x})")).into());
    }
    Ok(x)
}

pub(crate) fn boolean(v: Unknown, field: &str) -> Res<bool> {
    let t = v.get_type()?;
    if t != ValueType::Boolean {
        match wrong_type(field, "a boolean", t)? {}
    }
    Ok(unsafe { v.cast::<bool>()? })
}

/// A signed 64-bit integer from an integral double or a BigInt.
pub(crate) fn int64(v: Unknown, field: &str) -> Res<i64> {
    match v.get_type()? {
        ValueType::Number => {
            let x = unsafe { v.cast::<f64>()? };
            if !x.is_finite() || x.fract() != 0.0 {
                return Err(bad_field(field, format!("expected an integer, got {x}")).into());
            }
            if !(-TWO_63..TWO_63).contains(&x) {
                return Err(bad_field(field, "does not fit a signed 64-bit integer").into());
            }
            Ok(x as i64)
        }
        ValueType::BigInt => {
            let b = unsafe { v.cast::<BigInt>()? };
            let (x, lossless) = b.get_i64();
            if !lossless {
                return Err(bad_field(field, "does not fit a signed 64-bit integer").into());
            }
            Ok(x)
        }
        t => match wrong_type(field, "an integer", t)? {},
    }
}

/// An epoch: an integer in 0 ..= 2^53 − 1.
pub(crate) fn epoch(v: Unknown, field: &str) -> Res<u64> {
    let x = int64(v, field)?;
    if x < 0 || x as u64 > MAX_EPOCH {
        return Err(bad_field(
            field,
            "must be an integer between 0 and 2^53-1 (9007199254740991)",
        )
        .into());
    }
    Ok(x as u64)
}

/// `v` as a plain object; anything else (an array included) is refused with the
/// error `refuse` builds from a description of what was given.
fn plain_object<'e>(v: Unknown<'e>, refuse: impl FnOnce(String) -> fractal_core::Error) -> Res<Object<'e>> {
    let t = v.get_type()?;
    if t != ValueType::Object || v.is_array()? {
        let got = if t == ValueType::Object {
            "an array"
        } else {
            type_name(t)
        };
        return Err(refuse(format!("expected an object, got {got}")).into());
    }
    Ok(unsafe { v.cast()? })
}

fn object<'e>(v: Unknown<'e>, field: &str) -> Res<Object<'e>> {
    plain_object(v, |reason| bad_field(field, reason))
}

/// A record-like argument: a plain object.
pub(crate) fn record<'e>(v: Unknown<'e>, name: &str) -> Res<Object<'e>> {
    plain_object(v, |reason| bad_arg(name, reason))
}

/// The elements of an array argument.
pub(crate) fn array<'e>(v: Unknown<'e>, field: &str) -> Res<Vec<Unknown<'e>>> {
    if v.get_type()? != ValueType::Object || !v.is_array()? {
        return Err(bad_field(
            field,
            format!("expected an array, got {}", type_name(v.get_type()?)),
        )
        .into());
    }
    let arr: Object = unsafe { v.cast()? };
    let n = arr.get_array_length()?;
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n {
        out.push(arr.get_element::<Unknown>(i)?);
    }
    Ok(out)
}

/// The elements of a batch argument (`records`, `keys`): a wrong type is an
/// argument error, not a record-field error.
pub(crate) fn batch<'e>(v: Unknown<'e>, name: &str) -> Res<Vec<Unknown<'e>>> {
    if v.get_type()? != ValueType::Object || !v.is_array()? {
        return Err(bad_arg(
            name,
            format!("expected an array, got {}", type_name(v.get_type()?)),
        )
        .into());
    }
    array(v, name)
}

fn req<T>(v: Option<T>, field: &str) -> Res<T> {
    v.ok_or_else(|| bad_field(field, "required field is missing").into())
}

fn opt<'e, T>(
    obj: &Object<'e>,
    field: &str,
    read: impl FnOnce(Unknown<'e>, &str) -> Res<T>,
) -> Res<Option<T>> {
    match prop(obj, field)? {
        Some(v) => read(v, field).map(Some),
        None => Ok(None),
    }
}

/// A top-level record field: absent when `undefined` (JSON.stringify leaves
/// it out); `null` goes to `read`, which refuses it, as the core's parser
/// does (SPEC §1: an optional field is omitted, never null).
fn field<'e, T>(
    obj: &Object<'e>,
    name: &str,
    read: impl FnOnce(Unknown<'e>, &str) -> Res<T>,
) -> Res<Option<T>> {
    let v: Unknown = obj.get_named_property_unchecked(name)?;
    match v.get_type()? {
        ValueType::Undefined => Ok(None),
        _ => read(v, name).map(Some),
    }
}

/// The own enumerable string keys of an object, as `Object.keys` (and so
/// JSON.stringify) lists them. A key holding a lone UTF-16 surrogate is
/// `invalid_json`, as the core's parser refuses it in the text.
fn own_keys(obj: &Object) -> Res<Vec<String>> {
    let names = obj.get_all_property_names(
        KeyCollectionMode::OwnOnly,
        KeyFilter::Enumerable,
        KeyConversion::NumbersToStrings,
    )?;
    let n = names.get_array_length()?;
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n {
        let k: Unknown = names.get_element(i)?;
        if k.get_type()? != ValueType::String {
            continue; // a symbol
        }
        out.push(string(k, "").map_err(|f| match f {
            Failure::Core {
                error: fractal_core::Error::InvalidField { .. },
                ..
            } => fractal_core::Error::InvalidJson {
                reason: "a field name contains a lone UTF-16 surrogate".into(),
            }
            .into(),
            other => other,
        })?);
    }
    Ok(out)
}

/// The eight signed fields (SPEC §3, step 1), owned.
pub(crate) struct Signed {
    pub pcs_id: String,
    pub merkle_root: String,
    pub epoch: u64,
    pub shard_id: String,
    pub d_hat: f64,
    pub coh_star: f64,
    pub r: f64,
    pub budget: f64,
}

impl Signed {
    /// A record holding only the signed fields and `sig`, for the core's
    /// `Verifier::verify` on the v1 path (which reads nothing else; the core's
    /// default of every other field stands in for it).
    pub(crate) fn into_v1_record(self, sig: Option<String>) -> Pcs {
        Pcs {
            pcs_id: self.pcs_id,
            schema: fractal_core::SCHEMA.into(),
            version: String::new(),
            shard_id: self.shard_id,
            epoch: self.epoch,
            attempt: 1,
            sent_at: None,
            seed: 0,
            scales: Vec::new(),
            n_j: BTreeMap::new(),
            coh_star: self.coh_star,
            v_star: Vec::new(),
            d_hat: self.d_hat,
            r: self.r,
            regime: String::new(),
            budget: self.budget,
            merkle_root: self.merkle_root,
            sig,
            ft: None,
            extra: BTreeMap::new(),
            omitted: Omitted::default(),
        }
    }

    pub(crate) fn fields(&self) -> SigningFields<'_> {
        SigningFields {
            pcs_id: &self.pcs_id,
            merkle_root: &self.merkle_root,
            epoch: self.epoch,
            shard_id: &self.shard_id,
            d_hat: self.d_hat,
            coh_star: self.coh_star,
            r: self.r,
            budget: self.budget,
        }
    }
}

/// Names of the signed fields and `sig`, in the order [`Keys`] holds them.
const SIGNED_NAMES: [&str; 9] = [
    "pcs_id",
    "merkle_root",
    "epoch",
    "shard_id",
    "D_hat",
    "coh_star",
    "r",
    "budget",
    "sig",
];
const SIGNED_CNAMES: [&std::ffi::CStr; 9] = [
    c"pcs_id",
    c"merkle_root",
    c"epoch",
    c"shard_id",
    c"D_hat",
    c"coh_star",
    c"r",
    c"budget",
    c"sig",
];

/// How the signed fields' property keys are looked up: by static C strings
/// (one record), or by JavaScript strings created once per batch, which saves
/// the engine converting the nine names again for every record.
pub(crate) enum Keys<'e> {
    Static,
    Cached(Vec<JsString<'e>>),
}

impl<'e> Keys<'e> {
    pub(crate) fn cached(env: &'e Env) -> Res<Keys<'e>> {
        let mut keys = Vec::with_capacity(SIGNED_NAMES.len());
        for name in SIGNED_NAMES {
            keys.push(env.create_string(name)?);
        }
        Ok(Keys::Cached(keys))
    }

    fn get<'o>(&self, obj: &Object<'o>, i: usize) -> Res<Option<Unknown<'o>>> {
        let v: Unknown = match self {
            Keys::Static => obj.get_c_named_property_unchecked(SIGNED_CNAMES[i])?,
            Keys::Cached(keys) => obj.get_property_unchecked(keys[i])?,
        };
        // `null` is refused by the field's reader, as by the core's parser.
        match v.get_type()? {
            ValueType::Undefined => Ok(None),
            _ => Ok(Some(v)),
        }
    }

    fn read<'o, T>(
        &self,
        obj: &Object<'o>,
        i: usize,
        read: impl FnOnce(Unknown<'o>, &str) -> Res<T>,
    ) -> Res<Option<T>> {
        match self.get(obj, i)? {
            Some(v) => read(v, SIGNED_NAMES[i]).map(Some),
            None => Ok(None),
        }
    }
}

/// Reads only what v1 signing needs (the fast path: v1 signs nothing else):
/// the eight signed fields, with the same requiredness and limits as the
/// core's parser.
pub(crate) fn signed(obj: &Object, keys: &Keys) -> Res<Signed> {
    Ok(Signed {
        pcs_id: req(keys.read(obj, 0, string)?, "pcs_id")?,
        merkle_root: id_bytes(req(keys.read(obj, 1, string)?, "merkle_root")?, "merkle_root")?,
        epoch: req(keys.read(obj, 2, epoch)?, "epoch")?,
        shard_id: id_bytes(req(keys.read(obj, 3, string)?, "shard_id")?, "shard_id")?,
        d_hat: req(keys.read(obj, 4, number)?, "D_hat")?,
        coh_star: req(keys.read(obj, 5, number)?, "coh_star")?,
        r: req(keys.read(obj, 6, number)?, "r")?,
        budget: req(keys.read(obj, 7, number)?, "budget")?,
    })
}

/// The `sig` of a record, read alone (it tells which payload it covers).
pub(crate) fn sig(obj: &Object, keys: &Keys) -> Res<Option<String>> {
    keys.read(obj, 8, string)
}

/// What a signature check needs of a record: for a `v2:` signature the whole
/// record, for any other (or none) the eight v1 fields and `sig`.
pub(crate) fn for_check(obj: &Object, keys: &Keys) -> Res<Pcs> {
    let sig = sig(obj, keys)?;
    if sig.as_deref().is_some_and(|s| s.starts_with(fractal_core::sign::V2_PREFIX)) {
        return pcs(obj);
    }
    Ok(signed(obj, keys)?.into_v1_record(sig))
}

/// A JS array read item by item, each item's path named `field[i]`.
fn list<T>(v: Unknown, field: &str, item: fn(Unknown, &str) -> Res<T>) -> Res<Vec<T>> {
    let items = array(v, field)?;
    let mut out = Vec::with_capacity(items.len());
    for (i, x) in items.into_iter().enumerate() {
        out.push(item(x, &format!("{field}[{i}]"))?);
    }
    Ok(out)
}

fn ints(v: Unknown, field: &str) -> Res<Vec<i64>> {
    list(v, field, int64)
}

fn numbers(v: Unknown, field: &str) -> Res<Vec<f64>> {
    list(v, field, number)
}

fn strings(v: Unknown, field: &str) -> Res<Vec<String>> {
    list(v, field, string)
}

fn counts(v: Unknown, field: &str) -> Res<BTreeMap<String, i64>> {
    let obj = object(v, field)?;
    let mut out = BTreeMap::new();
    for key in own_keys(&obj)? {
        let name = format!("{field}.{key}");
        let value: Unknown = obj.get_named_property_unchecked(&key)?;
        out.insert(key, int64(value, &name)?);
    }
    Ok(out)
}

fn fault_tolerance(v: Unknown, field: &str) -> Res<FaultTolerance> {
    let obj = object(v, field)?;
    Ok(FaultTolerance {
        outbox_seq: opt(&obj, "outbox_seq", |v, f| int64(v, &format!("{field}.{f}")))?,
        degraded: opt(&obj, "degraded", |v, f| boolean(v, &format!("{field}.{f}")))?,
        fallbacks: opt(&obj, "fallbacks", |v, f| {
            strings(v, &format!("{field}.{f}"))
        })?,
        clock_skew_ms: opt(&obj, "clock_skew_ms", |v, f| {
            int64(v, &format!("{field}.{f}"))
        })?,
    })
}

/// How deep an unknown field's value may nest. serde_json's parser stops at
/// 128 levels, so nothing deeper can reach the server; a cyclic object stops
/// here too instead of overflowing the stack.
const MAX_DEPTH: u32 = 128;

/// A whole record (SPEC §1, malformed level): the same rules as
/// `Pcs::from_json`, applied to a JavaScript object, limits included. Unknown
/// fields are kept (as JSON values) in `extra`, and the optional fields left
/// out are recorded in `omitted`, so that the v2 payload signs the record as
/// `JSON.stringify` will send it.
pub(crate) fn pcs(obj: &Object) -> Res<Pcs> {
    // Required fields first, in the core parser's order, so the same field is named.
    let epoch = req(field(obj, "epoch", epoch)?, "epoch")?;
    let pcs_id = req(field(obj, "pcs_id", string)?, "pcs_id")?;
    let schema = req(field(obj, "schema", string)?, "schema")?;
    let version = req(field(obj, "version", string)?, "version")?;
    let shard_id = id_bytes(req(field(obj, "shard_id", string)?, "shard_id")?, "shard_id")?;
    let attempt = field(obj, "attempt", int64)?;
    let sent_at = field(obj, "sent_at", string)?;
    let seed = field(obj, "seed", int64)?;
    let scales = field(obj, "scales", ints)?;
    let n_j = field(obj, "N_j", counts)?;
    let coh_star = req(field(obj, "coh_star", number)?, "coh_star")?;
    let v_star = field(obj, "v_star", numbers)?;
    let d_hat = req(field(obj, "D_hat", number)?, "D_hat")?;
    let r = req(field(obj, "r", number)?, "r")?;
    let regime = field(obj, "regime", string)?;
    let budget = req(field(obj, "budget", number)?, "budget")?;
    let merkle_root = id_bytes(req(field(obj, "merkle_root", string)?, "merkle_root")?, "merkle_root")?;
    let sig = field(obj, "sig", string)?;
    let ft = field(obj, "ft", fault_tolerance)?;
    let mut extra = BTreeMap::new();
    for key in own_keys(obj)? {
        if fractal_core::KNOWN_FIELDS.contains(&key.as_str()) {
            continue;
        }
        let v: Unknown = obj.get_named_property_unchecked(&key)?;
        // `undefined` is absent, as for JSON.stringify; `null` is a value.
        if v.get_type()? == ValueType::Undefined {
            continue;
        }
        let value = json_value(v, &key, 1)?;
        extra.insert(key, value);
    }
    let pcs = Pcs {
        pcs_id,
        schema,
        version,
        shard_id,
        epoch,
        omitted: Omitted {
            seed: seed.is_none(),
            scales: scales.is_none(),
            n_j: n_j.is_none(),
            v_star: v_star.is_none(),
            regime: regime.is_none(),
            attempt: attempt.is_none(),
        },
        attempt: attempt.unwrap_or(1),
        sent_at,
        seed: seed.unwrap_or(0),
        scales: scales.unwrap_or_default(),
        n_j: n_j.unwrap_or_default(),
        coh_star,
        v_star: v_star.unwrap_or_default(),
        d_hat,
        r,
        regime: regime.unwrap_or_default(),
        budget,
        merkle_root,
        sig,
        ft,
        extra,
    };
    pcs.check_limits()?;
    Ok(pcs)
}

/// `shard_id` and `merkle_root`: 1 to [`MAX_ID_BYTES`] bytes (SPEC §1).
fn id_bytes(v: String, field: &str) -> Res<String> {
    if v.is_empty() || v.len() > MAX_ID_BYTES {
        return Err(bad_field(
            field,
            format!("must be 1 to {MAX_ID_BYTES} bytes of UTF-8 (got {})", v.len()),
        )
        .into());
    }
    Ok(v)
}

/// The value of an unknown field as JSON, exactly as `JSON.stringify` would
/// send it, or an `invalid_field` error naming its path (`meta.tags[2]`) for
/// what JSON cannot carry exactly: NaN and ±Infinity, integers beyond
/// ±(2^53−1) given as numbers (JavaScript has already rounded them; a bigint
/// keeps them exact, and v2 signing then refuses them by name), functions,
/// symbols, `undefined` inside an array, dates, buffers and typed arrays.
fn json_value(v: Unknown, path: &str, depth: u32) -> Res<serde_json::Value> {
    use serde_json::Value;
    if depth > MAX_DEPTH {
        return Err(bad_field(path, format!("nests deeper than {MAX_DEPTH} levels (or is cyclic)")).into());
    }
    match v.get_type()? {
        ValueType::Null => Ok(Value::Null),
        ValueType::Boolean => Ok(Value::Bool(unsafe { v.cast::<bool>()? })),
        ValueType::String => Ok(Value::String(string(v, path)?)),
        ValueType::Number => {
            let x = unsafe { v.cast::<f64>()? };
            if !x.is_finite() {
                return Err(bad_field(path, format!("must be a finite number, got {x}")).into());
            }
            // JSON.stringify writes an integral double below 1e21 as an integer
            // literal (−0 as `0`), which the server reads as an integer: one
            // beyond ±(2^53−1) there is refused by v2, and here JavaScript has
            // already rounded it. From 1e21 on it writes an exponent, a double.
            if x.fract() == 0.0 && x.abs() < 1e21 {
                if x.abs() > MAX_SAFE as f64 {
                    return Err(bad_field(
                        path,
                        "integer beyond ±(2^53-1) is not exact as a JavaScript number and cannot be signed with v2",
                    )
                    .into());
                }
                return Ok(Value::from(x as i64));
            }
            Ok(serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number))
        }
        ValueType::BigInt => {
            let b = unsafe { v.cast::<BigInt>()? };
            let (x, lossless) = b.get_i64();
            if lossless {
                return Ok(Value::from(x));
            }
            let (negative, u, lossless) = b.get_u64();
            if lossless && !negative {
                return Ok(Value::from(u));
            }
            Err(bad_field(path, "does not fit a 64-bit integer").into())
        }
        ValueType::Object => {
            if v.is_array()? {
                let items = array(v, path)?;
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    let at = format!("{path}[{i}]");
                    if item.get_type()? == ValueType::Undefined {
                        return Err(bad_field(at, "undefined is not a JSON value").into());
                    }
                    out.push(json_value(item, &at, depth + 1)?);
                }
                return Ok(Value::Array(out));
            }
            if v.is_date()? || v.is_typedarray()? || v.is_arraybuffer()? || v.is_dataview()? || v.is_promise()? {
                return Err(bad_field(path, "expected a JSON value (a plain object, array, string, number, boolean or null)").into());
            }
            let obj: Object = unsafe { v.cast()? };
            let mut out = serde_json::Map::new();
            for key in own_keys(&obj)? {
                let item: Unknown = obj.get_named_property_unchecked(&key)?;
                if item.get_type()? == ValueType::Undefined {
                    continue;
                }
                let at = format!("{path}.{key}");
                let value = json_value(item, &at, depth + 1)?;
                out.insert(key, value);
            }
            Ok(Value::Object(out))
        }
        t => Err(bad_field(path, format!("{} is not a JSON value", type_name(t))).into()),
    }
}

const BUILD_FIELDS: &[&str] = &[
    "merkle_root",
    "epoch",
    "shard_id",
    "scales",
    "N_j",
    "coh_star",
    "v_star",
    "r",
    "version",
    "attempt",
    "sent_at",
    "seed",
    "ft",
];

/// The input of `buildPcs`. Unknown fields are refused (a misspelt field would
/// otherwise silently take its default).
pub(crate) fn build_input(obj: &Object) -> Res<BuildInput> {
    for key in Object::keys(obj)? {
        if !BUILD_FIELDS.contains(&key.as_str()) {
            return Err(bad_field(key, "unknown field").into());
        }
    }
    Ok(BuildInput {
        merkle_root: req(opt(obj, "merkle_root", string)?, "merkle_root")?,
        epoch: req(opt(obj, "epoch", epoch)?, "epoch")?,
        shard_id: req(opt(obj, "shard_id", string)?, "shard_id")?,
        scales: req(opt(obj, "scales", ints)?, "scales")?,
        n_j: req(opt(obj, "N_j", counts)?, "N_j")?,
        coh_star: req(opt(obj, "coh_star", number)?, "coh_star")?,
        v_star: opt(obj, "v_star", numbers)?.unwrap_or_default(),
        r: req(opt(obj, "r", number)?, "r")?,
        version: opt(obj, "version", string)?.unwrap_or_else(|| "0.1".into()),
        attempt: opt(obj, "attempt", int64)?.unwrap_or(1),
        sent_at: opt(obj, "sent_at", string)?,
        seed: opt(obj, "seed", int64)?.unwrap_or(0),
        ft: opt(obj, "ft", fault_tolerance)?,
    })
}

/// Verification parameters: camelCase (`tolD`, `tolCoh`, `d0`, `budgetTol`), the
/// core's snake_case (`tol_d`, …) or the SPEC's `D0`. Missing ones take the
/// defaults; unknown names and non-numbers are refused.
pub(crate) fn verify_params(v: Option<Unknown>) -> Res<VerifyParams> {
    let mut p = VerifyParams::default();
    let Some(v) = v else { return Ok(p) };
    match v.get_type()? {
        ValueType::Undefined | ValueType::Null => return Ok(p),
        _ => {}
    }
    let obj = record(v, "params")?;
    for key in Object::keys(&obj)? {
        let slot = match key.as_str() {
            "tolD" | "tol_d" => &mut p.tol_d,
            "tolCoh" | "tol_coh" => &mut p.tol_coh,
            "alpha" => &mut p.alpha,
            "beta" => &mut p.beta,
            "gamma" => &mut p.gamma,
            "base" => &mut p.base,
            "d0" | "D0" => &mut p.d0,
            "budgetTol" | "budget_tol" => &mut p.budget_tol,
            _ => return Err(bad_arg(key, "unknown verification parameter").into()),
        };
        let value: Unknown = obj.get_named_property_unchecked(&key)?;
        if value.get_type()? != ValueType::Number {
            return Err(bad_arg(
                key,
                format!("expected a number, got {}", type_name(value.get_type()?)),
            )
            .into());
        }
        *slot = unsafe { value.cast::<f64>()? };
    }
    p.check()?;
    Ok(p)
}

/// Bytes of a key or ring key: a string (its UTF-8 bytes) or a Buffer/Uint8Array.
pub(crate) fn bytes(v: Unknown, name: &str) -> Res<Vec<u8>> {
    match v.get_type()? {
        ValueType::String => Ok(text(v, name)?.into_bytes()),
        // A Buffer is a Uint8Array; other typed arrays are refused (their bytes
        // depend on the platform's endianness), which the cast checks.
        ValueType::Object if v.is_typedarray()? => {
            let arr = unsafe { v.cast::<Uint8ArraySlice>() }.map_err(|_| {
                bad_arg(
                    name,
                    "expected a string, Buffer or Uint8Array, got another typed array",
                )
            })?;
            Ok(arr.to_vec())
        }
        t => Err(bad_arg(
            name,
            format!(
                "expected a string, Buffer or Uint8Array, got {}",
                type_name(t)
            ),
        )
        .into()),
    }
}

/// A text argument (an Ed25519 key in base64, a shard name).
pub(crate) fn text(v: Unknown, name: &str) -> Res<String> {
    match v.get_type()? {
        ValueType::String => string(v, name).map_err(|f| match f {
            Failure::Core {
                error: fractal_core::Error::InvalidField { reason, .. },
                ..
            } => bad_arg(name, reason).into(),
            other => other,
        }),
        t => Err(bad_arg(name, format!("expected a string, got {}", type_name(t))).into()),
    }
}

// ---------------------------------------------------------------------------
// Rust → JavaScript

/// An integer as a number when a double holds it exactly, as a BigInt otherwise.
fn int_value(env: &Env, x: i64) -> napi::Result<Unknown<'_>> {
    if (-MAX_SAFE..=MAX_SAFE).contains(&x) {
        (x as f64).into_unknown(env)
    } else {
        BigInt::from(x).into_unknown(env)
    }
}

/// A record as a plain object with the SPEC §1 field names. Absent optional
/// fields (`sent_at`, `sig`, `ft` and its members) are left out.
pub(crate) fn pcs_to_js<'e>(env: &'e Env, p: &Pcs) -> napi::Result<Object<'e>> {
    let mut o = Object::new(env)?;
    o.set_named_property("pcs_id", p.pcs_id.as_str())?;
    o.set_named_property("schema", p.schema.as_str())?;
    o.set_named_property("version", p.version.as_str())?;
    o.set_named_property("shard_id", p.shard_id.as_str())?;
    o.set_named_property("epoch", p.epoch as f64)?;
    // An optional field the record left out stays out (while it holds its
    // default), as the core serializes it: the v2 payload is then the same.
    let om = &p.omitted;
    if !(om.attempt && p.attempt == 1) {
        o.set_named_property("attempt", int_value(env, p.attempt)?)?;
    }
    if let Some(s) = &p.sent_at {
        o.set_named_property("sent_at", s.as_str())?;
    }
    if !(om.seed && p.seed == 0) {
        o.set_named_property("seed", int_value(env, p.seed)?)?;
    }
    if !(om.scales && p.scales.is_empty()) {
        let mut scales = env.create_array(p.scales.len() as u32)?;
        for (i, s) in p.scales.iter().enumerate() {
            scales.set(i as u32, int_value(env, *s)?)?;
        }
        o.set_named_property("scales", scales)?;
    }
    if !(om.n_j && p.n_j.is_empty()) {
        let mut n_j = Object::new(env)?;
        for (k, v) in &p.n_j {
            n_j.set_named_property(k, int_value(env, *v)?)?;
        }
        o.set_named_property("N_j", n_j)?;
    }
    o.set_named_property("coh_star", p.coh_star)?;
    if !(om.v_star && p.v_star.is_empty()) {
        o.set_named_property("v_star", p.v_star.clone())?;
    }
    o.set_named_property("D_hat", p.d_hat)?;
    o.set_named_property("r", p.r)?;
    if !(om.regime && p.regime.is_empty()) {
        o.set_named_property("regime", p.regime.as_str())?;
    }
    o.set_named_property("budget", p.budget)?;
    o.set_named_property("merkle_root", p.merkle_root.as_str())?;
    if let Some(s) = &p.sig {
        o.set_named_property("sig", s.as_str())?;
    }
    if let Some(ft) = &p.ft {
        let mut f = Object::new(env)?;
        if let Some(x) = ft.outbox_seq {
            f.set_named_property("outbox_seq", int_value(env, x)?)?;
        }
        if let Some(x) = ft.degraded {
            f.set_named_property("degraded", x)?;
        }
        if let Some(x) = &ft.fallbacks {
            f.set_named_property("fallbacks", x.clone())?;
        }
        if let Some(x) = ft.clock_skew_ms {
            f.set_named_property("clock_skew_ms", int_value(env, x)?)?;
        }
        o.set_named_property("ft", f)?;
    }
    for (k, v) in &p.extra {
        o.set_named_property(k, value_to_js(env, v)?)?;
    }
    Ok(o)
}

/// A JSON value as JavaScript: integers beyond 2^53−1 as `bigint` (exact).
fn value_to_js<'e>(env: &'e Env, v: &serde_json::Value) -> napi::Result<Unknown<'e>> {
    use serde_json::Value;
    match v {
        Value::Null => Null.into_unknown(env),
        Value::Bool(b) => b.into_unknown(env),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => int_value(env, i),
            (None, Some(u)) => BigInt::from(u).into_unknown(env),
            _ => n.as_f64().unwrap_or(f64::NAN).into_unknown(env),
        },
        Value::String(s) => s.as_str().into_unknown(env),
        Value::Array(items) => {
            let mut arr = env.create_array(items.len() as u32)?;
            for (i, item) in items.iter().enumerate() {
                arr.set(i as u32, value_to_js(env, item)?)?;
            }
            arr.into_unknown(env)
        }
        Value::Object(map) => {
            let mut o = Object::new(env)?;
            for (k, item) in map {
                o.set_named_property(k, value_to_js(env, item)?)?;
            }
            o.into_unknown(env)
        }
    }
}

// ---------------------------------------------------------------------------
// Options of the v2 API.

/// The `{ version }` option of signing calls: 1 or 2, 2 when absent. Anything
/// else is an `ERR_INVALID_ARGUMENT` naming `version` (or `options`).
pub(crate) fn sig_version(options: Option<Unknown>) -> Res<SigVersion> {
    let Some(v) = options else {
        return Ok(SigVersion::V2);
    };
    if matches!(v.get_type()?, ValueType::Undefined | ValueType::Null) {
        return Ok(SigVersion::V2);
    }
    let obj = record(v, "options")?;
    for key in Object::keys(&obj)? {
        if key != "version" {
            return Err(bad_arg(key, "unknown option (the only option is `version`)").into());
        }
    }
    match prop(&obj, "version")? {
        None => Ok(SigVersion::V2),
        Some(v) => version_number(v, "version"),
    }
}

/// A signature version given as 1 or 2 (a number), or as `'v1'`/`'v2'` when
/// `names` allows it.
fn version_of(v: Unknown, name: &str, names: bool) -> Res<SigVersion> {
    match v.get_type()? {
        ValueType::Number => {
            let x = unsafe { v.cast::<f64>()? };
            if x == 1.0 {
                Ok(SigVersion::V1)
            } else if x == 2.0 {
                Ok(SigVersion::V2)
            } else {
                Err(bad_arg(name, format!("signature version must be 1 or 2, not {x}")).into())
            }
        }
        ValueType::String if names => {
            let s = text(v, name)?;
            match s.as_str() {
                "v1" => Ok(SigVersion::V1),
                "v2" => Ok(SigVersion::V2),
                _ => Err(bad_arg(name, format!("signature version must be 1, 2, 'v1' or 'v2', not {s:?}")).into()),
            }
        }
        t => Err(bad_arg(
            name,
            format!(
                "signature version must be {}, got {}",
                if names { "1, 2, 'v1' or 'v2'" } else { "1 or 2" },
                type_name(t)
            ),
        )
        .into()),
    }
}

pub(crate) fn version_number(v: Unknown, name: &str) -> Res<SigVersion> {
    version_of(v, name, false)
}

/// The signature policy of a `Verifier`: `{ versions, acceptEncodings }`.
/// `versions` lists 1, 2, `'v1'` or `'v2'` (at least one; default `['v2']`);
/// `acceptEncodings` the seed's v1 encodings (`'seed-python'`, `'seed-go'`;
/// default none). Unknown options are refused.
pub(crate) fn policy(v: Option<Unknown>) -> Res<SignaturePolicy> {
    let mut p = SignaturePolicy::default();
    let Some(v) = v else { return Ok(p) };
    if matches!(v.get_type()?, ValueType::Undefined | ValueType::Null) {
        return Ok(p);
    }
    let obj = record(v, "options")?;
    for key in Object::keys(&obj)? {
        if key != "versions" && key != "acceptEncodings" {
            return Err(bad_arg(key, "unknown option (`versions`, `acceptEncodings`)").into());
        }
    }
    if let Some(v) = prop(&obj, "versions")? {
        let items = batch(v, "versions")?;
        let mut versions = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let version = version_of(item, &format!("versions[{i}]"), true)?;
            if !versions.contains(&version) {
                versions.push(version);
            }
        }
        if versions.is_empty() {
            return Err(bad_arg("versions", "must list at least one version (1 or 2)").into());
        }
        versions.sort();
        p.versions = versions;
    }
    if let Some(v) = prop(&obj, "acceptEncodings")? {
        let items = batch(v, "acceptEncodings")?;
        let mut encodings = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let name = format!("acceptEncodings[{i}]");
            let text = text(item, &name)?;
            let e: LegacyEncoding = text.parse().map_err(|_| {
                Failure::from(bad_arg(
                    name,
                    format!("unknown encoding {text:?} ('seed-python', 'seed-go')"),
                ))
            })?;
            if !encodings.contains(&e) {
                encodings.push(e);
            }
        }
        encodings.sort();
        p.encodings = encodings;
    }
    Ok(p)
}
