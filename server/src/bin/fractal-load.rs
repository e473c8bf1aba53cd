//! `fractal-load`: a loopback load generator for `fractal serve`.
//!
//! Posts HMAC-signed records over N keep-alive HTTP/1.1 connections and prints
//! requests/s and latency percentiles. Records are built and signed before the
//! clock starts, so the generator spends its CPU on I/O only. With `--spawn` it starts
//! the server itself (temp data dir, an HMAC tenant, fsync on as always) and also
//! prints the server's RSS at the end.
//!
//! ```text
//! fractal-load --spawn target/release/fractal --requests 1000000 --duplicates 0
//! fractal-load --url 127.0.0.1:8080 --tenant default --key secret --duplicates 0.9
//! fractal-load --spawn target/release/fractal --baseline --requests 300000 --label unique
//! ```
//!
//! With `--baseline` the same run first loads a do-nothing HTTP/1.1 server (hyper, as
//! many workers as `fractal serve` has, reads each body, answers a fixed JSON; started
//! as a child process of this binary) with the same requests, then `fractal serve`,
//! and prints our requests/s as a ratio of the baseline's: machines differ two- to
//! threefold in speed, a ratio measured in one run does not.
//!
//! `--durable-baseline` adds a second floor: the same do-nothing server, but each
//! body goes through `fractal serve`'s own write-ahead log (group commit, `fdatasync`)
//! before the fixed answer. SPEC §6 puts that log in front of every answer, duplicates
//! included, so this floor is what the contract's durability alone costs on the
//! machine; the distance from it to `fractal serve` is everything else the server does.
//!
//! It prints figures only and asserts nothing about them.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use fractal_core::{BuildInput, build_pcs, sign_hmac};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Parser, Debug)]
#[command(name = "fractal-load", about = "Loopback load generator for `fractal serve`")]
struct Args {
    /// Server address host:port (not with --spawn). Repeat it to spread the
    /// connections round-robin over several replicas.
    #[arg(long)]
    url: Vec<String>,
    /// Start this `fractal` binary with a temp data dir and an HMAC tenant.
    #[arg(long)]
    spawn: Option<std::path::PathBuf>,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Requests in total.
    #[arg(long, default_value_t = 400_000)]
    requests: usize,
    /// Fraction of requests that repeat a record already stored (0 to 0.99).
    #[arg(long, default_value_t = 0.0)]
    duplicates: f64,
    /// Tenant id sent in X-Tenant-Id.
    #[arg(long, default_value = "bench")]
    tenant: String,
    /// HMAC key of the tenant.
    #[arg(long, default_value = "bench-secret")]
    key: String,
    /// First epoch (vary it to keep runs against one server unique).
    #[arg(long, default_value_t = 1_000_000)]
    epoch_base: u64,
    /// Extra TOML appended to the spawned server's config (top-level tables such as
    /// `[store]`), e.g. `--server-config $'[store]\ncache_mb = 64'`.
    #[arg(long, default_value = "")]
    server_config: String,
    /// Name printed with the results.
    #[arg(long, default_value = "load")]
    label: String,
    /// Also load a do-nothing hyper server with the same requests first (needs
    /// --spawn) and print the ratio line `ratio LABEL 0.NN`.
    #[arg(long, requires = "spawn")]
    baseline: bool,
    /// Also load the do-nothing server with a write-ahead log in front of each answer
    /// (after --baseline) and print `ratio-durable LABEL 0.NN`.
    #[arg(long, requires = "baseline")]
    durable_baseline: bool,
    /// Internal: serve as the do-nothing baseline on this address (used by --baseline).
    #[arg(long, hide = true, conflicts_with_all = ["spawn", "url", "baseline"])]
    serve_baseline: Option<String>,
    /// Internal: with --serve-baseline, log each body in this directory before answering.
    #[arg(long, hide = true, requires = "serve_baseline")]
    baseline_log: Option<std::path::PathBuf>,
}

