"""Benchmark: memory under mixed use of the real daemon (the round-2 attack's soak).

``safetyd run`` as a subprocess on the looped demo camera, with the console, a
real Mosquitto (tests/mqtt_broker.py: passwords and an ACL) and MQTT events.
While it runs, a driver does what a busy shift does, bounded in count and time:

* a zone save in the console's editor every 5 s (warn_distance toggled; the
  daemon's reload swaps the zones in), with the version it started from;
* a floor calibration save every 20 s (two sets of marks in turn: the camera
  restarts with its new settings);
* two live views (server-sent events) that each stay 8 s, leave and come back;
* an MQTT command every 2 s (``status``, a snooze, an ``ack`` of an unknown code);
* a SIGHUP reload every 30 s.

The daemon's resident memory, threads and open files are read from /proc every
10 s; growth is measured from the end of the warm-up to the end of the run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from common import FIXTURES, ROOT, Result, log, median
from daemon import Daemon
from mqtt_broker import Broker, need_mosquitto, password
from recipients import GROUPS_TOML
from streams import free_port

EXTRA_ENV: dict[str, str] = {}  # for experiments (MALLOC_ARENA_MAX...)
ENGINEER = ("erin", "engineer-pass-1")
MARKS = (
    ([[100, 340], [540, 340], [420, 150], [220, 150]], [[0, 0], [6, 0], [6, 10], [0, 10]]),
    ([[100, 340], [540, 340], [430, 150], [210, 150]], [[0, 0], [6, 0], [6, 11], [0, 11]]),
)


def _config(tmp: Path, broker: Broker, http: int, console: int) -> Path:
    shutil.copy(ROOT / "zones" / "press-cell.geojson", tmp / "press.geojson")
    path = tmp / "safetyd.toml"
    path.write_text(f"""
[site]
name = "Soak plant"
timezone = "UTC"

[[cameras]]
id = "press-line"
source = "{FIXTURES / "walk-in.mp4"}"
loop = true
fps = 10
width = 640
height = 360
zones = ["press.geojson"]

[alerts]
sinks = ["log", "mqtt"]
{GROUPS_TOML}
[storage]
state_dir = "{tmp / "state"}"

[http]
port = {http}

[console]
enabled = true
port = {console}
users_file = "{tmp / "users.json"}"

