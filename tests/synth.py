"""Synthetic people for the pure tests: real Pose values, made by hand.

A standing person is a 33-landmark template (MediaPipe order) about 170 px
tall with the feet at the origin; ``person()`` places and scales it.
"""

from __future__ import annotations

import numpy as np

from safetyd.base.bodyparts import GROUPS, INDEX
from safetyd.vision.pose import Pose
from safetyd.vision.tracking import Track

_L, _R = -1, 1
_TEMPLATE = {
    "nose": (0, -160), "left_eye_inner": (-3, -164), "left_eye": (-5, -164),
    "left_eye_outer": (-7, -164), "right_eye_inner": (3, -164), "right_eye": (5, -164),
    "right_eye_outer": (7, -164), "left_ear": (-9, -161), "right_ear": (9, -161),
    "mouth_left": (-3, -153), "mouth_right": (3, -153),
    "left_shoulder": (-20, -135), "right_shoulder": (20, -135),
    "left_elbow": (-25, -105), "right_elbow": (25, -105),
    "left_wrist": (-27, -78), "right_wrist": (27, -78),
    "left_pinky": (-28, -71), "right_pinky": (28, -71),
    "left_index": (-27, -70), "right_index": (27, -70),
    "left_thumb": (-25, -72), "right_thumb": (25, -72),
    "left_hip": (-12, -85), "right_hip": (12, -85),
    "left_knee": (-12, -45), "right_knee": (12, -45),
    "left_ankle": (-12, -6), "right_ankle": (12, -6),
    "left_heel": (-13, -2), "right_heel": (13, -2),
    "left_foot_index": (-8, 0), "right_foot_index": (16, 0),
}  # fmt: skip
TEMPLATE = np.array([_TEMPLATE[name] for name in INDEX], dtype=np.float64)


def person(
    x: float,
    y: float,
    scale: float = 1.0,
    hide: tuple[str, ...] = (),
    frame=(1280, 720),
    move: dict[str, tuple[float, float]] | None = None,
) -> Pose:
    """A standing person with the feet at (x, y). ``hide`` names landmarks or groups
    made invisible; ``move`` shifts single landmarks (a reaching hand)."""
    kp = TEMPLATE * scale + [x, y]
    for name, (dx, dy) in (move or {}).items():
        for i in GROUPS.get(name, (INDEX.get(name),)):
            kp[i] += [dx, dy]
    vis = np.full(33, 0.95)
    for name in hide:
        vis[list(GROUPS.get(name, (INDEX.get(name),)))] = 0.05
    return Pose.from_arrays(kp, vis, frame)


def track_from(pose: Pose, track_id: int = 1, velocity=(0.0, 0.0)) -> Track:
    """A confirmed, seen track standing exactly where the pose is."""
    vel = np.tile(np.asarray(velocity, dtype=np.float64), (33, 1))
    return Track(
        id=track_id, state="confirmed", keypoints=pose.keypoints.copy(), velocity=vel,
        visibility=pose.visibility.copy(), bbox=pose.bbox.copy(), seen=True, hits=10,
        age_s=1.0, since_seen_s=0.0,
    )  # fmt: skip
