//! The PCS record (SPEC §1), verification parameters and outcomes (SPEC §5), and the
//! strict parser that names the offending field.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

mod parse;
pub use parse::check_epoch;
pub(crate) use parse::{check_id_bytes, optional_object};
use parse::{ObjectOnly, PcsWire};

/// The only accepted value of [`Pcs::schema`].
pub const SCHEMA: &str = "fractal-lba-kakeya";

/// Largest epoch that can be signed canonically: 2^53 − 1.
pub const MAX_EPOCH: u64 = (1u64 << 53) - 1;

/// Most entries `scales`, `N_j` and `v_star` may hold (SPEC §1). The bound keeps
/// every check linear in the body: Theil–Sen is quadratic in the scales.
pub const MAX_ENTRIES: usize = 64;

/// Most bytes `shard_id` and `merkle_root` may hold (SPEC §1).
pub const MAX_ID_BYTES: usize = 128;

/// Largest integer magnitude v2 can sign: 2^53 − 1 (SPEC §3.2).
pub const MAX_SAFE_INTEGER: i64 = (1i64 << 53) - 1;

/// The fields SPEC §1 names, in its order; every other key of a record is an
/// unknown field, kept in [`Pcs::extra`]. Bindings that read host objects use this
/// list rather than one of their own.
pub const KNOWN_FIELDS: [&str; 19] = [
    "pcs_id",
    "schema",
    "version",
    "shard_id",
    "epoch",
    "attempt",
    "sent_at",
    "seed",
    "scales",
    "N_j",
    "coh_star",
    "v_star",
    "D_hat",
    "r",
    "regime",
    "budget",
    "merkle_root",
    "sig",
    "ft",
];

/// What a v1 signature covers (SPEC §3.1): the eight signed fields, then `sig`.
/// [`Pcs::deserialize_signed_from`] reads only these.
pub const SIGNED_FIELDS: [&str; 9] =
    ["pcs_id", "merkle_root", "epoch", "shard_id", "D_hat", "coh_star", "r", "budget", "sig"];

/// What a v1 signature covers, owned: the eight signed fields and `sig`, read by
/// [`SignedRecord::deserialize_from`] with the record parser's rules (the same
/// required fields and limits as [`Pcs::from_json`]). For the SDKs' v1 fast
/// paths, which sign many records without building a whole [`Pcs`] for each.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedRecord {
    /// `pcs_id`.
    pub pcs_id: String,
    /// `merkle_root`.
    pub merkle_root: String,
    /// `epoch`.
    pub epoch: u64,
    /// `shard_id`.
    pub shard_id: String,
    /// `D_hat`.
    pub d_hat: f64,
    /// `coh_star`.
    pub coh_star: f64,
    /// `r`.
    pub r: f64,
    /// `budget`.
    pub budget: f64,
    /// `sig`, if the record carries one.
    pub sig: Option<String>,
}

impl SignedRecord {
    /// The signed fields, borrowed, for [`crate::canonical_fields`] and [`crate::SigningFields::digest`].
    pub fn fields(&self) -> crate::SigningFields<'_> {
        crate::SigningFields {
            pcs_id: &self.pcs_id,
            merkle_root: &self.merkle_root,
            epoch: self.epoch,
            shard_id: &self.shard_id,
            d_hat: self.d_hat,
            coh_star: self.coh_star,
            r: self.r,
            budget: self.budget,
        }
    }
}

