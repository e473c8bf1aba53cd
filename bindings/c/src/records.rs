//! Records: `pcs_id`, payloads and digests (SPEC §2–§3), and records as JSON:
//! parse, validate, build, verify (SPEC §1, §5).

use super::*;

/// The eight fields the v1 payload signs (SPEC §3.1), borrowed for one call; the
/// `_v1` functions take them (v2 signs the whole record, given as JSON). Strings
/// are `(pointer, length)` UTF-8; a pointer may be NULL when its length is 0.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct FractalFields {
    /// `pcs_id`.
    pub pcs_id: *const u8,
    /// Length of `pcs_id` in bytes.
    pub pcs_id_len: usize,
    /// `merkle_root`.
    pub merkle_root: *const u8,
    /// Length of `merkle_root` in bytes.
    pub merkle_root_len: usize,
    /// `shard_id`.
    pub shard_id: *const u8,
    /// Length of `shard_id` in bytes.
    pub shard_id_len: usize,
    /// `epoch` (at most 2^53−1 to be signable).
    pub epoch: u64,
    /// `D_hat`.
    pub d_hat: f64,
    /// `coh_star`.
    pub coh_star: f64,
    /// `r`.
    pub r: f64,
    /// `budget`.
    pub budget: f64,
}

/// Verification parameters (SPEC §5). [`fractal_verify_params_default`] fills the
/// contract's defaults.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct FractalVerifyParams {
    /// Tolerance on `|D_hat − recomputed_D_hat|` (0.15).
    pub tol_d: f64,
    /// Tolerance above 1 for `coh_star` (0.05).
    pub tol_coh: f64,
    /// Budget weight of `1 − r` (0.30).
    pub alpha: f64,
    /// Budget weight of `max(0, D_hat − D0)` (0.50).
    pub beta: f64,
    /// Budget weight of `coh_star` (0.20).
    pub gamma: f64,
    /// Budget base (0.10).
    pub base: f64,
    /// Dimension threshold of the budget (2.2).
    pub d0: f64,
    /// Tolerance on `|budget − recomputed_budget|` (0.01).
    pub budget_tol: f64,
}

/// The outcome of [`fractal_verify_json`] (SPEC §5). `reason` is NULL or a
/// NUL-terminated string owned by the library until
/// [`fractal_verify_result_free`].
#[repr(C)]
pub struct FractalVerifyResult {
    /// Whether the record is accepted.
    pub accepted: bool,
    /// Whether it is escalated.
    pub escalated: bool,
    /// Whether `recomputed_d_hat` holds a value.
    pub has_recomputed_d_hat: bool,
    /// Theil–Sen estimate recomputed from `scales` and `N_j`.
    pub recomputed_d_hat: f64,
    /// Whether `recomputed_budget` holds a value.
    pub has_recomputed_budget: bool,
    /// Budget recomputed from the record.
    pub recomputed_budget: f64,
    /// Why the record was not plainly accepted, or NULL.
    pub reason: *mut c_char,
}


/// The payload version of a `version` argument (`FRACTAL_SIG_V1` or `_V2`).
pub(crate) fn version_of(version: u32) -> FfiResult<SigVersion> {
    Ok(SigVersion::from_number(i64::from(version))?)
}

pub(crate) unsafe fn fields<'a>(f: &FractalFields) -> FfiResult<SigningFields<'a>> {
    unsafe {
        Ok(SigningFields {
            pcs_id: text("pcs_id", f.pcs_id, f.pcs_id_len)?,
            merkle_root: text("merkle_root", f.merkle_root, f.merkle_root_len)?,
            epoch: f.epoch,
            shard_id: text("shard_id", f.shard_id, f.shard_id_len)?,
            d_hat: f.d_hat,
            coh_star: f.coh_star,
            r: f.r,
            budget: f.budget,
        })
    }
}

pub(crate) unsafe fn record(json: *const u8, len: usize) -> FfiResult<Pcs> {
    let b = unsafe { bytes("json", json, len)? };
    Ok(Pcs::from_json(b)?)
}

