//! Plain Python values ↔ core types.
//!
//! Records cross the boundary as `dict`s. Converting one is the hot path of every
//! single-record call, so the dict is read field by field with interned keys
//! (no intermediate JSON value), with the strictness of the core's JSON parser:
//!
//! - `bool` is not an integer, and an integral `float` (`1.0`) is not an integer;
//! - integers must fit their field (`epoch` at most 2^53−1);
//! - numbers must be finite (JSON cannot carry NaN or Infinity);
//! - a `str` with a lone surrogate cannot be UTF-8 and is rejected;
//! - a missing (or `None`) required field is named; unknown keys are kept as JSON
//!   values (`Pcs::extra`: v2 signs them) and must be JSON values themselves.
//!
//! Every failure is a core `Error::InvalidField` naming the field with the same
//! path syntax as the core's parser (`scales[2]`, `N_j.8`, `ft.outbox_seq`).

use std::collections::BTreeMap;

use fractal_core::{
    Error, FaultTolerance, MAX_EPOCH, Move, Omitted, Pcs, RingStats, ShardSpec, SigVersion,
    VerifyResult,
};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple,
};
use serde_json::Value;

mod to_py;
pub(crate) use to_py::*;

pub(crate) type CoreResult<T> = Result<T, Error>;

pub(crate) fn bad(field: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::InvalidField {
        field: field.into(),
        reason: reason.into(),
    }
}

pub(crate) fn type_name(obj: &Bound<'_, PyAny>) -> String {
    match obj.get_type().name() {
        Ok(n) => n.to_string(),
        Err(_) => "object".to_string(),
    }
}

pub(crate) fn wrong_type(expected: &str, obj: &Bound<'_, PyAny>) -> String {
    format!("expected {expected}, got {}", type_name(obj))
}

/// A `str` as UTF-8. Lone surrogates are rejected.
pub(crate) fn string(obj: &Bound<'_, PyAny>, field: impl Fn() -> String) -> CoreResult<String> {
    let s = obj
        .cast::<PyString>()
        .map_err(|_| bad(field(), wrong_type("a string", obj)))?;
    match s.to_cow() {
        Ok(c) => Ok(c.into_owned()),
        Err(_) => Err(bad(
            field(),
            "is not valid Unicode (it contains a lone surrogate)",
        )),
    }
}

fn is_int(obj: &Bound<'_, PyAny>) -> bool {
    obj.is_instance_of::<PyInt>() && !obj.is_instance_of::<PyBool>()
}

/// An `int` (not `bool`, not `float`) that fits a signed 64-bit integer.
pub(crate) fn int64(obj: &Bound<'_, PyAny>, field: impl Fn() -> String) -> CoreResult<i64> {
    if !is_int(obj) {
        return Err(bad(field(), wrong_type("an integer", obj)));
    }
    obj.extract::<i64>()
        .map_err(|_| bad(field(), "integer does not fit in a signed 64-bit integer"))
}

/// An `int` in `0 ..= u32::MAX`.
pub(crate) fn uint32(obj: &Bound<'_, PyAny>, field: impl Fn() -> String) -> CoreResult<u32> {
    if !is_int(obj) {
        return Err(bad(field(), wrong_type("an integer", obj)));
    }
    obj.extract::<u32>()
        .map_err(|_| bad(field(), "must be an integer between 0 and 4294967295"))
}

/// A record epoch: an `int` in `0 ..= 2^53−1`.
pub(crate) fn epoch(obj: &Bound<'_, PyAny>) -> CoreResult<u64> {
    if !is_int(obj) {
        return Err(bad("epoch", wrong_type("an integer", obj)));
    }
    match obj.extract::<u64>() {
        Ok(v) if v <= MAX_EPOCH => Ok(v),
        Ok(_) => Err(bad("epoch", "must be at most 2^53-1 (9007199254740991)")),
        Err(_) => Err(bad(
            "epoch",
            "must be an integer between 0 and 2^53-1 (9007199254740991)",
        )),
    }
}

