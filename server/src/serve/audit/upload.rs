//! The uploader: sealed segments, in index order, create-only to the object store;
//! then the local copies no replay needs any more are removed.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context as _, bail};
use fractal_core::audit::Seal;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt as _, PutMode, PutOptions, PutPayload};

use super::local::{local_indices, log_path, read_local, seal_path, uploaded_path};
use super::{REFUSE_UPLOADS_ENV, Shared, entries_name, seal_name};

/// The object store of the sealed segments.
pub(super) struct Remote {
    pub(super) store: Arc<dyn ObjectStore>,
    pub(super) prefix: String,
}

/// How long one object-store call may take.
const REMOTE_TIMEOUT: Duration = Duration::from_secs(30);

impl Remote {
    fn path(&self, name: &str) -> ObjPath {
        crate::serve::shared::object_path(&self.prefix, name)
    }

    /// The seal of the highest segment, if any.
    pub(super) async fn last_seal(&self) -> anyhow::Result<Option<Seal>> {
        use futures_util::TryStreamExt as _;
        let prefix = self.path("segments");
        let list = self.store.list(Some(&prefix)).try_collect::<Vec<_>>();
        let metas = tokio::time::timeout(REMOTE_TIMEOUT, list).await.context("timed out")??;
        let best =
            metas.iter().filter_map(|m| m.location.filename()?.strip_suffix(".seal.json")?.parse::<u64>().ok()).max();
        let Some(i) = best else { return Ok(None) };
        let get = async { self.store.get(&self.path(&seal_name(i))).await?.bytes().await };
        let bytes = tokio::time::timeout(REMOTE_TIMEOUT, get).await.context("timed out")??;
        Ok(Some(Seal::parse(&bytes).map_err(anyhow::Error::msg)?))
    }

    /// Writes `bytes` at `name` create-only; an identical object already there is fine.
    async fn put_once(&self, name: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
        if let Ok(p) = std::env::var(REFUSE_UPLOADS_ENV)
            && Path::new(&p).exists()
        {
            bail!("injected refusal ({REFUSE_UPLOADS_ENV})");
        }
        let path = self.path(name);
        let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
        let put = self.store.put_opts(&path, PutPayload::from(bytes.clone()), opts);
        match tokio::time::timeout(REMOTE_TIMEOUT, put).await.context("timed out")? {
            Ok(_) => Ok(()),
            Err(object_store::Error::AlreadyExists { .. }) => {
                let get = async { self.store.get(&path).await?.bytes().await };
                let there = tokio::time::timeout(REMOTE_TIMEOUT, get).await.context("timed out")??;
                if there.as_ref() == bytes.as_slice() {
                    Ok(())
                } else {
                    bail!("{name} already exists with other content; it is never overwritten")
                }
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The entry lines of a local segment, as uploaded, and their count and largest LSN.
pub(super) fn upload_bytes(dir: &Path, index: u64) -> anyhow::Result<(Vec<u8>, u64, u64)> {
    let seg = read_local(&log_path(dir, index))?;
    let mut out = Vec::new();
    let mut max_lsn = 0;
    for (lsn, l) in &seg.lines {
        out.extend_from_slice(l);
        out.push(b'\n');
        max_lsn = max_lsn.max(*lsn);
    }
    Ok((out, seg.lines.len() as u64, max_lsn))
}

/// One pass: uploads the sealed, not yet uploaded segments in index order (stops at
/// the first failure), then removes local segments no longer needed.
async fn upload_pass(dir: &Path, remote: &Remote, shared: &Shared) -> anyhow::Result<()> {
    let indices = {
        let dir = dir.to_path_buf();
        tokio::task::spawn_blocking(move || local_indices(&dir)).await??
    };
    let durable = shared.durable.load(Ordering::SeqCst);
    let mut pruning = true;
    for i in indices {
        if !seal_path(dir, i).exists() {
            break; // the open segment
        }
        let marker = uploaded_path(dir, i);
        let (entries, n, max_lsn) = {
            let dir = dir.to_path_buf();
            tokio::task::spawn_blocking(move || upload_bytes(&dir, i)).await??
        };
        if !marker.exists() {
            let seal = fs::read(seal_path(dir, i))?;
            remote.put_once(&entries_name(i), entries).await?;
            remote.put_once(&seal_name(i), seal).await?;
            File::create(&marker)?;
            shared.metrics.backlog.sub(n as i64);
            shared.metrics.uploaded.inc();
        }
        // Uploaded and below the last durable checkpoint: no replay needs it. Only
        // a prefix goes (entries restored by a replay carry older LSNs than the
        // segments before them), so the local segments stay consecutive.
        if pruning && max_lsn < durable {
            for p in [seal_path(dir, i), marker, log_path(dir, i)] {
                let _ = fs::remove_file(p);
            }
        } else {
            pruning = false;
        }
    }
    Ok(())
}

pub(super) async fn upload_loop(dir: PathBuf, remote: Remote, shared: Arc<Shared>) {
    let mut pause = Duration::from_millis(100);
    let mut failures = 0u64;
    loop {
        match upload_pass(&dir, &remote, &shared).await {
            Ok(()) => {
                if failures > 0 {
                    tracing::warn!(failures, "audit: object store writes recovered");
                }
                failures = 0;
                pause = Duration::from_millis(100);
                tokio::select! {
                    _ = shared.notify.notified() => {}
                    _ = shared.stop.notified() => return,
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
            }
            Err(e) => {
                failures += 1;
                shared.metrics.upload_errors.inc();
                if failures.is_power_of_two() {
                    tracing::error!(error = %e, failures, "audit: writing a sealed segment to the object store failed; retrying");
                }
                tokio::select! {
                    _ = shared.stop.notified() => return,
                    _ = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(Duration::from_secs(2));
            }
        }
    }
}
