//! Writes the golden vectors of SPEC §8 into a directory:
//!
//! ```text
//! cargo run --release -p fractal-core --example golden -- golden/
//! ```
//!
//! The INPUTS of every case are chosen by hand below; the expected outputs of the
//! canonical, verify and ring files are computed by the core and then checked by
//! an independent oracle (`golden/oracle/check.mjs`). The expected error kind and
//! field of every reject case are written by hand too, and the generator refuses
//! to write a file the core disagrees with. Output is deterministic: fixed keys,
//! struct field order, pretty-printed JSON with a trailing newline.

// Literals with more digits than binary64 holds are the point of some cases
// (the parser must round them to the nearest binary64).
#![allow(clippy::excessive_precision)]

mod audit;
mod canonical;
mod canonical_v2;
mod legacy;
mod protocol;
mod read;
mod reject;
mod ring;
mod verify;

use audit::*;
use canonical::*;
use canonical_v2::*;
use legacy::*;
use read::*;
use reject::*;
use ring::*;
use verify::*;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fractal_core::{
    BuildInput, Ed25519Keypair, LegacyEncoding, Pcs, Ring, ShardSpec, SigVersion, SignaturePolicy, SigningFields,
    SigningKeyMaterial, Verifier, VerifyParams, VerifyResult, b64encode, build_pcs, canonical_payload_v1,
    canonical_payload_v2, hex, pcs_id, read_digest, sha256, sign_hmac_digest, validate, verify,
};
use serde::Serialize;
use serde_json::{Value, json};

/// The HMAC key of every group: non-ASCII on purpose (HMAC keys are UTF-8 bytes).
const HMAC_KEY: &str = "golden-hmac-key/v1/κλειδί";
/// The Ed25519 seed of every group: bytes 0x01 ..= 0x20.
const SEED: [u8; 32] = {
    let mut s = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        s[i] = i as u8 + 1;
        i += 1;
    }
    s
};
const GENERATOR: &str = "cargo run --release -p fractal-core --example golden -- golden/";

#[derive(Serialize)]
struct File<G> {
    algorithm: &'static str,
    version: &'static str,
    generator: &'static str,
    #[serde(rename = "numberOfTests")]
    number_of_tests: usize,
    notes: BTreeMap<&'static str, &'static str>,
    #[serde(rename = "testGroups")]
    test_groups: Vec<G>,
}

fn file<G>(algorithm: &'static str, notes: &[(&'static str, &'static str)], groups: Vec<G>, count: usize) -> File<G> {
    File {
        algorithm,
        version: "1",
        generator: GENERATOR,
        number_of_tests: count,
        notes: notes.iter().copied().collect(),
        test_groups: groups,
    }
}

// ---------------------------------------------------------------- records

/// The SPEC §3 sample record, complete and valid.
fn spec_example() -> Pcs {
    let (scales, n_j) = counts(&[(2, 3), (4, 7), (8, 19), (16, 50), (32, 133)]);
    let mut p = build_pcs(&BuildInput { scales, n_j, ..BuildInput::example() }).expect("the example builds");
    p.d_hat = 1.41;
    p.regime = "sticky".into();
    p.coh_star = 0.73;
    p.r = 0.87;
    p.budget = 0.42;
    p.sent_at = Some("2026-01-02T03:04:05Z".into());
    p
}

/// `f` applied to the SPEC example, with `pcs_id` recomputed from the result.
fn rec(f: impl FnOnce(&mut Pcs)) -> Pcs {
    let mut p = spec_example();
    f(&mut p);
    p.pcs_id = pcs_id(&p.merkle_root, p.epoch, &p.shard_id);
    p
}

/// Like [`rec`] but leaves `pcs_id` as `f` set it.
fn rec_raw(f: impl FnOnce(&mut Pcs)) -> Pcs {
    let mut p = spec_example();
    f(&mut p);
    p
}

fn nums(d_hat: f64, coh_star: f64, r: f64, budget: f64) -> Pcs {
    rec(|p| {
        p.d_hat = d_hat;
        p.coh_star = coh_star;
        p.r = r;
        p.budget = budget;
    })
}

fn strings(merkle_root: &str, shard_id: &str) -> Pcs {
    rec(|p| {
        p.merkle_root = merkle_root.into();
        p.shard_id = shard_id.into();
    })
}

fn write<T: Serialize>(dir: &Path, name: &str, value: &T) {
    let mut text = serde_json::to_string_pretty(value).expect("serializes");
    text.push('\n');
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    println!("wrote {}", path.display());
}

fn main() {
    let dir: PathBuf = std::env::args_os().nth(1).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("golden"));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    let kp = Ed25519Keypair::from_seed(&SEED);
    write(&dir, "canonical.json", &canonical_file(&kp));
    write(&dir, "canonical_v2.json", &canonical_v2_file(&kp));
    write(&dir, "legacy.json", &legacy_file(&kp));
    write(&dir, "read.json", &read_file(&kp));
    write(&dir, "verify.json", &verify_file());
    write(&dir, "ring.json", &ring_file());
    write(&dir, "reject.json", &reject_file(&kp));
    // The server's and auditors' vectors live in golden/server/: the SDKs walk every
    // golden/*.json, and none of them builds audit chains.
    let server = dir.join("server");
    std::fs::create_dir_all(&server).unwrap_or_else(|e| panic!("cannot create {}: {e}", server.display()));
    write(&server, "audit.json", &audit_file(&kp));
    // The client protocol's vectors (backoff, Retry-After, classification, whole calls)
    // in golden/client/: each SDK's client tests read the parts they drive.
    let client = dir.join("client");
    std::fs::create_dir_all(&client).unwrap_or_else(|e| panic!("cannot create {}: {e}", client.display()));
    write(&client, "protocol.json", &protocol::protocol_file());
}
