"""Man down: a fall, and a person lying still too long. Pure, one per camera, clock
passed in; it reads tracked skeletons and the standing height of a person at a
spot (vision/sizes.py), and says when someone fell or is down.

A person's *stance* in one frame:

* **upright**: trunk within ``UPRIGHT_DEG`` of vertical and at least
  ``UPRIGHT_H`` of the standing height at that spot tall;
* **lying**: trunk beyond ``LYING_DEG`` from vertical *and* less than ``LYING_H``
  of the standing height tall (a person bending to pick something up has his
  trunk level too, but his legs keep him tall);
* anything else (sitting on a stool, kneeling, crouching: the trunk stays
  upright) is neither; *unknown* when the shoulders or hips are not seen, no
  standing height is known, or the person is cut by the top or bottom of the
  picture (his height there says nothing).

A **fall** is upright to lying within ``fall_window_s``, the hips coming down at
least ``DROP_SPEED`` standing heights a second on the way (lying down slowly to
work under a machine is not a fall), then lying for ``confirm_s`` (one odd frame
is not a fall). A **man down** is lying and not moving (landmarks slower than
``still_speed`` heights a second) for ``man_down_after_s``; moving restarts that
time, and so does standing up. Both end when the person has been out of lying
for ``confirm_s``. A track that coasts (the model lost him for a moment) keeps
its state: no frames are no evidence either way.

Limits, said plainly: a person lying along the camera's line of sight (feet
toward it) can look short and upright-ish and may be missed; a collapse into a
sitting position is not a lying stance.
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from .posture import HIPS, trunk_angle

UPRIGHT_DEG = 35.0
LYING_DEG = 60.0
UPRIGHT_H = 0.75
LYING_H = 0.55
DROP_SPEED = 0.5  # standing heights per second, hips going down in a fall (about 0.85 m/s)
EDGE_PX = 2.0
INHERIT_S = 1.5  # a new track within this of another's last sighting may be him
STANDING_MEMORY_S = 10.0  # a person's own upright height stands in for an unknown spot's


class Stance(StrEnum):
    UPRIGHT = "upright"
    LYING = "lying"
    OTHER = "other"
    UNKNOWN = "unknown"


class DownKind(StrEnum):
    FALL = "fall"
    MAN_DOWN = "man_down"
    UP = "up"  # no longer down: what was raised for him ends


@dataclass(frozen=True)
class DownSettings:
    fall: bool = True
    man_down: bool = True
    man_down_after_s: float = 60.0
    fall_window_s: float = 1.5
    confirm_s: float = 1.0
    still_speed: float = 0.15


@dataclass(frozen=True)
class DownEvent:
    kind: DownKind
    track_id: int
    t: float
    x: float  # where he lies (pixels): the centre of his box
    y: float
    trunk_deg: float | None
    height_share: float | None  # his height of the standing height there
    still_s: float  # how long he had not moved


@dataclass
class _Person:
    upright_t: float | None = None
    own_height: float | None = None  # his own upright height, lately
    own_height_t: float = 0.0
    lying_since: float | None = None
    out_since: float | None = None  # out of lying since (hysteresis)
    fell: bool = False
    still_since: float | None = None
    last: tuple[float, np.ndarray] | None = None
    hips: deque = field(default_factory=lambda: deque(maxlen=64))  # (t, hip y / height)
    said: set = field(default_factory=set)
    seen_t: float = float("-inf")  # when his track was last seen, and where
    seen_box: np.ndarray | None = None


def stance_of(
    kp: np.ndarray,
    vis: np.ndarray,
    bbox: np.ndarray,
    standing: float | None,
    frame_h: float,
) -> tuple[Stance, float | None, float | None]:
    """The stance, the trunk angle and the height as a share of ``standing``."""
    trunk = trunk_angle(kp, vis)
    if trunk is None or not standing or standing <= 0:
        return Stance.UNKNOWN, trunk, None
    share = float(bbox[3] - bbox[1]) / standing
    if bbox[1] <= EDGE_PX or bbox[3] >= frame_h - EDGE_PX:
        return Stance.UNKNOWN, trunk, share
    if trunk <= UPRIGHT_DEG and share >= UPRIGHT_H:
        return Stance.UPRIGHT, trunk, share
    if trunk >= LYING_DEG and share < LYING_H:
        return Stance.LYING, trunk, share
    return Stance.OTHER, trunk, share


class DownWatch:
    def __init__(self, settings: DownSettings | None = None) -> None:
        self.settings = settings or DownSettings()
        self._people: dict[int, _Person] = {}
        self._gone: dict[int, _Person] = {}  # given up lately: a new id may be one of them

    def watched(self) -> set[int]:
        """The people this watch follows (confirmed, in a watched place, not given up)."""
        return set(self._people)

    def down(self) -> dict[int, DownKind]:
        """Who is down now (raised and not ended), by track id: for the live view."""
        out = {}
        for tid, p in self._people.items():
            if DownKind.MAN_DOWN in p.said:
                out[tid] = DownKind.MAN_DOWN
            elif DownKind.FALL in p.said:
                out[tid] = DownKind.FALL
        return out

    def update(
        self,
        tracks: Iterable,
        t: float,
        standing_at: Callable[[float, float], float | None],
        frame_h: float,
        rules: Callable[[Any], DownSettings | None] | None = None,
    ) -> list[DownEvent]:
        """``tracks``: this frame's (vision.tracking.Track); ``standing_at(x, y)``: the
        standing height of a person whose feet are at (x, y), None when not known;
        ``rules(track)``: the settings where he is, None where nobody is watched (he
        is forgotten there); without it, this watch's own settings everywhere."""
        events: list[DownEvent] = []
        alive = set()
        seen_now = {tr.id for tr in tracks if tr.seen}
        for track in tracks:
            if not track.confirmed:
                continue
            settings = self.settings if rules is None else rules(track)
            if settings is None:
                continue
            alive.add(track.id)
            p = self._people.get(track.id)
            if p is None:
                p = self._people[track.id] = self._heir(track, t, seen_now)
            if track.seen:
                p.seen_t, p.seen_box = t, np.asarray(track.bbox, float)
                events += self._step(track, p, t, standing_at, frame_h, settings)
        for tid in set(self._people) - alive:
            self._gone[tid] = self._people.pop(tid)  # the tracker gave him up
        self._gone = {k: v for k, v in self._gone.items() if t - v.seen_t <= INHERIT_S}
        return events

    def _step(self, track, p: _Person, t, standing_at, frame_h, s: DownSettings) -> list[DownEvent]:  # noqa: ANN001, E501
        box = np.asarray(track.bbox, float)
        cx, bottom = (box[0] + box[2]) / 2, box[3]
        standing = standing_at(cx, bottom)
        if not standing:
            # Nothing known of this spot: his own height, when he was last seen upright
            # (the tallest lately: kneeling first must not make him short).
            trunk = trunk_angle(track.keypoints, track.visibility)
            tall = float(box[3] - box[1])
            whole = box[1] > EDGE_PX and box[3] < frame_h - EDGE_PX
            if trunk is not None and trunk <= UPRIGHT_DEG and whole:
                recent = p.own_height if t - p.own_height_t <= STANDING_MEMORY_S else None
                p.own_height, p.own_height_t = max(recent or 0.0, tall), t
            # While he lies, the height he fell from stays his.
            if p.own_height and (t - p.own_height_t <= STANDING_MEMORY_S or p.lying_since):
                standing = p.own_height
        stance, trunk, share = stance_of(track.keypoints, track.visibility, box, standing, frame_h)
        moving = self._moving(p, track, t, standing, s.still_speed)
        if standing:
            hips = track.keypoints[list(HIPS)]
            if np.all(np.isfinite(hips)):
                p.hips.append((t, float(hips[:, 1].mean()) / standing))

        def event(kind: DownKind) -> DownEvent:
            still = t - p.still_since if p.still_since is not None else 0.0
            return DownEvent(kind, track.id, t, float(cx), float((box[1] + box[3]) / 2), trunk,
                             share, still)  # fmt: skip

        out: list[DownEvent] = []
        if stance == Stance.UNKNOWN:
            return out
        if stance != Stance.LYING:
            if stance == Stance.UPRIGHT:
                p.upright_t = t
            if p.lying_since is not None:
                p.out_since = p.out_since if p.out_since is not None else t
                if t - p.out_since >= s.confirm_s:
                    if p.said:
                        out.append(event(DownKind.UP))
                    p.lying_since, p.out_since, p.fell, p.still_since = None, None, False, None
                    p.said.clear()
            return out
        p.out_since = None
        if p.lying_since is None:
            p.lying_since = t
            p.fell = (
                p.upright_t is not None
                and t - p.upright_t <= s.fall_window_s
                and self._dropped(p, p.upright_t)
            )
        if moving:
            p.still_since = None
        elif p.still_since is None:
            p.still_since = t
        if s.fall and p.fell and t - p.lying_since >= s.confirm_s and DownKind.FALL not in p.said:
            p.said.add(DownKind.FALL)
            out.append(event(DownKind.FALL))
        if (
            s.man_down
            and p.still_since is not None
            and t - p.still_since >= s.man_down_after_s
            and DownKind.MAN_DOWN not in p.said
        ):
            p.said.add(DownKind.MAN_DOWN)
            out.append(event(DownKind.MAN_DOWN))
        return out

    def _heir(self, track, t: float, seen_now: set[int]) -> _Person:  # noqa: ANN001
        """A new track id: a fresh person, or the one the tracker lost in his fall. A
        fall is fast and changes a person's shape: the tracker may well give the lying
        person a new id. He inherits (upright time, height, hips) from a person not
        seen now, last seen within INHERIT_S and within his own standing height of
        the new box (a track switch, not somebody else)."""
        box = np.asarray(track.bbox, float)
        centre = (box[:2] + box[2:]) / 2
        for pool in (self._people, self._gone):
            for tid, p in list(pool.items()):
                if tid in seen_now or p.seen_box is None or t - p.seen_t > INHERIT_S:
                    continue
                old = (p.seen_box[:2] + p.seen_box[2:]) / 2
                reach = p.own_height or float(p.seen_box[3] - p.seen_box[1])
                if float(np.hypot(*(centre - old))) <= reach:
                    heir = copy.deepcopy(p)
                    heir.last, heir.said = None, set()  # his landmarks start over
                    p.seen_box = None  # one heir
                    return heir
        return _Person()

    def _moving(self, p: _Person, track, t: float, standing: float | None, still: float) -> bool:  # noqa: ANN001, E501
        """Whether his landmarks moved faster than ``still_speed`` since the last frame
        (the median over the landmarks seen in both: one flickering wrist is not him
        moving)."""
        kp = np.asarray(track.keypoints, float)
        last, p.last = p.last, (t, kp.copy())
        if last is None or not standing or t <= last[0]:
            return False
        seen = np.asarray(track.visibility) >= 0.5
        if not seen.any():
            return False
        step = np.linalg.norm(kp[seen] - last[1][seen], axis=1)
        return float(np.median(step)) / (t - last[0]) / standing > still

    def _dropped(self, p: _Person, since: float) -> bool:
        """Whether his hips came down fast enough, between ``since`` and now."""
        pts = [(t, y) for t, y in p.hips if t >= since - 0.5]
        if len(pts) < 2:
            return False
        best = 0.0
        for (t0, y0), (t1, y1) in zip(pts, pts[1:], strict=False):
            if t1 > t0:
                best = max(best, (y1 - y0) / (t1 - t0))
        # Over a frame pair the speed is noisy; a fall also shows over the whole drop.
        total = (pts[-1][1] - pts[0][1]) / max(pts[-1][0] - pts[0][0], 1e-6)
        return best >= DROP_SPEED or total >= DROP_SPEED
