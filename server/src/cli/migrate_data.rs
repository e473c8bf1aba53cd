//! The data steps of `fractal dedup-migrate`: counting, copying, verifying and
//! deleting the keys that change owner. Every scan walks a shard in key order
//! (`(tenant, pcs_id)`, the primary key) in pages, so none holds a table in memory
//! but `verify`'s maps of the moved keys (32 bytes of digest per key).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use fractal_core::{hex, sha256};
use serde_json::{Value, json};

use super::migrate::{Ctx, Progress};

/// Rows of one page of a scan.
const PAGE: i64 = 5_000;

/// Keys counted by `plan`: all of them, and the moving ones by (from, to).
pub(super) struct Counts {
    pub total: u64,
    pub moves: BTreeMap<(String, String), u64>,
}

/// What one run of `copy` did.
pub(super) struct CopyOut {
    /// Keys the checkpoints said were copied before this run.
    pub before: i64,
    /// Moving keys this run read from their old owners.
    pub scanned: u64,
    /// Keys this run inserted into new owners (a key already there is not copied again).
    pub copied: u64,
}

type Key = (String, String);

fn db(shard: &str) -> impl Fn(tokio_postgres::Error) -> anyhow::Error + '_ {
    move |e| match e.as_db_error() {
        Some(d) => anyhow!("shard {shard:?}: {} ({})", d.message(), d.code().code()),
        None => anyhow!("shard {shard:?}: {e}"),
    }
}

fn shard_names(r: &fractal_core::Ring) -> Vec<String> {
    r.shards().into_iter().map(|s| s.name).collect()
}

/// The new owner of `pcs_id` if it is not `shard`.
fn moves_from<'a>(ctx: &'a Ctx, shard: &str, pcs_id: &str) -> Option<&'a str> {
    ctx.new.pick(pcs_id.as_bytes()).ok().filter(|to| *to != shard)
}

