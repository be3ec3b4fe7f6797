"""systemd/safetyd.service: static checks, and the real unit running the real daemon
under a real (throwaway, namespaced) systemd."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT, wait_for
from fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from streams import free_port

UNIT = ROOT / "systemd" / "safetyd.service"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")
INSTALLED = "/opt/safetyd/venv/bin/safetyd"


@needs_analyze
def test_verify_prints_no_warning(tmp_path: Path) -> None:
    # verify insists that ExecStart exists; point it at this checkout's safetyd and
    # change nothing else.
    here = Path(sys.executable).parent / "safetyd"
    assert here.exists()
    unit = tmp_path / "safetyd.service"
    unit.write_text(UNIT.read_text().replace(INSTALLED, str(here)))
    result = subprocess.run([ANALYZE, "verify", str(unit)], capture_output=True, text=True)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    if not Path(INSTALLED).exists():
        shipped = subprocess.run([ANALYZE, "verify", str(UNIT)], capture_output=True, text=True)
        assert shipped.stderr.strip() == (
            f"safetyd.service: Command {INSTALLED} is not executable: No such file or directory"
        )


@needs_analyze
def test_security_exposure_is_at_most_2() -> None:
    result = subprocess.run(
        [ANALYZE, "security", "--offline=yes", str(UNIT)], capture_output=True, text=True
    )
    match = re.search(r"Overall exposure level for safetyd\.service: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match[1]) <= 2.0


def test_unit_has_the_required_directives() -> None:
    text = UNIT.read_text()
    for directive in (
        "Type=notify",
        "WatchdogSec=30",
        "Restart=on-failure",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "StateDirectory=safetyd",
        "ConfigurationDirectory=safetyd",
        "LoadCredential=twilio-auth-token:",
        "SupplementaryGroups=video",
        "DeviceAllow=char-video4linux rw",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "SystemCallFilter=@system-service",
        "RestrictAddressFamilies=",
        "MemoryDenyWriteExecute=yes",
    ):
        assert re.search(rf"^{re.escape(directive)}", text, re.M), directive
    assert not re.search(r"^PrivateDevices=", text, re.M)


# -- the real thing -------------------------------------------------------------------


def _why_no_systemd() -> str | None:
    if os.geteuid() != 0:
        return "booting a namespaced systemd needs root"
    for tool in ("unshare", "nsenter", "/lib/systemd/systemd", "/usr/bin/python3"):
        if not shutil.which(tool) and not Path(tool).exists():
            return f"{tool} not available"
    probe = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount", "--mount-proc", "true"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return "PID/mount namespaces not permitted: " + probe.stderr.strip()
    venv = subprocess.run(["/usr/bin/python3", "-c", "import venv, ensurepip"], capture_output=True)
    if venv.returncode != 0:
        return "the system python3 cannot make a venv (apt-get install python3-venv)"
    return None


class NamespacedSystemd:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.log = work / "boot.log"
        self.proc: subprocess.Popen | None = None
        self.pid: int | None = None

    def boot(self, timeout: float = 600) -> None:
        out = open(self.log, "wb")  # noqa: SIM115 (the child keeps it)
        self.proc = subprocess.Popen(
            [
                "unshare",
                "--pid",
                "--fork",
                "--mount",
                "--propagation",
                "private",
                "--mount-proc",
                "sh",
                str(ROOT / "tests" / "systemd_boot.sh"),
                str(self.work),
                str(ROOT),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError("boot failed:\n" + self.log.read_text()[-3000:])
            children = subprocess.run(
                ["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True
            ).stdout.split()
            if children and "booting systemd" in self.log.read_text():
                self.pid = int(children[0])
                state = self.run("systemctl", "is-system-running", check=False).stdout.strip()
                if state in ("running", "degraded"):
                    return
            time.sleep(0.5)
        raise AssertionError("systemd did not come up:\n" + self.log.read_text()[-3000:])

    def run(self, *cmd: str, check: bool = True, timeout: float = 180):
        result = subprocess.run(
            ["nsenter", "-t", str(self.pid), "-m", "-p", *cmd],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check:
            assert result.returncode == 0, f"{cmd}: {result.stdout}{result.stderr}"
        return result

    def show(self, *props: str) -> dict[str, str]:
        out = self.run("systemctl", "show", "safetyd", *(f"-p{p}" for p in props)).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def journal(self, *args: str) -> list[dict]:
        out = self.run("journalctl", "-u", "safetyd", "-o", "json", "--no-pager", *args).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def shutdown(self) -> None:
        if self.pid:
            os.kill(self.pid, signal.SIGKILL)  # PID 1 of the namespace: takes all with it
        if self.proc:
            self.proc.wait(30)


def _message(entry: dict) -> str:
    msg = entry.get("MESSAGE", "")
    return msg if isinstance(msg, str) else bytes(msg).decode(errors="replace")


@pytest.mark.slow
def test_the_unit_runs_the_daemon_under_real_systemd(tmp_path: Path) -> None:
    reason = _why_no_systemd()
    if reason:
        pytest.skip(reason)
    etc = tmp_path / "etc"
    (etc / "zones").mkdir(parents=True)
    (etc / "credentials").mkdir()
    (etc / "credentials" / "twilio-account-sid").write_text(ACCOUNT_SID + "\n")
    (etc / "credentials" / "twilio-auth-token").write_text(AUTH_TOKEN + "\n")
    shutil.copy(FIXTURES / "walk-in.mp4", etc)
    shutil.copy(ROOT / "zones" / "press-cell.geojson", etc / "zones")
    shutil.copy(UNIT, tmp_path / "safetyd.service")  # the shipped unit, unchanged
    fake = FakeTwilio().start()
    port = free_port()
    (etc / "safetyd.toml").write_text(f"""
