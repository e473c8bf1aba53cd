//! `verify.json`: SPEC §5, the verification engine.

use super::*;

#[derive(Serialize)]
pub(crate) struct VerifyGroup {
    pub(crate) comment: &'static str,
    pub(crate) params: VerifyParams,
    pub(crate) tests: Vec<VerifyTest>,
}

#[derive(Serialize)]
pub(crate) struct VerifyTest {
    #[serde(rename = "tcId")]
    pub(crate) tc_id: usize,
    pub(crate) comment: String,
    pub(crate) flags: Vec<&'static str>,
    pub(crate) record: Value,
    pub(crate) expected: VerifyResult,
    pub(crate) result: &'static str,
}

pub(crate) const VERIFY_NOTES: &[(&str, &str)] = &[
    ("Accepted", "Step 7: every check passes."),
    ("Structure", "Step 1: schema, a required string empty, pcs_id mismatch or no scales → rejected, escalated, reason `validation failed: …`."),
    ("TheilSen", "Step 2: the Theil–Sen estimate (upper median of pairwise slopes, scales in the order given) cannot be computed → rejected, escalated."),
    ("TheilSenMedian", "Step 2 succeeds: checks the slope set, the upper median (index len/2) and round9 of recomputed_D_hat."),
    ("DHatTolerance", "Step 3: |D_hat − recomputed_D_hat| > tolD → rejected, escalated; equal to or within tolD passes."),
    ("CohRange", "Step 4: coh_star < 0 or > 1 + tolCoh → rejected, escalated."),
    ("Regime", "Step 5: regime differs from classify(D_hat, coh_star) → accepted, escalated. Boundaries: coh_star ≥ 0.70 and D_hat ≤ 1.5 is sticky, D_hat ≥ 2.6 non_sticky."),
    ("Budget", "Step 6: |budget − recomputed_budget| > 0.01 → accepted, escalated; includes clamping to [0, 1]."),
    ("Order", "Several checks fail: the first in SPEC order decides."),
    ("Params", "Non-default VerifyParams change the outcome."),
];

pub(crate) fn counts(pairs: &[(i64, i64)]) -> (Vec<i64>, BTreeMap<String, i64>) {
    (pairs.iter().map(|p| p.0).collect(), pairs.iter().map(|(s, n)| (s.to_string(), *n)).collect())
}

/// A valid record from measurements (build_pcs derives D_hat, regime and budget).
pub(crate) fn built(pairs: &[(i64, i64)], coh_star: f64, r: f64, f: impl FnOnce(&mut Pcs)) -> Pcs {
    let (scales, n_j) = counts(pairs);
    let input = BuildInput { scales, n_j, coh_star, r, ..BuildInput::example() };
    let mut p = build_pcs(&input).expect("measurements build");
    f(&mut p);
    p
}

pub(crate) fn ex(f: impl FnOnce(&mut Pcs)) -> Pcs {
    let mut p = build_pcs(&BuildInput::example()).expect("the example builds");
    f(&mut p);
    p
}

/// A verify.json group: its comment, parameters and (comment, flags, record) cases.
pub(crate) type VerifyCases = (&'static str, VerifyParams, Vec<(String, Vec<&'static str>, Pcs)>);

