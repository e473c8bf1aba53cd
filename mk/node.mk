# The Node.js SDK (bindings/node): napi-rs addon published as @fractal-lba/client.
# The addon builds with --release into the shared $(CARGO_TARGET_DIR), like
# every other part, so CI compiles the core once per profile.

NODE_DIR := bindings/node
NPM ?= npm

TEST_TARGETS += test-node
.PHONY: build-node test-node bench-node example-node

build-node: ## Node SDK: npm ci, then napi build --platform --release (addon, index.js loader, index.d.ts).
	cd $(NODE_DIR) && $(NPM) ci --no-audit --no-fund --loglevel=error
	cd $(NODE_DIR) && npx napi build --platform --release
	@# The loader and the declarations are generated and committed: they must match the source.
	git diff --exit-code --stat -- $(NODE_DIR)/index.js $(NODE_DIR)/index.d.ts \
	  || { echo "bindings/node: index.js/index.d.ts are stale; commit the regenerated files" >&2; exit 1; }

test-node: build-node ## Node SDK: tsc --noEmit, node --test (every golden case, the Client against scripted and real servers, the e2e agent, examples), CJS/ESM and packed-tarball smoke tests.
	cd $(NODE_DIR) && npx tsc --noEmit -p tsconfig.json
	cd $(NODE_DIR) && node --test test/
	bash $(NODE_DIR)/scripts/pack-smoke.sh

bench-node: build-node ## Node SDK: signHmac and signature verification, single and batch, against pure JS (prints a table).
	cd $(NODE_DIR) && node bench/bench.mjs

example-node: build-node ## Node SDK: build, sign and submit a record to the server of `make run` (FRACTAL_URL, FRACTAL_TENANT, FRACTAL_ALG, FRACTAL_KEY).
	node $(NODE_DIR)/examples/submit.mjs
