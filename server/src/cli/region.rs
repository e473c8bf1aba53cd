//! `fractal region status|conflicts|pause|resume|reconcile` (SPEC §10; runbooks in
//! docs/runbooks/geo-*.md).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use fractal_core::region::Stamp;
use serde_json::json;

use crate::serve::config::{Config, Overrides};
use crate::serve::region::{self, import, state};
use crate::serve::store::{Merged, Outcome, OutcomeStore, RedbStore, now_secs};
use crate::serve::wal;

/// Region subcommands.
#[derive(clap::Subcommand)]
pub enum RegionCommand {
    /// Lag, last imported segment per peer, divergence and conflicts, as the running
    /// server last wrote them (DIR/region/status.json). `--converged` fails (exit 1)
    /// unless every peer is caught up and no divergence is measured.
    Status(StatusArgs),
    /// Every answer of this region superseded by an earlier one elsewhere.
    Conflicts(DirArgs),
    /// Stop shipping (publishing and importing) until `resume`; divergence is still
    /// measured. For drills and to hold a region's log back.
    Pause(DirArgs),
    /// Ship again after `pause`.
    Resume(DirArgs),
    /// With the server stopped: read every region's published log and this region's
    /// log, pick each key's global winner, and report (`--dry-run`) or store
    /// (`--apply`) it, listing every superseded key.
    Reconcile(ReconcileArgs),
}

/// A data directory.
#[derive(clap::Args)]
pub struct DirArgs {
    /// The server's data directory (the region state is in DIR/region).
    #[arg(long)]
    pub data_dir: PathBuf,
}

/// Options of `fractal region status`.
#[derive(clap::Args)]
pub struct StatusArgs {
    /// The server's data directory.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Exit 1 unless converged (for scripts and runbooks).
    #[arg(long)]
    pub converged: bool,
}

/// Options of `fractal region reconcile`.
#[derive(clap::Args)]
pub struct ReconcileArgs {
    /// The server's configuration file (data_dir and [region]).
    #[arg(long, short = 'c')]
    pub config: PathBuf,
    /// Report only.
    #[arg(long, conflicts_with = "apply", required_unless_present = "apply")]
    pub dry_run: bool,
    /// Store the global winners.
    #[arg(long)]
    pub apply: bool,
}

