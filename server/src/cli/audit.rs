//! `fractal audit verify|proof|tail`: read the sealed segments of the audit log
//! (SPEC §11) from a directory or an object store and check them offline, with
//! nothing from the server but its public key.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use fractal_core::audit::{ChainVerifier, Entry, Seal, Segment, entry_hash, lines, parse_entry, verify_chain};
use fractal_core::{b64decode, hex};
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt as _};
use serde_json::json;

use crate::serve::audit::{entries_name, seal_name};

/// Audit log subcommands.
#[derive(clap::Subcommand)]
pub enum AuditCommand {
    /// Check the chain, the seals and their signatures; exit non-zero naming the
    /// first bad entry or seal.
    Verify(VerifyArgs),
    /// Print the entry of one stored outcome and the seal that covers it, with that
    /// segment checked.
    Proof(ProofArgs),
    /// Print the last entries of the sealed chain.
    Tail(TailArgs),
}

/// Options of `fractal audit verify`.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// Where the segments are: a directory, `file:///dir` or `s3://bucket/prefix`.
    pub source: String,
    /// The server's audit public key (base64 of 32 bytes), as `fractal keygen` printed it.
    #[arg(long)]
    pub public_key: String,
    /// Start at the segment holding this seq (anchored by the seal before it).
    #[arg(long)]
    pub from: Option<u64>,
}

/// Options of `fractal audit proof`.
#[derive(clap::Args)]
pub struct ProofArgs {
    /// The tenant.
    pub tenant: String,
    /// The record's pcs_id.
    pub pcs_id: String,
    /// Where the segments are (as for `verify`).
    pub source: String,
    /// Check the seal against this key (base64); without it the seal's own key is
    /// used, which proves only that the segment is intact.
    #[arg(long)]
    pub public_key: Option<String>,
}

/// Options of `fractal audit tail`.
#[derive(clap::Args)]
pub struct TailArgs {
    /// Where the segments are (as for `verify`).
    pub source: String,
    /// How many entries.
    #[arg(short = 'n', long, default_value = "10")]
    pub n: usize,
}

fn public_key(b64: &str) -> anyhow::Result<[u8; 32]> {
    let raw = b64decode(b64.trim()).ok_or_else(|| anyhow::anyhow!("--public-key: not standard base64"))?;
    raw.try_into().map_err(|_| anyhow::anyhow!("--public-key: must decode to 32 bytes"))
}

/// The segments' objects, read lazily.
struct Source {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    /// index → (entries present, seal present)
    objects: BTreeMap<u64, (bool, bool)>,
}

impl Source {
    async fn open(source: &str) -> anyhow::Result<Source> {
        let url = if source.starts_with("file://") || source.starts_with("s3://") {
            source.to_string()
        } else {
            let dir = std::path::Path::new(source);
            if !dir.is_dir() {
                bail!("SOURCE: {source} is not a directory (or a file:// or s3:// URL)");
            }
            format!("file://{}", std::path::absolute(dir)?.display())
        };
        let (store, prefix) = crate::serve::shared::open_object_store(&url, "SOURCE").map_err(anyhow::Error::msg)?;
        let mut s = Source { store, prefix, objects: BTreeMap::new() };
        use futures_util::TryStreamExt as _;
        let metas: Vec<_> = s.store.list(Some(&s.path("segments"))).try_collect().await.context("listing SOURCE")?;
        for m in metas {
            let Some(name) = m.location.filename() else { continue };
            if let Some(i) = name.strip_suffix(".jsonl").and_then(|n| n.parse::<u64>().ok()) {
                s.objects.entry(i).or_default().0 = true;
            } else if let Some(i) = name.strip_suffix(".seal.json").and_then(|n| n.parse::<u64>().ok()) {
                s.objects.entry(i).or_default().1 = true;
            }
        }
        Ok(s)
    }

    fn path(&self, name: &str) -> ObjPath {
        if self.prefix.is_empty() { ObjPath::from(name) } else { ObjPath::from(format!("{}/{name}", self.prefix)) }
    }

    async fn get(&self, name: &str) -> anyhow::Result<Vec<u8>> {
        let r = self.store.get(&self.path(name)).await.with_context(|| format!("reading {name}"))?;
        Ok(r.bytes().await.with_context(|| format!("reading {name}"))?.to_vec())
    }

    async fn seal(&self, index: u64) -> anyhow::Result<Option<Vec<u8>>> {
        match self.objects.get(&index) {
            Some((_, true)) => Ok(Some(self.get(&seal_name(index)).await?)),
            _ => Ok(None),
        }
    }

    async fn segment(&self, index: u64) -> anyhow::Result<Segment> {
        let (e, _) = self.objects.get(&index).copied().unwrap_or_default();
        let entries = if e { Some(self.get(&entries_name(index)).await?) } else { None };
        Ok(Segment { index, entries, seal: self.seal(index).await? })
    }

