# The C ABI (bindings/c) and the Go SDK over it (bindings/go).
#
# One release build of `fractal-c` (the root `make build` does it too) gives
# libfractal.a; `go-lib` copies it and the header into the Go module, where cgo
# links it statically.

GO ?= go
GO_DIR := $(ROOT)/bindings/go
C_DIR := $(ROOT)/bindings/c
GO_MODULE := github.com/fractal-lba/fractal-lba/bindings/go
GO_TEST_VERSION := v0.1.0
# The agent the cross-SDK end-to-end tests (e2e/) drive: a module of its own
# that uses the SDK from this tree (a `replace` directive).
E2E_GO_DIR := $(ROOT)/e2e/agents/go
E2E_AGENT_GO := $(ROOT)/build/e2e-agent-go
# Rust std's system libraries (`cargo rustc -- --print native-static-libs`).
C_SYSLIBS := -lm -ldl -lpthread -lrt -lutil -lgcc_s
VALGRIND_FLAGS := -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect,possible

TEST_TARGETS += test-go

# $(call go_apt,<command>,<debian packages>): install when the command is missing.
define go_apt
	@if ! command -v $(1) >/dev/null 2>&1; then \
	  sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  echo "installing $(2) (for $(1))"; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $(2) >/dev/null; \
	fi
endef

.PHONY: go-tools go-lib header-c check-header-c check-memory test-go test-go-get bench-go e2e-agent-go

go-tools: ## Install what the Go SDK's tests need when missing (gcc, Go, valgrind; via apt).
	$(call go_apt,gcc,gcc libc6-dev)
	$(call go_apt,$(GO),golang-go)
	$(call go_apt,valgrind,valgrind)
	@$(GO) version

# `make build` also leaves the Go module ready to link.
build: go-lib

go-lib: ## Build the C ABI (release) and copy libfractal.a + fractal.h into the Go module.
	$(CARGO) build --release --locked -p fractal-c
	@if command -v $(GO) >/dev/null 2>&1; then plat=$$($(GO) env GOOS)_$$($(GO) env GOARCH); \
	else plat=linux_$$(uname -m | sed 's/x86_64/amd64/; s/aarch64/arm64/'); fi; \
	mkdir -p $(GO_DIR)/lib/$$plat $(GO_DIR)/lib/include; \
	cp $(RELEASE)/libfractal.a $(GO_DIR)/lib/$$plat/libfractal.a; \
	cp $(C_DIR)/include/fractal.h $(GO_DIR)/lib/include/fractal.h; \
	echo "go-lib: bindings/go/lib/$$plat/libfractal.a"

header-c: ## Regenerate bindings/c/include/fractal.h with cbindgen (review and commit it).
	FRACTAL_BLESS=1 $(CARGO) test --release --locked -p fractal-c --test header

check-header-c: ## Fail when bindings/c/include/fractal.h differs from what cbindgen generates.
	$(CARGO) test --release --locked -p fractal-c --test header

check-memory: go-lib ## Valgrind: every golden case through the C ABI, and a C caller of the header.
	$(CARGO) test --release --locked -p fractal-c --test abi_golden --no-run
	@bin=$$($(CARGO) test --release --locked -p fractal-c --test abi_golden --no-run --message-format=json 2>/dev/null \
	  | grep -o '"executable":"[^"]*abi_golden[^"]*"' | cut -d'"' -f4 | tail -1); \
	test -x "$$bin" || { echo "check-memory: abi_golden binary not found"; exit 1; }; \
	echo "valgrind $$bin"; valgrind $(VALGRIND_FLAGS) "$$bin"
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	gcc -std=c11 -Wall -Wextra -Werror -I$(C_DIR)/include $(C_DIR)/tests/abi_smoke.c \
	  $(RELEASE)/libfractal.a $(C_SYSLIBS) -o "$$tmp/abi_smoke"; \
	echo "valgrind abi_smoke"; valgrind $(VALGRIND_FLAGS) "$$tmp/abi_smoke"
	@echo "check-memory: valgrind reports no invalid access and no leak"

test-go-get: go-lib ## A module outside the repo `go get`s the SDK from a file GOPROXY, builds and runs.
	@tmp=$$(mktemp -d); trap 'chmod -R u+w "$$tmp" 2>/dev/null; rm -rf "$$tmp"' EXIT; \
	cd $(GO_DIR) && $(GO) run ./internal/mkproxy -dir . -version $(GO_TEST_VERSION) -out "$$tmp/proxy"; \
	mkdir "$$tmp/consumer" && cp $(GO_DIR)/testdata/consumer/main.go "$$tmp/consumer/"; \
	cd "$$tmp/consumer" && \
	export GOPROXY="file://$$tmp/proxy" GOSUMDB=off GOFLAGS=-mod=mod GOWORK=off GOTOOLCHAIN=local \
	  GOPRIVATE= GONOPROXY= GONOSUMDB= GOMODCACHE="$$tmp/modcache" && \
	$(GO) mod init example.com/consumer >/dev/null 2>&1 && \
	$(GO) get $(GO_MODULE)@$(GO_TEST_VERSION) && \
	$(GO) run .
	@echo "test-go-get: ok"

e2e-agent-go: go-tools go-lib ## Build the Go SDK's e2e agent, build/e2e-agent-go (one JSON command on stdin, one JSON line out).
	@mkdir -p $(dir $(E2E_AGENT_GO))
	cd $(E2E_GO_DIR) && GOWORK=off $(GO) build -o $(E2E_AGENT_GO) .
	@echo "e2e-agent-go: $(E2E_AGENT_GO)"

test-go: go-tools go-lib ## C ABI tests (header freshness, golden walk, client protocol) and Go SDK: vet, tests (+ -race), e2e agent, go get, valgrind.
	$(CARGO) test --release --locked -p fractal-c
	cd $(GO_DIR) && $(GO) vet ./...
	cd $(GO_DIR) && $(GO) test -count=1 ./...
	cd $(GO_DIR) && $(GO) test -count=1 -race ./...
	cd $(E2E_GO_DIR) && GOWORK=off $(GO) vet ./... && GOWORK=off $(GO) test -count=1 -race ./...
	$(MAKE) --no-print-directory e2e-agent-go
	$(MAKE) --no-print-directory test-go-get
	$(MAKE) --no-print-directory check-memory
	@echo "test-go: ok"

bench-go: go-lib ## Benchmark the Go SDK against pure Go (sign/verify, HMAC and Ed25519); prints the ratios.
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	cd $(GO_DIR) && $(GO) test -c -o "$$tmp/bench.test" . && \
	for round in 1 2 3 4 5; do "$$tmp/bench.test" -test.run '^$$' -test.bench . -test.benchmem | grep '^Benchmark'; done | tee "$$tmp/out"; \
	echo; echo "SDK time / pure-Go time (best of 5 interleaved rounds; < 1 means the SDK is faster):"; \
	awk '/^Benchmark/ { split($$1, p, "/"); impl = p[2]; sub(/-[0-9]+$$/, "", impl); k = p[1] "|" impl; \
	       if (!(k in best) || $$3 < best[k]) best[k] = $$3; names[p[1]] = 1 } \
	     END { for (b in names) if ((b "|sdk") in best && (b "|purego") in best) \
	       printf "  %-24s sdk %9.0f ns  purego %9.0f ns  ratio %.2f\n", b, best[b "|sdk"], best[b "|purego"], best[b "|sdk"] / best[b "|purego"] }' "$$tmp/out" | sort
