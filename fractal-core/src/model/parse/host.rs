//! Reading the core's inputs from a host language's values: the SDKs hand a serde
//! deserializer over a Python `dict` or a JavaScript object to these entry points, so
//! SPEC §1's fields, defaults and limits are read here and nowhere else.

use super::*;

impl Pcs {
    /// Reads a record from any serde deserializer: this is how the SDKs hand the
    /// core a host object (a Python `dict` through `pythonize`, a JavaScript object
    /// through the Node binding's own deserializer) so that the required fields, defaults and
    /// limits of SPEC §1 are read here and nowhere else. Failures name the field
    /// with the same path syntax as [`Pcs::from_json`] (`scales[2]`, `N_j.8`).
    ///
    /// The deserializer should be a cheap view (`&Value`, a borrowed host object):
    /// it is read without path tracking, and read again with it only to explain a
    /// failure, as [`Pcs::from_json`] does (tracking costs a third of the read).
    ///
    /// ```
    /// let v = serde_json::json!({"pcs_id": 7});
    /// let err = fractal_core::Pcs::deserialize_from(&v).unwrap_err();
    /// assert_eq!(err.field(), Some("pcs_id"));
    /// ```
    pub fn deserialize_from<'de, D: serde::Deserializer<'de> + Clone>(d: D) -> Result<Pcs> {
        Pcs::try_from(read_field_named::<ObjectOnly<PcsWire>, D>(d)?.0)
    }

    /// Reads what a v1 signature covers (SPEC §3.1): [`SIGNED_FIELDS`], with the
    /// same rules as [`Pcs::deserialize_from`]; every other field is skipped
    /// unread (left empty or at its default), so a field v1 does not sign cannot fail it.
    /// For a binding's fast path: `Verifier::verify` and `canonical_payload_v1`
    /// read nothing else of a v1 record. `d` is cloned: it is read once without
    /// tracking the path (the hot path of signing), and again to name the field
    /// only when that fails.
    ///
    /// ```
    /// let v = serde_json::json!({"pcs_id": "p", "merkle_root": "m", "epoch": 1, "shard_id": "s",
    ///     "D_hat": 1.5, "coh_star": 0.7, "r": 0.9, "budget": 0.4, "scales": "not read"});
    /// let p = fractal_core::Pcs::deserialize_signed_from(v).unwrap();
    /// assert_eq!((p.epoch, p.sig.as_deref()), (1, None));
    /// ```
    pub fn deserialize_signed_from<'de, D: serde::Deserializer<'de> + Clone>(d: D) -> Result<Pcs> {
        // The fields v1 does not sign are not read: empty, and the optional ones
        // omitted.
        let rest = PcsWire { schema: Some(String::new()), version: Some(String::new()), ..PcsWire::default() };
        Pcs::assemble(SignedRecord::deserialize_from(d)?, rest)
    }
}

impl SignedRecord {
    /// Reads what a v1 signature covers, as [`Pcs::deserialize_signed_from`]
    /// does, into the signed fields alone: for a binding's v1 batches, which
    /// then need no whole [`Pcs`] per record.
    ///
    /// ```
    /// let v = serde_json::json!({"pcs_id": "p", "merkle_root": "m", "epoch": 1, "shard_id": "s",
    ///     "D_hat": 1.5, "coh_star": 0.7, "r": 0.9, "budget": 0.4, "sig": "c2ln"});
    /// let s = fractal_core::SignedRecord::deserialize_from(&v).unwrap();
    /// assert_eq!((s.epoch, s.sig.as_deref()), (1, Some("c2ln")));
    /// let v = serde_json::json!({"pcs_id": "p", "merkle_root": "", "epoch": 1, "shard_id": "s",
    ///     "D_hat": 1.5, "coh_star": 0.7, "r": 0.9, "budget": 0.4});
    /// let err = fractal_core::SignedRecord::deserialize_from(&v).unwrap_err();
    /// assert_eq!(err.field(), Some("merkle_root"));
    /// ```
    pub fn deserialize_from<'de, D: serde::Deserializer<'de> + Clone>(d: D) -> Result<SignedRecord> {
        // SignedWire reads a map only: it needs no `ObjectOnly` around it.
        SignedRecord::try_from(read_field_named::<SignedWire, D>(d)?)
    }
}

