"""Posture exposure in the daemon's book (service/posture.py) and on the console's
ergonomics page: real SQLite, the real alert service delivering the area's notice
through the twilio library to the fake Twilio, Chromium drawing the charts.

The exposure fed here is made up (known seconds, known risky postures at known
times either side of a shift change) so that every figure on the page can be
checked; the measuring itself is tested in test_body.py and, on real pixels, in
test_body_daemon.py."""

from __future__ import annotations

import json
import types
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from browser import browser
from conftest import square, wait_for

from safetyd.alerts.service import AlertService
from safetyd.analytics.figures import shift_starts
from safetyd.assembly import load as cfg
from safetyd.hazard.exposure import Exposed, ExposureFrame, RiskyPosture
from safetyd.service.metrics import Metrics
from safetyd.service.posture import PostureBook
from safetyd.storage.store import open_store

BERLIN = ZoneInfo("Europe/Berlin")
# 13:50 and 14:10 site time: the early shift ends at 14:00 (the default shifts).
BEFORE = datetime(2026, 11, 30, 13, 50, tzinfo=BERLIN).timestamp()
AFTER = datetime(2026, 11, 30, 14, 10, tzinfo=BERLIN).timestamp()


def setup(tmp_path: Path, fake) -> Path:
    (tmp_path / "areas.geojson").write_text(json.dumps({
        "type": "FeatureCollection",
        "features": [{
            "type": "Feature",
            "properties": {"id": "pack", "name": "Packing table", "kind": "area",
                           "posture_notice_after": 3,
                           "recipients": {"warning": ["floor"], "danger": ["floor"]}},
            "geometry": {"type": "Polygon", "coordinates": square(0, 0, 640, 360)},
        }],
    }))  # fmt: skip
    path = tmp_path / "safetyd.toml"
    path.write_text(f"""
[site]
name = "Ergo plant"
timezone = "Europe/Berlin"

[[cameras]]
id = "cam1"
source = "rtsp://127.0.0.1:1/x"
width = 640
height = 360
zones = ["areas.geojson"]

[alerts]
sinks = ["log", "sms"]
[alerts.groups.floor]
numbers = ["+15555550101"]
[alerts.twilio]
account_sid_credential = "twilio-account-sid"
auth_token_credential = "twilio-auth-token"
from_number = "+15555550100"
api_base_url = "{fake.base_url}"

[storage]
state_dir = "state"
""")
    return path


def frame(seconds: dict[tuple[str, str], float], risky: list[str] = ()) -> ExposureFrame:
    return ExposureFrame(
        tuple(Exposed("pack", m, b, s) for (m, b), s in seconds.items()),
        tuple(RiskyPosture("pack", 1, e, 0.0, 75.0) for e in risky),
    )


@pytest.fixture
def book(tmp_path, fake, twilio_env):
    loaded = cfg.load(setup(tmp_path, fake))
    loaded.state_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(loaded.state_dir / "safetyd.db")
    alerts = AlertService.from_config(loaded, store)
    alerts.start()
    metrics = Metrics()
    book = PostureBook(store, metrics, alerts, lambda: BERLIN,
                       lambda: shift_starts(loaded.config.analytics))  # fmt: skip
    zones = loaded.zones["cam1"]
    # Early shift: 10 min upright, 2 min bent over, 3 risky postures (the notice's count).
    book.add("cam1", BEFORE, frame({("trunk", "0-20"): 600, ("trunk", "over_60"): 120}), zones)
    book.add("cam1", BEFORE + 60, frame({}, ["trunk_over_60", "hands_above_head"]), zones)
    book.add("cam1", BEFORE + 120, frame({}, ["trunk_over_60"]), zones)
    book.add("cam1", BEFORE + 180, frame({}, ["trunk_over_60"]), zones)  # after the notice
    # Late shift: 5 min arms high, 1 risky posture (below the count: no notice).
    book.add("cam1", AFTER, frame({("upper_arm", "over_90"): 300, ("trunk", "0-20"): 300},
                                  ["arm_over_90"]), zones)  # fmt: skip
    book.flush(force=True)
    try:
        yield types.SimpleNamespace(book=book, store=store, loaded=loaded, alerts=alerts,
                                    metrics=metrics, fake=fake)  # fmt: skip
    finally:
        alerts.stop()
        store.close()


