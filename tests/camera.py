"""A hand-built pinhole camera over a flat floor, for calibration and drawing tests:
the image positions come from the camera model, not from the code under test.

1280×720, focal length 800 px, 3 m above the floor at (5, -2), looking along +y,
tilted 20° down: the horizon is the image row 360 - 800 tan 20° ≈ 68.8.
"""

from __future__ import annotations

import numpy as np

from safetyd.vision.calibration import FloorMap

SIZE = (1280, 720)
F, CX, CY = 800.0, 640.0, 360.0
POSITION = np.array([5.0, -2.0, 3.0])
TILT = np.radians(20)
RIGHT = np.array([1.0, 0.0, 0.0])
FORWARD = np.array([0.0, np.cos(TILT), -np.sin(TILT)])
DOWN = np.array([0.0, -np.sin(TILT), -np.cos(TILT)])
HORIZON_ROW = CY - F * np.tan(TILT)
MARKS = np.array([(2.0, 2.0), (8.0, 2.0), (8.0, 12.0), (2.0, 12.0), (5.0, 6.0)])


def pixel_of(floor_xy) -> np.ndarray:
    """Where the camera sees floor points (x, y, 0)."""
    v = np.column_stack([np.asarray(floor_xy, float), np.zeros(len(floor_xy))]) - POSITION
    depth = v @ FORWARD
    return np.column_stack([CX + F * (v @ RIGHT) / depth, CY + F * (v @ DOWN) / depth])


def floor_map(order=None) -> FloorMap:
    """The calibration a site would measure: the marks and where the camera sees them."""
    marks = MARKS if order is None else MARKS[order]
    return FloorMap.from_points([tuple(p) for p in pixel_of(marks)], [tuple(p) for p in marks])
