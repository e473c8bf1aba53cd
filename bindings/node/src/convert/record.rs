//! Records from JavaScript objects: the eight v1 fields (the signing fast path),
//! whole records, `buildPcs` input and verification parameters.

use super::*;

/// The eight signed fields (SPEC §3, step 1), owned.
pub(crate) struct Signed {
    pub pcs_id: String,
    pub merkle_root: String,
    pub epoch: u64,
    pub shard_id: String,
    pub d_hat: f64,
    pub coh_star: f64,
    pub r: f64,
    pub budget: f64,
}

impl Signed {
    /// A record holding only the signed fields and `sig`, for the core's
    /// `Verifier::verify` on the v1 path (which reads nothing else; the core's
    /// default of every other field stands in for it).
    pub(crate) fn into_v1_record(self, sig: Option<String>) -> Pcs {
        Pcs {
            pcs_id: self.pcs_id,
            schema: fractal_core::SCHEMA.into(),
            version: String::new(),
            shard_id: self.shard_id,
            epoch: self.epoch,
            attempt: 1,
            sent_at: None,
            seed: 0,
            scales: Vec::new(),
            n_j: BTreeMap::new(),
            coh_star: self.coh_star,
            v_star: Vec::new(),
            d_hat: self.d_hat,
            r: self.r,
            regime: String::new(),
            budget: self.budget,
            merkle_root: self.merkle_root,
            sig,
            ft: None,
            extra: BTreeMap::new(),
            omitted: Omitted::default(),
        }
    }

