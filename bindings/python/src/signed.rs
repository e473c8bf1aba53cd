//! The v1 fast path: only the eight fields of the v1 payload (SPEC §3.1, step 1),
//! plus `sig` for signature checks.
//!
//! A v1 signature depends on nothing else in a record, so `canonical_payload`,
//! `digest`, `sign_*` with `version=1` and `Verifier.verify[_many]` on a v1 `sig`
//! look up just these keys instead of handing the whole dict to the core (which
//! would convert every field: v2 does that). The rules stay the core's: each value
//! is read by the deserializer of `de.rs` into the core's type, the limits are
//! `SigningFields::check`, and the strings are borrowed from the `str` objects.

#[cfg(not(windows))]
use std::sync::OnceLock;

use fractal_core::{Error, SigningFields};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyString};
use serde::de::DeserializeOwned;

use crate::convert::{CoreResult, bad, type_name};
use crate::de::Host;

/// The text of a `str` field: the string's own UTF-8 buffer, borrowed, or a copy.
pub(crate) enum Text<'py> {
    /// `PyUnicode_AsUTF8AndSize`'s buffer, which lives as long as the `str`: the
    /// `Bound` keeps the `str` alive (whatever other threads do to the record
    /// while the GIL is released), and a `str` never changes.
    Borrowed(Bound<'py, PyString>, *const u8, usize),
    /// A copy, where the borrowed view is not part of the stable ABI.
    Owned(String),
}

impl Text<'_> {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            // SAFETY: CPython returned this buffer as the str's UTF-8 (validated
            // by the encoder: a lone surrogate makes the call fail instead); it is
            // freed only with the str, which `_obj` keeps alive for `&self`'s
            // lifetime.
            Text::Borrowed(_obj, ptr, len) => unsafe {
                std::str::from_utf8_unchecked(std::slice::from_raw_parts(*ptr, *len))
            },
            Text::Owned(s) => s,
        }
    }

    /// [`Text::as_str`] with its lifetime cut loose, for computing without the GIL.
    ///
    /// # Safety
    ///
    /// The result must not be used once `self` is dropped. (Moving `self` is fine:
    /// the bytes live in the `str` object or in the `String`'s heap buffer.)
    pub(crate) unsafe fn detached(&self) -> &'static str {
        // SAFETY: the caller keeps `self`, hence the bytes, alive while it is used.
        unsafe { std::mem::transmute::<&str, &'static str>(self.as_str()) }
    }
}

// `PyUnicode_AsUTF8AndSize` joined the stable ABI in Python 3.10, and every
// CPython 3 exports it; pyo3 declares it only for wheels whose floor is 3.10. This
// wheel's floor is 3.9, so it is declared here and called only on 3.10 and later
// (the Windows import library of 3.9's stable ABI lacks it: copy there).
#[cfg(not(windows))]
unsafe extern "C" {
    fn PyUnicode_AsUTF8AndSize(
        unicode: *mut pyo3::ffi::PyObject,
        size: *mut pyo3::ffi::Py_ssize_t,
    ) -> *const std::ffi::c_char;
}

#[cfg(not(windows))]
fn utf8_view_available(py: Python<'_>) -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| py.version_info() >= (3, 10))
}

pub(crate) const LONE_SURROGATE: &str = "is not valid Unicode (it contains a lone surrogate)";

/// A `str` as UTF-8, borrowed where the ABI allows; `None` for a lone surrogate.
pub(crate) fn utf8<'py>(s: Bound<'py, PyString>) -> Option<Text<'py>> {
    let py = s.py();
    #[cfg(not(windows))]
    if utf8_view_available(py) {
        let mut len: pyo3::ffi::Py_ssize_t = 0;
        // SAFETY: `s` is a live str and the GIL is held.
        let ptr = unsafe { PyUnicode_AsUTF8AndSize(s.as_ptr(), &mut len) };
        if ptr.is_null() {
            // UnicodeEncodeError: a lone surrogate. Clear it; ours is raised.
            drop(PyErr::take(py));
            return None;
        }
        let len = usize::try_from(len).unwrap_or(0);
        return Some(Text::Borrowed(s, ptr.cast(), len));
    }
    let _ = py;
    s.to_cow().ok().map(|c| Text::Owned(c.into_owned()))
}

/// A value read into the core's type `T`, failures naming the field.
pub(crate) fn value<T: DeserializeOwned>(obj: &Bound<'_, PyAny>, name: &str) -> CoreResult<T> {
    T::deserialize(Host::new(obj)).map_err(|e| bad(name, e.0))
}

/// [`value`] for a number, the common case (a finite `float`) read directly.
fn number(obj: &Bound<'_, PyAny>, name: &str) -> CoreResult<f64> {
    match obj.cast_exact::<PyFloat>().map(|f| f.value()) {
        Ok(x) if x.is_finite() => Ok(x),
        _ => value(obj, name),
    }
}

/// A `str` field, borrowed.
fn text<'py>(obj: Bound<'py, PyAny>, name: &'static str) -> CoreResult<Text<'py>> {
    if obj.is_instance_of::<PyString>() {
        // SAFETY: checked just above.
        return utf8(unsafe { obj.cast_into_unchecked::<PyString>() }).ok_or_else(|| bad(name, LONE_SURROGATE));
    }
    Err(value::<String>(&obj, name).err().unwrap_or_else(|| bad(name, "expected a string")))
}

