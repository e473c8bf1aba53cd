//! Writes the seed corpus of every fuzz target from golden/ and real WAL frames:
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example seed_corpus -- golden fuzz/corpus
//! ```
//!
//! Seeds are named `seed-*`; files libFuzzer added (hash names) are left alone.

use std::path::{Path, PathBuf};

use fractal_fuzz::{CANON_LEGACY, CANON_TEXT, CANON_VALUE, READ_NOW, VerifySig, WalInput};
use fractal_server::serve::wal::{self, Decided, frame, frame_v1};
use serde_json::Value;

/// Records of the `verify` target (each under every [`VerifySig`]).
const VERIFY_RECORDS: usize = 8;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [golden, out] = args.as_slice() else {
        eprintln!("usage: seed_corpus GOLDEN_DIR CORPUS_DIR");
        std::process::exit(2);
    };
    let (golden, out) = (Path::new(golden), PathBuf::from(out));
    let records = golden_records(golden);
    let reads = golden_reads(golden);

    let mut w = Writer { out, written: 0 };
    for (name, text) in &records {
        w.put("parse_record", name, text.clone());
    }
    for (name, text) in records.iter().filter(|(n, _)| n.starts_with("canonical")) {
        w.put("canonical", name, [&[CANON_TEXT][..], text].concat());
    }
    for (i, text) in [
        &b"{\"b\":[1.0,1e-7,\"\\u00e9<\"],\"a\":{\"z\":1,\"B\":null},\"\\ud83d\\ude00\":-0.0}"[..],
        b"9007199254740993",
        b"[1e400]",
    ]
    .iter()
    .enumerate()
    {
        w.put("canonical", &format!("json-{i}"), [&[CANON_TEXT][..], text].concat());
    }
    for i in 0..4u8 {
        let bytes: Vec<u8> = (0..64u8).map(|b| b.wrapping_mul(31).wrapping_add(i * 17)).collect();
        w.put("canonical", &format!("value-{i}"), [&[CANON_VALUE][..], &bytes].concat());
        w.put("canonical", &format!("legacy-{i}"), [&[CANON_LEGACY][..], &bytes].concat());
    }

    let signable: Vec<_> = records.iter().filter(|(n, _)| n.starts_with("canonical")).take(VERIFY_RECORDS).collect();
    for (i, choice) in VerifySig::ALL.iter().enumerate() {
        for (name, text) in &signable {
            let mode = (2 * i) as u8;
            w.put("verify", &format!("{choice:?}-{name}"), [&[mode][..], &[0xff; 8], text].concat());
        }
    }
    for (name, text) in records.iter().filter(|(n, _)| n.starts_with("verify")).take(VERIFY_RECORDS) {
        w.put("verify", &format!("params-{name}"), [&[0][..], &[9, 0, 10, 2, 11, 7, 1, 3], text].concat());
    }
    for (i, (delta, text)) in reads.iter().enumerate() {
        w.put("verify", &format!("read-{i}"), [&[1][..], &delta.to_le_bytes(), text.as_bytes()].concat());
    }

    for (name, input) in wal_inputs() {
        w.put("wal_recover", name, input.encode());
    }
    eprintln!("wrote {} seed files", w.written);
}

struct Writer {
    out: PathBuf,
    written: usize,
}

impl Writer {
    fn put(&mut self, target: &str, name: &str, bytes: Vec<u8>) {
        let dir = self.out.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
        self.written += 1;
    }
}

/// Every record text of every golden file: `record_text` when given, else
/// `record` as compact JSON, else a non-key `input`.
fn golden_records(golden: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (stem, doc) in golden_files(golden) {
        for t in tests(&doc) {
            let id = t["tcId"].as_u64().unwrap_or(0);
            let text = if let Some(s) = t.get("record_text").and_then(Value::as_str) {
                s.as_bytes().to_vec()
            } else if let Some(r) = t.get("record") {
                serde_json::to_vec(r).unwrap()
            } else if let Some(s) = t.get("input").and_then(Value::as_str)
                && t.get("stage").and_then(Value::as_str) != Some("key")
            {
                s.as_bytes().to_vec()
            } else {
                continue;
            };
            out.push((format!("{stem}-{id}"), text));
        }
    }
    out
}

/// Read checks `(delta, "tenant\npcs_id\nheader")`: golden/read.json's headers
/// (valid and invalid) when it exists, and a few written here.
fn golden_reads(golden: &Path) -> Vec<(i16, String)> {
    let mut out = vec![
        (0, "default\nabc\nFractal t=1700000000, sig=AAAA".to_string()),
        (300, "t\u{e9}\np\nfractal  t=17 ,sig=".to_string()),
        (-301, "\n\nFractal t=99999999999999999999, sig=x, t=1".to_string()),
    ];
    for (stem, doc) in golden_files(golden) {
        if stem != "read" {
            continue;
        }
        for t in tests(&doc) {
            let tenant = t["tenant"].as_str().unwrap_or("default");
            let pcs_id = t["pcs_id"].as_str().unwrap_or("");
            let header = t
                .get("header")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| t["expected"]["authorization_hmac"].as_str().map(str::to_string));
            let delta =
                t["t"].as_u64().or(t["now"].as_u64()).map_or(0, |v| (v as i64 - READ_NOW as i64).clamp(-400, 400));
            if let Some(h) = header {
                out.push((delta as i16, format!("{tenant}\n{pcs_id}\n{h}")));
            }
        }
    }
    out
}

