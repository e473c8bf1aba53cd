//! `fractal wal inspect|repair`: look at the server's write-ahead log, and cut it
//! deliberately where a start refused it (docs/server.md, "Recovery").

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use serde_json::json;

use crate::serve::wal;

/// Write-ahead log subcommands.
#[derive(clap::Subcommand)]
pub enum WalCommand {
    /// Report every segment: intact records, LSNs, and the first damage (torn tail or
    /// corruption) with its offset. Changes nothing; prints no record contents.
    Inspect(InspectArgs),
    /// Cut a segment at an offset (after saving the cut bytes next to it as
    /// `wal-<id>.log.cut-<offset>`). Only with the server stopped; records after the
    /// offset in that segment are no longer replayed.
    Repair(RepairArgs),
}

/// Options of `fractal wal inspect`.
#[derive(clap::Args)]
pub struct InspectArgs {
    /// The server's data directory (the log is in DIR/wal).
    #[arg(long)]
    pub data_dir: PathBuf,
}

/// Options of `fractal wal repair`.
#[derive(clap::Args)]
pub struct RepairArgs {
    /// The server's data directory (the log is in DIR/wal).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The segment id (as in the start error and `inspect`).
    #[arg(long)]
    pub segment: u64,
    /// The byte offset to cut at (as in the start error and `inspect`).
    #[arg(long)]
    pub truncate_at: u64,
}

impl WalCommand {
    /// Runs the subcommand and returns its JSON answer.
    pub fn run(self) -> anyhow::Result<serde_json::Value> {
        match self {
            WalCommand::Inspect(a) => {
                let dir = a.data_dir.join("wal");
                if !dir.is_dir() {
                    bail!("--data-dir: {} holds no write-ahead log", a.data_dir.display());
                }
                let segments = wal::inspect(&dir).with_context(|| format!("reading {}", dir.display()))?;
                let ok = segments.iter().all(|s| s.damage.as_ref().is_none_or(|d| d.kind == "torn_tail"));
                Ok(json!({ "dir": dir.display().to_string(), "starts": ok, "segments": segments }))
            }
            WalCommand::Repair(a) => {
                let dir = a.data_dir.join("wal");
                let saved = wal::repair(&dir, a.segment, a.truncate_at)
                    .with_context(|| format!("--segment {} --truncate-at {}", a.segment, a.truncate_at))?;
                Ok(json!({ "segment": a.segment, "truncated_at": a.truncate_at, "saved": saved.display().to_string() }))
            }
        }
    }
}
