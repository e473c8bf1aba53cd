//! `server/audit.json`: SPEC §11, the audit log's entries, seals and chains.

use super::*;

pub(crate) const AUDIT_NOTES: &[(&str, &str)] = &[
    ("Entry", "An entry's RFC 8785 bytes and SHA-256: catches key order, whitespace and number formatting that differ from RFC 8785."),
    ("Numbers", "A VerifyResult with fractional and exponent numbers: catches a number writer that is not ECMAScript's."),
    ("NonAscii", "Non-ASCII tenant or pcs_id: catches escaping or normalising that RFC 8785 does not do."),
    ("Seal", "A seal's signed message and Ed25519 signature: catches a message without the domain prefix or in another layout."),
    ("Intact", "An untouched chain verifies."),
    ("Anchored", "A run that starts after segment 0, anchored by the seal before it (`--from`)."),
    ("UnsealedTail", "A last segment without a seal is reported, not checked."),
    ("Edited", "An entry's bytes changed: the first bad entry is the edited one."),
    ("EditedPrev", "An entry's prev changed: that entry is named, not its predecessor."),
    ("Deleted", "An entry removed: its seq is named as missing."),
    ("Reordered", "Two entries swapped: the first position out of order is named."),
    ("Appended", "An entry beyond the seal's last_seq: named as not covered."),
    ("Resigned", "A segment edited and re-sealed with another key: its seal is named."),
    ("SealEdited", "A seal's last_hash changed: the signature no longer verifies."),
    ("MovedSeal", "A seal copied onto another segment: it names the wrong segment."),
    ("MissingSegment", "A whole segment removed: the gap in indices is named."),
    ("MissingSeal", "A seal removed from a segment that is not the last."),
    ("NotCanonical", "Valid JSON that is not RFC 8785: the entry is named."),
];

pub(crate) fn audit_entry(seq: u64, prev: &str, tenant: &str, pcs_id: &str, status: u16, result: Value, at: u64) -> fractal_core::audit::Entry {
    fractal_core::audit::Entry {
        seq,
        prev: prev.to_string(),
        tenant: tenant.into(),
        pcs_id: pcs_id.into(),
        status,
        result,
        record_sha256: hex(&sha256(format!("record {seq}").as_bytes())),
        region: "eu-west-1".into(),
        at,
    }
}

/// The base chain: entry lines per segment, sealed by `kp`.
pub(crate) fn audit_chain(kp: &Ed25519Keypair, sizes: &[usize]) -> (Vec<Vec<Vec<u8>>>, Vec<fractal_core::audit::Seal>) {
    use fractal_core::audit::{GENESIS, Seal, entry_hash};
    let results = [
        json!({"accepted": true, "escalated": false, "recomputed_D_hat": 1.4999999999999998, "recomputed_budget": 0.42}),
        json!({"accepted": true, "escalated": true, "reason": "budget mismatch: |0.5 - 0.42| > 0.01", "recomputed_budget": 1e-7}),
        json!({"accepted": false, "escalated": true, "reason": "structure: scales must be increasing"}),
    ];
    let tenants = ["default", "acme", "tenant-é-日本"];
    let mut prev = GENESIS.to_string();
    let mut seq = 0u64;
    let (mut segs, mut seals) = (Vec::new(), Vec::new());
    for (i, n) in sizes.iter().enumerate() {
        let first = seq;
        let mut lines = Vec::new();
        for _ in 0..*n {
            let r = results[seq as usize % 3].clone();
            let status = if r["accepted"] == true && r["escalated"] == false { 200 } else { 202 };
            let id = hex(&sha256(format!("pcs {seq}").as_bytes()));
            let e = audit_entry(seq, &prev, tenants[seq as usize % 3], &id, status, r, 1_767_225_600 + seq * 7);
            let b = e.to_bytes().expect("canonical");
            prev = hex(&entry_hash(&b));
            lines.push(b);
            seq += 1;
        }
        seals.push(Seal::sign(kp, i as u64, first, seq - 1, &prev));
        segs.push(lines);
    }
    (segs, seals)
}

