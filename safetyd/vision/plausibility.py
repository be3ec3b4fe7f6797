"""What a detection must look like to be a person, and one pose per person.

Per picture the model was given (the frame, a region, a crop): enough visible
landmarks, a visible upper body, not tiny for that picture, not flat. Across
pictures: a person seen by two regions, or twice in one, is kept once; a much
smaller "person" wholly inside another is the model's ghost in a coat's folds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from . import boxes
from .pose import Pose, trunk_axis

# Landmarks 0-24: face, shoulders, arms, hands, hips. The legs are often hidden by a
# machine or a bench in front of a worker, so visibility is judged on these.
UPPER_BODY = 25


def visible_extent(pose: Pose, threshold: float) -> np.ndarray | None:
    seen = pose.keypoints[pose.visibility >= threshold]
    if len(seen) < 2:
        return None
    return np.concatenate([seen.min(axis=0), seen.max(axis=0)])


def is_duplicate(pose: Pose, kept: Pose, threshold: float) -> bool:
    """Whether ``pose`` is a second detection of the already kept person.

    Either the same landmarks (median distance under a tenth of the person's
    height), or a much smaller "person" found wholly inside the kept one's box
    (the model sometimes sees a figure in the folds of a coat or in a tool held
    in front of the body). Two real people side by side or one behind another
    have different landmarks and boxes that stick out of each other.
    """
    height = max(kept.bbox[3] - kept.bbox[1], 1.0)
    both = (pose.visibility >= threshold) & (kept.visibility >= threshold)
    if both.sum() >= 4:
        dist = np.linalg.norm(pose.keypoints[both] - kept.keypoints[both], axis=1)
        if float(np.median(dist)) < 0.1 * height:
            return True
    return is_figure_within(pose.bbox, kept.bbox)


def is_figure_within(inner: np.ndarray, outer: np.ndarray) -> bool:
    """A box less than half as tall as a person's and wholly inside it: the model's
    "person" in the folds of a coat or in a tool held in front of the body."""
    small = (inner[3] - inner[1]) < 0.5 * max(outer[3] - outer[1], 1.0)
    return bool(small and boxes.contained_fraction(inner, outer) >= 0.9)


def body_extent(pose: Pose, threshold: float) -> tuple[float, float] | None:
    """(width, height) of the visible landmarks across and along the trunk (hips to
    shoulders), or None when the shoulders or hips are not seen."""
    axis = trunk_axis(pose.keypoints, pose.visibility, threshold)
    if axis is None:
        return None
    norm = float(np.hypot(*axis))
    if norm == 0:
        return None
    up = axis / norm
    across = np.array([-up[1], up[0]])
    seen = pose.keypoints[pose.visibility >= threshold]
    along, side = seen @ up, seen @ across
    return float(side.max() - side.min()), float(along.max() - along.min())


@dataclass(frozen=True)
class PlausibilityFilter:
    """Rejects detections that cannot be a person, and duplicates of one person.

    The pose model sometimes reports small "people" on machinery, or the same
    worker twice (a tracked box and a fresh detection). Over time, tracks must
    also be confirmed by several detections (see tracking.Tracker), which drops
    one-frame flickers. A worker standing still is never rejected for it: a
    person frozen inside a press cell must alarm.
    """

    min_height_frac: float = 0.08
    max_aspect: float = 2.5
    min_visible_landmarks: int = 8
    min_mean_visibility: float = 0.5
    visibility_threshold: float = 0.5
    # Where falls and men down are watched (areas, hazard/body.py), a person lying on
    # the floor must stay a person: his height and width are measured along and
    # across his own trunk, not the picture's axes. ``lying_where(pose)`` says whether
    # a pose is in such a place; elsewhere a flat "person" is rejected as before, so
    # hazard zones see exactly what they saw without areas (a lying-shaped machine
    # part inside an area is left to the phantom judge: lifeless, not a standing
    # person's size).
    lying_where: Callable[[Pose], bool] | None = None

    @classmethod
    def from_settings(cls, plaus, visibility_threshold: float) -> PlausibilityFilter:
        return cls(
            min_height_frac=plaus.min_height_frac,
            max_aspect=plaus.max_aspect,
            min_visible_landmarks=plaus.min_visible_landmarks,
            min_mean_visibility=plaus.min_mean_visibility,
            visibility_threshold=visibility_threshold,
        )

    def why_rejected(self, pose: Pose, frame_height: int) -> str | None:
        """Why this pose is not a person, or None; ``frame_height`` is the height of
        the picture the model was given."""
        visible = int((pose.visibility >= self.visibility_threshold).sum())
        if visible < self.min_visible_landmarks:
            return f"{visible} visible landmarks < {self.min_visible_landmarks}"
        upper = float(pose.visibility[:UPPER_BODY].mean())
        if upper < self.min_mean_visibility:
            return f"upper-body visibility {upper:.2f} < {self.min_mean_visibility}"
        extent = visible_extent(pose, self.visibility_threshold)
        if extent is None:
            return "fewer than 2 visible landmarks"
        width, height = extent[2] - extent[0], extent[3] - extent[1]
        flat = height < self.min_height_frac * frame_height or width / max(height, 1e-9) > (
            self.max_aspect
        )
        if flat and self.lying_where is not None and self.lying_where(pose):
            width, height = body_extent(pose, self.visibility_threshold) or (width, height)
        if height < self.min_height_frac * frame_height:
            return f"height {height:.0f}px < {self.min_height_frac:.0%} of the picture"
        if height <= 0 or width / height > self.max_aspect:
            return f"aspect {width:.0f}x{height:.0f} wider than {self.max_aspect}:1"
        return None

    def filter(self, poses: Sequence[Pose], frame_height: int) -> list[Pose]:
        return self.filter_groups([(poses, frame_height)])

    def filter_groups(self, groups: Iterable[tuple[Sequence[Pose], int]]) -> list[Pose]:
        """Poses found in several pictures (regions, tiles, the whole frame), each
        judged against the height of its own picture, then one pose per person:
        a person seen by two overlapping regions is kept once."""
        plausible = [
            p for poses, height in groups for p in poses if self.why_rejected(p, height) is None
        ]
        # Largest first, so that a person's full-size detection is the one kept (a
        # tile that cuts him sees less of him than the tile that holds him whole).
        plausible.sort(key=lambda p: -(p.bbox[3] - p.bbox[1]))
        out: list[Pose] = []
        for pose in plausible:
            if not any(is_duplicate(pose, o, self.visibility_threshold) for o in out):
                out.append(pose)
        return out
