//! The audit log of SPEC §11: hash-chained entries, signed seals, and an offline
//! verifier that names the first bad entry or seal. No I/O: the server writes the
//! bytes this module produces, `fractal audit verify` hands them back.
//!
//! ## Formats
//!
//! * **Entry** `n`: the RFC 8785 bytes of
//!   `{"seq":n,"prev":hex(h[n−1]),"tenant":…,"pcs_id":…,"status":200|202,"result":VerifyResult,"record_sha256":…,"region":…,"at":…}`;
//!   `h[n] = SHA-256(entry bytes)`, `h[−1]` = 64 zeros ([`GENESIS`]). `at` is the
//!   second (Unix time) the server accepted the record; `record_sha256` is the hex
//!   SHA-256 of the record bytes as submitted.
//! * **Segment**: consecutive entries, one per line (entry bytes, then `\n`).
//! * **Seal** of segment `i`: the RFC 8785 bytes of
//!   `{"segment":i,"first_seq":a,"last_seq":b,"last_hash":hex(h[b]),"public_key":…,"sig":…}`,
//!   where `sig` is base64 of the Ed25519 signature of [`seal_message`]:
//!   `"fractal-lba/audit-seal/v1\n" ‖ i ‖ "\n" ‖ a ‖ "\n" ‖ b ‖ "\n" ‖ hex(h[b])`
//!   (decimal integers, lowercase hex). The domain prefix keeps the signature from
//!   being taken for any other message the key might sign; the numbers bind the
//!   last hash to its place, so a seal cannot be moved to another segment.
//!   `public_key` (base64 of the 32-byte key) is informative only: the verifier
//!   checks against the key it is given.
//!
//! ```
//! use fractal_core::audit::*;
//! let kp = fractal_core::Ed25519Keypair::from_seed(&[7; 32]);
//! let mut prev = GENESIS.to_string();
//! let mut lines = Vec::new();
//! for seq in 0..3 {
//!     let e = Entry {
//!         seq, prev: prev.clone(), tenant: "t".into(), pcs_id: format!("p{seq}"), status: 200,
//!         result: serde_json::json!({"accepted": true, "escalated": false}),
//!         record_sha256: "00".repeat(32), region: "local".into(), at: 1_700_000_000,
//!     };
//!     let bytes = e.to_bytes().unwrap();
//!     prev = fractal_core::hex(&entry_hash(&bytes));
//!     lines.extend_from_slice(&bytes);
//!     lines.push(b'\n');
//! }
//! let seal = Seal::sign(&kp, 0, 0, 2, &prev).to_bytes();
//! let seg = Segment { index: 0, entries: Some(lines), seal: Some(seal) };
//! let ok = verify_chain(&[seg], &kp.public_bytes(), None).unwrap();
//! assert_eq!((ok.entries, ok.last_seq), (3, Some(2)));
//! ```

use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::canonical::{hex, jcs_rfc8785, sha256};
use crate::error::{Error, Result};
use crate::sign::{Ed25519Keypair, b64decode, b64encode};

/// `h[−1]`: the `prev` of entry 0.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The domain prefix of [`seal_message`].
pub const SEAL_DOMAIN: &str = "fractal-lba/audit-seal/v1";

/// One audit entry (SPEC §11).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Position in the chain, from 0.
    pub seq: u64,
    /// Lowercase hex SHA-256 of the previous entry's bytes ([`GENESIS`] for entry 0).
    pub prev: String,
    /// The tenant of the stored outcome.
    pub tenant: String,
    /// The record's pcs_id.
    pub pcs_id: String,
    /// 200 or 202, as answered.
    pub status: u16,
    /// The VerifyResult stored (and answered).
    pub result: serde_json::Value,
    /// Lowercase hex SHA-256 of the record bytes as submitted.
    pub record_sha256: String,
    /// The region that stored the outcome.
    pub region: String,
    /// When the record was accepted, in seconds since the Unix epoch.
    pub at: u64,
}

