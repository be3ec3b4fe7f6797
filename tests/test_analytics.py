"""Near-miss analytics: the figures (pure, table-driven), and the report and the
console page on a state database built by replaying the shared factory and walking
footage through real MediaPipe (golden figures, checked against a recount of the
replay's own event stream), drawn by Chromium."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import shutil
import subprocess
from datetime import datetime
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest
from browser import browser
from conftest import ROOT, SAFETYD, SHARED_FOOTAGE, wait_for

from safetyd.analytics.figures import (
    TTC_BINS,
    ShiftStart,
    compute,
    incidents_of,
    shift_of,
    ttc_bin,
)
from safetyd.config.model import AnalyticsSettings, DigestSettings

BERLIN = ZoneInfo("Europe/Berlin")
SHIFTS = [ShiftStart.parse("early", "06:00"), ShiftStart.parse("late", "14:00"),
          ShiftStart.parse("night", "22:00")]  # fmt: skip


@pytest.mark.parametrize(
    ("hhmm", "shift"),
    [("06:00", "early"), ("13:59", "early"), ("14:00", "late"), ("21:59", "late"),
     ("22:00", "night"), ("23:59", "night"), ("00:00", "night"), ("05:59", "night")],
)  # fmt: skip
def test_a_shift_runs_from_its_start_to_the_next_across_midnight(hhmm, shift) -> None:
    h, m = map(int, hhmm.split(":"))
    assert shift_of(datetime(2026, 12, 1, h, m, tzinfo=BERLIN), SHIFTS) == shift


@pytest.mark.parametrize(
    ("ttc", "index"), [(0.0, 0), (0.49, 0), (0.5, 1), (1.99, 3), (2.0, 4), (4.9, 5), (5.0, 6),
                       (60.0, 6)],
)  # fmt: skip
def test_time_to_contact_bins(ttc, index) -> None:
    assert ttc_bin(ttc) == index and TTC_BINS[index] <= ttc


def _event(incident, event, level, wall, **kw) -> dict:
    row = {"incident": incident, "event": event, "level": level, "wall": wall, "camera": "c",
           "zone": "z", "zone_name": "Zone", "ttc_s": 1.2 if level == "warning" else 0.0,
           "distance": 10.0 if level == "warning" else -1.0, "body_part": "left_ankle",
           "part_x": 5.0, "part_y": 6.0, "units": "pixels"}  # fmt: skip
    return {**row, **kw}


def test_incidents_count_a_warning_that_escalated_in_both_and_take_acks_from_the_ledger() -> None:
    t0 = datetime(2026, 12, 1, 13, 30, tzinfo=BERLIN).timestamp()
    events = [
        _event("a", "opened", "warning", t0),
        _event("a", "escalated", "danger", t0 + 2, body_part="right_wrist"),
        _event("a", "cleared", "clear", t0 + 9, distance=80.0),
        _event("b", "opened", "danger", t0 + 3600, zone="y", zone_name="Other"),
        _event("old", "escalated", "danger", t0 + 5),  # opened before the data: not counted
    ]
    ledger = {"a": {"acked_wall": t0 + 42, "acked_by": "vera", "acked_channel": "console"}}
    incs = incidents_of(events, ledger)
    assert [i.id for i in incs] == ["a", "b"]
    a, b = incs
    assert (a.warned, a.danger, a.body_part, a.min_distance) == (True, True, "right_wrist", -1.0)
    assert (a.acked_s, a.acked_by, a.acked_via) == (42, "vera", "console")
    assert (b.warned, b.danger, b.ttc_s, b.acked_s) == (False, True, None, None)
    f = compute(incs, t0 - 1, t0 + 86400, BERLIN, SHIFTS)
    assert (f.incidents, f.warnings, f.dangers, f.unacknowledged_dangers) == (2, 1, 2, 1)
    assert f.shifts["early"].warnings == 1 and f.shifts["late"].dangers == 1
    assert f.hours[13].warnings == 1 and f.hours[14].dangers == 1
    assert f.ttc_counts[ttc_bin(1.2)] == 1 and sum(f.ttc_counts) == 1
    assert [(z.zone, z.warnings, z.dangers, z.median_ack_s) for z in f.zones] == [
        ("z", 1, 1, 42.0), ("y", 0, 1, None)]  # fmt: skip
    assert f.where == {"c": [(5.0, 6.0)]}
    # The period is by opening: an incident opened outside it is not counted.
    assert compute(incs, t0 + 10, t0 + 86400, BERLIN, SHIFTS).incidents == 1


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (lambda: AnalyticsSettings(shifts=[{"name": "a", "start": "06:00"},
                                           {"name": "a", "start": "18:00"}]),
         "name ['a'] used twice"),
        (lambda: AnalyticsSettings(shifts=[{"name": "a", "start": "06:00"},
                                           {"name": "b", "start": "06:00"}]),
         "start ['06:00'] used twice"),
        (lambda: AnalyticsSettings(shifts=[{"name": "a", "start": "6am"}]), "should match"),
        (lambda: DigestSettings(every="fortnight"), "'day' or 'week'"),
        (lambda: DigestSettings(link="ftp://x"), "should match"),
    ],
)  # fmt: skip
def test_bad_analytics_and_digest_settings_are_refused_by_name(settings, message) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        settings()


# -- golden: the shared footage replayed into one state database ----------------------------

needs_footage = pytest.mark.skipif(
    not (SHARED_FOOTAGE / "worker-zone-detection.gif").exists(),
    reason=f"shared test footage not present at {SHARED_FOOTAGE}",
)
ZONES = {
    "band": {"type": "FeatureCollection", "safetyd": {"units": "pixels"}, "features": [
        {"type": "Feature", "properties": {"id": "band", "name": "Middle band",
         "body_parts": ["feet"], "warn_distance": 40, "warn_ttc_s": 2.0, "min_frames": 2},
         "geometry": {"type": "Polygon",
                      "coordinates": [[[120, 0], [170, 0], [170, 270], [120, 270], [120, 0]]]}}]},
    "floor": {"type": "FeatureCollection", "safetyd": {"units": "metres"}, "features": [
        {"type": "Feature", "properties": {"id": "lane", "name": "Floor lane",
         "body_parts": ["feet"], "warn_distance": 1.5, "warn_ttc_s": 2.0, "min_frames": 2},
         "geometry": {"type": "Polygon",
                      "coordinates": [[[7, 0], [9, 0], [9, 9], [7, 9], [7, 0]]]}}]},
}  # fmt: skip
CONFIG = """
[site]
name = "Golden plant"
timezone = "Europe/Berlin"
[[cameras]]
id = "walkway"
source = "worker.gif"
width = 480
height = 270
zones = ["walkway.geojson"]
[[cameras]]
id = "walkers"
source = "walkers.gif"
width = 480
height = 270
zones = ["band.geojson"]
[[cameras]]
id = "yard"
source = "yard.gif"
width = 480
height = 270
zones = ["floor.geojson"]
[cameras.calibration]
image_points = [[0, 270], [480, 270], [480, 0], [0, 0]]
floor_points = [[0, 0], [16, 0], [16, 9], [0, 9]]
[alerts]
sinks = ["log"]
[alerts.groups.operators]
numbers = ["+15555550101"]
[alerts.groups.supervisors]
numbers = ["+15555550102"]
[storage]
state_dir = "state"
"""
REPLAYS = [
    ("walkway", "worker-zone-detection"), ("walkers", "face-demographics-walking"),
    ("walkers", "three-people-standing"), ("yard", "three-people-standing"),
    ("yard", "face-demographics-walking"), ("yard", "yard-person-bicycle-car"),
]  # fmt: skip
# The figures of these replays as first measured (pinned: a change in perception that
# moves them shows here), per zone, (warnings, dangers). Not read off the videos by
# hand; the test also checks them against a recount of the replay's own events.
GOLDEN = {("walkway", "beyond-tape"): (1, 1), ("walkers", "band"): (2, 0),
          ("yard", "lane"): (2, 1)}  # fmt: skip


@pytest.fixture(scope="module")
def golden(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("golden")
    (tmp / "safetyd.toml").write_text(CONFIG)
    shutil.copy(ROOT / "zones" / "walkway.geojson", tmp / "walkway.geojson")
    for name, zones in ZONES.items():
        (tmp / f"{name}.geojson").write_text(json.dumps(zones))
    events = []
    for camera, clip in REPLAYS:
        out = subprocess.run(
            [*SAFETYD, "replay", str(SHARED_FOOTAGE / f"{clip}.gif"), "--camera", camera,
             "--config", str(tmp / "safetyd.toml"), "--state-dir", str(tmp / "state"),
             "--events", "-"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        events += [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    return tmp, events


def _recount(events: list[dict]) -> dict:
    """The figures from the replay's JSON lines, counted the simple way."""
    incidents: dict[str, list[dict]] = {}
    for e in events:
        incidents.setdefault(e["incident"], []).append(e)
    zones: dict[tuple[str, str], list[int]] = {}
    hours = [[0, 0] for _ in range(24)]
    ttc = [0] * len(TTC_BINS)
    for rows in incidents.values():
        first = rows[0]
        warned = first["event"] == "opened" and first["level"] == "warning"
        danger = any(r["level"] == "danger" for r in rows)
        z = zones.setdefault((first["camera"], first["zone"]), [0, 0])
        z[0] += warned
        z[1] += danger
        hour = datetime.fromtimestamp(first["wall"], BERLIN).hour
        hours[hour][0] += warned
        hours[hour][1] += danger
        if warned and first["ttc_s"] is not None:
            ttc[max(i for i, edge in enumerate(TTC_BINS) if first["ttc_s"] >= edge)] += 1
    return {"zones": {k: tuple(v) for k, v in zones.items()}, "hours": hours, "ttc": ttc,
            "incidents": len(incidents)}  # fmt: skip


