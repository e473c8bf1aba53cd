//! Test support: the real `fractal` binary on a loopback port, a small HTTP/1.1
//! client over `std::net::TcpStream`, and signed records.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fractal_core::{BuildInput, Ed25519Keypair, Pcs, build_pcs, sign_hmac};

/// A running `fractal serve` with its own temp data dir and config file.
pub struct Server {
    pub child: Option<Child>,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub env: Vec<(String, String)>,
}

impl Server {
    /// Starts the binary with `config` (TOML, without `listen`/`data_dir`).
    pub fn start(config: &str) -> Server {
        Self::start_with_env(config, &[])
    }

    pub fn start_with_env(config: &str, env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let full = format!("listen = \"127.0.0.1:0\"\ndata_dir = {:?}\n{config}", dir.path().join("data"));
        std::fs::write(&path, full).unwrap();
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut s = Server { child: None, addr: "127.0.0.1:1".parse().unwrap(), dir, config: path, env };
        s.launch();
        s
    }

    /// Rewrites the config file (for the next [`Server::launch`]).
    pub fn set_config(&self, config: &str) {
        let full = format!("listen = \"127.0.0.1:0\"\ndata_dir = {:?}\n{config}", self.data_dir());
        std::fs::write(&self.config, full).unwrap();
    }

    /// Bytes written to the write-ahead log's segments (see [`written_len`]).
    pub fn wal_bytes(&self) -> u64 {
        std::fs::read_dir(self.data_dir().join("wal"))
            .unwrap()
            .map(|e| written_len(&std::fs::read(e.unwrap().path()).unwrap()) as u64)
            .sum()
    }

    pub fn metrics_text(&self) -> String {
        String::from_utf8(request(self.addr, "GET", "/metrics", &[], b"").body).unwrap()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Starts (again) on the same data dir; waits for the "listening" line.
    pub fn launch(&mut self) {
        assert!(self.child.is_none());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fractal"));
        cmd.args(["serve", "--config"]).arg(&self.config).env("FRACTAL_LOG", "warn");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.trim().rsplit("http://").next().unwrap().to_string();
        self.addr = addr.parse().unwrap_or_else(|_| panic!("server did not start: {line:?}"));
        self.child = Some(child);
    }

    /// SIGKILL: no flush, no shutdown.
    pub fn kill9(&mut self) {
        let mut c = self.child.take().unwrap();
        c.kill().unwrap();
        c.wait().unwrap();
    }

    /// SIGTERM and wait; returns whether it exited 0.
    pub fn term(&mut self) -> bool {
        let mut c = self.child.take().unwrap();
        Command::new("kill").arg("-TERM").arg(c.id().to_string()).status().unwrap();
        c.wait().unwrap().success()
    }

    pub fn post(&self, tenant: Option<&str>, body: &[u8]) -> Resp {
        let mut h = vec![("Content-Type", "application/json")];
        if let Some(t) = tenant {
            h.push(("X-Tenant-Id", t));
        }
        request(self.addr, "POST", "/v1/pcs/submit", &h, body)
    }

    /// `GET /v1/pcs/{pcs_id}`, signed (SPEC §6.1) with the tenant's first HMAC key
    /// as the current config file names it (inline or through `key_env`), so a
    /// test reads like an authorized client; unsigned for other tenants.
    pub fn get(&self, tenant: Option<&str>, pcs_id: &str) -> Resp {
        let mut h: Vec<(&str, &str)> = tenant.map(|t| vec![("X-Tenant-Id", t)]).unwrap_or_default();
        let auth = self.read_key(tenant.unwrap_or("default")).map(|k| {
            let key = fractal_core::SigningKeyMaterial::parse(fractal_core::Algorithm::Hmac, &k).unwrap();
            key.read_authorization(tenant.unwrap_or("default"), pcs_id, fractal_core::protocol::unix_now()).unwrap()
        });
        if let Some(a) = &auth {
            h.push(("Authorization", a));
        }
        request(self.addr, "GET", &format!("/v1/pcs/{pcs_id}"), &h, b"")
    }

    /// The first HMAC key of `tenant` in the config file, if it has one.
    pub fn read_key(&self, tenant: &str) -> Option<String> {
        let cfg: toml::Value = toml::from_str(&std::fs::read_to_string(&self.config).ok()?).ok()?;
        let default_alg = cfg.get("signature_policy").and_then(|v| v.as_str()).unwrap_or("none");
        let t =
            cfg.get("tenants")?.as_array()?.iter().find(|t| t.get("id").and_then(|v| v.as_str()) == Some(tenant))?;
        if t.get("algorithm").and_then(|v| v.as_str()).unwrap_or(default_alg) != "hmac" {
            return None;
        }
        if let Some(k) = t.get("keys").and_then(|v| v.as_array()).and_then(|a| a.first()).and_then(|v| v.as_str()) {
            return Some(k.to_string());
        }
        let var = t.get("key_env")?.as_array()?.first()?.as_str()?;
        self.env.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    /// `(code, message)` of an error answer.
    pub fn error(&self) -> (String, String) {
        let j = self.json();
        (j["error"]["code"].as_str().unwrap().to_string(), j["error"]["message"].as_str().unwrap().to_string())
    }

    pub fn dedup_hit(&self) -> bool {
        self.header("x-dedup") == Some("hit")
    }
}

/// Runs the `fractal` binary with `args` and waits for it.
pub fn fractal(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fractal")).args(args).output().unwrap()
}

/// The length of a log segment up to its last byte that is not zero: the log
/// allocates its space ahead of its records, with zeros.
pub fn written_len(segment: &[u8]) -> usize {
    segment.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1)
}

/// Copies a directory tree (what a kill -9 would leave of a live one).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// One HTTP/1.1 request with `Connection: close`; reads the answer to EOF.
pub fn try_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Resp> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    s.write_all(&bytes)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no header end in {} bytes", raw.len())))?;
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next().unwrap()[9..12].parse().map_err(std::io::Error::other)?;
    let headers =
        lines.filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))).collect();
    Ok(Resp { status, headers, body: raw[end + 4..].to_vec() })
}