    /// The index of the sealed segment holding `seq`.
    async fn segment_of(&self, seq: u64) -> anyhow::Result<u64> {
        for (&i, &(_, sealed)) in &self.objects {
            if !sealed {
                continue;
            }
            let s = Seal::parse(&self.get(&seal_name(i)).await?)
                .map_err(|e| anyhow::anyhow!("seal of segment {i}: {e}"))?;
            if (s.first_seq..=s.last_seq).contains(&seq) {
                return Ok(i);
            }
        }
        bail!("--from: no sealed segment holds seq {seq}")
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

impl AuditCommand {
    /// Runs the subcommand and returns its JSON answer (an error names what is bad).
    pub fn run(self) -> anyhow::Result<serde_json::Value> {
        runtime()?.block_on(async {
            match self {
                AuditCommand::Verify(a) => verify(a).await,
                AuditCommand::Proof(a) => proof(a).await,
                AuditCommand::Tail(a) => tail(a).await,
            }
        })
    }
}

async fn verify(a: VerifyArgs) -> anyhow::Result<serde_json::Value> {
    let key = public_key(&a.public_key)?;
    let src = Source::open(&a.source).await?;
    if src.objects.is_empty() {
        bail!("SOURCE: no audit segments under {}", a.source);
    }
    let start = match a.from {
        Some(seq) => src.segment_of(seq).await?,
        None => 0,
    };
    let anchor = if start > 0 { src.seal(start - 1).await? } else { None };
    if start > 0 && anchor.is_none() {
        bail!("audit chain: seal of segment {}: missing (needed to start at --from)", start - 1);
    }
    // One segment in memory at a time.
    let indices: Vec<u64> = src.objects.range(start..).map(|(i, _)| *i).collect();
    let mut v = ChainVerifier::new(&key, anchor.as_deref(), start).map_err(|f| anyhow::anyhow!("audit chain: {f}"))?;
    for (n, &i) in indices.iter().enumerate() {
        let seg = src.segment(i).await?;
        v.push(&seg, n + 1 == indices.len()).map_err(|f| anyhow::anyhow!("audit chain: {f}"))?;
    }
    Ok(json!({ "ok": true, "verified": v.finish() }))
}

async fn proof(a: ProofArgs) -> anyhow::Result<serde_json::Value> {
    let src = Source::open(&a.source).await?;
    // The newest entry of the key (a key can be stored again after its TTL).
    for &i in src.objects.keys().rev() {
        let seg = src.segment(i).await?;
        let Some(bytes) = &seg.entries else { continue };
        let Ok(ls) = lines(bytes) else { continue };
        let Some(line) = ls
            .iter()
            .rev()
            .find(|l| serde_json::from_slice::<Entry>(l).is_ok_and(|e| e.tenant == a.tenant && e.pcs_id == a.pcs_id))
        else {
            continue;
        };
        let entry = parse_entry(line).map_err(|e| anyhow::anyhow!("segment {i}: the entry is damaged: {e}"))?;
        let Some(seal_bytes) = &seg.seal else {
            bail!("segment {i} holds the entry (seq {}) but is not sealed yet", entry.seq)
        };
        let seal = Seal::parse(seal_bytes).map_err(|e| anyhow::anyhow!("seal of segment {i}: {e}"))?;
        let (key, pinned) = match &a.public_key {
            Some(k) => (public_key(k)?, true),
            None => (public_key(&seal.public_key)?, false),
        };
        let anchor = if i > 0 { src.seal(i - 1).await? } else { None };
        let checked = verify_chain(std::slice::from_ref(&seg), &key, anchor.as_deref());
        return Ok(json!({
            "entry": serde_json::from_slice::<serde_json::Value>(line)?,
            "entry_sha256": hex(&entry_hash(line)),
            "segment": i,
            "seal": serde_json::from_slice::<serde_json::Value>(seal_bytes)?,
            "segment_verified": checked.is_ok(),
            "finding": checked.err(),
            "key_pinned": pinned,
        }));
    }
    bail!("no sealed entry for tenant {:?}, pcs_id {:?}", a.tenant, a.pcs_id)
}

async fn tail(a: TailArgs) -> anyhow::Result<serde_json::Value> {
    let src = Source::open(&a.source).await?;
    let mut out: Vec<serde_json::Value> = Vec::new();
    for &i in src.objects.keys().rev() {
        if out.len() >= a.n {
            break;
        }
        let seg = src.segment(i).await?;
        let Some(bytes) = &seg.entries else { continue };
        let ls = lines(bytes).map_err(|_| anyhow::anyhow!("segment {i}: does not end with a newline"))?;
        for l in ls.iter().rev() {
            if out.len() >= a.n {
                break;
            }
            out.push(serde_json::from_slice(l).with_context(|| format!("segment {i}: an entry is not JSON"))?);
        }
    }
    out.reverse();
    Ok(json!({ "entries": out }))
}
