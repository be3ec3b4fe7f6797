"""Boxes: [x0, y0, x1, y1] in pixels (numpy arrays or sequences), and the few things
asked of them — the part two boxes share, their overlap, a centre, a height."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BoxLike = Sequence[float] | np.ndarray


def intersection(a: BoxLike, b: BoxLike) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return float(ix * iy)


def area(box: BoxLike) -> float:
    return float(max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0))


def iou(a: BoxLike, b: BoxLike) -> float:
    inter = intersection(a, b)
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


def contained_fraction(inner: BoxLike, outer: BoxLike) -> float:
    """The share of ``inner``'s area that lies inside ``outer`` (1 for a flat box)."""
    size = area(inner)
    return intersection(inner, outer) / size if size > 0 else 1.0


def centre(box: BoxLike) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], dtype=np.float64)


def height(box: BoxLike) -> float:
    """At least one pixel, so that it can divide."""
    return max(float(box[3] - box[1]), 1.0)


def centre_inside(inner: BoxLike, box: BoxLike) -> bool:
    cx, cy = centre(inner)
    return bool(box[0] <= cx < box[2] and box[1] <= cy < box[3])
