//! `fractal dedup-migrate plan|copy|verify|cutover|cleanup|status`: move the keys of
//! the shared stores from one ring to another under live load (SPEC §9, last point;
//! docs/runbooks/shard-migration.md). The replicas follow the ring generation this
//! tool writes into every shard (`crate::serve::shared::ringgen`).

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use deadpool_postgres::{ManagerConfig, Pool, RecyclingMethod, Runtime};
use fractal_core::{Ring, ShardSpec, hex, sha256};
use serde_json::{Value, json};

use super::migrate_data as data;
use crate::serve::config::{Config, SharedStore as SharedConfig, StoreFile};
use crate::serve::shared::migrate_pool;
use crate::serve::shared::ringgen::{self, LIVE_SECS, Phase, RingState, ShardEntry};
use crate::serve::store::now_secs;

/// Migration subcommands.
#[derive(clap::Subcommand)]
pub enum MigrateCommand {
    /// Which hash ranges and how many keys move between which shards, and how long the copy takes.
    Plan(PlanArgs),
    /// Start dual writes, then copy the moving keys to their new owners (throttled, resumable).
    Copy(CopyArgs),
    /// Compare every moved key on its old and new owner: counts and content hashes per pair.
    Verify(Common),
    /// Switch the replicas to the new ring: the new owner decides and is read first.
    Cutover(Common),
    /// After verify and the grace period: make the new ring the only one, delete moved keys from old owners.
    Cleanup(CleanupArgs),
    /// The ring generation the stores hold and the replicas that follow it.
    Status(Common),
}

/// The two rings and the output mode.
#[derive(clap::Args)]
pub struct Common {
    /// The server configuration (its `[store]`) of the ring keys move from.
    #[arg(long, value_name = "OLD.toml")]
    from: PathBuf,
    /// The server configuration (its `[store]`) of the ring keys move to.
    #[arg(long, value_name = "NEW.toml")]
    to: PathBuf,
    /// One JSON document on stdout (and JSON progress lines on stderr).
    #[arg(long)]
    json: bool,
    /// Longest wait for the live replicas to acknowledge a new ring generation.
    #[arg(long, default_value_t = 60)]
    ack_timeout_secs: u64,
}

/// Options of `plan`.
#[derive(clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    common: Common,
    /// The copy rate the estimate assumes, keys per second.
    #[arg(long, default_value_t = 2000)]
    rate: u64,
    /// Count a sample of this percent of each shard's rows (TABLESAMPLE SYSTEM) instead of every row.
    #[arg(long, value_name = "PERCENT")]
    sample: Option<f64>,
}

/// Options of `copy`.
#[derive(clap::Args)]
pub struct CopyArgs {
    #[command(flatten)]
    common: Common,
    /// Most keys copied per second (0: no limit).
    #[arg(long, default_value_t = 2000)]
    rate: u64,
    /// Keys read from a source shard per batch (one transaction per target).
    #[arg(long, default_value_t = 500)]
    batch: i64,
}

/// Options of `cleanup`.
#[derive(clap::Args)]
pub struct CleanupArgs {
    #[command(flatten)]
    common: Common,
    /// Seconds that must have passed since cutover.
    #[arg(long, default_value_t = 300)]
    grace_secs: u64,
}

impl MigrateCommand {
    /// Runs the subcommand; prints its answer (text, or JSON with `--json`).
    pub fn run(self) -> anyhow::Result<()> {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        rt.block_on(async {
            let (json, out) = match self {
                MigrateCommand::Plan(a) => (a.common.json, plan(&Ctx::open(&a.common).await?, &a).await?),
                MigrateCommand::Copy(a) => (a.common.json, copy(&Ctx::open(&a.common).await?, &a).await?),
                MigrateCommand::Verify(a) => (a.json, verify(&Ctx::open(&a).await?).await?),
                MigrateCommand::Cutover(a) => (a.json, cutover(&Ctx::open(&a).await?).await?),
                MigrateCommand::Cleanup(a) => (a.common.json, cleanup(&Ctx::open(&a.common).await?, &a).await?),
                MigrateCommand::Status(a) => (a.json, status(&Ctx::open(&a).await?).await?),
            };
            let failed = out.get("ok") == Some(&Value::Bool(false));
            if json {
                super::print_json(&out)?;
            } else {
                print_text(&out);
            }
            if failed {
                bail!("{}", out["error"].as_str().unwrap_or("the step did not pass"));
            }
            Ok(())
        })
    }
}