pub fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    try_request(addr, method, path, headers, body).unwrap()
}

/// A valid record (accepted, not escalated) with this epoch.
pub fn record(epoch: u64) -> Pcs {
    let mut input = BuildInput::example();
    input.epoch = epoch;
    input.shard_id = format!("shard-{}", epoch % 7);
    build_pcs(&input).unwrap()
}

/// A record whose reported budget is off: accepted but escalated (202).
pub fn escalated_record(epoch: u64) -> Pcs {
    let mut p = record(epoch);
    p.budget = (p.budget + 0.3).min(1.0);
    if (p.budget - record(epoch).budget).abs() < 0.02 {
        p.budget = 0.0;
    }
    p
}

pub fn hmac_signed(mut p: Pcs, key: &str) -> Vec<u8> {
    p.sig = Some(sign_hmac(&p, key.as_bytes()).unwrap());
    p.to_json()
}

pub fn ed25519_signed(mut p: Pcs, kp: &Ed25519Keypair) -> Vec<u8> {
    p.sig = Some(kp.sign(&p).unwrap());
    p.to_json()
}

pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

pub fn path_exists(p: &Path) -> bool {
    p.exists()
}

/// The shared-store services' addresses (`make services` writes them to
/// `build/services.env`), overridden by `FRACTAL_TEST_*` variables; fails naming
/// `make services` when one of `required` is missing.
pub fn services(required: &[&str]) -> std::collections::HashMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../build/services.env");
    let mut vars: std::collections::HashMap<String, String> = std::fs::read_to_string(&path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.trim().to_string(), v.trim().to_string())))
        .collect();
    vars.extend(std::env::vars().filter(|(k, _)| k.starts_with("FRACTAL_TEST_")));
    for k in required {
        assert!(
            vars.contains_key(*k),
            "{k} is not set and {} has none: run `make services` first (it starts PostgreSQL, Redis and S3 on loopback)",
            path.display()
        );
    }
    vars
}