/// One page of keys after `after`, in key order.
async fn keys_after(ctx: &Ctx, shard: &str, after: &Key, limit: i64) -> anyhow::Result<Vec<Key>> {
    let rows = ctx
        .client(shard)
        .await?
        .query(
            "SELECT tenant, pcs_id FROM fractal_outcomes WHERE (tenant, pcs_id) > ($1, $2)
            ORDER BY tenant, pcs_id LIMIT $3",
            &[&after.0, &after.1, &limit],
        )
        .await
        .map_err(db(shard))?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

pub(super) async fn count_moves(ctx: &Ctx, sample: Option<f64>) -> anyhow::Result<Counts> {
    let mut c = Counts { total: 0, moves: BTreeMap::new() };
    let scale = match sample {
        Some(p) if !(p > 0.0 && p <= 100.0) => return Err(anyhow!("--sample must be in (0, 100]")),
        Some(p) => 100.0 / p,
        None => 1.0,
    };
    for shard in shard_names(&ctx.old) {
        let add = |ids: &[String], c: &mut Counts| {
            c.total += ids.len() as u64;
            for m in ctx.old.plan(&ctx.new, ids.iter().map(String::as_str)) {
                *c.moves.entry((m.from.unwrap_or_default(), m.to.unwrap_or_default())).or_default() += 1;
            }
        };
        if let Some(p) = sample {
            let rows = ctx
                .client(&shard)
                .await?
                .query("SELECT pcs_id FROM fractal_outcomes TABLESAMPLE SYSTEM ($1)", &[&(p as f32)])
                .await
                .map_err(db(&shard))?;
            let ids: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
            add(&ids, &mut c);
            continue;
        }
        let mut after: Key = Default::default();
        loop {
            let keys = keys_after(ctx, &shard, &after, PAGE).await?;
            let ids: Vec<String> = keys.iter().map(|k| k.1.clone()).collect();
            add(&ids, &mut c);
            match keys.last() {
                Some(k) if keys.len() as i64 == PAGE => after = k.clone(),
                _ => break,
            }
        }
    }
    c.total = (c.total as f64 * scale).round() as u64;
    for v in c.moves.values_mut() {
        *v = (*v as f64 * scale).round() as u64;
    }
    Ok(c)
}

/// Copies, source by source, the rows whose owner changes. Each batch goes to each
/// target in one transaction together with that target's checkpoint (the last key
/// read from the source), so a copy killed anywhere resumes after the last batch a
/// target committed; `ON CONFLICT DO NOTHING` keeps a key from being stored twice.
/// Rows travel as `to_jsonb` of the whole row, so every column is copied as it is.
pub(super) async fn copy(
    ctx: &Ctx,
    rate: u64,
    batch: i64,
    stop: &AtomicBool,
    progress: &mut Progress,
) -> anyhow::Result<CopyOut> {
    let mut out = CopyOut { before: 0, scanned: 0, copied: 0 };
    let started = Instant::now();
    let ranges = ctx.old.plan_ranges(&ctx.new);
    'sources: for source in shard_names(&ctx.old) {
        if !ranges.iter().any(|r| r.from.as_deref() == Some(source.as_str())) {
            continue; // no key leaves this shard
        }
        let targets: Vec<String> = shard_names(&ctx.new).into_iter().filter(|t| *t != source).collect();
        let mut cursor: Option<Key> = None;
        let mut all_done = true;
        for t in &targets {
            let row = ctx
                .client(t)
                .await?
                .query_opt(
                    "SELECT last_tenant, last_pcs_id, copied, done FROM fractal_migration_copy
                    WHERE migration = $1 AND source = $2",
                    &[&ctx.id, &source],
                )
                .await
                .map_err(db(t))?;
            let (k, done) = match row {
                Some(r) => {
                    out.before += r.get::<_, i64>(2);
                    ((r.get(0), r.get(1)), r.get(3))
                }
                None => (Key::default(), false),
            };
            all_done &= done;
            cursor = Some(cursor.map_or(k.clone(), |c| c.min(k)));
        }
        if all_done {
            continue;
        }
        let mut cursor = cursor.unwrap_or_default();
        progress.add(0);
        loop {
            if stop.load(Ordering::SeqCst) {
                break 'sources;
            }
            let rows = ctx
                .client(&source)
                .await?
                .query(
                    "SELECT tenant, pcs_id, to_jsonb(o)::text FROM fractal_outcomes o
                    WHERE (tenant, pcs_id) > ($1, $2) ORDER BY tenant, pcs_id LIMIT $3",
                    &[&cursor.0, &cursor.1, &batch],
                )
                .await
                .map_err(db(&source))?;
            let last: Key = match rows.last() {
                Some(r) => (r.get(0), r.get(1)),
                None => cursor.clone(),
            };
            let done = (rows.len() as i64) < batch;
            let mut groups: HashMap<&str, Vec<&str>> = HashMap::new();
            for r in &rows {
                if let Some(to) = moves_from(ctx, &source, r.get(1)) {
                    groups.entry(to).or_default().push(r.get(2));
                }
            }
            let mut moved = 0;
            for t in &targets {
                let group = groups.get(t.as_str()).map(Vec::as_slice).unwrap_or_default();
                moved += group.len() as u64;
                let mut c = ctx.client(t).await?;
                let tx = c.transaction().await.map_err(db(t))?;
                let n = if group.is_empty() {
                    0
                } else {
                    let rows = format!("[{}]", group.join(","));
                    tx.execute(
                        "INSERT INTO fractal_outcomes
                        SELECT * FROM jsonb_populate_recordset(NULL::fractal_outcomes, ($1::text)::jsonb)
                        ON CONFLICT (tenant, pcs_id) DO NOTHING",
                        &[&rows],
                    )
                    .await
                    .map_err(db(t))?
                };
                tx.execute(
                    "INSERT INTO fractal_migration_copy (migration, source, last_tenant, last_pcs_id, copied, done)
                    VALUES ($1, $2, $3, $4, $5, $6)
                    ON CONFLICT (migration, source) DO UPDATE SET last_tenant = EXCLUDED.last_tenant,
                        last_pcs_id = EXCLUDED.last_pcs_id, done = EXCLUDED.done,
                        copied = fractal_migration_copy.copied + EXCLUDED.copied",
                    &[&ctx.id, &source, &last.0, &last.1, &(n as i64), &done],
                )
                .await
                .map_err(db(t))?;
                tx.commit().await.map_err(db(t))?;
                out.copied += n;
            }
            out.scanned += moved;
            progress.add(moved);
            cursor = last;
            if done {
                break;
            }
            if rate > 0 {
                let due = Duration::from_secs_f64(out.scanned as f64 / rate as f64);
                while started.elapsed() < due && !stop.load(Ordering::SeqCst) {
                    tokio::time::sleep((due - started.elapsed()).min(Duration::from_millis(100))).await;
                }
            }
        }
    }
    Ok(out)
}

