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
    return matrix


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
    if error > MAX_REPROJECTION_ERROR_M:
        return (
            f"the points disagree with each other: reprojection error {error:.2f} m "
            f"(at most {MAX_REPROJECTION_ERROR_M} m); re-measure or check the pairing"
        )
    return None


def project(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 3×3 homography to an (N, 2) array of points."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    homog = np.hstack([pts, np.ones((len(pts), 1))]) @ matrix.T
    w = homog[:, 2:3]
    # Points at or behind the horizon have no floor position.
    with np.errstate(divide="ignore", invalid="ignore"):
        out = homog[:, :2] / w
    out[(np.abs(w[:, 0]) < 1e-12)] = np.nan
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
