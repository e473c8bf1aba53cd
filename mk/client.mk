# The Rust client crate (issue 7): the core's protocol over reqwest.

TEST_TARGETS += test-client
.PHONY: test-client
test-client: ## Rust client tests against a scripted loopback HTTP server.
	$(CARGO) test --release -p fractal-client