/// What the baseline answers: the size and shape of an accepted VerifyResult.
const BASELINE_BODY: &[u8] =
    br#"{"accepted":true,"escalated":false,"recomputed_D_hat":0.866733469,"recomputed_budget":0.285}"#;

/// The do-nothing server of `--baseline`: hyper's HTTP/1.1 on a tokio runtime with
/// the worker count `fractal serve` uses by default (one per CPU); each request's
/// body is read whole, then the fixed answer goes out. With `log`, the body is first
/// appended to `fractal serve`'s write-ahead log there (with the server's default
/// options), and the answer waits for the `fdatasync`.
fn serve_baseline(listen: &str, log: Option<&std::path::Path>) -> anyhow::Result<()> {
    use fractal_server::serve::wal;
    use http_body_util::{BodyExt, Full};
    use std::io::Write as _;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let log = match log {
            Some(dir) => {
                let at = wal::recover(dir, 0, &mut |_| {})?;
                // The writer thread is never joined: the process ends by a signal.
                let (log, _writer) =
                    wal::Wal::start(wal::WalOptions::defaults(dir.to_path_buf()), at, Arc::new(|_, _| {}))?;
                Some(Arc::new(log))
            }
            None => None,
        };
        let listener = tokio::net::TcpListener::bind(listen).await?;
        println!("baseline: listening on http://{}", listener.local_addr()?);
        std::io::stdout().flush()?;
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            let log = log.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let log = log.clone();
                    async move {
                        let body = req.into_body().collect().await?.to_bytes();
                        if let Some(log) = &log {
                            log.append_frame(wal::frame_v1("baseline", &body)).await?;
                        }
                        std::hint::black_box(body);
                        hyper::Response::builder()
                            .header("content-type", "application/json")
                            .body(Full::new(BASELINE_BODY))
                            .map_err(anyhow::Error::from)
                    }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, svc).await;
            });
        }
    })
}

/// A server started by `--spawn` (with its temp data dir) or `--baseline`; killed on drop.
struct Spawned {
    child: Child,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        // SIGTERM for a graceful stop, as an operator would.
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

fn spawn(bin: &std::path::Path, tenant: &str, key: &str, extra: &str) -> anyhow::Result<(Spawned, SocketAddr)> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = {:?}\nsignature_policy = \"hmac\"\n\n[[tenants]]\nid = {tenant:?}\nkey_env = [\"FRACTAL_LOAD_KEY\"]\n\n{extra}\n",
            dir.path().join("data")
        ),
    )?;
    let mut child = Command::new(bin)
        .args(["serve", "--config"])
        .arg(&config)
        .env("FRACTAL_LOAD_KEY", key)
        .env("FRACTAL_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let addr = listening_on(&mut child)?;
    Ok((Spawned { child, _dir: Some(dir) }, addr))
}

/// Starts this binary as the do-nothing baseline server, with a write-ahead log in a
/// temp dir when `durable`.
fn spawn_baseline(durable: bool) -> anyhow::Result<(Spawned, SocketAddr)> {
    let dir = if durable { Some(tempfile::tempdir()?) } else { None };
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["--serve-baseline", "127.0.0.1:0"]);
    if let Some(d) = &dir {
        cmd.arg("--baseline-log").arg(d.path().join("wal"));
    }
    let mut child =
        cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().context("starting the baseline server")?;
    let addr = listening_on(&mut child)?;
    Ok((Spawned { child, _dir: dir }, addr))
}

/// The address from a child's first line, `… listening on http://ADDR`.
fn listening_on(child: &mut Child) -> anyhow::Result<SocketAddr> {
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("the child's stdout")?).read_line(&mut line)?;
    let addr = line.trim().rsplit("http://").next().unwrap_or("");
    addr.parse().with_context(|| format!("server said {line:?}"))
}

/// User + system CPU time of a process, in seconds.
fn cpu_secs(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
}