impl crate::BuildInput {
    /// Reads a builder input from any serde deserializer (see
    /// [`Pcs::deserialize_from`]): SPEC §1 names, unknown names refused, the
    /// optional fields defaulted here. Failures are [`Error::InvalidField`].
    pub fn deserialize_from<'de, D: serde::Deserializer<'de>>(d: D) -> Result<crate::BuildInput> {
        serde_path_to_error::deserialize::<_, ObjectOnly<crate::BuildInput>>(d)
            .map(|o| o.0)
            .map_err(|e| host_error(e, |field, reason| Error::InvalidField { field, reason }))
    }
}

impl VerifyParams {
    /// Reads verification parameters from any serde deserializer, accepting the
    /// core's names and the SPEC's and camelCase spellings; missing ones take the
    /// defaults and the result is [`VerifyParams::check`]ed. Failures are
    /// [`Error::InvalidArgument`] naming the parameter.
    pub fn deserialize_from<'de, D: serde::Deserializer<'de>>(d: D) -> Result<VerifyParams> {
        let p = serde_path_to_error::deserialize::<_, ObjectOnly<VerifyParams>>(d)
            .map(|o| o.0)
            .map_err(|e| host_error(e, |name, reason| Error::InvalidArgument { name, reason }))?;
        p.check()?;
        Ok(p)
    }
}

/// Reads `W` without tracking the path (the hot path), and again with it only to
/// name the failing field: tracking costs a third of the read.
fn read_field_named<'de, W: Deserialize<'de>, D: serde::Deserializer<'de> + Clone>(d: D) -> Result<W> {
    match W::deserialize(d.clone()) {
        Ok(w) => Ok(w),
        Err(_) => serde_path_to_error::deserialize::<_, W>(d)
            .map_err(|e| host_error(e, |field, reason| Error::InvalidField { field, reason })),
    }
}

