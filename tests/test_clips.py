"""Incident clips: which frames (the planner), what they show (real MediaPipe on the
demo video, decoded back), that recording never waits for the pipeline's sake, and
the disk they may use (retention by days and by size). The browser playing a clip
from the console is in test_console.py; the daemon recording them, in test_daemon.py."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest
from conftest import FIXTURES

from safetyd.assembly import load as cfg
from safetyd.assembly.settings import CameraSettings, ClipRecording
from safetyd.config.model import ClipSettings
from safetyd.hazard.clips import ClipPlanner, Joined
from safetyd.hazard.incidents import IncidentEvent, Transition
from safetyd.pipeline import CameraPipeline
from safetyd.service.clipdisk import GB, ClipDisk
from safetyd.service.clips import QUEUE_FRAMES, ClipInput, ClipRecorder
from safetyd.service.metrics import Metrics
from safetyd.storage.clips import clip_of
from safetyd.storage.store import open_store
from safetyd.vision.pose import MediaPipePoseEstimator
from safetyd.vision.sources import iter_file

UTC = ZoneInfo("UTC")


def tr(event: str, incident: str) -> Transition:
    """A transition with only what the planner reads (the rest is irrelevant to it)."""
    t = Transition.__new__(Transition)
    object.__setattr__(t, "event", IncidentEvent(event))
    object.__setattr__(t, "incident_id", incident)
    return t


def plan(events: dict[int, list[Transition]], frames: int, pre=0.5, post=0.3, most=2.0):
    """Run a planner over ``frames`` frames at 10 fps; the frame index is the item."""
    p: ClipPlanner[int] = ClipPlanner(pre, post, most)
    clips: list[list[int]] = []
    joined: list[tuple[int, Joined]] = []
    for i in range(frames):
        step = p.step(i / 10, i, events.get(i, []))
        if step.started is not None:
            clips.append(list(step.started))
        elif step.frame is not None:
            clips[-1].append(step.frame)
        joined += [(len(clips) - 1, j) for j in step.joined]
        if step.ended:
            clips[-1].append(-1)  # marks the end
    return clips, joined


@pytest.mark.parametrize(
    ("events", "frames", "want_clips", "want_joined"),
    [
        # Pre-roll (0.5 s: 5 frames before, 6 with the opening), then post-roll 0.3 s.
        ({10: [tr("opened", "a")], 14: [tr("cleared", "a")]}, 30,
         [[5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, -1]], [(0, Joined("a", 0.5))]),
        # Fewer frames than the pre-roll exist: the clip starts at the first.
        ({2: [tr("opened", "a")], 3: [tr("cleared", "a")]}, 10,
         [[0, 1, 2, 3, 4, 5, 6, -1]], [(0, Joined("a", 0.2))]),
        # A second incident joins the running clip at its offset; the clip waits for both.
        ({10: [tr("opened", "a")], 12: [tr("opened", "b")], 13: [tr("cleared", "a")],
          16: [tr("cleared", "b")]}, 30,
         [[5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, -1]],
         [(0, Joined("a", 0.5)), (0, Joined("b", 0.7))]),
        # An incident reopening in the post-roll keeps the clip going.
        ({10: [tr("opened", "a")], 11: [tr("cleared", "a")], 13: [tr("opened", "c")],
          14: [tr("cleared", "c")]}, 30,
         [[5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, -1]],
         [(0, Joined("a", 0.5)), (0, Joined("c", 0.8))]),
        # max_s (2 s) ends a clip whose incident never clears; a later one starts anew,
        # with its own pre-roll (frames the two clips share).
        ({10: [tr("opened", "a")], 27: [tr("opened", "d")]}, 32,
         [[*range(5, 26), -1], [22, 23, 24, 25, 26, 27, 28, 29, 30, 31]],
         [(0, Joined("a", 0.5)), (1, Joined("d", 0.5))]),
    ],
)  # fmt: skip
def test_the_planner_keeps_the_pre_roll_joins_incidents_and_ends_the_clip(
    events, frames, want_clips, want_joined
) -> None:
    clips, joined = plan(events, frames)
    assert clips == want_clips
    assert [(c, j.incident, round(j.offset_s, 6)) for c, j in joined] == [
        (c, j.incident, j.offset_s) for c, j in want_joined
    ]


def test_no_clip_without_an_opening() -> None:
    clips, _ = plan({5: [tr("cleared", "x")]}, 60)
    assert clips == []


# -- real pixels ------------------------------------------------------------------------


def _lap(img: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


def test_a_clip_of_the_demo_has_its_pre_roll_its_overlays_and_hidden_faces(tmp_path) -> None:
    """The demo's press guard, through the real pipeline: the clip starts pre_roll_s
    before the opening, plays in real time at the camera's fps, is scaled to the
    configured width, and every head in it is pixelated."""
    loaded = cfg.load(FIXTURES.parent / "systemd" / "safetyd.toml")
    settings = CameraSettings.of(loaded, "press-line")
    pipe = CameraPipeline.from_settings(settings, MediaPipePoseEstimator, always_armed=True)
    store = open_store(tmp_path / "s.db")
    metrics = Metrics()
    clips = ClipSettings(pre_roll_s=2.0, post_roll_s=1.0, width=480)
    disk = ClipDisk(tmp_path / "clips", lambda: clips, store, metrics)
    rec = ClipRecorder("press-line", ClipRecording.of(clips), 10.0, disk, metrics, UTC)
    base = 1_790_000_000.0
    results = []
    try:
        for f in iter_file(FIXTURES / "walk-in.mp4", "press-line"):
            r = pipe.process(f, f.video_t)
            results.append(r)
            rec.take(ClipInput(
                f.video_t, base + f.video_t, f.image, tuple(r.tracks), r.assessments,
                pipe.setup.zones, None, {}, r.motion, tuple(r.transitions),
            ))  # fmt: skip
        rec.request_stop()
        rec._run()  # the thread's end: the running clip is closed with what it has
    finally:
        pipe.close()
    opened = next(t for r in results for t in r.transitions if t.event == "opened")
    row = clip_of(store, opened.incident_id)
    assert row is not None and row["ended"] is not None
    path = Path(row["path"])
    assert path.suffix == ".webm" and path.stat().st_size == row["bytes"] > 0
    assert row["offset_s"] == pytest.approx(min(2.0, opened.video_t), abs=0.11)
    assert row["started"] == pytest.approx(base + opened.video_t - row["offset_s"], abs=1e-6)

    cap = cv2.VideoCapture(str(path))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(10.0)
    decoded = []
    while (got := cap.read())[0]:
        decoded.append(got[1])
    cap.release()
    assert decoded[0].shape == (270, 480, 3)
    # Real time: the clip lasts from its first frame to its last kept frame.
    cleared = [t for r in results for t in r.transitions if t.event == "cleared"]
    last_t = results[-1].frame.video_t
    end = min(cleared[0].video_t + 1.0, last_t) if cleared else last_t
    want_frames = (end - (opened.video_t - row["offset_s"])) * 10 + 1
    assert abs(len(decoded) - want_frames) <= 2

    # The opening frame: his head pixelated in the clip, sharp in the source. (Measured
    # here: about 0.11 of the source's detail pixelated, 0.34 unblurred through VP8.)
    i = round(row["offset_s"] * 10)
    r = next(r for r in results if opened in r.transitions)
    track = next(t for t in r.tracks if t.id == opened.track_id)
    scale = 480 / r.frame.image.shape[1]
    nose = track.keypoints[0] * scale
    x0, y0 = int(nose[0] - 12), int(nose[1] - 12)
    head_clip = decoded[i][y0 : y0 + 24, x0 : x0 + 24]
    source = cv2.resize(r.frame.image, (480, 270), interpolation=cv2.INTER_AREA)
    head_source = source[y0 : y0 + 24, x0 : x0 + 24]
    assert _lap(head_clip) < 0.2 * _lap(head_source), "the head is not hidden in the clip"
    assert metrics.clips_recorded.labels("press-line")._value.get() >= 1


def _item(mono: float, transitions=()) -> ClipInput:
    img = np.zeros((36, 64, 3), np.uint8)
    return ClipInput(mono, 1e9 + mono, img, (), (), (), None, {}, False, tuple(transitions))


def test_a_frame_the_clip_writer_has_no_room_for_is_skipped_but_its_events_are_not(
    tmp_path,
) -> None:
    """offer() never waits: with the clip thread behind (here: not started), a frame
    beyond the queue is counted as skipped, and its opening goes with the next frame
    that fits, so the clip still starts."""
    store = open_store(tmp_path / "s.db")
    metrics = Metrics()
    disk = ClipDisk(tmp_path / "clips", ClipSettings, store, metrics)
    rec = ClipRecorder("cam", ClipRecording.of(ClipSettings()), 10.0, disk, metrics, UTC)
    for i in range(QUEUE_FRAMES):
        rec.offer(_item(i / 10))
    t0 = time.monotonic()
    rec.offer(_item(0.4, [tr("opened", "late")]))
    assert time.monotonic() - t0 < 0.05
    assert metrics.clip_frames_skipped.labels("cam")._value.get() == 1
    for _ in range(QUEUE_FRAMES):  # the writer catches up
        rec.take(rec._queue.get_nowait())
    rec.offer(_item(0.5))
    carried = rec._queue.get_nowait()
    assert [t.incident_id for t in carried.transitions] == ["late"]
    rec.take(carried)
    rec._close(ok=True)
    row = clip_of(store, "late")
    assert row is not None and Path(row["path"]).is_file()


# -- the disk -------------------------------------------------------------------------------


def _clip_file(root: Path, name: str, size: int, age_days: float, now: float) -> Path:
    path = root / "2026-01-01" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))
    os.utime(path, (now - age_days * 86400, now - age_days * 86400))
    return path


def test_retention_deletes_old_clips_then_the_oldest_beyond_the_quota_and_warns(
    tmp_path, caplog
) -> None:
    now = time.time()
    root = tmp_path / "clips"
    store = open_store(tmp_path / "s.db")
    metrics = Metrics()
    settings = ClipSettings(retention_days=10, max_gb=25_000 / GB, warn_at=0.8)
    disk = ClipDisk(root, lambda: settings, store, metrics)
    ancient = _clip_file(root, "cam_a.webm", 4_000, 11, now)
    old = _clip_file(root, "cam_b.webm", 10_000, 5, now)
    mid = _clip_file(root, "cam_c.webm", 10_000, 3, now)
    new = _clip_file(root, "cam_d.webm", 10_000, 1, now)
    other = _clip_file(root, "notes.txt", 50_000, 30, now)  # not a clip: never touched
    for p in (ancient, old, mid, new):
        disk.join("cam", p, now, [Joined(p.stem, 1.0)])
    recording = disk.new_path("cam", now, UTC)  # being written: never deleted
    recording.parent.mkdir(parents=True, exist_ok=True)
    recording.write_bytes(os.urandom(10_000))

    with caplog.at_level(logging.WARNING, "safetyd.clips"):
        usage = disk.enforce(now)
    assert not ancient.exists() and not old.exists()
    assert mid.exists() and new.exists() and other.exists() and recording.exists()
    assert (usage.removed_old, usage.removed_for_space, usage.files) == (1, 1, 2)
    assert usage.bytes == 20_000 and usage.limit_bytes == 25_000
    assert clip_of(store, "cam_a") is None and clip_of(store, "cam_b") is None
    assert clip_of(store, "cam_c") is not None
    assert "1 clip(s) deleted before their 10 days" in caplog.text
    assert metrics.clips_deleted.labels("age")._value.get() == 1
    assert metrics.clips_deleted.labels("quota")._value.get() == 1
    assert metrics.clip_bytes._value.get() == 20_000
    assert metrics.clip_limit_bytes._value.get() == 25_000

    # Within the quota but past warn_at (80 %): a warning before anything is deleted.
    caplog.clear()
    with caplog.at_level(logging.WARNING, "safetyd.clips"):
        usage = disk.enforce(now)
    assert usage.removed_for_space == 0 and mid.exists()
    assert "of [clips] max_gb" in caplog.text and "80%" in caplog.text

    # The recording clip, once finished, counts; a failed one is removed with its links.
    disk.finished(recording, ok=False)
    assert not recording.exists()


def test_a_clip_that_cannot_be_opened_is_counted_and_the_next_one_works(tmp_path) -> None:
    store = open_store(tmp_path / "s.db")
    metrics = Metrics()
    blocker = tmp_path / "clips"
    blocker.write_text("a file where the clips folder should be")
    disk = ClipDisk(blocker, ClipSettings, store, metrics)
    rec = ClipRecorder("cam", ClipRecording.of(ClipSettings()), 10.0, disk, metrics, UTC)
    rec.take(_item(0.0, [tr("opened", "x")]))
    rec.take(_item(0.1, [tr("cleared", "x")]))
    rec.take(_item(10.0))
    assert metrics.clip_failures.labels("cam")._value.get() == 1
    assert clip_of(store, "x") is None
    blocker.unlink()
    rec.take(_item(20.0, [tr("opened", "y")]))
    rec.take(_item(20.1, [tr("cleared", "y")]))
    rec.take(_item(30.0))
    row = clip_of(store, "y")
    assert row is not None and row["ended"] is not None and Path(row["path"]).is_file()
    assert ClipRecording.of(ClipSettings(enabled=False)) is None  # [clips] enabled = false
