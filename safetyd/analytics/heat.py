"""Where warnings fired, as pictures: a heat map on the camera's picture, and, for a
calibrated camera, on the floor plan in metres with its zones.

The camera picture under the heat is the newest snapshot of that camera, in grey
and coarsely pixelated: enough to see the floor and the machines, not who was on
it (a report leaves the console). Without a snapshot, a plain grey canvas.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ..vision.calibration import FloorMap
from ..zones.model import Zone

GREY = (128, 128, 128)
PLAN_SIZE = (640, 480)


def _density(points: np.ndarray, size: tuple[int, int], sigma: float) -> np.ndarray:
    w, h = size
    density = np.zeros((h, w), np.float32)
    for x, y in points:
        if 0 <= x < w and 0 <= y < h:
            density[int(y), int(x)] += 1.0
    blurred = cv2.GaussianBlur(density, (0, 0), sigma)
    top = float(blurred.max())
    return blurred / top if top > 0 else blurred


def _overlay(base: np.ndarray, points: np.ndarray, sigma: float) -> np.ndarray:
    h, w = base.shape[:2]
    # A part estimated at the picture's edge (a box's bottom on the frame's) is drawn
    # on the edge, not lost.
    points = np.column_stack([np.clip(points[:, 0], 0, w - 1), np.clip(points[:, 1], 0, h - 1)])
    density = _density(points, (w, h), sigma)
    colours = cv2.applyColorMap((density * 255).astype(np.uint8), cv2.COLORMAP_JET)
    alpha = (np.clip(density * 1.5, 0, 1) * 0.75)[..., None]
    out = (base * (1 - alpha) + colours * alpha).astype(np.uint8)
    for x, y in points:
        cv2.circle(out, (int(x), int(y)), 3, (255, 255, 255), -1, cv2.LINE_AA)
        cv2.circle(out, (int(x), int(y)), 3, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def backdrop(snapshot: Path | None, size: tuple[int, int] | None) -> np.ndarray:
    """The camera's picture in grey, pixelated (a tile per 1/80 of its width)."""
    image = cv2.imread(str(snapshot)) if snapshot is not None else None
    if image is None:
        w, h = size or (640, 360)
        return np.full((h, w, 3), GREY, np.uint8)
    h, w = image.shape[:2]
    grey = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    tile = max(4, w // 80)
    small = cv2.resize(grey, (max(1, w // tile), max(1, h // tile)), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)


def camera_heat(points: Sequence[tuple[float, float]], base: np.ndarray) -> np.ndarray:
    """The heat of ``points`` (pixels) over ``base``."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    return _overlay(base, pts, sigma=max(base.shape[:2]) / 40)


def floor_heat(
    points: Sequence[tuple[float, float]], floor_map: FloorMap, zones: Sequence[Zone]
) -> np.ndarray:
    """The warnings on the floor plan (metres), with the zones drawn in metres."""
    metres = floor_map.floor(np.asarray(points, np.float64).reshape(-1, 2))
    shapes = [
        np.asarray(poly.exterior.coords, np.float64)
        for z in zones
        if z.units == "metres"
        for poly in getattr(z.geometry, "geoms", [z.geometry])
        if hasattr(poly, "exterior")
    ]
    everything = np.vstack([metres, *shapes]) if len(metres) or shapes else np.zeros((1, 2))
    lo, hi = everything.min(axis=0) - 1.0, everything.max(axis=0) + 1.0
    w, h = PLAN_SIZE
    scale = min((w - 20) / max(hi[0] - lo[0], 1e-6), (h - 20) / max(hi[1] - lo[1], 1e-6))

    def px(m: np.ndarray) -> np.ndarray:
        # Floor y grows away from the camera; drawn upwards, as a plan is read.
        return np.column_stack([10 + (m[:, 0] - lo[0]) * scale, h - 10 - (m[:, 1] - lo[1]) * scale])

    plan = np.full((h, w, 3), 245, np.uint8)
    for metre in range(int(np.floor(lo[0])), int(np.ceil(hi[0])) + 1):
        x = int(px(np.array([[metre, lo[1]]]))[0, 0])
        cv2.line(plan, (x, 0), (x, h), (225, 225, 225), 1)
    for metre in range(int(np.floor(lo[1])), int(np.ceil(hi[1])) + 1):
        y = int(px(np.array([[lo[0], metre]]))[0, 1])
        cv2.line(plan, (0, y), (w, y), (225, 225, 225), 1)
    for ring in shapes:
        cv2.polylines(plan, [px(ring).astype(np.int32)], True, (0, 0, 200), 2, cv2.LINE_AA)
    return _overlay(plan, px(metres) if len(metres) else metres, sigma=12)


def png(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise ValueError("PNG encoding failed")
    return data.tobytes()
