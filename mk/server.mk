# The reference server `fractal serve` (server/): run it, test it, load it.
# Everything uses the release binary $(FRACTAL) that the root `build` target makes.

SERVER_DATA ?= $(ROOT)/build/data
SERVER_LISTEN ?= 127.0.0.1:8080
FRACTAL_LOAD := $(RELEASE)/fractal-load
BENCH_REQUESTS ?= 300000

TEST_TARGETS += test-server
.PHONY: run test-server bench-server

run: build ## Start the reference server on embedded defaults (data in build/data; Ctrl-C stops it).
	@mkdir -p $(SERVER_DATA)
	@echo "fractal serve: embedded defaults (no signatures, tenant 'default'), data in $(SERVER_DATA)"
	@echo "Submit a record from another shell:"
	@echo "  curl -i -H 'Content-Type: application/json' --data-binary @server/examples/record.json http://$(SERVER_LISTEN)/v1/pcs/submit"
	@echo "  curl -i http://$(SERVER_LISTEN)/v1/pcs/a687cafc6f56b4da5a9854606076663877ea5e3660cd739af9147d0904665da2"
	@echo "Or with the CLI: $(FRACTAL) verify --help, $(FRACTAL) sign --help; metrics: curl http://$(SERVER_LISTEN)/metrics"
	@echo "Configuration: $(FRACTAL) serve --config FILE; every key is in docs/config.example.toml, see docs/server.md"
	@exec $(FRACTAL) serve --listen $(SERVER_LISTEN) --data-dir $(SERVER_DATA)

test-server: build services ## Server crate: WAL/store/config unit tests, the CLI, SPEC §6 over real HTTP, 10 kill -9 crash cycles, shared stores (tests/stores.rs), shard migration (tests/migrate.rs), two regions (tests/regions.rs).
	$(CARGO) test --release --locked -p fractal-server

bench-server: build ## Server vs a do-nothing hyper server, and vs the same with our write-ahead log, same run: 64 connections, HMAC, fsync on; unique records, then 90% duplicates (BENCH_REQUESTS each). Ends with `ratio unique 0.NN` and `ratio dup90 0.NN`.
	@mkdir -p $(ROOT)/build/bench
	$(FRACTAL_LOAD) --spawn $(FRACTAL) --baseline --durable-baseline --connections 64 --requests $(BENCH_REQUESTS) --duplicates 0 --label unique | tee $(ROOT)/build/bench/unique.txt
	$(FRACTAL_LOAD) --spawn $(FRACTAL) --baseline --durable-baseline --connections 64 --requests $(BENCH_REQUESTS) --duplicates 0.9 --label dup90 | tee $(ROOT)/build/bench/dup90.txt
	@echo
	@echo "Against the do-nothing server plus the write-ahead log SPEC §6 puts before every answer:"
	@echo "| run | durable baseline requests/s | fractal requests/s | ratio | durable baseline server µs/req | fractal server µs/req | CPU ratio | fractal p99 ms |"
	@echo "|---|---|---|---|---|---|---|---|"
	@sed -n 's/^table-durable //p' $(ROOT)/build/bench/unique.txt $(ROOT)/build/bench/dup90.txt
	@grep -h '^ratio-durable ' $(ROOT)/build/bench/unique.txt $(ROOT)/build/bench/dup90.txt
	@echo
	@echo "Against the do-nothing server (the floor the throughput targets use):"
	@echo "| run | baseline requests/s | fractal requests/s | ratio | baseline server µs/req | fractal server µs/req | CPU ratio | fractal p99 ms |"
	@echo "|---|---|---|---|---|---|---|---|"
	@sed -n 's/^table //p' $(ROOT)/build/bench/unique.txt $(ROOT)/build/bench/dup90.txt
	@grep -h '^ratio ' $(ROOT)/build/bench/unique.txt $(ROOT)/build/bench/dup90.txt
