//! `Ring`: the consistent-hash ring of SPEC §7 (a handle: its state is real).

use fractal_core::ShardSpec;
use napi::Env;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::convert;
use crate::error::{Res, ToJs, bad_arg};

/// A shard of the ring: `weight` ≥ 1 (default 1), `healthy` (default true).
#[napi(object, js_name = "ShardSpec")]
pub struct ShardSpecDecl {
    pub name: String,
    pub weight: Option<u32>,
    pub healthy: Option<bool>,
}

/// A key whose owner changes between two rings (`from`/`to` absent when no
/// healthy shard owns it there).
#[napi(object)]
pub struct Move {
    pub key: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// Counts describing a ring.
#[napi(object)]
pub struct RingStats {
    pub shards: u32,
    pub healthy_shards: u32,
    pub points: u32,
    pub vnodes: u32,
}

/// A JavaScript number as a `u32`; the core decides what values a ring takes.
fn u32_arg(v: Unknown, name: &str) -> Res<u32> {
    let x = convert::int64(v, name).map_err(|_| bad_arg(name, "must be an integer"))?;
    u32::try_from(x).map_err(|_| bad_arg(name, "must be between 1 and 2^32 − 1").into())
}

fn vnodes_arg(v: Option<Unknown>) -> Res<u32> {
    match v {
        Some(v)
            if !matches!(
                v.get_type()?,
                napi::ValueType::Undefined | napi::ValueType::Null
            ) =>
        {
            u32_arg(v, "vnodes")
        }
        _ => Ok(fractal_core::DEFAULT_VNODES),
    }
}

fn shard_spec(v: Unknown, i: usize) -> Res<ShardSpec> {
    let field = format!("shards[{i}]");
    let obj = convert::record(v, &field)?;
    let name = match convert::prop(&obj, "name")? {
        Some(v) => convert::text(v, "name")?,
        None => return Err(bad_arg(format!("{field}.name"), "is required").into()),
    };
    let mut spec = ShardSpec::named(name);
    if let Some(v) = convert::prop(&obj, "weight")? {
        spec.weight = u32_arg(v, "weight")?;
    }
    if let Some(v) = convert::prop(&obj, "healthy")? {
        spec.healthy = convert::boolean(v, "healthy").map_err(|_| bad_arg("healthy", "must be a boolean"))?;
    }
    Ok(spec)
}

/// The consistent-hash ring of SPEC §7: `vnodes` points per unit of weight,
/// `pick` walks clockwise to the first healthy shard.
///
/// ```js
/// const ring = Ring.withShards([{ name: 'a' }, { name: 'b', weight: 2 }])
/// ring.pick(record.pcs_id) // 'a' or 'b'
/// ```
#[napi]
pub struct Ring {
    inner: fractal_core::Ring,
}

#[napi]
impl Ring {
    /// An empty ring with `vnodes` points per unit of weight (default 150).
    #[napi(catch_unwind, constructor, ts_args_type = "vnodes?: number")]
    pub fn new(env: &Env, vnodes: Option<Unknown>) -> Result<Self> {
        let run = || -> Res<Self> {
            Ok(Ring {
                inner: fractal_core::Ring::new(vnodes_arg(vnodes)?)?,
            })
        };
        run().js(env)
    }

