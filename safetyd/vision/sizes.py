"""How tall a standing person is in pixels, as a function of where the feet are.

Three sources, best first:

* **Floor calibration**: the homography gives the local image scale of the
  floor at the feet; a vertical person of ``PERSON_HEIGHT_M`` at that spot is
  that scale times the height, shortened by the camera's look-down angle (the
  ratio of the floor's foreshortened to its lateral scale is the sine of the
  angle down to that spot, and a vertical segment shrinks with its cosine).
* **Learned**: from confirmed people who have moved (so they are people) and
  whose head and feet are both seen (a half-seen person's size is a guess):
  the pixel height against the image row of the feet, fitted by a robust line
  (Theil–Sen: a few crouching people do not bend it). For a camera without
  roll over a flat floor the height of a person is a linear function of that
  row. Seen at one depth only, it is a constant.
* **Unknown** until enough has been seen; meanwhile, to condemn a phantom
  (``trusted_at``), the sightings whose feet were on the same row.

The models are pure; ``load_heights``/``save_heights`` keep what a camera has
learned in the state directory, so that a restart does not forget it.
"""

from __future__ import annotations

import json
import logging
import os
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ..base.bodyparts import GROUPS
from .calibration import FloorMap
from .pose import trunk_axis

log = logging.getLogger(__name__)
PERSON_HEIGHT_M = 1.7
MIN_SAMPLES = 10  # sightings before the learned model is used
SLOPE_SPREAD = 1.0  # feet rows spread over this many heights: fit a slope, else a constant
SAMPLE_LIMIT = 400  # the most recent sightings kept (old ones age out)
NEAR_ROW = 0.2  # feet within this share of a person's height are on his row
_FEET = np.array(sorted(set(GROUPS["feet"])))
_HEAD = np.array(sorted(set(GROUPS["head"])))


class PersonHeights(Protocol):
    def at(self, x: float, y: float) -> float | None:
        """Expected pixel height of a standing person whose feet are at (x, y)."""
        ...


class Unknown:
    def at(self, x: float, y: float) -> float | None:
        return None


@dataclass(frozen=True)
class FloorHeights:
    floor_map: FloorMap
    height_m: float = PERSON_HEIGHT_M

    def at(self, x: float, y: float) -> float | None:
        feet = self.floor_map.floor(np.array([[x, y]]))[0]
        if not np.all(np.isfinite(feet)):
            return None  # at or above the horizon
        step = 0.1  # metres
        pts = self.floor_map.image(np.array([feet, feet + [step, 0], feet + [0, step]]))
        if not np.all(np.isfinite(pts)):
            return None
        jac = np.stack([pts[1] - pts[0], pts[2] - pts[0]], axis=1) / step  # px per metre
        big, small = np.linalg.svd(jac, compute_uv=False)
        if big <= 0:
            return None
        return float(self.height_m * big * np.sqrt(max(0.0, 1 - (small / big) ** 2)))


@dataclass(frozen=True)
class Sighting:
    track: int
    foot_x: float
    foot_y: float
    height: float


class LearnedHeights:
    """h(y) = a + b·y, fitted to recent sightings of whole, upright people."""

    def __init__(self, samples: Iterable[Sighting] = ()) -> None:
        self._samples: deque[Sighting] = deque(samples, maxlen=SAMPLE_LIMIT)
        self._fit: tuple[float, float] | None = None
        self._range = (0.0, 0.0)
        self._refit()

    @property
    def ready(self) -> bool:
        return self._fit is not None

    def add(self, sighting: Sighting) -> None:
        self._samples.append(sighting)
        n = len(self._samples)
        if n < MIN_SAMPLES or n % 5 == 0:  # refitting every sighting is wasted work
            self._refit()

    def _refit(self) -> None:
        if len(self._samples) < MIN_SAMPLES:
            self._fit = None
            return
        y = np.array([s.foot_y for s in self._samples])
        h = np.array([s.height for s in self._samples])
        typical = float(np.median(h))
        self._range = (float(y.min()), float(y.max()))
        if np.ptp(y) >= SLOPE_SPREAD * typical:
            from scipy.stats import theilslopes

            slope, intercept, _, _ = theilslopes(h, y)
            self._fit = (float(intercept), float(slope))
        else:
            self._fit = (typical, 0.0)  # seen at about one depth: a constant

    def at(self, x: float, y: float) -> float | None:
        """The fitted height, never extrapolated: beyond the rows where people were
        seen, the height at the nearest such row."""
        if self._fit is None:
            return None
        a, b = self._fit
        if b != 0.0:
            y = min(max(y, self._range[0]), self._range[1])
        value = a + b * y
        return value if value > 0 else None

    def seen_at(self, y: float) -> float | None:
        """Before the fit is ready: the median height of the sightings whose feet were
        on this row (within NEAR_ROW of their height), if there are at least two."""
        near = [s.height for s in self._samples if abs(s.foot_y - y) <= NEAR_ROW * s.height]
        return float(np.median(near)) if len(near) >= 2 else None

    def covers(self, y: float) -> bool:
        """Whether people have been seen standing near this row (within half a person)."""
        margin = 0.5 * (self.at(0.0, y) or 0.0)
        return self._fit is not None and self._range[0] - margin <= y <= self._range[1] + margin

    def to_dict(self) -> dict:
        return {
            "samples": [[s.track, round(s.foot_x, 1), round(s.foot_y, 1), round(s.height, 1)]
                        for s in self._samples]
        }  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict) -> LearnedHeights:
        samples = [Sighting(int(r[0]), float(r[1]), float(r[2]), float(r[3]))
                   for r in data.get("samples", [])]  # fmt: skip
        return cls(samples)


