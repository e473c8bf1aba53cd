//! `fractal store downgrade`: the embedded outcome store's file, offline
//! (docs/server.md, "Upgrade and rollback").

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use serde_json::json;

use crate::serve::store;

/// Outcome store subcommands.
#[derive(clap::Subcommand)]
pub enum StoreCommand {
    /// Rewrite DIR/outcomes.redb in format 1 (outcomes keyed by tenant and pcs_id), the
    /// format of releases before the outcome log, so that such a release can serve it
    /// again. Only with the server stopped; the next start of this release upgrades
    /// it back.
    Downgrade(DowngradeArgs),
}

/// Options of `fractal store downgrade`.
#[derive(clap::Args)]
pub struct DowngradeArgs {
    /// The server's data directory (the store is DIR/outcomes.redb).
    #[arg(long)]
    pub data_dir: PathBuf,
}

impl StoreCommand {
    /// Runs the subcommand and returns its JSON answer.
    pub fn run(self) -> anyhow::Result<serde_json::Value> {
        match self {
            StoreCommand::Downgrade(a) => {
                let path = a.data_dir.join("outcomes.redb");
                if !path.is_file() {
                    bail!("--data-dir: {} holds no outcome store (outcomes.redb)", a.data_dir.display());
                }
                let moved = store::downgrade_to_v1(&path).with_context(|| format!("downgrading {}", path.display()))?;
                Ok(json!({ "file": path.display().to_string(), "format": 1, "moved": moved }))
            }
        }
    }
}
