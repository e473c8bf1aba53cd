#![no_main]
//! See `fractal_fuzz::parse_record` for the input layout and the properties checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| fractal_fuzz::parse_record(data));
