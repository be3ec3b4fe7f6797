"""The real daemon as a subprocess: sd_notify, reload, blind cameras, SIGTERM/SIGKILL,
/metrics, /healthz and the status page."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from conftest import SAFETYD, run_safetyd, wait_for
from daemon_harness import (
    PRESS_ZONES,
    DaemonProcess,
    metric,
    press_camera,
    sms_rows,
    stream_camera,
)
from fake_twilio import AUTH_TOKEN
from prometheus_client.parser import text_string_to_metric_families
from streams import MjpegServer

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("abstract", [True, False], ids=["abstract-socket", "path-socket"])
def test_ready_then_watchdog_then_clean_sigterm(tmp_path: Path, abstract: bool) -> None:
    d = DaemonProcess(tmp_path, press_camera(), abstract=abstract).start()
    try:
        ready = d.wait_ready()
        time.sleep(4.5)
        pings = [at for at, line in d.notify.fields() if line == "WATCHDOG=1" and at > ready]
        assert len(pings) >= 3  # every second with WATCHDOG_USEC = 2 s
        status = [line for _, line in d.notify.fields() if line.startswith("STATUS=")]
        assert any(
            re.match(
                r"STATUS=1/1 cameras up, [\d.]+ fps, \d+ open incident\(s\), "
                r"outbox \d+",
                s,
            )
            for s in status
        ), status
        started = time.monotonic()
        d.signal(signal.SIGTERM)
        assert d.proc.wait(10) == 0
        assert time.monotonic() - started < 10
        assert any(line == "STOPPING=1" for _, line in d.notify.fields())
        assert "safetyd.daemon: stopped" in d.log()
        assert "Traceback" not in d.log()
        # Outside the journal each line carries its time with the site's zone (UTC here).
        stamped = [line for line in d.log().splitlines() if "safetyd.daemon: ready" in line]
        assert stamped and re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC ", stamped[0])
    finally:
        d.stop()


def test_broken_zone_file_on_reload_keeps_the_old_zones_armed(tmp_path: Path, fake) -> None:
    d = DaemonProcess(tmp_path, press_camera(), twilio_url=fake.base_url).start()
    try:
        d.wait_ready()
        zones = tmp_path / "press.geojson"
        zones.write_text('{"type": "FeatureCollection", "features": [')
        mark = len(d.notify.messages)
        log_mark = len(d.log())
        reloaded_at = time.time()
        d.signal(signal.SIGHUP)
        d.notify.wait_for("RELOADING=1", 10, since=mark)
        _, status = d.notify.wait_for("STATUS=reload refused", 10, since=mark)
        d.notify.wait_for("READY=1", 10, since=mark)
        assert re.match(r"STATUS=reload refused \(1 problem\(s\)\); 1/1 cameras up", status)
        assert d.wait_log(
            f"reload refused: {zones}: line 1, column 44: not valid JSON", 5, log_mark
        )
        # The man walks into the press again (the video loops): still alerted.
        assert wait_for(
            lambda: any(
                r.form["Body"].startswith("DANGER Press 3 guard") and r.at > reloaded_at
                for r in fake.delivered()
            ),
            40,
        )
        assert d.proc.poll() is None
        # Not only in the log: health, metrics and the page say so until it is fixed.
        code, body = d.get("/healthz")
        refused = [r for r in json.loads(body)["reasons"] if r.startswith("configuration:")]
        assert code == 503 and refused, body
        assert refused[0].startswith("configuration: the files on disk were refused at the reload")
        assert "the previous configuration keeps running: fix them" in refused[0]
        assert metric(d.get("/metrics")[1].decode(), "safetyd_config_reload_refused") == 1.0
        assert "the files on disk were refused" in d.get("/")[1].decode()
        shutil.copy(PRESS_ZONES, zones)  # fixed
        mark = len(d.notify.messages)
        d.signal(signal.SIGHUP)
        d.notify.wait_for("STATUS=1/1 cameras up", 15, since=mark)
        assert wait_for(
            lambda: metric(d.get("/metrics")[1].decode(), "safetyd_config_reload_refused") == 0,
            10,
        )
        reasons = json.loads(d.get("/healthz")[1])["reasons"]
        assert not any(r.startswith("configuration:") for r in reasons), reasons
    finally:
        assert d.stop() == 0


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("null", "top level is null; expected a GeoJSON FeatureCollection"),
        ("[" * 5000 + "]" * 5000, "JSON nested 5000 levels deep"),
    ],
    ids=["null", "nested-5000-deep"],
)
def test_a_poisoned_zone_file_on_reload_is_refused_and_the_guard_stays(
    tmp_path: Path, content: str, problem: str
) -> None:
    """``null`` used to load as zero zones (a reload disarmed the press guard and
    cleared its incident as zone_removed); 5,000 levels of nesting crashed the reload
    and then every restart."""
    d = DaemonProcess(tmp_path, press_camera()).start()
    try:
        d.wait_ready()
        zones_before = json.loads(d.get("/api/status")[1])["cameras"][0]["zones"]
        assert "press-3-guard" in zones_before
        (tmp_path / "press.geojson").write_text(content)
        log_mark = len(d.log())
        d.signal(signal.SIGHUP)
        assert d.wait_log(f"reload refused: {tmp_path / 'press.geojson'}: {problem}", 10, log_mark)
        assert d.wait_log("the previous configuration keeps running", 5, log_mark)
        code, body = d.get("/api/status")
        assert code in (200, 503)
        assert json.loads(body)["cameras"][0]["zones"] == zones_before
        assert "zone_removed" not in d.log()[log_mark:]
        assert d.proc.poll() is None
    finally:
        assert d.stop() == 0
    assert "Traceback" not in d.log()


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_the_endpoint_listens_on_the_ipv6_loopback(tmp_path: Path) -> None:
    """``bind = "::1"`` used to pass check-config and then fail with advice about the port."""
    if not _ipv6_loopback():
        pytest.skip("this machine has no IPv6 loopback address (::1)")
    d = DaemonProcess(tmp_path, press_camera(), extra='bind = "::1"').start()
    try:
        d.wait_ready()
        url = f"http://[::1]:{d.http_port}/api/status"
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert resp.status == 200
            assert json.loads(resp.read())["cameras"][0]["id"] == "press-line"
        assert f"http on [::1]:{d.http_port}" in d.log()
    finally:
        assert d.stop() == 0


def test_valid_reload_swaps_zones_without_restarting(tmp_path: Path) -> None:
    d = DaemonProcess(tmp_path, press_camera()).start()
    try:
        d.wait_ready()
        pid = d.proc.pid
        assert d.wait_log("zone=press-3-guard", 30)

        def frames_read() -> float:
            text = d.get("/metrics")[1].decode()
            return float(
                re.search(r'safetyd_frames_read_total\{camera="press-line"\} (\S+)', text)[1]
            )

        before = frames_read()
        # Move the guard zone to the left half of the picture, under a new id.
        zone = json.loads((tmp_path / "press.geojson").read_text())
        feature = zone["features"][0]
        feature["properties"]["id"] = "press-left"
        feature["geometry"]["coordinates"] = [[[0, 0], [230, 0], [230, 360], [0, 360], [0, 0]]]
        (tmp_path / "press.geojson").write_text(json.dumps(zone))
        mark = len(d.log())
        d.signal(signal.SIGHUP)
        assert d.wait_log("camera press-line: 1 zone(s) swapped in, camera kept running", 15, mark)
        assert d.wait_log("zone=press-left", 40, mark)
        assert d.proc.pid == pid and d.proc.poll() is None
        assert frames_read() > before  # the reader was never restarted: no counter reset
        assert "camera press-line (re)started" not in d.log()[mark:]
    finally:
        assert d.stop() == 0


def test_a_reloaded_escalation_chain_runs_and_safetyd_ack_stops_it(tmp_path: Path) -> None:
    """Reload once kept the old [alerts] escalate_after_s in a running camera; the chain
    is read at every lifecycle tick, so a reload takes effect at once. The demo's danger
    lasts about 2 s: a step after 1 s of danger goes out while it is open, and an
    acknowledgement from the command line (another process, the same database) is
    recorded, shown by /api/status and the page, and stops the chain."""
    d = DaemonProcess(tmp_path, press_camera()).start()
    try:
        d.wait_ready()
        assert d.wait_log("incident event=escalated", 40)
        assert "escalation step" not in d.log()  # no chain: the demo zone has none
        text = d.config.read_text()
        chain = (
            'escalation_chain = [{ after_s = 1, groups = ["safety"] }, '
            '{ after_s = 3600, groups = ["maintenance"] }]'
        )
        d.config.write_text(text.replace("escalate_after_s = 300", chain))
        mark = len(d.log())
        d.signal(signal.SIGHUP)
        assert d.wait_log("reloaded:", 15, mark)
        assert d.wait_log("escalation step 1/2 incident=", 60, mark)
        line = next(x for x in d.log()[mark:].splitlines() if "escalation step 1/2" in x)
        code = line.split("code=")[1].split()[0]
        where = ("--config", str(d.config))
        done = run_safetyd("ack", code, "--by", "ana", *where)
        assert done.returncode == 0 and f"acknowledged {code} Press 3 guard" in done.stdout
        assert d.wait_log("incident acknowledged incident=", 10, mark)
        status = json.loads(d.get("/api/status")[1])
        (answer,) = [a for a in status["acknowledgements"] if a["code"] == code]
        assert (answer["acknowledged_by"], answer["via"], answer["next_step"]) == (
            "ana",
            "cli",
            None,
        )
        assert "by ana via cli" in d.get("/")[1].decode()
        metrics = d.get("/metrics")[1].decode()
        assert 'safetyd_time_to_acknowledge_seconds_count{via="cli"} 1.0' in metrics
        # A snooze written by the command line is listed on the page and in the API.
        snoozed = run_safetyd("snooze", "press-3-guard", "--until", "1h", "--reason",
                              "die change", "--by", "ana", *where)  # fmt: skip
        assert snoozed.returncode == 0, snoozed.stderr
        assert "die change" in d.get("/")[1].decode()
        (snooze,) = json.loads(d.get("/api/status")[1])["snoozes"]
        assert (snooze["zone"], snooze["reason"], snooze["by"]) == (
            "press-3-guard",
            "die change",
            "ana",
        )
        assert "safetyd_snoozed_zones 1.0" in d.get("/metrics")[1].decode()
    finally:
        assert d.stop() == 0


def test_a_chain_in_progress_resumes_after_a_sigkill_and_sends_no_step_twice(
    tmp_path: Path,
) -> None:
    """The zone says danger must be acknowledged, so the chain goes on after the
    demo's danger clears; the daemon is killed between its steps."""
    chain = (
        'escalation_chain = [{ after_s = 1, groups = ["safety"] }, '
        '{ after_s = 8, groups = ["maintenance"] }]'
    )
    d = DaemonProcess(tmp_path, press_camera())
    d.config.write_text(d.config.read_text().replace("escalate_after_s = 300", chain))
    zones = json.loads((tmp_path / "press.geojson").read_text())
    zones["features"][0]["properties"]["danger_must_ack"] = True
    (tmp_path / "press.geojson").write_text(json.dumps(zones))
    d.start()
    d.wait_ready()
    assert d.wait_log("escalation step 1/2 incident=", 60)
    line = next(x for x in d.log().splitlines() if "escalation step 1/2" in x)
    incident = line.split("incident=")[1].split()[0]
    d.kill()
    assert f"escalation step 2/2 incident={incident}" not in d.log()
    from daemon_harness import NotifyListener

    d2 = DaemonProcess.__new__(DaemonProcess)
    d2.__dict__.update(d.__dict__)
    d2.notify = NotifyListener()
    d2.start()
    try:
        d2.wait_ready()
        assert d2.wait_log(f"escalation step 2/2 incident={incident}", 30)
        time.sleep(2)  # a few more ticks: nothing of this incident goes out again
    finally:
        assert d2.stop() == 0
    steps = [x for x in d2.log().splitlines() if f"incident={incident}" in x and "step" in x]
    assert [s.split("escalation step ")[1][:3] for s in steps] == ["1/2", "2/2"], steps


