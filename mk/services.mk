# Shared-store services: three PostgreSQL shards (the third, c, for the shard
# migration test), Redis, SeaweedFS S3 on loopback, for the store tests and bench-stores. `make run` needs none of them.

SERVICES := $(ROOT)/scripts/services.sh
STORES_REQUESTS ?= 20000

# `make test` runs these tests in test-server (the whole server crate, which has
# `services` as a prerequisite); test-stores runs only them.
.PHONY: services services-stop test-stores test-migrate test-regions bench-stores

services: ## Install (apt/PyPI when missing) and start 3 PostgreSQL shards, Redis and S3 on loopback; addresses in build/services.env.
	$(SERVICES) start

services-stop: ## Stop the services that `make services` started.
	$(SERVICES) stop

test-stores: build services ## Shared stores against the real services: replicas racing, kill -9, a shard down, Redis flush, cold tier, TTL.
	$(CARGO) test --release --locked -p fractal-server --test stores

test-regions: build services ## Two regions over one S3 endpoint (SPEC §10): convergence, partition and heal, kill -9 failover, the geo runbooks.
	$(CARGO) test --release --locked -p fractal-server --test regions

test-migrate: build services ## Shard migration under load: grow 2→3 and shrink 3→2 PostgreSQL shards with fractal dedup-migrate.
	$(CARGO) test --release --locked -p fractal-server --test migrate

bench-stores: build services ## Load: one replica embedded, one over PostgreSQL, two replicas over two shards (STORES_REQUESTS each).
	$(ROOT)/scripts/bench-stores.sh $(FRACTAL) $(FRACTAL_LOAD) $(STORES_REQUESTS)