impl Entry {
    /// The entry's RFC 8785 bytes (what is hashed and stored). Any finite number in
    /// `result` is written as RFC 8785 does (`5e18` as `5000000000000000000`): the v2
    /// signing rule that refuses such integers does not apply, so no outcome can be
    /// left without its entry.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let v = serde_json::to_value(self).map_err(|e| Error::arg("entry", e.to_string()))?;
        jcs_rfc8785(&v)
    }
}

/// `h[n]`: SHA-256 of an entry's bytes.
pub fn entry_hash(bytes: &[u8]) -> [u8; 32] {
    sha256(bytes)
}

/// The bytes a seal's signature covers (see the module documentation).
pub fn seal_message(segment: u64, first_seq: u64, last_seq: u64, last_hash: &str) -> Vec<u8> {
    format!("{SEAL_DOMAIN}\n{segment}\n{first_seq}\n{last_seq}\n{last_hash}").into_bytes()
}

/// The seal of one segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seal {
    /// The segment's index, from 0, without gaps.
    pub segment: u64,
    /// Seq of the segment's first entry.
    pub first_seq: u64,
    /// Seq of its last entry.
    pub last_seq: u64,
    /// Lowercase hex `h[last_seq]`.
    pub last_hash: String,
    /// Base64 of the signer's 32-byte Ed25519 public key (informative).
    pub public_key: String,
    /// Base64 of the Ed25519 signature of [`seal_message`].
    pub sig: String,
}

impl Seal {
    /// Seals entries `first_seq..=last_seq` of segment `segment`.
    pub fn sign(key: &Ed25519Keypair, segment: u64, first_seq: u64, last_seq: u64, last_hash: &str) -> Seal {
        let sig = key.sign_message(&seal_message(segment, first_seq, last_seq, last_hash));
        Seal {
            segment,
            first_seq,
            last_seq,
            last_hash: last_hash.to_string(),
            public_key: key.public_b64(),
            sig: b64encode(&sig),
        }
    }

    /// The seal's RFC 8785 bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        jcs_rfc8785(&serde_json::to_value(self).expect("a seal serializes")).expect("a seal has only integers")
    }

    /// Parses a seal (strict: unknown or missing fields are refused).
    pub fn parse(bytes: &[u8]) -> std::result::Result<Seal, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("not a seal: {e}"))
    }

    /// Whether `sig` is `public_key`'s signature of this seal's message.
    pub fn verify(&self, public_key: &[u8; 32]) -> bool {
        let Ok(vk) = VerifyingKey::from_bytes(public_key) else { return false };
        let Some(raw) = b64decode(&self.sig) else { return false };
        let Ok(sig) = Signature::from_slice(&raw) else { return false };
        let msg = seal_message(self.segment, self.first_seq, self.last_seq, &self.last_hash);
        vk.verify_strict(&msg, &sig).is_ok()
    }
}

/// One segment as read back from storage: its index and the bytes of its two
/// objects, `None` where an object is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The segment index.
    pub index: u64,
    /// The entries object (JSON lines).
    pub entries: Option<Vec<u8>>,
    /// The seal object.
    pub seal: Option<Vec<u8>>,
}

/// What is wrong, and where: the first problem found in chain order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `entry`, `seal` or `segment`.
    pub object: &'static str,
    /// The segment index.
    pub segment: u64,
    /// The entry's seq, for `entry` findings (the position where a missing or
    /// misplaced entry was expected).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.object, self.seq) {
            ("entry", Some(seq)) => write!(f, "entry {seq} (segment {}): {}", self.segment, self.reason),
            ("segment", _) => write!(f, "segment {}: {}", self.segment, self.reason),
            (o, _) => write!(f, "{o} of segment {}: {}", self.segment, self.reason),
        }
    }
}

/// What a successful verification covered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    /// Sealed segments checked.
    pub segments: u64,
    /// Entries checked.
    pub entries: u64,
    /// Seq of the first entry checked.
    pub first_seq: Option<u64>,
    /// Seq of the last entry checked (the chain's head as sealed).
    pub last_seq: Option<u64>,
    /// `h[last_seq]`.
    pub last_hash: String,
    /// The index of a last segment that has entries but no seal yet (a server still
    /// writing it, or a seal not yet uploaded): its entries are not checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsealed_tail: Option<u64>,
}

