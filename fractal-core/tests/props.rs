//! Property tests of the core: rounding, canonical form, signatures and the
//! parser's robustness.

use fractal_core::{
    BuildInput, Ed25519Keypair, Pcs, SigVersion, SignaturePolicy, Verifier, build_pcs, canonical_payload, pcs_id, round9,
    sign_hmac_version,
};
use proptest::prelude::*;

/// Finite numbers whose ×1e9 stays finite (larger ones cannot be signed).
fn signable() -> impl Strategy<Value = f64> {
    prop_oneof![
        -2.0..2.0f64,
        -1e-6..1e-6f64,
        (-1e-9..1e-9f64),
        (-1e6..1e6f64),
        (1e-12..1e30f64),
        (-1e30..-1e-12f64),
        // Decimals with nine or more places, where ties live.
        (0i64..20_000_000_000).prop_map(|n| n as f64 / 1e10),
        Just(0.0),
        Just(-0.0),
        Just(1e21),
        Just(5e-324),
    ]
}

/// A string the parser accepts as `shard_id`/`merkle_root` (SPEC §1: 1–128 bytes):
/// 1 to 32 arbitrary chars, at most 4 bytes each.
fn id_string() -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<char>(), 1..=32).prop_map(String::from_iter)
}

fn record() -> impl Strategy<Value = Pcs> {
    (id_string(), 0..=fractal_core::MAX_EPOCH, id_string(), signable(), signable(), signable(), signable())
        .prop_map(|(merkle_root, epoch, shard_id, d_hat, coh_star, r, budget)| {
            let mut p = build_pcs(&BuildInput::example()).expect("example builds");
            p.pcs_id = pcs_id(&merkle_root, epoch, &shard_id);
            p.merkle_root = merkle_root;
            p.epoch = epoch;
            p.shard_id = shard_id;
            p.d_hat = d_hat;
            p.coh_star = coh_star;
            p.r = r;
            p.budget = budget;
            p
        })
}

/// A change to one signed field that moves its canonical value.
#[derive(Debug, Clone)]
enum Change {
    PcsId(String),
    MerkleRoot(String),
    Epoch(u64),
    ShardId(String),
    Number(usize, f64),
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        any::<String>().prop_map(Change::PcsId),
        id_string().prop_map(Change::MerkleRoot),
        (0..=fractal_core::MAX_EPOCH).prop_map(Change::Epoch),
        id_string().prop_map(Change::ShardId),
        (0..4usize, signable()).prop_map(|(i, x)| Change::Number(i, x)),
    ]
}

