"""Image ↔ floor calibration: a camera tilted down at a floor, whose horizon is
inside the picture, built from a pinhole model rather than from the code under test."""

from __future__ import annotations

import numpy as np
import pytest

from safetyd.calibration import FloorMap, degenerate_reason

# 1280×720, focal length 800 px, 3 m above the floor at (5, -2), looking along +y,
# tilted 20° down: the horizon is the image row 360 - 800 tan 20° ≈ 68.8.
F, CX, CY = 800.0, 640.0, 360.0
CAMERA = np.array([5.0, -2.0, 3.0])
TILT = np.radians(20)
RIGHT = np.array([1.0, 0.0, 0.0])
FORWARD = np.array([0.0, np.cos(TILT), -np.sin(TILT)])
DOWN = np.array([0.0, -np.sin(TILT), -np.cos(TILT)])
HORIZON_ROW = CY - F * np.tan(TILT)


def pixel_of(floor_xy) -> np.ndarray:
    """Where the camera sees floor points (x, y, 0)."""
    v = np.column_stack([np.asarray(floor_xy, float), np.zeros(len(floor_xy))]) - CAMERA
    depth = v @ FORWARD
    return np.column_stack([CX + F * (v @ RIGHT) / depth, CY + F * (v @ DOWN) / depth])


MARKS = np.array([(2.0, 2.0), (8.0, 2.0), (8.0, 12.0), (2.0, 12.0), (5.0, 6.0)])
FLOOR = FloorMap.from_points([tuple(p) for p in pixel_of(MARKS)], [tuple(p) for p in MARKS])


def test_floor_points_round_trip() -> None:
    spots = np.array([(0.5, 1.0), (9.0, 3.0), (4.0, 30.0), (6.0, 80.0)])
    pixels = pixel_of(spots)
    assert (pixels[:, 1] > HORIZON_ROW).all()
    np.testing.assert_allclose(FLOOR.floor(pixels), spots, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(FLOOR.image(spots), pixels, atol=1e-6)


def test_a_pixel_above_the_horizon_has_no_floor_position() -> None:
    # The wall, a raised hand or the sky: no floor point is seen there. It must not
    # come back as a floor point behind the camera (the homography's mirror image).
    above = np.array([(640.0, HORIZON_ROW - 20), (100.0, 5.0), (1200.0, HORIZON_ROW - 1)])
    assert np.isnan(FLOOR.floor(above)).all()
    assert np.isfinite(FLOOR.floor(np.array([(640.0, HORIZON_ROW + 5)]))).all()


def test_a_floor_point_behind_the_camera_has_no_image_position() -> None:
    assert np.isnan(FLOOR.image(np.array([(5.0, -10.0)]))).all()


@pytest.mark.parametrize("flip", [False, True])
def test_the_answer_does_not_depend_on_the_order_of_the_marks(flip: bool) -> None:
    order = [4, 3, 2, 1, 0] if flip else [1, 0, 3, 2, 4]
    m = FloorMap.from_points(
        [tuple(p) for p in pixel_of(MARKS[order])], [tuple(p) for p in MARKS[order]]
    )
    assert np.isnan(m.floor(np.array([(640.0, HORIZON_ROW - 20)]))).all()
    np.testing.assert_allclose(m.floor(pixel_of([(3.0, 7.0)])), [(3.0, 7.0)], atol=1e-6)


def test_marks_that_are_consistent_are_accepted() -> None:
    assert degenerate_reason(pixel_of(MARKS).tolist(), MARKS.tolist()) is None
