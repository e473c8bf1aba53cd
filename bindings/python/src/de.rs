//! A serde `Deserializer` over a Python object: the core reads records, builder
//! inputs and verification parameters itself (`Pcs::deserialize_from`,
//! `BuildInput::deserialize_from`, `VerifyParams::deserialize_from`), so their
//! required fields, defaults and limits live there and nowhere here.
//!
//! Why our own and not `pythonize`: a Python object stands here for the JSON value
//! it would be sent as, and pythonize is looser than JSON. Its typed reads
//! (`deserialize_i64`, `deserialize_f64`, …) are pyo3's `extract`, which takes
//! `True` for an integer and an `int` or `True` for a float; a `set` or `bytes` is
//! a sequence to it, NaN and Infinity pass, and nothing bounds the nesting (a list
//! that contains itself overflows the stack). A wrapper refusing all that would be
//! as long as this file, which is a plain `deserialize_any` over the JSON types;
//! and a record `dict` is read here by interned key lookups, which pythonize's
//! key-by-key walk cannot do (see below). The strictness follows from handing
//! serde's visitors exactly what JSON would:
//!
//! - `bool` is not an integer and an integral `float` (`1.0`) is not one either
//!   (serde's integer visitors take neither); integers must fit 64 bits, then
//!   their field (the core's types check the range);
//! - numbers must be finite (JSON cannot carry NaN or Infinity);
//! - a `str` with a lone surrogate cannot be UTF-8 and is refused; `dict` keys
//!   must be `str`; `list` and `tuple` are arrays; other types are not JSON;
//! - values nest at most 128 levels (serde_json's own limit), so a cycle is
//!   refused instead of recursed into;
//! - in the record's own `dict`, a field of SPEC §1 whose value is `None` is
//!   absent (the record is sent without it); an unknown one stays a JSON `null`.
//!
//! A record `dict` is handed to the core as a map whose first keys are the fields
//! of SPEC §1, looked up by interned name and given as `&'static str` (no copy),
//! then, only when the dict holds more, its other keys: that keeps the speed of
//! the hand reader this replaced (v2 signing reads every record whole).

use std::fmt::Display;

use fractal_core::KNOWN_FIELDS;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::iter::BoundDictIterator;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};

use crate::convert::type_name;
use crate::signed::{LONE_SURROGATE, utf8};

/// How deep a value may nest (serde_json's own limit).
const MAX_DEPTH: usize = 128;

/// A failure, reported by the core with the path serde tracked.
#[derive(Debug)]
pub(crate) struct DeError(pub(crate) String);

impl Display for DeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: Display>(msg: T) -> Self {
        DeError(msg.to_string())
    }
}

fn fail<T>(msg: impl Into<String>) -> Result<T, DeError> {
    Err(DeError(msg.into()))
}

/// A Python value as the JSON value it stands for.
#[derive(Clone, Copy)]
pub(crate) struct Host<'a, 'py> {
    obj: &'a Bound<'py, PyAny>,
    depth: usize,
    /// The record's own dict: a field of SPEC §1 set to `None` is absent.
    record: bool,
}

impl<'a, 'py> Host<'a, 'py> {
    /// Any value.
    pub(crate) fn new(obj: &'a Bound<'py, PyAny>) -> Self {
        Host { obj, depth: 0, record: false }
    }

    /// A record `dict`.
    pub(crate) fn record(obj: &'a Bound<'py, PyAny>) -> Self {
        Host { obj, depth: 0, record: true }
    }
}

