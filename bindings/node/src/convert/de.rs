//! A serde `Deserializer` over JavaScript values, so that the core's own readers
//! (`Pcs::deserialize_from`, `BuildInput::deserialize_from`,
//! `VerifyParams::deserialize_from`) read records, builder inputs and
//! verification parameters straight from the objects JavaScript hands us: the
//! required fields, defaults and limits live in the core alone.
//!
//! Our own rather than napi's (`serde-json` feature, `Env::from_js_value`):
//! napi 3's reader is lenient where the wire is strict. It takes any double
//! within `f64::EPSILON` of an integer for that integer (1e-300 becomes 0, 1e300
//! saturates to `i64::MAX`), passes NaN and ±Infinity on, replaces a lone UTF-16
//! surrogate with U+FFFD, lists inherited enumerable keys, reads `undefined` as
//! `null`, reads a Date as an empty object and a Buffer as bytes, and recurses
//! into a cyclic object until the stack overflows. This one reads what
//! `JSON.stringify` would send, and refuses what it cannot send exactly:
//!
//! - a property holding `undefined` is absent; `null` is a value (which the
//!   core refuses for a record field: SPEC §1 omits, never nulls);
//! - an integer field takes an integral double or a BigInt within 64 bits;
//!   a float field a finite double; a value of an unknown field that is an
//!   integral double below 1e21 (JSON.stringify writes it as an integer literal)
//!   must be within ±(2^53−1), which JavaScript has not rounded;
//! - a string with a lone surrogate is refused (a field name with one is
//!   `invalid_json`, as in JSON text), never replaced;
//! - own enumerable string keys only, `Object.keys` order; at most 128 levels
//!   of nesting (serde_json's limit, so nothing deeper reaches the server);
//! - functions, symbols, dates, buffers, typed arrays and `undefined` inside an
//!   array are not JSON values.
//!
//! The reasons become the core's error text; the core names the field.

use std::cell::Cell;
use std::fmt;

use napi::bindgen_prelude::*;
use napi::{JsString, JsValue, KeyCollectionMode, KeyConversion, KeyFilter, ValueType};
use serde::de::value::{BorrowedStrDeserializer, MapAccessDeserializer};
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};

use crate::error::{Failure, Res};

const MAX_DEPTH: u32 = 128;
/// 2^63 and 2^64 as doubles: the first values beyond `i64` and `u64`.
const TWO_63: f64 = 9_223_372_036_854_775_808.0;
const TWO_64: f64 = 18_446_744_073_709_551_616.0;

/// Why a value cannot be read; its text is the reason the core's error gives.
#[derive(Debug)]
pub(crate) struct DeError(String);

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError(msg.to_string())
    }
}

type R<T> = std::result::Result<T, DeError>;

/// Failures that are not about a field's value: the engine's own (a getter
/// threw) and a field name no JSON text can hold. serde carries only text, so
/// they wait here, and [`read`] throws them instead of the core's error.
#[derive(Default)]
pub(crate) struct Aside(Cell<Option<Failure>>);

impl Aside {
    fn engine<T>(&self, r: napi::Result<T>) -> R<T> {
        r.map_err(|e| self.keep(Failure::Js(e), "the JavaScript engine failed"))
    }

    fn keep(&self, f: Failure, reason: &str) -> DeError {
        self.0.set(Some(f));
        DeError(reason.into())
    }
}

/// Runs one of the core's readers over an object; throws the core's error, or a
/// failure set [`Aside`].
pub(crate) fn read<'e, T>(obj: Object<'e>, f: impl FnOnce(De<'_, 'e>) -> fractal_core::Result<T>) -> Res<T> {
    let aside = Aside::default();
    let de = De { v: obj.to_unknown(), ty: ValueType::Object, depth: 0, aside: &aside };
    f(de).map_err(|e| aside.0.take().unwrap_or_else(|| e.into()))
}

/// One value read as `T` (an argument, say); `fail(reason)` builds the error.
pub(crate) fn value<T: de::DeserializeOwned>(v: Unknown, fail: impl FnOnce(String) -> fractal_core::Error) -> Res<T> {
    let aside = Aside::default();
    De::new(v, &aside).and_then(T::deserialize).map_err(|e| aside.0.take().unwrap_or_else(|| fail(e.0).into()))
}

