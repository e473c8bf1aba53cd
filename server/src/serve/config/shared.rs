//! `[store]`: the embedded store, or the shared PostgreSQL backend with its hot and
//! cold tiers.

use std::collections::HashSet;

use anyhow::bail;

use super::{Config, MAX_DEDUP_TTL_SECS, Secret, StoreFile, bounded, env, object_store_url};

/// Default `[store.hot] ttl_secs`.
pub const DEFAULT_HOT_TTL_SECS: u64 = 3600;

/// The shared-store backend (`[store] backend = "postgres"`).
#[derive(Debug, Clone)]
pub struct SharedStore {
    /// The shards, in configuration order.
    pub shards: Vec<Shard>,
    /// Ring virtual nodes per unit of weight.
    pub vnodes: u32,
    /// Connections per shard.
    pub pool_size: usize,
    /// Redis URL and TTL.
    pub hot: Option<(Secret<String>, u64)>,
    /// Object-store URL.
    pub cold: Option<String>,
    /// Seconds between demotion passes.
    pub demote_secs: u64,
}

/// One shard of the authority.
#[derive(Debug, Clone)]
pub struct Shard {
    /// Ring name.
    pub name: String,
    /// Connection URL (may hold a password: never logged).
    pub url: Secret<String>,
    /// Ring weight.
    pub weight: u32,
}

impl Config {
    /// `[store] backend` and what the shared backend needs.
    pub(crate) fn shared(store: &StoreFile) -> anyhow::Result<Option<SharedStore>> {
        let backend = env("FRACTAL_STORE_BACKEND").or(store.backend.clone()).unwrap_or_else(|| "embedded".into());
        match backend.as_str() {
            "embedded" => {
                if !store.shards.is_empty() || store.hot.is_some() || store.cold.is_some() {
                    bail!("store: [[store.shards]], [store.hot] and [store.cold] need backend = \"postgres\"");
                }
                return Ok(None);
            }
            "postgres" => {}
            other => bail!("store.backend: must be \"embedded\" or \"postgres\", not {other:?}"),
        }
        if store.shards.is_empty() {
            bail!("store.backend = \"postgres\" needs at least one [[store.shards]] table (name, url)");
        }
        let mut names = HashSet::new();
        let mut shards = Vec::new();
        for s in &store.shards {
            if s.name.is_empty() || !names.insert(s.name.clone()) {
                bail!("store.shards: names must be non-empty and unique ({:?})", s.name);
            }
            if !(s.url.starts_with("postgres://") || s.url.starts_with("postgresql://")) {
                bail!("store.shards {:?}: url must be a postgres:// URL", s.name);
            }
            let weight = bounded("store.shards.weight", s.weight.unwrap_or(1) as u64, 1, 1000)? as u32;
            shards.push(Shard { name: s.name.clone(), url: Secret(s.url.clone()), weight });
        }
        let hot = match &store.hot {
            Some(h) => {
                if !(h.url.starts_with("redis://") || h.url.starts_with("rediss://")) {
                    bail!("store.hot.url: must be a redis:// URL");
                }
                let ttl = bounded("store.hot.ttl_secs", h.ttl_secs.unwrap_or(DEFAULT_HOT_TTL_SECS), 1, MAX_DEDUP_TTL_SECS)?;
                Some((Secret(h.url.clone()), ttl))
            }
            None => None,
        };
        let cold = match &store.cold {
            Some(c) => {
                object_store_url("store.cold.url", &c.url)?;
                Some(c.url.clone())
            }
            None => None,
        };
        Ok(Some(SharedStore {
            shards,
            vnodes: bounded("store.vnodes", store.vnodes.unwrap_or(fractal_core::DEFAULT_VNODES) as u64, 1, 10_000)? as u32,
            pool_size: bounded("store.pool_size", store.pool_size.unwrap_or(8) as u64, 1, 1024)? as usize,
            hot,
            cold,
            demote_secs: bounded("store.demote_secs", store.demote_secs.unwrap_or(60), 1, 24 * 3600)?,
        }))
    }
}