/// A finite number: a `float`, or an `int` (not `bool`) converted to binary64.
pub(crate) fn number(obj: &Bound<'_, PyAny>, field: impl Fn() -> String) -> CoreResult<f64> {
    let v = if let Ok(f) = obj.cast::<PyFloat>() {
        f.value()
    } else if is_int(obj) {
        obj.extract::<f64>()
            .map_err(|_| bad(field(), "integer is too large for a binary64 number"))?
    } else {
        return Err(bad(field(), wrong_type("a number", obj)));
    };
    if v.is_finite() {
        Ok(v)
    } else {
        Err(bad(
            field(),
            "must be a finite number (JSON cannot carry NaN or Infinity)",
        ))
    }
}

/// A `bool`.
pub(crate) fn boolean(obj: &Bound<'_, PyAny>, field: impl Fn() -> String) -> CoreResult<bool> {
    match obj.cast::<PyBool>() {
        Ok(b) => Ok(b.is_true()),
        Err(_) => Err(bad(field(), wrong_type("a bool", obj))),
    }
}

/// Calls `f(index, item)` for each item of a `list` or `tuple`.
pub(crate) fn each_item<'py>(
    obj: &Bound<'py, PyAny>,
    field: &str,
    mut f: impl FnMut(usize, Bound<'py, PyAny>) -> CoreResult<()>,
) -> CoreResult<usize> {
    if let Ok(list) = obj.cast::<PyList>() {
        for (i, item) in list.iter().enumerate() {
            f(i, item)?;
        }
        Ok(list.len())
    } else if let Ok(tuple) = obj.cast::<PyTuple>() {
        for (i, item) in tuple.iter().enumerate() {
            f(i, item)?;
        }
        Ok(tuple.len())
    } else {
        Err(bad(field, wrong_type("a list", obj)))
    }
}

fn seq_len(obj: &Bound<'_, PyAny>) -> usize {
    obj.len().unwrap_or(0)
}

fn int_list(obj: &Bound<'_, PyAny>, field: &str) -> CoreResult<Vec<i64>> {
    let mut out = Vec::with_capacity(seq_len(obj));
    each_item(obj, field, |i, x| {
        out.push(int64(&x, || format!("{field}[{i}]"))?);
        Ok(())
    })?;
    Ok(out)
}

fn number_list(obj: &Bound<'_, PyAny>, field: &str) -> CoreResult<Vec<f64>> {
    let mut out = Vec::with_capacity(seq_len(obj));
    each_item(obj, field, |i, x| {
        out.push(number(&x, || format!("{field}[{i}]"))?);
        Ok(())
    })?;
    Ok(out)
}

fn string_list(obj: &Bound<'_, PyAny>, field: &str) -> CoreResult<Vec<String>> {
    let mut out = Vec::with_capacity(seq_len(obj));
    each_item(obj, field, |i, x| {
        out.push(string(&x, || format!("{field}[{i}]"))?);
        Ok(())
    })?;
    Ok(out)
}

fn as_dict<'a, 'py>(obj: &'a Bound<'py, PyAny>, field: &str) -> CoreResult<&'a Bound<'py, PyDict>> {
    obj.cast::<PyDict>()
        .map_err(|_| bad(field, wrong_type("a dict", obj)))
}

/// `N_j`: a `dict` of `str` keys to integers.
pub(crate) fn counts(obj: &Bound<'_, PyAny>, field: &str) -> CoreResult<BTreeMap<String, i64>> {
    let d = as_dict(obj, field)?;
    let mut out = BTreeMap::new();
    for (k, v) in d.iter() {
        let key = string(&k, || format!("{field} (a key)"))?;
        let value = int64(&v, || format!("{field}.{key}"))?;
        out.insert(key, value);
    }
    Ok(out)
}