impl RegionCommand {
    /// Runs it; returns the JSON answer.
    pub fn run(self) -> anyhow::Result<serde_json::Value> {
        match self {
            RegionCommand::Status(a) => {
                let s = state::Status::load(&a.data_dir.join("region"))?;
                let converged = s.converged();
                let mut v = serde_json::to_value(&s)?;
                v["converged"] = json!(converged);
                if a.converged && !converged {
                    println!("{v}");
                    std::process::exit(1);
                }
                Ok(v)
            }
            RegionCommand::Conflicts(a) => {
                let list = state::read_conflicts(&a.data_dir.join("region").join(state::CONFLICTS_FILE))?;
                Ok(json!({ "count": list.len(), "conflicts": list }))
            }
            RegionCommand::Pause(a) => {
                let dir = a.data_dir.join("region");
                std::fs::create_dir_all(&dir)?;
                std::fs::write(dir.join(state::PAUSED_FILE), b"paused by fractal region pause\n")?;
                Ok(json!({ "paused": true }))
            }
            RegionCommand::Resume(a) => {
                match std::fs::remove_file(a.data_dir.join("region").join(state::PAUSED_FILE)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
                Ok(json!({ "paused": false }))
            }
            RegionCommand::Reconcile(a) => {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                rt.block_on(reconcile(a))
            }
        }
    }
}

/// A candidate answer for a key.
struct Candidate {
    stamp: Stamp,
    outcome: Outcome,
}

fn add(winners: &mut BTreeMap<(String, String), Candidate>, rec: wal::Record) {
    let Some(d) = rec.decided else { return };
    let Some(o) = d.origin else { return };
    if d.expires_at <= now_secs() {
        return;
    }
    let stamp = Stamp::new(o.hlc, &o.region, &rec.body);
    let outcome = Outcome { status: d.status, body: d.outcome, expires_at: d.expires_at, stamp: Some(stamp.clone()) };
    let c = Candidate { stamp, outcome };
    match winners.entry((rec.tenant, d.pcs_id)) {
        std::collections::btree_map::Entry::Vacant(v) => {
            v.insert(c);
        }
        std::collections::btree_map::Entry::Occupied(mut e) => {
            if c.stamp < e.get().stamp {
                e.insert(c);
            }
        }
    }
}

fn answer_json(o: &Outcome) -> serde_json::Value {
    let s = o.stamp.as_ref();
    json!({
        "region": s.map(|s| s.region.clone()),
        "accepted_at": s.map(|s| s.accepted_at),
        "record_sha256": s.map(|s| fractal_core::hex(&s.record_sha256)),
        "status": o.status,
        "result": serde_json::from_slice::<serde_json::Value>(&o.body).unwrap_or(serde_json::Value::Null),
    })
}

async fn reconcile(a: ReconcileArgs) -> anyhow::Result<serde_json::Value> {
    let config = Config::load(Some(&a.config), &Overrides::default())?;
    let Some(rc) = &config.region else { bail!("region.id: the configuration has no [region]") };
    let remote = region::Remote::open(&rc.url)?;
    let mut winners = BTreeMap::new();
    // Every region's published log, this one's included.
    let prefix = remote.path("log");
    let listed = remote.store.list_with_delimiter(Some(&prefix)).await.context("listing the published logs")?;
    let regions: Vec<String> = listed.common_prefixes.iter().filter_map(|p| p.filename().map(str::to_string)).collect();
    let mut segments = 0u64;
    for r in &regions {
        let mut seq = 0;
        while let Some(seg) = import::fetch(&remote, r, seq).await? {
            for rec in seg.records {
                if rec.decided.as_ref().and_then(|d| d.origin.as_ref()).is_some_and(|o| &o.region == r) {
                    add(&mut winners, rec);
                }
            }
            seq += 1;
            segments += 1;
        }
    }
    // This region's own log (not yet published records, and what it imported).
    let wal_dir = config.data_dir.join("wal");
    if wal_dir.exists() {
        let mut recs = Vec::new();
        wal::read_range(&wal_dir, 0, u64::MAX, &mut |r| recs.push(r))?;
        for r in recs {
            add(&mut winners, r);
        }
    }
    let path = config.data_dir.join("outcomes.redb");
    let (store, writer, watermark) = RedbStore::open(&path, 16 << 20)
        .map_err(|e| anyhow::anyhow!("{}: {e} (stop the server first)", path.display()))?;
    let mut superseded = Vec::new();
    let mut missing = 0u64;
    let mut conflicts = state::Conflicts::open(&config.data_dir.join("region"))?;
    for ((tenant, pcs_id), c) in &winners {
        let current = store.get(tenant, pcs_id).await?;
        let differs = match &current {
            None => {
                missing += 1;
                true
            }
            Some(cur) => cur.stamp.as_ref() != Some(&c.stamp),
        };
        if !differs {
            continue;
        }
        if let Some(cur) = &current {
            superseded.push(json!({
                "tenant": tenant, "pcs_id": pcs_id,
                "stored": answer_json(cur), "winner": answer_json(&c.outcome),
            }));
        }
        if a.apply {
            let merged = store.merge_stamped(tenant, pcs_id, c.outcome.clone()).await?;
            if let (Merged::Replaced(old), Some(s)) = (&merged, &old_stamp(&current))
                && s.region == rc.id
                && (old.status, &old.body) != (c.outcome.status, &c.outcome.body)
            {
                let ans = |o: &Outcome| {
                    let st = o.stamp.clone().unwrap();
                    state::Answer {
                        region: st.region,
                        accepted_at: st.accepted_at,
                        record_sha256: fractal_core::hex(&st.record_sha256),
                        status: o.status,
                        result: serde_json::from_slice(&o.body).unwrap_or(serde_json::Value::Null),
                    }
                };
                conflicts.record(&state::Conflict {
                    tenant: tenant.clone(),
                    pcs_id: pcs_id.clone(),
                    superseded: ans(old),
                    winner: ans(&c.outcome),
                })?;
            }
        }
    }
    if a.apply {
        store.checkpoint(watermark).await?;
    }
    drop(store);
    tokio::task::spawn_blocking(move || writer.join()).await?;
    Ok(json!({
        "mode": if a.apply { "apply" } else { "dry-run" },
        "regions": regions,
        "segments": segments,
        "keys": winners.len(),
        "missing": missing,
        "superseded_count": superseded.len(),
        "superseded": superseded,
    }))
}

fn old_stamp(current: &Option<Outcome>) -> Option<Stamp> {
    current.as_ref().and_then(|o| o.stamp.clone())
}
