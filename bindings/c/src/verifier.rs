//! Verifiers (SPEC §4): a builder collects keys, then an immutable verifier.

use super::*;

/// Collects keys for a verifier (opaque, not thread-safe). Consumed by
/// [`fractal_verifier_builder_build`] or freed by [`fractal_verifier_builder_free`].
pub struct FractalVerifierBuilder {
    inner: fractal_core::Verifier,
}

/// Checks signatures under one or more keys (opaque, immutable, safe to share
/// between threads). Free it with [`fractal_verifier_free`].
pub struct FractalVerifier {
    inner: fractal_core::Verifier,
}


// ---------------------------------------------------------------------------
// Verifier (SPEC §4): a builder collects keys, then an immutable verifier.

/// A builder holding no key (never NULL; free with
/// [`fractal_verifier_builder_free`] unless it is built).
#[unsafe(no_mangle)]
pub extern "C" fn fractal_verifier_builder_new() -> *mut FractalVerifierBuilder {
    boundary_infallible(ptr::null_mut(), || {
        Box::into_raw(Box::new(FractalVerifierBuilder { inner: fractal_core::Verifier::new() }))
    })
}

/// Adds an HMAC shared secret (its bytes; must not be empty).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_verifier_builder_add_hmac_key(
    builder: *mut FractalVerifierBuilder,
    key: *const u8,
    key_len: usize,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let b = out_ptr("builder", builder)?;
        b.inner.add_hmac_key(bytes("key", key, key_len)?)?;
        Ok(())
    })
}

/// Adds an Ed25519 public key given as base64 of its 32 bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_verifier_builder_add_ed25519_public_key(
    builder: *mut FractalVerifierBuilder,
    public_b64: *const u8,
    public_b64_len: usize,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let b = out_ptr("builder", builder)?;
        b.inner.add_ed25519_public_key(text("public_key", public_b64, public_b64_len)?)?;
        Ok(())
    })
}

/// Sets which signatures the verifier will accept (SPEC §4, §4.1), from the JSON
/// object `{"versions":["v1","v2"],"encodings":["seed-python","seed-go"]}`:
/// `versions` (required, at least one of `v1`, `v2`) and `encodings` (optional:
/// the seed's v1 encodings tried after the canonical v1 payload fails). Without
/// a policy a verifier accepts v2 only. A bad policy is `INVALID_ARGUMENT`
/// naming `policy_json`, `signature_versions` or `accept_encodings`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_verifier_builder_set_policy(
    builder: *mut FractalVerifierBuilder,
    policy_json: *const u8,
    policy_json_len: usize,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let b = out_ptr("builder", builder)?;
        let raw = bytes("policy_json", policy_json, policy_json_len)?;
        b.inner.set_policy(policy_of(raw)?);
        Ok(())
    })
}

pub(crate) fn policy_of(raw: &[u8]) -> FfiResult<SignaturePolicy> {
    let v: serde_json::Value =
        serde_json::from_slice(raw).map_err(|e| bad_arg("policy_json", &format!("is not JSON ({e})")))?;
    let obj = v.as_object().ok_or_else(|| bad_arg("policy_json", "must be a JSON object"))?;
    if let Some(k) = obj.keys().find(|k| !matches!(k.as_str(), "versions" | "encodings")) {
        return Err(bad_arg("policy_json", &format!("unknown setting `{k}` (versions, encodings)")));
    }
    let names = |key: &str, arg: &str| -> FfiResult<Vec<String>> {
        match obj.get(key) {
            None | Some(serde_json::Value::Null) => Ok(Vec::new()),
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|_| bad_arg(arg, &format!("`{key}` must be an array of strings"))),
        }
    };
    let versions = names("versions", "signature_versions")?;
    let encodings = names("encodings", "accept_encodings")?;
    Ok(SignaturePolicy::parse(&versions, &encodings)?)
}

