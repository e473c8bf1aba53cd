//! `fractal-load`'s floors, as `make bench-server` starts them.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

/// The bodies in a copy of a live log directory (what a kill -9 would leave).
fn logged_bodies(wal: &Path) -> Vec<Vec<u8>> {
    let copy = tempfile::tempdir().unwrap();
    common::copy_dir(wal, copy.path());
    let mut bodies = Vec::new();
    fractal_server::serve::wal::recover(copy.path(), 0, &mut |r| bodies.push(r.body)).unwrap();
    bodies
}

#[test]
fn the_durable_baseline_answers_only_after_the_body_is_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let wal = dir.path().join("wal");
    let mut child = Command::new(env!("CARGO_BIN_EXE_fractal-load"))
        .args(["--serve-baseline", "127.0.0.1:0", "--baseline-log"])
        .arg(&wal)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr: SocketAddr = line.trim().rsplit("http://").next().unwrap().parse().unwrap();
    let mut sent = Vec::new();
    for body in [&b"{\"first\":1}"[..], b"{\"second\":2}", b"{\"first\":1}"] {
        let r = common::request(addr, "POST", "/v1/pcs/submit", &[("Content-Type", "application/json")], body);
        assert_eq!(r.status, 200);
        assert!(r.json()["accepted"].as_bool().unwrap(), "the fixed answer is an accepted VerifyResult");
        // Every body is logged, a repeated one too (SPEC §6 logs before the dedup
        // lookup), and it is there once the answer is.
        sent.push(body.to_vec());
        assert_eq!(logged_bodies(&wal), sent);
    }
    child.kill().unwrap();
    child.wait().unwrap();
}
