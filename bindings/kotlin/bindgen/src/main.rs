//! uniffi's generator, built from the workspace's pinned uniffi (no global
//! install). `make kotlin-prepare` runs it in library mode over
//! libfractal_kotlin.so: `uniffi-bindgen generate --library … --language kotlin`.
//!
//! A crate of its own rather than a `[[bin]]` of fractal-kotlin: a bin would
//! rebuild (and overwrite) the cdylib with uniffi's CLI features each time.

fn main() {
    uniffi::uniffi_bindgen_main()
}
