"""Writes standalone Kubernetes JSON schemas for kubeconform, offline.

kubeconform downloads its schemas from the internet by default, which the build
machines cannot reach. The PyPI package `kubernetes-validate` ships the schemas of
every Kubernetes minor version, but in a "local" layout: each kind's file refers to
a shared `/api/_definitions.json`, which kubeconform cannot resolve. This script
turns the files of the kinds a manifest uses into kubeconform's standalone layout
(`<dir>/v<version>-standalone-strict/<kind>-<group>-<version>.json`, every reachable
definition copied in, `$ref`s rewritten to `#/$defs/...`).

Usage: k8s_schemas.py KUBE_VERSION OUT_DIR MANIFEST...
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import kubernetes_validate
import yaml

SOURCE = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
# A kind's file refers to the shared file; definitions refer to each other in it.
PREFIXES = ("/api/_definitions.json#/$defs/", "#/$defs/")


def file_name(kind: str, api_version: str) -> str:
    """kubeconform's `{{ .ResourceKind }}{{ .KindSuffix }}.json`."""
    group, _, version = api_version.rpartition("/")
    suffix = f"-{group.split('.')[0]}-{version}" if group else f"-{version}"
    return f"{kind.lower()}{suffix.lower()}.json"


def standalone(schema: dict, defs: dict) -> dict:
    needed: dict[str, object] = {}

    def rewrite(node: object) -> object:
        if isinstance(node, dict):
            out = {}
            for k, v in node.items():
                if k == "$ref" and isinstance(v, str) and v.startswith(PREFIXES):
                    name = v.split("#/$defs/", 1)[1]
                    if name not in needed:
                        needed[name] = None
                        needed[name] = rewrite(defs[name])
                    out[k] = "#/$defs/" + name
                else:
                    out[k] = rewrite(v)
            return out
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        return node

    result = rewrite(schema)
    assert isinstance(result, dict)
    result.pop("$id", None)
    # kubeconform compiles with draft 4 semantics; `$ref`s are plain JSON pointers.
    result.pop("$schema", None)
    result["$defs"] = needed
    return result


def main() -> int:
    version, out_dir, *manifests = sys.argv[1:]
    src = SOURCE / f"v{version}-local-strict"
    if not src.is_dir():
        raise SystemExit(f"kubernetes-validate has no schemas for Kubernetes {version}")
    defs = json.loads((src / "_definitions.json").read_text())["$defs"]
    dest = Path(out_dir) / f"v{version}-standalone-strict"
    dest.mkdir(parents=True, exist_ok=True)
    written = set()
    for manifest in manifests:
        for doc in yaml.safe_load_all(Path(manifest).read_text()):
            if not doc:
                continue
            name = file_name(doc["kind"], doc["apiVersion"])
            if name in written or not (src / name).exists():
                continue  # kinds without a core schema (CRDs) are reported by kubeconform
            schema = json.loads((src / name).read_text())
            (dest / name).write_text(json.dumps(standalone(schema, defs)))
            written.add(name)
    print(f"k8s schemas: {len(written)} kinds of Kubernetes {version} in {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
