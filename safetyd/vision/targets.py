"""Where a look goes and whom it finds: the box arithmetic of regional.py (pure).

A follow-up crop around a person; whether a pose found accounts for a person the
tracker expects (``is_him``: on him and of his size); the people lost this frame,
region by region; blanking found people out for a look-around, and telling the
remains of a blanked person from somebody new; whether a moving blob is a person
already found."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import boxes
from .plausibility import is_figure_within
from .regions import Box, Region, RegionPlan
from .tracking import SIZE_CHANGE

FOLLOW_SIDE = 2.0  # a follow-up crop's side, in the person's heights (1.3-3 all work)
COVERED_IOU = 0.3  # a person is found this frame if a pose overlaps him this much
# A pose's box joins its landmarks; the body's outline is wider (shoulders, coat,
# arms). Blanked boxes are grown by this share of their width and height per side,
# and what a look-around finds mostly inside them is the remains of the person
# blanked out, not somebody else.
BLANK_GROW = (0.15, 0.1)
REMAINS = 0.6  # share of a found box inside blanked boxes that makes it remains
EXPLAINED = 0.5  # a moving blob this much inside a person found this frame is him


@dataclass(frozen=True)
class Expected:
    """A tracked person and where the tracker expects him in this frame."""

    id: int
    box: np.ndarray
    confirmed: bool


def follow_box(box: np.ndarray, frame_size: tuple[int, int]) -> Box | None:
    """A square around a person, FOLLOW_SIDE of his height, moved inside the frame."""
    w, h = frame_size
    height = float(box[3] - box[1])
    if not np.all(np.isfinite(box)) or height <= 0:
        return None
    side = int(min(max(FOLLOW_SIDE * height, 64), w, h))
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    x0 = int(np.clip(round(cx - side / 2), 0, w - side))
    y0 = int(np.clip(round(cy - side / 2), 0, h - side))
    return (x0, y0, x0 + side, y0 + side)


def covers(pose_box: np.ndarray, box: np.ndarray) -> bool:
    """A pose found here accounts for the person expected in ``box``: they overlap,
    or the centre of one lies in the other."""
    return boxes.iou(pose_box, box) >= COVERED_IOU or inside(box, pose_box) or inside(pose_box, box)


def inside(inner: np.ndarray, box: Sequence[float] | np.ndarray) -> bool:
    return boxes.centre_inside(inner, box)


def blank(image: np.ndarray, boxes: Sequence[np.ndarray]) -> np.ndarray:
    """A copy with these boxes (grown a little) filled with the picture's median."""
    out = image.copy()
    if not boxes:
        return out
    h, w = image.shape[:2]
    fill = np.median(image.reshape(-1, image.shape[-1])[:: max(1, h * w // 4096)], axis=0)
    for b in map(grown, boxes):
        x0, y0 = int(max(b[0], 0)), int(max(b[1], 0))
        x1, y1 = int(min(b[2], w)), int(min(b[3], h))
        if x1 > x0 and y1 > y0:
            out[y0:y1, x0:x1] = fill
    return out


def grown(box: np.ndarray) -> np.ndarray:
    gx, gy = BLANK_GROW[0] * (box[2] - box[0]), BLANK_GROW[1] * (box[3] - box[1])
    return np.array([box[0] - gx, box[1] - gy, box[2] + gx, box[3] + gy])


def remains(pose_box: np.ndarray, blanked: Sequence[np.ndarray]) -> bool:
    covered = sum(boxes.intersection(pose_box, b) for b in map(grown, blanked))
    return covered >= REMAINS * max(boxes.area(pose_box), 1.0)


def is_him(pose_box: np.ndarray, box: np.ndarray) -> bool:
    """A pose the tracker would match to the person expected in ``box``: on him, and
    of about his size."""
    ratio = (pose_box[3] - pose_box[1]) / max(box[3] - box[1], 1.0)
    return covers(pose_box, box) and 1 / SIZE_CHANGE <= ratio <= SIZE_CHANGE


def explains(person: np.ndarray, mover: np.ndarray) -> bool:
    """A moving blob on a person found this frame is that person moving: mostly inside
    his (grown) box, or overlapping him. (His box joins his landmarks; what he
    carries, his coat and his shadow move with him and make the blob bigger.)"""
    return boxes.contained_fraction(mover, grown(person)) >= EXPLAINED or covers(person, mover)


def overlaps_crop(box: np.ndarray, crop: Box) -> bool:
    """Whether a box (in crop coordinates) reaches into a crop of this size."""
    return box[2] > 0 and box[3] > 0 and box[0] < crop[2] - crop[0] and box[1] < crop[3] - crop[1]


def shift(box: np.ndarray, origin: Box) -> np.ndarray:
    return box - np.array([origin[0], origin[1], origin[0], origin[1]], dtype=np.float64)


def ghost_of_another(e: Expected, expected: Sequence[Expected]) -> bool:
    """A small unconfirmed figure on another tracked person (its centre in his box, less
    than half his height): following it would find him, not somebody else."""
    if e.confirmed:
        return False
    return any(
        o.id != e.id
        and o.confirmed
        and (is_figure_within(e.box, o.box) or (inside(e.box, o.box) and _half(e.box, o.box)))
        for o in expected
    )


def _half(small: np.ndarray, big: np.ndarray) -> bool:
    return (small[3] - small[1]) < 0.5 * (big[3] - big[1])


def losing(
    plan: RegionPlan, expected: Sequence[Expected], seen: Sequence[np.ndarray]
) -> list[tuple[Region, list[Expected]]]:
    """The regions in which confirmed people are lost this frame, with those people:
    no pose found is one the tracker would take for him (a small figure the model fits
    in his coat covers him, but is not him)."""
    lost = [
        e for e in expected
        if e.confirmed and not ghost_of_another(e, expected)
        and not any(is_him(b, e.box) for b in seen)
    ]  # fmt: skip
    by_region = [(r, [e for e in lost if inside(e.box, r.box)]) for r in plan.regions]
    return [(r, people) for r, people in by_region if people]
