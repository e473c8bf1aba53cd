//! Batch work without the GIL.
//!
//! A batch is read from Python under the GIL and computed without it. A large
//! batch is pipelined: the calling thread reads the records chunk by chunk (it
//! must hold the GIL to do so) while worker threads already compute the chunks it
//! has handed over; once everything is read, the calling thread releases the GIL
//! and computes alongside the workers until the queue is empty. Each chunk is
//! computed right after it was read, while its data is still in cache.

use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};

use fractal_core::Error;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

use crate::convert::{CoreResult, bad, type_name};

/// Records handed to a worker at a time (about a tenth of a millisecond of work).
const CHUNK: usize = 256;
/// Batches smaller than this stay on the calling thread (starting a thread costs
/// about as much as signing a few dozen records; two chunks pay for it).
const MIN_PIPELINE: usize = 2 * CHUNK;
const MAX_THREADS: usize = 8;

fn threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, NonZeroUsize::get)
        .min(MAX_THREADS)
}

type Records<'py> = Box<dyn Iterator<Item = PyResult<Bound<'py, PyAny>>> + 'py>;

/// The records of a `list`, a `tuple` or any other iterable, with a length hint.
fn records_of<'py>(
    py: Python<'py>,
    records: &Bound<'py, PyAny>,
) -> PyResult<(usize, Records<'py>)> {
    if let Ok(list) = records.cast::<PyList>() {
        return Ok((list.len(), Box::new(list.clone().into_iter().map(Ok))));
    }
    if let Ok(tuple) = records.cast::<PyTuple>() {
        return Ok((tuple.len(), Box::new(tuple.clone().into_iter().map(Ok))));
    }
    let iter = records.try_iter().map_err(|_| {
        crate::error::raise(
            py,
            bad(
                "records",
                format!("expected a list of records, got {}", type_name(records)),
            ),
        )
    })?;
    Ok((records.len().unwrap_or(MIN_PIPELINE), Box::new(iter)))
}

fn at_index(py: Python<'_>, i: usize, e: Error) -> PyErr {
    crate::error::raise_with_context(py, e, Some(&format!("records[{i}]")))
}

/// Applies `read` to every record of a `list`, `tuple` or other iterable; a
/// failure raises naming the record's index (`records[3]: …`).
pub(crate) fn each_record<'py, T>(
    py: Python<'py>,
    records: &Bound<'py, PyAny>,
    read: impl Fn(&Bound<'py, PyAny>) -> CoreResult<T>,
) -> PyResult<Vec<T>> {
    let (hint, iter) = records_of(py, records)?;
    let mut out = Vec::with_capacity(hint);
    for (i, item) in iter.enumerate() {
        out.push(read(&item?).map_err(|e| at_index(py, i, e))?);
    }
    Ok(out)
}