pub(crate) fn params_of(p: *const FractalVerifyParams) -> FfiResult<VerifyParams> {
    // SAFETY: NULL or a valid FractalVerifyParams (documented).
    let params = match unsafe { p.as_ref() } {
        None => VerifyParams::default(),
        Some(p) => VerifyParams {
            tol_d: p.tol_d,
            tol_coh: p.tol_coh,
            alpha: p.alpha,
            beta: p.beta,
            gamma: p.gamma,
            base: p.base,
            d0: p.d0,
            budget_tol: p.budget_tol,
        },
    };
    params.check()?;
    Ok(params)
}

/// The HTTP status a server answers an outcome with (SPEC §6): 200 when accepted
/// and not escalated, 202 otherwise.
#[unsafe(no_mangle)]
pub extern "C" fn fractal_http_status(accepted: bool, escalated: bool) -> u16 {
    fractal_core::VerifyResult { accepted, escalated, recomputed_d_hat: None, recomputed_budget: None, reason: None }
        .http_status()
}

/// Frees the `reason` inside a verification result and sets it to NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_verify_result_free(result: *mut FractalVerifyResult) {
    boundary_infallible((), || {
        // SAFETY: NULL or a FractalVerifyResult the library filled (documented).
        if let Some(r) = unsafe { result.as_mut() }
            && !r.reason.is_null()
        {
            // SAFETY: `reason` came from CString::into_raw in `c_string`.
            drop(unsafe { CString::from_raw(r.reason) });
            r.reason = ptr::null_mut();
        }
    })
}

// ---------------------------------------------------------------------------
// pcs_id, canonical payload, digest (SPEC §2–§3).

/// Writes `pcs_id(merkle_root, epoch, shard_id)` (SPEC §2) as 64 lowercase hex
/// characters into `out` (capacity `out_cap` ≥ `FRACTAL_PCS_ID_LEN`, not
/// NUL-terminated).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_pcs_id(
    merkle_root: *const u8,
    merkle_root_len: usize,
    epoch: u64,
    shard_id: *const u8,
    shard_id_len: usize,
    out: *mut u8,
    out_cap: usize,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let mr = text("merkle_root", merkle_root, merkle_root_len)?;
        let sh = text("shard_id", shard_id, shard_id_len)?;
        fill("out", out, out_cap, fractal_core::pcs_id(mr, epoch, sh).as_bytes())
    })
}

/// The v1 signing payload (SPEC §3.1) of the eight fields, into `out` (free with
/// [`fractal_bytes_free`]). The eight fields are all v1 signs; the v2 payload
/// needs the whole record: [`fractal_canonical_json`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_canonical_fields_v1(
    fields: FractalFields,
    out: *mut FractalBytes,
    err: *mut FractalError,
) -> FractalStatus {
    boundary_out(err, out, || unsafe { Ok(canonical_fields(&self::fields(&fields)?)?.into()) })
}

/// The signing payload of `version` (`FRACTAL_SIG_V1`: SPEC §3.1,
/// `FRACTAL_SIG_V2`: §3.2) of a record given as JSON, into `out` (free with
/// [`fractal_bytes_free`]). The record is parsed strictly; v2 covers its unknown
/// fields too and leaves out the optional fields the JSON leaves out. Another
/// `version` is `INVALID_ARGUMENT` naming `version`; a number v2 cannot sign
/// (an integer beyond ±(2^53−1)) is `INVALID_FIELD` naming it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_canonical_json(
    json: *const u8,
    json_len: usize,
    version: u32,
    out: *mut FractalBytes,
    err: *mut FractalError,
) -> FractalStatus {
    boundary_out(err, out, || unsafe {
        let version = version_of(version)?;
        let pcs = record(json, json_len)?;
        Ok(canonical_payload(&pcs, version)?.into())
    })
}

/// Writes the 32-byte digest of the v1 payload of the eight fields,
/// SHA-256 of [`fractal_canonical_fields_v1`], into `out` (capacity `out_cap` ≥
/// `FRACTAL_DIGEST_LEN`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_digest_fields_v1(
    fields: FractalFields,
    out: *mut u8,
    out_cap: usize,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let d = self::fields(&fields)?.digest()?;
        fill("out", out, out_cap, &d)
    })
}