    pub(crate) fn fields(&self) -> SigningFields<'_> {
        SigningFields {
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

/// Names of the signed fields and `sig`, in the order [`Keys`] holds them.
pub(crate) const SIGNED_NAMES: [&str; 9] = [
    "pcs_id",
    "merkle_root",
    "epoch",
    "shard_id",
    "D_hat",
    "coh_star",
    "r",
    "budget",
    "sig",
];
pub(crate) const SIGNED_CNAMES: [&std::ffi::CStr; 9] = [
    c"pcs_id",
    c"merkle_root",
    c"epoch",
    c"shard_id",
    c"D_hat",
    c"coh_star",
    c"r",
    c"budget",
    c"sig",
];

/// How the signed fields' property keys are looked up: by static C strings
/// (one record), or by JavaScript strings created once per batch, which saves
/// the engine converting the nine names again for every record.
pub(crate) enum Keys<'e> {
    Static,
    Cached(Vec<JsString<'e>>),
}

impl<'e> Keys<'e> {
    pub(crate) fn cached(env: &'e Env) -> Res<Keys<'e>> {
        let mut keys = Vec::with_capacity(SIGNED_NAMES.len());
        for name in SIGNED_NAMES {
            keys.push(env.create_string(name)?);
        }
        Ok(Keys::Cached(keys))
    }

    fn get<'o>(&self, obj: &Object<'o>, i: usize) -> Res<Option<Unknown<'o>>> {
        let v: Unknown = match self {
            Keys::Static => obj.get_c_named_property_unchecked(SIGNED_CNAMES[i])?,
            Keys::Cached(keys) => obj.get_property_unchecked(keys[i])?,
        };
        // `null` is refused by the field's reader, as by the core's parser.
        match v.get_type()? {
            ValueType::Undefined => Ok(None),
            _ => Ok(Some(v)),
        }
    }

    fn read<'o, T>(
        &self,
        obj: &Object<'o>,
        i: usize,
        read: impl FnOnce(Unknown<'o>, &str) -> Res<T>,
    ) -> Res<Option<T>> {
        match self.get(obj, i)? {
            Some(v) => read(v, SIGNED_NAMES[i]).map(Some),
            None => Ok(None),
        }
    }
}

/// Reads only what v1 signing needs (the fast path: v1 signs nothing else):
/// the eight signed fields, with the same requiredness and limits as the
/// core's parser.
pub(crate) fn signed(obj: &Object, keys: &Keys) -> Res<Signed> {
    Ok(Signed {
        pcs_id: req(keys.read(obj, 0, string)?, "pcs_id")?,
        merkle_root: id_bytes(req(keys.read(obj, 1, string)?, "merkle_root")?, "merkle_root")?,
        epoch: req(keys.read(obj, 2, epoch)?, "epoch")?,
        shard_id: id_bytes(req(keys.read(obj, 3, string)?, "shard_id")?, "shard_id")?,
        d_hat: req(keys.read(obj, 4, number)?, "D_hat")?,
        coh_star: req(keys.read(obj, 5, number)?, "coh_star")?,
        r: req(keys.read(obj, 6, number)?, "r")?,
        budget: req(keys.read(obj, 7, number)?, "budget")?,
    })
}

/// The `sig` of a record, read alone (it tells which payload it covers).
pub(crate) fn sig(obj: &Object, keys: &Keys) -> Res<Option<String>> {
    keys.read(obj, 8, string)
}

/// What a signature check needs of a record: for a `v2:` signature the whole
/// record, for any other (or none) the eight v1 fields and `sig`.
pub(crate) fn for_check(obj: &Object, keys: &Keys) -> Res<Pcs> {
    let sig = sig(obj, keys)?;
    if sig.as_deref().is_some_and(|s| s.starts_with(fractal_core::sign::V2_PREFIX)) {
        return pcs(obj);
    }
    Ok(signed(obj, keys)?.into_v1_record(sig))
}

/// A JS array read item by item, each item's path named `field[i]`.
pub(crate) fn list<T>(v: Unknown, field: &str, item: fn(Unknown, &str) -> Res<T>) -> Res<Vec<T>> {
    let items = array(v, field)?;
    let mut out = Vec::with_capacity(items.len());
    for (i, x) in items.into_iter().enumerate() {
        out.push(item(x, &format!("{field}[{i}]"))?);
    }
    Ok(out)
}

pub(crate) fn ints(v: Unknown, field: &str) -> Res<Vec<i64>> {
    list(v, field, int64)
}

pub(crate) fn numbers(v: Unknown, field: &str) -> Res<Vec<f64>> {
    list(v, field, number)
}

pub(crate) fn strings(v: Unknown, field: &str) -> Res<Vec<String>> {
    list(v, field, string)
}

pub(crate) fn counts(v: Unknown, field: &str) -> Res<BTreeMap<String, i64>> {
    let obj = object(v, field)?;
    let mut out = BTreeMap::new();
    for key in own_keys(&obj)? {
        let name = format!("{field}.{key}");
        let value: Unknown = obj.get_named_property_unchecked(&key)?;
        out.insert(key, int64(value, &name)?);
    }
    Ok(out)
}

pub(crate) fn fault_tolerance(v: Unknown, field: &str) -> Res<FaultTolerance> {
    let obj = object(v, field)?;
    Ok(FaultTolerance {
        outbox_seq: opt(&obj, "outbox_seq", |v, f| int64(v, &format!("{field}.{f}")))?,
        degraded: opt(&obj, "degraded", |v, f| boolean(v, &format!("{field}.{f}")))?,
        fallbacks: opt(&obj, "fallbacks", |v, f| {
            strings(v, &format!("{field}.{f}"))
        })?,
        clock_skew_ms: opt(&obj, "clock_skew_ms", |v, f| {
            int64(v, &format!("{field}.{f}"))
        })?,
    })
}

/// How deep an unknown field's value may nest. serde_json's parser stops at
/// 128 levels, so nothing deeper can reach the server; a cyclic object stops
/// here too instead of overflowing the stack.
pub(crate) const MAX_DEPTH: u32 = 128;

/// A whole record (SPEC §1, malformed level): the same rules as
/// `Pcs::from_json`, applied to a JavaScript object, limits included. Unknown
/// fields are kept (as JSON values) in `extra`, and the optional fields left
/// out are recorded in `omitted`, so that the v2 payload signs the record as
/// `JSON.stringify` will send it.
pub(crate) fn pcs(obj: &Object) -> Res<Pcs> {
    // Required fields first, in the core parser's order, so the same field is named.
    let epoch = req(field(obj, "epoch", epoch)?, "epoch")?;
    let pcs_id = req(field(obj, "pcs_id", string)?, "pcs_id")?;
    let schema = req(field(obj, "schema", string)?, "schema")?;
    let version = req(field(obj, "version", string)?, "version")?;
    let shard_id = id_bytes(req(field(obj, "shard_id", string)?, "shard_id")?, "shard_id")?;
    let attempt = field(obj, "attempt", int64)?;
    let sent_at = field(obj, "sent_at", string)?;
    let seed = field(obj, "seed", int64)?;
    let scales = field(obj, "scales", ints)?;
    let n_j = field(obj, "N_j", counts)?;
    let coh_star = req(field(obj, "coh_star", number)?, "coh_star")?;
    let v_star = field(obj, "v_star", numbers)?;
    let d_hat = req(field(obj, "D_hat", number)?, "D_hat")?;
    let r = req(field(obj, "r", number)?, "r")?;
    let regime = field(obj, "regime", string)?;
    let budget = req(field(obj, "budget", number)?, "budget")?;
    let merkle_root = id_bytes(req(field(obj, "merkle_root", string)?, "merkle_root")?, "merkle_root")?;
    let sig = field(obj, "sig", string)?;
    let ft = field(obj, "ft", fault_tolerance)?;
    let mut extra = BTreeMap::new();
    for key in own_keys(obj)? {
        if fractal_core::KNOWN_FIELDS.contains(&key.as_str()) {
            continue;
        }
        let v: Unknown = obj.get_named_property_unchecked(&key)?;
        // `undefined` is absent, as for JSON.stringify; `null` is a value.
        if v.get_type()? == ValueType::Undefined {
            continue;
        }
        let value = json_value(v, &key, 1)?;
        extra.insert(key, value);
    }
    let pcs = Pcs {
        pcs_id,
        schema,
        version,
        shard_id,
        epoch,
        omitted: Omitted {
            seed: seed.is_none(),
            scales: scales.is_none(),
            n_j: n_j.is_none(),
            v_star: v_star.is_none(),
            regime: regime.is_none(),
            attempt: attempt.is_none(),
        },
        attempt: attempt.unwrap_or(1),
        sent_at,
        seed: seed.unwrap_or(0),
        scales: scales.unwrap_or_default(),
        n_j: n_j.unwrap_or_default(),
        coh_star,
        v_star: v_star.unwrap_or_default(),
        d_hat,
        r,
        regime: regime.unwrap_or_default(),
        budget,
        merkle_root,
        sig,
        ft,
        extra,
    };
    pcs.check_limits()?;
    Ok(pcs)
}

/// `shard_id` and `merkle_root`: 1 to [`MAX_ID_BYTES`] bytes (SPEC §1).
pub(crate) fn id_bytes(v: String, field: &str) -> Res<String> {
    if v.is_empty() || v.len() > MAX_ID_BYTES {
        return Err(bad_field(
            field,
            format!("must be 1 to {MAX_ID_BYTES} bytes of UTF-8 (got {})", v.len()),
        )
        .into());
    }
    Ok(v)
}

/// The value of an unknown field as JSON, exactly as `JSON.stringify` would
/// send it, or an `invalid_field` error naming its path (`meta.tags[2]`) for
/// what JSON cannot carry exactly: NaN and ±Infinity, integers beyond
/// ±(2^53−1) given as numbers (JavaScript has already rounded them; a bigint
/// keeps them exact, and v2 signing then refuses them by name), functions,
/// symbols, `undefined` inside an array, dates, buffers and typed arrays.
pub(crate) fn json_value(v: Unknown, path: &str, depth: u32) -> Res<serde_json::Value> {
    use serde_json::Value;
    if depth > MAX_DEPTH {
        return Err(bad_field(path, format!("nests deeper than {MAX_DEPTH} levels (or is cyclic)")).into());
    }
    match v.get_type()? {
        ValueType::Null => Ok(Value::Null),
        ValueType::Boolean => Ok(Value::Bool(unsafe { v.cast::<bool>()? })),
        ValueType::String => Ok(Value::String(string(v, path)?)),
        ValueType::Number => {
            let x = unsafe { v.cast::<f64>()? };
            if !x.is_finite() {
                return Err(bad_field(path, format!("must be a finite number, got {x}")).into());
            }
            // JSON.stringify writes an integral double below 1e21 as an integer
            // literal (−0 as `0`), which the server reads as an integer: one
            // beyond ±(2^53−1) there is refused by v2, and here JavaScript has
            // already rounded it. From 1e21 on it writes an exponent, a double.
            if x.fract() == 0.0 && x.abs() < 1e21 {
                if x.abs() > MAX_SAFE as f64 {
                    return Err(bad_field(
                        path,
                        "integer beyond ±(2^53-1) is not exact as a JavaScript number and cannot be signed with v2",
                    )
                    .into());
                }
                return Ok(Value::from(x as i64));
            }
            Ok(serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number))
        }
        ValueType::BigInt => {
            let b = unsafe { v.cast::<BigInt>()? };
            let (x, lossless) = b.get_i64();
            if lossless {
                return Ok(Value::from(x));
            }
            let (negative, u, lossless) = b.get_u64();
            if lossless && !negative {
                return Ok(Value::from(u));
            }
            Err(bad_field(path, "does not fit a 64-bit integer").into())
        }
        ValueType::Object => {
            if v.is_array()? {
                let items = array(v, path)?;
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    let at = format!("{path}[{i}]");
                    if item.get_type()? == ValueType::Undefined {
                        return Err(bad_field(at, "undefined is not a JSON value").into());
                    }
                    out.push(json_value(item, &at, depth + 1)?);
                }
                return Ok(Value::Array(out));
            }
            if v.is_date()? || v.is_typedarray()? || v.is_arraybuffer()? || v.is_dataview()? || v.is_promise()? {
                return Err(bad_field(path, "expected a JSON value (a plain object, array, string, number, boolean or null)").into());
            }
            let obj: Object = unsafe { v.cast()? };
            let mut out = serde_json::Map::new();
            for key in own_keys(&obj)? {
                let item: Unknown = obj.get_named_property_unchecked(&key)?;
                if item.get_type()? == ValueType::Undefined {
                    continue;
                }
                let at = format!("{path}.{key}");
                let value = json_value(item, &at, depth + 1)?;
                out.insert(key, value);
            }
            Ok(Value::Object(out))
        }
        t => Err(bad_field(path, format!("{} is not a JSON value", type_name(t))).into()),
    }
}

