//! Signing (SPEC §4): HMAC-SHA256 and Ed25519, v1 fields and whole records.

use super::*;

/// An Ed25519 private key (opaque, immutable, safe to share between threads).
/// Free it with [`fractal_ed25519_key_free`].
pub struct FractalEd25519Key {
    inner: Ed25519Keypair,
}


// ---------------------------------------------------------------------------
// Signing (SPEC §4).

/// Writes the v1 signature (SPEC §3.1, §4: plain base64 of the HMAC-SHA256 of the
/// eight fields' digest) under `key` (its bytes) into `out` (capacity ≥
/// `FRACTAL_HMAC_SIG_LEN`, not NUL-terminated). For v2, sign the whole record:
/// [`fractal_sign_hmac_json`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_sign_hmac_fields_v1(
    fields: FractalFields,
    key: *const u8,
    key_len: usize,
    out: *mut u8,
    out_cap: usize,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let key = bytes("key", key, key_len)?;
        let d = records::fields(&fields)?.digest()?;
        fill("out", out, out_cap, sign_hmac_digest(&d, key)?.as_bytes())
    })
}

/// Signs a record given as JSON with HMAC-SHA256 under `key` (its bytes) over
/// the payload of `version` (SPEC §3, §4): writes the `sig` text into `out`
/// (capacity ≥ `FRACTAL_HMAC_SIG_LEN` for v1, `FRACTAL_HMAC_SIG_V2_LEN` for v2,
/// or simply `FRACTAL_SIG_MAX_LEN`; not NUL-terminated) and its length into
/// `*out_len`. A v2 `sig` is `v2:` + base64.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_sign_hmac_json(
    json: *const u8,
    json_len: usize,
    key: *const u8,
    key_len: usize,
    version: u32,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let out_len = out_ptr("out_len", out_len)?;
        let key = bytes("key", key, key_len)?;
        let version = version_of(version)?;
        let d = digest(&record(json, json_len)?, version)?;
        fill_sig(out, out_cap, out_len, &format_sig(version, sign_hmac_digest(&d, key)?))
    })
}

/// Writes the 32-byte digest a read request signs (SPEC §6.1),
/// SHA-256(`"fractal-lba/read/v1\n"` ‖ tenant ‖ `"\n"` ‖ pcs_id ‖ `"\n"` ‖ t),
/// into `out` (capacity ≥ `FRACTAL_DIGEST_LEN`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_read_digest(
    tenant: *const u8,
    tenant_len: usize,
    pcs_id: *const u8,
    pcs_id_len: usize,
    t: u64,
    out: *mut u8,
    out_cap: usize,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let tenant = text("tenant", tenant, tenant_len)?;
        let pcs_id = text("pcs_id", pcs_id, pcs_id_len)?;
        fill("out", out, out_cap, &read_digest(tenant, pcs_id, t))
    })
}

/// Writes the `Authorization` header value of a read (SPEC §6.1),
/// `Fractal t=<t>, sig=<base64>`, signed with HMAC-SHA256 under `key` (its
/// bytes) at unix time `t` for `tenant` and `pcs_id`, into `out` (free with
/// [`fractal_bytes_free`]).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_sign_read_hmac(
    key: *const u8,
    key_len: usize,
    tenant: *const u8,
    tenant_len: usize,
    pcs_id: *const u8,
    pcs_id_len: usize,
    t: u64,
    out: *mut FractalBytes,
    err: *mut FractalError,
) -> FractalStatus {
    boundary_out(err, out, || unsafe {
        let key = SigningKeyMaterial::Hmac(bytes("key", key, key_len)?.to_vec());
        let tenant = text("tenant", tenant, tenant_len)?;
        let pcs_id = text("pcs_id", pcs_id, pcs_id_len)?;
        Ok(key.read_authorization(tenant, pcs_id, t)?.into_bytes().into())
    })
}

/// Creates an Ed25519 key from the operating system's random source into `*out`
/// (free with [`fractal_ed25519_key_free`]).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_ed25519_key_generate(
    out: *mut *mut FractalEd25519Key,
    err: *mut FractalError,
) -> FractalStatus {
    boundary_out(err, out, || Ok(Box::into_raw(Box::new(FractalEd25519Key { inner: Ed25519Keypair::generate()? }))))
}