/// Consumes the builder (it must not be used or freed afterwards) and returns an
/// immutable verifier (free with [`fractal_verifier_free`]). NULL in, NULL out.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_verifier_builder_build(
    builder: *mut FractalVerifierBuilder,
) -> *const FractalVerifier {
    boundary_infallible(ptr::null(), || {
        if builder.is_null() {
            return ptr::null();
        }
        // SAFETY: the pointer came from fractal_verifier_builder_new.
        let b = unsafe { Box::from_raw(builder) };
        Box::into_raw(Box::new(FractalVerifier { inner: b.inner })) as *const FractalVerifier
    })
}

/// Frees a builder that was not built. NULL is fine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_verifier_builder_free(builder: *mut FractalVerifierBuilder) {
    boundary_infallible((), || unsafe { free_handle(builder) })
}

/// The number of keys a verifier holds (0 for NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_verifier_key_count(verifier: *const FractalVerifier) -> usize {
    // SAFETY: NULL or a live verifier.
    boundary_infallible(0, || unsafe { verifier.as_ref() }.map_or(0, |v| v.inner.len()))
}

/// Checks a v1 `sig` (plain base64) over the eight fields under any key and the
/// verifier's policy, as [`fractal_verifier_verify_json`] does for a v1
/// signature (the policy's legacy encodings included): `FRACTAL_STATUS_OK`,
/// `..._SIGNATURE_MISSING` (empty `sig`), `..._UNSUPPORTED_SIGNATURE_VERSION`
/// (the policy refuses the version `sig` names) or `..._SIGNATURE_INVALID`.
/// A v2 signature covers the whole record, not these fields: it is
/// `INVALID_ARGUMENT` naming `sig` (check it with
/// [`fractal_verifier_verify_json`]).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_verifier_verify_fields_v1(
    verifier: *const FractalVerifier,
    fields: FractalFields,
    sig: *const u8,
    sig_len: usize,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let v = handle("verifier", verifier)?;
        let sig = text("sig", sig, sig_len)?;
        v.inner.verify_fields_v1(&records::fields(&fields)?, Some(sig))?;
        Ok(())
    })
}

/// Checks the `sig` of a record given as JSON under any key and the verifier's
/// policy (SPEC §4, §4.1): the prefix names the payload (`v2:` for v2, none for
/// v1). `FRACTAL_STATUS_OK`, `..._SIGNATURE_MISSING`,
/// `..._UNSUPPORTED_SIGNATURE_VERSION` (a version the policy refuses, or an
/// unknown `vN:` prefix), `..._SIGNATURE_INVALID`, or a parse error naming the
/// field.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_verifier_verify_json(
    verifier: *const FractalVerifier,
    json: *const u8,
    json_len: usize,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let v = handle("verifier", verifier)?;
        Ok(v.inner.verify(&record(json, json_len)?)?)
    })
}

/// Checks the `Authorization` header value of a read (SPEC §6.1) for `tenant`
/// and `pcs_id` at the verifier's unix time `now`: `FRACTAL_STATUS_OK`,
/// `..._SIGNATURE_MISSING` (empty `authorization`) or `..._SIGNATURE_INVALID`
/// (malformed, more than 300 s from `now`, or verifying under no key).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_verifier_verify_read(
    verifier: *const FractalVerifier,
    tenant: *const u8,
    tenant_len: usize,
    pcs_id: *const u8,
    pcs_id_len: usize,
    authorization: *const u8,
    authorization_len: usize,
    now: u64,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let v = handle("verifier", verifier)?;
        let tenant = text("tenant", tenant, tenant_len)?;
        let pcs_id = text("pcs_id", pcs_id, pcs_id_len)?;
        let auth = text("authorization", authorization, authorization_len)?;
        Ok(v.inner.verify_read(tenant, pcs_id, Some(auth), now)?)
    })
}

/// Frees a verifier. NULL is fine; freeing twice is not.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_verifier_free(verifier: *const FractalVerifier) {
    boundary_infallible((), || unsafe { free_handle(verifier.cast_mut()) })
}