/// One signed request, ready to write.
fn request(addr: &str, tenant: &str, key: &[u8], epoch: u64, i: usize) -> Vec<u8> {
    let mut input = BuildInput::example();
    input.epoch = epoch;
    input.shard_id = format!("shard-{:03}", i % 97);
    input.merkle_root = format!("{:064x}", (epoch as u128) * 0x9e37_79b9_7f4a_7c15);
    input.coh_star = 0.5 + (i % 40) as f64 / 100.0;
    input.r = 0.5 + (i % 50) as f64 / 100.0;
    let mut pcs = build_pcs(&input).expect("the example input builds");
    pcs.sig = Some(sign_hmac(&pcs, key).expect("the key signs"));
    let body = pcs.to_json();
    let mut req = format!(
        "POST /v1/pcs/submit HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nX-Tenant-Id: {tenant}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    req
}

#[derive(Default)]
struct ConnResult {
    latencies_us: Vec<u32>,
    statuses: [u64; 6],
    dedup_hits: u64,
}

/// Reads one HTTP/1.1 response with a Content-Length body; returns (status, dedup hit).
async fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> anyhow::Result<(u16, bool)> {
    loop {
        if let Some(end) = find(buf, b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end])?;
            let status: u16 = head.get(9..12).context("short status line")?.parse()?;
            let mut len = 0usize;
            let mut hit = false;
            for line in head.split("\r\n").skip(1) {
                let (k, v) = line.split_once(':').unwrap_or((line, ""));
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse()?;
                } else if k.eq_ignore_ascii_case("x-dedup") {
                    hit = true;
                }
            }
            let total = end + 4 + len;
            while buf.len() < total {
                read_more(s, buf).await?;
            }
            buf.drain(..total);
            return Ok((status, hit));
        }
        read_more(s, buf).await?;
    }
}