pub(crate) fn verify_cases() -> Vec<VerifyCases> {
    let mut default = Vec::new();
    let mut add = |c: &str, f: &[&'static str], p: Pcs| default.push((c.to_string(), f.to_vec(), p));
    let slope2 = [(2, 4), (4, 16), (8, 64)];

    add("the built example record is accepted", &["Accepted"], ex(|_| {}));
    add("the SPEC §3 example: D_hat 1.41 is within tolD, but its budget 0.42 is not the formula's", &["Budget", "TheilSenMedian"], spec_example());
    add("the SPEC §3 example with the formula's budget is accepted", &["Accepted"], rec(|p| p.budget = fractal_core::compute_budget(p.d_hat, p.r, p.coh_star, &VerifyParams::default())));
    add("exact power law, slope 2 (mixed)", &["Accepted", "TheilSenMedian"], built(&slope2, 0.5, 0.5, |_| {}));
    add("scales given in descending order give the same slope", &["Accepted", "TheilSenMedian"], built(&[(8, 64), (2, 4), (4, 16)], 0.5, 0.5, |_| {}));
    add("even number of slopes: the upper median is taken", &["Accepted", "TheilSenMedian"], built(&[(2, 2), (4, 8), (8, 16), (16, 256)], 0.4, 0.9, |_| {}));
    add("noisy counts with an outlier: the median ignores it", &["Accepted", "TheilSenMedian"], built(&[(2, 5), (4, 11), (8, 23), (16, 45), (32, 9000)], 0.8, 0.95, |_| {}));
    add("non-power-of-two scales (log2 not exact)", &["Accepted", "TheilSenMedian"], built(&[(3, 7), (5, 20), (7, 41), (11, 99)], 0.6, 0.3, |_| {}));
    add("a repeated scale is skipped as a pair, others still count", &["Accepted", "TheilSenMedian"], built(&[(2, 4), (2, 4), (8, 64)], 0.5, 0.5, |_| {}));

    add("schema is not fractal-lba-kakeya", &["Structure"], ex(|p| p.schema = "fractal-lba".into()));
    add("version is empty", &["Structure"], ex(|p| p.version = String::new()));
    add("pcs_id does not match merkle_root|epoch|shard_id", &["Structure"], ex(|p| p.pcs_id = pcs_id(&p.merkle_root, p.epoch + 1, &p.shard_id)));
    add("pcs_id is empty", &["Structure"], ex(|p| p.pcs_id = String::new()));
    add("scales and N_j are empty", &["Structure"], ex(|p| {
        p.scales.clear();
        p.n_j.clear();
    }));
    add("schema wrong and D_hat wrong: structure is reported first", &["Structure", "Order"], ex(|p| {
        p.schema = "other".into();
        p.d_hat = 9.0;
    }));

    add("a single scale", &["TheilSen"], ex(|p| {
        p.scales = vec![2];
        p.n_j.retain(|k, _| k == "2");
    }));
    add("N_j has no entry for a scale", &["TheilSen"], ex(|p| {
        p.n_j.remove("8");
    }));
    add("N_j is empty", &["TheilSen"], ex(|p| p.n_j.clear()));
    add("only one distinct scale: no usable pair", &["TheilSen"], ex(|p| {
        p.scales = vec![4, 4, 4];
        p.n_j.retain(|k, _| k == "4");
    }));

    add("D_hat 0.2 above the estimate", &["DHatTolerance"], built(&slope2, 0.5, 0.5, |p| p.d_hat = 2.2));
    add("D_hat 0.2 below the estimate", &["DHatTolerance"], built(&slope2, 0.5, 0.5, |p| p.d_hat = 1.8));
    add("D_hat 2.16 vs 2: the binary64 difference 0.16… is outside tolD", &["DHatTolerance"], built(&slope2, 0.5, 0.5, |p| p.d_hat = 2.16));
    add("D_hat 0.1 off is within tolD", &["DHatTolerance", "Accepted"], built(&slope2, 0.5, 0.5, |p| p.d_hat = 2.1));
    add("D_hat 1.85 vs 2: the binary64 difference 0.1499… is within tolD", &["DHatTolerance", "Accepted"], built(&slope2, 0.5, 0.5, |p| p.d_hat = 1.85));
    add("D_hat wrong and coh_star out of range: D_hat is reported first", &["DHatTolerance", "Order"], built(&slope2, 0.5, 0.5, |p| {
        p.d_hat = 3.0;
        p.coh_star = 2.0;
    }));

    add("coh_star negative", &["CohRange"], built(&slope2, 0.5, 0.5, |p| p.coh_star = -0.01));
    add("coh_star 1.06 above 1 + tolCoh", &["CohRange"], built(&slope2, 0.5, 0.5, |p| p.coh_star = 1.06));
    add("coh_star 1.04 is within 1 + tolCoh", &["CohRange", "Budget"], built(&slope2, 0.5, 0.5, |p| p.coh_star = 1.04));

    add("regime sticky reported for a mixed record", &["Regime"], built(&slope2, 0.5, 0.5, |p| p.regime = "sticky".into()));
    add("regime not one of the three names", &["Regime"], ex(|p| p.regime = "turbulent".into()));
    add("regime empty", &["Regime"], ex(|p| p.regime = String::new()));
    add("boundary: D_hat 1.5 and coh_star 0.70 is sticky", &["Regime", "Accepted"], built(&[(2, 2), (8, 16)], 0.70, 0.5, |_| {}));
    add("boundary: coh_star 0.69 with D_hat 1.5 is mixed, sticky is wrong", &["Regime"], built(&[(2, 2), (8, 16)], 0.69, 0.5, |p| p.regime = "sticky".into()));
    add("boundary: D_hat 2.6 is non_sticky, mixed is wrong", &["Regime"], built(&[(2, 4), (1024, 1_679_616)], 0.5, 0.5, |p| {
        p.d_hat = 2.6;
        p.regime = "mixed".into();
    }));
    add("regime wrong and budget wrong: regime is reported first", &["Regime", "Order"], built(&slope2, 0.5, 0.5, |p| {
        p.regime = "non_sticky".into();
        p.budget = 0.99;
    }));

    add("budget 0.02 above the recomputed budget", &["Budget"], built(&slope2, 0.5, 0.5, |p| p.budget += 0.02));
    add("budget 0.02 below the recomputed budget", &["Budget"], built(&slope2, 0.5, 0.5, |p| p.budget -= 0.02));
    add("budget 0.009 off is within tolerance", &["Budget", "Accepted"], built(&slope2, 0.5, 0.5, |p| p.budget += 0.009));
    add("steep slope: the budget clamps to 1", &["Budget", "Accepted"], built(&[(2, 16), (4, 256), (8, 4096)], 1.0, 0.0, |_| {}));
    add("steep slope with budget 0.9 instead of the clamped 1", &["Budget"], built(&[(2, 16), (4, 256), (8, 4096)], 1.0, 0.0, |p| p.budget = 0.9));

    let mut groups = vec![("SPEC §5 default parameters", VerifyParams::default(), default)];

    let strict = VerifyParams { tol_d: 0.01, budget_tol: 0.001, ..VerifyParams::default() };
    groups.push(("strict tolerances: tol_d 0.01, budget_tol 0.001", strict, vec![
        ("the SPEC example's D_hat 1.41 is now outside tol_d".into(), vec!["Params", "DHatTolerance"], spec_example()),
        ("a built record still passes".into(), vec!["Params", "Accepted"], ex(|_| {})),
        ("budget 0.005 off now fails".into(), vec!["Params", "Budget"], ex(|p| p.budget += 0.005)),
    ]));

    let shifted = VerifyParams { base: -0.5, alpha: 0.0, beta: 1.0, gamma: 0.0, d0: 1.0, tol_coh: 0.5, ..VerifyParams::default() };
    groups.push(("shifted budget formula: base -0.5, alpha 0, beta 1, gamma 0, d0 1, tol_coh 0.5", shifted, vec![
        ("slope 1: -0.5 + 1×max(0, 1-1) clamps to budget 0".into(), vec!["Params", "Budget", "Accepted"], built(&[(2, 2), (4, 4), (8, 8)], 0.5, 0.5, |p| p.budget = 0.0)),
        ("slope 1 with the default formula's budget now fails".into(), vec!["Params", "Budget"], built(&[(2, 2), (4, 4), (8, 8)], 0.5, 0.5, |_| {})),
        ("budget 0.5 = -0.5 + 1×(2-1)".into(), vec!["Params", "Budget", "Accepted"], built(&[(2, 4), (4, 16), (8, 64)], 0.5, 0.5, |p| p.budget = 0.5)),
        ("coh_star 1.4 is inside 1 + tol_coh".into(), vec!["Params", "CohRange", "Accepted"], built(&slope2, 0.5, 0.5, |p| {
            p.coh_star = 1.4;
            p.budget = 0.5;
        })),
    ]));
    groups
}

pub(crate) fn verify_file() -> File<VerifyGroup> {
    let mut groups = Vec::new();
    let mut n = 0;
    for (comment, params, cases) in verify_cases() {
        let tests = cases
            .into_iter()
            .map(|(comment, flags, pcs)| {
                n += 1;
                // Every record must get past the SPEC §1 parser: verification judges
                // only well-formed records.
                let back = Pcs::from_value(pcs.to_value()).unwrap_or_else(|e| panic!("verify case {comment:?} is malformed: {e}"));
                assert_eq!(back.to_value(), pcs.to_value(), "verify case {comment:?} does not round-trip");
                let expected = verify(&pcs, &params);
                let ok = expected.accepted && !expected.escalated;
                assert_eq!(ok, flags.contains(&"Accepted"), "verify case {comment:?}: outcome {expected:?} disagrees with its flags");
                VerifyTest {
                    tc_id: n,
                    comment,
                    flags,
                    record: pcs.to_value(),
                    expected,
                    result: if ok { "valid" } else { "invalid" },
                }
            })
            .collect();
        groups.push(VerifyGroup { comment, params, tests });
    }
    file("fractal-lba-verify-v1", VERIFY_NOTES, groups, n)
}