/// `ft`: optional fault-tolerance metadata; unknown keys are ignored.
pub(crate) fn fault_tolerance(obj: &Bound<'_, PyAny>, field: &str) -> CoreResult<FaultTolerance> {
    let py = obj.py();
    let d = as_dict(obj, field)?;
    let path = |name: &str| format!("{field}.{name}");
    Ok(FaultTolerance {
        outbox_seq: get(d, intern!(py, "outbox_seq"))?
            .map(|v| int64(&v, || path("outbox_seq")))
            .transpose()?,
        degraded: get(d, intern!(py, "degraded"))?
            .map(|v| boolean(&v, || path("degraded")))
            .transpose()?,
        fallbacks: get(d, intern!(py, "fallbacks"))?
            .map(|v| string_list(&v, &path("fallbacks")))
            .transpose()?,
        clock_skew_ms: get(d, intern!(py, "clock_skew_ms"))?
            .map(|v| int64(&v, || path("clock_skew_ms")))
            .transpose()?,
    })
}

/// The value under `key`, with `None` treated as absent (like JSON `null`).
fn get<'py>(
    d: &Bound<'py, PyDict>,
    key: &Bound<'py, PyString>,
) -> CoreResult<Option<Bound<'py, PyAny>>> {
    match d.get_item(key) {
        Ok(Some(v)) if !v.is_none() => Ok(Some(v)),
        Ok(_) => Ok(None),
        Err(e) => Err(bad(key.to_string(), format!("could not be read: {e}"))),
    }
}

/// How deep a value of an unknown field may nest (serde_json's own limit): a
/// deeper one, or a list that contains itself, is refused instead of recursing.
const MAX_DEPTH: usize = 128;

/// A record `dict` → core [`Pcs`], as strictly as `Pcs::from_json`: the same
/// required fields and limits (SPEC §1). Unknown keys are kept in `extra` as JSON
/// values and absent optional fields are recorded in `omitted`, so that the v2
/// payload of the result is that of the record as it will be sent. A key whose
/// value is `None` counts as absent (the record is sent without it).
pub(crate) fn pcs_from_py<'py>(obj: &Bound<'py, PyAny>) -> CoreResult<Pcs> {
    let py = obj.py();
    let d = obj.cast::<PyDict>().map_err(|_| Error::InvalidJson {
        reason: format!("expected a dict (a JSON object), got {}", type_name(obj)),
    })?;
    // Known keys present (even as None): when the dict holds more, it has unknown ones.
    let mut known = 0usize;
    let mut lookup = |key: &Bound<'py, PyString>| -> CoreResult<Option<Bound<'py, PyAny>>> {
        match d.get_item(key) {
            Ok(Some(v)) => {
                known += 1;
                Ok((!v.is_none()).then_some(v))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(bad(key.to_string(), format!("could not be read: {e}"))),
        }
    };
    macro_rules! opt {
        ($name:literal, $conv:expr) => {
            lookup(intern!(py, $name))?
                .map(|v| $conv(&v, $name))
                .transpose()?
        };
    }
    macro_rules! req {
        ($name:literal, $conv:expr) => {
            match lookup(intern!(py, $name))? {
                Some(v) => $conv(&v, $name)?,
                None => return Err(bad($name, "required field is missing")),
            }
        };
    }
    let str_field = |v: &Bound<'_, PyAny>, name: &'static str| string(v, || name.to_string());
    let int_field = |v: &Bound<'_, PyAny>, name: &'static str| int64(v, || name.to_string());
    let num_field = |v: &Bound<'_, PyAny>, name: &'static str| number(v, || name.to_string());
    let epoch_field = |v: &Bound<'_, PyAny>, _: &'static str| epoch(v);

    let epoch = req!("epoch", epoch_field);
    let pcs_id = req!("pcs_id", str_field);
    let schema = req!("schema", str_field);
    let version = req!("version", str_field);
    let shard_id = req!("shard_id", str_field);
    let merkle_root = req!("merkle_root", str_field);
    let attempt = opt!("attempt", int_field);
    let seed = opt!("seed", int_field);
    let scales = opt!("scales", int_list);
    let n_j = opt!("N_j", counts);
    let v_star = opt!("v_star", number_list);
    let regime = opt!("regime", str_field);
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
        sent_at: opt!("sent_at", str_field),
        seed: seed.unwrap_or(0),
        scales: scales.unwrap_or_default(),
        n_j: n_j.unwrap_or_default(),
        coh_star: req!("coh_star", num_field),
        v_star: v_star.unwrap_or_default(),
        d_hat: req!("D_hat", num_field),
        r: req!("r", num_field),
        regime: regime.unwrap_or_default(),
        budget: req!("budget", num_field),
        merkle_root,
        sig: opt!("sig", str_field),
        ft: opt!("ft", fault_tolerance),
        extra: if d.len() > known {
            unknown_fields(d)?
        } else {
            BTreeMap::new()
        },
    };
    pcs.check_limits()?;
    Ok(pcs)
}

