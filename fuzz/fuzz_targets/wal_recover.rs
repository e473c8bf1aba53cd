#![no_main]
//! See `fractal_fuzz::wal_recover` for the input layout and the properties checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| fractal_fuzz::wal_recover(data));
