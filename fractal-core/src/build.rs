//! The record builder for agents: fills `pcs_id`, `D_hat`, `regime` and `budget`
//! with the very functions the verifier uses, so a built record verifies by
//! construction.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::canonical::pcs_id;
use crate::error::{Error, Result};
use crate::model::{FaultTolerance, MAX_EPOCH, Pcs, SCHEMA, VerifyParams};
use crate::verify::{classify_regime, compute_budget, theil_sen_d_hat, validate};

/// What an agent measured; [`build_pcs`] derives the rest.
///
/// In JSON (bindings) the fields have their SPEC §1 names (`N_j` for `n_j`);
/// `version` defaults to `"0.1"`, `attempt` to 1, `seed` to 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildInput {
    /// Merkle root of the computation's inputs.
    pub merkle_root: String,
    /// Epoch, 0 ≤ epoch ≤ 2^53−1.
    pub epoch: u64,
    /// Producing shard.
    pub shard_id: String,
    /// Scales at which counts were taken.
    pub scales: Vec<i64>,
    /// Counts per scale, keyed by the scale's decimal string.
    #[serde(rename = "N_j")]
    pub n_j: BTreeMap<String, i64>,
    /// Coherence statistic.
    pub coh_star: f64,
    /// Coherence direction.
    #[serde(default)]
    pub v_star: Vec<f64>,
    /// Compressibility ratio.
    pub r: f64,
    /// Record format version.
    #[serde(default = "default_version")]
    pub version: String,
    /// Delivery attempt.
    #[serde(default = "default_attempt")]
    pub attempt: i64,
    /// RFC 3339 sending time.
    #[serde(default)]
    pub sent_at: Option<String>,
    /// Sampling seed.
    #[serde(default)]
    pub seed: i64,
    /// Fault-tolerance metadata (an object, as in a record).
    #[serde(default, deserialize_with = "crate::model::optional_object")]
    pub ft: Option<FaultTolerance>,
}

fn default_version() -> String {
    "0.1".into()
}

fn default_attempt() -> i64 {
    1
}

impl BuildInput {
    /// An input of the required measurements, every optional field at its
    /// default (`version` "0.1", `attempt` 1, `seed` 0, no `v_star`, `sent_at` or
    /// `ft`). Hosts set what their caller gave over it, so the defaults live here.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        merkle_root: String,
        epoch: u64,
        shard_id: String,
        scales: Vec<i64>,
        n_j: BTreeMap<String, i64>,
        coh_star: f64,
        r: f64,
    ) -> BuildInput {
        BuildInput {
            merkle_root,
            epoch,
            shard_id,
            scales,
            n_j,
            coh_star,
            v_star: Vec::new(),
            r,
            version: default_version(),
            attempt: default_attempt(),
            sent_at: None,
            seed: 0,
            ft: None,
        }
    }

    /// A small, valid input, handy for examples and tests.
    pub fn example() -> BuildInput {
        BuildInput {
            merkle_root: "a".repeat(64),
            epoch: 1,
            shard_id: "shard-001".into(),
            scales: vec![2, 4, 8, 16, 32],
            n_j: [(2, 3), (4, 5), (8, 9), (16, 17), (32, 31)].into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            coh_star: 0.73,
            v_star: vec![0.12, 0.98],
            r: 0.87,
            version: default_version(),
            attempt: 1,
            sent_at: None,
            seed: 42,
            ft: None,
        }
    }

    /// Parses an input from JSON bytes, naming the offending field on error.
    pub fn from_json(bytes: &[u8]) -> Result<BuildInput> {
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let msg = e.into_inner().to_string();
            Error::bad_field(if path == "." { "input".to_string() } else { path }, msg)
        })
    }
}

/// Builds a record with the default parameters; see [`build_pcs_with`].
pub fn build_pcs(input: &BuildInput) -> Result<Pcs> {
    build_pcs_with(input, &VerifyParams::default())
}

/// Builds a complete, valid, unsigned record: `pcs_id` from SPEC §2, `D_hat` by
/// Theil–Sen, `regime` by classification and `budget` by the budget formula under
/// `params`. Fails with a validation error naming the field when the measurements
/// cannot make a valid record.
///
/// ```
/// let pcs = fractal_core::build_pcs(&fractal_core::BuildInput::example()).unwrap();
/// assert_eq!(pcs.regime, "sticky");
/// ```
pub fn build_pcs_with(input: &BuildInput, params: &VerifyParams) -> Result<Pcs> {
    params.check()?;
    if input.epoch > MAX_EPOCH {
        return Err(Error::validation("epoch", "must be at most 2^53-1"));
    }
    for (field, v) in [("coh_star", input.coh_star), ("r", input.r)] {
        if !v.is_finite() {
            return Err(Error::validation(field, "must be a finite number"));
        }
    }
    let d_hat = theil_sen_d_hat(&input.scales, &input.n_j)?;
    let pcs = Pcs {
        pcs_id: pcs_id(&input.merkle_root, input.epoch, &input.shard_id),
        schema: SCHEMA.into(),
        version: input.version.clone(),
        shard_id: input.shard_id.clone(),
        epoch: input.epoch,
        attempt: input.attempt,
        sent_at: input.sent_at.clone(),
        seed: input.seed,
        scales: input.scales.clone(),
        n_j: input.n_j.clone(),
        coh_star: input.coh_star,
        v_star: input.v_star.clone(),
        d_hat,
        r: input.r,
        regime: classify_regime(d_hat, input.coh_star).as_str().into(),
        budget: compute_budget(d_hat, input.r, input.coh_star, params),
        merkle_root: input.merkle_root.clone(),
        sig: None,
        ft: input.ft.clone(),
        extra: BTreeMap::new(),
        omitted: Default::default(),
    };
    validate(&pcs)?;
    Ok(pcs)
}