/// Creates an Ed25519 key from the base64 of its 32-byte private seed into `*out`
/// (free with [`fractal_ed25519_key_free`]).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_ed25519_key_from_seed(
    seed_b64: *const u8,
    seed_b64_len: usize,
    out: *mut *mut FractalEd25519Key,
    err: *mut FractalError,
) -> FractalStatus {
    boundary_out(err, out, || unsafe {
        let seed = text("seed", seed_b64, seed_b64_len)?;
        Ok(Box::into_raw(Box::new(FractalEd25519Key { inner: Ed25519Keypair::from_seed_b64(seed)? })))
    })
}

/// Writes the base64 public key (`FRACTAL_ED25519_KEY_LEN` characters, not
/// NUL-terminated) into `out`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_ed25519_key_public(
    key: *const FractalEd25519Key,
    out: *mut u8,
    out_cap: usize,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe { fill("out", out, out_cap, handle("key", key)?.inner.public_b64().as_bytes()) })
}

/// Writes the base64 private seed (`FRACTAL_ED25519_KEY_LEN` characters, not
/// NUL-terminated) into `out`. Treat it as a secret.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_ed25519_key_seed(
    key: *const FractalEd25519Key,
    out: *mut u8,
    out_cap: usize,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe { fill("out", out, out_cap, handle("key", key)?.inner.seed_b64().as_bytes()) })
}

/// Writes the v1 signature (plain base64 Ed25519 signature of the eight fields'
/// digest) into `out` (capacity ≥ `FRACTAL_ED25519_SIG_LEN`, not
/// NUL-terminated). For v2, sign the whole record:
/// [`fractal_ed25519_key_sign_json`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_ed25519_key_sign_fields_v1(
    key: *const FractalEd25519Key,
    fields: FractalFields,
    out: *mut u8,
    out_cap: usize,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let key = handle("key", key)?;
        let d = records::fields(&fields)?.digest()?;
        fill("out", out, out_cap, key.inner.sign_digest(&d).as_bytes())
    })
}

/// Signs a record given as JSON with Ed25519 over the payload of `version`
/// (SPEC §3, §4): writes the `sig` text into `out` (capacity ≥
/// `FRACTAL_ED25519_SIG_LEN` for v1, `FRACTAL_ED25519_SIG_V2_LEN` for v2, or
/// `FRACTAL_SIG_MAX_LEN`; not NUL-terminated) and its length into `*out_len`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_ed25519_key_sign_json(
    key: *const FractalEd25519Key,
    json: *const u8,
    json_len: usize,
    version: u32,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let key = handle("key", key)?;
        let out_len = out_ptr("out_len", out_len)?;
        let version = version_of(version)?;
        let d = digest(&record(json, json_len)?, version)?;
        fill_sig(out, out_cap, out_len, &format_sig(version, key.inner.sign_digest(&d)))
    })
}

/// Writes the `Authorization` header value of a read (SPEC §6.1),
/// `Fractal t=<t>, sig=<base64>`, signed with this key at unix time `t` for
/// `tenant` and `pcs_id`, into `out` (free with [`fractal_bytes_free`]).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_ed25519_key_sign_read(
    key: *const FractalEd25519Key,
    tenant: *const u8,
    tenant_len: usize,
    pcs_id: *const u8,
    pcs_id_len: usize,
    t: u64,
    out: *mut FractalBytes,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let key = handle("key", key)?;
        let out = out_ptr("out", out)?;
        let tenant = text("tenant", tenant, tenant_len)?;
        let pcs_id = text("pcs_id", pcs_id, pcs_id_len)?;
        let material = SigningKeyMaterial::Ed25519(key.inner.clone());
        *out = material.read_authorization(tenant, pcs_id, t)?.into_bytes().into();
        Ok(())
    })
}

/// Frees a key. NULL is fine; freeing twice is not.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_ed25519_key_free(key: *mut FractalEd25519Key) {
    // SAFETY: the pointer came from Box::into_raw in this library.
    boundary_infallible((), || unsafe { free_handle(key) })
}