fn print_text(v: &Value) {
    let Value::Object(m) = v else { return println!("{v}") };
    for (k, v) in m {
        match v {
            Value::Array(items) if items.len() > 20 => println!("{k}: {} (--json lists them)", items.len()),
            Value::Array(items) => {
                println!("{k}:");
                for i in items {
                    println!("  {i}");
                }
            }
            _ => println!("{k}: {v}"),
        }
    }
}

/// The rings, the shards' pools and the migration's id.
pub(super) struct Ctx {
    pub old: Ring,
    pub new: Ring,
    old_entries: Vec<ShardEntry>,
    new_entries: Vec<ShardEntry>,
    vnodes: u32,
    pub id: String,
    pub pools: BTreeMap<String, Pool>,
    pub json: bool,
    ack_timeout: Duration,
}

#[derive(serde::Deserialize)]
struct StoreOnly {
    #[serde(default)]
    store: StoreFile,
}

fn load(path: &Path, what: &str) -> anyhow::Result<SharedConfig> {
    let text = std::fs::read_to_string(path).with_context(|| format!("--{what} {}", path.display()))?;
    let f: StoreOnly = toml::from_str(&text).with_context(|| format!("--{what} {}", path.display()))?;
    Config::shared(&f.store)
        .with_context(|| format!("--{what} {}", path.display()))?
        .ok_or_else(|| anyhow!("--{what} {}: store.backend must be \"postgres\"", path.display()))
}

fn entries(c: &SharedConfig) -> Vec<ShardEntry> {
    c.shards.iter().map(|s| ShardEntry { name: s.name.clone(), url: s.url.0.clone(), weight: s.weight }).collect()
}