[site]
name = "systemd test"
[[cameras]]
id = "press-line"
source = "walk-in.mp4"
loop = true
fps = 10
width = 640
height = 360
zones = ["zones/press-cell.geojson"]
[alerts]
sinks = ["log", "sms"]
[alerts.groups.operators]
numbers = ["+15555550101"]
[alerts.groups.supervisors]
numbers = ["+15555550111"]
[alerts.groups.safety]
numbers = ["+15555550121"]
[alerts.twilio]
from_number = "+15555550100"
api_base_url = "{fake.base_url}"
[http]
port = {port}
""")
    sd = NamespacedSystemd(tmp_path)
    try:
        sd.boot()
        started = time.monotonic()
        sd.run("systemctl", "start", "safetyd")  # Type=notify: returns after READY=1
        props = sd.show("ActiveState", "SubState", "StatusText", "MainPID", "NRestarts")
        assert (props["ActiveState"], props["SubState"]) == ("active", "running")
        assert props["StatusText"].startswith("1/1 cameras up")
        pid = props["MainPID"]
        uid = sd.run("sh", "-c", f"grep ^Uid: /proc/{pid}/status").stdout.split()[1]
        assert uid != "0"  # DynamicUser=
        # LoadCredential=, the network address families, MemoryDenyWriteExecute= and the
        # system-call filter all let the model run and the SMS go out:
        assert wait_for(
            lambda: any(
                r.form["Body"].startswith("DANGER Press 3 guard") for r in fake.delivered()
            ),
            60,
            step=0.5,
        )
        # WatchdogSec=30: still the same, unrestarted process well after 30 s.
        time.sleep(max(0.0, 40 - (time.monotonic() - started)))
        props = sd.show("ActiveState", "MainPID", "NRestarts")
        assert (props["ActiveState"], props["MainPID"], props["NRestarts"]) == ("active", pid, "0")
        sd.run("systemctl", "reload", "safetyd")
        # Type=notify with kill -HUP: systemctl returns once the signal is sent; the
        # unit is "reloading" from the daemon's RELOADING=1 until its READY=1.
        assert wait_for(lambda: sd.show("ActiveState")["ActiveState"] == "active", 20)
        assert sd.show("MainPID")["MainPID"] == pid
        sd.run("test", "-f", "/var/lib/private/safetyd/safetyd.db")  # StateDirectory=
        stop_started = time.monotonic()
        sd.run("systemctl", "stop", "safetyd")
        assert time.monotonic() - stop_started < 15
        props = sd.show("Result", "ExecMainStatus", "ActiveState")
        assert props == {"Result": "success", "ExecMainStatus": "0", "ActiveState": "inactive"}
        entries = sd.journal()
        priority = {_message(e): e.get("PRIORITY") for e in entries}
        assert any(
            m.startswith("safetyd.daemon: ready:") and p == "6" for m, p in priority.items()
        ), [(m, p) for m, p in priority.items() if "safetyd" in m][:20]
        assert any(
            m.startswith("safetyd.runner: incident event=opened") and p == "4"
            for m, p in priority.items()
        )
        assert any(m.startswith("safetyd.daemon: reloaded:") for m in priority)
        assert not any(AUTH_TOKEN in m for m in priority)
    finally:
        sd.shutdown()
        fake.stop()
