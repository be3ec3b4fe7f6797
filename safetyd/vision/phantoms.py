"""Telling people from phantoms: machine parts the model takes for a person.

A phantom is a track that has never shown a sign of life of its own *and* does
not look like a person of this camera. Both conditions, never one alone:

* **Life.** A track is live once it has moved (its box travelled a fifth of
  its height from where it was first seen, on two frames in a row) or the
  pixels in its box changed more than the pixels around it (a person shifting
  weight, turning the head).
  Live is for good: a worker who has moved is a worker when he stands still.
  A box is compared only with a reference of about its size and shape; one
  frame's box that sprawls over the pixels around a thing is compared with
  nothing and is not the next reference (the boxes back on the thing would
  seem to travel from it): only a box that stays changed makes a new one.
* **Its own life.** Evidence counts only while no other person's box reaches
  into this track's box or the ring around it: a worker walking out of the
  pixels of a table's base changes them, and the model's first box of the base
  is often a blend of the two that shrinks onto the base as he goes. While
  someone overlaps it, the track's reference (where it was, what its pixels
  looked like) is taken afresh each frame, so only change after he has gone
  counts. (Phantoms already condemned do not count as someone: they do not move.)
* **Looks.** A track is checked against what the camera knows of people from
  its first frame, not only once it has proved still: its height, with head and
  feet seen, must be within a factor of ``SIZE_FACTOR`` of a standing person's
  height at its feet (``sizes``; or, where the camera has not learned that yet,
  the height of a person it was first seen overlapping whose feet were on the
  same row), and its skeleton must not be grossly inhuman (the head below the
  feet of a figure standing on them; limb lengths prove nothing, foreshortening
  makes any forearm short).
* **Time.** A track that has not shown life is *undecided* for its first
  ``JUDGE_S`` of being seen and opens no incident (its frames still count
  towards the debounce), so that a phantom sends no false alert before the
  verdict; a track clearly of a standing person's size (within ``SURE_FACTOR``)
  and shape is not kept waiting, so a real second worker stepping in as the
  first leaves is not delayed. After ``JUDGE_S`` a lifeless track that looks
  wrong is a phantom.
* **Suspects.** A track first seen in the pixels a person was moving in (he
  overlapped it then, or within ``RECENT_S`` before) stays undecided until it
  proves itself: life of its own, or clearly a person's size where it stands.
  Before the camera has learned people's sizes it cannot be condemned, but it
  cannot open anything either.

So a real worker standing frozen inside a press cell is never suppressed for
standing still: he is the right size and shape. A table's X-shaped base that
the model reports as a small person is the wrong size and never moves of its
own. Before the camera knows how big people are (no calibration, nobody seen
yet, nobody overlapping), size cannot condemn anything; once it does, a track
judged a phantom later has its incident closed with reason ``phantom``
(hazard/incidents.py).

Pure apart from reading pixels of the frame it is given.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from ..base.bodyparts import INDEX
from . import boxes
from .sizes import Heights, feet_point, upright_height
from .tracking import Track

SIZE_FACTOR = 2.0  # a person is within half to twice the expected height
# ... and a standing one clearly within this factor of it (people's heights and the
# model's landmarks each vary by about 15 %): such a track is not kept waiting.
SURE_FACTOR = 1.3
TRAVEL_FRAC = 0.2  # of the body's height, from where it was first seen: it moved
CHANGE_RATIO = 3.0  # pixel change in the box against the change around it: alive
MIN_CHANGE = 6.0  # grey levels; below this nothing visibly changed
PATCH = (24, 48)  # a box is compared at this size (w, h): cheap, noise averaged out
JUDGE_S = 1.0  # a lifeless track is judged after being seen this long
SAME_ROW = 0.2  # feet this close (in the other's heights) stand at one depth
RECENT_S = 0.5  # someone who was in a track's pixels this recently still changes them
SETTLED = 1.5  # a box that grew or shrank by more than this is the model settling, not life
# ... and it has settled (a new reference is taken) when its box stays so this many frames
# in a row: one frame's box can sprawl over the pixels around a thing and come back.
SETTLED_FRAMES = 2


@dataclass
class _Evidence:
    """What a track is compared against to show life: where it was and what its box
    and the ring around it looked like, the last time nobody else overlapped it."""

    origin: np.ndarray  # body centre
    patch: np.ndarray | None  # grey box pixels
    ring: np.ndarray | None  # grey pixels around the box
    box: np.ndarray
    clean: bool  # taken while nobody overlapped it: later frames may be compared with it
    live: bool = False
    away: bool = False  # its last frame was a fifth of its height from the reference
    # First seen in the pixels a person was moving in (walking out of, past): it has to
    # prove itself (its own life, or clearly a person's size) before it opens anything.
    suspect: bool = False
    reference: float | None = None  # height of a person first seen overlapping it, same row
    odd: int = 0  # frames in a row whose box was not comparable with the reference's


@dataclass(frozen=True)
class Judgement:
    """One frame's verdicts on the tracks seen in it."""

    phantoms: dict[int, str]  # track id → why it is not a person
    undecided: frozenset[int]  # not yet judged: open no incident for now


