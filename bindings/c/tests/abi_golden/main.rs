//! Every golden case of every file in `../../golden`, driven through the C ABI
//! exactly as a C caller would (raw pointers, status codes, error and buffer
//! frees). `make check-memory` runs this binary under valgrind, so the golden
//! walk doubles as the memory check of the ABI. It is a plain program
//! (`harness = false`): no test-harness threads to blur valgrind's leak report.

use std::ffi::CStr;
use std::path::Path;
use std::ptr;

use fractal::*;
use serde_json::Value;

mod client;
mod read;
mod reject;
mod support;
mod v1;
mod v2;
mod walk;

use client::*;
use read::*;
use reject::*;
use support::*;
use v1::*;
use v2::*;
use walk::*;

fn main() {
    let checks: [(&str, fn()); 11] = [
        ("every golden file is walked", every_golden_file_is_walked),
        ("canonical.json through the ABI", canonical_cases),
        ("canonical_v2.json through the ABI", canonical_v2_cases),
        ("legacy.json through the ABI", legacy_cases),
        ("read.json through the ABI", read_cases),
        ("verify.json through the ABI", verify_cases),
        ("ring.json through the ABI", ring_cases),
        ("reject.json through the ABI", reject_cases),
        ("NULL arguments", null_arguments_are_errors_not_crashes),
        ("client protocol", client_protocol),
        ("client/protocol.json calls through the ABI", protocol_calls),
    ];
    for (name, check) in checks {
        check();
        println!("ok   {name}");
    }
}