def upright_height(keypoints: np.ndarray, visibility: np.ndarray, threshold: float) -> float | None:
    """Head-to-feet height of a pose whose head and feet are both seen, else None."""
    feet = visibility[_FEET] >= threshold
    head = visibility[_HEAD] >= threshold
    if feet.sum() < 2 or head.sum() < 2:
        return None
    top = float(keypoints[_HEAD][head, 1].min())
    bottom = float(keypoints[_FEET][feet, 1].max())
    # The head landmarks are the face: the top of the skull is about a face
    # height higher (eyes to crown ~ 0.06 of a body).
    height = bottom - top
    return height * 1.06 if height > 0 else None


STANDING_TRUNK_DEG = 30.0  # a trunk leaning more is not a standing person's height


def standing_height(
    keypoints: np.ndarray, visibility: np.ndarray, threshold: float
) -> float | None:
    """The head-to-feet height of a person standing (trunk within STANDING_TRUNK_DEG of
    vertical, shoulders and hips seen), else None: what teaches the camera people's
    sizes. A person bending, sitting or lying is shorter than he stands, and would
    teach it that people are small there (a fallen man once taught one 3 px)."""
    up = trunk_axis(keypoints, visibility, threshold)
    if up is None:
        return None
    norm = float(np.hypot(*up))
    if norm == 0 or -up[1] / norm < np.cos(np.radians(STANDING_TRUNK_DEG)):
        return None
    return upright_height(keypoints, visibility, threshold)


def feet_point(keypoints: np.ndarray, visibility: np.ndarray, threshold: float):
    feet = visibility[_FEET] >= threshold
    if feet.sum() < 2:
        return None
    pts = keypoints[_FEET][feet]
    return float(pts[:, 0].mean()), float(pts[:, 1].max())


class Heights:
    """The camera's best knowledge: its calibration, else what it has learned."""

    def __init__(self, floor_map: FloorMap | None = None, learned: LearnedHeights | None = None):
        self.floor = FloorHeights(floor_map) if floor_map is not None else None
        self.learned = learned or LearnedHeights()

    @property
    def known(self) -> bool:
        return self.floor is not None or self.learned.ready

    def at(self, x: float, y: float) -> float | None:
        """For sizing regions: the best guess, extrapolated if need be."""
        if self.floor is not None:
            value = self.floor.at(x, y)
            if value is not None:
                return value
        return self.learned.at(x, y)

    def trusted_at(self, x: float, y: float) -> float | None:
        """For condemning a phantom: calibration, or what was learned near this row
        (before enough was seen for a fit: people whose feet were on this row)."""
        if self.floor is not None:
            return self.floor.at(x, y)
        if not self.learned.ready:
            return self.learned.seen_at(y)
        return self.learned.at(x, y) if self.learned.covers(y) else None


def load_heights(path: Path) -> LearnedHeights:
    """What this camera learned before; a missing or unreadable file starts afresh."""
    try:
        return LearnedHeights.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        return LearnedHeights()
    except (OSError, ValueError, TypeError, KeyError) as exc:
        log.warning("%s: cannot read learned person sizes (%s); learning afresh", path, exc)
        return LearnedHeights()


def save_heights(path: Path, heights: LearnedHeights) -> None:
    """Write atomically; a failure (full disk) is logged and otherwise harmless."""
    tmp = path.with_suffix(".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(heights.to_dict()))
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("%s: cannot save learned person sizes: %s", path, exc)
