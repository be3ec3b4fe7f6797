"""Nearest points on zone outlines, for many (point, zone) pairs at once.

The hazard engine needs, for every body part near a zone, the distance to the
zone's outline and the direction to the nearest outline point (the closing
speed is the part's velocity along it). shapely answers both, but one GEOS
call per point costs about a microsecond of overhead for what, on a zone of a
few edges, is a few multiplications; at 10 people × 200 zones per frame that
overhead is most of the frame budget. So the outlines (every ring, holes
included, of every part of a MultiPolygon) are split into segments once, and
the point-to-segment projection runs in numpy over all pairs together.

Inside/outside stays with shapely (``contains_xy`` on prepared geometries):
the even-odd rules for holes and multipolygons are GEOS's job. Zones are
grouped by segment count (powers of two) so one finely drawn zone does not pad
every rectangle to its size. tests/test_outlines.py checks this against
shapely's ``distance`` and ``shortest_line`` on random polygons with holes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

# Points × segments evaluated per numpy pass: bounds the temporaries (a few
# arrays of this many floats) when a zone was traced with thousands of vertices.
_CHUNK = 1 << 20


def _segments(geometry: BaseGeometry) -> np.ndarray:
    """(n, 4) segments x0, y0, x1, y1 of every ring of every polygon part."""
    rings = shapely.get_rings(shapely.get_parts(geometry))
    out = []
    for ring in rings:
        xy = shapely.get_coordinates(ring)
        out.append(np.concatenate([xy[:-1], xy[1:]], axis=1))
    return np.concatenate(out) if out else np.zeros((0, 4))


class Outlines:
    """Every zone's outline as segment arrays."""

    def __init__(self, geometries: Sequence[BaseGeometry]) -> None:
        segments = [_segments(g) for g in geometries]
        if any(len(s) == 0 for s in segments):
            raise ValueError("a zone without an outline cannot be measured")
        width = np.array([max(4, 1 << (len(s) - 1).bit_length()) for s in segments])
        self._group_of = np.zeros(len(segments), dtype=np.intp)
        self._row_of = np.zeros(len(segments), dtype=np.intp)
        # Per group, (5, zones, width): segment start x, y, direction x, y, and
        # 1 / squared length (0 for a zero-length segment); one array so that a
        # frame's points gather their zones' segments in one call, and component
        # first so that each component arrives as its own contiguous (n, width).
        self._tables: list[np.ndarray] = []
        for g, w in enumerate(np.unique(width)):
            members = np.flatnonzero(width == w)
            # Padding repeats a zone's first segment, which cannot change a minimum.
            padded = np.stack(
                [np.concatenate([segments[i], np.repeat(segments[i][:1], w - len(segments[i]), 0)])
                 for i in members]
            )  # fmt: skip
            dx = padded[..., 2] - padded[..., 0]
            dy = padded[..., 3] - padded[..., 1]
            sq = dx * dx + dy * dy
            inv = np.divide(1.0, sq, out=np.zeros_like(sq), where=sq > 0)
            self._tables.append(np.stack([padded[..., 0], padded[..., 1], dx, dy, inv]))
            self._group_of[members] = g
            self._row_of[members] = np.arange(len(members))

    def nearest(
        self, zone: np.ndarray, x: np.ndarray, y: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Distance from each point (x, y) to its zone's outline, and the offset
        vector (ox, oy) from the nearest outline point to the point."""
        if len(self._tables) == 1 and len(zone) * self._tables[0].shape[2] <= _CHUNK:
            return self._nearest(self._tables[0], self._row_of.take(zone), x, y)
        dist, ox, oy = np.empty(len(zone)), np.empty(len(zone)), np.empty(len(zone))
        group = self._group_of.take(zone)
        for g in np.unique(group):
            table = self._tables[g]
            sel = np.flatnonzero(group == g)
            step = max(1, _CHUNK // table.shape[2])
            for i in range(0, len(sel), step):
                part = sel[i : i + step]
                rows = self._row_of.take(zone.take(part))
                dist[part], ox[part], oy[part] = self._nearest(
                    table, rows, x.take(part), y.take(part)
                )
        return dist, ox, oy

    @staticmethod
    def _nearest(
        table: np.ndarray, rows: np.ndarray, x: np.ndarray, y: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ax, ay, dx, dy, inv = table.take(rows, axis=1)  # each (n, width)
        ox = x[:, None] - ax  # segment start → point
        oy = y[:, None] - ay
        t = (ox * dx + oy * dy) * inv  # projection onto the segment, clamped
        np.minimum(np.maximum(t, 0.0, out=t), 1.0, out=t)  # (np.clip is slower here)
        ox -= t * dx  # nearest point on the segment → point
        oy -= t * dy
        d2 = ox * ox + oy * oy
        # The nearest segment of each row, as a flat index (faster than d2[r, k]).
        width = d2.shape[1]
        k = np.arange(0, len(rows) * width, width) + d2.argmin(axis=1)
        return np.sqrt(d2.take(k)), ox.take(k), oy.take(k)
