"""Renders deploy/helm/fractal with `helm template` and checks what kubeconform cannot.

kubeconform (run by make test-ops on the files this script writes) validates every
core kind against the Kubernetes schemas. This script checks that the pieces fit
together: probes on /health and /ready, the log volume mounted at the data dir,
resource requests, the Secret and ConfigMap the pod uses, selectors that select the
pod, the ServiceMonitor (a CRD kubeconform has no schema for), the refusal of
replicaCount > 1, and — with the real server — that the configuration the chart
ships loads and serves with the Secret's environment.

Usage: check_chart.py --helm BIN --fractal BIN --kube-version V --out DIR
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import signal
import subprocess
import sys
import tempfile
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "fractal"
FAILURES: list[str] = []


def expect(cond: bool, msg: str) -> None:
    if not cond:
        FAILURES.append(msg)
        print(f"FAIL: {msg}", file=sys.stderr)


def render(helm: str, kube: str, out: Path, name: str, *sets: str) -> dict[tuple[str, str], dict]:
    args = [helm, "template", "rel", str(CHART), "--kube-version", kube]
    for s in sets:
        args += ["--set", s]
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"helm template ({name}) failed: {proc.stderr}")
    (out / f"{name}.yaml").write_text(proc.stdout)
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def one(objs: dict[tuple[str, str], dict], kind: str) -> dict:
    found = [o for (k, _), o in objs.items() if k == kind]
    expect(len(found) == 1, f"expected one {kind}, found {len(found)}")
    return found[0]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_default(objs: dict[tuple[str, str], dict], monitor: bool) -> tuple[str, dict[str, str]]:
    kinds = sorted(k for k, _ in objs)
    want = ["ConfigMap", "PodDisruptionBudget", "Secret", "Service", "Service", "StatefulSet"]
    if monitor:
        want = sorted(want + ["ServiceMonitor"])
    expect(kinds == want, f"rendered kinds {kinds}, expected {want}")
    sts = one(objs, "StatefulSet")
    pod = sts["spec"]["template"]
    labels = pod["metadata"]["labels"]
    expect(selects(sts["spec"]["selector"]["matchLabels"], labels), "the StatefulSet's selector does not select its pods")
    expect(sts["spec"]["replicas"] == 1, "replicas must be 1")
    (c,) = pod["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    data_dir = env.get("FRACTAL_DATA_DIR")
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    claims = [t["metadata"]["name"] for t in sts["spec"].get("volumeClaimTemplates", [])]
    expect("data" in claims and mounts.get("data") == data_dir, "the log/store volume is not mounted at FRACTAL_DATA_DIR")
    expect(env.get("FRACTAL_LISTEN", "").endswith(":8080"), "FRACTAL_LISTEN must use the container port 8080")
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    expect(ports.get("http") == 8080, "the container must name its port 8080 `http`")
    for probe, path in [("startupProbe", "/health"), ("livenessProbe", "/health"), ("readinessProbe", "/ready")]:
        get = c.get(probe, {}).get("httpGet", {})
        expect(get.get("path") == path and get.get("port") == "http", f"{probe} must GET {path} on port http")
    req = c.get("resources", {}).get("requests", {})
    expect("cpu" in req and "memory" in req, "the container must request cpu and memory")
    psc, csc = pod["spec"].get("securityContext", {}), c.get("securityContext", {})
    expect(psc.get("runAsNonRoot") is True and psc.get("runAsUser", 0) != 0, "the pod must run as non-root")
    expect(csc.get("readOnlyRootFilesystem") is True and csc.get("allowPrivilegeEscalation") is False, "container hardening")
    expect(c["args"][:3] == ["serve", "--config", "/etc/fractal/config.toml"], "the container must serve the mounted config")
    cm = one(objs, "ConfigMap")
    vols = {v["name"]: v for v in pod["spec"]["volumes"]}
    expect(vols.get("config", {}).get("configMap", {}).get("name") == cm["metadata"]["name"], "config volume")
    expect(mounts.get("config") == "/etc/fractal" and "config.toml" in cm["data"], "config.toml mounted at /etc/fractal")
    config = tomllib.loads(cm["data"]["config.toml"])
    grace = config.get("http", {}).get("shutdown_grace_secs", 30)
    expect(pod["spec"]["terminationGracePeriodSeconds"] > grace, "terminationGracePeriodSeconds must exceed shutdown_grace_secs")
    secret = one(objs, "Secret")
    (ref,) = c["envFrom"]
    expect(ref["secretRef"]["name"] == secret["metadata"]["name"], "envFrom must name the chart's Secret")
    secret_env = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    for svc in [o for (k, _), o in objs.items() if k == "Service"]:
        expect(selects(svc["spec"]["selector"], labels), f"Service {svc['metadata']['name']} does not select the pods")
        expect(svc["spec"]["ports"][0]["targetPort"] == "http", "Services target the port named http")
    expect(
        any(o["spec"].get("clusterIP") == "None" and o["metadata"]["name"] == sts["spec"]["serviceName"]
            for (k, _), o in objs.items() if k == "Service"),
        "the StatefulSet's serviceName must be a headless Service",
    )
    pdb = one(objs, "PodDisruptionBudget")
    expect(selects(pdb["spec"]["selector"]["matchLabels"], labels), "the PodDisruptionBudget does not select the pods")
    if monitor:
        sm = one(objs, "ServiceMonitor")
        expect(sm["apiVersion"] == "monitoring.coreos.com/v1", "ServiceMonitor apiVersion")
        svc = objs[("Service", sts["metadata"]["name"])]
        expect(selects(sm["spec"]["selector"]["matchLabels"], svc["metadata"]["labels"]), "the ServiceMonitor does not select the Service")
        (ep,) = sm["spec"]["endpoints"]
        expect(ep["port"] in {p["name"] for p in svc["spec"]["ports"]} and ep["path"] == "/metrics", "ServiceMonitor endpoint")
        for part in ("username", "password"):
            ref = ep["basicAuth"][part]
            expect(ref["name"] == secret["metadata"]["name"] and ref["key"] in secret_env, f"ServiceMonitor basicAuth {part}")
    return cm["data"]["config.toml"], secret_env


def check_config_serves(fractal: str, config: str, env: dict[str, str]) -> None:
    """The shipped config and Secret start the real server; /ready answers, /metrics wants the Secret's credentials."""
    with tempfile.TemporaryDirectory(prefix="fractal-chart-") as tmp:
        cfg = Path(tmp) / "config.toml"
        cfg.write_text(config)
        proc = subprocess.Popen(
            [fractal, "serve", "--config", str(cfg), "--listen", "127.0.0.1:0", "--data-dir", f"{tmp}/data"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **env, "FRACTAL_LOG": "warn"},
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        m = re.search(r"listening on (http://\S+)", line)
        if not m:
            proc.kill()
            expect(False, f"the chart's config does not start the server: {proc.communicate()[1][-2000:]}")
            return
        url = m.group(1)

        def status(path: str, headers: dict[str, str] | None = None) -> int:
            try:
                with urllib.request.urlopen(urllib.request.Request(url + path, headers=headers or {}), timeout=10) as r:
                    return r.status
            except urllib.error.HTTPError as e:
                return e.code

        expect(status("/ready") == 200, "/ready with the chart's config")
        creds = base64.b64encode(f"{env['FRACTAL_METRICS_USERNAME']}:{env['FRACTAL_METRICS_PASSWORD']}".encode()).decode()
        expect(status("/metrics") == 401, "/metrics without credentials must be 401 with the chart's Secret")
        expect(status("/metrics", {"Authorization": f"Basic {creds}"}) == 200, "/metrics with the Secret's credentials")
        proc.send_signal(signal.SIGTERM)
        expect(proc.wait(timeout=30) == 0, "the server must stop cleanly on SIGTERM")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--helm", required=True)
    ap.add_argument("--fractal", required=True)
    ap.add_argument("--kube-version", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    kube = args.kube_version
    config, env = check_default(render(args.helm, kube, out, "default"), monitor=False)
    check_default(render(args.helm, kube, out, "monitor", "serviceMonitor.enabled=true"), monitor=True)
    ext = render(args.helm, kube, out, "existing-secret", "secrets.existingSecret=ops-keys", "serviceMonitor.enabled=true")
    expect(not any(k == "Secret" for k, _ in ext), "with existingSecret the chart must not render a Secret")
    sts = one(ext, "StatefulSet")
    expect(sts["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["secretRef"]["name"] == "ops-keys", "existingSecret in envFrom")
    sm = one(ext, "ServiceMonitor")
    expect(sm["spec"]["endpoints"][0]["basicAuth"]["password"]["name"] == "ops-keys", "existingSecret in the ServiceMonitor")
    refused = subprocess.run(
        [args.helm, "template", "rel", str(CHART), "--kube-version", kube, "--set", "replicaCount=2"],
        capture_output=True, text=True,
    )
    expect(refused.returncode != 0 and "replicaCount must be 1" in refused.stderr, "replicaCount=2 must be refused")
    check_config_serves(args.fractal, config, env)
    if FAILURES:
        print(f"chart checks: {len(FAILURES)} failed", file=sys.stderr)
        return 1
    print("chart checks: 3 renderings, probes, volume, selectors, ServiceMonitor, replicaCount guard, shipped config serves")
    return 0


if __name__ == "__main__":
    sys.exit(main())
