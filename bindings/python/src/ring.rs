//! `Ring`: the consistent-hash ring (SPEC §7).

use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use fractal_core::{DEFAULT_VNODES, DEFAULT_WEIGHT, Ring};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::convert::{
    boolean, move_to_py, shard_from_py, shard_to_py, stats_to_py, string, text_or_bytes, uint32,
};
use crate::error::{CoreResultExt as _, raise};

/// A consistent-hash ring of shards (SPEC §7): each shard of weight w owns
/// vnodes·w points; `pick(key)` is the first healthy shard clockwise from the key's
/// hash. Shards are given as names or dicts `{"name", "weight", "healthy"}`.
///
/// Safe to share between threads: lookups take a read lock, changes a write lock.
///
/// Example: `Ring(["a", "b", "c"]).pick("some-pcs-id")` returns one of the names.
#[pyclass(frozen, module = "fractal_lba", name = "Ring")]
pub(crate) struct PyRing {
    inner: RwLock<Ring>,
}

impl PyRing {
    fn read(&self) -> RwLockReadGuard<'_, Ring> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }
    fn write(&self) -> RwLockWriteGuard<'_, Ring> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }
}

fn key_bytes(py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    text_or_bytes(key).map_err(|reason| {
        raise(
            py,
            fractal_core::Error::InvalidArgument {
                name: "key".into(),
                reason: reason.into(),
            },
        )
    })
}

fn name_arg(py: Python<'_>, name: &Bound<'_, PyAny>) -> PyResult<String> {
    string(name, || "name".into()).map_err(|e| raise(py, as_argument(e)))
}

/// Ring arguments are not record fields: report them as invalid arguments.
fn as_argument(e: fractal_core::Error) -> fractal_core::Error {
    match e {
        fractal_core::Error::InvalidField { field, reason } => {
            fractal_core::Error::InvalidArgument {
                name: field,
                reason,
            }
        }
        other => other,
    }
}

#[pymethods]
impl PyRing {
    #[new]
    #[pyo3(signature = (shards=None, *, vnodes=None))]
    fn new(
        py: Python<'_>,
        shards: Option<&Bound<'_, PyAny>>,
        vnodes: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let vnodes = match vnodes {
            Some(v) => uint32(v, || "vnodes".into()).map_err(|e| raise(py, as_argument(e)))?,
            None => DEFAULT_VNODES,
        };
        let mut specs = Vec::new();
        if let Some(shards) = shards {
            crate::convert::each_item(shards, "shards", |i, s| {
                specs.push(shard_from_py(&s, &format!("shards[{i}]"))?);
                Ok(())
            })
            .map_err(|e| raise(py, as_argument(e)))?;
        }
        let ring = Ring::with_shards(vnodes, &specs).or_raise(py)?;
        Ok(PyRing {
            inner: RwLock::new(ring),
        })
    }

    /// Adds a healthy shard with `weight` ≥ 1. RingError if it is already there.
    #[pyo3(signature = (name, weight=None))]
    fn add_shard(
        &self,
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        weight: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let name = name_arg(py, name)?;
        let weight = match weight {
            Some(w) => uint32(w, || "weight".into()).map_err(|e| raise(py, as_argument(e)))?,
            None => DEFAULT_WEIGHT,
        };
        self.write().add_shard(&name, weight).or_raise(py)
    }

    /// Removes a shard. RingError if it is not on the ring.
    fn remove_shard(&self, py: Python<'_>, name: &Bound<'_, PyAny>) -> PyResult<()> {
        let name = name_arg(py, name)?;
        self.write().remove_shard(&name).or_raise(py)
    }

    /// Marks a shard healthy or not; unhealthy shards are walked past. RingError if
    /// it is not on the ring.
    fn set_healthy(
        &self,
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        healthy: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let name = name_arg(py, name)?;
        let healthy =
            boolean(healthy, || "healthy".into()).map_err(|e| raise(py, as_argument(e)))?;
        self.write().set_healthy(&name, healthy).or_raise(py)
    }

    /// The healthy shard that owns `key` (str as UTF-8, or bytes). RingError when
    /// no shard is healthy.
    fn pick(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<String> {
        let key = key_bytes(py, key)?;
        self.read().pick(&key).map(str::to_owned).or_raise(py)
    }

    /// `n` distinct healthy shards clockwise from `key`'s position, the owner first.
    /// RingError when fewer than `n` are healthy.
    fn pick_n(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        n: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<String>> {
        let key = key_bytes(py, key)?;
        let n = uint32(n, || "n".into()).map_err(|e| raise(py, as_argument(e)))?;
        self.read()
            .pick_n(&key, n as usize)
            .map(|v| v.into_iter().map(str::to_owned).collect())
            .or_raise(py)
    }

    /// The keys whose owner differs between this ring and `after`, as dicts
    /// `{"key", "from", "to"}` (`None` where a ring has no healthy owner).
    fn plan<'py>(
        &self,
        py: Python<'py>,
        after: &Bound<'py, PyRing>,
        keys: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let mut names = Vec::new();
        crate::convert::each_item(keys, "keys", |i, k| {
            names.push(string(&k, || format!("keys[{i}]"))?);
            Ok(())
        })
        .map_err(|e| raise(py, as_argument(e)))?;
        // Snapshots, so that `ring.plan(ring, …)` never takes one lock twice.
        let before = self.read().clone();
        let after = after.get().read().clone();
        let moves = py.detach(|| before.plan(&after, names.iter().map(String::as_str)));
        let out = PyList::empty(py);
        for m in &moves {
            out.append(move_to_py(py, m)?)?;
        }
        Ok(out)
    }

    /// The shards as dicts `{"name", "weight", "healthy"}`, sorted by name.
    fn shards<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let specs = self.read().shards();
        let out = PyList::empty(py);
        for s in &specs {
            out.append(shard_to_py(py, s)?)?;
        }
        Ok(out)
    }

    /// Counts: `{"shards", "healthy_shards", "points", "vnodes"}`.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.read().stats();
        stats_to_py(py, &s)
    }

    /// Number of shards on the ring.
    fn __len__(&self) -> usize {
        self.read().stats().shards
    }

    fn __repr__(&self) -> String {
        let s = self.read().stats();
        format!(
            "Ring(shards={}, healthy={}, vnodes={})",
            s.shards, s.healthy_shards, s.vnodes
        )
    }
}