const ANSWER: &str = "tenant, pcs_id, status, body, expires_at, cold_object, cold_offset, cold_len";

/// The digest of what a row answers (status, body or cold reference, expiry).
fn digest(r: &tokio_postgres::Row) -> [u8; 32] {
    let body: Option<Vec<u8>> = r.get(3);
    let cold = (r.get::<_, Option<String>>(5), r.get::<_, Option<i64>>(6), r.get::<_, Option<i32>>(7));
    let v = json!([r.get::<_, i16>(2), body.map(|b| hex(&b)), r.get::<_, i64>(4), cold]);
    sha256(v.to_string().as_bytes())
}

/// Every row of a shard: key → digest, filtered by `keep(pcs_id)` returning the pair key.
async fn scan_digests(
    ctx: &Ctx,
    shard: &str,
    keep: impl Fn(&str) -> Option<Key>,
    out: &mut BTreeMap<Key, BTreeMap<Key, [u8; 32]>>,
    progress: &mut Progress,
) -> anyhow::Result<()> {
    let sql = format!(
        "SELECT {ANSWER} FROM fractal_outcomes WHERE (tenant, pcs_id) > ($1, $2) ORDER BY tenant, pcs_id LIMIT $3"
    );
    let mut after = Key::default();
    loop {
        let rows = ctx.client(shard).await?.query(&sql, &[&after.0, &after.1, &PAGE]).await.map_err(db(shard))?;
        for r in &rows {
            if let Some(pair) = keep(r.get(1)) {
                out.entry(pair).or_default().insert((r.get(0), r.get(1)), digest(r));
                progress.add(1);
            }
        }
        match rows.last() {
            Some(r) if rows.len() as i64 == PAGE => after = (r.get(0), r.get(1)),
            _ => return Ok(()),
        }
    }
}

/// The digests of some keys on one shard.
async fn digests_of(ctx: &Ctx, shard: &str, keys: &[Key]) -> anyhow::Result<HashMap<Key, [u8; 32]>> {
    let (t, p): (Vec<&str>, Vec<&str>) = keys.iter().map(|k| (k.0.as_str(), k.1.as_str())).unzip();
    let sql = format!(
        "SELECT {} FROM fractal_outcomes o JOIN unnest($1::text[], $2::text[]) AS k(tenant, pcs_id)
        ON o.tenant = k.tenant AND o.pcs_id = k.pcs_id",
        ANSWER.split(", ").map(|c| format!("o.{c}")).collect::<Vec<_>>().join(", ")
    );
    let rows = ctx.client(shard).await?.query(&sql, &[&t, &p]).await.map_err(db(shard))?;
    Ok(rows.iter().map(|r| ((r.get(0), r.get(1)), digest(r))).collect())
}

fn pair_hash(m: &BTreeMap<Key, [u8; 32]>) -> String {
    let mut buf = Vec::with_capacity(m.len() * 40);
    for ((t, p), d) in m {
        buf.extend_from_slice(&sha256(format!("{t}\u{0}{p}").as_bytes()));
        buf.extend_from_slice(d);
    }
    hex(&sha256(&buf))
}

