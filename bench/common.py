"""What every benchmark shares: the machine, statistics, results, the report."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
SHARED_FOOTAGE = ROOT.parent / "shared" / "footage"
sys.path.insert(0, str(ROOT / "tests"))  # the fake Twilio, stream servers, recipients


@dataclass
class Result:
    key: str
    title: str
    target: str
    measured: str
    passed: bool | None  # None: reported, no target
    notes: list[str] = field(default_factory=list)
    data: dict = field(default_factory=dict)
    when: str = field(default_factory=lambda: time.strftime("%Y-%m-%d %H:%M"))


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict:
    versions = {}
    for dist in ("safetyd", "mediapipe", "opencv-contrib-python", "numpy", "shapely", "scipy"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "-"
    return {
        "date": time.strftime("%Y-%m-%d"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "versions": versions,
    }


def median(values) -> float:
    return float(statistics.median(values))


def percentile(values, q: float) -> float:
    data = sorted(values)
    if not data:
        return float("nan")
    k = (len(data) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(data) - 1)
    return float(data[lo] + (data[hi] - data[lo]) * (k - lo))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {"results": {}}


def save(path: Path, report: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1) + "\n")


def record(report: dict, result: Result, mach: dict) -> None:
    report["results"][result.key] = {**asdict(result), "machine": mach}


ORDER = [
    "overhead", "latency", "zones", "gating", "cameras", "soak", "mixed-soak", "http", "http-slow",
    "perception", "crowd", "regions-cost", "phantoms", "trap", "lead", "plantio", "mqtt-latency",
    "mqtt-throughput",
    "mqtt-fleet", "clips", "down", "body-cost", "posture-angles",
]  # fmt: skip
HOW = "`.venv/bin/python -m bench` (all), or `-m bench --only NAME[,NAME]`"


def markdown(report: dict) -> str:
    results = [report["results"][k] for k in ORDER if k in report["results"]]
    lines = [
        "# Benchmarks",
        "",
        f"Measured with {HOW}; the script rewrites this file (and `benchmarks.json`).",
        "Ratios are measured in one run against a baseline run side by side, interleaved; "
        "absolute times on a shared or virtual machine drift from run to run, so the ratios "
        "are the steadier figures.",
        "Targets are those of the benchmark issue; a miss is reported as a miss.",
        "",
    ]
    machines = {json.dumps(r["machine"], sort_keys=True) for r in results}
    for m in (json.loads(x) for x in sorted(machines)):
        v = m["versions"]
        lines += [
            f"**Machine** ({m['date']}): {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, "
            f"{m['os']}; Python {m['python']}, safetyd {v['safetyd']}, mediapipe "
            f"{v['mediapipe']}, OpenCV {v['opencv-contrib-python']}, numpy {v['numpy']}, "
            f"shapely {v['shapely']}.",
            "",
        ]
    lines += ["| # | benchmark | target | measured | result | when |", "|---|---|---|---|---|---|"]
    for i, r in enumerate(results, 1):
        verdict = {True: "met", False: "**MISSED**", None: "reported"}[r["passed"]]
        lines.append(
            f"| {i} | {r['title']} | {r['target']} | {r['measured']} | {verdict} | {r['when']} |"
        )
    lines.append("")
    for r in results:
        lines += [f"## {r['title']}", ""]
        lines += [f"- {n}" for n in r["notes"]]
        lines.append("")
    return "\n".join(lines)
