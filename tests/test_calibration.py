"""Image ↔ floor calibration, against a camera tilted down at a floor whose horizon is
inside the picture (tests/camera.py)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from camera import HORIZON_ROW, MARKS, SIZE, floor_map, pixel_of

from safetyd.drawing.render import draw_zone
from safetyd.vision.calibration import degenerate_reason

FLOOR = floor_map()


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
    m = floor_map([4, 3, 2, 1, 0] if flip else [1, 0, 3, 2, 4])
    assert np.isnan(m.floor(np.array([(640.0, HORIZON_ROW - 20)]))).all()
    np.testing.assert_allclose(m.floor(pixel_of([(3.0, 7.0)])), [(3.0, 7.0)], atol=1e-6)


def test_marks_that_are_consistent_are_accepted() -> None:
    assert degenerate_reason(pixel_of(MARKS).tolist(), MARKS.tolist()) is None


def test_a_lane_running_on_behind_the_camera_is_drawn_where_it_is_seen() -> None:
    """A forklift lane passing under the camera and on behind it: the status page
    and the snapshots draw the part the camera sees, nothing mirrored."""
    lane = shapely.box(4.0, -8.0, 6.0, 20.0)  # the camera stands at y = -2
    image = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
    draw_zone(image, lane, "lane", 0.0, FLOOR)
    lit = image.any(axis=2)
    inside = pixel_of([(5.0, 2.0), (5.0, 6.0), (4.3, 15.0), (5.7, 19.0)])
    beside = pixel_of([(2.0, 3.0), (8.5, 3.0), (1.0, 10.0)])
    for u, v in np.concatenate([inside, beside]):
        assert 0 <= u < SIZE[0] and 0 <= v < SIZE[1]
    assert all(lit[int(v), int(u)] for u, v in inside)
    assert not any(lit[int(v), int(u)] for u, v in beside)


def test_a_zone_wholly_behind_the_camera_is_not_drawn() -> None:
    image = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
    draw_zone(image, shapely.box(4.0, -9.0, 6.0, -5.0), "behind", 0.5, FLOOR)
    assert not image.any()
