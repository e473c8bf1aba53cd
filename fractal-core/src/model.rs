//! The PCS record (SPEC §1), verification parameters and outcomes (SPEC §5), and the
//! strict parser that names the offending field.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The only accepted value of [`Pcs::schema`].
pub const SCHEMA: &str = "fractal-lba-kakeya";

/// Largest epoch that can be signed canonically: 2^53 − 1.
pub const MAX_EPOCH: u64 = (1u64 << 53) - 1;

/// A Proof-of-Computation Summary (SPEC §1).
///
/// Parse one with [`Pcs::from_json`], which rejects malformed input with an
/// [`Error`] naming the field; build one with [`crate::build_pcs`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ObjectOnly<PcsWire>")]
pub struct Pcs {
    /// `pcs_id(merkle_root, epoch, shard_id)` (SPEC §2).
    pub pcs_id: String,
    /// Always [`SCHEMA`].
    pub schema: String,
    /// Record format version, non-empty (e.g. `"0.1"`).
    pub version: String,
    /// The shard that produced the record.
    pub shard_id: String,
    /// 0 ≤ epoch ≤ [`MAX_EPOCH`].
    pub epoch: u64,
    /// Delivery attempt, default 1.
    pub attempt: i64,
    /// RFC 3339 timestamp of sending, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<String>,
    /// Sampling seed.
    pub seed: i64,
    /// The scales at which `N_j` was counted.
    pub scales: Vec<i64>,
    /// Counts per scale, keyed by the scale's decimal string.
    #[serde(rename = "N_j")]
    pub n_j: BTreeMap<String, i64>,
    /// Coherence statistic.
    pub coh_star: f64,
    /// Coherence direction.
    pub v_star: Vec<f64>,
    /// Reported fractal dimension estimate.
    #[serde(rename = "D_hat")]
    pub d_hat: f64,
    /// Compressibility ratio.
    pub r: f64,
    /// `sticky`, `mixed` or `non_sticky`.
    pub regime: String,
    /// Escalation budget.
    pub budget: f64,
    /// Merkle root of the computation's inputs (hex in practice).
    pub merkle_root: String,
    /// Standard base64 signature over the canonical digest (SPEC §4).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sig: Option<String>,
    /// Fault-tolerance metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ft: Option<FaultTolerance>,
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

/// What the wire may carry: required fields are optional here so that a missing
/// one is reported by name rather than as a generic parse failure.
#[derive(Deserialize)]
struct PcsWire {
    pcs_id: Option<String>,
    schema: Option<String>,
    version: Option<String>,
    shard_id: Option<String>,
    epoch: Option<u64>,
    attempt: Option<i64>,
    sent_at: Option<String>,
    seed: Option<i64>,
    scales: Option<Vec<i64>>,
    #[serde(rename = "N_j")]
    n_j: Option<BTreeMap<String, i64>>,
    coh_star: Option<f64>,
    v_star: Option<Vec<f64>>,
    #[serde(rename = "D_hat")]
    d_hat: Option<f64>,
    r: Option<f64>,
    regime: Option<String>,
    budget: Option<f64>,
    merkle_root: Option<String>,
    sig: Option<String>,
    ft: Option<ObjectOnly<FaultTolerance>>,
}

/// Deserializes `T` from a JSON object only. serde's derived structs also accept
/// an array of the fields in declaration order, which the wire format does not
/// allow (SPEC §1: a record and its `ft` are objects).
struct ObjectOnly<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Objects<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Objects<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> std::result::Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(Objects(std::marker::PhantomData)).map(ObjectOnly)
    }
}

impl TryFrom<ObjectOnly<PcsWire>> for Pcs {
    type Error = Error;

    fn try_from(w: ObjectOnly<PcsWire>) -> Result<Pcs> {
        Pcs::try_from(w.0)
    }
}

fn required<T>(v: Option<T>, field: &str) -> Result<T> {
    v.ok_or_else(|| Error::bad_field(field, "required field is missing"))
}

impl TryFrom<PcsWire> for Pcs {
    type Error = Error;