/// Applies `c`; false when it leaves every signed value as it was.
fn apply(p: &mut Pcs, c: &Change) -> bool {
    fn set_str(field: &mut String, v: &str) -> bool {
        let changed = field != v;
        *field = v.to_string();
        changed
    }
    match c {
        Change::PcsId(s) => set_str(&mut p.pcs_id, s),
        Change::MerkleRoot(s) => set_str(&mut p.merkle_root, s),
        Change::ShardId(s) => set_str(&mut p.shard_id, s),
        Change::Epoch(e) => {
            let changed = p.epoch != *e;
            p.epoch = *e;
            changed
        }
        Change::Number(i, x) => {
            let field = match i {
                0 => &mut p.d_hat,
                1 => &mut p.coh_star,
                2 => &mut p.r,
                _ => &mut p.budget,
            };
            let changed = round9(*field) != round9(*x);
            *field = *x;
            changed
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn round9_is_idempotent_and_never_negative_zero(x in signable()) {
        let r = round9(x);
        prop_assert_eq!(round9(r).to_bits(), r.to_bits());
        prop_assert!(r != 0.0 || r.is_sign_positive());
        prop_assert!((r - x).abs() <= 5e-10 + x.abs() * 1e-15, "{} → {}", x, r);
    }

    #[test]
    fn canonical_is_stable_across_the_wire_and_rounding(p in record()) {
        let payload = canonical_payload(&p, SigVersion::V1).unwrap();
        // Serialize, parse, canonicalize again: the same bytes.
        let back = Pcs::from_json(&p.to_json()).unwrap();
        prop_assert_eq!(&canonical_payload(&back, SigVersion::V1).unwrap(), &payload);
        // Rounding the numbers first changes nothing.
        let mut rounded = p.clone();
        for x in [&mut rounded.d_hat, &mut rounded.coh_star, &mut rounded.r, &mut rounded.budget] {
            *x = round9(*x);
        }
        prop_assert_eq!(&canonical_payload(&rounded, SigVersion::V1).unwrap(), &payload);
        // The payload is JSON with exactly the eight signed keys.
        let v: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        prop_assert_eq!(v.as_object().unwrap().len(), 8);
        prop_assert_eq!(v["shard_id"].as_str().unwrap(), p.shard_id.as_str());
    }

    #[test]
    fn v1_sign_then_verify_round_trips(p in record(), key in "[ -~]{1,40}", seed in any::<[u8; 32]>()) {
        let kp = Ed25519Keypair::from_seed(&seed);
        let mut v = Verifier::new();
        v.add_hmac_key(key.as_bytes()).unwrap();
        v.add_ed25519_public_key(&kp.public_b64()).unwrap();
        v.set_policy(SignaturePolicy::any_version());
        for sig in [sign_hmac_version(&p, key.as_bytes(), SigVersion::V1).unwrap(), kp.sign_version(&p, SigVersion::V1).unwrap()] {
            let mut signed = p.clone();
            signed.sig = Some(sig);
            let wire = Pcs::from_json(&signed.to_json()).unwrap();
            prop_assert!(v.verify(&wire).is_ok());
        }
    }

    #[test]
    fn any_change_to_a_v1_signed_field_breaks_verification(p in record(), c in change(), seed in any::<[u8; 32]>()) {
        let kp = Ed25519Keypair::from_seed(&seed);
        let mut v = Verifier::new();
        v.add_hmac_key(b"k").unwrap();
        v.add_ed25519_public_key(&kp.public_b64()).unwrap();
        v.set_policy(SignaturePolicy::any_version());
        for sig in [sign_hmac_version(&p, b"k", SigVersion::V1).unwrap(), kp.sign_version(&p, SigVersion::V1).unwrap()] {
            let mut q = p.clone();
            q.sig = Some(sig);
            if apply(&mut q, &c) {
                prop_assert!(v.verify(&q).is_err(), "{:?} kept the signature valid", c);
            } else {
                prop_assert!(v.verify(&q).is_ok());
            }
        }
    }

    #[test]
    fn parser_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Pcs::from_json(&bytes);
    }

    #[test]
    fn parser_never_panics_on_mutated_records(
        p in record(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0..3u8, any::<u8>()), 1..8),
    ) {
        let mut bytes = p.to_json();
        for (at, op, b) in edits {
            let i = at.index(bytes.len().max(1));
            match op {
                0 if !bytes.is_empty() => bytes[i] = b,
                1 => bytes.insert(i.min(bytes.len()), b),
                _ if !bytes.is_empty() => { bytes.remove(i); }
                _ => {}
            }
        }
        match Pcs::from_json(&bytes) {
            // Whatever parses must serialize and canonicalize without panicking.
            Ok(q) => { let _ = canonical_payload(&q, SigVersion::V1); let _ = canonical_payload(&q, SigVersion::V2); let _ = fractal_core::verify(&q, &Default::default()); }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}

// ---------------------------------------------------------------- v2 (SPEC §3.2)

/// Any JSON value v2 can sign: integers within ±(2^53−1), finite floats,
/// strings of any chars, nested arrays and objects.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{Value, json};
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-fractal_core::MAX_SAFE_INTEGER..=fractal_core::MAX_SAFE_INTEGER).prop_map(|i| json!(i)),
        // Signable with v2: finite, and not an integral value that RFC 8785 would
        // write as an integer outside ±(2^53−1) (SPEC §3.2).
        any::<f64>()
            .prop_filter("signable", |x| {
                x.is_finite() && !(x.fract() == 0.0 && x.abs() > fractal_core::MAX_SAFE_INTEGER as f64 && x.abs() < 1e21)
            })
            .prop_map(|x| json!(x)),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(any::<String>(), inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Which optional fields a v2 record leaves out.
#[derive(Debug, Clone, Copy)]
struct Omit {
    seed: bool,
    v_star: bool,
    regime: bool,
    scales_and_n_j: bool,
    attempt_and_sent_at: bool,
}

fn omit() -> impl Strategy<Value = Omit> {
    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(seed, v_star, regime, s, a)| Omit {
        seed,
        v_star,
        regime,
        scales_and_n_j: s,
        attempt_and_sent_at: a,
    })
}

/// A wire record as a JSON object: a random record, some optional fields left
/// out and unknown fields (prefixed `x_`, so they never collide with known ones).
fn v2_record() -> impl Strategy<Value = serde_json::Map<String, serde_json::Value>> {
    (record(), omit(), proptest::collection::btree_map("x_\\PC{0,8}", json_value(), 0..4), any::<i64>(), proptest::collection::vec(any::<f64>().prop_filter("finite", |x| x.is_finite()), 0..5))
        .prop_map(|(p, o, extra, seed, v_star)| {
            let mut m = match p.to_value() {
                serde_json::Value::Object(m) => m,
                _ => unreachable!("a record is an object"),
            };
            m.insert("seed".into(), serde_json::json!(seed % fractal_core::MAX_SAFE_INTEGER));
            m.insert("v_star".into(), serde_json::json!(v_star));
            m.insert("sent_at".into(), serde_json::json!("2026-01-02T03:04:05Z"));
            for (cond, keys) in [
                (o.seed, &["seed"][..]),
                (o.v_star, &["v_star"][..]),
                (o.regime, &["regime"][..]),
                (o.scales_and_n_j, &["scales", "N_j"][..]),
                (o.attempt_and_sent_at, &["attempt", "sent_at"][..]),
            ] {
                if cond {
                    for k in keys {
                        m.remove(*k);
                    }
                }
            }
            m.extend(extra);
            m
        })
}

/// A change to one field v2 signs; `apply_v2` makes sure it changes the value.
#[derive(Debug, Clone)]
enum V2Change {
    Str(usize, char),
    Epoch,
    Number(usize),
    Regime,
    Seed,
    VStar(f64),
    Scales,
    Extra(String, serde_json::Value),
    RemoveExtra,
}

fn v2_change() -> impl Strategy<Value = V2Change> {
    prop_oneof![
        (0..5usize, any::<char>()).prop_map(|(i, c)| V2Change::Str(i, c)),
        Just(V2Change::Epoch),
        (0..4usize).prop_map(V2Change::Number),
        Just(V2Change::Regime),
        Just(V2Change::Seed),
        any::<f64>().prop_filter("finite", |x| x.is_finite()).prop_map(V2Change::VStar),
        Just(V2Change::Scales),
        ("y_\\PC{0,6}", json_value()).prop_map(|(k, v)| V2Change::Extra(k, v)),
        Just(V2Change::RemoveExtra),
    ]
}

/// Applies `c` so that the signed part of `m` differs afterwards; false when
/// the record offers nothing to change (e.g. no unknown field to remove).
fn apply_v2(m: &mut serde_json::Map<String, serde_json::Value>, c: &V2Change) -> bool {
    use serde_json::{Value, json};
    match c {
        V2Change::Str(i, ch) => {
            let k = ["pcs_id", "merkle_root", "shard_id", "schema", "version"][*i];
            let mut s = m[k].as_str().expect("string").to_string();
            if s.len() + ch.len_utf8() <= 128 {
                s.push(*ch);
            } else {
                s.pop();
            }
            m.insert(k.into(), json!(s));
        }
        V2Change::Epoch => {
            let e = m["epoch"].as_u64().expect("epoch");
            m.insert("epoch".into(), json!(if e == 0 { 1 } else { e - 1 }));
        }
        V2Change::Number(i) => {
            let k = ["D_hat", "coh_star", "r", "budget"][*i];
            let x = m[k].as_f64().expect("number");
            m.insert(k.into(), json!(if x == 0.0 { 1e-9 } else { x * 0.5 }));
        }
        V2Change::Regime => {
            let next = match m.get("regime").and_then(Value::as_str) {
                Some("sticky") => Some("mixed"),
                Some(_) => None, // remove it
                None => Some("sticky"),
            };
            match next {
                Some(r) => drop(m.insert("regime".into(), json!(r))),
                None => drop(m.remove("regime")),
            }
        }
        V2Change::Seed => match m.get("seed").and_then(Value::as_i64) {
            Some(s) if s > 0 => drop(m.insert("seed".into(), json!(s - 1))),
            Some(s) => drop(m.insert("seed".into(), json!(s + 1))),
            None => drop(m.insert("seed".into(), json!(7))),
        },
        V2Change::VStar(x) => match m.get_mut("v_star").and_then(Value::as_array_mut) {
            Some(a) => a.push(json!(x)),
            None => drop(m.insert("v_star".into(), json!([x]))),
        },
        V2Change::Scales => match m.get_mut("scales").and_then(Value::as_array_mut) {
            Some(a) => a.push(json!(1_000_003)),
            None => drop(m.insert("scales".into(), json!([]))),
        },
        V2Change::Extra(k, v) => {
            if m.contains_key(k) {
                return false;
            }
            m.insert(k.clone(), v.clone());
        }
        V2Change::RemoveExtra => match m.keys().find(|k| k.starts_with("x_")).cloned() {
            Some(k) => drop(m.remove(&k)),
            None => return false,
        },
    }
    true
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn v2_signature_survives_the_wire(m in v2_record(), key in "[ -~]{1,40}", seed in any::<[u8; 32]>()) {
        let pcs = Pcs::from_value(serde_json::Value::Object(m.clone())).unwrap();
        let kp = Ed25519Keypair::from_seed(&seed);
        let mut v = Verifier::new(); // default policy: v2 only
        v.add_hmac_key(key.as_bytes()).unwrap();
        v.add_ed25519_public_key(&kp.public_b64()).unwrap();
        let payload = canonical_payload(&pcs, SigVersion::V2).unwrap();
        for sig in [fractal_core::sign_hmac(&pcs, key.as_bytes()).unwrap(), kp.sign(&pcs).unwrap()] {
            prop_assert!(sig.starts_with("v2:"));
            let mut signed = pcs.clone();
            signed.sig = Some(sig);
            let back = Pcs::from_json(&signed.to_json()).unwrap();
            prop_assert!(v.verify(&back).is_ok());
            prop_assert_eq!(&canonical_payload(&back, SigVersion::V2).unwrap(), &payload);
            // Omitted fields stay omitted and unknown fields stay: the wire record
            // has exactly the keys it was built from, plus sig.
            let mut keys: Vec<String> = match back.to_value() {
                serde_json::Value::Object(o) => o.keys().cloned().collect(),
                _ => unreachable!(),
            };
            keys.retain(|k| k != "sig");
            keys.sort();
            let mut want: Vec<String> = m.keys().cloned().collect();
            want.sort();
            prop_assert_eq!(keys, want);
        }
    }

    #[test]
    fn v2_signature_breaks_on_any_signed_change(m in v2_record(), c in v2_change(), seed in any::<[u8; 32]>()) {
        let pcs = Pcs::from_value(serde_json::Value::Object(m.clone())).unwrap();
        let kp = Ed25519Keypair::from_seed(&seed);
        let mut v = Verifier::new();
        v.add_hmac_key(b"k").unwrap();
        v.add_ed25519_public_key(&kp.public_b64()).unwrap();
        for sig in [fractal_core::sign_hmac(&pcs, b"k").unwrap(), kp.sign(&pcs).unwrap()] {
            let mut changed = m.clone();
            changed.insert("sig".into(), serde_json::json!(sig));
            // Delivery fields are not signed.
            let mut delivery = changed.clone();
            delivery.insert("attempt".into(), serde_json::json!(5));
            delivery.insert("ft".into(), serde_json::json!({"degraded": true}));
            prop_assert!(v.verify(&Pcs::from_value(serde_json::Value::Object(delivery)).unwrap()).is_ok());
            if !apply_v2(&mut changed, &c) {
                continue;
            }
            // A change the §1 parser refuses never reaches a verifier.
            if let Ok(q) = Pcs::from_value(serde_json::Value::Object(changed)) {
                prop_assert!(v.verify(&q).is_err(), "{:?} kept the v2 signature valid", c);
            }
        }
    }
}