/// A url without its password: the ring table is read by every replica and kept in
/// every shard (a replica takes a password from its own configuration, `.pgpass`
/// or `PGPASSWORD`).
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => match rest[..at].find(':') {
            Some(colon) => format!("{scheme}://{}{}", &rest[..colon], &rest[at..]),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

fn stored(e: &[ShardEntry]) -> Vec<ShardEntry> {
    e.iter().map(|s| ShardEntry { url: without_password(&s.url), ..s.clone() }).collect()
}

fn ring(vnodes: u32, e: &[ShardEntry]) -> anyhow::Result<Ring> {
    let specs: Vec<ShardSpec> =
        e.iter().map(|s| ShardSpec { name: s.name.clone(), weight: s.weight, healthy: true }).collect();
    Ok(Ring::with_shards(vnodes, &specs)?)
}

impl Ctx {
    async fn open(a: &Common) -> anyhow::Result<Ctx> {
        let (from, to) = (load(&a.from, "from")?, load(&a.to, "to")?);
        if from.vnodes != to.vnodes {
            bail!("store.vnodes: the two rings must use the same ({} and {})", from.vnodes, to.vnodes);
        }
        let (old_entries, new_entries) = (entries(&from), entries(&to));
        let mut urls: BTreeMap<String, String> = BTreeMap::new();
        for e in old_entries.iter().chain(&new_entries) {
            if let Some(u) = urls.insert(e.name.clone(), e.url.clone())
                && u != e.url
            {
                bail!("store.shards {:?}: the two configurations give it different urls", e.name);
            }
        }
        let mut pools = BTreeMap::new();
        for (name, url) in &urls {
            let pg: tokio_postgres::Config = url.parse().with_context(|| format!("store.shards {name:?}: url"))?;
            let mgr = deadpool_postgres::Manager::from_config(
                pg,
                tokio_postgres::NoTls,
                ManagerConfig { recycling_method: RecyclingMethod::Fast },
            );
            let pool = Pool::builder(mgr)
                .max_size(4)
                .runtime(Runtime::Tokio1)
                .create_timeout(Some(Duration::from_secs(5)))
                .build()?;
            migrate_pool(name, &pool).await.map_err(|e| anyhow!("shard {name:?}: {e}"))?;
            let mut c = pool.get().await.map_err(|e| anyhow!("shard {name:?}: {e}"))?;
            ringgen::ensure_tables(&mut c).await.map_err(|e| anyhow!("shard {name:?}: {e}"))?;
            pools.insert(name.clone(), pool);
        }
        let id_src = serde_json::to_vec(&json!([from.vnodes, names(&old_entries), names(&new_entries)]))?;
        let id = hex(&sha256(&id_src))[..16].to_string();
        Ok(Ctx {
            old: ring(from.vnodes, &old_entries)?,
            new: ring(to.vnodes, &new_entries)?,
            old_entries,
            new_entries,
            vnodes: from.vnodes,
            id,
            pools,
            json: a.json,
            ack_timeout: Duration::from_secs(a.ack_timeout_secs),
        })
    }

    pub async fn client(&self, shard: &str) -> anyhow::Result<deadpool_postgres::Object> {
        self.pools[shard].get().await.map_err(|e| anyhow!("shard {shard:?}: {e}"))
    }

    /// The newest ring generation any shard holds.
    async fn state(&self) -> anyhow::Result<Option<RingState>> {
        let mut best: Option<RingState> = None;
        for name in self.pools.keys() {
            let st =
                ringgen::read_state(&*self.client(name).await?).await.map_err(|e| anyhow!("shard {name:?}: {e}"))?;
            if let Some(st) = st.filter(|s| best.as_ref().is_none_or(|b| s.generation > b.generation)) {
                best = Some(st);
            }
        }
        Ok(best)
    }

    /// The state of this migration, or an error naming why it is not the one in progress.
    async fn own_state(&self, want: &[Phase]) -> anyhow::Result<RingState> {
        let st = self.state().await?.ok_or_else(|| anyhow!("no migration has started: run `copy` first"))?;
        if st.migration != self.id || st.phase == Phase::Stable && !want.contains(&Phase::Stable) {
            bail!("the stores are at generation {} ({}), not in this migration", st.generation, st.phase.as_str());
        }
        if !want.contains(&st.phase) {
            bail!("the migration is in phase {}, this step needs {:?}", st.phase.as_str(), phases(want));
        }
        Ok(st)
    }

    /// Writes a generation into every shard of both rings, then waits until every
    /// live replica routes by it.
    async fn advance(&self, st: &RingState) -> anyhow::Result<Value> {
        for name in self.pools.keys() {
            ringgen::write_state(&*self.client(name).await?, st).await.map_err(|e| anyhow!("shard {name:?}: {e}"))?;
        }
        self.wait_acks(st.generation).await
    }

    async fn wait_acks(&self, generation: i64) -> anyhow::Result<Value> {
        let started = Instant::now();
        loop {
            let since = now_secs() as i64 - LIVE_SECS;
            let mut seen: HashMap<String, (i64, i64)> = HashMap::new();
            for name in self.pools.keys() {
                let Ok(c) = self.client(name).await else { continue };
                for (r, g, at) in ringgen::replicas(&c, since).await.unwrap_or_default() {
                    let e = seen.entry(r).or_insert((g, at));
                    if at > e.1 {
                        *e = (g, at);
                    }
                }
            }
            let behind: Vec<&String> = seen.iter().filter(|(_, (g, _))| *g < generation).map(|(r, _)| r).collect();
            if behind.is_empty() {
                return Ok(json!({ "generation": generation, "replicas": seen.len() }));
            }
            if started.elapsed() > self.ack_timeout {
                bail!("replicas {behind:?} did not acknowledge generation {generation} in time; rerun the step");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn next(&self, prev: Option<&RingState>, phase: Phase, planned: u64, verified: bool) -> RingState {
        let stable = phase == Phase::Stable;
        RingState {
            generation: prev.map_or(0, |p| p.generation) + 1,
            phase,
            migration: self.id.clone(),
            vnodes: self.vnodes,
            old: stored(if stable { &self.new_entries } else { &self.old_entries }),
            new: stored(&self.new_entries),
            planned,
            verified,
            since: now_secs(),
        }
    }
}

fn names(e: &[ShardEntry]) -> Vec<(String, u32)> {
    e.iter().map(|s| (s.name.clone(), s.weight)).collect()
}

fn phases(p: &[Phase]) -> Vec<&'static str> {
    p.iter().map(|p| p.as_str()).collect()
}

async fn plan(ctx: &Ctx, a: &PlanArgs) -> anyhow::Result<Value> {
    let ranges = ctx.old.plan_ranges(&ctx.new);
    let counts = data::count_moves(ctx, a.sample).await?;
    let mut pairs: BTreeMap<(String, String), (u64, u64, u64)> = BTreeMap::new();
    for r in &ranges {
        let k = (r.from.clone().unwrap_or_default(), r.to.clone().unwrap_or_default());
        let e = pairs.entry(k).or_default();
        e.0 += 1;
        e.1 += r.end.wrapping_sub(r.start) as u64;
    }
    for ((from, to), n) in &counts.moves {
        pairs.entry((from.clone(), to.clone())).or_default().2 += n;
    }
    let moved: u64 = counts.moves.values().sum();
    let pairs: Vec<Value> = pairs
        .iter()
        .map(|((from, to), (n, width, keys))| {
            json!({ "from": from, "to": to, "ranges": n, "ring_share": *width as f64 / 4294967296.0, "keys": keys })
        })
        .collect();
    let ranges: Vec<Value> =
        ranges.iter().map(|r| json!({ "start": r.start, "end": r.end, "from": r.from, "to": r.to })).collect();
    Ok(json!({
        "migration": ctx.id,
        "keys": counts.total,
        "moved_keys": moved,
        "sampled_percent": a.sample,
        "rate": a.rate,
        "eta_secs": if a.rate == 0 { 0.0 } else { moved as f64 / a.rate as f64 },
        "pairs": pairs,
        "ranges": ranges,
    }))
}

async fn copy(ctx: &Ctx, a: &CopyArgs) -> anyhow::Result<Value> {
    if a.batch < 1 {
        bail!("--batch must be at least 1");
    }
    let cur = ctx.state().await?;
    let acked = match cur.as_ref() {
        Some(st) if st.migration == ctx.id && st.phase == Phase::Dual => ctx.wait_acks(st.generation).await?,
        Some(st) if st.migration == ctx.id && st.phase == Phase::Cutover => {
            bail!("the migration is past cutover: there is nothing left to copy")
        }
        Some(st) if st.phase != Phase::Stable => {
            bail!("another migration ({}) is in phase {}: finish it first", st.migration, st.phase.as_str())
        }
        Some(st) if names(&st.new) != names(&ctx.old_entries) => {
            bail!("the stores route by ring {:?}, not by --from's", names(&st.new))
        }
        _ => {
            let planned = data::count_moves(ctx, None).await?.moves.values().sum();
            ctx.advance(&ctx.next(cur.as_ref(), Phase::Dual, planned, false)).await?
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            flag.store(true, Ordering::SeqCst);
        }
    });
    let st = ctx.own_state(&[Phase::Dual]).await?;
    let mut progress = Progress::new("copy", st.planned, ctx.json);
    let out = data::copy(ctx, a.rate, a.batch, &stop, &mut progress).await?;
    progress.finish();
    let interrupted = stop.load(Ordering::SeqCst);
    let mut out = json!({
        "migration": ctx.id,
        "phase": "dual",
        "acknowledged": acked,
        "interrupted": interrupted,
        "checkpointed_before": out.before,
        "scanned_moved": out.scanned,
        "copied": out.copied,
        "next": if interrupted { "rerun copy: it resumes at its checkpoint" } else { "verify" },
    });
    if interrupted {
        out["ok"] = json!(false);
        out["error"] = json!("interrupted: rerun copy to resume at its checkpoint");
    }
    Ok(out)
}

async fn verify(ctx: &Ctx) -> anyhow::Result<Value> {
    let st = ctx.own_state(&[Phase::Dual, Phase::Cutover]).await?;
    let mut progress = Progress::new("verify", st.planned, ctx.json);
    let pairs = data::verify(ctx, &mut progress).await?;
    progress.finish();
    let differences: u64 = pairs.iter().map(|p| p["differences"].as_u64().unwrap_or(0)).sum();
    if differences == 0 && !st.verified {
        let mut next = st.clone();
        next.verified = true;
        for name in ctx.pools.keys() {
            ringgen::write_state(&*ctx.client(name).await?, &next).await.map_err(|e| anyhow!("shard {name:?}: {e}"))?;
        }
    }
    let mut out = json!({ "migration": ctx.id, "ok": differences == 0, "differences": differences, "pairs": pairs });
    if differences > 0 {
        out["error"] = json!(format!("verify found {differences} differences: rerun copy, then verify"));
    }
    Ok(out)
}

async fn cutover(ctx: &Ctx) -> anyhow::Result<Value> {
    let st = ctx.own_state(&[Phase::Dual, Phase::Cutover]).await?;
    if st.phase == Phase::Cutover {
        return Ok(
            json!({ "migration": ctx.id, "phase": "cutover", "acknowledged": ctx.wait_acks(st.generation).await? }),
        );
    }
    if !st.verified {
        bail!("verify has not passed since the copy: run verify first");
    }
    let next = ctx.next(Some(&st), Phase::Cutover, st.planned, true);
    let acked = ctx.advance(&next).await?;
    Ok(json!({ "migration": ctx.id, "phase": "cutover", "generation": next.generation, "acknowledged": acked }))
}

async fn cleanup(ctx: &Ctx, a: &CleanupArgs) -> anyhow::Result<Value> {
    let st = ctx.own_state(&[Phase::Cutover, Phase::Stable]).await?;
    if !st.verified {
        bail!("verify has not passed: cleanup deletes nothing");
    }
    let acked = if st.phase == Phase::Cutover {
        let waited = now_secs().saturating_sub(st.since);
        if waited < a.grace_secs {
            bail!("cutover was {waited} s ago; --grace-secs {} has not passed", a.grace_secs);
        }
        ctx.advance(&ctx.next(Some(&st), Phase::Stable, 0, true)).await?
    } else {
        ctx.wait_acks(st.generation).await?
    };
    let mut progress = Progress::new("cleanup", st.planned, ctx.json);
    let deleted = data::cleanup(ctx, &mut progress).await?;
    progress.finish();
    let total: u64 = deleted.values().sum();
    Ok(json!({ "migration": ctx.id, "phase": "stable", "acknowledged": acked, "deleted": total, "by_shard": deleted }))
}

async fn status(ctx: &Ctx) -> anyhow::Result<Value> {
    let st = ctx.state().await?;
    let since = now_secs() as i64 - LIVE_SECS;
    let mut replicas: BTreeMap<String, i64> = BTreeMap::new();
    let mut copied = 0;
    for name in ctx.pools.keys() {
        let c = ctx.client(name).await?;
        for (r, g, _) in ringgen::replicas(&c, since).await.map_err(|e| anyhow!("shard {name:?}: {e}"))? {
            let e = replicas.entry(r).or_insert(g);
            *e = (*e).max(g);
        }
        copied += ringgen::copied(&c, &ctx.id).await.map_err(|e| anyhow!("shard {name:?}: {e}"))?;
    }
    Ok(json!({ "migration": ctx.id, "state": st, "copied": copied, "live_replicas": replicas }))
}

/// Progress: a bar with rate and ETA on a terminal, plain (or JSON) lines otherwise.
pub(super) struct Progress {
    what: &'static str,
    total: u64,
    done: u64,
    started: Instant,
    last_line: Instant,
    bar: Option<indicatif::ProgressBar>,
    json: bool,
}

impl Progress {
    fn new(what: &'static str, total: u64, json: bool) -> Progress {
        let bar = (!json && std::io::stderr().is_terminal()).then(|| {
            let b = indicatif::ProgressBar::new(total);
            let style = indicatif::ProgressStyle::with_template(
                "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} keys, {per_sec}, ETA {eta}",
            )
            .expect("a valid template");
            b.set_style(style);
            b.set_prefix(what);
            b
        });
        Progress { what, total, done: 0, started: Instant::now(), last_line: Instant::now(), bar, json }
    }

    pub fn add(&mut self, n: u64) {
        self.done += n;
        if self.done > self.total {
            self.total = self.done;
            if let Some(b) = &self.bar {
                b.set_length(self.total);
            }
        }
        match &self.bar {
            Some(b) => b.set_position(self.done),
            None if self.last_line.elapsed() >= Duration::from_secs(1) => {
                self.last_line = Instant::now();
                self.line();
            }
            None => {}
        }
    }

    fn line(&self) {
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = self.done as f64 / secs;
        let eta = if rate > 0.0 { self.total.saturating_sub(self.done) as f64 / rate } else { 0.0 };
        if self.json {
            let l = json!({ "step": self.what, "done": self.done, "total": self.total, "rate": rate.round(), "eta_secs": eta.round() });
            eprintln!("{l}");
        } else {
            eprintln!("{}: {}/{} keys, {:.0} keys/s, ETA {:.0} s", self.what, self.done, self.total, rate, eta);
        }
    }

    fn finish(&self) {
        match &self.bar {
            Some(b) => b.finish(),
            None => self.line(),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_ring_table_gets_no_password() {
        let f = super::without_password;
        assert_eq!(f("postgres://u:hunter2@h:5432/db"), "postgres://u@h:5432/db");
        assert_eq!(f("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(f("postgresql://h/db?user=u"), "postgresql://h/db?user=u");
    }
}
