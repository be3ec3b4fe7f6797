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

Speed matters (the target is 10 people × 33 landmarks × 200 zones in about a
millisecond), so the engine prunes (an STRtree query per track, then per-zone
and per-point bounding-box bounds), answers inside/outside for every remaining
point in one vectorised shapely ``contains_xy`` call on prepared geometries,
and finds distances and nearest outline points with outlines.Outlines, all
points at once. ``reference_assess`` is the slow, obvious version, one shapely
Point at a time, that the tests compare it to.
"""

from __future__ import annotations

import math
from collections.abc import Sequence, Set
from dataclasses import dataclass
from typing import Literal

import numpy as np
import shapely
from shapely.geometry import Point
from shapely.ops import nearest_points

from .bodyparts import NUM_LANDMARKS, Fallback, label
from .calibration import FloorMap
from .outlines import Outlines
from .tracking import Track
from .zones import Zone

Level = Literal["clear", "warning", "danger"]
LEVELS: tuple[Level, ...] = ("clear", "warning", "danger")
RANK = {lvl: i for i, lvl in enumerate(LEVELS)}
_EPS_SPEED = 1e-6
_FLOOR_DT = 0.1  # seconds, to map an image velocity onto the floor


@dataclass(frozen=True)
class Assessment:
    """One (track, zone) pair in one frame."""

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


def _fallback_points(fallback: Fallback, box: np.ndarray) -> np.ndarray:
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return {
        Fallback.BBOX_BOTTOM_CENTRE: np.array([[cx, y1]]),
        Fallback.BBOX_TOP_CENTRE: np.array([[cx, y0]]),
        Fallback.BBOX_CENTRE: np.array([[cx, cy]]),
        Fallback.BBOX_CORNERS: np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]]),
    }[fallback]


def _box_points(boxes: np.ndarray, xs: tuple, ys: tuple) -> np.ndarray:
    """(n, 4) boxes → (n, k, 2) points from per-point weights on (x0, x1) and (y0, y1)."""
    x = boxes[:, [0]] * (1 - np.array(xs)) + boxes[:, [2]] * np.array(xs)
    y = boxes[:, [1]] * (1 - np.array(ys)) + boxes[:, [3]] * np.array(ys)
    return np.stack([x, y], axis=2)


# Vectorised twins of _fallback_points, indexed like list(Fallback).
_FALLBACK_XY = {
    list(Fallback).index(kind): fn
    for kind, fn in (
        (Fallback.BBOX_BOTTOM_CENTRE, lambda b: _box_points(b, (0.5,), (1.0,))),
        (Fallback.BBOX_TOP_CENTRE, lambda b: _box_points(b, (0.5,), (0.0,))),
        (Fallback.BBOX_CENTRE, lambda b: _box_points(b, (0.5,), (0.5,))),
        (Fallback.BBOX_CORNERS, lambda b: _box_points(b, (0, 1, 0, 1), (0, 0, 1, 1))),
    )
}


def _fallback_name(zone: Zone) -> str:
    return f"{zone.body_parts[0]} (estimated)"


def _floor_velocity(floor_map: FloorMap, pts: np.ndarray, vel: np.ndarray) -> np.ndarray:
    here = floor_map.floor(pts)
    ahead = floor_map.floor(pts + vel * _FLOOR_DT)
    return (ahead - here) / _FLOOR_DT


@dataclass(frozen=True)
class _People:
    """The frame's assessed tracks as stacked arrays, built once per frame."""

    tracks: Sequence[Track]
    kp: np.ndarray  # (T, 33, 2)
    vel: np.ndarray  # (T, 33, 2)
    seen: np.ndarray  # (T, 33) visibility at or above the threshold
    box: np.ndarray  # (T, 4)

    @classmethod
    def of(cls, tracks: Sequence[Track], threshold: float) -> _People:
        return cls(
            tracks,
            np.stack([t.keypoints for t in tracks]),
            np.stack([t.velocity for t in tracks]),
            np.stack([t.visibility for t in tracks]) >= threshold,
            np.stack([t.bbox for t in tracks]),
        )


