# Python SDK (bindings/python): one abi3 wheel built by maturin from the shared
# target dir, installed into a fresh virtual environment and tested from outside
# the source tree, so the suite sees exactly what `pip install` gives a user.

PYTHON ?= python3
PY_DIR := $(ROOT)/bindings/python
PY_BUILD_VENV := $(ROOT)/build/venv-build
PY_TEST_VENV := $(ROOT)/build/venv-test
PY_WHEELS := $(ROOT)/build/wheels
PIP_FLAGS := --quiet --disable-pip-version-check
PY_TEST_DEPS := "pytest>=8,<10" "hypothesis>=6.100,<7" "mypy>=1.10,<2"

TEST_TARGETS += test-python
.PHONY: wheel-python test-python bench-python example-python

$(PY_BUILD_VENV)/.maturin:
	rm -rf $(PY_BUILD_VENV)
	$(PYTHON) -m venv $(PY_BUILD_VENV)
	$(PY_BUILD_VENV)/bin/pip install $(PIP_FLAGS) "maturin>=1.9.4,<2"
	touch $@

wheel-python: $(PY_BUILD_VENV)/.maturin ## Build the fractal-lba abi3 wheel (release, shared target dir) into build/wheels.
	rm -f $(PY_WHEELS)/fractal_lba-*.whl
	cd $(PY_DIR) && $(PY_BUILD_VENV)/bin/maturin build --release --out $(PY_WHEELS)

# The client tests also run against the real server when $(FRACTAL) is built (it is
# in `make test`: test-server builds it first); without it they say they skipped.
test-python: wheel-python ## Python SDK: fresh venv + the wheel, then pytest (golden, properties, threads, client), mypy and stubtest.
	rm -rf $(PY_TEST_VENV)
	$(PYTHON) -m venv $(PY_TEST_VENV)
	$(PY_TEST_VENV)/bin/pip install $(PIP_FLAGS) $(PY_WHEELS)/fractal_lba-*.whl $(PY_TEST_DEPS)
	tmp=$$(mktemp -d) && cd $$tmp && \
	  FRACTAL_BIN=$(FRACTAL) $(PY_TEST_VENV)/bin/python -m pytest -rs -p no:cacheprovider --import-mode=importlib \
	    --rootdir=$(PY_DIR)/tests -q $(PY_DIR)/tests && \
	  cd / && rm -rf $$tmp

bench-python: wheel-python ## Python SDK benchmark table: sign/verify, single and batch, vs pure Python.
	test -x $(PY_TEST_VENV)/bin/python || $(PYTHON) -m venv $(PY_TEST_VENV)
	$(PY_TEST_VENV)/bin/pip install $(PIP_FLAGS) --force-reinstall --no-deps $(PY_WHEELS)/fractal_lba-*.whl
	cd /tmp && $(PY_TEST_VENV)/bin/python $(PY_DIR)/bench/bench.py

example-python: wheel-python ## Python example: build, sign and submit a record to the server of `make run` (start it first).
	test -x $(PY_TEST_VENV)/bin/python || $(PYTHON) -m venv $(PY_TEST_VENV)
	$(PY_TEST_VENV)/bin/pip install $(PIP_FLAGS) --force-reinstall --no-deps $(PY_WHEELS)/fractal_lba-*.whl
	$(PY_TEST_VENV)/bin/python $(PY_DIR)/examples/submit.py http://$(SERVER_LISTEN)
