"""Shared fixtures. The suite runs against the *installed* wheel: `make test-python`
runs pytest from a temporary directory with --import-mode=importlib, so neither
this folder nor the source package is on sys.path."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
# Relative to this file: bindings/python/tests -> repository root.
GOLDEN = HERE / ".." / ".." / ".." / "golden"
BENCH = HERE / ".." / "bench" / "bench.py"


def load_reference() -> ModuleType:
    """The pure-Python SPEC §3–4 implementation of the benchmark, as an oracle."""
    spec = importlib.util.spec_from_file_location("fractal_bench_reference", BENCH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def ref() -> ModuleType:
    return load_reference()


def sample_record() -> dict[str, Any]:
    """The seed's sample record (SPEC §3 example), written out by hand."""
    import hashlib

    merkle_root = "a" * 64
    return {
        "pcs_id": hashlib.sha256(f"{merkle_root}|1|shard-001".encode()).hexdigest(),
        "schema": "fractal-lba-kakeya",
        "version": "0.1",
        "shard_id": "shard-001",
        "epoch": 1,
        "attempt": 1,
        "sent_at": "2025-01-01T00:00:00Z",
        "seed": 42,
        "scales": [2, 4, 8, 16, 32],
        "N_j": {"2": 3, "4": 5, "8": 9, "16": 17, "32": 31},
        "coh_star": 0.73,
        "v_star": [0.12, 0.98],
        "D_hat": 1.41,
        "r": 0.87,
        "regime": "mixed",
        "budget": 0.42,
        "merkle_root": merkle_root,
        "ft": {"outbox_seq": 7, "degraded": False, "fallbacks": ["a"], "clock_skew_ms": -3},
    }


@pytest.fixture
def record() -> dict[str, Any]:
    return sample_record()


def golden_files() -> list[Path]:
    return sorted(GOLDEN.glob("*.json"))


def load_golden(name: str) -> dict[str, Any]:
    with open(GOLDEN / name, encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


def golden_cases(name: str) -> list[Any]:
    """pytest params `(group, test)` for every test of every group of a file."""
    path = GOLDEN / name
    if not path.exists():
        return [pytest.param(None, None, id=f"{name}:missing")]
    data = load_golden(name)
    return [
        pytest.param(group, test, id=f"{name}:{test['tcId']}")
        for group in data["testGroups"]
        for test in group["tests"]
    ]
