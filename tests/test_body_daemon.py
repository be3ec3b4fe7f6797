"""Falls, a man down and posture exposure through the running daemon (in-process
App: the camera reader, the inference thread, SQLite, alert delivery through the
real twilio library to the fake Twilio, the escalation chain, metrics).

Two ways of seeing:

* **Real MediaPipe on real pixels**: the project's walk-in video (a man walks to
  the press and back) with an area over the whole picture: posture exposure adds
  up in the metrics, the database and the shift's figures, and nobody falls.
* **A fall**: no footage of a real fall can be shipped (the public fall datasets
  are non-commercial) and the pose model finds few lying people in what can be
  made here, so for this one the pose model is replaced by a person with known
  poses (tests/skeletons.py) falling over in front of the camera; everything
  after the model is the daemon's own.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest
import skeletons as S
from conftest import FIXTURES, square, wait_for
from test_down import FELL_FORWARD, STAND, fall

from safetyd.service.app import App
from safetyd.vision.pose import Pose

W, H = 640, 360


def config(tmp_path: Path, video: Path, fake=None, extra: str = "") -> Path:
    twilio = ""
    if fake is not None:
        twilio = f"""
[alerts.twilio]
account_sid_credential = "twilio-account-sid"
auth_token_credential = "twilio-auth-token"
from_number = "+15555550100"
api_base_url = "{fake.base_url}"
"""
    text = f"""
[site]
name = "test"

[[cameras]]
id = "cam1"
source = "{video}"
loop = true
fps = 10
width = {W}
height = {H}
zones = ["areas.geojson"]
{extra}

[body]
man_down_after_s = 5

[alerts]
sinks = [{'"log", "sms"' if fake else '"log"'}]
system_recipients = ["supervisors"]
escalation_chain = [{{ after_s = 3, groups = ["supervisors"] }}]

[alerts.groups.floor]
numbers = ["+15555550101"]

[alerts.groups.supervisors]
numbers = ["+15555550111"]
{twilio}
[storage]
state_dir = "state"

[clips]
enabled = false

