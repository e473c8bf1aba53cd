//! Plain Python values ↔ core types.
//!
//! Records, builder inputs and verification parameters are read by the core from
//! the Python object itself, through the deserializer of `de.rs`
//! (`Pcs::deserialize_from`, …): the core's parser is the one reader of SPEC §1.
//! What is left here reads the plain arguments of the API (keys, shards, the
//! signature version). Every failure is a core `Error` naming the field or the
//! argument, with the path syntax of the core's parser (`scales[2]`, `N_j.8`).

use fractal_core::{Error, KNOWN_FIELDS, Move, Pcs, RingStats, ShardSpec, SigVersion, VerifyResult};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use crate::de::Host;

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

/// An `int` in `0 ..= u32::MAX`.
pub(crate) fn uint32(obj: &Bound<'_, PyAny>, field: impl Fn() -> String) -> CoreResult<u32> {
    if !is_int(obj) {
        return Err(bad(field(), wrong_type("an integer", obj)));
    }
    obj.extract::<u32>()
        .map_err(|_| bad(field(), "must be an integer between 0 and 4294967295"))
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

/// A record `dict` → core [`Pcs`], read by the core's own parser (SPEC §1): the
/// same required fields, defaults and limits as `Pcs::from_json`. Unknown keys are
/// kept in `extra` and absent optional fields are recorded in `omitted`, so that
/// the v2 payload of the result is that of the record as it will be sent.
pub(crate) fn pcs_from_py(obj: &Bound<'_, PyAny>) -> CoreResult<Pcs> {
    Pcs::deserialize_from(Host::record(obj)).map_err(key_error)
}

/// serde names a `dict` key that is not a `str` `?`: name its `dict` instead (the
/// record, or `N_j (a key)` for a field of SPEC §1).
pub(crate) fn key_error(e: Error) -> Error {
    match e {
        Error::InvalidField { field, reason } if field.ends_with('?') => {
            let parent = field.trim_end_matches('?').trim_end_matches('.');
            let field = match parent {
                "" => "record".to_string(),
                known if KNOWN_FIELDS.contains(&known) => format!("{known} (a key)"),
                other => other.to_string(),
            };
            bad(field, reason)
        }
        other => other,
    }
}

/// The arguments that were given (not `None`) as a `dict`, for the core to read.
pub(crate) fn given_dict<'py, const N: usize>(
    py: Python<'py>,
    args: [(&str, Option<&Bound<'py, PyAny>>); N],
) -> PyResult<Bound<'py, PyAny>> {
    let d = PyDict::new(py);
    for (name, value) in args {
        if let Some(v) = value.filter(|v| !v.is_none()) {
            d.set_item(name, v)?;
        }
    }
    Ok(d.into_any())
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
