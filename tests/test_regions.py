"""Where the model looks (pure): regions from pixel and floor zones, merging,
tiling, a disarmed zone costing nothing; and how tall people are (sizes)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from test_hazards import make_zone

from safetyd.vision import regions
from safetyd.vision.calibration import FloorMap
from safetyd.vision.sizes import FloorHeights, Heights, LearnedHeights, Sighting, Unknown

FRAME = (1920, 1080)


class Constant:
    """People are ``h`` px tall everywhere."""

    def __init__(self, h: float) -> None:
        self.h = h

    def at(self, x: float, y: float) -> float | None:
        return self.h


def boxes(plan) -> list[tuple[int, int, int, int]]:
    return [r.box for r in plan.regions]


def test_a_pixel_zone_grows_by_warn_distance_and_a_person() -> None:
    zone = make_zone("z", shapely.box(900, 500, 1000, 560), warn_distance=20)
    # People 100 px tall here: margin 20 + 100 + 30 (0.3 s of walking, 1 height/s).
    plan = regions.plan([zone], {"z"}, FRAME, Constant(100))
    assert boxes(plan) == [(750, 350, 1150, 710)]
    assert plan.regions[0].zones == ("z",) and not plan.full_frame and plan.context


def test_without_sizes_the_zone_stands_in_for_a_person() -> None:
    zone = make_zone("z", shapely.box(900, 500, 1000, 560), warn_distance=20)
    plan = regions.plan([zone], {"z"}, FRAME, Unknown())
    # The zone's larger side (100 px) as a person's height, no walking allowance.
    assert boxes(plan) == [(780, 380, 1120, 680)]


def test_without_sizes_a_long_strip_is_not_taken_for_a_giant() -> None:
    """A strip 800 px long and 60 px deep in front of a bench: the guessed person is
    three times its depth (180 px), not its length, so the region is not the whole
    frame (where people of that size would be too small for the model)."""
    zone = make_zone("z", shapely.box(560, 700, 1360, 760), warn_distance=20)
    plan = regions.plan([zone], {"z"}, FRAME, Unknown())
    assert boxes(plan) == [(360, 500, 1560, 960)]
    assert not plan.full_frame


def test_a_disarmed_zone_gets_no_region() -> None:
    a = make_zone("a", shapely.box(100, 100, 200, 200))
    b = make_zone("b", shapely.box(1500, 800, 1600, 900))
    plan = regions.plan([a, b], {"b"}, FRAME, Constant(120))
    assert [r.zones for r in plan.regions] == [("b",)]
    assert regions.plan([a, b], set(), FRAME, Constant(60)).regions == ()
    disabled = make_zone("c", shapely.box(100, 100, 200, 200), enabled=False)
    assert regions.plan([disabled], {"c"}, FRAME, Constant(60)).regions == ()


def test_overlapping_regions_merge_and_apart_ones_do_not() -> None:
    near = [make_zone("a", shapely.box(500, 500, 560, 560)),
            make_zone("b", shapely.box(600, 500, 660, 560))]  # fmt: skip
    (merged,) = regions.plan(near, {"a", "b"}, FRAME, Constant(120)).regions
    assert merged.zones == ("a", "b")
    assert merged.box[0] < 500 and merged.box[2] > 660
    far = [make_zone("a", shapely.box(100, 100, 160, 160)),
           make_zone("b", shapely.box(1600, 800, 1660, 860))]  # fmt: skip
    assert len(regions.plan(far, {"a", "b"}, FRAME, Constant(120)).regions) == 2


def test_a_region_covering_most_of_the_frame_is_the_frame() -> None:
    zone = make_zone("z", shapely.box(200, 100, 440, 260), warn_distance=40)
    plan = regions.plan([zone], {"z"}, (640, 360), Constant(300))
    assert plan.full_frame and boxes(plan) == [(0, 0, 640, 360)] and not plan.context


def test_a_region_too_big_for_its_people_is_tiled_with_overlap() -> None:
    zone = make_zone("lane", shapely.box(200, 400, 1700, 560), warn_distance=20)
    plan = regions.plan([zone], {"lane"}, FRAME, Constant(80))
    tiles = plan.regions
    assert len(tiles) > 1 and all(t.kind == "tile" for t in tiles)
    side = regions.SIDE_PER_HEIGHT * 80
    assert all(max(t.width, t.height) <= side * 1.25**3 for t in tiles)  # grown if capped
    assert len(tiles) <= regions.MAX_TILES
    # Every point of the region is in a tile, and neighbours overlap by a person.
    x0 = min(t.box[0] for t in tiles)
    x1 = max(t.box[2] for t in tiles)
    xs = sorted({t.box[0] for t in tiles})
    ends = sorted({t.box[2] for t in tiles})
    assert all(e - s >= 80 for s, e in zip(xs[1:], ends[:-1], strict=False))
    assert (x0, x1) == (plan.bounds[0], plan.bounds[2])
    # The same lane seen by a camera whose people are big needs no tiles (and then,
    # covering most of the frame, is the whole frame).
    assert regions.plan([zone], {"lane"}, FRAME, Constant(450)).full_frame


def test_a_floor_zone_is_placed_through_the_calibration() -> None:
    floor_map = FloorMap.from_points(
        [(200, 700), (1080, 700), (800, 250), (480, 250)], [(0, 0), (10, 0), (10, 20), (0, 20)]
    )
    lane = make_zone("lane", shapely.box(4, 2, 6, 6), units="metres", warn_distance=1.0)
    corners = floor_map.image(np.array([[4, 2], [6, 2], [6, 6], [4, 6]]))
    plan = regions.plan([lane], {"lane"}, (1280, 720), FloorHeights(floor_map), floor_map)
    x0, y0, x1, y1 = plan.bounds
    assert x0 < corners[:, 0].min() and x1 > corners[:, 0].max()
    assert y0 < corners[:, 1].min() and y1 > corners[:, 1].max()
    behind = make_zone("behind", shapely.box(4, -30, 6, -20), units="metres")
    assert regions.plan([behind], {"behind"}, (1280, 720), Unknown(), floor_map).regions == ()


def test_hand_drawn_regions_and_the_whole_frame() -> None:
    plan = regions.manual([[10, 20, 400, 300], [1910, 1000, 2500, 1500]], FRAME)
    assert boxes(plan) == [(10, 20, 400, 300)]  # the second is cut to nothing useful
    assert regions.full(FRAME).full_frame


# -- sizes --------------------------------------------------------------------------


def test_floor_heights_grow_towards_the_camera() -> None:
    floor_map = FloorMap.from_points(
        [(200, 700), (1080, 700), (800, 250), (480, 250)], [(0, 0), (10, 0), (10, 20), (0, 20)]
    )
    heights = FloorHeights(floor_map)
    near, far = heights.at(640, 700), heights.at(640, 260)
    assert near is not None and far is not None and near > 1.5 * far
    assert heights.at(640, -50) is None  # above the horizon (y = -11): no floor there


def test_learned_heights_fit_a_line_and_never_extrapolate() -> None:
    learned = LearnedHeights()
    assert not learned.ready and learned.at(0, 500) is None
    for i, y in enumerate(np.linspace(300, 900, 12)):
        learned.add(Sighting(track=i % 3, foot_x=500, foot_y=float(y), height=0.25 * y))
    assert learned.ready
    assert learned.at(0, 600) == pytest.approx(150, rel=0.02)
    assert learned.at(0, 100) == pytest.approx(75, rel=0.02)  # the top row seen, not 25
    assert learned.covers(600) and not learned.covers(20)


def test_one_depth_only_gives_a_constant() -> None:
    learned = LearnedHeights()
    for i in range(12):
        learned.add(Sighting(1, 500, 700 + i, 180 + (i % 3)))
    assert learned.at(0, 100) == pytest.approx(181, abs=1)
    assert learned.covers(700) and not learned.covers(100)


def test_heights_round_trip_through_their_saved_form() -> None:
    learned = LearnedHeights()
    for i in range(12):
        learned.add(Sighting(1, 500, 400 + 40 * i, 100 + 10 * i))
    again = LearnedHeights.from_dict(learned.to_dict())
    assert again.at(0, 500) == pytest.approx(learned.at(0, 500))
    both = Heights(None, again)
    assert both.known and both.trusted_at(0, 500) == pytest.approx(learned.at(0, 500))
