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
