"""Benchmark 6: a long run of the real daemon — memory, threads, file descriptors.

``safetyd run`` as a subprocess with one camera (the demo clip, looped and
paced at 10 fps, a person in view most of the time, so the model runs nearly
every frame and incidents keep opening and clearing). Every 10 s the process's
resident memory, thread count and open file descriptors are read from /proc.
The first minutes are warm-up (model, caches, SQLite pages); growth is
measured from the end of the warm-up to the end of the run.
"""

from __future__ import annotations

import subprocess
import sys
import time

from common import ROOT, Result, log, median
from daemon import demo_daemon


def run(quick: bool = False, minutes: float = 30.0) -> Result:
    minutes = 2.0 if quick else minutes
    warmup_s = 30.0 if quick else 180.0
    with demo_daemon("safetyd-soak-") as daemon:
        samples = []
        end = time.monotonic() + minutes * 60
        log(f"soak: {minutes:.0f} min of the daemon (pid {daemon.proc.pid}), sampling every 10 s")
        while time.monotonic() < end and daemon.proc.poll() is None:
            samples.append(daemon.sample())
            time.sleep(10)
        daemon.proc.terminate()
        code = daemon.proc.wait(30)
        incidents = subprocess.run(
            [sys.executable, "-m", "safetyd", "events", "--config", str(daemon.config), "--json"],
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
