# Cross-SDK end-to-end tests (e2e/): Python, Node, Go and Kotlin agents against the real
# server binary and a scripted loopback server. Uses the Python wheel, the Node
# addon, the Go agent and the Kotlin agent built by the SDKs' own targets.

E2E_VENV := $(ROOT)/build/venv-e2e

TEST_TARGETS += test-e2e
.PHONY: test-e2e

$(E2E_VENV)/.ready: wheel-python
	rm -rf $(E2E_VENV)
	$(PYTHON) -m venv $(E2E_VENV)
	$(E2E_VENV)/bin/pip install --quiet --disable-pip-version-check $(PY_WHEELS)/fractal_lba-*.whl "pytest>=8,<10"
	touch $@

test-e2e: build build-node e2e-agent-go e2e-agent-kotlin $(E2E_VENV)/.ready ## Cross-SDK end-to-end: dedup across SDKs, cross-signing, retries, timeouts.
	$(E2E_VENV)/bin/pip install --quiet --disable-pip-version-check --force-reinstall --no-deps $(PY_WHEELS)/fractal_lba-*.whl
	cd $(ROOT)/e2e && $(E2E_VENV)/bin/python -m pytest -p no:cacheprovider -q .