/// Compares every moved key on its old and its new owner, pair by pair. A key that
/// differs is read again on both sides after a second (a replica between its two
/// writes), and only a difference that stays is reported.
pub(super) async fn verify(ctx: &Ctx, progress: &mut Progress) -> anyhow::Result<Vec<Value>> {
    let mut src: BTreeMap<Key, BTreeMap<Key, [u8; 32]>> = BTreeMap::new();
    let mut dst: BTreeMap<Key, BTreeMap<Key, [u8; 32]>> = BTreeMap::new();
    let ranges = ctx.old.plan_ranges(&ctx.new);
    let leaves = |s: &str| ranges.iter().any(|r| r.from.as_deref() == Some(s));
    for s in shard_names(&ctx.old).into_iter().filter(|s| leaves(s)) {
        let keep = |id: &str| moves_from(ctx, &s, id).map(|to| (s.clone(), to.to_string()));
        scan_digests(ctx, &s, keep, &mut src, progress).await?;
    }
    for t in shard_names(&ctx.new).into_iter().filter(|t| ranges.iter().any(|r| r.to.as_deref() == Some(t))) {
        let keep = |id: &str| {
            let from = ctx.old.pick(id.as_bytes()).ok()?;
            (from != t).then(|| (from.to_string(), t.clone()))
        };
        scan_digests(ctx, &t, keep, &mut dst, progress).await?;
    }
    let pairs: Vec<Key> =
        src.keys().chain(dst.keys()).cloned().collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let mut recheck_waited = false;
    let mut out = Vec::new();
    for pair in pairs {
        let (mut s, mut d) = (src.remove(&pair).unwrap_or_default(), dst.remove(&pair).unwrap_or_default());
        let suspects: Vec<Key> = s
            .iter()
            .filter(|(k, v)| d.get(*k) != Some(v))
            .map(|(k, _)| k.clone())
            .chain(d.keys().filter(|k| !s.contains_key(*k)).cloned())
            .collect();
        if !suspects.is_empty() {
            if !recheck_waited {
                tokio::time::sleep(Duration::from_secs(1)).await;
                recheck_waited = true;
            }
            for chunk in suspects.chunks(PAGE as usize) {
                let (a, b) = (digests_of(ctx, &pair.0, chunk).await?, digests_of(ctx, &pair.1, chunk).await?);
                for k in chunk {
                    match a.get(k) {
                        Some(v) => s.insert(k.clone(), *v),
                        None => s.remove(k),
                    };
                    match b.get(k) {
                        Some(v) => d.insert(k.clone(), *v),
                        None => d.remove(k),
                    };
                }
            }
        }
        let missing: Vec<&Key> = s.keys().filter(|k| !d.contains_key(*k)).collect();
        let different: Vec<&Key> = s.iter().filter(|(k, v)| d.get(*k).is_some_and(|w| w != *v)).map(|x| x.0).collect();
        let extra: Vec<&Key> = d.keys().filter(|k| !s.contains_key(*k)).collect();
        let examples: Vec<String> =
            missing.iter().chain(&different).chain(&extra).take(5).map(|(t, p)| format!("{t}/{p}")).collect();
        out.push(json!({
            "from": pair.0, "to": pair.1,
            "source_keys": s.len(), "target_keys": d.len(),
            "source_hash": pair_hash(&s), "target_hash": pair_hash(&d),
            "missing": missing.len(), "different": different.len(), "extra": extra.len(),
            "differences": missing.len() + different.len() + extra.len(),
            "examples": examples,
        }));
    }
    Ok(out)
}

/// Deletes from each old owner the keys the new ring gives to another shard.
pub(super) async fn cleanup(ctx: &Ctx, progress: &mut Progress) -> anyhow::Result<BTreeMap<String, u64>> {
    let mut deleted = BTreeMap::new();
    let ranges = ctx.old.plan_ranges(&ctx.new);
    let olds = shard_names(&ctx.old).into_iter().filter(|s| ranges.iter().any(|r| r.from.as_deref() == Some(s)));
    for s in olds {
        let mut n = 0;
        let mut after = Key::default();
        loop {
            let keys = keys_after(ctx, &s, &after, PAGE).await?;
            let (t, p): (Vec<&str>, Vec<&str>) = keys
                .iter()
                .filter(|k| moves_from(ctx, &s, &k.1).is_some())
                .map(|k| (k.0.as_str(), k.1.as_str()))
                .unzip();
            if !t.is_empty() {
                let gone = ctx
                    .client(&s)
                    .await?
                    .execute(
                        "DELETE FROM fractal_outcomes o USING unnest($1::text[], $2::text[]) AS k(tenant, pcs_id)
                        WHERE o.tenant = k.tenant AND o.pcs_id = k.pcs_id",
                        &[&t, &p],
                    )
                    .await
                    .map_err(db(&s))?;
                n += gone;
                progress.add(gone);
            }
            match keys.last() {
                Some(k) if keys.len() as i64 == PAGE => after = k.clone(),
                _ => break,
            }
        }
        deleted.insert(s, n);
    }
    Ok(deleted)
}
