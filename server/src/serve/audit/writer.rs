//! The writer thread: numbers and chains the entries, appends and fsyncs them to
//! the open segment, and seals it.

use std::fs::File;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fractal_core::audit::{Entry, Seal, entry_hash};
use fractal_core::{Ed25519Keypair, hex};
use tokio::sync::mpsc;

use super::local::{Head, line_offset, log_path, open_segment, seal_path, write_atomic};
use super::{Item, Msg, Shared};
use crate::serve::config;

/// The writer thread's state: the open segment.
pub(super) struct Writer {
    pub(super) dir: PathBuf,
    pub(super) key: Ed25519Keypair,
    pub(super) seal_entries: u64,
    pub(super) seal_every: Duration,
    pub(super) shared: Arc<Shared>,
    pub(super) head: Head,
    pub(super) first_seq: u64,
    pub(super) count: u64,
    /// When the open segment got its first entry (this run).
    pub(super) opened: Option<Instant>,
    pub(super) file: File,
}

/// Most entries taken off the queue per fsync.
const BATCH: usize = 4096;

impl Writer {
    pub(super) fn open(
        dir: &Path,
        head: Head,
        count: u64,
        cfg: &config::Audit,
        shared: Arc<Shared>,
    ) -> anyhow::Result<Writer> {
        let first_seq = head.next_seq - count;
        let file = open_segment(dir, &head, first_seq, count)?;
        Ok(Writer {
            dir: dir.to_path_buf(),
            key: cfg.key.0.clone(),
            seal_entries: cfg.seal_entries,
            seal_every: Duration::from_secs(cfg.seal_secs),
            shared,
            first_seq,
            count,
            opened: (count > 0).then(Instant::now),
            head,
            file,
        })
    }

    pub(super) fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("a timer runtime");
        let mut batch: Vec<Item> = Vec::with_capacity(BATCH);
        let mut stopping = false;
        while !stopping {
            let first = match self.opened {
                Some(t) => match rt
                    .block_on(async { tokio::time::timeout_at((t + self.seal_every).into(), rx.recv()).await })
                {
                    Ok(m) => m,
                    Err(_) => {
                        self.retry(|w| w.seal());
                        continue;
                    }
                },
                None => rt.block_on(rx.recv()),
            };
            match first {
                None | Some(Msg::Stop) => break,
                Some(Msg::Item(it)) => batch.push(it),
            }
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(Msg::Item(it)) => batch.push(it),
                    Ok(Msg::Stop) => {
                        stopping = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            let items = std::mem::take(&mut batch);
            let mut done = 0;
            self.retry(|w| w.write(&items, &mut done));
            let mut inflight = self.shared.inflight.lock().unwrap();
            for it in &items {
                if let std::collections::btree_map::Entry::Occupied(mut e) = inflight.entry(it.lsn) {
                    *e.get_mut() -= 1;
                    if *e.get() == 0 {
                        e.remove();
                    }
                }
            }
        }
        // A clean stop seals what is open, so the uploader can take it now; if that
        // fails the open segment simply stays open for the next start.
        if let Err(e) = self.seal() {
            tracing::warn!(error = %e, "audit: sealing the open segment at shutdown failed; it stays open");
        }
        tracing::info!(next_seq = self.head.next_seq, "audit writer stopped");
    }

    /// Runs `f` until it succeeds (a full or failing disk pauses the chain; the
    /// queue backs up and submissions wait, nothing is dropped).
    fn retry<T>(&mut self, mut f: impl FnMut(&mut Writer) -> io::Result<T>) -> T {
        let mut pause = Duration::from_millis(50);
        let mut failures = 0u64;
        loop {
            match f(self) {
                Ok(v) => return v,
                Err(e) => {
                    failures += 1;
                    if failures.is_power_of_two() {
                        tracing::error!(error = %e, failures, "audit: writing the local segment failed; retrying");
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// Appends and fsyncs `items[*done..]`, sealing at `seal_entries`; `done`
    /// counts the items already fsynced. After a failure the file is cut back to its
    /// last fsynced line, so a retry writes each entry once.
    pub(super) fn write(&mut self, items: &[Item], done: &mut usize) -> io::Result<()> {
        let mut saved = (self.head.clone(), self.count, self.first_seq);
        let res = self.write_inner(items, done, &mut saved);
        if res.is_err() {
            let (head, count, first_seq) = saved;
            if self.head.index == head.index {
                let len = line_offset(&log_path(&self.dir, head.index), count)?;
                self.file.set_len(len)?;
            }
            self.head = head;
            self.count = count;
            self.first_seq = first_seq;
        }
        res
    }

    fn write_inner(&mut self, items: &[Item], done: &mut usize, saved: &mut (Head, u64, u64)) -> io::Result<()> {
        let mut buf = Vec::with_capacity(items.len() * 512);
        let start = *done;
        for (i, it) in items.iter().enumerate().skip(start) {
            let result: serde_json::Value = serde_json::from_slice(&it.outcome.body).map_err(io::Error::other)?;
            let e = Entry {
                seq: self.head.next_seq,
                prev: self.head.prev.clone(),
                tenant: it.tenant.clone(),
                pcs_id: it.pcs_id.clone(),
                status: it.outcome.status,
                result,
                record_sha256: it.record_sha256.clone(),
                region: self.shared.region.clone(),
                at: it.at,
            };
            let bytes = e.to_bytes().map_err(io::Error::other)?;
            buf.extend_from_slice(it.lsn.to_string().as_bytes());
            buf.push(b' ');
            buf.extend_from_slice(&bytes);
            buf.push(b'\n');
            self.head.prev = hex(&entry_hash(&bytes));
            self.head.next_seq += 1;
            self.count += 1;
            self.opened.get_or_insert_with(Instant::now);
            if self.count >= self.seal_entries {
                self.file.write_all(&buf)?;
                buf.clear();
                self.file.sync_data()?;
                *done = i + 1;
                *saved = (self.head.clone(), self.count, self.first_seq);
                self.seal()?;
                *saved = (self.head.clone(), self.count, self.first_seq);
            }
        }
        if !buf.is_empty() {
            self.file.write_all(&buf)?;
            self.file.sync_data()?;
        }
        *done = items.len();
        self.shared.metrics.appended.inc_by((items.len() - start) as u64);
        self.shared.metrics.last_seq.set(self.head.next_seq as i64 - 1);
        Ok(())
    }

    /// Seals the open segment (if it has entries) and opens the next.
    fn seal(&mut self) -> io::Result<()> {
        if self.count == 0 {
            self.opened = None;
            return Ok(());
        }
        let seal = Seal::sign(&self.key, self.head.index, self.first_seq, self.head.next_seq - 1, &self.head.prev);
        write_atomic(&self.dir, &seal_path(&self.dir, self.head.index), &seal.to_bytes())?;
        self.shared.metrics.sealed.inc();
        let next = Head { index: self.head.index + 1, next_seq: self.head.next_seq, prev: self.head.prev.clone() };
        self.file = open_segment(&self.dir, &next, next.next_seq, 0)?;
        self.head = next;
        self.first_seq = self.head.next_seq;
        self.count = 0;
        self.opened = None;
        self.shared.notify.notify_one();
        Ok(())
    }
}