/// A Proof-of-Computation Summary (SPEC §1).
///
/// Parse one with [`Pcs::from_json`], which rejects malformed input with an
/// [`Error`] naming the field; build one with [`crate::build_pcs`].
///
/// Fields outside the SPEC's table are kept in [`Pcs::extra`] (v2 signs them), and
/// [`Pcs::omitted`] remembers which optional fields the sender left out, so that
/// the record serializes, and signs, as it was sent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "ObjectOnly<PcsWire>")]
pub struct Pcs {
    /// `pcs_id(merkle_root, epoch, shard_id)` (SPEC §2).
    pub pcs_id: String,
    /// Always [`SCHEMA`].
    pub schema: String,
    /// Record format version, non-empty (e.g. `"0.1"`).
    pub version: String,
    /// The shard that produced the record (1–128 bytes).
    pub shard_id: String,
    /// 0 ≤ epoch ≤ [`MAX_EPOCH`].
    pub epoch: u64,
    /// Delivery attempt, default 1.
    pub attempt: i64,
    /// RFC 3339 timestamp of sending, when given.
    pub sent_at: Option<String>,
    /// Sampling seed.
    pub seed: i64,
    /// The scales at which `N_j` was counted (at most 64, each ≥ 1).
    pub scales: Vec<i64>,
    /// Counts per scale, keyed by the scale's decimal string (at most 64, each ≥ 1).
    pub n_j: BTreeMap<String, i64>,
    /// Coherence statistic.
    pub coh_star: f64,
    /// Coherence direction (at most 64 entries).
    pub v_star: Vec<f64>,
    /// Reported fractal dimension estimate.
    pub d_hat: f64,
    /// Compressibility ratio.
    pub r: f64,
    /// `sticky`, `mixed` or `non_sticky`.
    pub regime: String,
    /// Escalation budget.
    pub budget: f64,
    /// Merkle root of the computation's inputs (1–128 bytes, hex in practice).
    pub merkle_root: String,
    /// The signature (SPEC §4): standard base64 for v1, `v2:` + base64 for v2.
    pub sig: Option<String>,
    /// Fault-tolerance metadata.
    pub ft: Option<FaultTolerance>,
    /// Fields the SPEC does not name, as sent. Verification ignores them; the v2
    /// payload signs them (SPEC §3.2).
    pub extra: BTreeMap<String, Value>,
    /// Optional fields the sender left out (they hold their defaults here).
    pub omitted: Omitted,
}

/// Which optional, signed fields a record left out. An omitted field whose value
/// is still its default is neither serialized nor signed, exactly as it was sent;
/// one given a value afterwards is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Omitted {
    /// `seed` was absent (default 0).
    pub seed: bool,
    /// `scales` was absent (default `[]`).
    pub scales: bool,
    /// `N_j` was absent (default `{}`).
    pub n_j: bool,
    /// `v_star` was absent (default `[]`).
    pub v_star: bool,
    /// `regime` was absent (default `""`).
    pub regime: bool,
    /// `attempt` was absent (default 1).
    pub attempt: bool,
}

/// Optional fault-tolerance metadata (`ft`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultTolerance {
    /// Sequence number in the agent's outbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbox_seq: Option<i64>,
    /// Whether the agent ran degraded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degraded: Option<bool>,
    /// Fallbacks the agent took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallbacks: Option<Vec<String>>,
    /// Clock skew the agent measured, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_skew_ms: Option<i64>,
}

/// The record as it serializes: borrowed fields, the omitted ones left out.
#[derive(Serialize)]
pub(crate) struct PcsOut<'a> {
    pub(crate) pcs_id: &'a str,
    pub(crate) schema: &'a str,
    pub(crate) version: &'a str,
    pub(crate) shard_id: &'a str,
    pub(crate) epoch: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) attempt: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sent_at: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) scales: Option<&'a [i64]>,
    #[serde(rename = "N_j", skip_serializing_if = "Option::is_none")]
    pub(crate) n_j: Option<&'a BTreeMap<String, i64>>,
    pub(crate) coh_star: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) v_star: Option<&'a [f64]>,
    #[serde(rename = "D_hat")]
    pub(crate) d_hat: f64,
    pub(crate) r: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) regime: Option<&'a str>,
    pub(crate) budget: f64,
    pub(crate) merkle_root: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sig: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ft: Option<&'a FaultTolerance>,
    #[serde(flatten)]
    pub(crate) extra: &'a BTreeMap<String, Value>,
}

