"""Hazard assessment: how close each tracked body part is to each armed zone, and
how soon it would be inside. Pure: tracks and zones in, assessments out.

For a (track, zone) pair the zone's body parts that are visible are checked:
signed distance to the zone outline (negative inside), the closing speed
towards the nearest point of the outline from the part's own velocity, and
time to contact = distance / closing speed when approaching. The pair's level
is ``danger`` if a part is inside, ``warning`` if a part is within
``warn_distance`` or would reach the zone within ``warn_ttc_s``, else
``clear``. When none of the zone's parts is visible, a documented estimate
from the person's box stands in (see bodyparts.FALLBACKS): occluded feet must
not silence a forklift lane.

Zones in metres are checked on the floor: feet are projected through the
camera's homography, and distances and speeds are metres and m/s.

Speed matters (the target is 10 people × 33 landmarks × 200 zones in a
millisecond), so each frame is a fixed number of numpy passes over flat arrays,
never a Python loop per point: every track against every zone's bounding box
at once (a tracks × zones table), then bounding-box bounds per body-part point,
then, for the points left, one vectorised shapely ``contains_xy`` call on
prepared geometries for inside/outside and outlines.Outlines for distances and
nearest outline points, and last a grouped reduction to one deciding part per
pair. At these sizes numpy's cost per call, not the arithmetic, is most of the
time, which is why the code counts calls (``take`` rather than fancy indexing,
contiguous x and y arrays rather than (n, 2) pairs). The slow, obvious version,
one shapely Point at a time, is the tests' oracle (tests/reference.py).
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import partial
from typing import NamedTuple

import numpy as np
import shapely

from ..base.bodyparts import NUM_LANDMARKS, Fallback, label
from ..vision.calibration import FloorMap
from ..vision.tracking import Track
from ..zones.model import Zone
from .outlines import Outlines


class Level(StrEnum):
    CLEAR = "clear"
    WARNING = "warning"
    DANGER = "danger"


LEVELS: tuple[Level, ...] = tuple(Level)
RANK = {lvl: i for i, lvl in enumerate(LEVELS)}
_LEVEL_NAMES = np.array(LEVELS, dtype=object)
_EPS_SPEED = 1e-6
_FLOOR_DT = 0.1  # seconds, to map an image velocity onto the floor


class Assessment(NamedTuple):
    """One (track, zone) pair in one frame.

    A NamedTuple rather than a frozen dataclass: equally immutable, and built
    about twice as fast, which matters at a hundred pairs per frame.
    """

    zone_id: str
    track_id: int
    level: Level
    # The deciding body part: of the parts at the pair's level the nearest (for a
    # clear but held pair, the nearest held part); the numbers below are its own.
    body_part: str  # landmark name, or "<group> (estimated)"
    distance: float  # signed, zone units; negative inside
    closing_speed: float  # zone units per second towards the zone (> 0 approaching)
    ttc_s: float | None  # None when not approaching
    estimated: bool
    held: bool  # within the hysteresis margin: an open incident does not clear yet
    part_x: float  # where the deciding part (or its estimate) is in the picture, pixels
    part_y: float


# Assessment._make without its length check (the fields above are Assessment's).
_new_assessment = partial(tuple.__new__, Assessment)


# The box estimates are extra columns after the 33 landmarks, so that a frame's
# landmarks and estimates are gathered in one pass, already grouped by pair.
# Each is a point of the box: x = x0 + wx (x1 - x0), y = y0 + wy (y1 - y0).
_ESTIMATE_COLUMNS: dict[Fallback, tuple[tuple[float, float], ...]] = {
    Fallback.BBOX_BOTTOM_CENTRE: ((0.5, 1.0),),
    Fallback.BBOX_TOP_CENTRE: ((0.5, 0.0),),
    Fallback.BBOX_CENTRE: ((0.5, 0.5),),
    Fallback.BBOX_CORNERS: ((0, 0), (1, 0), (0, 1), (1, 1)),
}
_EST_W = np.array([w for ws in _ESTIMATE_COLUMNS.values() for w in ws], dtype=np.float64)
_COLUMNS = NUM_LANDMARKS + len(_EST_W)
# The same as matrices: boxes (T, 4) @ _EST_X = the estimates' x (T, len(_EST_W)), and
# _EST_Y their y. Weights are 0, 1/2 and 1, so the products and sums are exact.
_EST_X = np.zeros((4, len(_EST_W)))
_EST_X[0], _EST_X[2] = 1 - _EST_W[:, 0], _EST_W[:, 0]
_EST_Y = np.zeros((4, len(_EST_W)))
_EST_Y[1], _EST_Y[3] = 1 - _EST_W[:, 1], _EST_W[:, 1]


def _estimate_columns(fallback: Fallback) -> list[int]:
    first = NUM_LANDMARKS
    for kind, ws in _ESTIMATE_COLUMNS.items():
        if kind == fallback:
            return list(range(first, first + len(ws)))
        first += len(ws)
    raise ValueError(f"no estimate for {fallback}")


def _fallback_name(zone: Zone) -> str:
    return f"{zone.body_parts[0]} (estimated)"


def _floor_velocity(floor_map: FloorMap, pts: np.ndarray, vel: np.ndarray) -> np.ndarray:
    here = floor_map.floor(pts)
    ahead = floor_map.floor(pts + vel * _FLOOR_DT)
    return (ahead - here) / _FLOOR_DT


# Arrays below are kept as separate contiguous x and y rather than (n, 2) pairs:
# at a few thousand points numpy's per-call cost dominates, and an operation on
# a strided column costs twice one on a contiguous array.


@dataclass(frozen=True)
class _People:
    """The frame's assessed tracks as arrays, built once per frame. Positions and
    velocities per track and column: the 33 landmarks, then the box estimates (which
    move with the mean velocity of the person's visible landmarks)."""

    ids: np.ndarray  # (T,) track ids
    pos: np.ndarray  # (2, T, _COLUMNS) x, y
    vel: np.ndarray  # (2, T, _COLUMNS) vx, vy
    seen: np.ndarray  # (T, 33) landmark visibility at or above the threshold
    box: np.ndarray  # (T, 4)
    finite: bool  # every position is a number

    @classmethod
    def of(cls, tracks: Sequence[Track], threshold: float) -> _People:
        # np.array of same-shaped arrays stacks them, in C (np.stack is Python).
        kp = np.array([t.keypoints for t in tracks], dtype=np.float64)  # (T, 33, 2)
        vel = np.array([t.velocity for t in tracks], dtype=np.float64)
        seen = np.array([t.visibility for t in tracks]) >= threshold
        box = np.array([t.bbox for t in tracks], dtype=np.float64)
        weight = seen.astype(np.float64)[:, None, :]  # (T, 1, 33)
        count = weight.sum(axis=2)
        body_v = (weight @ vel)[:, 0] / np.maximum(count, 1)  # (T, 2)
        if not count.all():  # no landmark visible: the mean of all of them
            body_v = np.where(count > 0, body_v, vel.mean(axis=1))
        pos = np.empty((2, len(tracks), _COLUMNS))
        pos[:, :, :NUM_LANDMARKS] = kp.transpose(2, 0, 1)
        pos[0, :, NUM_LANDMARKS:] = box @ _EST_X
        pos[1, :, NUM_LANDMARKS:] = box @ _EST_Y
        move = np.empty_like(pos)
        move[:, :, :NUM_LANDMARKS] = vel.transpose(2, 0, 1)
        move[:, :, NUM_LANDMARKS:] = body_v.T[:, :, None]
        return cls(
            np.array([t.id for t in tracks]),
            pos,
            move,
            seen,
            box,
            bool(np.isfinite(pos).all()),
        )


@dataclass(frozen=True)
class _Points:
    """Flat arrays of every (pair, body part) point to evaluate this frame, grouped
    by pair (pairs ascending) and in column order within a pair."""

    pair: np.ndarray  # index into the pair list
    zone: np.ndarray  # zone index
    x: np.ndarray  # zone units
    y: np.ndarray
    vx: np.ndarray  # zone units / s
    vy: np.ndarray
    column: np.ndarray  # landmark index, or >= 33 for a box estimate

    def take(self, idx: np.ndarray) -> _Points:
        # ndarray.take: fancy indexing with [idx] is several times slower.
        return _Points(*(getattr(self, f).take(idx) for f in _POINT_FIELDS))


_POINT_FIELDS = ("pair", "zone", "x", "y", "vx", "vy", "column")


class HazardEngine:
    """Assesses tracks against one camera's zones."""

    def __init__(
        self,
        zones: Sequence[Zone],
        floor_map: FloorMap | None = None,
        visibility_threshold: float = 0.5,
        clear_margin: float = 0.25,
        max_ttc_speed: float = 0.0,
    ) -> None:
        self.zones = tuple(zones)
        self.floor_map = floor_map
        self.visibility_threshold = visibility_threshold
        self.clear_margin = clear_margin
        self.max_ttc_speed = max_ttc_speed
        n = len(self.zones)
        self._geometry = np.array([z.geometry for z in self.zones], dtype=object)
        shapely.prepare(self._geometry)
        self._outlines = Outlines([z.geometry for z in self.zones])
        self._warn = np.array([z.warn_distance for z in self.zones], dtype=np.float64)
        self._ttc = np.array([z.warn_ttc_s for z in self.zones], dtype=np.float64)
        self._enabled = np.array([z.enabled for z in self.zones], dtype=bool)
        # Squared, with the hysteresis margin: warn_distance and the horizon.
        self._reach2 = np.stack([self._warn, self._ttc]) ** 2 * (1 + clear_margin) ** 2
        self._armed: tuple[frozenset[str], np.ndarray] | None = None
        # Per zone, the columns of _People it looks at: its landmarks, and the box
        # estimate that stands in when none of them is visible.
        self._landmarks = np.zeros((n, NUM_LANDMARKS), dtype=bool)
        self._estimates = np.zeros((n, _COLUMNS), dtype=bool)
        for i, z in enumerate(self.zones):
            self._landmarks[i, list(z.landmarks)] = True
            self._estimates[i, _estimate_columns(z.fallback)] = True
        self._zone_ids = np.array([z.id for z in self.zones], dtype=object)
        self._labels = np.array([label(i) for i in range(NUM_LANDMARKS)], dtype=object)
        self._estimate_label = np.array([_fallback_name(z) for z in self.zones], dtype=object)
        self._metres = np.array([z.units == "metres" for z in self.zones], dtype=bool)
        # Bounding boxes as four contiguous arrays: x0, y0, x1, y1.
        self._bounds = np.array(
            [z.geometry.bounds for z in self.zones], dtype=np.float64
        ).reshape(-1, 4).T.copy()  # fmt: skip
        if self._metres.any() and floor_map is None:
            raise ValueError("zones in metres need a floor calibration")
        self._units = {
            units: np.flatnonzero(sel)
            for units, sel in (("pixels", ~self._metres), ("metres", self._metres))
            if sel.any()
        }

    # -- candidate pairs ----------------------------------------------------

    def _extents(self, people: _People, units: str):
        """Per track: the box of all its landmarks and its detection box, and their
        top speed, in zone units: ((2, T) low, (2, T) high, (T,) speed, (T,) any)."""
        pos = people.pos[:, :, :NUM_LANDMARKS]
        vel = people.vel[:, :, :NUM_LANDMARKS]
        box = people.box
        # Every point: landmarks, then the box corners (and, on the floor, the
        # bottom centre, where the feet stand).
        pts = [pos, box[:, :2].T[:, :, None], box[:, 2:].T[:, :, None]]
        if units == "metres":
            assert self.floor_map is not None  # zones in metres need it (config checks)
            pts.append(np.stack([(box[:, 0] + box[:, 2]) / 2, box[:, 3]])[:, :, None])
            pixels = np.concatenate(pts, axis=2)
            pos = self.floor_map.floor(pixels.reshape(2, -1).T).T.reshape(pixels.shape)
            here = pts[0].reshape(2, -1).T
            vel = _floor_velocity(self.floor_map, here, vel.reshape(2, -1).T)
            vel = vel.T.reshape(2, len(box), NUM_LANDMARKS)
        else:
            pos = np.concatenate(pts, axis=2)
        finite = np.isfinite(pos).all(axis=0)  # (T, n)
        if finite.all():
            lo, hi = pos.min(axis=2), pos.max(axis=2)
        else:
            lo = np.where(finite, pos, np.inf).min(axis=2)
            hi = np.where(finite, pos, -np.inf).max(axis=2)
        speed = np.sqrt(np.fmax.reduce(vel[0] ** 2 + vel[1] ** 2, axis=1))
        speed[~np.isfinite(speed)] = 0.0
        return lo, hi, speed, finite.any(axis=1)

    def _pairs(self, people: _People, armed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Candidate (track, zone) pairs, every track against every zone at once: the
        zone's reach (its warn_distance, or its time-to-contact horizon at the
        track's top speed, with the hysteresis margin) against the gap between the
        track's box and the zone's. A bound: no pair that can matter is dropped.
        Returned ordered by track, then zone."""
        near = np.zeros((len(people.ids), len(self.zones)), dtype=bool)
        margin = 1 + self.clear_margin
        for units, cols in self._units.items():
            lo, hi, speed, ok = self._extents(people, units)
            everything = len(cols) == len(self.zones)
            x0, y0, x1, y1 = self._bounds if everything else self._bounds[:, cols]
            gx = np.maximum(np.maximum(x0 - hi[0][:, None], lo[0][:, None] - x1), 0.0)
            gy = np.maximum(np.maximum(y0 - hi[1][:, None], lo[1][:, None] - y1), 0.0)
            warn = self._warn if everything else self._warn[cols]
            ttc = self._ttc if everything else self._ttc[cols]
            reach = np.maximum(warn, speed[:, None] * ttc) * margin
            hit = (gx * gx + gy * gy <= reach * reach) & ok[:, None]
            if everything:
                near = hit
            else:
                near[:, cols] = hit
        t_idx, z_idx = np.nonzero(near & armed)
        return t_idx, z_idx

    # -- points ---------------------------------------------------------------

    def _points(self, people: _People, t_idx: np.ndarray, z_idx: np.ndarray) -> _Points:
        # A zone's visible landmarks; where none is visible, its box estimate.
        visible = self._landmarks.take(z_idx, axis=0) & people.seen.take(t_idx, axis=0)
        hidden = ~visible.any(axis=1)
        sel = self._estimates.take(z_idx, axis=0) & hidden[:, None]  # (M, _COLUMNS)
        sel[:, :NUM_LANDMARKS] = visible
        # Row-major: grouped by pair, columns ascending within a pair.
        pair_of, column = np.divmod(np.flatnonzero(sel), _COLUMNS)
        flat = t_idx.take(pair_of) * _COLUMNS + column
        zone = z_idx.take(pair_of)
        pos, vel = people.pos.reshape(2, -1), people.vel.reshape(2, -1)
        x, y = pos[0].take(flat), pos[1].take(flat)
        vx, vy = vel[0].take(flat), vel[1].take(flat)
        metres = self._metres.take(zone) if "metres" in self._units else None
        if metres is not None and metres.any():
            assert self.floor_map is not None  # zones in metres need it (config checks)
            pix = np.stack([x[metres], y[metres]], axis=1)
            floor = self.floor_map.floor(pix)
            v = _floor_velocity(self.floor_map, pix, np.stack([vx[metres], vy[metres]], axis=1))
            x[metres], y[metres], vx[metres], vy[metres] = (
                floor[:, 0],
                floor[:, 1],
                v[:, 0],
                v[:, 1],
            )
        return _Points(pair_of, zone, x, y, vx, vy, column)

    # -- assessment -----------------------------------------------------------

    def _armed_mask(self, armed: Set[str] | None) -> np.ndarray:
        if armed is None:
            return self._enabled
        # The armed set changes a few times a day; rebuild the mask only then.
        if self._armed is None or self._armed[0] != armed:
            ids = np.array([z.id in armed for z in self.zones], dtype=bool)
            self._armed = (frozenset(armed), self._enabled & ids)
        return self._armed[1]

    def assess(self, tracks: Sequence[Track], armed: Set[str] | None = None) -> list[Assessment]:
        """Assess every track seen in this frame against the armed zones.

        Tentative tracks are assessed too: incidents count their frames towards
        the debounce (and open nothing until the track is confirmed), so that
        confirming a person does not eat the warning's lead time. Pairs that are
        clear beyond the hysteresis margin are not returned.
        """
        tracks = [t for t in tracks if t.seen]
        if not tracks or not self.zones:
            return []
        people = _People.of(tracks, self.visibility_threshold)
        t_idx, z_idx = self._pairs(people, self._armed_mask(armed))
        if not len(t_idx):
            return []
        p = self._points(people, t_idx, z_idx)
        if not people.finite or "metres" in self._units:
            # A foot projected beyond the horizon has no floor position.
            p = p.take(np.flatnonzero(np.isfinite(p.x) & np.isfinite(p.y)))
            p = replace(p, vx=np.nan_to_num(p.vx), vy=np.nan_to_num(p.vy))
        keep, in_box = self._near(p)
        if not len(keep):
            return []
        p = p.take(keep)
        return self._reduce(people, t_idx, z_idx, p, self._measure(p, in_box))

    def _near(self, p: _Points) -> tuple[np.ndarray, np.ndarray]:
        """The points that can matter, found cheaply before the exact geometry.

        The distance from a point to a zone's bounding box is a lower bound of its
        distance to the zone, and a part's speed bounds its closing speed (which is
        zero for a part moving away from the whole box). A point that cannot come
        within warn_distance, nor reach the zone within the time-to-contact horizon,
        even with the hysteresis margin, is neither a warning nor held, so it can
        never be the deciding part of its pair (see ``_reduce``). Compared squared:
        no square roots for the thousands of points this drops.

        Returns the indices of the points kept, and for each whether it lies within
        its zone's bounding box (only those can be inside the zone).
        """
        x0, y0, x1, y1 = self._bounds.take(p.zone, axis=1)
        x, y, vx, vy = p.x, p.y, p.vx, p.vy
        gx = np.maximum(np.maximum(x0 - x, x - x1), 0.0)
        gy = np.maximum(np.maximum(y0 - y, y - y1), 0.0)
        speed2 = vx * vx + vy * vy
        if self.max_ttc_speed > 0:
            speed2 = np.minimum(speed2, self.max_ttc_speed**2)
        # Moving towards some point of the box: v·(c - p) is linear in c, so its
        # maximum over the box is at the corner the velocity points to.
        towards = (vx * (np.where(vx > 0, x1, x0) - x) + vy * (np.where(vy > 0, y1, y0) - y)) > 0
        warn2, horizon2 = self._reach2.take(p.zone, axis=1)
        reach2 = np.maximum(warn2, np.where(towards, speed2 * horizon2, 0.0))
        gap2 = gx * gx + gy * gy
        keep = np.flatnonzero(gap2 <= reach2)
        return keep, gap2.take(keep) == 0

    def _measure(self, p: _Points, in_box: np.ndarray):
        """Per point: the exact geometry and the level it implies."""
        # Points outside a zone's bounding box are outside it: ask shapely about
        # the others only (its cost is per point).
        inside = np.zeros(len(p.zone), dtype=bool)
        box = np.flatnonzero(in_box)
        inside[box] = shapely.contains_xy(
            self._geometry.take(p.zone.take(box)), p.x.take(box), p.y.take(box)
        )
        dist, ox, oy = self._outlines.nearest(p.zone, p.x, p.y)
        signed = np.where(inside, -dist, dist)
        # Closing speed: the part's velocity towards the nearest outline point
        # (zero on the outline itself, where there is no direction).
        closing = np.divide(-(p.vx * ox + p.vy * oy), dist, out=np.zeros_like(dist), where=dist > 0)
        if self.max_ttc_speed > 0:
            closing = np.minimum(closing, self.max_ttc_speed)
        approaching = ~inside & (closing > _EPS_SPEED)  # False for NaN
        ttc = np.full_like(dist, np.inf)
        np.divide(dist, closing, out=ttc, where=approaching)
        ttc[inside] = 0.0
        warn, horizon = self._warn.take(p.zone), self._ttc.take(p.zone)
        margin = 1 + self.clear_margin
        rank = np.where(inside, 2, ((signed <= warn) | (ttc <= horizon)).view(np.int8))
        held = inside | (signed <= warn * margin) | (ttc <= horizon * margin)
        return signed, closing, ttc, rank, held

    def _reduce(self, people: _People, t_idx, z_idx, p: _Points, measures) -> list[Assessment]:
        """One assessment per pair, from its deciding part: the highest level, then
        the nearest, then the first in column order; a pair that is clear but held
        is decided by its nearest held part. Points arrive grouped by pair."""
        signed, closing, ttc, rank, held = measures
        rel = np.flatnonzero((rank > 0) | held)
        if not len(rel):
            return []
        pair, rank, signed = p.pair.take(rel), rank.take(rel), signed.take(rel)
        boundary = np.concatenate(([True], pair[1:] != pair[:-1]))
        starts, group = np.flatnonzero(boundary), np.cumsum(boundary) - 1
        best = rank == np.maximum.reduceat(rank, starts).take(group)
        nearest = np.minimum.reduceat(np.where(best, signed, np.inf), starts)
        win = np.flatnonzero(best & (signed == nearest.take(group)))
        won = group.take(win)
        win = win[np.concatenate(([True], won[1:] != won[:-1]))]  # the first per pair
        deciding = rel.take(win)
        pair = p.pair.take(deciding)
        zone = z_idx.take(pair)
        column = p.column.take(deciding)
        estimated = column >= NUM_LANDMARKS
        ttc = ttc.take(deciding).astype(object)
        ttc[ttc == np.inf] = None  # not approaching
        # The part's picture position (p.x, p.y are on the floor for zones in metres).
        flat = t_idx.take(pair) * _COLUMNS + column
        pixels = people.pos.reshape(2, -1)
        # Whole columns of plain Python values, then one tuple per pair.
        fields = (
            self._zone_ids.take(zone).tolist(),
            people.ids.take(t_idx.take(pair)).tolist(),
            _LEVEL_NAMES.take(rank.take(win)).tolist(),
            np.where(
                estimated,
                self._estimate_label.take(zone),
                self._labels.take(np.minimum(column, NUM_LANDMARKS - 1)),
            ).tolist(),
            signed.take(win).tolist(),
            closing.take(deciding).tolist(),
            ttc.tolist(),
            estimated.tolist(),
            [True] * len(deciding),
            pixels[0].take(flat).tolist(),
            pixels[1].take(flat).tolist(),
        )
        return list(map(_new_assessment, zip(*fields, strict=True)))