async fn read_more(s: &mut TcpStream, buf: &mut Vec<u8>) -> anyhow::Result<()> {
    let mut chunk = [0u8; 8192];
    let n = s.read(&mut chunk).await?;
    if n == 0 {
        bail!("the server closed the connection");
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

async fn connection(addr: SocketAddr, reqs: Arc<Vec<Vec<u8>>>, schedule: Vec<u32>) -> anyhow::Result<ConnResult> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut r = ConnResult { latencies_us: Vec::with_capacity(schedule.len()), ..Default::default() };
    for idx in schedule {
        let t = Instant::now();
        s.write_all(&reqs[idx as usize]).await?;
        let (status, hit) = read_response(&mut s, &mut buf).await?;
        r.latencies_us.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
        let slot = match status {
            200 => 0,
            202 => 1,
            401 => 2,
            429 => 3,
            503 => 4,
            _ => 5,
        };
        r.statuses[slot] += 1;
        r.dedup_hits += hit as u64;
    }
    Ok(r)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(listen) = &args.serve_baseline {
        return serve_baseline(listen, args.baseline_log.as_deref());
    }
    if !(0.0..1.0).contains(&args.duplicates) {
        bail!("--duplicates must be in [0, 1)");
    }
    let (spawned, addrs) = match (&args.spawn, args.url.is_empty()) {
        (Some(bin), true) => {
            let (s, a) = spawn(bin, &args.tenant, &args.key, &args.server_config)?;
            (Some(s), vec![a])
        }
        (None, false) => {
            let mut v = Vec::new();
            for u in &args.url {
                v.push(u.parse::<SocketAddr>().with_context(|| format!("--url {u:?} is not host:port"))?);
            }
            (None, v)
        }
        _ => bail!("give --spawn, or one or more --url"),
    };
    let addr = addrs[0];
    let conns = args.connections.max(1);
    // Each connection sends its share; a share's fresh records are distinct across
    // connections, and a duplicate repeats a record that connection already sent
    // (and so is already stored when it is sent again).
    let per_conn = args.requests / conns;
    let fresh_every = if args.duplicates > 0.0 { (1.0 / (1.0 - args.duplicates)).round() as usize } else { 1 };
    let mut schedules: Vec<Vec<u32>> = Vec::with_capacity(conns);
    let mut uniques = 0usize;
    for _ in 0..conns {
        let mut sched = Vec::with_capacity(per_conn);
        let mut mine: Vec<u32> = Vec::new();
        for i in 0..per_conn {
            if mine.is_empty() || i % fresh_every == 0 {
                mine.push(uniques as u32);
                sched.push(uniques as u32);
                uniques += 1;
            } else {
                let pick = (i.wrapping_mul(2_654_435_761)) % mine.len();
                sched.push(mine[pick]);
            }
        }
        schedules.push(sched);
    }
    eprintln!("{}: building and signing {uniques} records...", args.label);
    let host = addr.to_string();
    let reqs: Vec<Vec<u8>> = {
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let chunk = uniques.div_ceil(threads).max(1);
        std::thread::scope(|sc| {
            let handles: Vec<_> = (0..uniques)
                .step_by(chunk)
                .map(|start| {
                    let (host, tenant, key) = (&host, &args.tenant, args.key.as_bytes());
                    let base = args.epoch_base;
                    sc.spawn(move || {
                        (start..(start + chunk).min(uniques))
                            .map(|i| request(host, tenant, key, base + i as u64, i))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
        })
    };
    let reqs = Arc::new(reqs);
    let body_bytes: usize = reqs.iter().map(|r| r.len()).sum::<usize>() / reqs.len().max(1);

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let floor = |durable: bool, name: &str| -> anyhow::Result<Run> {
        let (server, addr) = spawn_baseline(durable)?;
        let run = load(&rt, &[addr], &reqs, &schedules, Some(server.child.id()))?;
        drop(server);
        run.print(&format!("{} {name}", args.label), uniques, body_bytes, args.duplicates, conns);
        Ok(run)
    };
    let baseline = if args.baseline { Some(floor(false, "baseline")?) } else { None };
    let durable = if args.durable_baseline { Some(floor(true, "durable baseline")?) } else { None };
    let run = load(&rt, &addrs, &reqs, &schedules, spawned.as_ref().map(|s| s.child.id()))?;
    run.print(&args.label, uniques, body_bytes, args.duplicates, conns);
    if let Some(s) = &spawned {
        // Let the last checkpoint settle, then read the server's resident memory.
        std::thread::sleep(Duration::from_millis(200));
        if let Some(kib) = rss_kib(s.child.id()) {
            println!("{}: server RSS {:.1} MiB with {uniques} stored outcomes", args.label, kib as f64 / 1024.0);
        }
    }
    drop(spawned);
    // One row per floor: requests/s of both, their ratio, server CPU per request of
    // both and its ratio, and our p99; then the line a script reads.
    let row = |table: &str, ratio: &str, floor: &Run| {
        let (f_us, us) = (floor.server_us_per_request(), run.server_us_per_request());
        let cpu_ratio = us.zip(f_us).map_or(f64::NAN, |(u, f)| u / f);
        println!(
            "{table} | {} | {:.0} | {:.0} | {:.2} | {:.1} | {:.1} | {cpu_ratio:.1} | {:.2} |",
            args.label,
            floor.rps(),
            run.rps(),
            run.rps() / floor.rps(),
            f_us.unwrap_or(f64::NAN),
            us.unwrap_or(f64::NAN),
            run.percentile_ms(0.99),
        );
        println!("{ratio} {} {:.2}", args.label, run.rps() / floor.rps());
    };
    if let Some(d) = &durable {
        row("table-durable", "ratio-durable", d);
    }
    if let Some(b) = &baseline {
        row("table", "ratio", b);
    }
    Ok(())
}

/// One load phase: every connection's schedule against `addrs`.
struct Run {
    /// Every request's latency in µs, sorted.
    latencies_us: Vec<u32>,
    /// Answers by status: 200, 202, 401, 429, 503, other.
    statuses: [u64; 6],
    dedup_hits: u64,
    elapsed: Duration,
    server_cpu: Option<f64>,
    own_cpu: Option<f64>,
}

fn load(
    rt: &tokio::runtime::Runtime,
    addrs: &[SocketAddr],
    reqs: &Arc<Vec<Vec<u8>>>,
    schedules: &[Vec<u32>],
    server: Option<u32>,
) -> anyhow::Result<Run> {
    let cpu_before = server.and_then(cpu_secs);
    let own_before = cpu_secs(std::process::id());
    let started = Instant::now();
    let results: Vec<ConnResult> = rt.block_on(async {
        let tasks: Vec<_> = schedules
            .iter()
            .enumerate()
            .map(|(i, s)| tokio::spawn(connection(addrs[i % addrs.len()], reqs.clone(), s.clone())))
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await??);
        }
        anyhow::Ok(out)
    })?;
    let elapsed = started.elapsed();
    let delta = |before: Option<f64>, after: Option<f64>| Some(after? - before?);
    let server_cpu = delta(cpu_before, server.and_then(cpu_secs));
    let own_cpu = delta(own_before, cpu_secs(std::process::id()));
    let mut run = Run { latencies_us: Vec::new(), statuses: [0; 6], dedup_hits: 0, elapsed, server_cpu, own_cpu };
    for r in results {
        run.latencies_us.extend(r.latencies_us);
        for (a, b) in run.statuses.iter_mut().zip(r.statuses) {
            *a += b;
        }
        run.dedup_hits += r.dedup_hits;
    }
    run.latencies_us.sort_unstable();
    Ok(run)
}

impl Run {
    fn requests(&self) -> usize {
        self.latencies_us.len()
    }

    fn rps(&self) -> f64 {
        self.requests() as f64 / self.elapsed.as_secs_f64()
    }

    fn server_us_per_request(&self) -> Option<f64> {
        Some(self.server_cpu? * 1e6 / self.requests().max(1) as f64)
    }

    /// The `p` quantile of the latencies, in ms.
    fn percentile_ms(&self, p: f64) -> f64 {
        let n = self.latencies_us.len();
        self.latencies_us.get(((n as f64 * p) as usize).min(n.saturating_sub(1))).copied().unwrap_or(0) as f64 / 1000.0
    }

    fn print(&self, label: &str, uniques: usize, body_bytes: usize, duplicates: f64, conns: usize) {
        let n = self.requests();
        let pct = |p: f64| self.percentile_ms(p);
        let (statuses, hits) = (self.statuses, self.dedup_hits);
        let secs = self.elapsed.as_secs_f64();
        println!(
            "{label}: {n} requests ({uniques} distinct records, ~{body_bytes} bytes each, {dup:.0}% duplicates) over {conns} connections in {secs:.2} s",
            dup = duplicates * 100.0,
        );
        println!(
            "{label}: {rps:.0} requests/s  latency p50 {p50:.2} ms  p99 {p99:.2} ms  p99.9 {p999:.2} ms  max {max:.2} ms",
            rps = self.rps(),
            p50 = pct(0.50),
            p99 = pct(0.99),
            p999 = pct(0.999),
            max = self.latencies_us.last().copied().unwrap_or(0) as f64 / 1000.0
        );
        println!(
            "{label}: answers 200={} 202={} 401={} 429={} 503={} other={}  X-Dedup hits={hits}",
            statuses[0], statuses[1], statuses[2], statuses[3], statuses[4], statuses[5],
        );
        if let (Some(c), Some(us)) = (self.server_cpu, self.server_us_per_request()) {
            println!("{label}: server CPU {us:.1} µs per request ({:.2} cores busy)", c / secs);
        }
        if let Some(c) = self.own_cpu {
            println!(
                "{label}: load generator CPU {:.1} µs per request ({:.2} cores busy)",
                c * 1e6 / n.max(1) as f64,
                c / secs
            );
        }
    }
}
