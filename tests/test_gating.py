"""Motion gating on real frames: still scenes skip inference, motion and tracked people
never do, and the safety-net interval always runs the model."""

from __future__ import annotations

from conftest import FIXTURES

from safetyd.vision.gating import MotionGate
from safetyd.vision.sources import iter_file


def frames(name: str):
    return [f.image for f in iter_file(FIXTURES / name)]


def test_still_scene_is_mostly_skipped_but_never_longer_than_max_skip() -> None:
    gate = MotionGate(max_skip_s=1.0, warmup_frames=5)
    still = frames("empty.mp4") * 2
    decisions = [gate.decide(img, i / 10, tracking=False) for i, img in enumerate(still)]
    reasons = [d.reason for d in decisions]
    assert reasons[:5] == ["warmup"] * 5
    assert reasons.count("motion") == 0  # sensor noise is not motion
    inferred = [i for i, d in enumerate(decisions) if d.infer]
    gaps = [b - a for a, b in zip(inferred, inferred[1:], strict=False)]
    assert max(gaps) <= 10  # at least once per second at 10 fps
    assert sum(d.infer for d in decisions) <= 5 + len(still) // 10 + 1


def test_a_person_walking_in_is_motion() -> None:
    gate = MotionGate()
    still, walk = frames("empty.mp4"), frames("walk-in.mp4")
    for i, img in enumerate(still):
        gate.decide(img, i / 10, tracking=False)
    t0 = len(still) / 10
    reasons = [gate.decide(img, t0 + i / 10, tracking=False).reason for i, img in enumerate(walk)]
    # He enters from the left edge around frame 12 of the walk-in clip.
    first_motion = reasons.index("motion")
    assert 8 <= first_motion <= 16
    assert reasons[first_motion : first_motion + 20].count("motion") >= 18


def test_never_skipped_while_someone_is_tracked() -> None:
    gate = MotionGate(warmup_frames=1)
    still = frames("empty.mp4")
    decisions = [gate.decide(img, i / 10, tracking=True) for i, img in enumerate(still)]
    assert all(d.infer for d in decisions)
    assert {d.reason for d in decisions[1:]} == {"tracking"}


def test_a_walking_person_is_a_mover_where_he_is_and_a_still_scene_has_none() -> None:
    import json

    gate = MotionGate()
    still, walk = frames("empty.mp4"), frames("walk-in.mp4")
    for i, img in enumerate(still):
        assert gate.decide(img, i / 10, tracking=False).movers == () or i < 5
    truth = json.loads((FIXTURES / "walk-in.json").read_text())["frames"]
    t0 = len(still) / 10
    hits = 0
    for i, img in enumerate(walk[25:60], start=25):  # wholly in view, walking in
        movers = gate.decide(img, t0 + i / 10, tracking=False).movers
        x0, y0, x1, y1 = truth[i]["person_box"]
        # The largest moving blob is on him (its centre inside his silhouette's box).
        if movers:
            mx, my = (movers[0][0] + movers[0][2]) / 2, (movers[0][1] + movers[0][3]) / 2
            hits += x0 <= mx <= x1 and y0 <= my <= y1
    assert hits >= 30


def test_no_movers_while_the_background_is_being_learned() -> None:
    gate = MotionGate(warmup_frames=5)
    walk = frames("walk-in.mp4")[30:36]  # he is in view from the first frame
    assert [gate.decide(img, i / 10, tracking=False).movers for i, img in enumerate(walk[:5])] == [
        ()
    ] * 5
