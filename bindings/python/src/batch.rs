//! Batch work without the GIL: large batches are split across a few scoped threads.

use std::num::NonZeroUsize;

/// Records per thread below which a batch stays on the calling thread (spawning a
/// thread costs about as much as signing a few hundred records).
const MIN_PER_THREAD: usize = 1024;
const MAX_THREADS: usize = 8;

/// `items.iter().map(f).collect()`, in order, on up to `MAX_THREADS` threads.
/// Call it inside `py.detach`: `f` must not touch Python objects.
pub(crate) fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    let threads = cores.min(MAX_THREADS).min(items.len() / MIN_PER_THREAD);
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