/// Maps a failure of a host deserializer (no syntax errors there: every failure is
/// about data) to an error naming the field, built by `make(field, reason)`.
fn host_error<E: std::fmt::Display>(e: serde_path_to_error::Error<E>, make: impl Fn(String, String) -> Error) -> Error {
    let path = e.path().to_string();
    let msg = strip_position(&e.into_inner().to_string());
    if !(path.is_empty() || path == ".") {
        return make(path, msg);
    }
    root_error(msg, "an object", make)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn example() -> Value {
        crate::build_pcs(&crate::BuildInput::example()).unwrap().to_value()
    }

    #[test]
    fn a_host_record_reads_like_its_json() {
        let v = example();
        let from_json = Pcs::from_json(&serde_json::to_vec(&v).unwrap()).unwrap();
        assert_eq!(Pcs::deserialize_from(v).unwrap(), from_json);
    }

    #[test]
    fn host_failures_name_the_field() {
        let mut v = example();
        v["scales"] = json!([1, 2, "x"]);
        let err = Pcs::deserialize_from(v).unwrap_err();
        assert_eq!((err.kind(), err.field()), ("invalid_field", Some("scales[2]")));
        let mut v = example();
        v.as_object_mut().unwrap().remove("merkle_root");
        assert_eq!(Pcs::deserialize_from(v).unwrap_err().field(), Some("merkle_root"));
        assert_eq!(Pcs::deserialize_from(json!([1])).unwrap_err().kind(), "invalid_json");
    }

    #[test]
    fn a_signed_view_reads_only_what_v1_signs() {
        let mut v = example();
        v["scales"] = json!("not a list");
        v["schema"] = json!(7);
        v["sig"] = json!("c2ln");
        let p = Pcs::deserialize_signed_from(v.clone()).unwrap();
        let full = crate::build_pcs(&crate::BuildInput::example()).unwrap();
        assert_eq!(crate::canonical_payload_v1(&p).unwrap(), crate::canonical_payload_v1(&full).unwrap());
        assert_eq!(p.sig.as_deref(), Some("c2ln"));
        v.as_object_mut().unwrap().remove("D_hat");
        assert_eq!(Pcs::deserialize_signed_from(v.clone()).unwrap_err().field(), Some("D_hat"));
        v["D_hat"] = json!(1.0);
        v["shard_id"] = json!("");
        assert_eq!(Pcs::deserialize_signed_from(v).unwrap_err().field(), Some("shard_id"));
        assert_eq!(Pcs::deserialize_signed_from(json!([1])).unwrap_err().kind(), "invalid_json");
    }

    #[test]
    fn builder_input_and_params_from_a_host() {
        let mut v = serde_json::to_value(crate::BuildInput::example()).unwrap();
        assert_eq!(crate::BuildInput::deserialize_from(v.clone()).unwrap(), crate::BuildInput::example());
        let mut with_ft = v.clone();
        with_ft["ft"] = json!([1]);
        let err = crate::BuildInput::deserialize_from(with_ft).unwrap_err();
        assert_eq!((err.kind(), err.field()), ("invalid_field", Some("ft")));
        v["colour"] = json!(1);
        let err = crate::BuildInput::deserialize_from(v).unwrap_err();
        assert_eq!((err.kind(), err.field()), ("invalid_field", Some("colour")));

        let p = VerifyParams::deserialize_from(json!({"tolD": 0.2, "budgetTol": 0.5, "D0": 2.0})).unwrap();
        assert_eq!((p.tol_d, p.budget_tol, p.d0, p.alpha), (0.2, 0.5, 2.0, VerifyParams::default().alpha));
        let err = VerifyParams::deserialize_from(json!({"tolD": "x"})).unwrap_err();
        assert_eq!((err.kind(), err.field()), ("invalid_argument", Some("tolD")));
        let err = VerifyParams::deserialize_from(json!({"nope": 1.0})).unwrap_err();
        assert_eq!((err.kind(), err.field()), ("invalid_argument", Some("nope")));
        let err = VerifyParams::deserialize_from(json!({"tol_d": -1.0})).unwrap_err();
        assert_eq!(err.kind(), "invalid_argument");
    }

    #[test]
    fn the_v1_reader_agrees_with_the_whole_record_reader() {
        let mut v = example();
        v["sig"] = json!("c2ln");
        let whole = Pcs::deserialize_from(v.clone()).unwrap();
        let signed = Pcs::deserialize_signed_from(v.clone()).unwrap();
        assert_eq!(crate::canonical_payload_v1(&signed).unwrap(), crate::canonical_payload_v1(&whole).unwrap());
        assert_eq!(signed.sig, whole.sig);
        // A field v1 does not sign is not read, so it cannot fail the v1 reader.
        let mut unsigned_bad = v.clone();
        unsigned_bad["scales"] = json!("x");
        assert!(Pcs::deserialize_signed_from(unsigned_bad.clone()).is_ok());
        assert_eq!(Pcs::deserialize_from(unsigned_bad).unwrap_err().field(), Some("scales"));
        // A missing or bad signed field is named alike by both.
        for field in ["pcs_id", "merkle_root", "epoch", "shard_id", "D_hat", "coh_star", "r", "budget"] {
            let mut missing = v.clone();
            missing.as_object_mut().unwrap().remove(field);
            let mut bad = v.clone();
            bad[field] = json!([1]);
            for case in [missing, bad] {
                let (a, b) =
                    (Pcs::deserialize_signed_from(case.clone()).unwrap_err(), Pcs::deserialize_from(case).unwrap_err());
                assert_eq!((a.kind(), a.field()), (b.kind(), b.field()), "{field}");
                assert_eq!(a.field(), Some(field));
            }
        }
        let mut long = v.clone();
        long["shard_id"] = json!("s".repeat(MAX_ID_BYTES + 1));
        assert_eq!(Pcs::deserialize_signed_from(long).unwrap_err().field(), Some("shard_id"));
        let mut late = v;
        late["epoch"] = json!(MAX_EPOCH + 1);
        assert_eq!(Pcs::deserialize_signed_from(late).unwrap_err().field(), Some("epoch"));
    }
}
