"""Development footage with the phantom trap, composed from a real clip (film nothing).

A still object that the pose model reports as a small person stands inside the
zone, at the spot where a worker stops; workers walk in, stand in front of it,
and walk out past it. The model first finds the object in the pixels the
worker is walking out of, often as a box that sprawls over both and then
shrinks onto the object: the situation in which a plant's bar table (its
X-shaped base taken for a person a quarter of a real one's height) raised
DANGER each time the zone emptied.

The object is the clip's own worker, cut out of his last frame, shrunk to
``figure_scale`` of his height (a statue, a cardboard cut-out, a figure on a
machine: the model takes it for a person, which is the point), and pasted
*behind* whoever walks past: drawn only where the frame shows the empty floor.
The footage starts with the worker standing in front of it, so that the object
is first seen as he leaves, then alternates empty floor and visits (the clip
forwards: he walks in; held: he stands; backwards: he walks out). A little
sensor noise keeps the empty floor from being a frozen picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from safetyd.vision import boxes

DIFFERENT = 30  # grey levels from the empty floor: a person's pixel
NOISE = 1.5  # sensor noise added to every frame (grey levels, one sigma)


@dataclass(frozen=True)
class Trap:
    frames: list[np.ndarray]
    visiting: list[bool]  # a real worker is in the picture
    figure_box: tuple[float, float, float, float]  # the object, clip pixels
    fps: float
    # The first visit starts with the worker standing in the bay (in contact): no
    # approach to warn of, so it does not count for the lead.
    approaches_from: int = 1

    def visits(self) -> list[tuple[int, int]]:
        """(first, last + 1) frame of each stretch with a worker in view."""
        out, start = [], None
        for i, v in enumerate([*self.visiting, False]):
            if v and start is None:
                start = i
            elif not v and start is not None:
                out.append((start, i))
                start = None
        return out


def clean_floor(frames: Sequence[np.ndarray], person: Sequence[np.ndarray | None]) -> np.ndarray:
    """The floor without the worker: per pixel, the median of the frames in which his
    box (grown by a quarter) does not cover it. Frames where he was not found are
    left out (he may be there, cut off by the edge)."""
    h, w = frames[0].shape[:2]
    stack = np.full((len(frames), h, w, 3), np.nan, dtype=np.float32)
    for i, (frame, box) in enumerate(zip(frames, person, strict=True)):
        if box is None:
            continue
        x0, y0, x1, y1 = box
        gx, gy = (x1 - x0) / 4, (y1 - y0) / 4
        free = np.ones((h, w), bool)
        free[max(int(y0 - gy), 0) : int(y1 + gy), max(int(x0 - gx), 0) : int(x1 + gx)] = False
        stack[i][free] = frame[free]
    floor = np.nanmedian(stack, axis=0)
    return np.nan_to_num(floor, nan=float(np.nanmedian(floor))).astype(np.uint8)


def _people(frame: np.ndarray, floor: np.ndarray) -> np.ndarray:
    diff = np.abs(frame.astype(np.int16) - floor.astype(np.int16)).max(axis=2)
    mask = cv2.morphologyEx((diff > DIFFERENT).astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3)))
    return cv2.dilate(mask, np.ones((5, 5), np.uint8)).astype(bool)


def cut_out(frame: np.ndarray, floor: np.ndarray, box: np.ndarray, scale: float):
    """The worker inside ``box`` as a picture and its mask, ``scale`` of his size."""
    x0, y0, x1, y1 = (int(v) for v in box)
    picture = frame[y0:y1, x0:x1]
    mask = _people(frame, floor)[y0:y1, x0:x1].astype(np.uint8) * 255
    picture = cv2.resize(picture, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    mask = cv2.resize(mask, (picture.shape[1], picture.shape[0]), interpolation=cv2.INTER_AREA)
    return picture, mask > 127


def behind(frame, floor, picture, mask, x: int, y: int) -> np.ndarray:
    """``picture`` pasted at (x, y) where the frame shows the floor: behind people."""
    out = frame.copy()
    h, w = picture.shape[:2]
    draw = mask & ~_people(frame, floor)[y : y + h, x : x + w]
    out[y : y + h, x : x + w][draw] = picture[draw]
    return out


def trap(
    clip: Sequence[np.ndarray],
    person: Sequence[np.ndarray | None],
    fps: float,
    figure_scale: float,
    visits: int = 3,
    empty_s: float = 8.0,
    hold_s: float = 1.0,
    seed: int = 0,
) -> Trap:
    """The footage (see the module docstring). ``person``: the worker's box per clip
    frame (None where he was not found); he must end the clip standing still."""
    floor = clean_floor(clip, person)
    last = next(b for b in reversed(person) if b is not None)
    picture, mask = cut_out(clip[-1], floor, last, figure_scale)
    # At his feet, a little to the side: his legs hide it while he stands there.
    fh, fw = picture.shape[:2]
    x = int((last[0] + last[2]) / 2 - fw / 2 + 0.1 * (last[2] - last[0]))
    y = int(last[3] + 0.06 * (last[3] - last[1]) - fh)
    hold = [clip[-1]] * int(hold_s * fps)
    empty = [floor] * int(empty_s * fps)
    seq: list[np.ndarray] = [*hold, *clip[::-1]]
    visiting = [True] * len(seq)
    for _ in range(visits - 1):
        seq += [*empty, *clip, *hold, *clip[::-1]]
        visiting += [False] * len(empty) + [True] * (2 * len(clip) + len(hold))
    seq += empty
    visiting += [False] * len(empty)
    rng = np.random.default_rng(seed)
    frames = [
        np.clip(
            behind(f, floor, picture, mask, x, y) + rng.normal(0, NOISE, f.shape), 0, 255
        ).astype(np.uint8)
        for f in seq
    ]
    return Trap(frames, visiting, (x, y, x + fw, y + fh), fps)


LEAD_S = 1.0  # a visit counts for "warned" when the worker was seen this long before danger


@dataclass(frozen=True)
class Outcome:
    """What the pipeline made of a trap: its false alarms, and its lead."""

    false_danger: int  # danger (opened or escalated) on the object, or with nobody there
    visits: int  # visits that reached danger with the worker seen LEAD_S before it
    warned: int  # ... of which warned first
    seconds: float  # of footage

    @property
    def per_hour(self) -> float:
        return self.false_danger * 3600 / self.seconds


def score(footage: Trap, results: Sequence, figure_box: Sequence[float]) -> Outcome:
    """``results``: the pipeline's FrameResult per frame; ``figure_box``: the object in
    the pipeline's pixels. A track is on the object when most of its box lies in the
    object's box grown by half its size on every side and it is not much taller
    than the object (a worker standing over the object is)."""
    x0, y0, x1, y1 = figure_box
    w, h = x1 - x0, y1 - y0
    near = (x0 - w / 2, y0 - h / 2, x1 + w / 2, y1 + h / 2)

    def on_object(box) -> bool:
        return boxes.contained_fraction(box, near) >= 0.5 and boxes.height(box) <= 1.5 * h

    false_danger, visits, warned = 0, 0, 0
    visit_of = {i: v for v, (a, b) in enumerate(footage.visits()) for i in range(a, b)}
    firsts: dict[int, dict[str, float]] = {}  # visit → first "seen", "warning", "danger"
    for i, res in enumerate(results):
        where = {tr.id: tr.bbox for tr in res.tracks}
        real = {k for k, box in where.items() if k not in res.phantoms and not on_object(box)}
        mine = firsts.setdefault(visit_of.get(i, -1), {})
        if any(tr.seen for tr in res.tracks if tr.id in real):
            mine.setdefault("seen", res.frame.video_t)
        for t in res.transitions:
            danger = t.level == "danger" and t.event in ("opened", "escalated")
            if danger and (i not in visit_of or t.track_id not in real):
                false_danger += 1
            elif danger:
                mine.setdefault("danger", t.video_t)
            elif t.event == "opened" and t.track_id in real:
                mine.setdefault("warning", t.video_t)
    for v, first in firsts.items():
        lead = first.get("danger", 0.0) - first.get("seen", float("inf"))
        if v >= footage.approaches_from and lead >= LEAD_S:
            visits += 1
            warned += first.get("warning", float("inf")) <= first["danger"]
    return Outcome(false_danger, visits, warned, len(results) / footage.fps)
