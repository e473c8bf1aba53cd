//! The cold archive: demotion of old outcomes into immutable objects, and the
//! object stores the server writes to (also the audit log's and the regions').

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use super::err;
use super::pg::{ColdRef, PgShard, pg_err, row_of};
use crate::serve::store::{Outcome, StoreError, now_secs};

const DEMOTE_PICK: &str = "SELECT tenant, pcs_id, status, body, expires_at, cold_object, cold_offset, cold_len
    FROM fractal_outcomes WHERE body IS NOT NULL AND warm_until <= $1 AND expires_at > $1
    ORDER BY warm_until LIMIT $2 FOR UPDATE SKIP LOCKED";
const DEMOTE_MARK: &str =
    "UPDATE fractal_outcomes o SET body = NULL, cold_object = k.obj, cold_offset = k.off, cold_len = k.len
    FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::int4[]) AS k(tenant, pcs_id, obj, off, len)
    WHERE o.tenant = k.tenant AND o.pcs_id = k.pcs_id";

/// Most rows moved by one demotion object.
pub(super) const DEMOTE_CHUNK: i64 = 2_000;
/// Longest wait for one object-store operation.
const COLD_TIMEOUT: Duration = Duration::from_secs(30);

/// The cold archive: immutable objects of demoted outcomes.
///
/// An object is `FLKC1\n` followed by entries; an entry is
/// `[tenant len u16][tenant][pcs_id len u16][pcs_id][status u16][expires_at u64][body len u32][body]`
/// (little endian). The warm row keeps the object name and the entry's byte range.
pub(super) struct Cold {
    pub(super) store: Arc<dyn ObjectStore>,
    pub(super) prefix: String,
    pub(super) seq: AtomicU64,
    pub(super) nonce: u64,
}

const COLD_MAGIC: &[u8] = b"FLKC1\n";

/// The path of object `name` under `prefix` (the prefix from [`open_object_store`],
/// possibly empty).
pub fn object_path(prefix: &str, name: &str) -> ObjPath {
    if prefix.is_empty() { ObjPath::from(name) } else { ObjPath::from(format!("{prefix}/{name}")) }
}

/// An object store and the key prefix inside it, from `file:///absolute/dir` (the
/// directory is created) or `s3://bucket/prefix` (endpoint, region and credentials
/// from `AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`). `what` names the setting in errors.
pub fn open_object_store(url: &str, what: &str) -> Result<(Arc<dyn ObjectStore>, String), String> {
    if let Some(dir) = url.strip_prefix("file://") {
        std::fs::create_dir_all(dir).map_err(|e| format!("{what}: {dir}: {e}"))?;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(dir).map_err(|e| format!("{what}: {e}"))?;
        Ok((Arc::new(fs), String::new()))
    } else if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let mut b = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(ep) = std::env::var("AWS_ENDPOINT_URL").ok().or_else(|| std::env::var("AWS_ENDPOINT").ok()) {
            b = b.with_allow_http(ep.starts_with("http://")).with_endpoint(ep);
        }
        if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err() {
            b = b.with_region("us-east-1");
        }
        Ok((Arc::new(b.build().map_err(|e| format!("{what}: {e}"))?), prefix.trim_matches('/').to_string()))
    } else {
        Err(format!("{what}: must be file:///… or s3://bucket/prefix"))
    }
}

impl Cold {
    pub(super) fn new(url: &str) -> Result<Cold, StoreError> {
        let (store, prefix) = open_object_store(url, "store.cold.url").map_err(err)?;
        let nonce = std::hash::BuildHasher::hash_one(&std::hash::RandomState::new(), std::process::id());
        Ok(Cold { store, prefix, seq: AtomicU64::new(0), nonce })
    }

    fn path(&self, name: &str) -> ObjPath {
        object_path(&self.prefix, name)
    }

    /// Writes a new object, create-only; returns its name.
    pub(super) async fn write(&self, shard: &str, data: Vec<u8>) -> Result<String, StoreError> {
        let name = format!(
            "outcomes/{shard}/{}-{:016x}-{}.flkc",
            now_secs(),
            self.nonce,
            self.seq.fetch_add(1, Ordering::Relaxed)
        );
        let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
        let path = self.path(&name);
        let put = self.store.put_opts(&path, PutPayload::from(data), opts);
        tokio::time::timeout(COLD_TIMEOUT, put).await.map_err(|_| err("object store timed out"))?.map_err(err)?;
        Ok(name)
    }

    pub(super) async fn read(
        &self,
        name: &str,
        off: u64,
        len: u64,
        tenant: &str,
        pcs_id: &str,
    ) -> Result<Outcome, StoreError> {
        let path = self.path(name);
        let get = self.store.get_range(&path, off..off + len);
        let b =
            tokio::time::timeout(COLD_TIMEOUT, get).await.map_err(|_| err("object store timed out"))?.map_err(err)?;
        let (t, p, o) = parse_entry(&b).ok_or_else(|| err(format!("cold object {name}: bad entry at {off}")))?;
        if t != tenant || p != pcs_id {
            return Err(err(format!("cold object {name}: entry at {off} is another key")));
        }
        Ok(o)
    }
}

