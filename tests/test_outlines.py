"""Nearest outline points (numpy) against shapely's own distance and shortest_line,
on the shapes people draw: rectangles, irregular polygons, holes, multipolygons,
finely traced outlines, repeated vertices."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from safetyd.hazard.outlines import Outlines


def _blob(rng: np.random.Generator, cx: float, cy: float, r: float, n: int):
    """A star-shaped polygon of n vertices (concave when the radii vary)."""
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = r * rng.uniform(0.4, 1.0, n)
    return shapely.Polygon(np.c_[cx + radii * np.cos(angles), cy + radii * np.sin(angles)])


def _shapes(rng: np.random.Generator) -> list:
    shapes = [
        shapely.box(100, 100, 300, 200),
        # a ring: the outline includes the hole, so points in the hole are near it
        shapely.box(400, 100, 700, 400).difference(shapely.box(500, 200, 600, 300)),
        # two separate parts
        shapely.MultiPolygon([shapely.box(50, 500, 150, 600), shapely.box(250, 520, 330, 640)]),
        # a repeated vertex: a zero-length segment
        shapely.Polygon([(800, 100), (900, 100), (900, 100), (900, 250), (800, 250)]),
    ]
    for _ in range(12):  # irregular, some traced with many vertices (other padding groups)
        n = int(rng.choice([3, 5, 9, 17, 60, 300]))
        shape = _blob(rng, *rng.uniform(100, 900, 2), rng.uniform(30, 150), n)
        shapes.append(shape if shape.is_valid else shape.buffer(0))
    return shapes


@pytest.mark.parametrize("seed", range(4))
def test_distance_and_nearest_point_match_shapely(seed: int) -> None:
    rng = np.random.default_rng(seed)
    shapes = _shapes(rng)
    outlines = Outlines(shapes)
    n = 3000
    zone = rng.integers(0, len(shapes), n)
    xy = rng.uniform(0, 1000, (n, 2))
    # Some points exactly on outline vertices: distance 0 there.
    vertices = [shapely.get_coordinates(s) for s in shapes]
    for i in range(0, n, 50):
        xy[i] = vertices[zone[i]][rng.integers(len(vertices[zone[i]]))]

    dist, ox, oy = outlines.nearest(zone, xy[:, 0], xy[:, 1])
    offset = np.stack([ox, oy], axis=1)

    boundary = shapely.boundary(np.array(shapes, dtype=object)[zone])
    points = shapely.points(xy)
    expected = shapely.distance(boundary, points)
    np.testing.assert_allclose(dist, expected, rtol=1e-9, atol=1e-9)
    assert (dist[::50] == 0).all()
    # The nearest point may differ where two are equally near; its distance may not.
    nearest = xy - offset
    np.testing.assert_allclose(np.hypot(*offset.T), dist, rtol=1e-9, atol=1e-9)
    on_outline = shapely.distance(boundary, shapely.points(nearest))
    assert on_outline.max() < 1e-7
    line = shapely.get_coordinates(shapely.shortest_line(boundary, points)).reshape(-1, 2, 2)
    unique = np.abs(dist - expected) < 1e-9
    agree = np.hypot(*(line[:, 0] - nearest).T) < 1e-6
    assert agree[unique].mean() > 0.99  # ties (equidistant segments) are rare


def test_many_vertex_zones_do_not_pad_the_simple_ones() -> None:
    rng = np.random.default_rng(7)
    shapes = [shapely.box(0, 0, 10, 10), _blob(rng, 500, 500, 100, 300).buffer(0)]
    outlines = Outlines(shapes)
    widths = sorted(t.shape[2] for t in outlines._tables)
    assert widths[0] == 4 and widths[-1] >= 300


def test_a_finely_traced_zone_is_measured_in_bounded_chunks() -> None:
    # 5,000 vertices pad to 8,192 segments: 1,000 points at once would need
    # 8 M-element temporaries; the search goes through them in chunks instead.
    circle = shapely.Point(500, 500).buffer(200, quad_segs=1250)
    assert len(shapely.get_coordinates(circle)) > 4096
    outlines = Outlines([shapely.box(0, 0, 10, 10), circle])
    rng = np.random.default_rng(3)
    zone = np.r_[np.zeros(5, int), np.ones(1000, int)]
    xy = rng.uniform(0, 1000, (len(zone), 2))
    dist, _, _ = outlines.nearest(zone, xy[:, 0], xy[:, 1])
    shapes = np.array([shapely.box(0, 0, 10, 10).boundary, circle.boundary], dtype=object)
    expected = shapely.distance(shapes[zone], shapely.points(xy))
    np.testing.assert_allclose(dist, expected, rtol=1e-9, atol=1e-9)


def test_a_zone_without_an_outline_is_refused() -> None:
    with pytest.raises(ValueError, match="without an outline"):
        Outlines([shapely.Polygon()])
