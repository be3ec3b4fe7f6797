"""Benchmark 2: from a frame's capture to its alert — in the outbox, and at Twilio.

The daemon's own camera runner (paced file source, real pose model, the
SQLite outbox with synchronous=FULL) and alert service (the real twilio client)
run against the fake Twilio on 127.0.0.1. The demo clip is cut to the stretch
where the man walks up, reaches in and backs off, and looped, so that incidents
keep coming. The zone's cooldown and warning storm control are switched off
here: holding warnings back is deliberate and would be measured as latency.
The bare inference p99 is measured in the same run on the same clip.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import cv2
from common import FIXTURES, ROOT, Result, log, percentile
from fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from overhead import bare_round
from recipients import GROUPS_TOML

from safetyd.alerts.service import AlertService
from safetyd.assembly import load as cfg
from safetyd.assembly.settings import CameraSettings
from safetyd.service.camera import CameraRunner
from safetyd.service.metrics import Metrics
from safetyd.storage.store import Store


def cut_clip(out: Path, first: int = 30, last: int = 90) -> Path:
    cap = cv2.VideoCapture(str(FIXTURES / "walk-in.mp4"))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 10, (640, 360))
    for i in range(last + 1):
        ok, frame = cap.read()
        if ok and i >= first:
            writer.write(frame)
    writer.release()
    cap.release()
    return out


def write_config(tmp: Path, clip: Path, twilio_url: str) -> Path:
    zones = json.loads((ROOT / "zones" / "press-cell.geojson").read_text())
    zones["features"][0]["properties"]["cooldown_s"] = 0
    (tmp / "zones.geojson").write_text(json.dumps(zones))
    path = tmp / "safetyd.toml"
    path.write_text(f"""
[[cameras]]
id = "press-line"
source = "{clip}"
loop = true
fps = 10
zones = ["zones.geojson"]
[motion]
enabled = false
[alerts]
sinks = ["sms"]
{GROUPS_TOML}[alerts.twilio]
from_number = "+15555550100"
api_base_url = "{twilio_url}"
[alerts.storm]
fold_window_s = 0
max_warnings_per_hour = 100000
[storage]
state_dir = "{tmp / "state"}"
snapshots = true
""")
    return path


def run(quick: bool = False, seconds: float = 180.0) -> Result:
    seconds = 40.0 if quick else seconds
    os.environ["TWILIO_ACCOUNT_SID"], os.environ["TWILIO_AUTH_TOKEN"] = ACCOUNT_SID, AUTH_TOKEN
    with tempfile.TemporaryDirectory(prefix="safetyd-bench-") as tmp_name, FakeTwilio() as fake:
        tmp = Path(tmp_name)
        clip = cut_clip(tmp / "clip.mp4")
        _, bare_before = bare_round(clip)
        loaded = cfg.load(write_config(tmp, clip, fake.base_url))
        store = Store(loaded.state_dir / "safetyd.db")
        alerts = AlertService.from_config(loaded, store)
        alerts.start()
        runner = CameraRunner(
            CameraSettings.of(loaded, loaded.config.cameras[0].id), store, alerts, Metrics()
        )
        to_outbox: list[float] = []
        commit = runner.recorder.commit

        def timed_commit(entry):
            commit(entry)
            if entry.capture_mono is not None:
                to_outbox.append(time.monotonic() - entry.capture_mono)

        runner.recorder.commit = timed_commit  # instrumentation only: the same commit runs
        offset = time.time() - time.monotonic()
        runner.start()
        log(f"latency: running {seconds:.0f} s of looped incidents")
        time.sleep(seconds)
        runner.request_stop()
        runner.join(time.monotonic() + 10)
        alerts.drain(30)
        alerts.stop()
        _, bare_after = bare_round(clip)
        rows = {(r["recipient"], r["body"]): r for r in alerts.outbox.rows(sink="sms")}
        to_post = []
        for req in fake.delivered():
            row = rows.get((req.form["To"], req.form["Body"]))
            if row and row["capture_mono"]:
                to_post.append(req.at - offset - row["capture_mono"])
        store.close()
    bare_p99 = percentile(bare_before + bare_after, 99)
    out_p99, post_p99 = percentile(to_outbox, 99), percentile(to_post, 99)
    ok = out_p99 <= bare_p99 + 0.025 and post_p99 <= bare_p99 + 0.100
    log(
        f"latency: outbox p99 {out_p99 * 1e3:.0f} ms, POST p99 {post_p99 * 1e3:.0f} ms, "
        f"bare inference p99 {bare_p99 * 1e3:.0f} ms"
    )
    return Result(
        key="latency",
        title="Frame-to-alert latency",
        target="p99 ≤ bare inference p99 + 25 ms (outbox), + 100 ms (Twilio POST)",
        measured=f"outbox p99 {out_p99 * 1e3:.0f} ms, POST p99 {post_p99 * 1e3:.0f} ms; "
        f"bare inference p99 {bare_p99 * 1e3:.0f} ms",
        passed=ok,
        notes=[
            f"{seconds:.0f} s of the looped clip: {len(to_outbox)} incident transitions "
            f"committed (events + alerts in one transaction), {len(to_post)} SMS accepted by the "
            "fake Twilio.",
            f"Outbox: median {percentile(to_outbox, 50) * 1e3:.0f} ms, p99 "
            f"{out_p99 * 1e3:.0f} ms. POST: median {percentile(to_post, 50) * 1e3:.0f} ms, p99 "
            f"{post_p99 * 1e3:.0f} ms (each recipient is a separate request, sent in turn).",
            "Measured from the frame's capture (monotonic) to the commit returning, and to the "
            "fake Twilio receiving the request, in one process.",
        ],
        data={"to_outbox_s": to_outbox, "to_post_s": to_post, "bare_p99_s": bare_p99},
    )
