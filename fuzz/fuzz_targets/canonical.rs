#![no_main]
//! See `fractal_fuzz::canonical` for the input layout and the properties checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| fractal_fuzz::canonical(data));
