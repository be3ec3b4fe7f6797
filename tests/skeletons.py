"""Synthetic people for the man-down and posture tests: a 3-D skeleton of the 33
MediaPipe landmarks (a 1.7 m adult), posed (trunk flexion, falls, bending,
kneeling, sitting, crouching), turned to a view (0° facing the camera, 90° side
on) and seen by a pinhole camera 1.5 m up, looking 15° down, as tracked people
(vision.tracking.Track) frame by frame, with landmark noise.

Known angles in, measured angles out: that is what the posture validation and
the fall benchmark need and what no labelled footage here gives.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from safetyd.vision.tracking import Track

W, H = 1280, 720
FOCAL = 900.0
CAM_HEIGHT = 1.5
PITCH = math.radians(15)
DISTANCE = 6.0

# x to the person's left, y up, z forward (where he faces); metres, feet at y = 0.
_SIDES = {"left": 1.0, "right": -1.0}


def template() -> np.ndarray:
    p = np.zeros((33, 3))

    def pair(i_left: int, x: float, y: float, z: float) -> None:
        p[i_left] = (x, y, z)
        p[i_left + 1] = (-x, y, z)

    p[0] = (0, 1.60, 0.10)  # nose
    p[1], p[2], p[3] = (0.02, 1.64, 0.08), (0.035, 1.64, 0.075), (0.05, 1.64, 0.07)
    p[4], p[5], p[6] = (-0.02, 1.64, 0.08), (-0.035, 1.64, 0.075), (-0.05, 1.64, 0.07)
    pair(7, 0.08, 1.62, 0.0)  # ears
    pair(9, 0.025, 1.56, 0.09)  # mouth
    pair(11, 0.20, 1.45, 0.0)  # shoulders
    pair(13, 0.23, 1.16, 0.0)  # elbows
    pair(15, 0.24, 0.88, 0.02)  # wrists
    pair(17, 0.25, 0.80, 0.02)  # pinky
    pair(19, 0.24, 0.79, 0.04)  # index
    pair(21, 0.23, 0.83, 0.05)  # thumb
    pair(23, 0.10, 0.95, 0.0)  # hips
    pair(25, 0.10, 0.50, 0.02)  # knees
    pair(27, 0.10, 0.08, 0.0)  # ankles
    pair(29, 0.10, 0.03, -0.06)  # heels
    pair(31, 0.10, 0.02, 0.15)  # foot index
    return p


UPPER = [0, *range(1, 23)]  # head, shoulders, arms
LEGS = list(range(25, 33))


def rot_x(a: float) -> np.ndarray:  # about the left-right axis: + tips the top forward
    c, s = math.cos(a), math.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def rot_z(a: float) -> np.ndarray:  # about the front-back axis: + tips the top to his right
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, s, 0], [-s, c, 0], [0, 0, 1]])


def rot_y(a: float) -> np.ndarray:  # about the vertical: turns him
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def flex_trunk(p: np.ndarray, degrees: float) -> np.ndarray:
    """Trunk flexion about the hips (legs as they were)."""
    out = p.copy()
    hip = p[[23, 24]].mean(axis=0)
    out[UPPER] = (p[UPPER] - hip) @ rot_x(math.radians(degrees)).T + hip
    return out


def tip_over(p: np.ndarray, degrees: float, sideways: bool = False) -> np.ndarray:
    """The whole body rotated about the feet: forward (or to his right) by ``degrees``."""
    feet = np.array([0.0, 0.0, 0.0])
    r = rot_z(math.radians(degrees)) if sideways else rot_x(math.radians(degrees))
    out = (p - feet) @ r.T + feet
    out[:, 1] = np.maximum(out[:, 1], 0.0)
    return out


def lower_hips(p: np.ndarray, hip_height: float, knees_forward: float, trunk: float) -> np.ndarray:
    """Sitting, crouching, kneeling: hips down to ``hip_height``, knees moved forward,
    the trunk flexed by ``trunk`` degrees; feet stay."""
    out = p.copy()
    drop = p[23, 1] - hip_height
    out[UPPER + [23, 24]] -= (0, drop, 0)
    out[[25, 26]] = p[[25, 26]] + (0, min(0.0, hip_height - 0.45), knees_forward)
    return flex_trunk(out, trunk)


def kneel(p: np.ndarray) -> np.ndarray:
    """Both knees on the floor, trunk upright."""
    out = p.copy()
    out[UPPER + [23, 24]] -= (0, 0.45, 0)
    out[[25, 26], 1] = 0.05
    out[[27, 28, 29, 30, 31, 32], 2] -= 0.45
    out[[27, 28, 29, 30, 31, 32], 1] = 0.06
    return out


def project(world: np.ndarray, view_deg: float, at: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Pixels of a posed skeleton turned by ``view_deg`` (0: facing the camera) and
    standing ``at`` (x, z) metres from the spot the camera looks at."""
    pts = world @ rot_y(math.radians(view_deg)).T + (at[0], 0.0, at[1])
    # Camera at z = DISTANCE, height CAM_HEIGHT, looking toward -z and PITCH down.
    rel = pts - (0.0, CAM_HEIGHT, DISTANCE)
    c, s = math.cos(PITCH), math.sin(PITCH)
    x = rel[:, 0]
    y = rel[:, 1] * c - rel[:, 2] * s
    depth = -rel[:, 1] * s - rel[:, 2] * c
    return np.column_stack([W / 2 + FOCAL * x / depth, H / 2 - FOCAL * y / depth])