@dataclass(frozen=True)
class _Measures:
    """Per point (aligned with _Points): the exact geometry and the level it implies."""

    inside: np.ndarray
    signed: np.ndarray  # distance to the outline, negative inside
    closing: np.ndarray
    ttc: np.ndarray
    rank: np.ndarray  # 0 clear, 1 warning, 2 danger
    held: np.ndarray


@dataclass(frozen=True)
class _Points:
    """Flat arrays of every (pair, body part) point to evaluate this frame."""

    pair: np.ndarray  # index into the pair list
    zone: np.ndarray  # zone index
    xy: np.ndarray  # (n, 2) zone units
    vel: np.ndarray  # (n, 2) zone units / s
    part: np.ndarray  # landmark index, or -1 for an estimate


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
        self._outlines = Outlines([z.geometry for z in self.zones])
        self._warn = np.array([z.warn_distance for z in self.zones], dtype=np.float64)
        self._ttc = np.array([z.warn_ttc_s for z in self.zones], dtype=np.float64)
        self._mask = np.zeros((n, NUM_LANDMARKS), dtype=bool)
        for i, z in enumerate(self.zones):
            self._mask[i, list(z.landmarks)] = True
        self._metres = np.array([z.units == "metres" for z in self.zones], dtype=bool)
        kinds = list(Fallback)
        self._fallback = np.array([kinds.index(z.fallback) for z in self.zones], dtype=np.int8)
        self._bounds = np.array([z.geometry.bounds for z in self.zones], dtype=np.float64).reshape(
            -1, 4
        )
        if self._metres.any() and floor_map is None:
            raise ValueError("zones in metres need a floor calibration")
        self._trees = {}
        for units, sel in (("pixels", ~self._metres), ("metres", self._metres)):
            idx = np.flatnonzero(sel)
            if len(idx):
                self._trees[units] = (shapely.STRtree(self._geometry[idx]), idx)
        # How far beyond its zone a part can be and still matter, per units.
        self._reach = {
            units: (
                float(self._warn[idx].max()) * (1 + clear_margin),
                float(self._ttc[idx].max()) * (1 + clear_margin),
            )
            for units, (_, idx) in self._trees.items()
        }

    # -- candidate pairs ----------------------------------------------------

    def _extents(self, people: _People, units: str):
        """Per track: the box of all its points and their top speed, in zone units."""
        kp, vel, box = people.kp, people.vel, people.box
        pts = np.concatenate([kp, box.reshape(-1, 2, 2)], axis=1)
        if units == "metres":
            bottom = np.stack([(box[:, 0] + box[:, 2]) / 2, box[:, 3]], axis=1)[:, None, :]
            pts = np.concatenate([pts, bottom], axis=1)
            n = pts.shape[1]
            pts = self.floor_map.floor(pts.reshape(-1, 2)).reshape(-1, n, 2)
            vel = _floor_velocity(self.floor_map, kp.reshape(-1, 2), vel.reshape(-1, 2))
            vel = vel.reshape(-1, 33, 2)
        finite = np.isfinite(pts).all(axis=2, keepdims=True)
        lo = np.where(finite, pts, np.inf).min(axis=1)
        hi = np.where(finite, pts, -np.inf).max(axis=1)
        speed = np.nan_to_num(np.hypot(vel[..., 0], vel[..., 1]), nan=0.0, posinf=0.0)
        return lo, hi, speed.max(axis=1), finite[..., 0].any(axis=1)

    def _pairs(self, people: _People, armed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Candidate (track, zone) pairs: an STRtree query with each track's box grown
        by the largest reach, then, per pair, the zone's own reach (its warn_distance,
        or its time-to-contact horizon at the track's top speed) against the gap
        between the two boxes. Both are bounds: no pair that can matter is dropped."""
        all_t, all_z = [], []
        margin = 1 + self.clear_margin
        for units, (tree, idx) in self._trees.items():
            lo, hi, speed, ok = self._extents(people, units)
            present = np.flatnonzero(ok)
            if not len(present):
                continue
            warn_reach, ttc_reach = self._reach[units]
            grow = warn_reach + speed[present] * ttc_reach
            boxes = shapely.box(
                lo[present, 0] - grow,
                lo[present, 1] - grow,
                hi[present, 0] + grow,
                hi[present, 1] + grow,
            )
            hits = tree.query(boxes, predicate="intersects")
            t_idx, z_idx = present[hits[0]], idx[hits[1]]
            b = self._bounds[z_idx]
            gap = np.hypot(
                np.maximum(np.maximum(b[:, 0] - hi[t_idx, 0], lo[t_idx, 0] - b[:, 2]), 0.0),
                np.maximum(np.maximum(b[:, 1] - hi[t_idx, 1], lo[t_idx, 1] - b[:, 3]), 0.0),
            )
            reach = np.maximum(self._warn[z_idx], speed[t_idx] * self._ttc[z_idx]) * margin
            keep = armed[z_idx] & (gap <= reach)
            all_t.append(t_idx[keep])
            all_z.append(z_idx[keep])
        if not all_t:
            return np.zeros(0, int), np.zeros(0, int)
        t_idx, z_idx = np.concatenate(all_t), np.concatenate(all_z)
        order = np.lexsort((z_idx, t_idx))
        return t_idx[order], z_idx[order]

    # -- points ---------------------------------------------------------------

    def _points(self, people: _People, t_idx: np.ndarray, z_idx: np.ndarray) -> _Points:
        kp, vel, vis = people.kp, people.vel, people.seen
        sel = self._mask[z_idx] & vis[t_idx]  # (M, 33)
        pair_of, part_of = np.nonzero(sel)  # row-major: a pair's parts in landmark order
        flat = t_idx[pair_of] * NUM_LANDMARKS + part_of
        pts = _Points(
            pair=pair_of,
            zone=z_idx[pair_of],
            xy=kp.reshape(-1, 2)[flat],
            vel=vel.reshape(-1, 2)[flat],
            part=part_of,
        )
        # Pairs with none of the zone's parts visible: the box estimate stands in,
        # moving with the mean velocity of the person's visible landmarks.
        hidden = np.flatnonzero(~sel.any(axis=1))
        if len(hidden):
            pts = _concat([pts, *self._estimates(people, t_idx, z_idx, hidden)])
        metres = self._metres[pts.zone]
        if metres.any():
            xy, vv = pts.xy.copy(), pts.vel.copy()
            xy[metres] = self.floor_map.floor(pts.xy[metres])
            vv[metres] = _floor_velocity(self.floor_map, pts.xy[metres], pts.vel[metres])
            pts = _Points(pts.pair, pts.zone, xy, vv, pts.part)
        return pts

    def _estimates(self, people: _People, t_idx, z_idx, hidden: np.ndarray) -> list[_Points]:
        vel, vis = people.vel, people.seen
        count = vis.sum(axis=1, keepdims=True)
        body_v = np.where(
            count > 0,
            (vel * vis[..., None]).sum(axis=1) / np.maximum(count, 1),
            vel.mean(axis=1),
        )  # (T, 2)
        out = []
        for kind in np.unique(self._fallback[z_idx[hidden]]):
            ms = hidden[self._fallback[z_idx[hidden]] == kind]
            xy = _FALLBACK_XY[kind](people.box[t_idx[ms]])  # (len(ms), k, 2)
            k = xy.shape[1]
            out.append(
                _Points(
                    pair=np.repeat(ms, k),
                    zone=np.repeat(z_idx[ms], k),
                    xy=xy.reshape(-1, 2),
                    vel=np.repeat(body_v[t_idx[ms]], k, axis=0),
                    part=np.full(len(ms) * k, -1),
                )
            )
        return out

    # -- assessment -----------------------------------------------------------

    def assess(self, tracks: Sequence[Track], armed: Set[str] | None = None) -> list[Assessment]:
        """Assess every seen, confirmed track against the armed zones.

        Pairs that are clear beyond the hysteresis margin are not returned.
        """
        tracks = [t for t in tracks if t.confirmed and t.seen]
        if not tracks or not self.zones:
            return []
        armed_mask = np.array(
            [z.enabled and (armed is None or z.id in armed) for z in self.zones], dtype=bool
        )
        people = _People.of(tracks, self.visibility_threshold)
        t_idx, z_idx = self._pairs(people, armed_mask)
        if not len(t_idx):
            return []
        p = self._points(people, t_idx, z_idx)
        finite = np.all(np.isfinite(p.xy), axis=1)
        if not finite.all():  # a foot projected beyond the horizon has no floor position
            p = _select(p, finite)
            p = _Points(p.pair, p.zone, p.xy, np.nan_to_num(p.vel), p.part)
        p = self._near(p)
        if not len(p.pair):
            return []
        return self._reduce(tracks, t_idx, z_idx, p, self._measure(p))

    def _measure(self, p: _Points) -> _Measures:
        inside = shapely.contains_xy(self._geometry[p.zone], p.xy[:, 0], p.xy[:, 1])
        dist, offset = self._outlines.nearest(p.zone, p.xy)
        signed = np.where(inside, -dist, dist)
        # Closing speed: the part's velocity towards the nearest outline point.
        with np.errstate(invalid="ignore", divide="ignore"):
            towards = -(p.vel[:, 0] * offset[:, 0] + p.vel[:, 1] * offset[:, 1]) / dist
        closing = np.where(dist > 0, towards, 0.0)
        if self.max_ttc_speed > 0:
            closing = np.minimum(closing, self.max_ttc_speed)
        ttc = self._ttc_of(inside, dist, closing)
        warn, horizon = self._warn[p.zone], self._ttc[p.zone]
        margin = 1 + self.clear_margin
        rank = np.where(inside, 2, np.where((signed <= warn) | (ttc <= horizon), 1, 0))
        held = inside | (signed <= warn * margin) | (ttc <= horizon * margin)
        return _Measures(inside, signed, closing, ttc, rank, held)

    @staticmethod
    def _ttc_of(inside: np.ndarray, dist: np.ndarray, closing: np.ndarray) -> np.ndarray:
        approaching = ~inside & (np.nan_to_num(closing, nan=0.0) > _EPS_SPEED)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(inside, 0.0, np.where(approaching, dist / closing, np.inf))

    def _near(self, p: _Points) -> _Points:
        """Drop the points that cannot matter, cheaply, before the exact shapely calls.

        The distance from a point to a zone's bounding box is a lower bound of its
        distance to the zone, and a part's speed bounds its closing speed (which is
        zero for a part moving away from the whole box). A point that cannot come
        within warn_distance, nor reach the zone within the time-to-contact horizon,
        even with the hysteresis margin, is neither a warning nor held, so it can
        never be the deciding part of its pair (see ``_reduce``).
        """
        if not len(p.pair):
            return p
        b = self._bounds[p.zone]
        x, y, vx, vy = p.xy[:, 0], p.xy[:, 1], p.vel[:, 0], p.vel[:, 1]
        lower = np.hypot(
            np.maximum(np.maximum(b[:, 0] - x, x - b[:, 2]), 0.0),
            np.maximum(np.maximum(b[:, 1] - y, y - b[:, 3]), 0.0),
        )
        speed = np.hypot(vx, vy)
        if self.max_ttc_speed > 0:
            speed = np.minimum(speed, self.max_ttc_speed)
        # Moving towards some point of the box: v·(c - p) is linear in c, so its
        # maximum over the box is at the corner the velocity points to.
        towards = (
            vx * (np.where(vx > 0, b[:, 2], b[:, 0]) - x)
            + vy * (np.where(vy > 0, b[:, 3], b[:, 1]) - y)
        ) > 0
        ttc_reach = np.where(towards, speed * self._ttc[p.zone], 0.0)
        reach = np.maximum(self._warn[p.zone], ttc_reach) * (1 + self.clear_margin)
        return _select(p, lower <= reach)

    def _reduce(self, tracks, t_idx, z_idx, p: _Points, m: _Measures) -> list[Assessment]:
        # The deciding part of a pair: the highest level, then the nearest; a pair
        # that is clear but held is decided by its nearest held part.
        rank, signed, closing, ttc = m.rank, m.signed, m.closing, m.ttc
        relevant = (rank > 0) | m.held
        order = np.flatnonzero(relevant)
        order = order[np.lexsort((signed[order], -rank[order], p.pair[order]))]
        first = np.ones(len(order), bool)
        first[1:] = p.pair[order][1:] != p.pair[order][:-1]
        deciding = order[first]
        pair = p.pair[deciding]
        # Plain Python values once, not a numpy scalar per field per assessment.
        rows = zip(
            z_idx[pair].tolist(),
            t_idx[pair].tolist(),
            p.part[deciding].tolist(),
            rank[deciding].tolist(),
            signed[deciding].tolist(),
            closing[deciding].tolist(),
            ttc[deciding].tolist(),
            strict=True,
        )
        out = []
        for z, t, part, r, distance, speed, contact in rows:
            zone = self.zones[z]
            out.append(
                Assessment(
                    zone_id=zone.id,
                    track_id=tracks[t].id,
                    level=LEVELS[r],
                    body_part=label(part) if part >= 0 else _fallback_name(zone),
                    distance=distance,
                    closing_speed=speed,
                    ttc_s=contact if math.isfinite(contact) else None,
                    estimated=part < 0,
                    held=True,
                )
            )
        return out


def _select(p: _Points, mask: np.ndarray) -> _Points:
    return _Points(p.pair[mask], p.zone[mask], p.xy[mask], p.vel[mask], p.part[mask])


def _concat(parts: Sequence[_Points]) -> _Points:
    return _Points(
        *(
            np.concatenate([getattr(q, f) for q in parts])
            for f in ("pair", "zone", "xy", "vel", "part")
        )
    )


def reference_assess(
    tracks: Sequence[Track],
    zones: Sequence[Zone],
    visibility_threshold: float = 0.5,
    clear_margin: float = 0.25,
    floor_map: FloorMap | None = None,
) -> list[Assessment]:
    """The obvious, slow version: one shapely Point at a time. For tests and benchmarks."""
    out = []
    for tr in tracks:
        if not (tr.confirmed and tr.seen):
            continue
        for zone in zones:
            if not zone.enabled:
                continue
            parts = [i for i in zone.landmarks if tr.visibility[i] >= visibility_threshold]
            if parts:
                pts = [(i, tr.keypoints[i], tr.velocity[i]) for i in parts]
            else:
                seen = tr.visibility >= visibility_threshold
                body_v = np.mean(tr.velocity[seen] if seen.any() else tr.velocity, axis=0)
                pts = [(-1, xy, body_v) for xy in _fallback_points(zone.fallback, tr.bbox)]
            rows = []
            for part, xy, v in pts:
                if zone.units == "metres":
                    assert floor_map is not None
                    v = _floor_velocity(floor_map, xy[None], v[None])[0]
                    xy = floor_map.floor(xy[None])[0]
                point = Point(xy)
                inside = zone.geometry.contains(point)
                near, _ = nearest_points(zone.geometry.boundary, point)
                d = point.distance(zone.geometry.boundary)
                n = (np.array(xy) - np.array(near.coords[0])) / d if d > 0 else np.zeros(2)
                closing = -float(np.dot(v, n))
                ttc = 0.0 if inside else (d / closing if closing > _EPS_SPEED else np.inf)
                signed = -d if inside else d
                rank = (
                    2
                    if inside
                    else (1 if signed <= zone.warn_distance or ttc <= zone.warn_ttc_s else 0)
                )
                held = (
                    inside
                    or signed <= zone.warn_distance * (1 + clear_margin)
                    or (ttc <= zone.warn_ttc_s * (1 + clear_margin))
                )
                rows.append((rank, signed, part, closing, ttc, held))
            relevant = [r for r in rows if r[0] > 0 or r[5]]
            if not relevant:
                continue
            rank, signed, part, closing, ttc, _ = min(relevant, key=lambda r: (-r[0], r[1]))
            out.append(
                Assessment(
                    zone_id=zone.id,
                    track_id=tr.id,
                    level=LEVELS[rank],
                    body_part=label(part) if part >= 0 else _fallback_name(zone),
                    distance=float(signed),
                    closing_speed=float(closing),
                    ttc_s=float(ttc) if np.isfinite(ttc) else None,
                    estimated=part < 0,
                    held=True,
                )
            )
    return out