def _figures_of(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="figures-data">(.*?)</script>', html,
                      re.S)  # fmt: skip
    assert found, "the figures are not embedded in the page"
    return json.loads(found[1])


def _pictures_of(html: str) -> dict[str, np.ndarray]:
    out = {}
    for ident, data in re.findall(r'id="([a-z]+-[a-z]+)" src="data:image/png;base64,([^"]+)"',
                                  html):  # fmt: skip
        out[ident] = cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_COLOR)
    return out


@needs_footage
def test_the_report_of_the_replayed_footage_has_the_golden_figures(golden, tmp_path) -> None:
    tmp, events = golden
    out, near = tmp_path / "report.html", tmp_path / "near-misses.csv"
    result = subprocess.run(
        [*SAFETYD, "report", "--config", str(tmp / "safetyd.toml"), "--since", "1d",
         "--out", str(out), "--near-misses", str(near)],
        capture_output=True, text=True, timeout=120, cwd=tmp,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    html = out.read_text()
    f = _figures_of(html)
    recount = _recount(events)
    got = {(z["camera"], z["zone"]): (z["warnings"], z["dangers"]) for z in f["zones"]}
    assert got == recount["zones"] == GOLDEN
    assert (f["warnings"], f["dangers"]) == (5, 2) and f["incidents"] == recount["incidents"] == 6
    assert [[h["warnings"], h["dangers"]] for h in f["hours"]] == recount["hours"]
    assert f["ttc"]["counts"] == recount["ttc"]
    assert sum(c["warnings"] for c in f["shifts"].values()) == 5
    assert list(f["shifts"]) == ["early", "late", "night"]
    # Where warnings fired: a picture per camera, the floor plan for the calibrated one,
    # each warning's point drawn where the replay says the deciding part was.
    pictures = _pictures_of(html)
    assert set(pictures) == {"heat-walkway", "heat-walkers", "heat-yard", "floor-yard"}
    assert pictures["heat-walkway"].shape == (270, 480, 3)
    assert pictures["floor-yard"].shape == (480, 640, 3)
    for e in events:
        if e["event"] == "opened" and e["level"] == "warning" and e.get("part_x") is not None:
            pic = pictures[f"heat-{e['camera']}"]
            x, y = min(int(e["part_x"]), 479), min(int(e["part_y"]), 269)  # on the edge
            assert pic[y, x].min() > 200, "no dot where the warning fired"
    # The near-miss records: one per incident, marked as near misses, with what a report asks.
    rows = list(csv.DictReader(io.StringIO(near.read_text())))
    assert len(rows) == 6
    assert {r["record_type"] for r in rows} == {"near miss (no injury recorded by safetyd)"}
    assert {r["site"] for r in rows} == {"Golden plant"}
    assert {(r["area"], r["zone"], r["highest_level"]) for r in rows} >= {
        ("walkway", "beyond-tape", "danger"), ("walkers", "band", "warning")}  # fmt: skip
    assert all(r["body_part"] and r["closest_distance"] and r["opened"] for r in rows)
    # Chromium draws the four charts, offline, from the file alone.
    driver = browser()
    try:
        driver.get(out.as_uri())
        assert wait_for(lambda: driver.execute_script(
            "return window.safetydCharts && window.safetydCharts.length") == 4, 10)  # fmt: skip
        drawn = driver.execute_script(
            "return window.safetydCharts.map(c => { const d = c.ctx.getImageData(0, 0, "
            "c.width, c.height).data; let n = 0; for (let i = 3; i < d.length; i += 4) "
            "if (d[i]) n++; return n; })"
        )
        assert all(n > 1000 for n in drawn), drawn
        assert driver.find_element("id", "t-warnings").text == "5"
    finally:
        driver.quit()


@needs_footage
def test_the_console_analytics_page_filters_the_replayed_footage(golden) -> None:
    """The console's page on the same database: figures, charts, pictures by URL, a zone
    filter, the near-miss CSV, all behind the login."""
    import types

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    from test_console import PASSWORDS, Client, add_user, log_in

    from safetyd.assembly import load as cfg
    from safetyd.config.console import ConsoleSettings
    from safetyd.console.backend import Backend
    from safetyd.console.server import ConsoleServer
    from safetyd.service.status import DeliveryStatus, Status
    from safetyd.storage.store import StorageStatus, open_store

    tmp, _ = golden
    assert add_user(tmp / "users.json", "vera", "viewer", PASSWORDS["vera"]).returncode == 0
    loaded = cfg.load(tmp / "safetyd.toml")
    store = open_store(tmp / "state" / "safetyd.db")
    status = Status(site="Golden plant", cameras=(), delivery=DeliveryStatus(0, True, (), ()),
                    storage=StorageStatus(True, "/x", None, None, 0))  # fmt: skip
    backend = Backend(status=lambda: status, loaded=lambda: loaded, picture=lambda c: None,
                      store=store, alerts=types.SimpleNamespace(tz=BERLIN))  # fmt: skip
    server = ConsoleServer(ConsoleSettings(enabled=True, port=0), tmp / "users.json", backend)
    server.start()
    d = types.SimpleNamespace(console=f"http://127.0.0.1:{server.port}")
    driver = browser()
    try:
        c = Client(d.console)
        assert c.request("/analytics")[0] in (302, 303, 401)
        log_in(driver, d, "vera")
        driver.get(d.console + "/analytics?days=1")
        assert wait_for(lambda: driver.execute_script(
            "return window.safetydCharts && window.safetydCharts.length") == 4, 10)  # fmt: skip
        assert driver.find_element(By.ID, "t-warnings").text == "5"
        assert driver.find_element(By.ID, "t-dangers").text == "2"
        heat = driver.find_element(By.ID, "heat-yard")
        loaded_width = "return arguments[0].complete && arguments[0].naturalWidth"
        assert wait_for(lambda: driver.execute_script(loaded_width, heat) == 480, 10)
        floor = driver.find_element(By.ID, "floor-yard")
        assert wait_for(lambda: driver.execute_script(loaded_width, floor) == 640, 10)
        assert not driver.find_elements(By.ID, "floor-walkway")  # not calibrated
        Select(driver.find_element(By.ID, "f-zone")).select_by_visible_text("band")
        driver.find_element(By.ID, "f-apply").click()
        assert wait_for(lambda: "zone=band" in driver.current_url, 10)
        assert driver.find_element(By.ID, "t-warnings").text == "2"
        rows = driver.find_elements(By.CSS_SELECTOR, "#by-zone tbody tr")
        assert len(rows) == 1 and "Middle band" in rows[0].text
        c.log_in("vera")
        code, body, headers = c.request("/near-misses.csv?days=1&zone=lane")
        assert code == 200 and headers["content-type"].startswith("text/csv")
        lines = list(csv.DictReader(io.StringIO(body)))
        assert len(lines) == 3 and {r["zone"] for r in lines} == {"lane"}
        assert c.request("/analytics/floor/walkway.png?days=1")[0] == 404
    finally:
        driver.quit()
        server.stop()
        store.close()