def _patch(image: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    """The box's pixels, grey, at PATCH size (only the box is converted, not the frame)."""
    h, w = image.shape[:2]
    x0, y0 = int(max(box[0], 0)), int(max(box[1], 0))
    x1, y1 = int(min(box[2], w)), int(min(box[3], h))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    small = cv2.resize(image[y0:y1, x0:x1], PATCH, interpolation=cv2.INTER_AREA)
    grey = small if small.ndim == 2 else cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    return grey.astype(np.float32)


def _ring(box: np.ndarray) -> np.ndarray:
    """A box around ``box``, half its size bigger on every side."""
    w, h = box[2] - box[0], box[3] - box[1]
    return np.array([box[0] - w / 2, box[1] - h / 2, box[2] + w / 2, box[3] + h / 2])


def _centre(track: Track) -> np.ndarray:
    """The body's centre: its box's. (The landmarks the model fits on a small still
    thing jump by a quarter of its height from one frame to the next; its box does
    not, and a box that sprawls is not compared at all: see _comparable.)"""
    return boxes.centre(track.bbox)


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
        self._verdicts: dict[int, str] = {}  # the tracks condemned, and why
        self._recent: deque[tuple[float, int, np.ndarray]] = deque()  # (t, id, box) of people

    def reset(self) -> None:
        self._evidence.clear()
        self._verdicts.clear()
        self._recent.clear()

    def live(self, track_id: int) -> bool:
        ev = self._evidence.get(track_id)
        return bool(ev and ev.live)

    def update(
        self, tracks: Sequence[Track], image: np.ndarray, heights: Heights, t: float
    ) -> Judgement:
        """Verdicts on the tracks seen in this frame (a track not seen now keeps its last
        verdict with the caller). ``tracks``: all the tracker's tracks, lost ones too
        (a person the model has just lost is still leaving the pixels he stood in)."""
        alive = {tr.id for tr in tracks}
        self._evidence = {k: v for k, v in self._evidence.items() if k in alive}
        self._remember(tracks, t)
        verdicts: dict[int, str] = {}
        undecided: set[int] = set()
        for track in tracks:
            if not track.seen:
                continue
            ev = self._evidence.get(track.id)
            if ev is not None and ev.live:
                continue
            others = self._overlapping(track)
            comparable = ev is not None and _comparable(track, ev)
            if ev and ev.clean and not others and not comparable and ev.odd + 1 < SETTLED_FRAMES:
                # One frame's box sprawled: compared with nothing, and no new reference
                # (the next box, back on the thing, would seem to have moved from it).
                ev.odd += 1
                ev.away = False
            elif ev is None or others or not ev.clean or not comparable:
                # First seen, someone else is in its pixels, or the first frame since he
                # left them: the reference is taken now, and compared with from now on.
                ev = self._evidence[track.id] = _fresh(track, image, not others, ev)
                ev.reference = self._reference(track, tracks, others) or ev.reference
                ev.suspect = ev.suspect or (track.age_s == 0.0 and bool(others))
            else:
                ev.odd = 0
                ev.live = self._moved(track, ev) or self._changed(image, ev)
            if ev.live:
                continue
            wrong = self._looks_wrong(track, heights, ev.reference)
            if track.age_s >= JUDGE_S and wrong:
                verdicts[track.id] = f"never moved, and {wrong}"
            elif track.id in self._verdicts and not self._measured(track, heights, ev):
                # Condemned, and nothing in this frame says otherwise (its size cannot be
                # measured in it): a phantom does not become a person for a frame.
                verdicts[track.id] = self._verdicts[track.id]
            elif (track.age_s < JUDGE_S or ev.suspect) and (
                wrong or not self._fits(track, heights, ev.reference)
            ):
                undecided.add(track.id)  # see the module docstring
        kept = {k: v for k, v in self._verdicts.items() if k in alive}
        for tr in tracks:
            if tr.seen:
                kept.pop(tr.id, None)
        self._verdicts = {**kept, **verdicts}
        return Judgement(verdicts, frozenset(undecided))

    def _remember(self, tracks: Sequence[Track], t: float) -> None:
        """Where the people who move were over the last RECENT_S: the live tracks (a
        thing that never moved changes nobody's pixels, and must not stop a worker
        walking past it from showing life)."""
        while self._recent and t - self._recent[0][0] > RECENT_S:
            self._recent.popleft()
        self._recent.extend((t, tr.id, tr.bbox.copy()) for tr in tracks if self.live(tr.id))

    def _overlapping(self, track: Track) -> set[int]:
        """Other people whose box reached into this track's box or the ring around it in
        the last RECENT_S (seen, or just lost): their movement changes its pixels."""
        ring = _ring(track.bbox)
        return {
            i for _, i, box in self._recent if i != track.id and boxes.intersection(box, ring) > 0
        }

    def _moved(self, track: Track, ev: _Evidence) -> bool:
        """Travelled TRAVEL_FRAC of its height from the reference, on two frames in a row
        (one frame's box can jump that far; a walker stays gone)."""
        height = max(track.bbox[3] - track.bbox[1], 1.0)
        away = float(np.hypot(*(_centre(track) - ev.origin))) >= TRAVEL_FRAC * height
        moved, ev.away = away and ev.away, away
        return moved

    def _changed(self, image: np.ndarray, ev: _Evidence) -> bool:
        """The reference box's pixels changed, and more than the pixels around it did (a
        lighting change or camera noise moves both alike)."""
        if ev.patch is None or ev.ring is None:
            return False
        now, ring = _patch(image, ev.box), _patch(image, _ring(ev.box))
        if now is None or ring is None:
            return False
        inside = float(np.mean(np.abs(now - ev.patch)))
        around = float(np.mean(np.abs(ring - ev.ring)))
        return inside >= MIN_CHANGE and inside >= CHANGE_RATIO * max(around, 1.0)

    def _size(self, track: Track) -> tuple[float, tuple[float, float]] | None:
        vis = self.visibility_threshold
        height = upright_height(track.keypoints, track.visibility, vis)
        feet = feet_point(track.keypoints, track.visibility, vis)
        return None if height is None or feet is None else (height, feet)

    def _expected(self, feet: tuple[float, float], heights: Heights, reference: float | None):
        return heights.trusted_at(*feet) or reference

    def _looks_wrong(self, track: Track, heights: Heights, reference: float | None) -> str | None:
        size = self._size(track)
        if size is not None:
            height, feet = size
            expected = self._expected(feet, heights, reference)
            if expected and not 1 / SIZE_FACTOR <= height / expected <= SIZE_FACTOR:
                return f"{height:.0f} px tall where people are {expected:.0f} px"
        return out_of_proportion(track, self.visibility_threshold)

    def _measured(self, track: Track, heights: Heights, ev: _Evidence) -> bool:
        """Its size measured in this frame against a known height."""
        size = self._size(track)
        return size is not None and self._expected(size[1], heights, ev.reference) is not None

    def _fits(self, track: Track, heights: Heights, reference: float | None) -> bool:
        """Clearly a standing person's size where it stands, measured (head and feet
        seen) against a known height: nothing left to wait for."""
        size = self._size(track)
        if size is None:
            return False
        expected = self._expected(size[1], heights, reference)
        return bool(expected) and 1 / SURE_FACTOR <= size[0] / expected <= SURE_FACTOR

    def _reference(self, track: Track, tracks: Sequence[Track], others: set[int]) -> float | None:
        """The height of a person overlapping this track whose feet are on its row: how
        tall a person is where it stands, when the camera has not learned that yet."""
        mine = self._size(track)
        if mine is None:
            return None
        for other in tracks:
            if other.id not in others or not other.confirmed:
                continue
            theirs = self._size(other)
            if theirs is not None and abs(theirs[1][1] - mine[1][1]) <= SAME_ROW * theirs[0]:
                return theirs[0]
        return None


def _fresh(track: Track, image: np.ndarray, clean: bool, old: _Evidence | None) -> _Evidence:
    return _Evidence(
        origin=_centre(track),
        patch=_patch(image, track.bbox),
        ring=_patch(image, _ring(track.bbox)),
        box=track.bbox.copy(),
        clean=clean,
        reference=old.reference if old else None,
        suspect=old.suspect if old else False,
    )


def _comparable(track: Track, ev: _Evidence) -> bool:
    """The box is about the size and shape of the reference's: the model's first boxes
    of a thing often sprawl and then shrink onto it, which moves their centre
    without anything moving."""
    now, then = track.bbox, ev.box
    ratios = (
        boxes.height(now) / boxes.height(then),
        max(now[2] - now[0], 1.0) / max(then[2] - then[0], 1.0),
    )
    return all(1 / SETTLED <= r <= SETTLED for r in ratios)