/// Splits an entries object into its lines (each must end with `\n`).
pub fn lines(bytes: &[u8]) -> std::result::Result<Vec<&[u8]>, usize> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    if bytes.last() != Some(&b'\n') {
        return Err(bytes.split(|b| *b == b'\n').count() - 1);
    }
    Ok(bytes[..bytes.len() - 1].split(|b| *b == b'\n').collect())
}

/// Parses one entry and checks that its bytes are its RFC 8785 form.
pub fn parse_entry(bytes: &[u8]) -> std::result::Result<Entry, String> {
    let e: Entry = serde_json::from_slice(bytes).map_err(|e| format!("not an entry: {e}"))?;
    match e.to_bytes() {
        Ok(b) if b == bytes => Ok(e),
        Ok(_) => Err("not in RFC 8785 form".into()),
        Err(err) => Err(format!("not canonical: {err}")),
    }
}

/// Checks a run of segments offline: indices without gaps, every seal signed by
/// `public_key`, every entry in its place (`seq`), every `prev` the hash of the
/// entry before, every seal's `last_hash` the hash of its last entry, and the
/// segments joined (a segment's first `prev` is the last hash sealed before).
///
/// `anchor` is the seal of the segment just before `segments[0]` when the run does
/// not start at segment 0 (`fractal audit verify --from`): its signature is
/// checked and its last hash is where the run continues. Without an anchor the run
/// must start at segment 0 and `h[−1]`.
///
/// A last segment with entries and no seal is reported in
/// [`Verified::unsealed_tail`], not checked. Errors name the first bad entry or
/// seal: for a broken link between entries `n−1` and `n`, the one whose bytes no
/// longer match what the rest of the chain records.
pub fn verify_chain(
    segments: &[Segment],
    public_key: &[u8; 32],
    anchor: Option<&[u8]>,
) -> std::result::Result<Verified, Finding> {
    let first = segments.first().map(|s| s.index).unwrap_or(0);
    let mut v = ChainVerifier::new(public_key, anchor, first)?;
    for (i, seg) in segments.iter().enumerate() {
        v.push(seg, i + 1 == segments.len())?;
    }
    Ok(v.finish())
}

/// [`verify_chain`] one segment at a time, so that a reader holds one segment in
/// memory, not the whole chain.
pub struct ChainVerifier {
    public_key: [u8; 32],
    prev: String,
    next_seq: u64,
    expect_index: u64,
    out: Verified,
    done: bool,
}

impl ChainVerifier {
    /// Starts at segment 0, or after `anchor` (the seal of segment `first − 1`).
    pub fn new(public_key: &[u8; 32], anchor: Option<&[u8]>, first: u64) -> std::result::Result<Self, Finding> {
        let (prev, next_seq, expect_index) = match anchor {
            None => (GENESIS.to_string(), 0u64, 0u64),
            Some(bytes) => {
                let at = first.saturating_sub(1);
                let bad = |reason: String| Finding { object: "seal", segment: at, seq: None, reason };
                let s = Seal::parse(bytes).map_err(bad)?;
                if !s.verify(public_key) {
                    return Err(bad("signature does not verify under the given public key".into()));
                }
                (s.last_hash, s.last_seq + 1, s.segment + 1)
            }
        };
        let out = Verified {
            segments: 0,
            entries: 0,
            first_seq: None,
            last_seq: None,
            last_hash: prev.clone(),
            unsealed_tail: None,
        };
        Ok(ChainVerifier { public_key: *public_key, prev, next_seq, expect_index, out, done: false })
    }

    /// What has been checked so far.
    pub fn finish(self) -> Verified {
        self.out
    }

