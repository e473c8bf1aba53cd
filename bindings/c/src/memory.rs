//! Memory: buffers the library hands out, borrowed `(pointer, length)` inputs,
//! caller-supplied output buffers, and the free functions.

use super::*;

/// A byte buffer allocated by the library. Free it with [`fractal_bytes_free`].
#[repr(C)]
pub struct FractalBytes {
    /// The bytes (not NUL-terminated); NULL only when `len` is 0 and nothing was
    /// allocated.
    pub ptr: *mut u8,
    /// The number of bytes.
    pub len: usize,
}


/// Borrows `(ptr, len)` as bytes; NULL is allowed only with length 0.
pub(crate) unsafe fn bytes<'a>(name: &str, p: *const u8, len: usize) -> FfiResult<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(bad_arg(name, "is NULL but its length is not 0"));
    }
    // SAFETY: the caller guarantees `p` points to `len` readable bytes for the call.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// Borrows `(ptr, len)` as UTF-8 text.
pub(crate) unsafe fn text<'a>(name: &str, p: *const u8, len: usize) -> FfiResult<&'a str> {
    let b = unsafe { bytes(name, p, len)? };
    std::str::from_utf8(b).map_err(|_| bad_arg(name, "is not valid UTF-8"))
}

pub(crate) fn out_ptr<'a, T>(name: &str, p: *mut T) -> FfiResult<&'a mut T> {
    // SAFETY: non-null output pointers point to writable storage (documented).
    unsafe { p.as_mut() }.ok_or_else(|| bad_arg(name, "is NULL"))
}

pub(crate) fn handle<'a, T>(name: &str, p: *const T) -> FfiResult<&'a T> {
    // SAFETY: non-null handles come from this library and are not yet freed.
    unsafe { p.as_ref() }.ok_or_else(|| bad_arg(name, "is NULL"))
}

impl From<Vec<u8>> for FractalBytes {
    fn from(v: Vec<u8>) -> Self {
        let boxed = v.into_boxed_slice();
        FractalBytes { len: boxed.len(), ptr: Box::into_raw(boxed) as *mut u8 }
    }
}

/// Frees a handle the library boxed (`Box::into_raw`). NULL is fine.
pub(crate) unsafe fn free_handle<T>(p: *mut T) {
    if !p.is_null() {
        // SAFETY: the pointer came from Box::into_raw in this library and is freed once (documented).
        drop(unsafe { Box::from_raw(p) });
    }
}

/// Copies `s` into a caller buffer of exactly `cap` bytes, which must be `want`.
pub(crate) unsafe fn fill(name: &str, out: *mut u8, cap: usize, s: &[u8]) -> FfiResult {
    if out.is_null() {
        return Err(bad_arg(name, "is NULL"));
    }
    if cap < s.len() {
        return Err(bad_arg(name, "buffer is too small"));
    }
    // SAFETY: `out` has room for `cap` ≥ `s.len()` bytes (checked above).
    unsafe { ptr::copy_nonoverlapping(s.as_ptr(), out, s.len()) };
    Ok(())
}

/// Copies a signature into a caller buffer and reports its length in `*out_len`.
pub(crate) unsafe fn fill_sig(out: *mut u8, cap: usize, out_len: &mut usize, sig: &str) -> FfiResult {
    unsafe { fill("out", out, cap, sig.as_bytes())? };
    *out_len = sig.len();
    Ok(())
}

// ---------------------------------------------------------------------------
// Memory.

/// The library's version, a static NUL-terminated string (never free it).
#[unsafe(no_mangle)]
pub extern "C" fn fractal_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char
}

/// Frees a buffer the library returned and sets it to `{NULL, 0}`. NULL and an
/// empty buffer are fine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_bytes_free(bytes: *mut FractalBytes) {
    boundary_infallible((), || {
        // SAFETY: NULL or a FractalBytes the library filled (documented).
        if let Some(b) = unsafe { bytes.as_mut() } {
            if !b.ptr.is_null() {
                // SAFETY: ptr/len came from Box<[u8]>::into_raw in `FractalBytes::from`.
                drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(b.ptr, b.len)) });
            }
            b.ptr = ptr::null_mut();
            b.len = 0;
        }
    })
}
