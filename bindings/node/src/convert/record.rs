//! Records, builder inputs and verification parameters, read by the core
//! (`Pcs::deserialize_from` and its siblings) through the deserializer of
//! `de.rs`: no field's rules are written here.

use super::*;

/// The property keys of [`SIGNED_FIELDS`] (the eight signed fields, then `sig`).
pub(crate) struct Keys<'e>(KeyList<'e>);

impl<'e> Keys<'e> {
    /// For one record: the names as C strings, made once per process.
    pub(crate) fn one() -> Keys<'e> {
        static NAMES: std::sync::LazyLock<Vec<std::ffi::CString>> = std::sync::LazyLock::new(|| {
            SIGNED_FIELDS.iter().map(|n| std::ffi::CString::new(*n).expect("no NUL in a field name")).collect()
        });
        Keys(KeyList::C(&NAMES))
    }

    /// For a batch: JavaScript strings, made once per call, so that the engine
    /// does not convert the nine names again for every record.
    pub(crate) fn many(env: &'e Env) -> Res<Keys<'e>> {
        let keys = SIGNED_FIELDS.iter().map(|name| env.create_string(name));
        Ok(Keys(KeyList::Js(keys.collect::<napi::Result<_>>()?)))
    }
}

/// What v1 signs, the fast path (v1 signs nothing else, so nothing else is
/// read): the core reads a view of the object holding only the eight signed
/// fields of [`SIGNED_FIELDS`].
pub(crate) fn signed(obj: Object, keys: &Keys) -> Res<SignedRecord> {
    de::read(obj, |de| SignedRecord::deserialize_from(de.only(obj, &keys.0, EIGHT)))
}

/// [`SIGNED_FIELDS`] without `sig`.
const EIGHT: &[&str] = SIGNED_FIELDS.split_last().expect("nine names").1;

/// A whole record (SPEC §1, malformed level), as `Pcs::from_json` reads its
/// JSON: unknown fields kept, left-out optional fields recorded as such.
pub(crate) fn pcs(obj: Object) -> Res<Pcs> {
    de::read(obj, |de| Pcs::deserialize_from(de))
}

/// What a signature check needs of a record: for a `v2:` signature the whole
/// record, for any other (or none) what v1 signs and the signature, read once
/// here to tell which.
pub(crate) fn for_check(obj: Object, keys: &Keys) -> Res<Pcs> {
    let sig = keys.0.get(&obj, SIGNED_FIELDS.len() - 1)?;
    let sig = if sig.get_type()? == ValueType::Undefined { None } else { Some(string(sig, "sig")?) };
    if sig.as_deref().is_some_and(|s| s.starts_with(fractal_core::sign::V2_PREFIX)) {
        return pcs(obj);
    }
    de::read(obj, |de| Pcs::deserialize_signed_from(de.only(obj, &keys.0, EIGHT))).map(|p| Pcs { sig, ..p })
}

/// The input of `buildPcs`; unknown fields are refused (a misspelt field would
/// otherwise silently take its default).
pub(crate) fn build_input(v: Unknown) -> Res<BuildInput> {
    de::read(record(v, "input")?, |de| BuildInput::deserialize_from(de))
}

/// Verification parameters, in any spelling the core accepts (`tolD`, `tol_d`,
/// `D0`, `budgetTol`, …); absent ones (`undefined` or `null` for all) take the
/// defaults.
pub(crate) fn verify_params(v: Option<Unknown>) -> Res<VerifyParams> {
    match v {
        Some(v) if !matches!(v.get_type()?, ValueType::Undefined | ValueType::Null) => {
            de::read(record(v, "params")?, |de| VerifyParams::deserialize_from(de))
        }
        _ => Ok(VerifyParams::default()),
    }
}