fn golden_files(golden: &Path) -> Vec<(String, Value)> {
    let mut files: Vec<_> = std::fs::read_dir(golden)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            (stem, serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap())
        })
        .collect()
}

fn tests(doc: &Value) -> Vec<&Value> {
    doc["testGroups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["tests"].as_array().into_iter().flatten())
        .collect()
}

/// A v2 frame as the writer leaves it: `batch_start` set, checksum redone.
fn in_batch(mut frame: Vec<u8>, start: u64) -> Vec<u8> {
    const BATCH_AT: usize = wal::HEADER + 2;
    frame[BATCH_AT..BATCH_AT + 8].copy_from_slice(&start.to_le_bytes());
    let mut h = crc32fast::Hasher::new();
    h.update(&frame[0..4]);
    h.update(&frame[wal::HEADER..]);
    let crc = h.finalize().to_le_bytes();
    frame[4..8].copy_from_slice(&crc);
    frame
}

/// Logs built from real frames (v2, and v1 from before the upgrade): clean, torn,
/// zero-extended, damaged in the middle, a torn batch, two segments (damage in
/// the older one, a replay watermark).
fn wal_inputs() -> Vec<(&'static str, WalInput)> {
    let decided = |pcs_id: &str, status: u16| Decided {
        pcs_id: pcs_id.into(),
        status,
        outcome: br#"{"accepted":true,"escalated":false,"recomputed_D_hat":1.41,"recomputed_budget":0.42}"#.to_vec(),
        accepted_at: 1_700_000_000,
        expires_at: 1_700_086_400,
        origin: None,
    };
    let body = br#"{"pcs_id":"abc","schema":"fractal-lba-kakeya","version":"0.1"}"#;
    // Batch one: frames 0 and 1; batch two: frame 2; then a v1 frame.
    let f0 = in_batch(frame("default", &decided("abc", 200), body), 0);
    let f1 = in_batch(frame("t2", &decided("", 202), b"xyz"), 0);
    let b2 = (f0.len() + f1.len()) as u64;
    let f2 = in_batch(frame("tenant-\u{e9}", &decided("p", 202), &[0xff; 40]), b2);
    let v1 = frame_v1("default", b"{}");
    let frames = [f0.clone(), f1.clone(), f2.clone(), v1.clone()];
    let log: Vec<u8> = frames.concat();
    let v2_log: Vec<u8> = frames[..3].concat();
    let one =
        |segment: Vec<u8>| WalInput { first: 0, gap: None, from_kind: 0, from_offset: 0, segments: vec![segment] };
    let mut torn = v2_log.clone();
    let b3 = torn.len() as u64;
    torn.extend_from_slice(&in_batch(frame("default", &decided("q", 200), b"cut short"), b3)[..20]);
    // The first frame of the last batch is damaged, the second intact: still torn.
    let mut torn_batch = v2_log.clone();
    let mut g0 = in_batch(frame("default", &decided("g0", 200), b"one"), b3);
    let g1 = in_batch(frame("default", &decided("g1", 200), b"two"), b3);
    g0[wal::HEADER + 30] ^= 1;
    torn_batch.extend_from_slice(&g0);
    torn_batch.extend_from_slice(&g1);
    let mut zeros = v2_log.clone();
    zeros.extend_from_slice(&[0; 64]);
    let mut flipped = v2_log.clone();
    flipped[f0.len() + 10] ^= 1;
    let mut wild_len = log.clone();
    wild_len[f0.len() + 3] = 0x7f;
    let second_at = f0.len() as u16;
    vec![
        ("clean", one(log.clone())),
        ("v1-only", one([v1.clone(), frame_v1("t", b"x")].concat())),
        ("torn-tail", one(torn)),
        ("torn-batch", one(torn_batch)),
        ("zero-tail", one(zeros)),
        ("checksum-mid", one(flipped)),
        ("wild-length-mid", one(wild_len)),
        ("empty", one(Vec::new())),
        (
            "two-segments",
            WalInput {
                first: 3,
                gap: Some(1),
                from_kind: 1,
                from_offset: second_at,
                segments: vec![log.clone(), v2_log.clone()],
            },
        ),
        (
            "older-torn",
            WalInput {
                first: 0,
                gap: Some(2),
                from_kind: 0,
                from_offset: 0,
                segments: vec![log[..log.len() - 2].to_vec(), f1],
            },
        ),
        (
            "past-the-end",
            WalInput { first: 1, gap: Some(1), from_kind: 3, from_offset: 0, segments: vec![log.clone(), f2] },
        ),
    ]
}
