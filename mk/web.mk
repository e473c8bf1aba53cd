# The core in the browser (bindings/wasm): the same Rust core compiled to
# WebAssembly with wasm-bindgen, published as the `browser` entry of the npm
# package (bindings/node/browser/, generated), tested in headless Chromium.
#
# Toolchain: rustup has no wasm32 standard library here, Debian does:
# rustc-web + cargo-web + rust-web-src build std for wasm32 (-Zbuild-std, hence
# RUSTC_BOOTSTRAP) with lld-22; binaryen's wasm-opt shrinks the result;
# wasm-bindgen-cli (crates.io) must be the exact version of the wasm-bindgen crate;
# chromium runs the tests, driven by puppeteer-core (npm, no browser download).
# The crate is a workspace of its own (own Cargo.lock, own target dir).

NPM ?= npm
WEB_DIR := $(ROOT)/bindings/wasm
WEB_BUILD := $(ROOT)/build/wasm
WEB_TARGET := $(WEB_BUILD)/target
WEB_BINDGEN_OUT := $(WEB_BUILD)/pkg
# The generated browser entry inside the npm package (not committed).
WEB_PKG := $(ROOT)/bindings/node/browser
WEB_TOOLS := $(ROOT)/build/tools
WASM_BINDGEN := $(WEB_TOOLS)/bin/wasm-bindgen
WASM_BINDGEN_VERSION := $(shell sed -n 's/^wasm-bindgen = "=\(.*\)"/\1/p' $(WEB_DIR)/Cargo.toml)
WEB_CARGO := CARGO_TARGET_DIR=$(WEB_TARGET) RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 /usr/bin/cargo
WEB_WASM := $(WEB_TARGET)/wasm32-unknown-unknown/release/fractal_wasm.wasm
# What rustc 1.96 enables by default for wasm32-unknown-unknown; binaryen must
# accept (and may keep using) the same.
WASM_OPT_FEATURES := --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-multivalue --enable-reference-types

TEST_TARGETS += test-web
.PHONY: web-tools build-wasm test-web

# $(call web_apt,<path>,<debian packages>): install when the path is missing.
define web_apt
	@if [ ! -e $(1) ]; then \
	  sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  echo "installing $(2) (for $(1))"; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $(2) >/dev/null; \
	fi
endef

web-tools: ## Install what the browser build needs when missing (Debian's wasm32 Rust, lld, binaryen, chromium; wasm-bindgen-cli).
	$(call web_apt,/usr/bin/rustc,rustc-web)
	$(call web_apt,/usr/bin/cargo,cargo-web)
	$(call web_apt,/usr/lib/rustlib/src/rust/library,rust-web-src)
	$(call web_apt,/usr/bin/wasm-ld-22,lld-22)
	$(call web_apt,/usr/bin/wasm-opt,binaryen)
	$(call web_apt,/usr/bin/chromium,chromium)
	@if [ "$$($(WASM_BINDGEN) --version 2>/dev/null)" != "wasm-bindgen $(WASM_BINDGEN_VERSION)" ]; then \
	  echo "installing wasm-bindgen-cli $(WASM_BINDGEN_VERSION) into build/tools"; \
	  $(CARGO) install -q wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION) --locked --root $(WEB_TOOLS) \
	  || $(CARGO) install -q wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION) --root $(WEB_TOOLS); \
	fi
	@/usr/bin/rustc --version && $(WASM_BINDGEN) --version

build-wasm: web-tools ## Browser build: the core for wasm32, wasm-bindgen, wasm-opt -Oz, into bindings/node/browser/.
	cd $(WEB_DIR) && $(WEB_CARGO) build --release --locked --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort
	rm -rf $(WEB_BINDGEN_OUT) $(WEB_PKG)
	@# wasm-opt before wasm-bindgen: Debian's binaryen (108) cannot read the
	@# table.fill that wasm-bindgen's externref glue adds, and the glue is small.
	mkdir -p $(WEB_BINDGEN_OUT) $(WEB_PKG)
	wasm-opt -Oz $(WASM_OPT_FEATURES) -o $(WEB_BUILD)/fractal_wasm.wasm $(WEB_WASM)
	$(WASM_BINDGEN) --target web --no-typescript --out-dir $(WEB_BINDGEN_OUT) $(WEB_BUILD)/fractal_wasm.wasm
	cp $(WEB_BINDGEN_OUT)/fractal_wasm_bg.wasm $(WEB_PKG)/
	cp $(WEB_BINDGEN_OUT)/fractal_wasm.js $(WEB_DIR)/js/index.js $(WEB_DIR)/js/index.d.ts $(WEB_PKG)/
	@# ESM in a package whose .js files are CommonJS for Node; generated, so
	@# ignored by git, but published (.npmignore replaces .gitignore for npm).
	echo '{ "type": "module" }' > $(WEB_PKG)/package.json
	printf '*\n' > $(WEB_PKG)/.gitignore
	printf '.gitignore\n.npmignore\n' > $(WEB_PKG)/.npmignore
	@echo "build-wasm: bindings/node/browser/fractal_wasm_bg.wasm: $$(stat -c %s $(WEB_PKG)/fractal_wasm_bg.wasm) bytes" \
	  "($$(gzip -9c $(WEB_PKG)/fractal_wasm_bg.wasm | wc -c) gzipped; $$(stat -c %s $(WEB_WASM)) from rustc, before wasm-opt -Oz and wasm-bindgen)"

test-web: build-wasm ## Browser: the .d.ts type-checks, then in headless Chromium every golden case and a cross-origin Client against `fractal serve`.
	$(CARGO) build --release --locked -p fractal-server
	cd $(WEB_DIR) && $(NPM) ci --no-audit --no-fund --loglevel=error
	cd $(WEB_DIR) && npx tsc --noEmit -p test/tsconfig.json
	cd $(WEB_DIR) && FRACTAL=$(FRACTAL) node test/run.mjs