pub(crate) const BUILD_FIELDS: &[&str] = &[
    "merkle_root",
    "epoch",
    "shard_id",
    "scales",
    "N_j",
    "coh_star",
    "v_star",
    "r",
    "version",
    "attempt",
    "sent_at",
    "seed",
    "ft",
];

/// The input of `buildPcs`. Unknown fields are refused (a misspelt field would
/// otherwise silently take its default).
pub(crate) fn build_input(obj: &Object) -> Res<BuildInput> {
    for key in Object::keys(obj)? {
        if !BUILD_FIELDS.contains(&key.as_str()) {
            return Err(bad_field(key, "unknown field").into());
        }
    }
    let mut input = BuildInput::new(
        req(opt(obj, "merkle_root", string)?, "merkle_root")?,
        req(opt(obj, "epoch", epoch)?, "epoch")?,
        req(opt(obj, "shard_id", string)?, "shard_id")?,
        req(opt(obj, "scales", ints)?, "scales")?,
        req(opt(obj, "N_j", counts)?, "N_j")?,
        req(opt(obj, "coh_star", number)?, "coh_star")?,
        req(opt(obj, "r", number)?, "r")?,
    );
    // The optional fields keep the core's defaults unless given.
    if let Some(v) = opt(obj, "v_star", numbers)? {
        input.v_star = v;
    }
    if let Some(v) = opt(obj, "version", string)? {
        input.version = v;
    }
    if let Some(v) = opt(obj, "attempt", int64)? {
        input.attempt = v;
    }
    input.sent_at = opt(obj, "sent_at", string)?;
    if let Some(v) = opt(obj, "seed", int64)? {
        input.seed = v;
    }
    input.ft = opt(obj, "ft", fault_tolerance)?;
    Ok(input)
}

