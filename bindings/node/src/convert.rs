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

mod options;
mod record;
mod to_js;

pub(crate) use options::*;
pub(crate) use record::*;
pub(crate) use to_js::*;

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
