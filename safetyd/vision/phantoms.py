"""Telling people from phantoms: machine parts the model takes for a person.

A phantom is a track that has never shown a sign of life *and* does not look
like a person of this camera. Both conditions, never one alone:

* **Life.** A track is live once it has moved (its body travelled a fifth of
  its height from where it was first seen) or the pixels in its box changed
  more than the pixels around it (a person shifting weight, turning the head).
  Live is for good: a worker who has moved is a worker when he stands still.
* **Looks.** A still track is checked against what the camera knows of people:
  its height, with head and feet seen, must be within a factor of
  ``SIZE_FACTOR`` of a standing person's height at its feet (``sizes``), and
  its skeleton must not be grossly inhuman (the head below the feet of a
  figure standing on them; limb lengths prove nothing, foreshortening makes
  any forearm short).
* **Time.** A track that has not moved is judged after ``JUDGE_S`` of being
  seen; until then it opens no incident (its frames still count towards the
  debounce), so a phantom does not send one false alert before the verdict.

So a real worker standing frozen inside a press cell is never suppressed for
standing still: he is the right size and shape. A table's X-shaped base that
the model reports as a small person is the wrong size and never moves. Before
the camera knows how big people are (no calibration, nobody seen yet), size
cannot condemn anything; once it does, a track judged a phantom later has its
incident closed with reason ``phantom`` (incidents.py).

Pure apart from reading pixels of the frame it is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from ..bodyparts import INDEX
from . import boxes
from .sizes import Heights, feet_point, upright_height
from .tracking import Track

SIZE_FACTOR = 2.0  # a person is within half to twice the expected height
TRAVEL_FRAC = 0.2  # of the body's height, from where it was first seen: it moved
CHANGE_RATIO = 3.0  # pixel change in the box against the change around it: alive
MIN_CHANGE = 6.0  # grey levels; below this nothing visibly changed
PATCH = (24, 48)  # a box is compared at this size (w, h): cheap, noise averaged out
JUDGE_S = 1.0  # a still track is judged after being seen this long


@dataclass
class _Evidence:
    origin: np.ndarray  # body centre when first seen
    patch: np.ndarray | None  # grey box pixels when first seen
    ring: np.ndarray | None  # grey pixels around the box when first seen
    box: np.ndarray
    live: bool = False


def _grey(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def _patch(grey: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    h, w = grey.shape
    x0, y0 = int(max(box[0], 0)), int(max(box[1], 0))
    x1, y1 = int(min(box[2], w)), int(min(box[3], h))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    return cv2.resize(grey[y0:y1, x0:x1], PATCH, interpolation=cv2.INTER_AREA).astype(np.float32)


def _ring(box: np.ndarray) -> np.ndarray:
    """A box around ``box``, half its size bigger on every side."""
    w, h = box[2] - box[0], box[3] - box[1]
    return np.array([box[0] - w / 2, box[1] - h / 2, box[2] + w / 2, box[3] + h / 2])


def _centre(track: Track) -> np.ndarray:
    return boxes.centre(track.bbox)


def _length(kp: np.ndarray, a: str, b: str) -> float:
    return float(np.hypot(*(kp[INDEX[a]] - kp[INDEX[b]])))


def out_of_proportion(track: Track, threshold: float) -> str | None:
    """A gross violation of human shape among the seen landmarks, or None.

    Only what foreshortening cannot explain: an arm pointing at the camera makes
    a forearm a few pixels long, so limb lengths prove nothing; a figure standing
    on its feet with its head below them is no person."""
    kp, seen = track.keypoints, track.visibility >= threshold
    names = ("nose", "left_hip", "right_hip", "left_ankle", "right_ankle")
    if all(seen[INDEX[n]] for n in names):
        hips = (kp[INDEX["left_hip"], 1] + kp[INDEX["right_hip"], 1]) / 2
        ankles = (kp[INDEX["left_ankle"], 1] + kp[INDEX["right_ankle"], 1]) / 2
        if ankles > hips and kp[INDEX["nose"], 1] > ankles:
            return "head below the feet of a figure standing on them"
    return None


class PhantomJudge:
    def __init__(self, visibility_threshold: float = 0.5) -> None:
        self.visibility_threshold = visibility_threshold
        self._evidence: dict[int, _Evidence] = {}

    def reset(self) -> None:
        self._evidence.clear()

    def live(self, track_id: int) -> bool:
        ev = self._evidence.get(track_id)
        return bool(ev and ev.live)

    def undecided(self, track: Track) -> bool:
        """Still and too young to judge: no incident may open for it yet."""
        return not self.live(track.id) and track.age_s < JUDGE_S

    def update(
        self, tracks: Sequence[Track], image: np.ndarray, heights: Heights
    ) -> dict[int, str]:
        """Phantom track ids with the reason, among the tracks seen in this frame
        (a track not seen now keeps its last verdict with the caller)."""
        grey: np.ndarray | None = None  # only if some track still has to show life
        alive = {t.id for t in tracks}
        self._evidence = {k: v for k, v in self._evidence.items() if k in alive}
        verdicts: dict[int, str] = {}
        for track in tracks:
            if not track.seen:
                continue
            ev = self._evidence.get(track.id)
            if ev is not None and ev.live:
                continue
            if grey is None:
                grey = _grey(image)
            if ev is None:
                ev = self._evidence[track.id] = _Evidence(
                    origin=_centre(track),
                    patch=_patch(grey, track.bbox),
                    ring=_patch(grey, _ring(track.bbox)),
                    box=track.bbox.copy(),
                )
            if not ev.live:
                ev.live = self._moved(track, ev) or self._changed(grey, ev)
            if ev.live or track.age_s < JUDGE_S:
                continue  # a person; or not yet judged (see undecided())
            reason = self._looks_wrong(track, heights)
            if reason:
                verdicts[track.id] = f"never moved, and {reason}"
        return verdicts

    def _moved(self, track: Track, ev: _Evidence) -> bool:
        height = max(track.bbox[3] - track.bbox[1], 1.0)
        return float(np.hypot(*(_centre(track) - ev.origin))) >= TRAVEL_FRAC * height

    def _changed(self, grey: np.ndarray, ev: _Evidence) -> bool:
        """The first box's pixels changed, and more than the pixels around it did (a
        lighting change or camera noise moves both alike)."""
        if ev.patch is None or ev.ring is None:
            return False
        now, ring = _patch(grey, ev.box), _patch(grey, _ring(ev.box))
        if now is None or ring is None:
            return False
        inside = float(np.mean(np.abs(now - ev.patch)))
        around = float(np.mean(np.abs(ring - ev.ring)))
        return inside >= MIN_CHANGE and inside >= CHANGE_RATIO * max(around, 1.0)

    def _looks_wrong(self, track: Track, heights: Heights) -> str | None:
        height = upright_height(track.keypoints, track.visibility, self.visibility_threshold)
        feet = feet_point(track.keypoints, track.visibility, self.visibility_threshold)
        if height is not None and feet is not None:
            expected = heights.trusted_at(*feet)
            if expected and not 1 / SIZE_FACTOR <= height / expected <= SIZE_FACTOR:
                return f"{height:.0f} px tall where people are {expected:.0f} px"
        return out_of_proportion(track, self.visibility_threshold)