/// The keys of a record that SPEC §1 does not name, with their values as JSON.
fn unknown_fields(d: &Bound<'_, PyDict>) -> CoreResult<BTreeMap<String, Value>> {
    let mut out = BTreeMap::new();
    for (k, v) in d.iter() {
        let key = object_key(&k, "")?;
        if !fractal_core::KNOWN_FIELDS.contains(&key.as_str()) {
            let value = json_value(&v, &key, 0)?;
            out.insert(key, value);
        }
    }
    Ok(out)
}

/// A `dict` key as a JSON object key: a `str` without a lone surrogate.
fn object_key(k: &Bound<'_, PyAny>, parent: &str) -> CoreResult<String> {
    let where_ = || {
        if parent.is_empty() {
            "record".to_string()
        } else {
            parent.to_string()
        }
    };
    if !k.is_instance_of::<PyString>() {
        return Err(bad(
            where_(),
            format!(
                "has a key of type {}: JSON object keys are str",
                type_name(k)
            ),
        ));
    }
    string(k, || format!("{} (a key)", where_()))
}

/// A Python value as JSON, for an unknown field (`path` names it as the core's
/// parser does: `extra.list[2].key`): `None`, `bool`, `int` (64 bits, signed or
/// not), finite `float`, `str`, `list`/`tuple` and `dict` with `str` keys.
pub(crate) fn json_value(obj: &Bound<'_, PyAny>, path: &str, depth: usize) -> CoreResult<Value> {
    if depth > MAX_DEPTH {
        return Err(bad(
            path,
            format!("nests deeper than {MAX_DEPTH} levels (or contains itself)"),
        ));
    }
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::from(i));
        }
        return obj
            .extract::<u64>()
            .map(Value::from)
            .map_err(|_| bad(path, "integer does not fit in 64 bits"));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return serde_json::Number::from_f64(f.value())
            .map(Value::Number)
            .ok_or_else(|| {
                bad(
                    path,
                    "must be a finite number (JSON cannot carry NaN or Infinity)",
                )
            });
    }
    if obj.is_instance_of::<PyString>() {
        return string(obj, || path.to_string()).map(Value::String);
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let mut out = Vec::with_capacity(seq_len(obj));
        each_item(obj, path, |i, x| {
            out.push(json_value(&x, &format!("{path}[{i}]"), depth + 1)?);
            Ok(())
        })?;
        return Ok(Value::Array(out));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut out = serde_json::Map::new();
        for (k, v) in d.iter() {
            let key = object_key(&k, path)?;
            let value = json_value(&v, &format!("{path}.{key}"), depth + 1)?;
            out.insert(key, value);
        }
        return Ok(Value::Object(out));
    }
    Err(bad(
        path,
        format!(
            "{} is not a JSON value (None, bool, int, float, str, list or dict)",
            type_name(obj)
        ),
    ))
}

/// Converts each record of a `list`/`tuple`/iterable, naming the index on failure.
pub(crate) fn pcs_list_from_py(py: Python<'_>, records: &Bound<'_, PyAny>) -> PyResult<Vec<Pcs>> {
    crate::batch::each_record(py, records, pcs_from_py)
}