def test_the_book_keeps_exposure_per_quarter_hour_and_notices_once_per_shift(book) -> None:
    rows = book.store.db.execute(
        "SELECT measure, band, SUM(seconds) FROM posture_exposure GROUP BY measure, band"
    ).fetchall()
    assert sorted(map(tuple, rows)) == [("trunk", "0-20", 900.0), ("trunk", "over_60", 120.0),
                                        ("upper_arm", "over_90", 300.0)]  # fmt: skip
    (events,) = book.store.db.execute("SELECT COUNT(*) FROM posture_events").fetchone()
    assert events == 5
    metrics = book.metrics.render().decode()
    assert ('safetyd_risky_postures_total{area="pack",camera="cam1",event="trunk_over_60"} 3.0'
            in metrics)  # fmt: skip
    assert wait_for(lambda: len(book.fake.delivered()) >= 1, 15)
    (sms,) = [r.form for r in book.fake.delivered()]
    assert sms["To"] == "+15555550101"
    assert sms["Body"].startswith("POSTURE NOTICE Packing table (cam cam1): 3 risky postures "
                                  "in the early shift since 06:00")  # fmt: skip
    assert "not an alarm" in sms["Body"]
    now = {(s.area, s.shift): s for s in book.book.current()}
    assert now[("pack", "late")].risky == {"arm_over_90": 1}


def test_the_ergonomics_page_shows_each_area_and_shift(book, tmp_path) -> None:
    from selenium.webdriver.common.by import By
    from test_console import PASSWORDS, Client, add_user, log_in

    from safetyd.config.console import ConsoleSettings
    from safetyd.console.backend import Backend
    from safetyd.console.server import ConsoleServer
    from safetyd.service.status import DeliveryStatus, Status
    from safetyd.storage.store import StorageStatus

    assert add_user(tmp_path / "users.json", "vera", "viewer", PASSWORDS["vera"]).returncode == 0
    status = Status(site="Ergo plant", cameras=(), delivery=DeliveryStatus(0, True, (), ()),
                    storage=StorageStatus(True, "/x", None, None, 0))  # fmt: skip
    backend = Backend(status=lambda: status, loaded=lambda: book.loaded, picture=lambda c: None,
                      store=book.store, alerts=types.SimpleNamespace(tz=BERLIN))  # fmt: skip
    server = ConsoleServer(ConsoleSettings(enabled=True, port=0), tmp_path / "users.json", backend)
    server.start()
    d = types.SimpleNamespace(console=f"http://127.0.0.1:{server.port}")
    driver = browser()
    try:
        assert Client(d.console).request("/ergonomics")[0] in (302, 303, 401)
        log_in(driver, d, "vera")
        since = datetime(2026, 11, 30, 0, 0, tzinfo=BERLIN).timestamp()
        driver.get(d.console + f"/ergonomics?since={since:.0f}&until={since + 86400:.0f}")
        assert wait_for(lambda: driver.execute_script(
            "return window.safetydCharts && window.safetydCharts.length") == 4, 10)  # fmt: skip
        rows = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "#exposure tbody tr")]
        assert len(rows) == 2, rows
        early, late = rows
        # Early: trunk seen 12 min, 17 % of it beyond 60°; 3 + 1 risky postures.
        assert early.startswith("cam1 Packing table (pack) early 12.0 17 %"), early
        assert "hands above head 1, trunk over 60 3" in early
        assert late.startswith("cam1 Packing table (pack) late 5.0 0 % 5.0 100 %"), late
        assert "no medical or compliance claim" in driver.find_element(By.CLASS_NAME, "period").text
        # Before that day: nothing measured.
        driver.get(d.console + f"/ergonomics?since={since - 86400:.0f}&until={since:.0f}")
        assert driver.find_elements(By.ID, "no-exposure")
    finally:
        driver.quit()
        server.stop()
