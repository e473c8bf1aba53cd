//! Criterion benchmarks of the core's hot paths. Run with `make bench`.
//!
//! Targets (x86-64 with SHA-NI): HMAC sign and HMAC verify ≤ 1.0 µs from a parsed
//! record (canonicalization included), the full §5 engine ≤ 2 µs, parsing a
//! ~600-byte record ≤ 2 µs, `pick` on a 64-shard ring ≤ 150 ns.
//!
//! Every benchmark runs twice: `wall/…` measures elapsed time (criterion's
//! default), `cpu/…` the benchmark thread's own CPU time (Linux
//! `CLOCK_THREAD_CPUTIME_ID`), which stays meaningful on a loaded machine where
//! other processes preempt the benchmark.

use std::hint::black_box;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fractal_core::{
    BuildInput, Ed25519Keypair, HmacSigner, Pcs, Ring, ShardSpec, SigVersion, Verifier, VerifyParams, build_pcs,
    canonical_payload, pcs_id, sign_hmac, verify,
};

const KEY: &[u8] = b"bench-tenant-secret";

/// A realistic record of about 600 bytes on the wire, signed with HMAC.
fn record() -> Pcs {
    let input = BuildInput {
        sent_at: Some("2026-01-02T03:04:05.123456Z".into()),
        v_star: vec![0.123456789, 0.987654321, 0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625],
        scales: vec![2, 4, 8, 16, 32, 64],
        n_j: [(2, 3), (4, 7), (8, 19), (16, 50), (32, 133), (64, 350)].into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        ..BuildInput::example()
    };
    let mut p = build_pcs(&input).expect("builds");
    p.ft = Some(fractal_core::FaultTolerance {
        outbox_seq: Some(123456),
        degraded: Some(false),
        fallbacks: Some(vec!["local-disk".into(), "retry".into()]),
        clock_skew_ms: Some(-12),
    });
    p.sig = Some(sign_hmac(&p, KEY).expect("signs"));
    p
}

fn benches<M: Measurement + 'static>(c: &mut Criterion<M>, prefix: &str) {
    let p = record();
    let wire = p.to_json();
    if prefix == "wall" {
        eprintln!("record on the wire: {} bytes", wire.len());
    }
    let kp = Ed25519Keypair::from_seed(&[7; 32]);
    let mut hmac_verifier = Verifier::new();
    hmac_verifier.add_hmac_key(KEY).expect("key");
    let params = VerifyParams::default();
    let shards: Vec<ShardSpec> =
        (0..64).map(|i| ShardSpec { name: format!("shard-{i:03}"), weight: 1, healthy: true }).collect();
    let ring = Ring::with_shards(150, &shards).expect("ring");

    c.bench_function(&format!("{prefix}/canonical_v1"), |b| b.iter(|| canonical_payload(black_box(&p), SigVersion::V1).expect("ok")));
    c.bench_function(&format!("{prefix}/canonical_v2"), |b| b.iter(|| canonical_payload(black_box(&p), SigVersion::V2).expect("ok")));
    c.bench_function(&format!("{prefix}/pcs_id"), |b| b.iter(|| pcs_id(black_box(&p.merkle_root), black_box(p.epoch), black_box(&p.shard_id))));
    c.bench_function(&format!("{prefix}/sign_hmac"), |b| b.iter(|| sign_hmac(black_box(&p), KEY).expect("ok")));
    let signer = HmacSigner::new(KEY).expect("key");
    c.bench_function(&format!("{prefix}/sign_hmac_prepared"), |b| b.iter(|| signer.sign(black_box(&p)).expect("ok")));
    c.bench_function(&format!("{prefix}/verify_hmac"), |b| b.iter(|| hmac_verifier.verify(black_box(&p)).expect("ok")));
    c.bench_function(&format!("{prefix}/sign_ed25519"), |b| b.iter(|| kp.sign(black_box(&p)).expect("ok")));
    c.bench_function(&format!("{prefix}/verify"), |b| b.iter(|| verify(black_box(&p), &params)));
    c.bench_function(&format!("{prefix}/parse"), |b| b.iter(|| Pcs::from_json(black_box(&wire)).expect("ok")));
    c.bench_function(&format!("{prefix}/pick_64_shards"), |b| b.iter(|| ring.pick(black_box(p.pcs_id.as_bytes())).expect("ok")));
}

/// The calling thread's CPU time in nanoseconds.
#[cfg(target_os = "linux")]
fn thread_cpu_ns() -> u64 {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    unsafe extern "C" {
        fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut ts = Timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec (64-bit Linux layout), and this
    // clock id is supported by every Linux since 2.6.12.
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Elsewhere: elapsed time, so the `cpu/` figures are at least defined.
#[cfg(not(target_os = "linux"))]
fn thread_cpu_ns() -> u64 {
    use std::sync::OnceLock;
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed().as_nanos() as u64
}

/// CPU time of the benchmark thread, in nanoseconds.
struct ThreadCpu;

impl Measurement for ThreadCpu {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns() - start
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &Nanos
    }
}

struct Nanos;

impl ValueFormatter for Nanos {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = match typical {
            t if t < 1e3 => (1.0, "ns"),
            t if t < 1e6 => (1e-3, "µs"),
            t if t < 1e9 => (1e-6, "ms"),
            _ => (1e-9, "s"),
        };
        values.iter_mut().for_each(|v| *v *= factor);
        unit
    }
    fn scale_throughputs(&self, _typical: f64, throughput: &Throughput, values: &mut [f64]) -> &'static str {
        let per = match throughput {
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) | Throughput::Elements(n) | Throughput::Bits(n) => *n as f64,
            Throughput::ElementsAndBytes { elements, .. } => *elements as f64,
        };
        values.iter_mut().for_each(|v| *v = per * 1e9 / *v);
        "/s"
    }
    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

fn wall(c: &mut Criterion<WallTime>) {
    benches(c, "wall");
}

fn cpu(c: &mut Criterion<ThreadCpu>) {
    benches(c, "cpu");
}

criterion_group!(wall_time, wall);
criterion_group! {
    name = cpu_time;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = cpu
}
criterion_main!(wall_time, cpu_time);
