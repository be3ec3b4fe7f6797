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

Speed matters (10 people × 33 landmarks × 200 zones per frame must stay far
under a millisecond), so the engine prunes with an STRtree query per track
and then evaluates every remaining point in a handful of vectorised shapely 2
calls. ``reference_assess`` is the slow, obvious version the tests compare it to.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass
from typing import Literal

import numpy as np
import shapely
from shapely.geometry import Point
from shapely.ops import nearest_points

from .bodyparts import NUM_LANDMARKS, Fallback, label
from .calibration import FloorMap
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


def _fallback_name(zone: Zone) -> str:
    return f"{zone.body_parts[0]} (estimated)"


def _floor_velocity(floor_map: FloorMap, pts: np.ndarray, vel: np.ndarray) -> np.ndarray:
    here = floor_map.floor(pts)
    ahead = floor_map.floor(pts + vel * _FLOOR_DT)
    return (ahead - here) / _FLOOR_DT


@dataclass(frozen=True)
class _Points:
    """Flat arrays of every (pair, body part) point to evaluate this frame."""

    pair: np.ndarray  # index into the pair list, grouped and ascending
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
        self._boundary = np.array([z.boundary for z in self.zones], dtype=object)
        self._warn = np.array([z.warn_distance for z in self.zones], dtype=np.float64)
        self._ttc = np.array([z.warn_ttc_s for z in self.zones], dtype=np.float64)
        self._mask = np.zeros((n, NUM_LANDMARKS), dtype=bool)
        for i, z in enumerate(self.zones):
            self._mask[i, list(z.landmarks)] = True
        self._metres = np.array([z.units == "metres" for z in self.zones], dtype=bool)
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

    def _query_boxes(self, tracks: Sequence[Track], units: str) -> list[shapely.Geometry | None]:
        warn_reach, ttc_reach = self._reach[units]
        boxes = []
        for tr in tracks:
            pts, vel = np.vstack([tr.keypoints, tr.bbox.reshape(2, 2)]), tr.velocity
            if units == "metres":
                pts = self.floor_map.floor(
                    np.vstack([pts, _fallback_points(Fallback.BBOX_BOTTOM_CENTRE, tr.bbox)])
                )
                vel = _floor_velocity(self.floor_map, tr.keypoints, tr.velocity)
            ok = np.all(np.isfinite(pts), axis=1)
            if not ok.any():
                boxes.append(None)
                continue
            speed = float(np.nanmax(np.linalg.norm(vel, axis=1))) if len(vel) else 0.0
            if not np.isfinite(speed):
                speed = 0.0
            grow = warn_reach + speed * ttc_reach
            lo, hi = pts[ok].min(axis=0) - grow, pts[ok].max(axis=0) + grow
            boxes.append(shapely.box(lo[0], lo[1], hi[0], hi[1]))
        return boxes

    def _pairs(self, tracks: Sequence[Track], armed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        all_t, all_z = [], []
        for units, (tree, idx) in self._trees.items():
            boxes = self._query_boxes(tracks, units)
            present = [i for i, b in enumerate(boxes) if b is not None]
            if not present:
                continue
            hits = tree.query(
                np.array([boxes[i] for i in present], dtype=object), predicate="intersects"
            )
            t_idx = np.asarray(present)[hits[0]]
            z_idx = idx[hits[1]]
            keep = armed[z_idx]
            all_t.append(t_idx[keep])
            all_z.append(z_idx[keep])
        if not all_t:
            return np.zeros(0, int), np.zeros(0, int)
        t_idx, z_idx = np.concatenate(all_t), np.concatenate(all_z)
        order = np.lexsort((z_idx, t_idx))
        return t_idx[order], z_idx[order]

    # -- points ---------------------------------------------------------------

    def _points(self, tracks: Sequence[Track], t_idx: np.ndarray, z_idx: np.ndarray) -> _Points:
        kp = np.stack([tr.keypoints for tr in tracks])  # (T, 33, 2)
        vel = np.stack([tr.velocity for tr in tracks])
        vis = np.stack([tr.visibility for tr in tracks]) >= self.visibility_threshold
        sel = self._mask[z_idx] & vis[t_idx]  # (M, 33)
        pair_of, part_of = np.nonzero(sel)
        xy = kp[t_idx[pair_of], part_of]
        v = vel[t_idx[pair_of], part_of]
        pair_l, zone_l, xy_l, v_l, part_l = [pair_of], [z_idx[pair_of]], [xy], [v], [part_of]
        # Pairs with none of the zone's parts visible: the box estimate stands in.
        for m in np.flatnonzero(~sel.any(axis=1)):
            tr, zone = tracks[t_idx[m]], self.zones[z_idx[m]]
            pts = _fallback_points(zone.fallback, tr.bbox)
            body_v = np.mean(
                tr.velocity[vis[t_idx[m]]] if vis[t_idx[m]].any() else tr.velocity, axis=0
            )
            pair_l.append(np.full(len(pts), m))
            zone_l.append(np.full(len(pts), z_idx[m]))
            xy_l.append(pts)
            v_l.append(np.tile(body_v, (len(pts), 1)))
            part_l.append(np.full(len(pts), -1))
        pair = np.concatenate(pair_l)
        order = np.argsort(pair, kind="stable")
        pts = _Points(
            pair=pair[order],
            zone=np.concatenate(zone_l)[order],
            xy=np.concatenate(xy_l)[order],
            vel=np.concatenate(v_l)[order],
            part=np.concatenate(part_l)[order],
        )
        metres = self._metres[pts.zone]
        if metres.any():
            xy, vv = pts.xy.copy(), pts.vel.copy()
            xy[metres] = self.floor_map.floor(pts.xy[metres])
            vv[metres] = _floor_velocity(self.floor_map, pts.xy[metres], pts.vel[metres])
            pts = _Points(pts.pair, pts.zone, xy, vv, pts.part)
        return pts

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
        t_idx, z_idx = self._pairs(tracks, armed_mask)
        if not len(t_idx):
            return []
        p = self._points(tracks, t_idx, z_idx)
        finite = np.all(np.isfinite(p.xy), axis=1)
        if not finite.all():  # a foot projected beyond the horizon has no floor position
            p = _Points(
                p.pair[finite],
                p.zone[finite],
                p.xy[finite],
                np.nan_to_num(p.vel[finite]),
                p.part[finite],
            )
            if not len(p.pair):
                return []
        inside = shapely.contains_xy(self._geometry[p.zone], p.xy[:, 0], p.xy[:, 1])
        lines = shapely.shortest_line(self._boundary[p.zone], shapely.points(p.xy))
        coords = shapely.get_coordinates(lines).reshape(-1, 2, 2)
        offset = coords[:, 1] - coords[:, 0]  # nearest outline point → body part
        dist = np.linalg.norm(offset, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            normal = np.where(dist[:, None] > 0, offset / dist[:, None], 0.0)
        closing = -np.einsum("ij,ij->i", p.vel, normal)
        if self.max_ttc_speed > 0:
            closing = np.minimum(closing, self.max_ttc_speed)
        signed = np.where(inside, -dist, dist)
        approaching = ~inside & (closing > _EPS_SPEED)
        with np.errstate(invalid="ignore", divide="ignore"):
            ttc = np.where(inside, 0.0, np.where(approaching, dist / closing, np.inf))
        warn, horizon = self._warn[p.zone], self._ttc[p.zone]
        rank = np.where(inside, 2, np.where((signed <= warn) | (ttc <= horizon), 1, 0))
        margin = 1 + self.clear_margin
        held = inside | (signed <= warn * margin) | (ttc <= horizon * margin)
        return self._reduce(tracks, t_idx, z_idx, p, rank, signed, closing, ttc, held)

    def _reduce(self, tracks, t_idx, z_idx, p, rank, signed, closing, ttc, held):
        # The deciding part of each pair: highest level, then the nearest.
        order = np.lexsort((signed, -rank, p.pair))
        first = np.ones(len(order), bool)
        first[1:] = p.pair[order][1:] != p.pair[order][:-1]
        best = order[first]
        starts = np.flatnonzero(np.r_[True, p.pair[1:] != p.pair[:-1]])
        min_ttc = np.minimum.reduceat(ttc, starts)
        any_held = np.maximum.reduceat(held.astype(np.int8), starts).astype(bool)
        out = []
        for k, b in enumerate(best):
            m = p.pair[b]
            if rank[b] == 0 and not any_held[k]:
                continue
            zone = self.zones[z_idx[m]]
            part = int(p.part[b])
            t_min = float(min_ttc[k])
            out.append(
                Assessment(
                    zone_id=zone.id,
                    track_id=tracks[t_idx[m]].id,
                    level=LEVELS[int(rank[b])],
                    body_part=label(part) if part >= 0 else _fallback_name(zone),
                    distance=float(signed[b]),
                    closing_speed=float(closing[b]),
                    ttc_s=t_min if np.isfinite(t_min) else None,
                    estimated=part < 0,
                    held=bool(any_held[k]),
                )
            )
        return out


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
            rank, signed, part, closing, _, _ = sorted(rows, key=lambda r: (-r[0], r[1]))[0]
            any_held = any(r[5] for r in rows)
            if rank == 0 and not any_held:
                continue
            t_min = min(r[4] for r in rows)
            out.append(
                Assessment(
                    zone_id=zone.id,
                    track_id=tr.id,
                    level=LEVELS[rank],
                    body_part=label(part) if part >= 0 else _fallback_name(zone),
                    distance=float(signed),
                    closing_speed=float(closing),
                    ttc_s=float(t_min) if np.isfinite(t_min) else None,
                    estimated=part < 0,
                    held=any_held,
                )
            )
    return out