    fn try_from(w: PcsWire) -> Result<Pcs> {
        let epoch = required(w.epoch, "epoch")?;
        if epoch > MAX_EPOCH {
            return Err(Error::bad_field("epoch", "must be at most 2^53-1 (9007199254740991)"));
        }
        Ok(Pcs {
            pcs_id: required(w.pcs_id, "pcs_id")?,
            schema: required(w.schema, "schema")?,
            version: required(w.version, "version")?,
            shard_id: required(w.shard_id, "shard_id")?,
            epoch,
            attempt: w.attempt.unwrap_or(1),
            sent_at: w.sent_at,
            seed: w.seed.unwrap_or(0),
            scales: w.scales.unwrap_or_default(),
            n_j: w.n_j.unwrap_or_default(),
            coh_star: w.coh_star.unwrap_or(0.0),
            v_star: w.v_star.unwrap_or_default(),
            d_hat: w.d_hat.unwrap_or(0.0),
            r: w.r.unwrap_or(0.0),
            regime: w.regime.unwrap_or_default(),
            budget: w.budget.unwrap_or(0.0),
            merkle_root: required(w.merkle_root, "merkle_root")?,
            sig: w.sig,
            ft: w.ft.map(|o| o.0),
        })
    }
}

impl Pcs {
    /// Parses a record from JSON bytes (SPEC §1, malformed level).
    ///
    /// Unknown fields are ignored. Errors are [`Error::InvalidJson`] for bytes that
    /// are not a JSON object and [`Error::InvalidField`] naming the field otherwise.
    ///
    /// ```
    /// let err = fractal_core::Pcs::from_json(br#"{"pcs_id": 7}"#).unwrap_err();
    /// assert_eq!(err.kind(), "invalid_field");
    /// assert_eq!(err.field(), Some("pcs_id"));
    /// ```
    pub fn from_json(bytes: &[u8]) -> Result<Pcs> {
        // Fast path without path tracking; redo with it only to explain a failure.
        match serde_json::from_slice::<ObjectOnly<PcsWire>>(bytes) {
            Ok(w) => Pcs::try_from(w.0),
            Err(_) => {
                let mut de = serde_json::Deserializer::from_slice(bytes);
                let w = serde_path_to_error::deserialize::<_, ObjectOnly<PcsWire>>(&mut de).map_err(map_parse_error)?;
                // The object parsed: the fast path failed on what follows it.
                de.end().map_err(|e| Error::InvalidJson { reason: e.to_string() })?;
                Pcs::try_from(w.0)
            }
        }
    }

    /// Parses a record from an already-decoded JSON value (used by bindings).
    pub fn from_value(value: serde_json::Value) -> Result<Pcs> {
        match serde_path_to_error::deserialize::<_, ObjectOnly<PcsWire>>(value) {
            Ok(w) => Pcs::try_from(w.0),
            Err(e) => Err(map_parse_error(e)),
        }
    }

    /// Serializes the record as compact JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a Pcs always serializes")
    }

    /// The record as a JSON value.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a Pcs always serializes")
    }
}

fn map_parse_error(e: serde_path_to_error::Error<serde_json::Error>) -> Error {
    let path = e.path().to_string();
    let inner = e.into_inner();
    let at_root = path.is_empty() || path == ".";
    // `?` marks a position where no field name is known yet (a syntax error where
    // a key should be): nothing to name, so the JSON itself is malformed.
    let in_key = path.ends_with('?');
    let msg = inner.to_string();
    match inner.classify() {
        serde_json::error::Category::Data if at_root => {
            if let Some(field) = backticked(&msg, "missing field `") {
                Error::bad_field(field, "required field is missing")
            } else if let Some(field) = backticked(&msg, "duplicate field `") {
                Error::bad_field(field, "field appears more than once")
            } else if msg.starts_with("invalid type") {
                Error::InvalidJson { reason: "expected a JSON object".into() }
            } else {
                // Conversion errors (TryFrom) already carry their field.
                Error::InvalidJson { reason: msg }
            }
        }
        serde_json::error::Category::Data if !in_key => Error::bad_field(path, strip_position(&msg)),
        serde_json::error::Category::Syntax if !at_root && !in_key => Error::bad_field(path, strip_position(&msg)),
        _ => Error::InvalidJson { reason: msg },
    }
}

fn backticked<'a>(msg: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = msg.strip_prefix(prefix)?;
    rest.split('`').next()
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
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
/// budget_tol` (the SPEC's spellings `tolD`, `tolCoh`, `D0` are accepted too);
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
    fn a_record_is_an_object_never_an_array() {
        let v: serde_json::Value = serde_json::from_slice(&example_json()).unwrap();
        let o = v.as_object().unwrap();
        let order = [
            "pcs_id", "schema", "version", "shard_id", "epoch", "attempt", "sent_at", "seed", "scales", "N_j",
            "coh_star", "v_star", "D_hat", "r", "regime", "budget", "merkle_root",
        ];
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
