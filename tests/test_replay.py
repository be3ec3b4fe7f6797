"""`safetyd replay` end to end, as a subprocess, on real video and real MediaPipe."""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from collections import Counter
from pathlib import Path

import cv2
import pytest
from conftest import EXAMPLE_CONFIG, FIXTURES, ROOT, SAFETYD, SHARED_FOOTAGE
from scenes import read_frames

WORKER_GIF = SHARED_FOOTAGE / "worker-zone-detection.gif"
needs_footage = pytest.mark.skipif(
    not WORKER_GIF.exists(), reason=f"shared test footage not present at {SHARED_FOOTAGE}"
)


def replay(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*SAFETYD, "replay", *args, "--config", str(EXAMPLE_CONFIG)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def events_of(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def walk_in(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("walk-in")
    result = replay(
        str(FIXTURES / "walk-in.mp4"),
        "--camera",
        "press-line",
        "--events",
        "-",
        "--tracks",
        str(out / "tracks.jsonl"),
        "--annotate",
        str(out / "ann.webm"),
        "--state-dir",
        str(out / "state"),
    )
    assert result.returncode == 0, result.stderr
    return result, out


def test_walking_into_the_press_is_one_incident_without_flicker(walk_in) -> None:
    result, _ = walk_in
    events = events_of(result.stdout)
    assert [(e["event"], e["level"]) for e in events] == [
        ("opened", "warning"),
        ("escalated", "danger"),
        ("cleared", "clear"),
    ]
    assert len({e["incident"] for e in events}) == 1
    opened, escalated, cleared = events
    assert opened["t"] < escalated["t"] < cleared["t"]
    # He is warned before his hand is in the press: distance positive, then negative.
    assert opened["distance"] > 0 and escalated["distance"] < 0
    assert escalated["t"] - opened["t"] >= 0.5
    # The hand did it: the zone watches hands only.
    assert escalated["body_part"] in {
        "left_wrist",
        "right_wrist",
        "left_pinky",
        "right_pinky",
        "left_index",
        "right_index",
        "left_thumb",
        "right_thumb",
    }


def test_event_lines_follow_the_contract(walk_in) -> None:
    result, _ = walk_in
    types = {
        "event": str,
        "level": str,
        "camera": str,
        "zone": str,
        "track": int,
        "frame": int,
        "t": float,
        "body_part": str,
        "distance": float,
    }
    for e in events_of(result.stdout):
        for key, kind in types.items():
            assert isinstance(e[key], kind), (key, e[key])
        assert e["ttc_s"] is None or isinstance(e["ttc_s"], float)
        assert e["camera"] == "press-line" and e["zone"] == "press-3-guard"
        assert e["zone_file_hash"] and e["latency_s"] >= 0


def test_snapshots_show_the_opened_and_escalated_moments(walk_in) -> None:
    result, out = walk_in
    snaps = {e["event"]: e["snapshot"] for e in events_of(result.stdout)}
    assert snaps["cleared"] is None
    for event in ("opened", "escalated"):
        image = cv2.imread(snaps[event])
        assert image is not None and image.shape == (360, 640, 3)
        assert str(out / "state" / "snapshots") in snaps[event]


def test_summary_goes_to_stderr_and_no_progress_bar_when_piped(walk_in) -> None:
    result, _ = walk_in
    assert "\r" not in result.stderr
    assert "replayed 107 frames of walk-in.mp4 on camera press-line" in result.stderr
    assert "1 incident(s), 3 event(s)" in result.stderr


def test_annotated_video_shows_the_danger(walk_in) -> None:
    result, out = walk_in
    frames = read_frames(out / "ann.webm")
    assert len(frames) == 107
    escalated = next(e for e in events_of(result.stdout) if e["event"] == "escalated")
    danger = frames[escalated["frame"] + 2][50:300, 560:620].astype(int)
    before = frames[5][50:300, 560:620].astype(int)
    # The press zone is tinted red during danger (BGR: red channel dominates).
    assert (danger[..., 2] - danger[..., 1]).mean() > (before[..., 2] - before[..., 1]).mean() + 30


def test_one_track_id_for_the_man(walk_in) -> None:
    _, out = walk_in
    rows = [json.loads(line) for line in (out / "tracks.jsonl").read_text().splitlines()]
    assert len(rows) == 107
    ids = Counter(t["id"] for r in rows[:85] for t in r["tracks"] if t["state"] == "confirmed")
    assert len(ids) == 1


def test_empty_scene_is_silent() -> None:
    result = replay(str(FIXTURES / "empty.mp4"), "--camera", "press-line", "--events", "-")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "0 incident(s), 0 event(s)" in result.stderr


def test_without_camera_the_choice_is_said_and_a_disabled_camera_is_skipped() -> None:
    """It used to take the first camera silently, even a disabled one, and report 0
    incidents (the example's first camera, walkway, is disabled)."""
    result = replay(str(FIXTURES / "empty.mp4"), "--events", "-")
    assert result.returncode == 0, result.stderr
    assert (
        "replaying as camera 'press-line' (the first enabled one; choose with --camera from: "
        "walkway, press-line, dock)"
    ) in result.stderr
    named = replay(str(FIXTURES / "empty.mp4"), "--camera", "walkway")  # named: allowed
    assert named.returncode == 0, named.stderr
    assert "replaying as camera" not in named.stderr


def test_a_reader_that_goes_away_ends_the_replay_quietly(tmp_path: Path) -> None:
    """`safetyd replay … --events - | head -1` used to end in a BrokenPipeError traceback."""
    err = tmp_path / "stderr.txt"
    command = " ".join(
        shlex.quote(a)
        for a in [*SAFETYD, "replay", str(FIXTURES / "walk-in.mp4"), "--config",
                  str(EXAMPLE_CONFIG), "--camera", "press-line", "--events", "-"]
    )  # fmt: skip
    result = subprocess.run(
        f"set -o pipefail; {command} 2>{shlex.quote(str(err))} | head -1",
        shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert json.loads(result.stdout)["event"] == "opened"
    assert result.returncode == 141  # as a Unix tool killed by SIGPIPE reports it
    assert "Traceback" not in err.read_text() and "BrokenPipe" not in err.read_text()


def _upscaled(src: Path, out: Path, size: tuple[int, int]) -> Path:
    cap = cv2.VideoCapture(str(src))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 10, size)
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        writer.write(cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR))
    writer.release()
    cap.release()
    return out


def test_a_video_of_another_size_is_reported_or_its_declared_zones_scaled(
    tmp_path: Path,
) -> None:
    """The demo camera is configured as 640x360; the same scene at 1280x720 used to be
    replayed silently with every zone in the top-left quarter (0 incidents)."""
    video = _upscaled(FIXTURES / "walk-in.mp4", tmp_path / "hd.mp4", (1280, 720))
    result = replay(str(video), "--camera", "press-line", "--events", "-")
    assert result.returncode == 0, result.stderr
    assert (
        "camera press-line: ZONES NOT USED: the picture is 1280x720 but the camera is "
        "configured as 640x360, the size press-3-guard were drawn for"
    ) in result.stderr
    assert events_of(result.stdout) == []
    # A zone file that says what it was drawn on is scaled to the picture.
    zones = json.loads((ROOT / "zones" / "press-cell.geojson").read_text())
    zones.setdefault("safetyd", {})["image_size"] = [640, 360]
    declared = tmp_path / "declared.geojson"
    declared.write_text(json.dumps(zones))
    result = replay(str(video), "--camera", "press-line", "--zones", str(declared), "--events", "-")
    assert result.returncode == 0, result.stderr
    assert (
        "camera press-line: zone(s) press-3-guard drawn on 640x360 scaled to the 1280x720 picture"
    ) in result.stderr
    levels = [(e["event"], e["level"]) for e in events_of(result.stdout)]
    assert levels[:2] == [("opened", "warning"), ("escalated", "danger")], levels


def test_realtime_replay_is_paced(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    cap = cv2.VideoCapture(str(FIXTURES / "walk-in.mp4"))
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 10, (640, 360))
    for _ in range(25):  # 2.5 s
        writer.write(cap.read()[1])
    writer.release()
    started = time.monotonic()
    result = replay(str(clip), "--camera", "press-line", "--realtime")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started >= 2.4


def test_zones_override_and_bad_arguments(tmp_path: Path) -> None:
    zones = tmp_path / "z.geojson"
    zones.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"id": "left", "warn_distance": 0, "warn_ttc_s": 0},
                        "geometry": {
                            "type": "Polygon",
                            "coordinates": [[[0, 0], [250, 0], [250, 360], [0, 360], [0, 0]]],
                        },
                    }
                ],
            }
        )
    )
    result = replay(
        str(FIXTURES / "walk-in.mp4"),
        "--camera",
        "press-line",
        "--zones",
        str(zones),
        "--events",
        "-",
    )
    assert result.returncode == 0, result.stderr
    assert {e["zone"] for e in events_of(result.stdout)} == {"left"}
    bad = replay(str(FIXTURES / "walk-in.mp4"), "--camera", "nope")
    assert bad.returncode == 1
    assert "--camera 'nope' is not in" in bad.stderr and "Traceback" not in bad.stderr
    missing = replay(str(tmp_path / "missing.mp4"))
    assert missing.returncode == 1 and "no such video file" in missing.stderr


