"""The shipped stubs: mypy accepts typed use, rejects misuse, and stubtest finds the
stub faithful to the compiled module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _mypy(path: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), str(path)],
        capture_output=True, text=True, cwd=tmp_path, check=False,
    )


def test_mypy_accepts_typed_usage(tmp_path: Path) -> None:
    res = _mypy(HERE / "typed_usage.py", tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr


def test_mypy_rejects_each_misuse(tmp_path: Path) -> None:
    src = (HERE / "typed_misuse.py").read_text(encoding="utf-8").splitlines()
    marked = {i + 1 for i, line in enumerate(src) if line.rstrip().endswith("# E")}
    res = _mypy(HERE / "typed_misuse.py", tmp_path)
    flagged = {int(line.split(":")[1]) for line in res.stdout.splitlines() if ": error:" in line}
    assert flagged == marked, res.stdout


def test_stubtest(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "mypy.stubtest", "fractal_lba._native"],
                         capture_output=True, text=True, cwd=tmp_path, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
