# Fractal LBA — build, test and run everything. `make help` lists the targets.
#
# Each part of the project keeps its targets in mk/<part>.mk and registers its
# test target in TEST_TARGETS; `make test` runs them in the order below.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
export CARGO_TERM_COLOR ?= never
export CARGO_TARGET_DIR ?= $(CURDIR)/target

ROOT := $(CURDIR)
CARGO ?= cargo
# Built artifacts shared by every part (one cargo build of the workspace).
RELEASE := $(CARGO_TARGET_DIR)/release
FRACTAL := $(RELEASE)/fractal

TEST_TARGETS :=
include $(sort $(wildcard mk/*.mk))

TEST_ORDER := test-rust test-golden test-server test-python test-node test-go test-kotlin test-e2e
TESTS := $(filter $(TEST_TARGETS),$(TEST_ORDER)) $(filter-out $(TEST_ORDER),$(TEST_TARGETS))

.PHONY: help build test run
help: ## List the targets.
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk 'BEGIN{FS=":.*## "} {printf "  %-18s %s\n", $$1, $$2}'

build: ## Build the Rust workspace (release): core, C ABI, server and `fractal` CLI, the Kotlin SDK's library.
	$(CARGO) build --release --locked -p fractal-core -p fractal-c -p fractal-server -p fractal-kotlin

test: $(TESTS) ## Install what the tests need and run every suite.
	@echo "make test: all suites passed ($(TESTS))"