def standing_height(view_deg: float = 0.0, at: tuple[float, float] = (0.0, 0.0)) -> float:
    px = project(template(), view_deg, at)
    return float(px[:, 1].max() - px[:, 1].min()) * 1.06


@dataclass
class Clip:
    """A synthetic tracked person, one pose per frame."""

    poses: list[np.ndarray]  # world, per frame
    fps: float = 10.0
    view_deg: float = 0.0
    at: tuple[float, float] = (0.0, 0.0)
    lost: Callable[[int], bool] = lambda i: False  # frames the model missed him
    noise_px: float = 1.0
    seed: int = 0

    def tracks(self) -> Iterator[tuple[float, Track]]:
        rng = np.random.default_rng(self.seed)
        for i, world in enumerate(self.poses):
            kp = project(world, self.view_deg, self.at) + rng.normal(0, self.noise_px, (33, 2))
            vis = np.full(33, 0.95)
            inside = (kp[:, 0] >= 0) & (kp[:, 0] < W) & (kp[:, 1] >= 0) & (kp[:, 1] < H)
            vis[~inside] = 0.05
            box = np.array([kp[inside, 0].min(), kp[inside, 1].min(), kp[inside, 0].max(),
                            kp[inside, 1].max()])  # fmt: skip
            box = np.clip(box, 0, [W, H, W, H])
            seen = not self.lost(i)
            yield i / self.fps, Track(
                id=1, state="confirmed" if seen else "lost", keypoints=kp,
                velocity=np.zeros((33, 2)), visibility=vis, bbox=box, seen=seen, hits=i + 1,
                age_s=i / self.fps, since_seen_s=0.0,
            )  # fmt: skip


def hold(pose: np.ndarray, seconds: float, fps: float = 10.0) -> list[np.ndarray]:
    return [pose] * int(round(seconds * fps))


def move(a: Callable[[float], np.ndarray], seconds: float, fps: float = 10.0) -> list[np.ndarray]:
    """``a(u)`` for u from 0 to 1 over ``seconds``, eased (people speed up and slow down)."""
    n = max(1, int(round(seconds * fps)))
    return [a(0.5 - 0.5 * math.cos(math.pi * (k + 1) / n)) for k in range(n)]


def breathe(pose: np.ndarray, seconds: float, fps: float = 10.0) -> list[np.ndarray]:
    """Lying still: a few millimetres of chest movement, nothing more."""
    return [pose + (0, 0.004 * math.sin(2 * math.pi * k / (fps * 4)), 0)
            for k in range(int(round(seconds * fps)))]  # fmt: skip
