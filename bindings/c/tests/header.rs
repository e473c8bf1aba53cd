//! `include/fractal.h` must be exactly what cbindgen generates from `src/` (lib.rs and its modules).
//! Regenerate with `FRACTAL_BLESS=1 cargo test -p fractal-c --test header`
//! (or `make header-c`), then review the diff.

use std::path::Path;

#[test]
fn header_is_fresh() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml parses");
    config.after_includes = Some(core_names());
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen can read src/")
        .write(&mut generated);
    let path = crate_dir.join("include/fractal.h");
    if std::env::var_os("FRACTAL_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write include/fractal.h");
        return;
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/fractal.h is stale: run `make header-c` (FRACTAL_BLESS=1 cargo test -p fractal-c --test header) and commit it"
    );
}

/// The core's wire names (and the epoch limit) as C macros, written from the core
/// itself (cbindgen emits literal constants of `src/` only), so no binding types them again.
fn core_names() -> String {
    use fractal_core::Regime;
    let mut s = "\n// The only accepted `schema` of a record (`fractal_core::SCHEMA`).\n".to_string();
    s += &format!("#define FRACTAL_SCHEMA {:?}\n", fractal_core::SCHEMA);
    s += "\n// The largest epoch that can be signed canonically, 2^53−1 (`fractal_core::MAX_EPOCH`).\n";
    s += &format!("#define FRACTAL_MAX_EPOCH {}ULL\n", fractal_core::MAX_EPOCH);
    s += "\n// The wire names of the three regimes of SPEC §5 (`fractal_core::Regime`).\n";
    for r in [Regime::Sticky, Regime::Mixed, Regime::NonSticky] {
        s += &format!("#define FRACTAL_REGIME_{} {:?}\n", r.as_str().to_uppercase(), r.as_str());
    }
    s.trim_end().to_string()
}
