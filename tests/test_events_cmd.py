"""`safetyd events` lists what replay (or the daemon) stored in SQLite; snapshots can
blur faces."""

from __future__ import annotations

import json
import shlex
import subprocess
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest
from conftest import EXAMPLE_CONFIG, FIXTURES, SAFETYD, run_safetyd

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
    # Site time with its zone (the example's site is in Europe/Berlin): "... 14:03:12 CET"
    assert [line.split()[5] for line in lines[1:]] == ["opened", "escalated", "cleared"]
    assert all(line.split()[2] in ("CET", "CEST") for line in lines[1:]), lines
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
    # Without --state-dir it looks where the configuration says, and hints at the flag.
    result = run_safetyd("events", "--config", str(EXAMPLE_CONFIG))
    assert result.returncode == 1
    assert (
        "/var/lib/safetyd/safetyd.db: no event database yet (safetyd has not run with this "
        "state dir); if the daemon ran with --state-dir (or replay with --state-dir), pass the "
        "same --state-dir here"
    ) in result.stderr


def test_a_reader_that_goes_away_ends_the_listing_quietly(state: Path) -> None:
    command = [*SAFETYD, "events", "--config", str(EXAMPLE_CONFIG), "--state-dir", str(state)]
    result = subprocess.run(
        " ".join(map(shlex.quote, command)) + " | true",  # the reader is gone at once
        shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr


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


def _track(pose, seen: bool = True, state: str = "confirmed"):
    from safetyd.vision.tracking import Track

    return Track(
        id=1, state=state, keypoints=pose.keypoints.copy(), velocity=np.zeros((33, 2)),
        visibility=pose.visibility.copy() if seen else np.zeros(33), bbox=pose.bbox.copy(),
        seen=seen, hits=5, age_s=1.0, since_seen_s=0.0 if seen else 0.4,
    )  # fmt: skip


@pytest.fixture(scope="module")
def man():
    """The demo frame and the pose the real model finds in it."""
    from safetyd.vision.pose import MediaPipePoseEstimator

    image = cv2.imread(str(FIXTURES / "frame.png"))
    with MediaPipePoseEstimator() as est:
        (pose,) = est.estimate(image, 0.0)
    return image, pose


def _face(pose) -> tuple[slice, slice]:
    nose = pose.keypoints[0].astype(int)
    return slice(nose[1] - 15, nose[1] + 15), slice(nose[0] - 25, nose[0] + 5)


def _detail(img: np.ndarray) -> float:
    return float(np.abs(np.diff(img.astype(float), axis=1)).mean())


@pytest.mark.parametrize("seen", [True, False], ids=["seen", "coasting"])
def test_blur_faces_hides_the_head_of_a_person_seen_or_not(man, seen: bool) -> None:
    """A person the model missed in this frame (his track coasts) used to keep a sharp
    face: only detected heads were blurred."""
    from safetyd.drawing.render import blur_faces

    image, pose = man
    # No motion, so only heads are hidden: with motion and nobody seen the whole
    # picture goes (the next test), which would hide this test's point.
    hidden = blur_faces(image.copy(), [_track(pose, seen)], motion=False)
    face = _face(pose)
    assert _detail(hidden[face]) < 0.5 * _detail(image[face])
    assert np.array_equal(image[300:, :100], hidden[300:, :100])  # far from the head


def test_motion_with_nobody_seen_hides_the_whole_picture(man) -> None:
    """Something moves but no pose was found: it may be a face the model missed."""
    from safetyd.drawing.render import blur_faces

    image, pose = man
    for motion in (True, None):  # None: motion not known (gating off)
        hidden = blur_faces(image.copy(), [], motion=motion)
        assert _detail(hidden) < 0.5 * _detail(image), motion
        coasting = blur_faces(image.copy(), [_track(pose, seen=False)], motion=motion)
        assert _detail(coasting) < 0.5 * _detail(image), motion
    assert np.array_equal(blur_faces(image.copy(), [], motion=False), image)  # a still scene
