"""Run the real daemon as a subprocess, the way systemd does.

``NotifyListener`` is the systemd side of sd_notify: an abstract (or path)
AF_UNIX datagram socket collecting READY=1, WATCHDOG=1, STATUS=… messages.
``DaemonProcess`` writes a configuration, starts ``python -m safetyd run`` with
``NOTIFY_SOCKET``/``WATCHDOG_USEC`` set, and offers HTTP and log helpers.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from conftest import FIXTURES, ROOT, SAFETYD
from fake_twilio import ACCOUNT_SID, AUTH_TOKEN
from recipients import GROUPS_TOML
from streams import free_port

PRESS_ZONES = ROOT / "zones" / "press-cell.geojson"


class NotifyListener:
    def __init__(self, abstract: bool = True, directory: Path | None = None) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"safetyd-test-{uuid.uuid4().hex}"
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            assert directory is not None
            path = directory / "notify.sock"
            self.sock.bind(str(path))
            self.address = str(path)
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []
        self._stop = False
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        while not self._stop:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.messages.append((time.monotonic(), data.decode()))

    def fields(self, since: int = 0) -> list[tuple[float, str]]:
        out = []
        for at, msg in self.messages[since:]:
            out += [(at, line) for line in msg.splitlines()]
        return out

    def wait_for(self, prefix: str, timeout: float, since: int = 0) -> tuple[float, str]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for at, line in self.fields(since):
                if line.startswith(prefix):
                    return at, line
            time.sleep(0.05)
        raise AssertionError(f"no {prefix!r} within {timeout}s; got {self.fields(since)}")

    def close(self) -> None:
        self._stop = True
        self.sock.close()


def config_text(
    tmp: Path,
    http_port: int,
    twilio_url: str | None,
    cameras: str,
    extra: str = "",
    sinks: str | None = None,
) -> str:
    twilio = (
        f"""
[alerts.twilio]
from_number = "+15555550100"
api_base_url = "{twilio_url}"
timeout_s = 5
"""
        if twilio_url
        else ""
    )
    sinks = sinks or ('["log", "sms"]' if twilio_url else '["log"]')
    return f"""
[site]
name = "Test plant"
timezone = "UTC"
{cameras}
[alerts]
sinks = {sinks}
system_recipients = ["maintenance"]
escalate_after_s = 300
{GROUPS_TOML}[alerts.groups.maintenance]
numbers = ["+15555550131"]
{twilio}
[alerts.delivery]
backoff_initial_s = 0.3
backoff_max_s = 2

[storage]
state_dir = "{tmp / "state"}"

[http]
port = {http_port}
{extra}
"""


def press_camera(stale_after_s: float = 3.0, zones: str = "press.geojson") -> str:
    return f"""
[[cameras]]
id = "press-line"
source = "{FIXTURES / "walk-in.mp4"}"
loop = true
fps = 10
width = 640
height = 360
stale_after_s = {stale_after_s}
zones = ["{zones}"]
"""


def stream_camera(url: str, stale_after_s: float = 3.0, zones: str = "yard.geojson") -> str:
    return f"""