fn push_entry(buf: &mut Vec<u8>, tenant: &str, pcs_id: &str, status: u16, expires_at: u64, body: &[u8]) {
    buf.extend_from_slice(&(tenant.len() as u16).to_le_bytes());
    buf.extend_from_slice(tenant.as_bytes());
    buf.extend_from_slice(&(pcs_id.len() as u16).to_le_bytes());
    buf.extend_from_slice(pcs_id.as_bytes());
    buf.extend_from_slice(&status.to_le_bytes());
    buf.extend_from_slice(&expires_at.to_le_bytes());
    buf.extend_from_slice(&(body.len() as u32).to_le_bytes());
    buf.extend_from_slice(body);
}

fn parse_entry(b: &[u8]) -> Option<(String, String, Outcome)> {
    let mut at = 0usize;
    let mut take = |n: usize| -> Option<&[u8]> {
        let s = b.get(at..at + n)?;
        at += n;
        Some(s)
    };
    let tl = u16::from_le_bytes(take(2)?.try_into().ok()?) as usize;
    let tenant = String::from_utf8(take(tl)?.to_vec()).ok()?;
    let pl = u16::from_le_bytes(take(2)?.try_into().ok()?) as usize;
    let pcs_id = String::from_utf8(take(pl)?.to_vec()).ok()?;
    let status = u16::from_le_bytes(take(2)?.try_into().ok()?);
    let expires_at = u64::from_le_bytes(take(8)?.try_into().ok()?);
    let bl = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
    let body = take(bl)?.to_vec();
    Some((tenant, pcs_id, Outcome { status, body, expires_at, stamp: None }))
}

pub(super) async fn demote_chunk(s: &PgShard, cold: &Cold, now: u64) -> Result<u64, StoreError> {
    let mut c = s.pool.get().await.map_err(err)?;
    let tx = c.transaction().await.map_err(pg_err)?;
    let rows = tx.query(DEMOTE_PICK, &[&(now as i64), &DEMOTE_CHUNK]).await.map_err(pg_err)?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut data = COLD_MAGIC.to_vec();
    // (tenant, pcs_id, its existing cold copy, offset and length in the new object)
    type Entry = (String, String, Option<ColdRef>, i64, i32);
    let mut keys: Vec<Entry> = Vec::new();
    for r in &rows {
        let tenant: String = r.get(0);
        let pcs_id: String = r.get(1);
        let row = row_of(r, 2);
        match row.cold {
            // Promoted earlier: its cold copy is still there.
            Some(c) => keys.push((tenant, pcs_id, Some(c), 0, 0)),
            None => {
                let off = data.len();
                let body = row.body.as_deref().unwrap_or_default();
                push_entry(&mut data, &tenant, &pcs_id, row.status as u16, row.expires_at.max(0) as u64, body);
                let len = data.len() - off;
                keys.push((tenant, pcs_id, None, off as i64, len as i32));
            }
        }
    }
    let fresh = keys.iter().any(|k| k.2.is_none());
    let name = if fresh { Some(cold.write(&s.name, data).await?) } else { None };
    let (mut t, mut p, mut o, mut f, mut l) = (vec![], vec![], vec![], vec![], vec![]);
    for (tenant, pcs_id, old, off, len) in keys {
        let (obj, off, len) = match old {
            Some(c) => c,
            None => (name.clone().expect("an object was written"), off, len),
        };
        t.push(tenant);
        p.push(pcs_id);
        o.push(obj);
        f.push(off);
        l.push(len);
    }
    let n = tx.execute(DEMOTE_MARK, &[&t, &p, &o, &f, &l]).await.map_err(pg_err)?;
    tx.commit().await.map_err(pg_err)?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::super::pg::{cold_ref, parse_cold_ref};
    use super::*;

    #[test]
    fn cold_entries_round_trip() {
        let mut b = COLD_MAGIC.to_vec();
        let off = b.len();
        push_entry(&mut b, "t", "p1", 202, 99, b"{\"x\":1}");
        let len = b.len() - off;
        push_entry(&mut b, "t", "p2", 200, 5, b"");
        let (t, p, o) = parse_entry(&b[off..off + len]).unwrap();
        assert_eq!(
            (t.as_str(), p.as_str(), o.status, o.expires_at, o.body.as_slice()),
            ("t", "p1", 202, 99, &b"{\"x\":1}"[..])
        );
        assert!(parse_entry(&b[off..off + len - 1]).is_none(), "a short range is refused");
        assert_eq!(parse_cold_ref(&cold_ref("a/b c", 7, 9)), Some(("a/b c".to_string(), 7, 9)));
    }
}