/// Reads every record with `read` (under the GIL; a failure raises naming the
/// index), takes its plain-data `view`, and returns `compute(view)` for each, in
/// order, computed without the GIL and, for a large batch, on several threads.
///
/// Every value returned by `read` is kept alive until all `compute` calls have
/// returned: that is what lets `view` lend out data owned by it (see
/// `Signed::detached_fields`).
pub(crate) fn read_then_compute<'py, S, V, R>(
    py: Python<'py>,
    records: &Bound<'py, PyAny>,
    read: impl Fn(&Bound<'py, PyAny>) -> CoreResult<S>,
    view: impl Fn(&S) -> V,
    compute: impl Fn(&V) -> R + Sync,
) -> PyResult<Vec<R>>
where
    V: Send + Sync,
    R: Send,
{
    let threads = threads();
    let (hint, iter) = records_of(py, records)?;
    if threads < 2 || hint < MIN_PIPELINE {
        let kept = {
            let mut kept = Vec::with_capacity(hint);
            for (i, item) in iter.enumerate() {
                kept.push(read(&item?).map_err(|e| at_index(py, i, e))?);
            }
            kept
        };
        let views: Vec<V> = kept.iter().map(&view).collect();
        let out = py.detach(|| views.iter().map(&compute).collect());
        drop(views);
        drop(kept);
        return Ok(out);
    }

    // Declared before the scope, dropped after it: outlives every worker.
    let mut kept: Vec<Vec<S>> = Vec::with_capacity(hint.div_ceil(CHUNK));
    let queue = Queue {
        state: Mutex::new(QueueState {
            chunks: VecDeque::new(),
            closed: false,
        }),
        ready: Condvar::new(),
        stop: AtomicBool::new(false),
    };
    let done: Mutex<Vec<(usize, Vec<R>)>> = Mutex::new(Vec::new());
    let work = || {
        while let Some((k, views)) = queue.pop() {
            let out: Vec<R> = views.iter().map(&compute).collect();
            done.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((k, out));
        }
    };
    let fed = std::thread::scope(|s| {
        for _ in 1..threads {
            s.spawn(work);
        }
        let fed = (|| -> PyResult<()> {
            let mut chunk = Vec::with_capacity(CHUNK);
            let mut k = 0;
            for (i, item) in iter.enumerate() {
                chunk.push(read(&item?).map_err(|e| at_index(py, i, e))?);
                if chunk.len() == CHUNK {
                    queue.push(k, chunk.iter().map(&view).collect());
                    kept.push(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK)));
                    k += 1;
                }
            }
            if !chunk.is_empty() {
                queue.push(k, chunk.iter().map(&view).collect());
                kept.push(chunk);
            }
            Ok(())
        })();
        if fed.is_err() {
            queue.stop.store(true, Ordering::Relaxed);
        }
        queue.close();
        if fed.is_ok() {
            // Help the workers with what is left, without the GIL.
            py.detach(work);
        }
        fed
        // The scope joins the workers here (a panic in one is resumed here and
        // becomes a PanicException at the boundary; the core does not panic).
    });
    drop(kept);
    fed?;
    let mut parts = done.into_inner().unwrap_or_else(PoisonError::into_inner);
    parts.sort_unstable_by_key(|(k, _)| *k);
    let mut out = Vec::with_capacity(parts.iter().map(|(_, p)| p.len()).sum());
    for (_, part) in parts {
        out.extend(part);
    }
    Ok(out)
}

/// Records per thread below which `par_map` stays on the calling thread.
const MIN_PER_THREAD: usize = 1024;

/// `items.iter().map(f).collect()`, in order, on up to `MAX_THREADS` threads.
/// Call it inside `py.detach`: `f` must not touch Python objects.
pub(crate) fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = threads().min(items.len() / MIN_PER_THREAD);
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let per_thread = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let parts: Vec<_> = items
            .chunks(per_thread)
            .map(|chunk| s.spawn(move || chunk.iter().map(f).collect::<Vec<R>>()))
            .collect();
        let mut out = Vec::with_capacity(items.len());
        for part in parts {
            match part.join() {
                Ok(v) => out.extend(v),
                // The core does not panic; if it ever did, pyo3 turns the resumed
                // panic into a PanicException at the boundary.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out
    })
}

struct QueueState<V> {
    chunks: VecDeque<(usize, Vec<V>)>,
    closed: bool,
}

/// Chunks waiting to be computed, in the order they were read.
struct Queue<V> {
    state: Mutex<QueueState<V>>,
    ready: Condvar,
    /// Set when reading failed: the results will be thrown away.
    stop: AtomicBool,
}

impl<V> Queue<V> {
    fn push(&self, k: usize, views: Vec<V>) {
        self.lock().chunks.push_back((k, views));
        self.ready.notify_one();
    }

    fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    /// The next chunk; None once the queue is closed and empty (or stopped).
    fn pop(&self) -> Option<(usize, Vec<V>)> {
        let mut state = self.lock();
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return None;
            }
            if let Some(chunk) = state.chunks.pop_front() {
                return Some(chunk);
            }
            if state.closed {
                return None;
            }
            state = self
                .ready
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState<V>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