/// Writes the 32-byte digest both algorithms sign for `version` into `out`
/// (capacity ≥ `FRACTAL_DIGEST_LEN`): SHA-256 of the v1 payload, or
/// SHA-256(`"fractal-lba/pcs/v2\n"` ‖ v2 payload) (SPEC §3.2 step 4).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_digest_json(
    json: *const u8,
    json_len: usize,
    version: u32,
    out: *mut u8,
    out_cap: usize,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let version = version_of(version)?;
        let d = digest(&record(json, json_len)?, version)?;
        fill("out", out, out_cap, &d)
    })
}

// ---------------------------------------------------------------------------
// Records as JSON: parse, validate, build, verify (SPEC §1, §5).

/// Parses a record strictly (SPEC §1, malformed level, limits included) and
/// writes it back as compact JSON into `out` (free with [`fractal_bytes_free`]):
/// unknown fields are kept, optional fields the input leaves out stay out
/// (`attempt` too), so the output signs under v2 exactly as the input does.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_parse_json(
    json: *const u8,
    json_len: usize,
    out: *mut FractalBytes,
    err: *mut FractalError,
) -> FractalStatus {
    boundary_out(err, out, || unsafe { Ok(record(json, json_len)?.to_json().into()) })
}

/// Parses and validates a record (SPEC §1, SDK validation). `FRACTAL_STATUS_OK`
/// when it is valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_validate_json(
    json: *const u8,
    json_len: usize,
    err: *mut FractalError,
) -> FractalStatus {
    boundary(err, || unsafe {
        let pcs = record(json, json_len)?;
        Ok(fractal_core::validate(&pcs)?)
    })
}

/// Fills `out` with the contract's default verification parameters.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_verify_params_default(out: *mut FractalVerifyParams) -> FractalStatus {
    boundary_out(ptr::null_mut(), out, || {
        let d = VerifyParams::default();
        Ok(FractalVerifyParams {
            tol_d: d.tol_d,
            tol_coh: d.tol_coh,
            alpha: d.alpha,
            beta: d.beta,
            gamma: d.gamma,
            base: d.base,
            d0: d.d0,
            budget_tol: d.budget_tol,
        })
    })
}

/// Verifies a record given as JSON (SPEC §5) under `params` (NULL: defaults).
/// Semantic problems are outcomes in `out`, not errors; errors are malformed JSON
/// or invalid parameters. Free `out` with [`fractal_verify_result_free`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_verify_json(
    json: *const u8,
    json_len: usize,
    params: *const FractalVerifyParams,
    out: *mut FractalVerifyResult,
    err: *mut FractalError,
) -> FractalStatus {
    boundary_out(err, out, || unsafe {
        let params = params_of(params)?;
        let pcs = record(json, json_len)?;
        let res = fractal_core::verify(&pcs, &params);
        Ok(FractalVerifyResult {
            accepted: res.accepted,
            escalated: res.escalated,
            has_recomputed_d_hat: res.recomputed_d_hat.is_some(),
            recomputed_d_hat: res.recomputed_d_hat.unwrap_or(0.0),
            has_recomputed_budget: res.recomputed_budget.is_some(),
            recomputed_budget: res.recomputed_budget.unwrap_or(0.0),
            reason: res.reason.as_deref().map_or(ptr::null_mut(), c_string),
        })
    })
}

/// Builds a complete, valid, unsigned record from a JSON build input (the
/// measurements: `merkle_root, epoch, shard_id, scales, N_j, coh_star, r` and the
/// optional `v_star, version, attempt, sent_at, seed, ft`) under `params` (NULL:
/// defaults). The record comes back as JSON in `out` (free with
/// [`fractal_bytes_free`]).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fractal_build_pcs_json(
    input_json: *const u8,
    input_json_len: usize,
    params: *const FractalVerifyParams,
    out: *mut FractalBytes,
    err: *mut FractalError,
) -> FractalStatus {
    boundary_out(err, out, || unsafe {
        let params = params_of(params)?;
        let input = BuildInput::from_json(bytes("input_json", input_json, input_json_len)?)?;
        Ok(build_pcs_with(&input, &params)?.to_json().into())
    })
}