pub(crate) fn type_name(t: ValueType) -> &'static str {
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

/// A JavaScript value being read (of type `ty`), `depth` levels below the argument.
#[derive(Clone, Copy)]
pub(crate) struct De<'a, 'e> {
    v: Unknown<'e>,
    ty: ValueType,
    depth: u32,
    aside: &'a Aside,
}

impl<'a, 'e> De<'a, 'e> {
    fn new(v: Unknown<'e>, aside: &'a Aside) -> R<Self> {
        Ok(De { v, ty: aside.engine(v.get_type())?, depth: 0, aside })
    }

    fn child(&self, v: Unknown<'e>, ty: ValueType) -> Self {
        De { v, ty, depth: self.depth + 1, aside: self.aside }
    }

    fn is_array(&self) -> R<bool> {
        Ok(self.ty == ValueType::Object && self.aside.engine(self.v.is_array())?)
    }

    fn wrong(&self, want: &str) -> DeError {
        let got = match self.is_array() {
            Err(e) => return e,
            Ok(true) => "an array",
            Ok(false) => type_name(self.ty),
        };
        DeError(format!("expected {want}, got {got}"))
    }

    /// Only the properties `names` (looked up by the first of `keys`), as one
    /// map: the core reads a view of the object, not the whole of it.
    pub(crate) fn only(
        self,
        obj: Object<'e>,
        keys: &'a KeyList<'e>,
        names: &'static [&'static str],
    ) -> MapAccessDeserializer<Props<'a, 'e>> {
        MapAccessDeserializer::new(Props { de: self, obj, keys: Keys::Named(keys, names), i: 0, value: None })
    }

    fn string(&self) -> R<String> {
        if self.ty != ValueType::String {
            return Err(self.wrong("a string"));
        }
        let s = self.aside.engine(utf8(self.v))?;
        // Node replaces a lone surrogate with U+FFFD when it encodes UTF-8; only
        // then is the (slower) UTF-16 check needed to tell it from a real U+FFFD.
        if s.contains('\u{FFFD}') {
            let units = self.aside.engine(unsafe { self.v.cast::<JsString>() }.and_then(|js| js.into_utf16()))?;
            if char::decode_utf16(units.as_slice().iter().copied()).any(|c| c.is_err()) {
                return Err(DeError("contains a lone UTF-16 surrogate".into()));
            }
        }
        Ok(s)
    }

    /// A finite double: NaN and ±Infinity are not JSON (JSON.stringify would send `null`).
    fn number(&self) -> R<f64> {
        if self.ty != ValueType::Number {
            return Err(self.wrong("a number"));
        }
        let x = self.aside.engine(unsafe { self.v.cast::<f64>() })?;
        if !x.is_finite() {
            return Err(DeError(format!("must be a finite number (JSON has no {x})")));
        }
        Ok(x)
    }

    /// An integral double or a BigInt that fits 64 bits (signed or not).
    fn integer<'de, V: Visitor<'de>>(self, visitor: V) -> R<V::Value> {
        let too_big = || DeError("does not fit a 64-bit integer".into());
        match self.ty {
            ValueType::Number => {
                let x = self.aside.engine(unsafe { self.v.cast::<f64>() })?;
                if !x.is_finite() || x.fract() != 0.0 {
                    Err(DeError(format!("expected an integer, got {x}")))
                } else if !(-TWO_63..TWO_64).contains(&x) {
                    Err(too_big())
                } else if x < 0.0 {
                    visitor.visit_i64(x as i64)
                } else {
                    visitor.visit_u64(x as u64)
                }
            }
            ValueType::BigInt => {
                let b = self.aside.engine(unsafe { self.v.cast::<BigInt>() })?;
                match (b.get_i64(), b.get_u64()) {
                    ((x, true), _) => visitor.visit_i64(x),
                    (_, (false, u, true)) => visitor.visit_u64(u),
                    _ => Err(too_big()),
                }
            }
            _ => Err(self.wrong("an integer")),
        }
    }

    fn object(self) -> R<Props<'a, 'e>> {
        if self.ty != ValueType::Object || self.is_array()? {
            return Err(self.wrong("an object"));
        }
        let obj: Object = self.aside.engine(unsafe { self.v.cast() })?;
        let names = self.aside.engine(obj.get_all_property_names(
            KeyCollectionMode::OwnOnly,
            KeyFilter::Enumerable,
            KeyConversion::NumbersToStrings,
        ))?;
        let len = self.aside.engine(names.get_array_length())?;
        Ok(Props { de: self, obj, keys: Keys::Own(names, len), i: 0, value: None })
    }
}

