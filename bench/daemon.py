"""The real daemon as a subprocess for the benchmarks that measure it whole."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from common import FIXTURES, ROOT
from recipients import GROUPS_TOML
from streams import free_port


@dataclass
class Daemon:
    proc: subprocess.Popen
    config: Path
    port: int

    def sample(self) -> dict:
        """Resident memory, threads and open file descriptors, from /proc."""
        pid = self.proc.pid
        status = Path(f"/proc/{pid}/status").read_text()
        rss = int(
            next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]
        )
        return {
            "t": time.monotonic(),
            "rss_mb": rss / 1024,
            "threads": len(os.listdir(f"/proc/{pid}/task")),
            "fds": len(os.listdir(f"/proc/{pid}/fd")),
        }


@contextlib.contextmanager
def demo_daemon(prefix: str, extra: str = "") -> Iterator[Daemon]:
    """``safetyd run`` on the looped demo clip (one camera, one zone, log sink), with
    ``extra`` TOML appended; stopped with SIGTERM at the end (``proc.returncode`` then
    holds its exit code)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as name:
        tmp = Path(name)
        port = free_port()
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
port = {port}
{extra}""")
        with open(tmp / "daemon.log", "wb") as errlog:
            proc = subprocess.Popen(
                [sys.executable, "-m", "safetyd", "run", "--config", str(config),
                 "--log-level", "error"],
                stdout=subprocess.DEVNULL,
                stderr=errlog,
                cwd=ROOT,
            )  # fmt: skip
            try:
                yield Daemon(proc, config, port)
            finally:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(30)
