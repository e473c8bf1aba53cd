//! `fractal ring pick` and `fractal ring plan` (SPEC §7).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use fractal_core::{DEFAULT_VNODES, Ring, ShardSpec};
use serde_json::json;

use super::input::read_input;

/// Ring subcommands.
#[derive(clap::Subcommand)]
pub enum RingCommand {
    /// Print the shard (or the `--n` shards) owning each key.
    Pick(PickArgs),
    /// Print the keys whose owner changes between two shard sets.
    Plan(PlanArgs),
}

impl RingCommand {
    /// Runs the subcommand and returns its JSON answer.
    pub fn run(self) -> anyhow::Result<serde_json::Value> {
        match self {
            RingCommand::Pick(a) => a.run(),
            RingCommand::Plan(a) => a.run(),
        }
    }
}

/// The keys to look up.
#[derive(clap::Args)]
pub struct KeysArgs {
    /// A key (its UTF-8 bytes are hashed; the server uses a record's pcs_id).
    /// Repeatable.
    #[arg(long = "key", value_name = "KEY")]
    keys: Vec<String>,
    /// A file of keys, one per line (empty lines skipped); `-` reads stdin.
    #[arg(long, value_name = "PATH")]
    keys_file: Option<PathBuf>,
}

impl KeysArgs {
    fn read(&self) -> anyhow::Result<Vec<String>> {
        let mut keys = self.keys.clone();
        if let Some(path) = &self.keys_file {
            let text = String::from_utf8(read_input(Some(path))?).context("keys file is not UTF-8")?;
            keys.extend(text.lines().filter(|l| !l.is_empty()).map(String::from));
        }
        if keys.is_empty() {
            bail!("no keys: use --key KEY or --keys-file PATH");
        }
        Ok(keys)
    }
}

/// Options of `fractal ring pick`.
#[derive(clap::Args)]
pub struct PickArgs {
    /// A shard as `name` or `name:weight` (weight ≥ 1, default 1). Repeatable.
    #[arg(long = "shard", value_name = "NAME[:WEIGHT]")]
    shards: Vec<String>,
    /// Shards as a JSON array of `{"name", "weight", "healthy"}`.
    #[arg(long, value_name = "PATH")]
    shards_file: Option<PathBuf>,
    /// Mark this shard unhealthy (lookups walk past it). Repeatable.
    #[arg(long = "down", value_name = "NAME")]
    down: Vec<String>,
    /// Virtual nodes per unit of weight.
    #[arg(long, default_value_t = DEFAULT_VNODES)]
    vnodes: u32,
    /// Return this many distinct healthy shards per key (pick_n, printed as
    /// `shards`); without it, the one owner (pick, printed as `shard`).
    #[arg(long)]
    n: Option<usize>,
    #[command(flatten)]
    keys: KeysArgs,
}

impl PickArgs {
    fn run(self) -> anyhow::Result<serde_json::Value> {
        let mut specs = shard_set("shard", &self.shards, self.shards_file.as_deref())?;
        for name in &self.down {
            match specs.iter_mut().find(|s| &s.name == name) {
                Some(s) => s.healthy = false,
                None => bail!("invalid argument `down`: no shard named {name:?}"),
            }
        }
        let ring = Ring::with_shards(self.vnodes, &specs)?;
        let mut picks = Vec::new();
        for key in self.keys.read()? {
            let pick = match self.n {
                None => json!({ "key": key, "shard": ring.pick(key.as_bytes())? }),
                Some(n) => json!({ "key": key, "shards": ring.pick_n(key.as_bytes(), n)? }),
            };
            picks.push(pick);
        }
        Ok(json!({ "vnodes": self.vnodes, "picks": picks }))
    }
}

/// Options of `fractal ring plan`.
#[derive(clap::Args)]
pub struct PlanArgs {
    /// A shard before the change, `name[:weight]`. Repeatable.
    #[arg(long = "before", value_name = "NAME[:WEIGHT]")]
    before: Vec<String>,
    /// Shards before the change, as a JSON array.
    #[arg(long, value_name = "PATH")]
    before_file: Option<PathBuf>,
    /// A shard after the change, `name[:weight]`. Repeatable.
    #[arg(long = "after", value_name = "NAME[:WEIGHT]")]
    after: Vec<String>,
    /// Shards after the change, as a JSON array.
    #[arg(long, value_name = "PATH")]
    after_file: Option<PathBuf>,
    /// Virtual nodes per unit of weight (both rings).
    #[arg(long, default_value_t = DEFAULT_VNODES)]
    vnodes: u32,
    #[command(flatten)]
    keys: KeysArgs,
}

impl PlanArgs {
    fn run(self) -> anyhow::Result<serde_json::Value> {
        let before = Ring::with_shards(self.vnodes, &shard_set("before", &self.before, self.before_file.as_deref())?)?;
        let after = Ring::with_shards(self.vnodes, &shard_set("after", &self.after, self.after_file.as_deref())?)?;
        let keys = self.keys.read()?;
        let moves = before.plan(&after, keys.iter().map(String::as_str));
        Ok(json!({ "keys": keys.len(), "moved": moves.len(), "moves": moves }))
    }
}

/// Shards from `name[:weight]` arguments plus an optional JSON file.
fn shard_set(arg: &str, specs: &[String], file: Option<&Path>) -> anyhow::Result<Vec<ShardSpec>> {
    let mut out = Vec::new();
    if let Some(path) = file {
        let bytes = read_input(Some(path))?;
        let from_file: Vec<ShardSpec> = serde_json::from_slice(&bytes)
            .map_err(|e| anyhow::anyhow!("invalid shards file {}: {e}", path.display()))?;
        out.extend(from_file);
    }
    for s in specs {
        out.push(parse_shard(arg, s)?);
    }
    if out.is_empty() {
        bail!("invalid argument `{arg}`: no shards given");
    }
    Ok(out)
}

/// `name` or `name:weight`; a name may itself contain `:` when a weight follows.
fn parse_shard(arg: &str, s: &str) -> anyhow::Result<ShardSpec> {
    let (name, weight) = match s.rsplit_once(':') {
        Some((name, w)) => {
            let weight: u32 = w.parse().map_err(|_| anyhow::anyhow!("invalid argument `{arg}`: weight {w:?} of {name:?} is not a positive integer"))?;
            (name, weight)
        }
        None => (s, 1),
    };
    if name.is_empty() {
        bail!("invalid argument `{arg}`: empty shard name");
    }
    Ok(ShardSpec { name: name.to_string(), weight, healthy: true })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_specs_parse() {
        let s = parse_shard("shard", "a:3").unwrap();
        assert_eq!((s.name.as_str(), s.weight), ("a", 3));
        let s = parse_shard("shard", "host:9000:2").unwrap();
        assert_eq!((s.name.as_str(), s.weight), ("host:9000", 2));
        assert_eq!(parse_shard("shard", "b").unwrap().weight, 1);
        assert!(parse_shard("shard", "a:x").is_err());
        assert!(parse_shard("shard", ":2").is_err());
    }
}
