//! SDK-side validation (SPEC §1) and the verification engine (SPEC §5).

use std::collections::BTreeMap;

use crate::canonical::{pcs_id, round9};
use crate::error::{Error, Result};
use crate::model::{MAX_EPOCH, Pcs, Regime, SCHEMA, VerifyParams, VerifyResult};

/// Theil–Sen slope of `(log2(scale), log2(N_j[scale]))` over `scales` in the given
/// order, upper median, rounded with [`round9`] (SPEC §5, step 2).
///
/// Fails with [`Error::Validation`] for fewer than two scales, a non-positive scale,
/// a missing or non-positive `N_j` entry, or no usable pair.
///
/// ```
/// use std::collections::BTreeMap;
/// let n: BTreeMap<String, i64> = [("2", 4), ("4", 16), ("8", 64)]
///     .into_iter().map(|(k, v)| (k.to_string(), v)).collect();
/// assert_eq!(fractal_core::theil_sen_d_hat(&[2, 4, 8], &n).unwrap(), 2.0);
/// ```
pub fn theil_sen_d_hat(scales: &[i64], n_j: &BTreeMap<String, i64>) -> Result<f64> {
    if scales.len() < 2 {
        return Err(Error::validation("scales", "needs at least 2 scales"));
    }
    let mut points = Vec::with_capacity(scales.len());
    let mut key = String::with_capacity(20);
    for &s in scales {
        if s <= 0 {
            return Err(Error::validation("scales", format!("scale {s} is not positive")));
        }
        key.clear();
        use std::fmt::Write as _;
        let _ = write!(key, "{s}");
        let n = match n_j.get(key.as_str()) {
            Some(&n) if n > 0 => n,
            Some(&n) => return Err(Error::validation(format!("N_j.{s}"), format!("count {n} is not positive"))),
            None => return Err(Error::validation(format!("N_j.{s}"), "missing entry for scale")),
        };
        points.push(((s as f64).log2(), (n as f64).log2()));
    }
    theil_sen_slope(&points)
        .map(round9)
        .ok_or_else(|| Error::validation("scales", "no pair of distinct scales"))
}

/// The Theil–Sen slope of points: all pairwise slopes for `i < j`, skipping pairs
/// with `|x_j − x_i| < 1e-9`, sorted ascending, the element at index `len/2`.
/// `None` when no pair is usable. Not rounded.
pub fn theil_sen_slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len();
    let mut slopes = Vec::with_capacity(n * n.saturating_sub(1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            let dx = points[j].0 - points[i].0;
            if dx.abs() < 1e-9 {
                continue;
            }
            slopes.push((points[j].1 - points[i].1) / dx);
        }
    }
    if slopes.is_empty() {
        return None;
    }
    slopes.sort_unstable_by(f64::total_cmp);
    Some(slopes[slopes.len() / 2])
}

/// `sticky` if `coh_star ≥ 0.70` and `D_hat ≤ 1.5`, else `non_sticky` if
/// `D_hat ≥ 2.6`, else `mixed`.
pub fn classify_regime(d_hat: f64, coh_star: f64) -> Regime {
    if coh_star >= 0.70 && d_hat <= 1.5 {
        Regime::Sticky
    } else if d_hat >= 2.6 {
        Regime::NonSticky
    } else {
        Regime::Mixed
    }
}

/// `round9(clamp01(base + alpha·(1−r) + beta·max(0, D_hat−D0) + gamma·coh_star))`.
pub fn compute_budget(d_hat: f64, r: f64, coh_star: f64, p: &VerifyParams) -> f64 {
    let raw = p.base + p.alpha * (1.0 - r) + p.beta * (d_hat - p.d0).max(0.0) + p.gamma * coh_star;
    round9(raw.clamp(0.0, 1.0))
}

