//! JavaScript values ⇄ the core's types. Records, builder inputs and
//! verification parameters are read by the core itself, through the serde
//! deserializer of `de.rs` (which says how JavaScript values map to JSON);
//! this file reads the other arguments.

use fractal_core::{
    BuildInput, LegacyEncoding, MAX_EPOCH, Pcs, SIGNED_FIELDS, SigVersion, SignedRecord, SignaturePolicy, VerifyParams,
};
use napi::bindgen_prelude::*;
use napi::{Env, JsValue, ValueType};

use crate::error::{Failure, Res, bad_arg, bad_field};

mod de;
mod options;
mod record;
mod to_js;

pub(crate) use de::value;
use de::{KeyList, type_name};
pub(crate) use options::*;
pub(crate) use record::*;
pub(crate) use to_js::*;

/// A property, or `None` when it is `undefined` or `null`.
pub(crate) fn prop<'e>(obj: &Object<'e>, name: &str) -> Res<Option<Unknown<'e>>> {
    let v: Unknown = obj.get_named_property_unchecked(name)?;
    match v.get_type()? {
        ValueType::Undefined | ValueType::Null => Ok(None),
        _ => Ok(Some(v)),
    }
}

/// A string field given alone (`pcsId`'s arguments); a lone UTF-16 surrogate is
/// malformed (SPEC §1), never replaced.
pub(crate) fn string(v: Unknown, field: &str) -> Res<String> {
    de::value(v, |reason| bad_field(field, reason))
}

pub(crate) fn boolean(v: Unknown, field: &str) -> Res<bool> {
    de::value(v, |reason| bad_field(field, reason))
}

/// A signed 64-bit integer from an integral double or a BigInt.
pub(crate) fn int64(v: Unknown, field: &str) -> Res<i64> {
    de::value(v, |reason| bad_field(field, reason))
}

/// An epoch given alone: an integer in 0 ..= 2^53 − 1.
pub(crate) fn epoch(v: Unknown, field: &str) -> Res<u64> {
    match int64(v, field)? {
        x if x >= 0 && x as u64 <= MAX_EPOCH => Ok(x as u64),
        _ => Err(bad_field(field, "must be an integer between 0 and 2^53-1 (9007199254740991)").into()),
    }
}

/// A record-like argument: a plain object.
pub(crate) fn record<'e>(v: Unknown<'e>, name: &str) -> Res<Object<'e>> {
    let t = v.get_type()?;
    if t != ValueType::Object || v.is_array()? {
        let got = if t == ValueType::Object { "an array" } else { type_name(t) };
        return Err(bad_arg(name, format!("expected an object, got {got}")).into());
    }
    Ok(unsafe { v.cast()? })
}

/// The elements of a batch argument (`records`, `keys`): a wrong type is an
/// argument error, not a record-field error.
pub(crate) fn batch<'e>(v: Unknown<'e>, name: &str) -> Res<Vec<Unknown<'e>>> {
    if v.get_type()? != ValueType::Object || !v.is_array()? {
        return Err(bad_arg(name, format!("expected an array, got {}", type_name(v.get_type()?))).into());
    }
    let arr: Object = unsafe { v.cast()? };
    let n = arr.get_array_length()?;
    (0..n).map(|i| Ok(arr.get_element::<Unknown>(i)?)).collect()
}

/// Bytes of a key or ring key: a string (its UTF-8 bytes) or a Buffer/Uint8Array.
pub(crate) fn bytes(v: Unknown, name: &str) -> Res<Vec<u8>> {
    match v.get_type()? {
        ValueType::String => Ok(text(v, name)?.into_bytes()),
        // A Buffer is a Uint8Array; other typed arrays are refused (their bytes
        // depend on the platform's endianness), which the cast checks.
        ValueType::Object if v.is_typedarray()? => {
            let arr = unsafe { v.cast::<Uint8ArraySlice>() }
                .map_err(|_| bad_arg(name, "expected a string, Buffer or Uint8Array, got another typed array"))?;
            Ok(arr.to_vec())
        }
        t => Err(bad_arg(name, format!("expected a string, Buffer or Uint8Array, got {}", type_name(t))).into()),
    }
}

/// A text argument (an Ed25519 key in base64, a shard name).
pub(crate) fn text(v: Unknown, name: &str) -> Res<String> {
    de::value(v, |reason| bad_arg(name, reason))
}