impl<'a> From<&'a Pcs> for PcsOut<'a> {
    fn from(p: &'a Pcs) -> Self {
        let o = &p.omitted;
        PcsOut {
            pcs_id: &p.pcs_id,
            schema: &p.schema,
            version: &p.version,
            shard_id: &p.shard_id,
            epoch: p.epoch,
            attempt: (!(o.attempt && p.attempt == 1)).then_some(p.attempt),
            sent_at: p.sent_at.as_deref(),
            seed: (!(o.seed && p.seed == 0)).then_some(p.seed),
            scales: (!(o.scales && p.scales.is_empty())).then_some(&p.scales),
            n_j: (!(o.n_j && p.n_j.is_empty())).then_some(&p.n_j),
            coh_star: p.coh_star,
            v_star: (!(o.v_star && p.v_star.is_empty())).then_some(&p.v_star),
            d_hat: p.d_hat,
            r: p.r,
            regime: (!(o.regime && p.regime.is_empty())).then_some(&p.regime),
            budget: p.budget,
            merkle_root: &p.merkle_root,
            sig: p.sig.as_deref(),
            ft: p.ft.as_ref(),
            extra: &p.extra,
        }
    }
}

impl Serialize for Pcs {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        PcsOut::from(self).serialize(s)
    }
}

/// The three regimes of SPEC §5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Regime {
    /// `coh_star ≥ 0.70` and `D_hat ≤ 1.5`.
    Sticky,
    /// Neither sticky nor non-sticky.
    Mixed,
    /// `D_hat ≥ 2.6` (and not sticky).
    NonSticky,
}

impl Regime {
    /// The wire name: `sticky`, `mixed` or `non_sticky`.
    pub fn as_str(self) -> &'static str {
        match self {
            Regime::Sticky => "sticky",
            Regime::Mixed => "mixed",
            Regime::NonSticky => "non_sticky",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Regime> {
        match s {
            "sticky" => Some(Regime::Sticky),
            "mixed" => Some(Regime::Mixed),
            "non_sticky" => Some(Regime::NonSticky),
            _ => None,
        }
    }
}

impl std::fmt::Display for Regime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Verification parameters (SPEC §5). `Default` gives the contract's defaults.
///
/// In JSON the fields are `tol_d, tol_coh, alpha, beta, gamma, base, d0,
/// budget_tol` (the SPEC's spellings `tolD`, `tolCoh`, `D0` and `budgetTol` are accepted too);
/// missing fields take their defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VerifyParams {
    /// Tolerance on `|D_hat − recomputed_D_hat|` (0.15).
    #[serde(alias = "tolD")]
    pub tol_d: f64,
    /// Tolerance above 1 for `coh_star` (0.05).
    #[serde(alias = "tolCoh")]
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
    #[serde(alias = "D0")]
    pub d0: f64,
    /// Tolerance on `|budget − recomputed_budget|` (0.01).
    #[serde(alias = "budgetTol")]
    pub budget_tol: f64,
}

impl Default for VerifyParams {
    fn default() -> Self {
        VerifyParams {
            tol_d: 0.15,
            tol_coh: 0.05,
            alpha: 0.30,
            beta: 0.50,
            gamma: 0.20,
            base: 0.10,
            d0: 2.2,
            budget_tol: 0.01,
        }
    }
}

impl VerifyParams {
    /// Checks that every parameter is finite and every tolerance non-negative.
    pub fn check(&self) -> Result<()> {
        let all = [
            ("tol_d", self.tol_d),
            ("tol_coh", self.tol_coh),
            ("alpha", self.alpha),
            ("beta", self.beta),
            ("gamma", self.gamma),
            ("base", self.base),
            ("d0", self.d0),
            ("budget_tol", self.budget_tol),
        ];
        for (name, v) in all {
            if !v.is_finite() {
                return Err(Error::arg(name, "must be a finite number"));
            }
        }
        for (name, v) in [("tol_d", self.tol_d), ("tol_coh", self.tol_coh), ("budget_tol", self.budget_tol)] {
            if v < 0.0 {
                return Err(Error::arg(name, "must not be negative"));
            }
        }
        Ok(())
    }
}

