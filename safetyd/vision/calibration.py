"""Image ↔ floor homography for cameras whose zones are drawn in metres.

A camera looking down at a flat floor maps floor points to image points by a
homography. Four or more measured marks (tape crosses, floor tiles) fix it;
feet, which touch the floor, can then be placed on the floor plan in metres.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

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
