"""Benchmark 6: a long run of the real daemon — memory, threads, file descriptors.

``safetyd run`` as a subprocess with one camera (the demo clip, looped and
paced at 10 fps, a person in view most of the time, so the model runs nearly
every frame and incidents keep opening and clearing). Every 10 s the process's
resident memory, thread count and open file descriptors are read from /proc.
The first minutes are warm-up (model, caches, SQLite pages); growth is
measured from the end of the warm-up to the end of the run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import FIXTURES, ROOT, Result, log, median
from recipients import GROUPS_TOML
from streams import free_port


def sample(pid: int) -> dict:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1])
    return {
        "t": time.monotonic(),
        "rss_mb": rss / 1024,
        "threads": len(os.listdir(f"/proc/{pid}/task")),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
    }


def run(quick: bool = False, minutes: float = 30.0) -> Result:
    minutes = 2.0 if quick else minutes
    warmup_s = 30.0 if quick else 180.0
    with tempfile.TemporaryDirectory(prefix="safetyd-soak-") as name:
        tmp = Path(name)
        config = tmp / "safetyd.toml"
        config.write_text(f"""
[[cameras]]
id = "press-line"
source = "{FIXTURES / "walk-in.mp4"}"
loop = true
fps = 10
zones = ["{ROOT / "zones" / "press-cell.geojson"}"]
[alerts]
sinks = ["log"]
{GROUPS_TOML}[storage]
state_dir = "{tmp / "state"}"
[http]
port = {free_port()}
""")
        with open(tmp / "daemon.log", "wb") as errlog:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "safetyd",
                    "run",
                    "--config",
                    str(config),
                    "--log-level",
                    "error",
                ],
                stdout=subprocess.DEVNULL,
                stderr=errlog,
                cwd=ROOT,
            )
            samples = []
            end = time.monotonic() + minutes * 60
            log(f"soak: {minutes:.0f} min of the daemon (pid {proc.pid}), sampling every 10 s")
            try:
                while time.monotonic() < end and proc.poll() is None:
                    samples.append(sample(proc.pid))
                    time.sleep(10)
            finally:
                proc.send_signal(signal.SIGTERM)
                code = proc.wait(30)
        incidents = subprocess.run(
            [sys.executable, "-m", "safetyd", "events", "--config", str(config), "--json"],
            capture_output=True,
            text=True,
            cwd=ROOT,
        ).stdout.count('"event":"opened"')
    start = samples[0]["t"]
    steady = [s for s in samples if s["t"] - start >= warmup_s]
    head, tail = steady[:3], steady[-3:]
    growth = median([s["rss_mb"] for s in tail]) - median([s["rss_mb"] for s in head])
    threads = {s["threads"] for s in steady}
    fds = {s["fds"] for s in steady}
    ok = growth <= 20 and len(threads) == 1 and len(fds) == 1 and code == 0
    log(
        f"soak: RSS {head[0]['rss_mb']:.0f} -> {tail[-1]['rss_mb']:.0f} MB, threads {threads}, "
        f"fds {fds}"
    )
    return Result(
        key="soak",
        title=f"Soak ({minutes:.0f} min, one camera)",
        target="RSS growth ≤ 20 MB after warm-up; no thread or fd growth",
        measured=f"RSS {median([s['rss_mb'] for s in head]):.0f} → "
        f"{median([s['rss_mb'] for s in tail]):.0f} MB ({growth:+.1f} MB); threads "
        f"{sorted(threads)}; fds {sorted(fds)}",
        passed=ok,
        notes=[
            f"{len(samples)} samples every 10 s; warm-up {warmup_s:.0f} s excluded; growth "
            "between the medians of the first three and the last three samples after it.",
            f"{incidents} incidents opened during the run; SIGTERM exit code {code}.",
            "RSS by minute: " + ", ".join(f"{s['rss_mb']:.0f}" for s in samples[::6]) + " MB.",
        ],
        data={"samples": samples, "growth_mb": growth},
    )
