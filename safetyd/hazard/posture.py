"""Posture from one 2-D skeleton: the angles that a picture measures reliably.

Measured (image coordinates, y down), in degrees:

* ``trunk``: the trunk's lean from vertical, hip centre to shoulder centre
  (0 upright, 90 horizontal). 2-D sees the lean *across* the picture fully and
  the lean toward or away from the camera foreshortened: seen from the side it is
  the trunk flexion, at 45° somewhat less, from the front it cannot be told
  (docs/BENCHMARKS.md gives the error by view).
* ``upper_arm``: each upper arm's elevation from hanging (0) through horizontal
  (90) to overhead (180), shoulder to elbow.
* ``knee``: each knee's flexion (0 straight, 90 a right angle), hip–knee–ankle.
* ``hands_above_head``: a wrist above the nose; ``hands_above_shoulders``.

Not measured, on purpose: neck, wrist and lower-arm angles and trunk twisting
(published comparisons of 2-D pose against experts agree least on these; a
picture cannot tell a twisted trunk from one seen at an angle). This measures
posture exposure for ergonomic review; it makes no medical or compliance claim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..vision.pose import HIPS, SHOULDERS, trunk_axis

NOSE = 0
ELBOWS = (13, 14)
WRISTS = (15, 16)
KNEES = (25, 26)
ANKLES = (27, 28)
VISIBLE = 0.5


@dataclass(frozen=True)
class Posture:
    trunk: float | None
    upper_arm: tuple[float | None, float | None]  # left, right
    knee: tuple[float | None, float | None]
    hands_above_head: bool
    hands_above_shoulders: bool

    @property
    def arm(self) -> float | None:
        """The higher upper arm's elevation."""
        seen = [a for a in self.upper_arm if a is not None]
        return max(seen) if seen else None

    @property
    def knees(self) -> float | None:
        """The more flexed knee."""
        seen = [k for k in self.knee if k is not None]
        return max(seen) if seen else None


def _seen(vis: np.ndarray, *idx: int) -> bool:
    return bool(np.all(vis[list(idx)] >= VISIBLE))


def _angle(v: np.ndarray, ref: np.ndarray) -> float:
    n = float(np.linalg.norm(v)) * float(np.linalg.norm(ref))
    if n == 0:
        return 0.0
    return math.degrees(math.acos(max(-1.0, min(1.0, float(v @ ref) / n))))


UP = np.array([0.0, -1.0])
DOWN = np.array([0.0, 1.0])


def trunk_angle(kp: np.ndarray, vis: np.ndarray) -> float | None:
    torso = trunk_axis(kp, vis, VISIBLE)
    return None if torso is None else _angle(torso, UP)


def posture_of(kp: np.ndarray, vis: np.ndarray) -> Posture:
    arms: list[float | None] = []
    knees: list[float | None] = []
    for s, e in zip(SHOULDERS, ELBOWS, strict=True):
        arms.append(_angle(kp[e] - kp[s], DOWN) if _seen(vis, s, e) else None)
    for h, k, a in zip(HIPS, KNEES, ANKLES, strict=True):
        if _seen(vis, h, k, a):
            knees.append(180.0 - _angle(kp[h] - kp[k], kp[a] - kp[k]))
        else:
            knees.append(None)
    wrists = [w for w in WRISTS if vis[w] >= VISIBLE]
    top = min((kp[w, 1] for w in wrists), default=None)
    above_head = top is not None and vis[NOSE] >= VISIBLE and top < kp[NOSE, 1]
    shoulders = [s for s in SHOULDERS if vis[s] >= VISIBLE]
    above_shoulders = top is not None and bool(shoulders) and top < min(kp[s, 1] for s in shoulders)
    return Posture(
        trunk_angle(kp, vis), (arms[0], arms[1]), (knees[0], knees[1]),
        bool(above_head), bool(above_shoulders),
    )  # fmt: skip