impl<'de> de::Deserializer<'de> for Host<'_, '_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.visit(kind(self.obj), v)
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        if self.obj.is_none() { v.visit_none() } else { v.visit_some(self) }
    }

    /// A number: an integer too large for 64 bits is still a binary64.
    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        let (o, k) = (self.obj, kind(self.obj));
        if matches!(k, Kind::Int) && o.extract::<i64>().is_err() {
            return match o.extract::<f64>() {
                Ok(x) => v.visit_f64(x),
                Err(_) => fail("integer is too large for a binary64 number"),
            };
        }
        self.visit(k, v)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, v: V) -> Result<V::Value, DeError> {
        v.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 char str string bytes byte_buf unit unit_struct
        seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

impl Host<'_, '_> {
    /// Hands `v` the value as the JSON type `k` (`kind(self.obj)`).
    fn visit<'de, V: Visitor<'de>>(self, k: Kind, v: V) -> Result<V::Value, DeError> {
        let o = self.obj;
        // SAFETY (each `cast_unchecked`): `kind` checked the type.
        match k {
            Kind::Float => {
                let x = unsafe { o.cast_unchecked::<PyFloat>() }.value();
                if x.is_finite() {
                    v.visit_f64(x)
                } else {
                    fail("must be a finite number (JSON cannot carry NaN or Infinity)")
                }
            }
            Kind::Str => match utf8(unsafe { o.cast_unchecked::<PyString>() }.clone()) {
                Some(t) => v.visit_str(t.as_str()),
                None => fail(LONE_SURROGATE),
            },
            Kind::Bool => v.visit_bool(unsafe { o.cast_unchecked::<PyBool>() }.is_true()),
            Kind::Int => match o.extract::<i64>() {
                Ok(i) => v.visit_i64(i),
                Err(_) => match o.extract::<u64>() {
                    Ok(u) => v.visit_u64(u),
                    Err(_) => fail("integer does not fit in 64 bits"),
                },
            },
            Kind::None => v.visit_unit(),
            _ if self.depth >= MAX_DEPTH => fail(format!("nests deeper than {MAX_DEPTH} levels (or contains itself)")),
            Kind::List => {
                v.visit_seq(Seq { it: unsafe { o.cast_unchecked::<PyList>() }.iter(), depth: self.depth + 1 })
            }
            Kind::Tuple => {
                v.visit_seq(Seq { it: unsafe { o.cast_unchecked::<PyTuple>() }.iter(), depth: self.depth + 1 })
            }
            Kind::Dict => {
                let (d, depth, record) = (unsafe { o.cast_unchecked::<PyDict>() }, self.depth + 1, self.record);
                let known = if record { 0 } else { KNOWN_FIELDS.len() };
                v.visit_map(Map { d, record, known, seen: 0, rest: None, value: None, depth })
            }
            Kind::Other => {
                fail(format!("{} is not a JSON value (None, bool, int, float, str, list or dict)", type_name(o)))
            }
        }
    }
}

/// The JSON type a Python value stands for.
enum Kind {
    Float,
    Str,
    Bool,
    Int,
    None,
    List,
    Tuple,
    Dict,
    Other,
}

fn kind(o: &Bound<'_, PyAny>) -> Kind {
    // The exact types first: a pointer comparison each, where a subclass check
    // walks the type's bases (most values are exactly float, str or int).
    if o.is_exact_instance_of::<PyFloat>() {
        Kind::Float
    } else if o.is_exact_instance_of::<PyString>() {
        Kind::Str
    } else if o.is_exact_instance_of::<PyInt>() {
        Kind::Int
    } else if o.is_none() {
        Kind::None
    } else if o.is_exact_instance_of::<PyList>() {
        Kind::List
    } else if o.is_exact_instance_of::<PyDict>() {
        Kind::Dict
    } else if o.is_instance_of::<PyBool>() {
        Kind::Bool
    } else if o.is_instance_of::<PyFloat>() {
        Kind::Float
    } else if o.is_instance_of::<PyString>() {
        Kind::Str
    } else if o.is_instance_of::<PyInt>() {
        Kind::Int
    } else if o.is_instance_of::<PyList>() {
        Kind::List
    } else if o.is_instance_of::<PyTuple>() {
        Kind::Tuple
    } else if o.is_instance_of::<PyDict>() {
        Kind::Dict
    } else {
        Kind::Other
    }
}

struct Seq<I> {
    it: I,
    depth: usize,
}

impl<'de, 'py, I: ExactSizeIterator<Item = Bound<'py, PyAny>>> SeqAccess<'de> for Seq<I> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DeError> {
        match self.it.next() {
            Some(x) => seed.deserialize(Host { obj: &x, depth: self.depth, record: false }).map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.it.len())
    }
}

/// The names of SPEC §1's fields as interned `str`s, in `KNOWN_FIELDS` order.
static NAMES: PyOnceLock<Vec<Py<PyString>>> = PyOnceLock::new();

struct Map<'a, 'py> {
    d: &'a Bound<'py, PyDict>,
    record: bool,
    /// The next field of SPEC §1 to look up (a record); `KNOWN_FIELDS.len()` otherwise.
    known: usize,
    /// How many of those the dict holds, `None` included.
    seen: usize,
    /// The other keys of a record, or all keys of any other dict.
    rest: Option<BoundDictIterator<'py>>,
    value: Option<Bound<'py, PyAny>>,
    depth: usize,
}

impl<'de> MapAccess<'de> for Map<'_, '_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DeError> {
        let py = self.d.py();
        let names = NAMES.get_or_init(py, || KNOWN_FIELDS.iter().map(|k| PyString::intern(py, k).unbind()).collect());
        while self.known < KNOWN_FIELDS.len() {
            let i = self.known;
            self.known += 1;
            match self.d.get_item(names[i].bind(py)) {
                Ok(Some(v)) => {
                    self.seen += 1;
                    if !v.is_none() {
                        self.value = Some(v);
                        return seed.deserialize(BorrowedStrDeserializer::new(KNOWN_FIELDS[i])).map(Some);
                    }
                }
                Ok(None) => {}
                Err(e) => return fail(format!("could not be read: {e}")),
            }
        }
        if self.rest.is_none() && self.seen == self.d.len() {
            return Ok(None);
        }
        for (k, v) in self.rest.get_or_insert_with(|| self.d.iter()) {
            let Ok(s) = k.cast::<PyString>() else {
                return fail(format!("has a key of type {}: JSON object keys are str", type_name(&k)));
            };
            let Some(key) = utf8(s.clone()) else {
                return fail(format!("has a key that {LONE_SURROGATE}"));
            };
            if self.record && KNOWN_FIELDS.contains(&key.as_str()) {
                continue;
            }
            self.value = Some(v);
            return seed.deserialize(IntoDeserializer::<DeError>::into_deserializer(key.as_str())).map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        match self.value.take() {
            Some(v) => seed.deserialize(Host { obj: &v, depth: self.depth, record: false }),
            None => fail("a value was read before its key"),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.d.len())
    }
}
