"""The test oracle of the hazard engine: the obvious, slow version, one shapely Point
at a time. The fast engine (safetyd/hazard/hazards.py) is checked against it in
tests/test_hazards.py and timed against it in bench/zones.py."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from shapely.geometry import Point
from shapely.ops import nearest_points

from safetyd.base.bodyparts import Fallback, label
from safetyd.hazard.hazards import _EPS_SPEED, LEVELS, Assessment, _fallback_name, _floor_velocity
from safetyd.vision.calibration import FloorMap
from safetyd.vision.tracking import Track
from safetyd.zones.model import Zone


# Where a hidden body part is estimated on the box: spelled here independently of
# the engine's _ESTIMATE_COLUMNS, so that the tests check one against the other.
def _fallback_points(fallback: Fallback, box: np.ndarray) -> np.ndarray:
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return {
        Fallback.BBOX_BOTTOM_CENTRE: np.array([[cx, y1]]),
        Fallback.BBOX_TOP_CENTRE: np.array([[cx, y0]]),
        Fallback.BBOX_CENTRE: np.array([[cx, cy]]),
        Fallback.BBOX_CORNERS: np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]]),
    }[fallback]


def reference_assess(
    tracks: Sequence[Track],
    zones: Sequence[Zone],
    visibility_threshold: float = 0.5,
    clear_margin: float = 0.25,
    floor_map: FloorMap | None = None,
) -> list[Assessment]:
    """Every seen track against every enabled zone, point by point."""
    out = []
    for tr in tracks:
        if not tr.seen:
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
                pixel = tuple(float(c) for c in xy)
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
                rows.append((rank, signed, part, closing, ttc, held, pixel))
            relevant = [r for r in rows if r[0] > 0 or r[5]]
            if not relevant:
                continue
            rank, signed, part, closing, ttc, _, pixel = min(relevant, key=lambda r: (-r[0], r[1]))
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
                    part_x=pixel[0],
                    part_y=pixel[1],
                )
            )
    return out