/// The outcome of verification (SPEC §5), stored once and answered on every retry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyResult {
    /// Whether the record is accepted.
    pub accepted: bool,
    /// Whether it needs a human (or a stricter pipeline) to look at it.
    pub escalated: bool,
    /// Theil–Sen estimate recomputed from `scales` and `N_j`, when it could be.
    #[serde(rename = "recomputed_D_hat", default, skip_serializing_if = "Option::is_none")]
    pub recomputed_d_hat: Option<f64>,
    /// Budget recomputed from the record, when verification got that far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recomputed_budget: Option<f64>,
    /// Why the record was not plainly accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl VerifyResult {
    /// The HTTP status the server answers with: 200 when accepted and not
    /// escalated, 202 otherwise (SPEC §6).
    pub fn http_status(&self) -> u16 {
        if self.accepted && !self.escalated { 200 } else { 202 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example_json() -> Vec<u8> {
        crate::build_pcs(&crate::BuildInput::example()).unwrap().to_json()
    }

    #[test]
    fn known_fields_are_the_ones_the_parser_reads() {
        let base: serde_json::Value = serde_json::from_slice(&example_json()).unwrap();
        for k in KNOWN_FIELDS {
            let mut rec = base.clone();
            rec[k] = serde_json::json!({"probe": [1]});
            // Every known field is typed: an object there is refused naming the field
            // (ft is an object, but not one with these keys), never kept as extra.
            match Pcs::from_value(rec) {
                Err(e) => assert!(e.to_string().contains(k), "{k}: {e}"),
                Ok(p) => assert!(!p.extra.contains_key(k), "{k} was kept as an unknown field"),
            }
        }
        let mut rec = base;
        rec["probe"] = serde_json::json!({"probe": [1]});
        assert!(Pcs::from_value(rec).unwrap().extra.contains_key("probe"));
    }

    #[test]
    fn a_record_is_an_object_never_an_array() {
        let v: serde_json::Value = serde_json::from_slice(&example_json()).unwrap();
        let o = v.as_object().unwrap();
        // The SPEC §1 order, without the delivery fields sig and ft.
        let order = &KNOWN_FIELDS[..17];
        let as_array = serde_json::Value::Array(order.iter().map(|k| o.get(*k).cloned().unwrap_or_default()).collect());
        let err = Pcs::from_json(&serde_json::to_vec(&as_array).unwrap()).unwrap_err();
        assert_eq!(err.kind(), "invalid_json", "{err}");
        assert!(Pcs::from_value(as_array.clone()).is_err());
        assert!(serde_json::from_value::<Pcs>(as_array).is_err(), "Deserialize for Pcs refuses arrays too");

        let mut with_ft = v.clone();
        with_ft["ft"] = serde_json::json!([1, true, ["x"], 2]);
        let err = Pcs::from_json(&serde_json::to_vec(&with_ft).unwrap()).unwrap_err();
        assert_eq!((err.kind(), err.field()), ("invalid_field", Some("ft")), "{err}");
    }

    #[test]
    fn bytes_after_the_record_are_refused() {
        let mut bytes = example_json();
        bytes.extend_from_slice(b" {}");
        assert_eq!(Pcs::from_json(&bytes).unwrap_err().kind(), "invalid_json");
        let mut ok = example_json();
        ok.extend_from_slice(b" \n\t");
        Pcs::from_json(&ok).expect("trailing whitespace is fine");
    }

    #[test]
    fn a_syntax_error_in_key_position_names_no_field() {
        let mut bytes = example_json();
        bytes.pop();
        bytes.extend_from_slice(b",}");
        let err = Pcs::from_json(&bytes).unwrap_err();
        assert_eq!((err.kind(), err.field()), ("invalid_json", None), "{err}");
    }

    #[test]
    fn numbers_parse_to_the_nearest_double() {
        // serde_json's default float parser reads this one ulp off.
        let mut v: serde_json::Value = serde_json::from_slice(&example_json()).unwrap();
        let text = serde_json::to_string(&v).unwrap().replace(&format!("\"r\":{}", v["r"]), "\"r\":123456789.12345679");
        v = serde_json::from_str(&text).unwrap();
        let p = Pcs::from_json(text.as_bytes()).unwrap();
        assert_eq!(p.r.to_bits(), 123456789.12345679f64.to_bits());
        assert_eq!(v["r"].as_f64().unwrap().to_bits(), 123456789.12345679f64.to_bits());
    }
}