    /// A ring holding `shards` (built once).
    #[napi(
        catch_unwind,
        factory,
        ts_args_type = "shards: ShardSpec[], vnodes?: number"
    )]
    pub fn with_shards(env: &Env, shards: Unknown, vnodes: Option<Unknown>) -> Result<Self> {
        let run = || -> Res<Self> {
            let vnodes = vnodes_arg(vnodes)?;
            let items = convert::batch(shards, "shards")?;
            let mut specs = Vec::with_capacity(items.len());
            for (i, v) in items.into_iter().enumerate() {
                specs.push(shard_spec(v, i)?);
            }
            Ok(Ring {
                inner: fractal_core::Ring::with_shards(vnodes, &specs)?,
            })
        };
        run().js(env)
    }

    /// Adds a healthy shard (`weight` default 1). `ERR_RING` if it is already there.
    #[napi(catch_unwind, ts_args_type = "name: string, weight?: number")]
    pub fn add_shard(&mut self, env: &Env, name: Unknown, weight: Option<Unknown>) -> Result<()> {
        let mut run = || -> Res<()> {
            let name = convert::text(name, "name")?;
            let weight = match weight {
                Some(w)
                    if !matches!(
                        w.get_type()?,
                        napi::ValueType::Undefined | napi::ValueType::Null
                    ) =>
                {
                    u32_arg(w, "weight")?
                }
                _ => fractal_core::DEFAULT_WEIGHT,
            };
            Ok(self.inner.add_shard(&name, weight)?)
        };
        run().js(env)
    }

    /// Removes a shard. `ERR_RING` if it is not there.
    #[napi(catch_unwind, ts_args_type = "name: string")]
    pub fn remove_shard(&mut self, env: &Env, name: Unknown) -> Result<()> {
        let mut run = || -> Res<()> { Ok(self.inner.remove_shard(&convert::text(name, "name")?)?) };
        run().js(env)
    }

    /// Marks a shard healthy or not; `pick` skips unhealthy shards.
    #[napi(catch_unwind, ts_args_type = "name: string, healthy: boolean")]
    pub fn set_healthy(&mut self, env: &Env, name: Unknown, healthy: Unknown) -> Result<()> {
        let mut run = || -> Res<()> {
            let name = convert::text(name, "name")?;
            let healthy = convert::boolean(healthy, "healthy")
                .map_err(|_| bad_arg("healthy", "must be a boolean"))?;
            Ok(self.inner.set_healthy(&name, healthy)?)
        };
        run().js(env)
    }

    /// The shard owning `key` (a string's UTF-8 bytes, or bytes). `ERR_RING`
    /// when the ring has no healthy shard.
    #[napi(catch_unwind, ts_args_type = "key: string | Uint8Array")]
    pub fn pick(&self, env: &Env, key: Unknown) -> Result<String> {
        let run =
            || -> Res<String> { Ok(self.inner.pick(&convert::bytes(key, "key")?)?.to_string()) };
        run().js(env)
    }

    /// `n` distinct healthy shards clockwise from `key`'s position (replicas).
    /// `ERR_RING` when fewer than `n` are healthy.
    #[napi(catch_unwind, ts_args_type = "key: string | Uint8Array, n: number")]
    pub fn pick_n(&self, env: &Env, key: Unknown, n: Unknown) -> Result<Vec<String>> {
        let run = || -> Res<Vec<String>> {
            let key = convert::bytes(key, "key")?;
            let n = convert::int64(n, "n").map_err(|_| bad_arg("n", "must be an integer"))?;
            if n < 1 {
                return Err(bad_arg("n", "must be at least 1").into());
            }
            Ok(self
                .inner
                .pick_n(&key, n as usize)?
                .into_iter()
                .map(String::from)
                .collect())
        };
        run().js(env)
    }

    /// The keys whose owner differs between this ring and `after`.
    #[napi(catch_unwind, ts_args_type = "after: Ring, keys: string[]")]
    pub fn plan(&self, env: &Env, after: &Ring, keys: Unknown) -> Result<Vec<Move>> {
        let run = || -> Res<Vec<Move>> {
            let items = convert::batch(keys, "keys")?;
            let mut ks = Vec::with_capacity(items.len());
            for (i, v) in items.into_iter().enumerate() {
                ks.push(convert::text(v, &format!("keys[{i}]"))?);
            }
            Ok(self
                .inner
                .plan(&after.inner, ks.iter().map(String::as_str))
                .into_iter()
                .map(|m| Move {
                    key: m.key,
                    from: m.from,
                    to: m.to,
                })
                .collect())
        };
        run().js(env)
    }

    /// The shards on the ring, sorted by name.
    #[napi(catch_unwind, ts_return_type = "Array<Required<ShardSpec>>")]
    pub fn shards(&self) -> Vec<ShardSpecDecl> {
        self.inner
            .shards()
            .into_iter()
            .map(|s| ShardSpecDecl {
                name: s.name,
                weight: Some(s.weight),
                healthy: Some(s.healthy),
            })
            .collect()
    }

    /// Counts of shards, healthy shards and points.
    #[napi(catch_unwind)]
    pub fn stats(&self) -> RingStats {
        let s = self.inner.stats();
        RingStats {
            shards: s.shards as u32,
            healthy_shards: s.healthy_shards as u32,
            points: s.points as u32,
            vnodes: s.vnodes,
        }
    }
}
