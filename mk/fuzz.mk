# Fuzzing (fuzz/): cargo-fuzz targets of the record parser, the canonical encoders,
# the verifier and the server's write-ahead log reader. Not part of `make test`:
# it runs for a fixed time budget, with the nightly toolchain.
#
# Each target starts from its committed seeds (fuzz/corpus/<target>, read only) and
# keeps what it finds in fuzz/target/corpus/<target> (not committed). A crash stops
# the run and leaves the input in fuzz/artifacts/<target>/; reproduce it with
#   cargo +nightly fuzz run <target> fuzz/artifacts/<target>/crash-...
# and turn it into a plain #[test] in fractal-core/tests/ or server/tests/.

FUZZ_DIR := $(ROOT)/fuzz
FUZZ_TARGETS ?= parse_record canonical verify wal_recover
# Seconds per target: 4 targets x 150 s = 10 CPU-minutes.
FUZZ_SECONDS ?= 150
# -a: debug assertions and overflow checks on; ASan (cargo-fuzz's default) for the
# unsafe code of the dependencies.
FUZZ_FLAGS ?= -a --sanitizer address
FUZZ_CARGO := $(CARGO) +nightly fuzz
FUZZ_BUILD_DIR := $(FUZZ_DIR)/target

.PHONY: fuzz fuzz-tools fuzz-seed
fuzz-tools:
	@rustup toolchain list | grep -q '^nightly' || { echo "make fuzz needs the nightly toolchain: rustup toolchain install nightly"; exit 1; }
	@$(CARGO) fuzz --version >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked

fuzz: fuzz-tools ## Fuzz each target for FUZZ_SECONDS (150 s; 10 CPU-minutes in all, nightly); fails on a crash.
	$(FUZZ_CARGO) build $(FUZZ_FLAGS) --target-dir $(FUZZ_BUILD_DIR)
	@mkdir -p $(FUZZ_BUILD_DIR)/logs
	@failed=; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD_DIR)/corpus/$$t; \
	  log=$(FUZZ_BUILD_DIR)/logs/$$t.log; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s (log: $$log)"; \
	  if $(FUZZ_CARGO) run $(FUZZ_FLAGS) --target-dir $(FUZZ_BUILD_DIR) $$t \
	       $(FUZZ_BUILD_DIR)/corpus/$$t $(FUZZ_DIR)/corpus/$$t -- \
	       -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >$$log 2>&1; then \
	    grep -E '^(Done|stat::peak_rss_mb)' $$log | sed "s/^/  $$t: /"; \
	  else \
	    grep -E -A12 'panicked at|^==[0-9]+==ERROR|^SUMMARY' $$log | head -n 40; \
	    grep -E 'Test unit written' $$log; \
	    echo "fuzz: $$t FAILED"; failed="$$failed $$t"; \
	  fi; \
	done; \
	test -z "$$failed" || { echo "make fuzz: crashes in:$$failed (inputs in fuzz/artifacts/)"; exit 1; }
	@echo "make fuzz: no crash in $(FUZZ_TARGETS) ($(FUZZ_SECONDS) s each)"

fuzz-seed: ## Rewrite the committed seed corpus (fuzz/corpus) from golden/ and real WAL frames.
	cd $(FUZZ_DIR) && CARGO_TARGET_DIR=$(FUZZ_BUILD_DIR) $(CARGO) run --locked -q --example seed_corpus -- $(ROOT)/golden $(FUZZ_DIR)/corpus
