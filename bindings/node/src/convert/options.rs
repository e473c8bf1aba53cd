//! Options of the v2 API: signature versions and policies.

use super::*;

/// The `{ version }` option of signing calls: 1 or 2, 2 when absent. Anything
/// else is an `ERR_INVALID_ARGUMENT` naming `version` (or `options`).
pub(crate) fn sig_version(options: Option<Unknown>) -> Res<SigVersion> {
    let Some(v) = options else {
        return Ok(SigVersion::V2);
    };
    if matches!(v.get_type()?, ValueType::Undefined | ValueType::Null) {
        return Ok(SigVersion::V2);
    }
    let obj = record(v, "options")?;
    for key in Object::keys(&obj)? {
        if key != "version" {
            return Err(bad_arg(key, "unknown option (the only option is `version`)").into());
        }
    }
    match prop(&obj, "version")? {
        None => Ok(SigVersion::V2),
        Some(v) => version_number(v, "version"),
    }
}

/// A signature version given as 1 or 2 (a number), or as `'v1'`/`'v2'` when
/// `names` allows it.
pub(crate) fn version_of(v: Unknown, name: &str, names: bool) -> Res<SigVersion> {
    match v.get_type()? {
        ValueType::Number => {
            let x = unsafe { v.cast::<f64>()? };
            if x == 1.0 {
                Ok(SigVersion::V1)
            } else if x == 2.0 {
                Ok(SigVersion::V2)
            } else {
                Err(bad_arg(name, format!("signature version must be 1 or 2, not {x}")).into())
            }
        }
        ValueType::String if names => {
            let s = text(v, name)?;
            match s.as_str() {
                "v1" => Ok(SigVersion::V1),
                "v2" => Ok(SigVersion::V2),
                _ => Err(bad_arg(name, format!("signature version must be 1, 2, 'v1' or 'v2', not {s:?}")).into()),
            }
        }
        t => Err(bad_arg(
            name,
            format!(
                "signature version must be {}, got {}",
                if names { "1, 2, 'v1' or 'v2'" } else { "1 or 2" },
                type_name(t)
            ),
        )
        .into()),
    }
}

pub(crate) fn version_number(v: Unknown, name: &str) -> Res<SigVersion> {
    version_of(v, name, false)
}

/// The signature policy of a `Verifier`: `{ versions, acceptEncodings }`.
/// `versions` lists 1, 2, `'v1'` or `'v2'` (at least one; default `['v2']`);
/// `acceptEncodings` the seed's v1 encodings (`'seed-python'`, `'seed-go'`;
/// default none). Unknown options are refused.
pub(crate) fn policy(v: Option<Unknown>) -> Res<SignaturePolicy> {
    let mut p = SignaturePolicy::default();
    let Some(v) = v else { return Ok(p) };
    if matches!(v.get_type()?, ValueType::Undefined | ValueType::Null) {
        return Ok(p);
    }
    let obj = record(v, "options")?;
    for key in Object::keys(&obj)? {
        if key != "versions" && key != "acceptEncodings" {
            return Err(bad_arg(key, "unknown option (`versions`, `acceptEncodings`)").into());
        }
    }
    if let Some(v) = prop(&obj, "versions")? {
        let items = batch(v, "versions")?;
        let mut versions = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let version = version_of(item, &format!("versions[{i}]"), true)?;
            if !versions.contains(&version) {
                versions.push(version);
            }
        }
        if versions.is_empty() {
            return Err(bad_arg("versions", "must list at least one version (1 or 2)").into());
        }
        versions.sort();
        p.versions = versions;
    }
    if let Some(v) = prop(&obj, "acceptEncodings")? {
        let items = batch(v, "acceptEncodings")?;
        let mut encodings = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let name = format!("acceptEncodings[{i}]");
            let text = text(item, &name)?;
            let e: LegacyEncoding = text.parse().map_err(|_| {
                Failure::from(bad_arg(
                    name,
                    format!("unknown encoding {text:?} ('seed-python', 'seed-go')"),
                ))
            })?;
            if !encodings.contains(&e) {
                encodings.push(e);
            }
        }
        encodings.sort();
        p.encodings = encodings;
    }
    Ok(p)
}