/// The eight signed fields, the strings borrowed where the ABI allows.
pub(crate) struct Signed<'py> {
    pcs_id: Text<'py>,
    merkle_root: Text<'py>,
    epoch: u64,
    shard_id: Text<'py>,
    d_hat: f64,
    coh_star: f64,
    r: f64,
    budget: f64,
}

impl Signed<'_> {
    pub(crate) fn fields(&self) -> SigningFields<'_> {
        SigningFields {
            pcs_id: self.pcs_id.as_str(),
            merkle_root: self.merkle_root.as_str(),
            epoch: self.epoch,
            shard_id: self.shard_id.as_str(),
            d_hat: self.d_hat,
            coh_star: self.coh_star,
            r: self.r,
            budget: self.budget,
        }
    }

    /// [`Signed::fields`] with its lifetime cut loose, for computing without the GIL.
    ///
    /// # Safety
    ///
    /// As [`Text::detached`]: not to be used once `self` is dropped.
    pub(crate) unsafe fn detached_fields(&self) -> SigningFields<'static> {
        // SAFETY: forwarded to the caller.
        unsafe {
            SigningFields {
                pcs_id: self.pcs_id.detached(),
                merkle_root: self.merkle_root.detached(),
                epoch: self.epoch,
                shard_id: self.shard_id.detached(),
                d_hat: self.d_hat,
                coh_star: self.coh_star,
                r: self.r,
                budget: self.budget,
            }
        }
    }

    /// SHA-256 of the v1 payload.
    pub(crate) fn digest(&self) -> CoreResult<[u8; 32]> {
        self.fields().digest()
    }
}

/// The nine key strings, interned once per process and fetched once per call.
pub(crate) struct Keys<'py> {
    pcs_id: &'py Bound<'py, PyString>,
    merkle_root: &'py Bound<'py, PyString>,
    epoch: &'py Bound<'py, PyString>,
    shard_id: &'py Bound<'py, PyString>,
    d_hat: &'py Bound<'py, PyString>,
    coh_star: &'py Bound<'py, PyString>,
    r: &'py Bound<'py, PyString>,
    budget: &'py Bound<'py, PyString>,
    sig: &'py Bound<'py, PyString>,
}

impl<'py> Keys<'py> {
    pub(crate) fn new(py: Python<'py>) -> Self {
        Keys {
            pcs_id: intern!(py, "pcs_id"),
            merkle_root: intern!(py, "merkle_root"),
            epoch: intern!(py, "epoch"),
            shard_id: intern!(py, "shard_id"),
            d_hat: intern!(py, "D_hat"),
            coh_star: intern!(py, "coh_star"),
            r: intern!(py, "r"),
            budget: intern!(py, "budget"),
            sig: intern!(py, "sig"),
        }
    }
}

/// The value under `key` (`None` counts as absent, like JSON `null`).
#[inline]
fn get<'py>(
    d: &Bound<'py, PyDict>,
    key: &Bound<'py, PyString>,
    name: &'static str,
) -> CoreResult<Option<Bound<'py, PyAny>>> {
    match d.get_item(key) {
        Ok(Some(v)) if !v.is_none() => Ok(Some(v)),
        Ok(_) => Ok(None),
        Err(e) => Err(bad(name, format!("could not be read: {e}"))),
    }
}

/// The value of a required field (`None` counts as missing).
fn required<'py>(
    d: &Bound<'py, PyDict>,
    key: &Bound<'py, PyString>,
    name: &'static str,
) -> CoreResult<Bound<'py, PyAny>> {
    get(d, key, name)?.ok_or_else(|| bad(name, "required field is missing"))
}

fn as_record<'a, 'py>(obj: &'a Bound<'py, PyAny>) -> CoreResult<&'a Bound<'py, PyDict>> {
    obj.cast::<PyDict>().map_err(|_| Error::InvalidJson {
        reason: format!("expected a dict (a JSON object), got {}", type_name(obj)),
    })
}

/// Reads the eight signed fields of a record `dict`; nothing else is looked at.
pub(crate) fn signed<'py>(obj: &Bound<'py, PyAny>, keys: &Keys<'py>) -> CoreResult<Signed<'py>> {
    signed_in(as_record(obj)?, keys)
}

fn signed_in<'py>(d: &Bound<'py, PyDict>, keys: &Keys<'py>) -> CoreResult<Signed<'py>> {
    let s = Signed {
        epoch: value(&required(d, keys.epoch, "epoch")?, "epoch")?,
        pcs_id: text(required(d, keys.pcs_id, "pcs_id")?, "pcs_id")?,
        shard_id: text(required(d, keys.shard_id, "shard_id")?, "shard_id")?,
        merkle_root: text(required(d, keys.merkle_root, "merkle_root")?, "merkle_root")?,
        coh_star: number(&required(d, keys.coh_star, "coh_star")?, "coh_star")?,
        d_hat: number(&required(d, keys.d_hat, "D_hat")?, "D_hat")?,
        r: number(&required(d, keys.r, "r")?, "r")?,
        budget: number(&required(d, keys.budget, "budget")?, "budget")?,
    };
    s.fields().check()?;
    Ok(s)
}

/// The record's `sig`: `None` when absent (or `None`), else a `str`.
pub(crate) fn sig_of<'py>(
    obj: &Bound<'py, PyAny>,
    keys: &Keys<'py>,
) -> CoreResult<Option<Text<'py>>> {
    match get(as_record(obj)?, keys.sig, "sig")? {
        Some(v) => Ok(Some(text(v, "sig")?)),
        None => Ok(None),
    }
}