/// The structural checks shared by validation and verification (SPEC §5 step 1).
pub fn check_structure(p: &Pcs) -> Result<()> {
    if p.schema != SCHEMA {
        return Err(Error::validation("schema", format!("must be \"{SCHEMA}\"")));
    }
    for (field, v) in [("pcs_id", &p.pcs_id), ("version", &p.version), ("shard_id", &p.shard_id), ("merkle_root", &p.merkle_root)] {
        if v.is_empty() {
            return Err(Error::validation(field, "must not be empty"));
        }
    }
    if p.epoch > MAX_EPOCH {
        return Err(Error::validation("epoch", "must be at most 2^53-1"));
    }
    if p.pcs_id != pcs_id(&p.merkle_root, p.epoch, &p.shard_id) {
        return Err(Error::validation("pcs_id", "does not match sha256(merkle_root|epoch|shard_id)"));
    }
    if p.scales.is_empty() {
        return Err(Error::validation("scales", "must not be empty"));
    }
    for (field, v) in [("D_hat", p.d_hat), ("coh_star", p.coh_star), ("r", p.r), ("budget", p.budget)] {
        if !v.is_finite() {
            return Err(Error::validation(field, "must be a finite number"));
        }
    }
    Ok(())
}

/// SDK-side validation (SPEC §1): structure plus `0 ≤ coh_star ≤ 1.05`,
/// `0 ≤ r ≤ 1`, `0 ≤ budget ≤ 1` and a known `regime`.
pub fn validate(p: &Pcs) -> Result<()> {
    check_structure(p)?;
    if !(0.0..=1.05).contains(&p.coh_star) {
        return Err(Error::validation("coh_star", "must be between 0 and 1.05"));
    }
    if !(0.0..=1.0).contains(&p.r) {
        return Err(Error::validation("r", "must be between 0 and 1"));
    }
    if !(0.0..=1.0).contains(&p.budget) {
        return Err(Error::validation("budget", "must be between 0 and 1"));
    }
    if Regime::parse(&p.regime).is_none() {
        return Err(Error::validation("regime", "must be \"sticky\", \"mixed\" or \"non_sticky\""));
    }
    Ok(())
}

/// The verification engine (SPEC §5): the first failing check decides the outcome.
/// Semantic problems are outcomes, not errors.
///
/// ```
/// use fractal_core::{build_pcs, verify, BuildInput, VerifyParams};
/// let pcs = build_pcs(&BuildInput::example()).unwrap();
/// let out = verify(&pcs, &VerifyParams::default());
/// assert!(out.accepted && !out.escalated);
/// ```
pub fn verify(p: &Pcs, params: &VerifyParams) -> VerifyResult {
    let fail = |accepted: bool, d: Option<f64>, b: Option<f64>, reason: String| VerifyResult {
        accepted,
        escalated: true,
        recomputed_d_hat: d,
        recomputed_budget: b,
        reason: Some(reason),
    };
    if let Err(e) = check_structure(p) {
        return fail(false, None, None, format!("validation failed: {}", detail(&e)));
    }
    let d = match theil_sen_d_hat(&p.scales, &p.n_j) {
        Ok(d) => d,
        Err(e) => return fail(false, None, None, format!("D_hat recomputation failed: {}", detail(&e))),
    };
    if (p.d_hat - d).abs() > params.tol_d {
        return fail(false, Some(d), None, format!("D_hat mismatch: reported {}, recomputed {}, tolerance {}", p.d_hat, d, params.tol_d));
    }
    if p.coh_star < 0.0 || p.coh_star > 1.0 + params.tol_coh {
        return fail(false, Some(d), None, format!("coh_star {} out of range [0, {}]", p.coh_star, 1.0 + params.tol_coh));
    }
    let regime = classify_regime(p.d_hat, p.coh_star);
    if p.regime != regime.as_str() {
        return fail(true, Some(d), None, format!("regime mismatch: reported {:?}, expected {:?}", p.regime, regime.as_str()));
    }
    let b = compute_budget(p.d_hat, p.r, p.coh_star, params);
    if (p.budget - b).abs() > params.budget_tol {
        return fail(true, Some(d), Some(b), format!("budget mismatch: reported {}, recomputed {}, tolerance {}", p.budget, b, params.budget_tol));
    }
    VerifyResult { accepted: true, escalated: false, recomputed_d_hat: Some(d), recomputed_budget: Some(b), reason: None }
}

fn detail(e: &Error) -> String {
    match e {
        Error::Validation { field, reason } => format!("`{field}` {reason}"),
        other => other.to_string(),
    }
}