    /// Checks the next segment; `last` says whether it is the last one given (a
    /// last segment without a seal is an unsealed tail, not an error).
    pub fn push(&mut self, seg: &Segment, last: bool) -> std::result::Result<(), Finding> {
        let public_key = &self.public_key.clone();
        if self.done {
            return Err(Finding {
                object: "segment",
                segment: seg.index,
                seq: None,
                reason: "follows an unsealed segment".into(),
            });
        }
        if seg.index != self.expect_index {
            return Err(Finding {
                object: "segment",
                segment: self.expect_index,
                seq: None,
                reason: format!("missing (the next segment present is {})", seg.index),
            });
        }
        self.expect_index += 1;
        let seal_finding = |reason: String| Finding { object: "seal", segment: seg.index, seq: None, reason };
        let Some(seal_bytes) = &seg.seal else {
            if last && seg.entries.is_some() {
                self.out.unsealed_tail = Some(seg.index);
                self.done = true;
                return Ok(());
            }
            return Err(seal_finding("missing".into()));
        };
        let seal = Seal::parse(seal_bytes).map_err(seal_finding)?;
        if seal.segment != seg.index {
            return Err(seal_finding(format!("names segment {}", seal.segment)));
        }
        let expected_key = b64encode(public_key);
        if seal.public_key != expected_key {
            return Err(seal_finding(format!("signed by another key ({}, expected {expected_key})", seal.public_key)));
        }
        if !seal.verify(public_key) {
            return Err(seal_finding("signature does not verify under the given public key".into()));
        }
        if seal.first_seq != self.next_seq {
            return Err(seal_finding(format!(
                "first_seq is {}, but the chain continues at {} (entries missing or repeated)",
                seal.first_seq, self.next_seq
            )));
        }
        if seal.last_seq < seal.first_seq {
            return Err(seal_finding("last_seq is below first_seq".into()));
        }
        let Some(bytes) = &seg.entries else {
            return Err(Finding { object: "segment", segment: seg.index, seq: None, reason: "entries missing".into() });
        };
        let entry_finding =
            |seq: u64, reason: String| Finding { object: "entry", segment: seg.index, seq: Some(seq), reason };
        let ls =
            lines(bytes).map_err(|_| entry_finding(self.next_seq, "the segment does not end with a newline".into()))?;
        let hashes: Vec<String> = ls.iter().map(|l| hex(&entry_hash(l))).collect();
        // What the rest of the chain records as the hash of line k.
        let recorded = |k: usize| -> Option<String> {
            match ls.get(k + 1) {
                Some(l) => serde_json::from_slice::<Entry>(l).ok().map(|e| e.prev),
                None => Some(seal.last_hash.clone()),
            }
        };
        for (k, line) in ls.iter().enumerate() {
            let seq = self.next_seq;
            let e = parse_entry(line).map_err(|r| entry_finding(seq, r))?;
            if e.seq != seq {
                let reason = if e.seq > seq {
                    format!("missing or out of order (entry {} stands in its place)", e.seq)
                } else {
                    format!("out of order or repeated (entry {} stands in its place)", e.seq)
                };
                return Err(entry_finding(seq, reason));
            }
            if e.prev != self.prev {
                // Either the entry before was altered (this entry still matches what
                // follows it) or this one was.
                return Err(if k > 0 && recorded(k).as_deref() == Some(hashes[k].as_str()) {
                    entry_finding(seq - 1, "altered: its hash is not the one the next entry records".into())
                } else {
                    entry_finding(seq, "altered: its prev is not the hash of the entry before, and its own hash is not what follows records".into())
                });
            }
            if seq > seal.last_seq {
                return Err(entry_finding(seq, format!("not covered by the seal (last_seq {})", seal.last_seq)));
            }
            self.prev = hashes[k].clone();
            self.next_seq += 1;
            self.out.first_seq.get_or_insert(seq);
            self.out.entries += 1;
        }
        if self.next_seq != seal.last_seq + 1 {
            return Err(entry_finding(self.next_seq, format!("missing (the seal covers up to {})", seal.last_seq)));
        }
        if self.prev != seal.last_hash {
            return Err(entry_finding(seal.last_seq, "altered: its hash is not the last hash the seal signs".into()));
        }
        self.out.segments += 1;
        self.out.last_seq = Some(seal.last_seq);
        self.out.last_hash = self.prev.clone();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> Ed25519Keypair {
        Ed25519Keypair::from_seed(&[seed; 32])
    }

    /// `sizes[i]` entries per segment, sealed by `kp`.
    fn chain(kp: &Ed25519Keypair, sizes: &[u64]) -> Vec<Segment> {
        let mut prev = GENESIS.to_string();
        let mut seq = 0;
        let mut out = Vec::new();
        for (i, n) in sizes.iter().enumerate() {
            let first = seq;
            let mut bytes = Vec::new();
            for _ in 0..*n {
                let e = Entry {
                    seq,
                    prev: prev.clone(),
                    tenant: "acme".into(),
                    pcs_id: format!("pcs-{seq}"),
                    status: if seq % 3 == 0 { 202 } else { 200 },
                    result: serde_json::json!({"accepted": true, "escalated": seq % 3 == 0, "recomputed_budget": 0.25}),
                    record_sha256: hex(&sha256(format!("r{seq}").as_bytes())),
                    region: "eu".into(),
                    at: 1_700_000_000 + seq,
                };
                let b = e.to_bytes().unwrap();
                prev = hex(&entry_hash(&b));
                bytes.extend_from_slice(&b);
                bytes.push(b'\n');
                seq += 1;
            }
            let seal = Seal::sign(kp, i as u64, first, seq - 1, &prev);
            out.push(Segment { index: i as u64, entries: Some(bytes), seal: Some(seal.to_bytes()) });
        }
        out
    }

    fn pk(kp: &Ed25519Keypair) -> [u8; 32] {
        kp.public_bytes()
    }

    fn edit_lines(seg: &mut Segment, f: impl FnOnce(&mut Vec<Vec<u8>>)) {
        let mut ls: Vec<Vec<u8>> =
            lines(seg.entries.as_ref().unwrap()).unwrap().into_iter().map(|l| l.to_vec()).collect();
        f(&mut ls);
        let mut b = Vec::new();
        for l in ls {
            b.extend_from_slice(&l);
            b.push(b'\n');
        }
        seg.entries = Some(b);
    }

    fn first_bad(segs: &[Segment], kp: &Ed25519Keypair) -> (String, u64, Option<u64>) {
        let f = verify_chain(segs, &pk(kp), None).unwrap_err();
        (f.object.to_string(), f.segment, f.seq)
    }

    #[test]
    fn an_intact_chain_verifies() {
        let kp = key(1);
        let segs = chain(&kp, &[4, 3, 5]);
        let v = verify_chain(&segs, &pk(&kp), None).unwrap();
        assert_eq!((v.segments, v.entries, v.first_seq, v.last_seq), (3, 12, Some(0), Some(11)));
        // From segment 1 on, anchored by segment 0's seal.
        let v = verify_chain(&segs[1..], &pk(&kp), segs[0].seal.as_deref()).unwrap();
        assert_eq!((v.entries, v.first_seq), (8, Some(4)));
        // Without its anchor, the run does not start at h[−1].
        assert_eq!(verify_chain(&segs[1..], &pk(&kp), None).unwrap_err().object, "segment");
    }

    #[test]
    fn an_edited_entry_is_named() {
        let kp = key(1);
        for target in [0usize, 1, 3] {
            let mut segs = chain(&kp, &[4, 4]);
            edit_lines(&mut segs[1], |ls| {
                ls[target] = String::from_utf8(ls[target].clone()).unwrap().replace("acme", "evil").into_bytes();
            });
            assert_eq!(first_bad(&segs, &kp), ("entry".into(), 1, Some(4 + target as u64)), "line {target}");
        }
    }

    #[test]
    fn an_edited_prev_is_named() {
        let kp = key(1);
        let mut segs = chain(&kp, &[5]);
        edit_lines(&mut segs[0], |ls| {
            let mut e: Entry = serde_json::from_slice(&ls[2]).unwrap();
            e.prev = "ab".repeat(32);
            ls[2] = e.to_bytes().unwrap();
        });
        assert_eq!(first_bad(&segs, &kp), ("entry".into(), 0, Some(2)));
    }

    #[test]
    fn deletion_and_reordering_are_named() {
        let kp = key(1);
        let mut segs = chain(&kp, &[5, 5]);
        edit_lines(&mut segs[1], |ls| {
            ls.remove(2);
        });
        assert_eq!(first_bad(&segs, &kp), ("entry".into(), 1, Some(7)));
        let mut segs = chain(&kp, &[5, 5]);
        edit_lines(&mut segs[0], |ls| ls.swap(1, 2));
        assert_eq!(first_bad(&segs, &kp), ("entry".into(), 0, Some(1)));
        // The last line removed: the seal covers more than is there.
        let mut segs = chain(&kp, &[5, 5]);
        edit_lines(&mut segs[0], |ls| {
            ls.pop();
        });
        assert_eq!(first_bad(&segs, &kp), ("entry".into(), 0, Some(4)));
    }

    #[test]
    fn seals_are_checked() {
        let kp = key(1);
        let other = key(2);
        // A seal's last hash edited.
        let mut segs = chain(&kp, &[3, 3]);
        let mut s = Seal::parse(segs[0].seal.as_ref().unwrap()).unwrap();
        s.last_hash = "00".repeat(32);
        segs[0].seal = Some(s.to_bytes());
        assert_eq!(first_bad(&segs, &kp), ("seal".into(), 0, None));
        // An entry edited and its segment re-sealed with another key.
        let mut segs = chain(&kp, &[3, 3]);
        let forged = chain(&other, &[3, 3]);
        segs[1] = forged[1].clone();
        let f = verify_chain(&segs, &pk(&kp), None).unwrap_err();
        assert_eq!((f.object, f.segment), ("seal", 1));
        assert!(f.reason.contains("another key"), "{f}");
        // Claiming the right key does not help a wrong signature.
        let mut s = Seal::parse(segs[1].seal.as_ref().unwrap()).unwrap();
        s.public_key = kp.public_b64();
        segs[1].seal = Some(s.to_bytes());
        let f = verify_chain(&segs, &pk(&kp), None).unwrap_err();
        assert!(f.reason.contains("does not verify"), "{f}");
        // A seal moved to another segment.
        let mut segs = chain(&kp, &[3, 3]);
        segs[1].seal = segs[0].seal.clone();
        assert_eq!(first_bad(&segs, &kp), ("seal".into(), 1, None));
    }

    #[test]
    fn missing_segments_and_seals_are_named() {
        let kp = key(1);
        let mut segs = chain(&kp, &[2, 2, 2]);
        segs.remove(1);
        assert_eq!(first_bad(&segs, &kp), ("segment".into(), 1, None));
        let mut segs = chain(&kp, &[2, 2, 2]);
        segs[1].seal = None;
        assert_eq!(first_bad(&segs, &kp), ("seal".into(), 1, None));
        // A last segment without its seal is an unsealed tail, not checked.
        let mut segs = chain(&kp, &[2, 2, 2]);
        segs[2].seal = None;
        let v = verify_chain(&segs, &pk(&kp), None).unwrap();
        assert_eq!((v.unsealed_tail, v.last_seq), (Some(2), Some(3)));
        // Entries appended after a seal.
        let mut segs = chain(&kp, &[2, 2]);
        let extra = lines(segs[1].entries.as_ref().unwrap()).unwrap()[0].to_vec();
        edit_lines(&mut segs[0], |ls| ls.push(extra));
        assert_eq!(first_bad(&segs, &kp).0, "entry");
    }

    #[test]
    fn entries_must_be_canonical() {
        let kp = key(1);
        let mut segs = chain(&kp, &[2]);
        edit_lines(&mut segs[0], |ls| {
            let v: serde_json::Value = serde_json::from_slice(&ls[0]).unwrap();
            ls[0] = serde_json::to_vec_pretty(&v).unwrap().into_iter().filter(|b| *b != b'\n').collect();
        });
        let f = verify_chain(&segs, &pk(&kp), None).unwrap_err();
        assert_eq!((f.object, f.seq), ("entry", Some(0)));
        assert!(f.reason.contains("RFC 8785"), "{f}");
    }
}