pub(crate) fn join_lines(lines: &[Vec<u8>]) -> String {
    lines.iter().map(|l| format!("{}\n", String::from_utf8(l.clone()).expect("UTF-8"))).collect()
}

pub(crate) fn audit_file(kp: &Ed25519Keypair) -> File<Value> {
    use fractal_core::audit::{GENESIS, Seal, Segment, entry_hash, seal_message, verify_chain};
    let mut tc = 0usize;
    let mut next = || {
        tc += 1;
        tc
    };
    // Entries.
    let mut entry_tests = Vec::new();
    let cases: Vec<(&str, Vec<&str>, fractal_core::audit::Entry)> = vec![
        ("entry 0: prev is h[-1], 64 zeros", vec!["Entry"], audit_entry(0, GENESIS, "default", &"ab".repeat(32), 200, json!({"accepted": true, "escalated": false}), 1_700_000_000)),
        ("a 202 with numbers in the result", vec!["Entry", "Numbers"], audit_entry(41, &"0f".repeat(32), "acme", &"cd".repeat(32), 202, json!({"accepted": true, "escalated": true, "recomputed_D_hat": 2.2000000000000002, "recomputed_budget": 1e-7, "reason": "D_hat drift"}), 1_767_225_600)),
        ("large numbers in the result: 1e21 and 2^53-1", vec!["Entry", "Numbers"], audit_entry(9_007_199_254_740_991, &"ee".repeat(32), "default", "id", 202, json!({"accepted": false, "escalated": true, "recomputed_budget": 1e21, "recomputed_D_hat": 9007199254740991.0}), 4_102_444_800)),
        ("integral numbers beyond 2^53 in the result are written as RFC 8785 does (no v2 refusal: every stored outcome gets its entry)", vec!["Entry", "Numbers"], audit_entry(8, &"34".repeat(32), "acme", "big", 202, json!({"accepted": false, "escalated": true, "recomputed_D_hat": 37000000000000000.0, "recomputed_budget": 5e18, "reason": "D_hat drift"}), 1_700_000_002)),
        ("non-ASCII tenant and pcs_id", vec!["Entry", "NonAscii"], audit_entry(7, &"12".repeat(32), "tenant-é-日本", "pcs-😀-\u{7f}", 200, json!({"accepted": true, "escalated": false, "reason": "é\"\\\n"}), 1_700_000_001)),
    ];
    for (comment, flags, e) in cases {
        let b = e.to_bytes().expect("canonical");
        entry_tests.push(json!({
            "tcId": next(), "comment": comment, "flags": flags,
            "entry": serde_json::to_value(&e).expect("serializes"),
            "entry_bytes": String::from_utf8(b.clone()).expect("UTF-8"),
            "entry_sha256": hex(&entry_hash(&b)),
            "result": "valid",
        }));
    }
    // Seals.
    let (segs, seals) = audit_chain(kp, &[3, 3, 2]);
    let mut seal_tests = Vec::new();
    for (i, s) in seals.iter().enumerate() {
        seal_tests.push(json!({
            "tcId": next(), "comment": format!("seal of segment {i} of the chain below"), "flags": ["Seal"],
            "segment": s.segment, "first_seq": s.first_seq, "last_seq": s.last_seq, "last_hash": s.last_hash,
            "message": String::from_utf8(seal_message(s.segment, s.first_seq, s.last_seq, &s.last_hash)).expect("UTF-8"),
            "seal_bytes": String::from_utf8(s.to_bytes()).expect("UTF-8"),
            "result": "valid",
        }));
    }
    // Chains: the base chain and tampered copies, with the first bad entry or seal.
    type Mutate = Box<dyn Fn(&mut Vec<Option<Vec<Vec<u8>>>>, &mut Vec<Option<Vec<u8>>>)>;
    let other = Ed25519Keypair::from_seed(&[9; 32]);
    let (forged_segs, forged_seals) = {
        let (mut s, _) = audit_chain(kp, &[3, 3, 2]);
        // Entry 4 edited, the rest of segment 1 rehashed, re-sealed by `other`.
        let mut e: fractal_core::audit::Entry = serde_json::from_slice(&s[1][1]).expect("entry");
        e.status = 200;
        e.result = json!({"accepted": true, "escalated": false});
        s[1][1] = e.to_bytes().expect("canonical");
        let mut prev = hex(&entry_hash(&s[1][1]));
        let mut e2: fractal_core::audit::Entry = serde_json::from_slice(&s[1][2]).expect("entry");
        e2.prev = prev.clone();
        s[1][2] = e2.to_bytes().expect("canonical");
        prev = hex(&entry_hash(&s[1][2]));
        (s, Seal::sign(&other, 1, 3, 5, &prev))
    };
    let edit = |seg: usize, line: usize, f: fn(&mut fractal_core::audit::Entry)| -> Mutate {
        Box::new(move |s, _| {
            let lines = s[seg].as_mut().expect("segment");
            let mut e: fractal_core::audit::Entry = serde_json::from_slice(&lines[line]).expect("entry");
            f(&mut e);
            lines[line] = e.to_bytes().expect("canonical");
        })
    };
    /// (comment, flags, anchored, tampering, expected first bad (object, segment, seq)).
    type ChainCase<'a> = (&'a str, Vec<&'a str>, bool, Mutate, Option<(&'a str, u64, Option<u64>)>);
    let chain_cases: Vec<ChainCase> = vec![
        ("the intact chain", vec!["Intact"], false, Box::new(|_, _| {}), None),
        ("segments 1-2 anchored by the seal of segment 0", vec!["Intact", "Anchored"], true, Box::new(|_, _| {}), None),
        ("the last seal not written yet", vec!["UnsealedTail"], false, Box::new(|_, seals| seals[2] = None), None),
        ("entry 4's status edited", vec!["Edited"], false, edit(1, 1, |e| e.status = 200), Some(("entry", 1, Some(4)))),
        ("entry 0's tenant edited", vec!["Edited"], false, edit(0, 0, |e| e.tenant = "mallory".into()), Some(("entry", 0, Some(0)))),
        ("the last entry of segment 0 edited", vec!["Edited"], false, edit(0, 2, |e| e.at += 1), Some(("entry", 0, Some(2)))),
        ("entry 7 (the chain's last) edited", vec!["Edited"], false, edit(2, 1, |e| e.region = "us".into()), Some(("entry", 2, Some(7)))),
        ("entry 4's prev edited", vec!["EditedPrev"], false, edit(1, 1, |e| e.prev = "00".repeat(32)), Some(("entry", 1, Some(4)))),
        ("entry 3 (first of segment 1) prev edited", vec!["EditedPrev"], false, edit(1, 0, |e| e.prev = "11".repeat(32)), Some(("entry", 1, Some(3)))),
        ("entry 4 deleted", vec!["Deleted"], false, Box::new(|s, _| { s[1].as_mut().expect("segment").remove(1); }), Some(("entry", 1, Some(4)))),
        ("the last entry of segment 1 deleted", vec!["Deleted"], false, Box::new(|s, _| { s[1].as_mut().expect("segment").pop(); }), Some(("entry", 1, Some(5)))),
        ("entries 3 and 4 swapped", vec!["Reordered"], false, Box::new(|s, _| s[1].as_mut().expect("segment").swap(0, 1)), Some(("entry", 1, Some(3)))),
        ("entry 6 appended again to segment 1", vec!["Appended"], false, Box::new(|s, _| { let l = s[2].as_ref().expect("segment")[0].clone(); s[1].as_mut().expect("segment").push(l); }), Some(("entry", 1, Some(6)))),
        ("segment 1 edited and re-sealed with another key", vec!["Resigned"], false, Box::new(move |s, seals| { s[1] = Some(forged_segs[1].clone()); seals[1] = Some(forged_seals.to_bytes()); }), Some(("seal", 1, None))),
        ("seal 0's last_hash edited", vec!["SealEdited"], false, Box::new(|_, seals| { let mut x = Seal::parse(seals[0].as_ref().expect("seal")).expect("seal"); x.last_hash = "00".repeat(32); seals[0] = Some(x.to_bytes()); }), Some(("seal", 0, None))),
        ("seal 0 copied onto segment 1", vec!["MovedSeal"], false, Box::new(|_, seals| seals[1] = seals[0].clone()), Some(("seal", 1, None))),
        ("segment 1 removed", vec!["MissingSegment"], false, Box::new(|s, seals| { s[1] = None; seals[1] = None; }), Some(("segment", 1, None))),
        ("seal 1 removed", vec!["MissingSeal"], false, Box::new(|_, seals| seals[1] = None), Some(("seal", 1, None))),
        ("entry 1 pretty-printed (same JSON value)", vec!["NotCanonical"], false, Box::new(|s, _| { let l = &mut s[0].as_mut().expect("segment")[1]; let v: Value = serde_json::from_slice(l).expect("JSON"); *l = serde_json::to_string(&v).expect("JSON").replacen("{", "{ ", 1).into_bytes(); }), Some(("entry", 0, Some(1)))),
    ];
    let mut chain_tests = Vec::new();
    for (comment, flags, anchored, mutate, bad) in chain_cases {
        let mut s: Vec<Option<Vec<Vec<u8>>>> = segs.iter().cloned().map(Some).collect();
        let mut z: Vec<Option<Vec<u8>>> = seals.iter().map(|x| Some(x.to_bytes())).collect();
        mutate(&mut s, &mut z);
        let mut segments: Vec<Segment> = s
            .iter()
            .zip(&z)
            .enumerate()
            .filter(|(_, (e, x))| e.is_some() || x.is_some())
            .map(|(i, (e, x))| Segment { index: i as u64, entries: e.as_ref().map(|l| join_lines(l).into_bytes()), seal: x.clone() })
            .collect();
        let anchor = anchored.then(|| segments.remove(0).seal.expect("seal 0"));
        let got = verify_chain(&segments, &kp.public_bytes(), anchor.as_deref());
        let (result, expected, first_bad) = match (&got, bad) {
            (Ok(v), None) => ("valid", json!({"entries": v.entries, "last_seq": v.last_seq, "last_hash": v.last_hash, "unsealed_tail": v.unsealed_tail}), Value::Null),
            (Err(f), Some((object, segment, seq))) if (f.object, f.segment, f.seq) == (object, segment, seq) => {
                ("invalid", Value::Null, json!({"object": object, "segment": segment, "seq": seq}))
            }
            _ => panic!("audit chain case {comment:?}: the core says {got:?}, the case expects {bad:?}"),
        };
        chain_tests.push(json!({
            "tcId": next(), "comment": comment, "flags": flags,
            "segments": segments.iter().map(|g| json!({
                "index": g.index,
                "entries": g.entries.as_ref().map(|b| String::from_utf8(b.clone()).expect("UTF-8")),
                "seal": g.seal.as_ref().map(|b| String::from_utf8(b.clone()).expect("UTF-8")),
            })).collect::<Vec<_>>(),
            "anchor": anchor.map(|b| String::from_utf8(b).expect("UTF-8")),
            "result": result, "expected": expected, "first_bad": first_bad,
        }));
    }
    let n = entry_tests.len() + seal_tests.len() + chain_tests.len();
    file(
        "fractal-lba-audit-v1",
        AUDIT_NOTES,
        vec![
            json!({"type": "entries", "comment": "SPEC §11 entries: RFC 8785 bytes and h[n] = SHA-256(bytes)", "tests": entry_tests}),
            json!({"type": "seals", "comment": "seals sign the message fractal-lba/audit-seal/v1\\n{segment}\\n{first_seq}\\n{last_seq}\\n{last_hash} with Ed25519 (deterministic, so the oracle re-signs and compares)",
                   "ed25519_seed": kp.seed_b64(), "ed25519_public": kp.public_b64(), "tests": seal_tests}),
            json!({"type": "chains", "comment": "offline verification of a chain of segments under ed25519_public; invalid cases name the first bad entry (seq) or seal/segment (index)",
                   "ed25519_public": kp.public_b64(), "tests": chain_tests}),
        ],
        n,
    )
}
