# The core, its golden vectors and the Rust test suites.

GOLDEN_DIR := $(ROOT)/golden
GOLDEN_GEN := $(CARGO) run --release --locked -q -p fractal-core --example golden --
BENCH_ARGS ?= --warm-up-time 1 --measurement-time 2

TEST_TARGETS += test-rust test-golden
.PHONY: test-rust test-golden golden bench
test-rust: ## Rust unit, property, golden and doc tests of the core; the Rust client against a scripted server.
	$(CARGO) test --release --locked -p fractal-core -p fractal-client

test-golden: ## Check golden/ with the Node oracle, and that regenerating it changes nothing.
	node $(GOLDEN_DIR)/oracle/check.mjs $(GOLDEN_DIR)
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(GOLDEN_GEN) "$$tmp" >/dev/null; \
	diff <(cd $(GOLDEN_DIR) && ls *.json server/*.json client/*.json) <(cd "$$tmp" && ls *.json server/*.json client/*.json) || { echo "golden/: the set of files is stale, run 'make golden'"; exit 1; }; \
	for f in $$(cd "$$tmp" && ls *.json server/*.json client/*.json); do \
	  diff -u "$(GOLDEN_DIR)/$$f" "$$tmp/$$f" | head -40 || true; \
	  cmp -s "$(GOLDEN_DIR)/$$f" "$$tmp/$$f" || { echo "golden/$$f is stale: run 'make golden' and review the diff"; exit 1; }; \
	done; \
	echo "golden: regenerated vectors are identical to golden/"

golden: ## Regenerate golden/*.json from the generator, then check them with the oracle.
	$(GOLDEN_GEN) $(GOLDEN_DIR)
	node $(GOLDEN_DIR)/oracle/check.mjs $(GOLDEN_DIR)

bench: ## Criterion benchmarks of the core (short run; BENCH_ARGS to change).
	$(CARGO) bench --locked -p fractal-core --bench core -- $(BENCH_ARGS)