/// A key or JSON text given as `str` (UTF-8) or `bytes`/`bytearray` (raw).
pub(crate) fn text_or_bytes(obj: &Bound<'_, PyAny>) -> Result<Vec<u8>, &'static str> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        Ok(b.as_bytes().to_vec())
    } else if let Ok(b) = obj.cast::<PyByteArray>() {
        Ok(b.to_vec())
    } else if let Ok(s) = obj.cast::<PyString>() {
        s.to_cow()
            .map(|c| c.into_owned().into_bytes())
            .map_err(|_| "is not valid Unicode (it contains a lone surrogate)")
    } else {
        Err("expected str or bytes")
    }
}

/// The signature version argument of the signing calls: the int 1 or 2 (not a
/// bool); absent means 2. Anything else is an InvalidArgument naming `version`.
pub(crate) fn sig_version(obj: Option<&Bound<'_, PyAny>>) -> CoreResult<SigVersion> {
    let Some(obj) = obj else {
        return Ok(SigVersion::V2);
    };
    if is_int(obj)
        && let Ok(n) = obj.extract::<i64>()
    {
        return SigVersion::from_number(n);
    }
    Err(Error::InvalidArgument {
        name: "version".into(),
        reason: format!(
            "signature version must be the int 1 or 2, not {}",
            describe(obj)
        ),
    })
}

/// A short description of a bad argument value: its repr for small builtins, else its type.
pub(crate) fn describe(obj: &Bound<'_, PyAny>) -> String {
    let simple = obj.is_none()
        || obj.is_instance_of::<PyBool>()
        || obj.is_instance_of::<PyInt>()
        || obj.is_instance_of::<PyFloat>()
        || obj.is_instance_of::<PyString>();
    match obj.repr() {
        Ok(r) if simple && r.len().unwrap_or(0) <= 40 => r.to_string(),
        _ => type_name(obj),
    }
}

/// A shard given as a name (`str`) or a `dict` `{name, weight=1, healthy=True}`.
pub(crate) fn shard_from_py(obj: &Bound<'_, PyAny>, field: &str) -> CoreResult<ShardSpec> {
    let py = obj.py();
    if obj.is_instance_of::<PyString>() {
        return Ok(ShardSpec::named(string(obj, || field.to_string())?));
    }
    let d = obj
        .cast::<PyDict>()
        .map_err(|_| bad(field, wrong_type("a shard name or a dict", obj)))?;
    let name = get(d, intern!(py, "name"))?
        .ok_or_else(|| bad(format!("{field}.name"), "required field is missing"))?;
    let mut spec = ShardSpec::named(string(&name, || format!("{field}.name"))?);
    if let Some(w) = get(d, intern!(py, "weight"))? {
        spec.weight = uint32(&w, || format!("{field}.weight"))?;
    }
    if let Some(h) = get(d, intern!(py, "healthy"))? {
        spec.healthy = boolean(&h, || format!("{field}.healthy"))?;
    }
    Ok(spec)
}

/// An `int` (not a bool) in `0 ..= u64::MAX`, as an argument named `name`.
pub(crate) fn uint64(obj: &Bound<'_, PyAny>, name: &str) -> CoreResult<u64> {
    if is_int(obj)
        && let Ok(v) = obj.extract::<u64>()
    {
        return Ok(v);
    }
    Err(Error::InvalidArgument {
        name: name.into(),
        reason: format!(
            "must be an int of unix seconds (0 or more), not {}",
            describe(obj)
        ),
    })
}

/// A `str` argument named `name` (not a record field).
pub(crate) fn arg_string(obj: &Bound<'_, PyAny>, name: &str) -> CoreResult<String> {
    string(obj, || name.into()).map_err(|e| Error::InvalidArgument {
        name: name.into(),
        reason: match e {
            Error::InvalidField { reason, .. } => reason,
            other => other.to_string(),
        },
    })
}