def test_a_picture_of_another_size_than_the_zones_were_drawn_for_is_an_alarm(
    tmp_path: Path, fake
) -> None:
    """The stream is 640x360, the camera is configured (and its zones drawn) for
    1280x720: every pixel zone would be in the wrong place. It used to say healthy."""
    camera = (
        press_camera()
        .replace("width = 640", "width = 1280")
        .replace("height = 360", "height = 720")
    )
    d = DaemonProcess(tmp_path, camera, twilio_url=fake.base_url).start()
    try:
        d.wait_ready()
        assert d.wait_log(
            "camera press-line: zones not used: the picture is 640x360 but the camera is "
            "configured as 1280x720, the size press-3-guard were drawn for",
            20,
        )
        assert wait_for(
            lambda: any(
                r.form["Body"].startswith("CAMERA OFFLINE press-line")
                and "picture 640x360, zones drawn for 1280x720" in r.form["Body"]
                for r in fake.delivered()
            ),
            20,
        ), [r.form["Body"] for r in fake.requests]
        code, body = d.get("/healthz")
        assert code == 503
        assert any(
            r.startswith("camera press-line: 1 armed zone(s) unwatched: the picture is 640x360")
            for r in json.loads(body)["reasons"]
        ), body
        status = json.loads(d.get("/api/status")[1])["cameras"][0]
        assert status["error"].startswith("the picture is 640x360 but the camera is configured")
        assert "incident event=opened" not in d.log()  # misplaced zones are not used
    finally:
        assert d.stop() == 0


