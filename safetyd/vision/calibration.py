"""Image ↔ floor homography for cameras whose zones are drawn in metres.

A camera looking down at a flat floor maps floor points to image points by a
homography. Four or more measured marks (tape crosses, floor tiles) fix it;
feet, which touch the floor, can then be placed on the floor plan in metres.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from ..config.model import Calibration

# A calibration whose own points reproject worse than this (metres) was
# measured or typed wrongly; better to refuse it than to misplace feet.
MAX_REPROJECTION_ERROR_M = 0.25


def _homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray | None:
    import cv2

    matrix, _mask = cv2.findHomography(src, dst, method=0)
    if matrix is None or not np.all(np.isfinite(matrix)) or abs(np.linalg.det(matrix)) < 1e-12:
        return None
    # A homography is defined up to scale, sign included. Fix the sign so that the
    # measured points, which are on the visible floor, have w > 0: then w <= 0 means
    # at or behind the horizon, and project() can refuse those points instead of
    # mirroring them onto the floor behind the camera.
    w = np.hstack([src, np.ones((len(src), 1))]) @ matrix[2]
    return -matrix if np.median(w) < 0 else matrix


def _collinear(points: np.ndarray) -> bool:
    centred = points - points.mean(axis=0)
    singular = np.linalg.svd(centred, compute_uv=False)
    return singular[-1] < 1e-6 * max(singular[0], 1e-9)


def degenerate_reason(
    image_points: Sequence[tuple[float, float]], floor_points: Sequence[tuple[float, float]]
) -> str | None:
    """Why these pairs do not define a usable homography, or None when they do."""
    img = np.asarray(image_points, dtype=np.float64)
    flr = np.asarray(floor_points, dtype=np.float64)
    for name, pts in (("image_points", img), ("floor_points", flr)):
        if len({tuple(p) for p in pts}) < 4:
            return f"{name} need at least 4 distinct points"
        if _collinear(pts):
            return f"{name} all lie on one line; choose marks spread over the floor"
    matrix = _homography(img, flr)
    if matrix is None:
        return "no homography fits these points; check that image and floor points pair up"
    error = float(np.sqrt(np.mean(np.sum((project(matrix, img) - flr) ** 2, axis=1))))
    if not np.isfinite(error):  # some marks fall on the far side of the fitted horizon
        return "the points do not fit one floor seen by this camera; check the pairing"
    if error > MAX_REPROJECTION_ERROR_M:
        return (
            f"the points disagree with each other: reprojection error {error:.2f} m "
            f"(at most {MAX_REPROJECTION_ERROR_M} m); re-measure or check the pairing"
        )
    return None


def floor_map_of(calibration: Calibration) -> FloorMap:
    """A camera's configured calibration as its floor map (checked by degenerate_reason
    when the configuration was loaded)."""
    return FloorMap.from_points(calibration.image_points, calibration.floor_points)


def project(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 3×3 homography to an (N, 2) array of points; NaN where a point has
    no image on the other plane."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    homog = np.hstack([pts, np.ones((len(pts), 1))]) @ matrix.T
    w = homog[:, 2:3]
    # Points at or beyond the horizon (w <= 0 with the sign _homography fixes) have
    # no floor position (nor floor points behind the camera an image position);
    # dividing would mirror them onto the other side.
    with np.errstate(divide="ignore", invalid="ignore"):
        out = homog[:, :2] / w
    out[w[:, 0] < 1e-12] = np.nan
    return out


@dataclass(frozen=True)
class FloorMap:
    """Maps image pixels to floor metres and back."""

    to_floor: np.ndarray
    to_image: np.ndarray

    @classmethod
    def from_points(
        cls,
        image_points: Sequence[tuple[float, float]],
        floor_points: Sequence[tuple[float, float]],
    ) -> FloorMap:
        reason = degenerate_reason(image_points, floor_points)
        if reason:
            raise ValueError(reason)
        img = np.asarray(image_points, dtype=np.float64)
        flr = np.asarray(floor_points, dtype=np.float64)
        forward = _homography(img, flr)
        assert forward is not None  # degenerate_reason checked it
        return cls(to_floor=forward, to_image=np.linalg.inv(forward))

    def floor(self, pixels: np.ndarray) -> np.ndarray:
        return project(self.to_floor, pixels)

    def image(self, metres: np.ndarray) -> np.ndarray:
        return project(self.to_image, metres)


# Zones through the floor map into the picture (drawing, and the regions planned
# around them). Here, with the map, so that neither needs the other.


def _rings(geom: BaseGeometry) -> list[np.ndarray]:
    rings: list[np.ndarray] = []
    for poly in getattr(geom, "geoms", [geom]):
        if poly.is_empty:
            continue
        if poly.geom_type == "Polygon":
            rings.append(np.asarray(poly.exterior.coords)[:, :2])
            rings.extend(np.asarray(r.coords)[:, :2] for r in poly.interiors)
        else:  # a buffer of a polygon is still polygonal; anything else: its boundary
            rings.extend(_rings(poly.envelope))
    return rings


# A floor zone is cut where the floor→image homography's w falls below this
# fraction of its largest value over the zone: short of the horizon (w = 0), where
# image positions run off to infinity, and well past any edge of the picture.
_MIN_DEPTH_FRACTION = 1e-3


def in_front_of_camera(geom: BaseGeometry, floor_map: FloorMap) -> BaseGeometry:
    """The part of a floor geometry (metres) that lies in front of the camera. A lane
    that runs on behind the camera has no image there; without the cut its ring
    would not be drawable at all."""
    a, b, c = floor_map.to_image[2]
    w = shapely.get_coordinates(geom) @ (a, b) + c
    if not len(w) or w.max() <= 0:
        return shapely.Polygon()
    w_min = _MIN_DEPTH_FRACTION * w.max()
    norm = float(np.hypot(a, b))
    if w.min() >= w_min or norm == 0:
        return geom
    # The half-plane a x + b y + c >= w_min, as a quadrilateral larger than the zone.
    n = np.array([a, b]) / norm
    d = np.array([-n[1], n[0]])
    p0 = n * (w_min - c) / norm
    x0, y0, x1, y1 = geom.bounds
    size = 4 * (np.hypot(x1 - x0, y1 - y0) + np.hypot(*(p0 - ((x0 + x1) / 2, (y0 + y1) / 2))) + 1)
    quad = shapely.Polygon([p0 - size * d, p0 + size * d, p0 + size * (d + n), p0 + size * (n - d)])
    parts = shapely.get_parts(shapely.intersection(geom, quad))
    return shapely.MultiPolygon([g for g in parts if g.geom_type == "Polygon"])


def image_rings(geom: BaseGeometry, floor_map: FloorMap | None) -> list[np.ndarray]:
    """Pixel-space rings of a geometry given in pixels (floor_map None) or metres."""
    if floor_map is None:
        return _rings(geom)
    visible = in_front_of_camera(geom, floor_map)
    dense = shapely.segmentize(visible, max_segment_length=0.1)  # 10 cm steps
    return [floor_map.image(r) for r in _rings(dense)]
