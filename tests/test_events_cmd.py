"""`safetyd events` lists what replay (or the daemon) stored in SQLite; snapshots can
blur faces."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest
from conftest import EXAMPLE_CONFIG, FIXTURES, SAFETYD

from safetyd.cli.events import parse_since


@pytest.fixture(scope="module")
def state(tmp_path_factory) -> Path:
    state = tmp_path_factory.mktemp("state")
    result = subprocess.run(
        [
            *SAFETYD,
            "replay",
            str(FIXTURES / "walk-in.mp4"),
            "--config",
            str(EXAMPLE_CONFIG),
            "--camera",
            "press-line",
            "--state-dir",
            str(state),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return state


def events(state: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*SAFETYD, "events", "--config", str(EXAMPLE_CONFIG), "--state-dir", str(state), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_lists_stored_events(state: Path) -> None:
    result = events(state)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["time", "camera", "zone", "event"]
    assert [line.split()[4] for line in lines[1:]] == ["opened", "escalated", "cleared"]
    assert "3 event(s)" in result.stderr


def test_filters(state: Path) -> None:
    out = events(state, "--json", "--level", "danger").stdout
    rows = [json.loads(x) for x in out.splitlines()]
    assert [(r["event"], r["level"]) for r in rows] == [("escalated", "danger")]
    assert events(state, "--json", "--zone", "other").stdout == ""
    assert len(events(state, "--json", "--since", "1h").stdout.splitlines()) == 3
    assert events(state, "--json", "--since", "2000-01-01").stdout.count("\n") == 3
    future = events(state, "--json", "--since", "2999-01-01T00:00")
    assert future.returncode == 0 and future.stdout == ""
    bad = events(state, "--since", "yesterday")
    assert bad.returncode == 2 and "--since 'yesterday' not understood" in bad.stderr


def test_no_database_is_explained(tmp_path: Path) -> None:
    result = events(tmp_path)
    assert result.returncode == 1 and "no event database yet" in result.stderr


def test_parse_since() -> None:
    now = 1_800_000_000.0
    tz = ZoneInfo("Europe/Berlin")
    assert parse_since("30m", tz, now) == now - 1800
    assert parse_since("2h", tz, now) == now - 7200
    assert parse_since("1.5d", tz, now) == now - 129600
    local = datetime(2026, 11, 26, 6, 0, tzinfo=tz).timestamp()
    assert parse_since("2026-11-26T06:00", tz, now) == local
    assert parse_since("2026-11-26T05:00+00:00", tz, now) == local


def test_blurred_snapshots_hide_the_face(tmp_path: Path) -> None:
    config = tmp_path / "safetyd.toml"
    text = EXAMPLE_CONFIG.read_text().replace("blur_faces = false", "blur_faces = true")
    text = text.replace('"../', f'"{EXAMPLE_CONFIG.parent}/../')
    config.write_text(text)
    runs = {}
    for name, cfg in (("plain", EXAMPLE_CONFIG), ("blurred", config)):
        state = tmp_path / name
        result = subprocess.run(
            [
                *SAFETYD,
                "replay",
                str(FIXTURES / "walk-in.mp4"),
                "--config",
                str(cfg),
                "--camera",
                "press-line",
                "--state-dir",
                str(state),
                "--events",
                "-",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        opened = json.loads(result.stdout.splitlines()[0])
        runs[name] = (opened["frame"], cv2.imread(opened["snapshot"]).astype(float))
    assert runs["plain"][0] == runs["blurred"][0]
    frame = runs["plain"][0]
    truth = json.loads((FIXTURES / "walk-in.json").read_text())["frames"][frame]
    x0, y0 = truth["person_box"][:2]
    head = (slice(y0, y0 + 80), slice(x0 + 96, x0 + 160))
    assert np.abs(runs["plain"][1][head] - runs["blurred"][1][head]).mean() > 3
    # Away from the head nothing changes (the press zone, lower right).
    far = (slice(250, 300), slice(480, 620))
    assert np.abs(runs["plain"][1][far] - runs["blurred"][1][far]).mean() < 0.5


def test_blur_faces_smooths_the_detected_head() -> None:
    from safetyd.render import blur_faces
    from safetyd.vision.pose import MediaPipePoseEstimator

    image = cv2.imread(str(FIXTURES / "frame.png"))
    with MediaPipePoseEstimator() as est:
        (pose,) = est.estimate(image, 0.0)
    blurred = blur_faces(image.copy(), [(pose.keypoints, pose.visibility)])
    nose = pose.keypoints[0].astype(int)
    face = (slice(nose[1] - 15, nose[1] + 15), slice(nose[0] - 25, nose[0] + 5))
    sharp = np.abs(np.diff(image[face].astype(float), axis=1)).mean()
    soft = np.abs(np.diff(blurred[face].astype(float), axis=1)).mean()
    assert soft < 0.5 * sharp
    assert np.array_equal(image[300:, :100], blurred[300:, :100])  # far from the head
