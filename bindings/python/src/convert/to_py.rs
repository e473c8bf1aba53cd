//! Rust → Python: records, JSON values, outcomes and ring data as plain
//! `dict`s and values.

use serde_json::Value;

use super::*;

/// A JSON value as the plain Python value `json.loads` would give.
pub(crate) fn value_to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(value_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let d = PyDict::new(py);
            for (k, item) in map {
                d.set_item(k, value_to_py(py, item)?)?;
            }
            d.into_any()
        }
    })
}

/// Core [`Pcs`] → a record `dict` with the wire's keys: what `Pcs::to_json`
/// writes (optional fields only when set or not omitted, unknown fields as sent),
/// so that the dict signs (v2) like the record it came from.
pub(crate) fn pcs_to_py<'py>(py: Python<'py>, p: &Pcs) -> PyResult<Bound<'py, PyDict>> {
    let o = &p.omitted;
    let d = PyDict::new(py);
    d.set_item(intern!(py, "pcs_id"), &p.pcs_id)?;
    d.set_item(intern!(py, "schema"), &p.schema)?;
    d.set_item(intern!(py, "version"), &p.version)?;
    d.set_item(intern!(py, "shard_id"), &p.shard_id)?;
    d.set_item(intern!(py, "epoch"), p.epoch)?;
    if !(o.attempt && p.attempt == 1) {
        d.set_item(intern!(py, "attempt"), p.attempt)?;
    }
    if let Some(s) = &p.sent_at {
        d.set_item(intern!(py, "sent_at"), s)?;
    }
    if !(o.seed && p.seed == 0) {
        d.set_item(intern!(py, "seed"), p.seed)?;
    }
    if !(o.scales && p.scales.is_empty()) {
        d.set_item(intern!(py, "scales"), PyList::new(py, &p.scales)?)?;
    }
    if !(o.n_j && p.n_j.is_empty()) {
        let n_j = PyDict::new(py);
        for (k, v) in &p.n_j {
            n_j.set_item(k, v)?;
        }
        d.set_item(intern!(py, "N_j"), n_j)?;
    }
    d.set_item(intern!(py, "coh_star"), p.coh_star)?;
    if !(o.v_star && p.v_star.is_empty()) {
        d.set_item(intern!(py, "v_star"), PyList::new(py, &p.v_star)?)?;
    }
    d.set_item(intern!(py, "D_hat"), p.d_hat)?;
    d.set_item(intern!(py, "r"), p.r)?;
    if !(o.regime && p.regime.is_empty()) {
        d.set_item(intern!(py, "regime"), &p.regime)?;
    }
    d.set_item(intern!(py, "budget"), p.budget)?;
    d.set_item(intern!(py, "merkle_root"), &p.merkle_root)?;
    if let Some(s) = &p.sig {
        d.set_item(intern!(py, "sig"), s)?;
    }
    if let Some(ft) = &p.ft {
        let f = PyDict::new(py);
        if let Some(v) = ft.outbox_seq {
            f.set_item(intern!(py, "outbox_seq"), v)?;
        }
        if let Some(v) = ft.degraded {
            f.set_item(intern!(py, "degraded"), v)?;
        }
        if let Some(v) = &ft.fallbacks {
            f.set_item(intern!(py, "fallbacks"), PyList::new(py, v)?)?;
        }
        if let Some(v) = ft.clock_skew_ms {
            f.set_item(intern!(py, "clock_skew_ms"), v)?;
        }
        d.set_item(intern!(py, "ft"), f)?;
    }
    for (k, v) in &p.extra {
        d.set_item(k, value_to_py(py, v)?)?;
    }
    Ok(d)
}

/// [`VerifyResult`] → `dict` (absent values are left out, as on the wire).
pub(crate) fn verify_result_to_py<'py>(
    py: Python<'py>,
    r: &VerifyResult,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item(intern!(py, "accepted"), r.accepted)?;
    d.set_item(intern!(py, "escalated"), r.escalated)?;
    if let Some(v) = r.recomputed_d_hat {
        d.set_item(intern!(py, "recomputed_D_hat"), v)?;
    }
    if let Some(v) = r.recomputed_budget {
        d.set_item(intern!(py, "recomputed_budget"), v)?;
    }
    if let Some(v) = &r.reason {
        d.set_item(intern!(py, "reason"), v)?;
    }
    Ok(d)
}

/// [`Move`] → `dict` with `key`, `from`, `to` (`None` when the key had no owner).
pub(crate) fn move_to_py<'py>(py: Python<'py>, m: &Move) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item(intern!(py, "key"), &m.key)?;
    d.set_item(intern!(py, "from"), &m.from)?;
    d.set_item(intern!(py, "to"), &m.to)?;
    Ok(d)
}

/// [`ShardSpec`] → `dict`.
pub(crate) fn shard_to_py<'py>(py: Python<'py>, s: &ShardSpec) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item(intern!(py, "name"), &s.name)?;
    d.set_item(intern!(py, "weight"), s.weight)?;
    d.set_item(intern!(py, "healthy"), s.healthy)?;
    Ok(d)
}

/// [`RingStats`] → `dict`.
pub(crate) fn stats_to_py<'py>(py: Python<'py>, s: &RingStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item(intern!(py, "shards"), s.shards)?;
    d.set_item(intern!(py, "healthy_shards"), s.healthy_shards)?;
    d.set_item(intern!(py, "points"), s.points)?;
    d.set_item(intern!(py, "vnodes"), s.vnodes)?;
    Ok(d)
}