@needs_footage
def test_worker_footage_prints_events_and_keeps_one_id(tmp_path: Path) -> None:
    """The acceptance command of the vision issue, on real factory footage."""
    tracks = tmp_path / "tracks.jsonl"
    result = replay(
        str(WORKER_GIF), "--camera", "walkway", "--events", "-", "--tracks", str(tracks)
    )
    assert result.returncode == 0, result.stderr
    events = events_of(result.stdout)
    assert events and all(e["camera"] == "walkway" for e in events)
    # He walks beyond the tape line: the feet zone goes to danger.
    assert ("escalated", "danger") in {(e["event"], e["level"]) for e in events} or (
        events[0]["event"],
        events[0]["level"],
    ) == ("opened", "danger")
    rows = [json.loads(line) for line in tracks.read_text().splitlines()]
    visible = [r for r in rows if any(t["seen"] for t in r["tracks"])]
    ids = Counter(t["id"] for r in visible for t in r["tracks"] if t["seen"])
    assert len(visible) >= 60
    assert ids.most_common(1)[0][1] >= 0.9 * len(visible)


PLAYER = """<!doctype html><video id="v" muted preload="auto" src="{src}"></video>"""
# Wait for the video to decode its first frame, or to fail; answer what the page saw.
PLAY = """
const done = arguments[arguments.length - 1];
const v = document.getElementById('v');
const answer = () => done({error: v.error ? v.error.code : null, width: v.videoWidth,
                           height: v.videoHeight, duration: v.duration, ready: v.readyState});
if (v.readyState >= 2 || v.error) { answer(); return; }
v.addEventListener('loadeddata', answer);
v.addEventListener('error', answer);
setTimeout(answer, 10000);
"""


