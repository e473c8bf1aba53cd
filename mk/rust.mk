# The core and the Rust test suites.

TEST_TARGETS += test-rust
.PHONY: test-rust
test-rust: ## Rust unit, property and doc tests of the core and the server crate.
	$(CARGO) test --release --locked -p fractal-core -p fractal-server