[[cameras]]
id = "yard"
source = "{url}"
fps = 10
width = 320
height = 240
stale_after_s = {stale_after_s}
zones = ["{zones}"]
"""


YARD_ZONES = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {
                "id": "yard-lane",
                "name": "Yard lane",
                "body_parts": ["feet"],
                "warn_distance": 10,
                "recipients": {"danger": ["operators"]},
            },
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[200, 150], [320, 150], [320, 240], [200, 240], [200, 150]]],
            },
        }
    ],
}


class DaemonProcess:
    def __init__(
        self,
        tmp: Path,
        cameras: str,
        twilio_url: str | None = None,
        extra: str = "",
        abstract: bool = True,
        env: dict | None = None,
        sinks: str | None = None,
    ) -> None:
        self.tmp = tmp
        self.http_port = free_port()
        self.config = tmp / "safetyd.toml"
        shutil.copy(PRESS_ZONES, tmp / "press.geojson")
        (tmp / "yard.geojson").write_text(json.dumps(YARD_ZONES))
        self.config.write_text(config_text(tmp, self.http_port, twilio_url, cameras, extra, sinks))
        self.notify = NotifyListener(abstract=abstract, directory=tmp)
        self.log_path = tmp / "daemon.log"
        self.extra_env = env or {}
        self.proc: subprocess.Popen | None = None

    def start(self, watchdog_usec: int = 2_000_000) -> DaemonProcess:
        env = {
            **os.environ,
            "NOTIFY_SOCKET": self.notify.address,
            "WATCHDOG_USEC": str(watchdog_usec),
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "GLOG_minloglevel": "2",
            **self.extra_env,
        }
        # The log reaches its file through a pipe and this process: a daemon whose own
        # file writes fail (a full disk, simulated with RLIMIT_FSIZE) still logs.
        self.proc = subprocess.Popen(
            [*SAFETYD, "run", "--config", str(self.config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            stdin=subprocess.DEVNULL,
        )
        self._pump = threading.Thread(target=self._copy_log, args=(self.proc,), daemon=True)
        self._pump.start()
        return self

    def _copy_log(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        with open(self.log_path, "ab") as out:
            for line in proc.stdout:
                out.write(line)
                out.flush()

    def _close_log(self) -> None:
        if getattr(self, "_pump", None) is not None:
            self._pump.join(10)

    def wait_ready(self, timeout: float = 60, since: int = 0) -> float:
        return self.notify.wait_for("READY=1", timeout, since)[0]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, text: str, timeout: float, start: int = 0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if text in self.log()[start:]:
                return True
            if self.proc and self.proc.poll() is not None:
                return text in self.log()[start:]
            time.sleep(0.1)
        return False

    def get(self, path: str) -> tuple[int, bytes]:
        url = f"http://127.0.0.1:{self.http_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def signal(self, sig: int = signal.SIGHUP) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 15) -> int | None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.notify.close()
        self._close_log()
        return self.proc.returncode if self.proc else None

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)
        self._close_log()


def state_rows(tmp: Path, sql: str) -> list[dict]:
    """Rows of the daemon's database, read-only, while it runs or after it stopped."""
    db = sqlite3.connect(f"file:{tmp / 'state' / 'safetyd.db'}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute(sql)]
    finally:
        db.close()


def sms_rows(tmp: Path) -> list[dict]:
    return state_rows(tmp, "SELECT * FROM outbox WHERE sink = 'sms'")


def metric(text: str, name: str) -> float | None:
    """A label-less sample's value from a Prometheus text page (None when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return sample.value
    return None


def silent_sockets(port: int, n: int) -> list[socket.socket]:
    """n connections that send a request line and then nothing (slow clients)."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /healthz HTTP/1.1\r\n")
        socks.append(s)
    return socks


def closed_by_peer(socks: list[socket.socket], timeout: float) -> int:
    """How many of these sockets the server closes within ``timeout`` s each; closes all."""
    closed = 0
    for s in socks:
        s.settimeout(timeout)
        try:
            closed += s.recv(100) == b""
        except OSError:
            closed += 1
        s.close()
    return closed


class Drippers:
    """``n`` slow clients (the round-2 attack): each sends one byte of a request every
    ``every_s`` seconds, so it is never idle, and reconnects when the server closes
    it. Runs in a thread until ``stop()``; counts the closes it saw."""

    REQUEST = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 4000

    def __init__(self, port: int, n: int, every_s: float = 5.0) -> None:
        self.port, self.n, self.every_s = port, n, every_s
        self.closed = 0
        self.connects = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="drippers", daemon=True)

    def start(self) -> Drippers:
        self._thread.start()
        return self

    def _connect(self) -> tuple[socket.socket, int] | None:
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=2)
        except OSError:
            return None
        s.setblocking(False)
        self.connects += 1
        return s, 0

    def _run(self) -> None:
        import select

        socks = [c for c in (self._connect() for _ in range(self.n)) if c]
        next_drip = time.monotonic()
        while not self._stop.is_set():
            readable, _, _ = select.select([s for s, _ in socks], [], [], 0.2)
            gone = set()
            for s in readable:
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    gone.add(s)
            if time.monotonic() >= next_drip:
                next_drip += self.every_s
                for s, sent in socks:
                    if s in gone:
                        continue
                    k = sent % len(self.REQUEST)
                    try:
                        s.send(self.REQUEST[k : k + 1])
                    except OSError:
                        gone.add(s)
                socks = [(s, sent + 1) for s, sent in socks]
            if gone:
                self.closed += len(gone)
                for s in gone:
                    s.close()
                socks = [(s, k) for s, k in socks if s not in gone]
                socks += [c for c in (self._connect() for _ in gone) if c]
        for s, _ in socks:
            s.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