/// The UTF-8 of a JavaScript string. Strings that fit a stack buffer (record
/// fields nearly always do) take one engine call instead of two and one
/// allocation; longer ones take napi-rs's general path.
fn utf8(v: Unknown) -> napi::Result<String> {
    let mut buf = [0u8; 256];
    let mut written = 0usize;
    let status = unsafe {
        napi::sys::napi_get_value_string_utf8(v.value().env, v.raw(), buf.as_mut_ptr().cast(), buf.len(), &mut written)
    };
    if status != napi::sys::Status::napi_ok {
        return Err(napi::Error::new(Status::from(status), "cannot read a string"));
    }
    // Node writes at most len − 1 bytes and never splits a character, so with
    // 4 bytes (the longest UTF-8 character) to spare nothing was cut off.
    if written + 4 < buf.len() {
        return String::from_utf8(buf[..written].to_vec())
            .map_err(|_| napi::Error::new(Status::StringExpected, "the engine returned invalid UTF-8"));
    }
    unsafe { v.cast::<JsString>() }?.into_utf8()?.into_owned()
}

impl<'de> de::Deserializer<'de> for De<'_, '_> {
    type Error = DeError;

    /// A value of an unknown field, as JSON.
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> R<V::Value> {
        if self.depth > MAX_DEPTH {
            return Err(DeError(format!("nests deeper than {MAX_DEPTH} levels (or is cyclic)")));
        }
        match self.ty {
            ValueType::Null => visitor.visit_unit(),
            ValueType::Boolean => self.deserialize_bool(visitor),
            ValueType::String => visitor.visit_string(self.string()?),
            ValueType::BigInt => self.integer(visitor),
            ValueType::Number => {
                let x = self.number()?;
                // JSON.stringify writes an integral double below 1e21 as an
                // integer literal (−0 as `0`), which the server reads as an
                // integer: one beyond ±(2^53−1) is refused by v2 there, and here
                // JavaScript has already rounded it. From 1e21 on it writes an
                // exponent, a double.
                if x.fract() != 0.0 || x.abs() >= 1e21 {
                    visitor.visit_f64(x)
                } else if x.abs() > fractal_core::MAX_SAFE_INTEGER as f64 {
                    Err(DeError(
                        "integer beyond ±(2^53-1) is not exact as a JavaScript number and cannot be signed with v2"
                            .into(),
                    ))
                } else {
                    visitor.visit_i64(x as i64)
                }
            }
            ValueType::Object => {
                if self.is_array()? {
                    return self.deserialize_seq(visitor);
                }
                let v = self.v;
                let e = |r| self.aside.engine(r);
                if e(v.is_date())?
                    || e(v.is_typedarray())?
                    || e(v.is_arraybuffer())?
                    || e(v.is_dataview())?
                    || e(v.is_promise())?
                {
                    return Err(DeError(
                        "expected a JSON value (a plain object, array, string, number, boolean or null)".into(),
                    ));
                }
                self.deserialize_map(visitor)
            }
            t => Err(DeError(format!("{} is not a JSON value", type_name(t)))),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> R<V::Value> {
        if self.ty != ValueType::Boolean {
            return Err(self.wrong("a boolean"));
        }
        visitor.visit_bool(self.aside.engine(unsafe { self.v.cast::<bool>() })?)
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> R<V::Value> {
        self.integer(visitor)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> R<V::Value> {
        self.integer(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> R<V::Value> {
        visitor.visit_f64(self.number()?)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> R<V::Value> {
        visitor.visit_string(self.string()?)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> R<V::Value> {
        self.deserialize_string(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> R<V::Value> {
        match self.ty {
            ValueType::Undefined | ValueType::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> R<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> R<V::Value> {
        if !self.is_array()? {
            return Err(self.wrong("an array"));
        }
        let arr: Object = self.aside.engine(unsafe { self.v.cast() })?;
        let len = self.aside.engine(arr.get_array_length())?;
        visitor.visit_seq(Items { de: self, arr, i: 0, len })
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> R<V::Value> {
        visitor.visit_map(self.object()?)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> R<V::Value> {
        self.deserialize_map(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> R<V::Value> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i128 u8 u16 u32 u128 f32 char bytes byte_buf unit unit_struct tuple tuple_struct enum identifier
    }
}

struct Items<'a, 'e> {
    de: De<'a, 'e>,
    arr: Object<'e>,
    i: u32,
    len: u32,
}

impl<'de> SeqAccess<'de> for Items<'_, '_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> R<Option<T::Value>> {
        if self.i >= self.len {
            return Ok(None);
        }
        let v = self.de.aside.engine(self.arr.get_element::<Unknown>(self.i))?;
        self.i += 1;
        seed.deserialize(self.de.child(v, self.de.aside.engine(v.get_type())?)).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some((self.len - self.i) as usize)
    }
}

#[derive(Clone, Copy)]
pub(crate) enum Keys<'a, 'e> {
    /// `Object.keys` of the object (symbols, which it also lists here, skipped).
    Own(Object<'e>, u32),
    /// Given property keys, with their names.
    Named(&'a KeyList<'e>, &'static [&'static str]),
}

/// Property keys to look up by: C strings (the engine makes each a property
/// key, the fastest for one object) or JavaScript strings made once for a batch.
pub(crate) enum KeyList<'e> {
    C(&'static [std::ffi::CString]),
    Js(Vec<JsString<'e>>),
}

impl<'e> KeyList<'e> {
    pub(crate) fn get(&self, obj: &Object<'e>, i: usize) -> napi::Result<Unknown<'e>> {
        match self {
            KeyList::C(k) => obj.get_c_named_property_unchecked(&k[i]),
            KeyList::Js(k) => obj.get_property_unchecked(k[i]),
        }
    }
}

/// The properties of an object as a map. A property holding `undefined` is
/// absent, as JSON.stringify leaves it out.
#[derive(Clone, Copy)]
pub(crate) struct Props<'a, 'e> {
    de: De<'a, 'e>,
    obj: Object<'e>,
    keys: Keys<'a, 'e>,
    i: u32,
    value: Option<(Unknown<'e>, ValueType)>,
}

impl<'de> MapAccess<'de> for Props<'_, '_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> R<Option<K::Value>> {
        let aside = self.de.aside;
        loop {
            let i = self.i;
            self.i += 1;
            let (v, key, name): (Unknown, _, _) = match self.keys {
                Keys::Own(names, len) if i < len => {
                    let key: Unknown = aside.engine(names.get_element(i))?;
                    if aside.engine(key.get_type())? != ValueType::String {
                        continue; // a symbol
                    }
                    (aside.engine(self.obj.get_property_unchecked(key))?, Some(key), None)
                }
                Keys::Named(keys, names) if (i as usize) < names.len() => {
                    (aside.engine(keys.get(&self.obj, i as usize))?, None, Some(names[i as usize]))
                }
                _ => return Ok(None),
            };
            let ty = aside.engine(v.get_type())?;
            if ty == ValueType::Undefined {
                continue;
            }
            self.value = Some((v, ty));
            if let Some(name) = name {
                return seed.deserialize(BorrowedStrDeserializer::new(name)).map(Some);
            }
            let Some(key) = key else { return Ok(None) };
            let name = self.de.child(key, ValueType::String).string().map_err(|e| match aside.0.take() {
                Some(f) => aside.keep(f, &e.0),
                None => aside.keep(
                    fractal_core::Error::InvalidJson { reason: format!("a field name {e}") }.into(),
                    "invalid field name",
                ),
            })?;
            return seed.deserialize(name.into_deserializer()).map(Some);
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> R<V::Value> {
        let (v, ty) = self.value.take().ok_or_else(|| DeError("a value asked for before its key".into()))?;
        seed.deserialize(self.de.child(v, ty))
    }
}