def _played(driver, video: Path) -> dict:
    page = video.with_suffix(".html")
    page.write_text(PLAYER.format(src=video.name))
    driver.get(page.as_uri())
    return driver.execute_async_script(PLAY)


def test_the_annotated_video_plays_in_chromium(walk_in, tmp_path: Path) -> None:
    """Issue 29: --annotate wrote MPEG-4 Part 2, which Chromium does not play; a .webm
    is VP8, which it does. The same frames written as .mp4 by this OpenCV (no H.264
    encoder in its wheels) are refused by the same page: the check can fail."""
    from browser import browser

    from safetyd.cli.replay import _video_writer
    from safetyd.vision.sources import Frame

    _, out = walk_in
    frames = read_frames(out / "ann.webm")
    mp4 = tmp_path / "ann.mp4"
    frame = Frame("cam", 0, 0.0, 0.0, 0.0, frames[0])
    writer = _video_writer(str(mp4), frame, 10.0)
    for image in frames:
        writer.write(image)
    writer.release()
    codec = int(cv2.VideoCapture(str(mp4)).get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little")
    driver = browser()
    try:
        webm = _played(driver, out / "ann.webm")
        other = _played(driver, mp4)
    finally:
        driver.quit()
    assert webm["error"] is None and webm["ready"] >= 2, webm
    assert (webm["width"], webm["height"]) == (640, 360)
    assert webm["duration"] > 9  # 107 frames at the clip's 10 fps
    if codec in (b"mp4v", b"FMP4"):  # MPEG-4 Part 2: MEDIA_ERR_SRC_NOT_SUPPORTED
        assert other["error"] == 4, other
    else:
        assert codec == b"avc1" and other["error"] is None, (codec, other)


def test_an_mp4_without_h264_says_it_will_not_play_in_a_browser(tmp_path: Path, capsys) -> None:
    import numpy as np

    from safetyd.cli.replay import _video_writer
    from safetyd.vision.sources import Frame

    frame = Frame("cam", 0, 0.0, 0.0, 0.0, np.zeros((120, 160, 3), np.uint8))
    for name in ("a.webm", "a.mp4"):
        writer = _video_writer(str(tmp_path / name), frame, 10.0)
        for _ in range(5):
            writer.write(frame.image)
        writer.release()
    fourcc = {
        name: int(cv2.VideoCapture(str(tmp_path / name)).get(cv2.CAP_PROP_FOURCC)).to_bytes(
            4, "little"
        )
        for name in ("a.webm", "a.mp4")
    }
    assert fourcc["a.webm"] == b"VP80"
    said = capsys.readouterr().err
    if fourcc["a.mp4"] in (b"mp4v", b"FMP4"):  # MPEG-4 Part 2, as FFmpeg tags it
        assert "no H.264 encoder" in said and "name it .webm for a browser" in said
    else:
        assert fourcc["a.mp4"] == b"avc1" and "H.264" not in said


# -- areas: falls, man down and posture ----------------------------------------------


def _area_file(path: Path, width: int, height: int) -> Path:
    path.write_text(json.dumps({
        "type": "FeatureCollection",
        "features": [{
            "type": "Feature",
            "properties": {"id": "floor", "name": "Whole floor", "kind": "area"},
            "geometry": {"type": "Polygon", "coordinates": [
                [[0, 0], [width, 0], [width, height], [0, height], [0, 0]]]},
        }],
    }))  # fmt: skip
    return path


def test_an_area_measures_posture_beside_the_hazard_zone_and_nobody_falls(
    walk_in, tmp_path
) -> None:
    """Real MediaPipe on the walk-in video with the press zone and an area over the
    whole picture: the press incident is as without the area, the man walking is
    neither a fall nor a man down, and his posture exposure is written."""
    area = _area_file(tmp_path / "area.geojson", 640, 360)
    result = replay(
        str(FIXTURES / "walk-in.mp4"), "--camera", "press-line",
        "--zones", str(ROOT / "zones" / "press-cell.geojson"), "--zones", str(area),
        "--events", "-", "--posture", str(tmp_path / "posture.jsonl"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    events = events_of(result.stdout)
    assert {e["kind"] for e in events} == {"hazard"}
    without = events_of(walk_in[0].stdout)
    assert [(e["event"], e["zone"], e["level"]) for e in events] == [
        (e["event"], e["zone"], e["level"]) for e in without]  # fmt: skip
    assert [e["frame"] for e in events] == [e["frame"] for e in without]
    assert "risky posture(s)" in result.stderr.splitlines()[-1]
    lines = [json.loads(x) for x in (tmp_path / "posture.jsonl").read_text().splitlines()]
    exposure = [x for x in lines if x["event"] == "exposure"]
    assert exposure and {x["zone"] for x in exposure} == {"floor"}
    trunk = sum(x["seconds"] for x in exposure if x["measure"] == "trunk")
    # He is in the picture from frame 8 to the end (about 9 s of the 10.4 s video).
    assert 4.0 <= trunk <= 10.4, exposure
    for x in (x for x in lines if x["event"] == "risky_posture"):
        assert x["zone"] == "floor" and x["posture"] and x["t"] >= 0


@needs_footage
def test_no_fall_or_man_down_in_the_shared_footage(tmp_path) -> None:
    """People walking, standing, cycling in real footage: with every picture an area
    watched for falls and a man down after 5 s, not one is raised."""
    config = tmp_path / "safetyd.toml"
    config.write_text(f"""
[[cameras]]
id = "cam"
source = "rtsp://127.0.0.1:1/unused"
width = 480
height = 270
zones = ["{_area_file(tmp_path / "area.geojson", 480, 270)}"]

[body]
man_down_after_s = 5

[alerts]
sinks = ["log"]

[storage]
state_dir = "{tmp_path / "state"}"
""")
    raised = []
    for gif in sorted(SHARED_FOOTAGE.glob("*.gif")):
        result = subprocess.run(
            [*SAFETYD, "replay", str(gif), "--config", str(config), "--events", "-"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        raised += [(gif.name, e["kind"]) for e in events_of(result.stdout)
                   if e["kind"] in ("fall", "man_down")]  # fmt: skip
    assert raised == []
