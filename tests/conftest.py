"""Shared test helpers: paths, small config/zone builders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
EXAMPLE_CONFIG = ROOT / "systemd" / "safetyd.toml"
SHARED_FOOTAGE = ROOT.parent / "shared" / "footage"
SAFETYD = [sys.executable, "-m", "safetyd"]


def run_safetyd(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """The real CLI as a subprocess, output captured as text."""
    return subprocess.run([*SAFETYD, *args], capture_output=True, text=True, timeout=timeout)


# Quiet MediaPipe's native logging in subprocesses the tests start.
os.environ.setdefault("GLOG_minloglevel", "2")


def wait_for(predicate, timeout: float, step: float = 0.05) -> bool:
    """Poll until predicate() is true or timeout seconds pass; its last answer."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def square(x0: float, y0: float, x1: float, y1: float) -> list:
    return [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]


def zone_feature(zone_id: str = "z1", coords=None, **props) -> dict:
    properties = {"id": zone_id, "warn_distance": 20, **props}
    return {
        "type": "Feature",
        "properties": properties,
        "geometry": {
            "type": "Polygon",
            "coordinates": square(100, 100, 200, 200) if coords is None else coords,
        },
    }


def zone_collection(*features: dict, units: str | None = None) -> dict:
    data: dict = {"type": "FeatureCollection", "features": list(features)}
    if units:
        data["safetyd"] = {"units": units}
    return data


BASE_TOML = """
[[cameras]]
id = "cam1"
source = "rtsp://127.0.0.1:8554/cam1"
width = 640
height = 360
zones = ["zones.geojson"]

[alerts]
sinks = ["log"]
[alerts.groups.operators]
numbers = ["+15555550101"]

[storage]
state_dir = "state"
"""


def write_config(
    tmp_path: Path,
    toml: str = BASE_TOML,
    zones: dict | str | None = None,
    name: str = "safetyd.toml",
) -> Path:
    """Write a config (and its zones.geojson) into tmp_path and return its path."""
    if zones is None:
        zones = zone_collection(zone_feature(recipients={"danger": ["operators"]}))
    text = zones if isinstance(zones, str) else json.dumps(zones)
    (tmp_path / "zones.geojson").write_text(text)
    path = tmp_path / name
    path.write_text(toml)
    return path


@pytest.fixture
def config_factory(tmp_path: Path):
    def make(toml: str = BASE_TOML, zones=None) -> Path:
        return write_config(tmp_path, toml, zones)

    return make


@pytest.fixture
def fake():
    """A fake Twilio REST API on 127.0.0.1 (tests/fake_twilio.py)."""
    from fake_twilio import FakeTwilio

    with FakeTwilio() as server:
        yield server


@pytest.fixture
def twilio_env(monkeypatch):
    """Twilio credentials the fake accepts, in the environment."""
    from fake_twilio import ACCOUNT_SID, AUTH_TOKEN

    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    return {**os.environ}
