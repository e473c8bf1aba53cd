//! Rust → JavaScript: records and JSON values as plain objects.

use super::*;

/// An integer as a number when a double holds it exactly, as a BigInt otherwise.
pub(crate) fn int_value(env: &Env, x: i64) -> napi::Result<Unknown<'_>> {
    if (-fractal_core::MAX_SAFE_INTEGER..=fractal_core::MAX_SAFE_INTEGER).contains(&x) {
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
pub(crate) fn value_to_js<'e>(env: &'e Env, v: &serde_json::Value) -> napi::Result<Unknown<'e>> {
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
