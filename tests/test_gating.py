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