def test_a_camera_password_comes_from_a_credential_and_is_never_shown(tmp_path: Path) -> None:
    """Camera passwords used to sit in safetyd.toml (readable by anyone on the box) and
    `check-config -v` printed them. Now the URL names the user, the password comes
    from a systemd credential at each open, and no output carries it."""
    secret = "s3cret/p@ss word"  # characters that must be quoted in a URL
    server = MjpegServer(fps=15, auth=("viewer", secret)).start()
    url = server.url.replace("http://", "http://viewer@")
    camera = stream_camera(url) + 'password_credential = "yard-password"\n'
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "yard-password").write_text(secret + "\n")
    d = DaemonProcess(tmp_path, camera, env={"CREDENTIALS_DIRECTORY": str(creds)}).start()
    try:
        d.wait_ready()
        assert wait_for(lambda: server.frames_sent > 20, 20)
        assert wait_for(lambda: d.get("/healthz")[0] == 200, 20), d.get("/healthz")
        check = subprocess.run(
            [*SAFETYD, "check-config", str(d.config), "-v"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert check.returncode == 0, check.stderr
        assert f"camera yard: http://***@127.0.0.1:{server.port}/video.mjpg" in check.stdout
    finally:
        d.stop()
        server.stop()
    outputs = d.log() + check.stdout + check.stderr
    assert secret not in outputs and "p%40ss" not in outputs


def test_blind_camera_raises_an_alarm_and_healthz_follows(tmp_path: Path, fake) -> None:
    server = MjpegServer(fps=15).start()
    d = DaemonProcess(
        tmp_path, stream_camera(server.url, stale_after_s=3), twilio_url=fake.base_url
    ).start()
    try:
        d.wait_ready()
        assert wait_for(lambda: d.get("/healthz")[0] == 200, 20), d.get("/healthz")
        stopped = time.time()
        server.stop()

        def offline() -> list:
            return [r for r in fake.delivered() if "CAMERA OFFLINE yard" in r.form["Body"]]

        # Three recipients, sent one after another: wait for the last, not the first.
        assert wait_for(lambda: len(offline()) >= 3, 3 + 5), offline()
        sent = offline()
        assert max(r.at for r in sent) - stopped <= 3 + 5
        # Maintenance, and the operators who rely on the yard lane's danger alerts.
        assert sorted(r.form["To"] for r in sent) == [
            "+15555550101",
            "+15555550102",
            "+15555550131",
        ]
        code, body = d.get("/healthz")
        assert code == 503
        assert json.loads(body)["reasons"][0].startswith("camera yard: 1 armed zone(s) unwatched")
        server.start()
        assert wait_for(
            lambda: any("CAMERA RESTORED yard" in r.form["Body"] for r in fake.delivered()), 30
        )
        assert wait_for(lambda: d.get("/healthz")[0] == 200, 10)
        assert len([r for r in fake.delivered() if "CAMERA OFFLINE" in r.form["Body"]]) == 3
    finally:
        d.stop()
        server.stop()


def test_frozen_stream_is_a_blind_camera(tmp_path: Path, fake) -> None:
    server = MjpegServer(fps=15).start()
    d = DaemonProcess(
        tmp_path, stream_camera(server.url, stale_after_s=3), twilio_url=fake.base_url
    ).start()
    try:
        d.wait_ready()
        assert wait_for(lambda: d.get("/healthz")[0] == 200, 20)
        server.mode = "frozen"
        assert wait_for(
            lambda: any(
                "CAMERA OFFLINE yard" in r.form["Body"] and "frozen picture" in r.form["Body"]
                for r in fake.delivered()
            ),
            10,
        )
        assert d.get("/healthz")[0] == 503
    finally:
        d.stop()
        server.stop()


def test_metrics_parse_and_carry_the_series(tmp_path: Path, fake) -> None:
    d = DaemonProcess(tmp_path, press_camera(), twilio_url=fake.base_url).start()
    try:
        d.wait_ready()
        assert wait_for(lambda: len(fake.delivered()) >= 5, 40)  # an incident was alerted

        def scrape() -> str:
            code, body = d.get("/metrics")
            assert code == 200
            return body.decode()

        # The fake has answered; the daemon counts a send once it has read that answer.
        assert wait_for(lambda: (metric(scrape(), "safetyd_sms_sent_total") or 0) >= 5, 10)
        text = scrape()
        families = {f.name: f for f in text_string_to_metric_families(text)}
        for name in (
            "safetyd_frames_read",
            "safetyd_frames_processed",
            "safetyd_frames_dropped",
            "safetyd_inference_seconds",
            "safetyd_frame_to_alert_seconds",
            "safetyd_incidents",
            "safetyd_sms_sent",
            "safetyd_sms_failed",
            "safetyd_outbox_depth",
            "safetyd_camera_up",
            "safetyd_zone_armed",
            "safetyd_alerts_sent",
            "safetyd_open_incidents",
        ):
            assert name in families, name

        def value(name: str, suffix: str = "", **labels) -> float:
            for s in families[name].samples:
                if s.name == name + suffix and all(s.labels.get(k) == v for k, v in labels.items()):
                    return s.value
            raise AssertionError((name, labels))

        assert value("safetyd_frames_read", "_total", camera="press-line") > 20
        # Series a dashboard alerts on exist even at zero (they used to be absent).
        assert value("safetyd_pipeline_errors", "_total", camera="press-line") == 0
        for level in ("warning", "danger"):
            assert value("safetyd_open_incidents", camera="press-line", level=level) >= 0
        assert value("safetyd_config_reload_refused") == 0
        assert value("safetyd_camera_up", camera="press-line") == 1.0
        assert value("safetyd_zone_armed", camera="press-line", zone="press-3-guard") == 1.0
        assert value("safetyd_inference_seconds", "_count", camera="press-line") > 10
        assert value("safetyd_frame_to_alert_seconds", "_count", stage="outbox") >= 2
        assert (
            value(
                "safetyd_incidents",
                "_total",
                camera="press-line",
                zone="press-3-guard",
                event="opened",
                level="warning",
            )
            >= 1
        )
        assert value("safetyd_sms_sent", "_total") >= 5
        assert AUTH_TOKEN not in text
    finally:
        d.stop()


def test_sigkill_with_pending_alerts_then_restart_delivers_each_once(tmp_path: Path, fake) -> None:
    fake.default = "error"  # the carrier is down: alerts pile up in the outbox
    d = DaemonProcess(tmp_path, press_camera(), twilio_url=fake.base_url).start()
    d.wait_ready()
    assert wait_for(
        lambda: len([r for r in sms_rows(tmp_path) if r["status"] == "pending"]) >= 5, 40
    )
    fake.default = "ok_slow"  # the next send is accepted, but its answer comes late...
    assert wait_for(lambda: any(r.answered == "ok" for r in fake.requests), 15)
    d.kill()  # ...and the daemon dies before it hears back
    # Accepted but unanswered when it died: up to parallel_sends of them were in flight.
    accepted_unheard = sum(r.answered == "ok" for r in fake.requests)
    pending = [r for r in sms_rows(tmp_path) if r["status"] == "pending"]
    assert pending
    fake.default = "ok"
    d2 = DaemonProcess.__new__(DaemonProcess)
    d2.__dict__.update(d.__dict__)
    from daemon_harness import NotifyListener

    d2.notify = NotifyListener()
    d2.start()
    try:
        d2.wait_ready()
        assert wait_for(
            lambda: all(
                r["status"] == "sent"
                for r in sms_rows(tmp_path)
                if r["id"] in {p["id"] for p in pending}
            ),
            40,
        )
    finally:
        d2.stop()
    counts = Counter((r.form["To"], r.form["Body"]) for r in fake.delivered())
    for row in pending:
        assert 1 <= counts[(row["recipient"], row["body"])] <= 2, row
    # A duplicate only for a send the provider accepted while nobody was left to hear it.
    assert sum(counts[(r["recipient"], r["body"])] == 2 for r in pending) <= accepted_unheard


def test_sigterm_keeps_pending_alerts_for_the_next_start(tmp_path: Path, fake) -> None:
    fake.default = "error"
    d = DaemonProcess(tmp_path, press_camera(), twilio_url=fake.base_url).start()
    try:
        d.wait_ready()
        assert wait_for(lambda: any(r["status"] == "pending" for r in sms_rows(tmp_path)), 40)
    finally:
        assert d.stop() == 0
    assert any(r["status"] == "pending" for r in sms_rows(tmp_path))
    assert "alert(s) still pending; they are delivered after the next start" in d.log()


def test_watchdog_is_starved_when_a_pipeline_thread_wedges(tmp_path: Path) -> None:
    """Another process holds the database's write lock: the inference thread blocks on
    its next incident commit, and the daemon stops feeding systemd's watchdog."""
    d = DaemonProcess(tmp_path, press_camera()).start()
    try:
        d.wait_ready()
        lock = sqlite3.connect(tmp_path / "state" / "safetyd.db", timeout=1, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        try:
            assert d.wait_log(
                "not feeding the watchdog: camera press-line inference thread silent", 45
            )
            mark = len(d.notify.messages)
            time.sleep(2.5)
            assert not any(line == "WATCHDOG=1" for _, line in d.notify.fields(mark))
            # /healthz says so too (it used to answer 200 while the watchdog starved).
            code, body = d.get("/healthz")
            assert code == 503
            assert any(
                r.startswith("stalled: camera press-line inference thread silent")
                for r in json.loads(body)["reasons"]
            ), body
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        mark = len(d.notify.messages)
        d.notify.wait_for("WATCHDOG=1", 35, since=mark)
        assert d.proc.poll() is None
    finally:
        d.stop()


def test_journald_lines_carry_syslog_priorities(tmp_path: Path) -> None:
    d = DaemonProcess(tmp_path, press_camera(), env={"JOURNAL_STREAM": "8:1234"}).start()
    try:
        d.wait_ready()
        assert d.wait_log("incident event=opened", 30)
    finally:
        d.stop()
    lines = [line for line in d.log().splitlines() if line.strip()]
    # LiteRT printed ~48 unprefixed lines per model into the journal; now every line
    # carries a priority (native errors come through as safetyd.native errors).
    unprefixed = [line for line in lines if not re.match(r"^<\d>", line)]
    assert not unprefixed, unprefixed[:5]
    assert not any("Sparsity tensors" in line for line in lines)
    ours = [line for line in lines if "safetyd" in line and line.startswith("<")]
    assert any(line.startswith("<6>safetyd.daemon: ready:") for line in ours)
    assert any(line.startswith("<4>safetyd.runner: incident event=opened") for line in ours)
    assert not any(re.match(r"^\d{4}-\d\d-\d\d ", line) for line in d.log().splitlines())


def test_invalid_config_does_not_start(tmp_path: Path) -> None:
    d = DaemonProcess(tmp_path, press_camera())
    d.config.write_text(d.config.read_text() + "\n[bogus]\nx = 1\n")
    d.start()
    assert d.proc.wait(60) == 1
    assert "bogus: unknown key 'bogus'" in d.log()
    assert f"{d.config}: invalid: 1 error(s), 0 warning(s)" in d.log()
    d.stop()


@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="Debian chromium not installed (.ci/run installs it)"
)
def test_status_page_in_a_real_browser(tmp_path: Path) -> None:
    d = DaemonProcess(tmp_path, press_camera()).start()
    try:
        d.wait_ready()
        assert d.wait_log("incident event=opened", 30)
        profile = tmp_path / "chromium-profile"
        result = subprocess.run(
            [
                "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--virtual-time-budget=2000",  # < the page's 5 s refresh
                "--dump-dom",
                f"http://127.0.0.1:{d.http_port}/",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        dom = result.stdout
        assert 'data-camera="press-line"' in dom, result.stderr[-2000:]
        assert 'data-frames-loaded="1"' in dom  # the annotated frame really loaded
        assert "safetyd — Test plant" in dom
        assert 'id="incidents"' in dom and 'id="outbox"' in dom
        shot = tmp_path / "status.png"
        subprocess.run(
            [
                "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--window-size=1100,900",
                f"--screenshot={shot}",
                f"http://127.0.0.1:{d.http_port}/",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert shot.exists() and shot.stat().st_size > 10_000
    finally:
        d.stop()


def test_unusable_state_dir_and_taken_port_are_explained(tmp_path: Path) -> None:
    import socket

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the state directory should be")
    d = DaemonProcess(tmp_path, press_camera())
    d.config.write_text(d.config.read_text().replace(str(tmp_path / "state"), str(blocker)))
    d.start()
    assert d.proc.wait(60) == 1
    assert f"safetyd: cannot use the state directory {blocker}" in d.log()
    assert "Traceback" not in d.log()
    d.stop()

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        second = tmp_path / "second"
        second.mkdir()
        d = DaemonProcess(second, press_camera())
        d.config.write_text(d.config.read_text().replace(f"port = {d.http_port}", f"port = {port}"))
        d.start()
        assert d.proc.wait(60) == 1
        assert (
            f"safetyd: cannot listen on 127.0.0.1:{port}: Address already in use; another "
            "program uses the port: change [http] port or stop that program"
        ) in d.log()
        assert "Traceback" not in d.log()
        d.stop()

    # An address this machine does not have (TEST-NET-1): not advice about the port.
    third = tmp_path / "third"
    third.mkdir()
    d = DaemonProcess(
        third, press_camera(), extra='bind = "192.0.2.1"\nallow_unauthenticated = true'
    )
    d.start()
    assert d.proc.wait(60) == 1
    assert (
        f"safetyd: cannot listen on 192.0.2.1:{d.http_port}: Cannot assign requested address; "
        "this machine has no address 192.0.2.1: use one of its own, e.g. 127.0.0.1"
    ) in d.log()
    d.stop()


def test_state_dir_override_for_trying_it_out(tmp_path: Path) -> None:
    import subprocess as sp
    import sys

    from conftest import EXAMPLE_CONFIG
    from streams import free_port

    config = tmp_path / "demo.toml"
    port = free_port()
    config.write_text(
        EXAMPLE_CONFIG.read_text()
        .replace("port = 9470", f"port = {port}")
        .replace('"../', f'"{EXAMPLE_CONFIG.parent}/../')
    )
    proc = sp.Popen(
        [
            sys.executable,
            "-m",
            "safetyd",
            "run",
            "--config",
            str(config),
            "--state-dir",
            str(tmp_path / "demo-state"),
        ],
        stdout=sp.DEVNULL,
        stderr=sp.DEVNULL,
    )
    try:
        assert wait_for(lambda: (tmp_path / "demo-state" / "safetyd.db").exists(), 60)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0


def test_what_the_daemon_writes_is_private_whatever_the_umask(tmp_path: Path) -> None:
    """Round 2: run outside systemd (no UMask=0077), the database, the audit log and
    the snapshots of workers were created 0644, readable by anyone on the machine."""
    old = os.umask(0o022)
    try:
        d = DaemonProcess(tmp_path, press_camera()).start()
    finally:
        os.umask(old)
    try:
        d.wait_ready()
        shots = tmp_path / "state" / "snapshots"
        assert wait_for(lambda: any(shots.rglob("*.jpg")), 90), "no snapshot written"
    finally:
        d.stop()
    db = tmp_path / "state" / "safetyd.db"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    for path in [shots, *shots.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