[mqtt]
url = "{broker.url}"
username_credential = "mqtt-user"
password_credential = "mqtt-password"
box = "box-a"
""")
    add = subprocess.run(
        [sys.executable, "-m", "safetyd", "user", "add", ENGINEER[0], "--role", "engineer",
         "--users-file", str(tmp / "users.json"), "--password-stdin"],
        input=ENGINEER[1] + "\n", capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert add.returncode == 0, add.stderr
    return path


class Console:
    """A logged-in engineer (cookies, the CSRF token)."""

    def __init__(self, base: str) -> None:
        import http.cookiejar

        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        page = self.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page)[1]
        form = f"csrf={token}&name={ENGINEER[0]}&password={ENGINEER[1]}".encode()
        self.opener.open(urllib.request.Request(base + "/login", data=form), timeout=30).read()
        self.csrf = re.search(r'name="csrf" value="([^"]+)"', self.get("/"))[1]

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=30) as r:
            return r.read().decode()

    def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> int:
        req = urllib.request.Request(
            self.base + path, data=body, method="POST",
            headers={"X-CSRF-Token": self.csrf, **(headers or {})},
        )  # fmt: skip
        try:
            with self.opener.open(req, timeout=60) as r:
                return r.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def save_zones(self, warn: int) -> int:
        with self.opener.open(self.base + "/zones/press-line/file/0", timeout=30) as r:
            version, doc = r.headers["ETag"], json.loads(r.read())
        doc["features"][0]["properties"]["warn_distance"] = warn
        return self.post("/zones/press-line/0/save", json.dumps(doc).encode(),
                         {"Content-Type": "application/geo+json", "If-Match": version})  # fmt: skip

    def save_calibration(self, k: int) -> int:
        image, floor = MARKS[k % 2]
        body = json.dumps({"image_points": image, "floor_points": floor}).encode()
        return self.post("/calibration/press-line/save", body)

    def view(self, seconds: float) -> None:
        """A live view that stays a while and leaves (reads the event stream)."""
        end = time.monotonic() + seconds
        with contextlib.suppress(OSError), self.opener.open(self.base + "/stream", timeout=15) as r:
            while time.monotonic() < end:
                if not r.readline():
                    break


def _start(config: Path, tmp: Path) -> subprocess.Popen:
    env = {**os.environ, "MQTT_USER": "box-a", "MQTT_PASSWORD": password("box-a"), **EXTRA_ENV}
    with open(tmp / "daemon.log", "wb") as errlog:
        return subprocess.Popen(
            [sys.executable, "-m", "safetyd", "run", "--config", str(config),
             "--log-level", "warning"],
            stdout=subprocess.DEVNULL, stderr=errlog, cwd=ROOT, env=env,
        )  # fmt: skip


def _ready(console: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        with contextlib.suppress(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{console}/login", timeout=2).read()
            return
        time.sleep(1)
    raise RuntimeError("the daemon's console did not come up")


def run(quick: bool = False, minutes: float = 30.0) -> Result:
    need_mosquitto()
    minutes = 3.0 if quick else minutes
    # Warm-up: the first half of the run. RSS climbs for the first ten minutes or so
    # (every camera restart loads and frees pose models until the allocator's arenas
    # reach their high-water mark) and is flat after that; growth is measured over
    # the second half, and the whole series is published with it.
    warmup_s = 60.0 if quick else max(300.0, minutes * 30.0)
    counts = {"zone saves": 0, "calibration saves": 0, "views": 0, "mqtt commands": 0,
              "reloads": 0}  # fmt: skip
    refused: list[str] = []
    with tempfile.TemporaryDirectory(prefix="safetyd-mixed-") as name:
        tmp = Path(name)
        broker = Broker(tmp / "broker").start()
        http, console = free_port(), free_port()
        config = _config(tmp, broker, http, console)
        proc = _start(config, tmp)
        daemon = Daemon(proc, config, http)
        stop = threading.Event()
        try:
            _ready(console, proc)
            c = Console(f"http://127.0.0.1:{console}")

            def viewer() -> None:
                while not stop.is_set():
                    Console(c.base).view(8.0)
                    counts["views"] += 1

            viewers = [threading.Thread(target=viewer, daemon=True) for _ in range(2)]
            for t in viewers:
                t.start()
            operator = broker.client("operator")
            cmd = "safetyd/soak-plant/box-a/cmd"
            samples, start = [], time.monotonic()
            end = start + minutes * 60
            k = 0
            while time.monotonic() < end and proc.poll() is None:
                now = time.monotonic() - start
                if k % 5 == 0:  # every 10 s (a step is 2 s)
                    samples.append(daemon.sample())
                command = (
                    {"command": "status"},
                    {"command": "snooze", "zone": "press-3-guard", "until": "5m",
                     "reason": "soak", "by": "bench"},
                    {"command": "ack", "incident": "FFFF", "by": "bench"},
                )[k % 3]  # fmt: skip
                operator.publish(cmd, json.dumps({**command, "id": f"s{k}"}))
                counts["mqtt commands"] += 1
                if k % 3 == 0:
                    code = c.save_zones(40 + 5 * (k % 2))
                    counts["zone saves"] += 1
                    if code != 200:
                        refused.append(f"zone save {code} at {now:.0f} s")
                if k % 10 == 5:
                    code = c.save_calibration(k // 10)
                    counts["calibration saves"] += 1
                    if code != 200:
                        refused.append(f"calibration save {code} at {now:.0f} s")
                if k % 15 == 7:
                    proc.send_signal(signal.SIGHUP)
                    counts["reloads"] += 1
                k += 1
                time.sleep(max(0.0, start + 2 * k - time.monotonic()))
        finally:
            stop.set()
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(60)
            broker.stop()
        code = proc.returncode
    steady = [s for s in samples if s["t"] - samples[0]["t"] >= warmup_s]
    head, tail = steady[:3], steady[-3:]
    growth = median([s["rss_mb"] for s in tail]) - median([s["rss_mb"] for s in head])
    early = [s for s in samples if s["t"] - samples[0]["t"] >= 300.0][:3]
    climb = median([s["rss_mb"] for s in tail]) - median([s["rss_mb"] for s in early])
    threads = sorted({s["threads"] for s in steady})
    fds = sorted({s["fds"] for s in steady})
    # Bounded, not constant: a camera restarting (every calibration save) has its old
    # and new threads for a moment. Bounded means the last samples hold no more than
    # the first after the warm-up.
    third = max(1, len(steady) // 3)

    def most(key: str, part: list[dict]) -> int:
        return max(s[key] for s in part)

    bounded = all(
        most(key, steady[-third:]) <= most(key, steady[:third]) + 2 for key in ("threads", "fds")
    )
    log(f"mixed soak: {counts}, RSS growth {growth:+.1f} MB, threads {threads}, fds {fds}")
    return Result(
        key="mixed-soak",
        title=f"Mixed-use soak ({minutes:.0f} min: console saves, live views, MQTT, reloads)",
        target="RSS growth ≤ 20 MB after warm-up; threads and fds bounded; every save applied",
        measured=f"RSS {median([s['rss_mb'] for s in head]):.0f} → "
        f"{median([s['rss_mb'] for s in tail]):.0f} MB ({growth:+.1f} MB); threads "
        f"{threads[0]}–{threads[-1]}; fds {fds[0]}–{fds[-1]}; "
        + ", ".join(f"{v} {k}" for k, v in counts.items()),
        passed=growth <= 20 and not refused and code == 0 and bounded,
        notes=[
            f"{len(samples)} samples every 10 s; warm-up {warmup_s:.0f} s (the first half) "
            "excluded; growth between the medians of the first three and the last three "
            f"samples after it. From the end of the fifth minute instead: {climb:+.1f} MB "
            "(the climb of the first minutes, see the series below).",
            f"Threads and fds bounded: {'yes' if bounded else 'NO'} (the last third of the "
            "samples holds no more than the first third, give or take 2: a camera restarting "
            "has its old and new threads for a moment).",
            f"SIGTERM exit code {code}; saves not applied: {refused or 'none'}.",
            "RSS by minute: " + ", ".join(f"{s['rss_mb']:.0f}" for s in samples[::6]) + " MB.",
        ],
        data={"samples": samples, "growth_mb": growth, "counts": counts},
    )