/// Verification parameters: camelCase (`tolD`, `tolCoh`, `d0`, `budgetTol`), the
/// core's snake_case (`tol_d`, …) or the SPEC's `D0`. Missing ones take the
/// defaults; unknown names and non-numbers are refused.
pub(crate) fn verify_params(v: Option<Unknown>) -> Res<VerifyParams> {
    let mut p = VerifyParams::default();
    let Some(v) = v else { return Ok(p) };
    match v.get_type()? {
        ValueType::Undefined | ValueType::Null => return Ok(p),
        _ => {}
    }
    let obj = record(v, "params")?;
    for key in Object::keys(&obj)? {
        let slot = match key.as_str() {
            "tolD" | "tol_d" => &mut p.tol_d,
            "tolCoh" | "tol_coh" => &mut p.tol_coh,
            "alpha" => &mut p.alpha,
            "beta" => &mut p.beta,
            "gamma" => &mut p.gamma,
            "base" => &mut p.base,
            "d0" | "D0" => &mut p.d0,
            "budgetTol" | "budget_tol" => &mut p.budget_tol,
            _ => return Err(bad_arg(key, "unknown verification parameter").into()),
        };
        let value: Unknown = obj.get_named_property_unchecked(&key)?;
        if value.get_type()? != ValueType::Number {
            return Err(bad_arg(
                key,
                format!("expected a number, got {}", type_name(value.get_type()?)),
            )
            .into());
        }
        *slot = unsafe { value.cast::<f64>()? };
    }
    p.check()?;
    Ok(p)
}
