"""Tracker on synthetic people: crossing paths, occlusion gaps, leaving and arriving."""

from __future__ import annotations

import numpy as np
from synth import person

from safetyd.vision.tracking import Tracker

FPS = 10.0


def confirmed_ids(tracks) -> set[int]:
    return {t.id for t in tracks if t.confirmed}


def test_crossing_paths_keep_their_ids() -> None:
    """Two people walk towards each other along the same line and cross."""
    tracker = Tracker()
    owner: dict[int, set[str]] = {}
    for k in range(40):
        t = k / FPS
        a = person(200 + 150 * t, 500)  # walks right at 150 px/s
        b = person(800 - 150 * t, 505)  # walks left
        tracks = tracker.update([a, b], t)
        if abs(a.keypoints[0, 0] - b.keypoints[0, 0]) < 30:
            continue  # at the crossing instant either answer is right
        for tr in tracks:
            if tr.confirmed:
                da = abs(tr.keypoints[0, 0] - a.keypoints[0, 0])
                db = abs(tr.keypoints[0, 0] - b.keypoints[0, 0])
                owner.setdefault(tr.id, set()).add("a" if da < db else "b")
    assert owner == {1: {"a"}, 2: {"b"}}


def test_occlusion_gap_keeps_the_id_and_predicts() -> None:
    tracker = Tracker(max_lost_s=1.0)
    seen_ids = set()
    for k in range(30):
        t = k / FPS
        p = person(100 + 100 * t, 500)
        occluded = 10 <= k < 16  # 0.6 s behind a pillar
        tracks = tracker.update([] if occluded else [p], t)
        if occluded:
            (tr,) = tracks
            assert tr.state == "lost" and not tr.seen
            # Predicted forward with its velocity, not frozen where it was last seen.
            assert abs(tr.keypoints[0, 0] - p.keypoints[0, 0]) < 5
        elif k >= 3:
            seen_ids |= confirmed_ids(tracks)
    assert seen_ids == {1}


def test_leaving_and_a_new_person_arriving() -> None:
    tracker = Tracker(max_lost_s=1.0)
    for k in range(10):
        tracker.update([person(300, 500)], k / FPS)
    for k in range(10, 25):  # 1.5 s with nobody: the track is dropped
        tracks = tracker.update([], k / FPS)
    assert tracks == []
    for k in range(25, 30):
        tracks = tracker.update([person(310, 500)], k / FPS)
    assert confirmed_ids(tracks) == {2}


def test_velocity_per_landmark() -> None:
    """The body walks at 100 px/s while one hand reaches forward at 300 px/s more."""
    tracker = Tracker()
    for k in range(15):
        t = k / FPS
        reach = 300 * t if k >= 5 else 0.0
        tracks = tracker.update([person(100 + 100 * t, 500, move={"right_wrist": (reach, 0)})], t)
    (tr,) = tracks
    assert np.allclose(tr.velocity[0], [100, 0], atol=5)  # nose
    assert np.allclose(tr.velocity[16], [400, 0], atol=40)  # right wrist


def test_one_frame_flicker_is_never_confirmed() -> None:
    tracker = Tracker(confirm_hits=3)
    states = []
    for k in range(20):
        poses = [person(500, 400)] if k == 5 else []
        states += [t.state for t in tracker.update(poses, k / FPS)]
    assert "confirmed" not in states and "tentative" in states


def test_a_detection_of_half_the_size_is_not_the_same_person() -> None:
    tracker = Tracker()
    for k in range(5):
        tracker.update([person(400, 600)], k / FPS)
    tracks = tracker.update([person(400, 560, scale=0.4)], 0.5)
    assert {t.id: t.state for t in tracks} == {1: "lost", 2: "tentative"}


def test_reset_forgets_everyone() -> None:
    tracker = Tracker()
    tracker.update([person(1, 500)], 0.0)
    tracker.reset()
    assert not tracker.alive
    assert tracker.update([person(1, 500)], 0.1)[0].id == 1
