"""The benchmark scripts still run (a quick smoke run; no timing is asserted here:
figures are measured by `python -m bench` and published in docs/BENCHMARKS.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def test_zone_benchmark_runs_and_writes_its_report(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "zones", "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "benchmarks.json").read_text())
    zones = report["results"]["zones"]
    assert zones["data"]["ratio"] > 1 and zones["machine"]["cores"] >= 1
    text = (tmp_path / "BENCHMARKS.md").read_text()
    assert "| 1 | Zone engine (10 tracks × 33 landmarks × 200 zones) |" in text
    assert "**Machine**" in text


def test_unknown_benchmark_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "nope", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 2 and "unknown benchmark(s) ['nope']" in result.stderr