[http]
enabled = false
"""
    path = tmp_path / "safetyd.toml"
    path.write_text(text)
    (tmp_path / "areas.geojson").write_text(json.dumps({
        "type": "FeatureCollection",
        "features": [{
            "type": "Feature",
            "properties": {"id": "bay", "name": "Assembly bay", "kind": "area",
                           "recipients": {"danger": ["floor"]}},
            "geometry": {"type": "Polygon", "coordinates": square(0, 0, W, H)},
        }],
    }))  # fmt: skip
    return path


class Falling:
    """The pose model's stand-in: a person who stands, falls forward and lies still,
    seen from the side, in every whole picture it is shown (half the size of the
    skeletons' 1280×720 camera)."""

    made: list[Falling] = []

    def __init__(self, *args, **kwargs) -> None:
        poses = S.hold(STAND, 3) + fall(FELL_FORWARD) + S.breathe(FELL_FORWARD, 60)
        self.clip = S.Clip(poses, view_deg=90)
        self.t0: float | None = None
        Falling.made.append(self)

    def estimate(self, image: np.ndarray, t: float) -> list[Pose]:
        if image.shape[:2] != (H, W):
            return []  # a crop: he is found in the whole picture
        self.t0 = t if self.t0 is None else self.t0
        i = min(int((t - self.t0) * self.clip.fps), len(self.clip.poses) - 1)
        world = self.clip.poses[i]
        kp = S.project(world, self.clip.view_deg, self.clip.at) * 0.5
        kp += np.random.default_rng(i).normal(0, 0.5, kp.shape)
        return [Pose.from_arrays(kp, np.full(33, 0.95), (W, H))]

    def close(self) -> None:
        pass


def test_a_fall_and_a_man_down_reach_the_areas_people_and_escalate(
    tmp_path, fake, twilio_env, monkeypatch
) -> None:
    import safetyd.service.camera as camera

    Falling.made.clear()
    monkeypatch.setattr(camera, "create_estimator", lambda *a, **k: Falling())
    path = config(tmp_path, FIXTURES / "empty.mp4", fake, extra='regions = "full"\n'
                  '[cameras.body]\nposture = false\n[motion]\nenabled = false')  # fmt: skip
    app = App(path)
    app.start()
    try:

        def bodies() -> list[tuple[str, str]]:
            return [(r.form["To"], r.form["Body"]) for r in fake.delivered()]

        assert wait_for(lambda: any("MAN DOWN" in b and "ESCALATION" in b for _, b in bodies()),
                        40), bodies()  # fmt: skip
        status = app.status()
        (down,) = [i for c in status.cameras for i in c.incidents if i.body_part == "man down"]
        assert down.zone == "bay" and down.level == "danger"
        runner = app.cameras.runners["cam1"]
        assert list(runner._down.values()) == ["man_down"]
        assert runner.picture() is not None  # the live view draws him (marked MAN DOWN)
        metrics = app.metrics.render().decode()
        assert 'safetyd_people_down_total{area="bay",camera="cam1",kind="fall"} 1.0' in metrics
        assert 'safetyd_people_down_total{area="bay",camera="cam1",kind="man_down"} 1.0' in metrics
    finally:
        app.shutdown()
    sent = bodies()
    fall_sms = [b for to, b in sent if b.startswith("FALL ")]
    down_sms = [b for to, b in sent if b.startswith("MAN DOWN ")]
    assert len(fall_sms) == 1 and len(down_sms) == 1, sent
    assert "Assembly bay (cam cam1)" in fall_sms[0] and "person fell ACK " in fall_sms[0]
    assert "person lying still for 5s" in down_sms[0] or "for 6s" in down_sms[0]
    assert {to for to, b in sent if b.startswith(("FALL", "MAN DOWN"))} == {"+15555550101"}
    escalations = [(to, b) for to, b in sent if b.startswith("ESCALATION")]
    assert escalations and all(to == "+15555550111" for to, _ in escalations)
    assert any("MAN DOWN Assembly bay" in b for _, b in escalations), escalations
    db = sqlite3.connect(tmp_path / "state" / "safetyd.db")
    rows = db.execute("SELECT event, kind, zone, level FROM events ORDER BY id").fetchall()
    assert ("opened", "fall", "bay", "danger") in rows
    assert ("opened", "man_down", "bay", "danger") in rows
    ledger = db.execute("SELECT kind, must_ack, acked_wall FROM incidents").fetchall()
    assert sorted(ledger) == [("fall", 1, None), ("man_down", 1, None)]


def test_posture_exposure_on_real_pixels_adds_up_and_nobody_falls(tmp_path) -> None:
    """Real MediaPipe on the walk-in video (looped twice): the seconds in the bands of
    each measure add up to the same time, in the metrics and in the database, and
    the man walking is neither a fall nor a man down."""
    path = config(tmp_path, FIXTURES / "walk-in.mp4")
    app = App(path)
    app.start()
    try:
        runner = app.cameras.runners["cam1"]
        assert wait_for(lambda: runner.source.status().frames_read >= 160, 90)
        metrics = app.metrics.render().decode()
        snapshot = app.posture.current()
    finally:
        app.shutdown()

    def seconds(measure: str) -> float:
        total = 0.0
        for line in metrics.splitlines():
            if line.startswith("safetyd_posture_seconds_total{") and f'measure="{measure}"' in line:
                total += float(line.rsplit(" ", 1)[1])
        return total

    trunk = seconds("trunk")
    assert trunk > 3.0, metrics  # he is in the picture for about 6 s of each loop
    # Every measured frame has a trunk (shoulders and hips seen): the knee and hands
    # measures cannot have more time than it.
    assert seconds("knee") <= trunk + 1e-6 and seconds("hands") <= trunk + 1e-6
    assert "safetyd_people_down_total{" not in metrics.replace(
        "# HELP safetyd_people_down_total", ""
    )
    (area,) = snapshot
    assert area.area == "bay" and area.shift in ("early", "late", "night")
    assert sum(area.seconds["trunk"].values()) == pytest.approx(trunk, abs=1.0)
    db = sqlite3.connect(tmp_path / "state" / "safetyd.db")
    (stored,) = db.execute(
        "SELECT SUM(seconds) FROM posture_exposure WHERE measure = 'trunk'"
    ).fetchone()
    assert stored == pytest.approx(trunk, abs=0.5)  # written at stop, nothing lost
    assert db.execute("SELECT COUNT(*) FROM events WHERE kind IN ('fall', 'man_down')"
                      ).fetchone() == (0,)  # fmt: skip
    time.sleep(0)  # (the App is stopped: nothing more is written)
