//! The consistent-hash ring (SPEC §7).

use super::*;

/// Default virtual nodes per unit of weight (`fractal_core::DEFAULT_VNODES`).
pub const FRACTAL_DEFAULT_VNODES: u32 = 150;
/// Default weight of a shard (`fractal_core::DEFAULT_WEIGHT`).
pub const FRACTAL_DEFAULT_WEIGHT: u32 = 1;
// cbindgen writes literals only: the build fails if these drift from the core.
const _: () = assert!(FRACTAL_DEFAULT_VNODES == fractal_core::DEFAULT_VNODES);
const _: () = assert!(FRACTAL_DEFAULT_WEIGHT == fractal_core::DEFAULT_WEIGHT);

/// Counts describing a ring.
#[repr(C)]
pub struct FractalRingStats {
    /// Number of shards.
    pub shards: usize,
    /// Number of healthy shards.
    pub healthy_shards: usize,
    /// Number of points on the ring.
    pub points: usize,
    /// Virtual nodes per unit of weight.
    pub vnodes: u32,
}

/// A consistent-hash ring behind a read-write lock (opaque, safe to share between
/// threads). Free it with [`fractal_ring_free`].
pub struct FractalRing {
    inner: RwLock<Ring>,
}


// ---------------------------------------------------------------------------
// Ring (SPEC §7).

pub(crate) fn with_ring<T>(ring: *const FractalRing, f: impl FnOnce(&Ring) -> FfiResult<T>) -> FfiResult<T> {
    let r = handle("ring", ring)?;
    let guard = r.inner.read().unwrap_or_else(|p| p.into_inner());
    f(&guard)
}

/// A shard mutation: `f` runs on the write-locked ring with the shard's name.
pub(crate) unsafe fn with_shard(
    ring: *const FractalRing,
    name: *const u8,
    name_len: usize,
    f: impl FnOnce(&mut Ring, &str) -> Result<(), Error>,
) -> FfiResult {
    let name = unsafe { text("shard", name, name_len)? };
    let r = handle("ring", ring)?;
    Ok(f(&mut r.inner.write().unwrap_or_else(|p| p.into_inner()), name)?)
}

pub(crate) fn json_names(names: &[&str]) -> Vec<u8> {
    serde_json::to_vec(names).expect("a list of strings always serializes")
}

/// Creates an empty ring with `vnodes` (≥ 1; 150 is the default of SPEC §7)
/// virtual nodes per unit of weight into `*out` (free with [`fractal_ring_free`]).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_ring_new(
    vnodes: u32,
    out: *mut *mut FractalRing,
    err: *mut FractalError,
) -> FractalStatus {
    boundary_out(err, out, || Ok(Box::into_raw(Box::new(FractalRing { inner: RwLock::new(Ring::new(vnodes)?) }))))
}

/// Adds a healthy shard with a weight (≥ 1).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_ring_add_shard(
    ring: *const FractalRing,
    name: *const u8,
    name_len: usize,
    weight: u32,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe { with_shard(ring, name, name_len, |r, name| r.add_shard(name, weight)) })
}

/// Removes a shard.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_ring_remove_shard(
    ring: *const FractalRing,
    name: *const u8,
    name_len: usize,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe { with_shard(ring, name, name_len, |r, name| r.remove_shard(name)) })
}

/// Marks a shard healthy or unhealthy.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_ring_set_healthy(
    ring: *const FractalRing,
    name: *const u8,
    name_len: usize,
    healthy: bool,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe { with_shard(ring, name, name_len, |r, name| r.set_healthy(name, healthy)) })
}

/// The healthy shard owning `key` (its bytes), as UTF-8 in `out` (free with
/// [`fractal_bytes_free`]).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_ring_pick(
    ring: *const FractalRing,
    key: *const u8,
    key_len: usize,
    out: *mut FractalBytes,
    err: *mut FractalError,
) -> FractalStatus {
    boundary_out(err, out, || {
        let key = unsafe { bytes("key", key, key_len)? };
        Ok(with_ring(ring, |r| Ok(r.pick(key)?.to_string()))?.into_bytes().into())
    })
}

/// `n` distinct healthy shards for `key`, clockwise, as a JSON array of strings in
/// `out` (free with [`fractal_bytes_free`]).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_ring_pick_n(
    ring: *const FractalRing,
    key: *const u8,
    key_len: usize,
    n: usize,
    out: *mut FractalBytes,
    err: *mut FractalError,
) -> FractalStatus {
    boundary_out(err, out, || {
        let key = unsafe { bytes("key", key, key_len)? };
        Ok(with_ring(ring, |r| Ok(json_names(&r.pick_n(key, n)?)))?.into())
    })
}

/// The keys whose owner differs between `before` and `after` (which may be the
/// same ring). `keys_json` is a JSON array of strings; the answer in `out` is a
/// JSON array of `{"key","from","to"}` objects (`from`/`to` null when no healthy
/// shard owns the key), free with [`fractal_bytes_free`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_ring_plan(
    before: *const FractalRing,
    after: *const FractalRing,
    keys_json: *const u8,
    keys_json_len: usize,
    out: *mut FractalBytes,
    err: *mut FractalError,
) -> FractalStatus {
    boundary_out(err, out, || {
        let raw = unsafe { bytes("keys_json", keys_json, keys_json_len)? };
        let keys: Vec<String> = serde_json::from_slice(raw)
            .map_err(|e| bad_arg("keys_json", &format!("must be a JSON array of strings ({e})")))?;
        // Snapshot `before` first so the two locks are never held together.
        let snapshot = with_ring(before, |r| Ok(r.clone()))?;
        let moves = with_ring(after, |r| Ok(snapshot.plan(r, keys.iter().map(String::as_str))))?;
        Ok(serde_json::to_vec(&moves).expect("moves always serialize").into())
    })
}

/// Shard, healthy-shard and point counts into `out`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_ring_stats(
    ring: *const FractalRing,
    out: *mut FractalRingStats,
    err: *mut FractalError,
) -> FractalStatus {
    boundary_out(err, out, || {
        let s = with_ring(ring, |r| Ok(r.stats()))?;
        Ok(FractalRingStats { shards: s.shards, healthy_shards: s.healthy_shards, points: s.points, vnodes: s.vnodes })
    })
}

/// Frees a ring. NULL is fine; freeing twice, or while another thread uses the
/// ring, is not.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_ring_free(ring: *mut FractalRing) {
    boundary_infallible((), || unsafe { free_handle(ring) })
}
