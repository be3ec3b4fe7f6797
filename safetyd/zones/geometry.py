"""A zone's GeoJSON geometry → a shapely shape, or every problem with it.

Checked structurally first, so a typo in one coordinate is reported as such
(with its path, e.g. ``features[2].geometry.coordinates[0][3]``) rather than as
an obscure shapely error, then for validity with ``shapely.is_valid_reason``
(which says *where* an outline crosses itself)."""

from __future__ import annotations

import math
import re
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

from ..base.problems import fmt_value

MAX_COORDINATE = 1e9  # pixels or metres: anything larger is a typo, and overflows floats


def json_kind(value: Any) -> str:
    """What a JSON value is, in JSON's words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {list: "an array", str: "a string", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_position(pos: Any, where: str, out: list[tuple[str, str]]) -> bool:
    if not isinstance(pos, list) or len(pos) not in (2, 3) or not all(map(_is_number, pos)):
        out.append((where, f"{fmt_value(pos)} is not a position; expected [x, y] numbers"))
        return False
    bad = [v for v in pos if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        out.append((where, f"{fmt_value(pos)} contains {bad[0]}; coordinates must be finite"))
        return False
    # abs() of an int never overflows; a float() of a 400-digit one would.
    huge = [v for v in pos if abs(v) > MAX_COORDINATE]
    if huge:
        shown = (
            f"{huge[0]:.3g}"
            if isinstance(huge[0], float)
            else f"a {len(str(abs(huge[0])))}-digit number"
        )
        out.append((where, f"coordinate {shown} is beyond ±{MAX_COORDINATE:g}; is it a typo?"))
        return False
    return True


def _check_ring(ring: Any, where: str, out: list[tuple[str, str]]) -> bool:
    if not isinstance(ring, list):
        out.append((where, f"{fmt_value(ring)} is not a ring; expected a list of [x, y] positions"))
        return False
    ok = all([_check_position(p, f"{where}[{i}]", out) for i, p in enumerate(ring)])
    if not ok:
        return False
    if len(ring) < 4:
        out.append(
            (
                where,
                f"ring has {len(ring)} position(s); a closed ring needs at least 4 "
                "(three corners and the first corner repeated at the end)",
            )
        )
        return False
    if ring[0][:2] != ring[-1][:2]:
        out.append(
            (
                where,
                f"ring is not closed: first position {ring[0]} differs from last "
                f"position {ring[-1]}; repeat the first position at the end",
            )
        )
        return False
    return True


def _check_polygon(coords: Any, where: str, out: list[tuple[str, str]]) -> bool:
    if not isinstance(coords, list):
        out.append((where, f"{fmt_value(coords)} is not a list of rings"))
        return False
    if not coords:
        out.append((where, "polygon has no rings: the geometry is empty; a zone needs an area"))
        return False
    return all([_check_ring(r, f"{where}[{i}]", out) for i, r in enumerate(coords)])


_LOCATION = re.compile(r"\[(-?[\d.e+-]+) (-?[\d.e+-]+)\]")


def _validity_message(reason: str) -> str:
    """Reword shapely's reason ('Self-intersection[30 30]') for a person."""
    match = _LOCATION.search(reason)
    at = f" at ({float(match[1]):g}, {float(match[2]):g})" if match else ""
    kind = _LOCATION.sub("", reason).strip()
    advice = {
        "Self-intersection": "the outline crosses itself; redraw it so edges do not cross",
        "Ring Self-intersection": "a ring touches itself; redraw it so edges do not touch",
        "Hole lies outside shell": "a hole must lie inside its outer ring",
        "Nested shells": "MultiPolygon parts overlap; merge them into one polygon",
        "Interior is disconnected": "holes cut the polygon in pieces; use a MultiPolygon",
        "Too few points": "a ring needs at least three distinct corners",
    }.get(kind, "fix the outline")
    return f"geometry is not a valid area: {kind}{at}; {advice}"


def _flat(polygon: list) -> tuple[list, list]:
    """(shell, holes) in x, y: a z (GeoJSON allows one) is dropped, so that
    positions with and without it can share a ring."""
    rings = [[(p[0], p[1]) for p in ring] for ring in polygon]
    return rings[0], rings[1:]


def build_geometry(geom: Any, where: str) -> tuple[BaseGeometry | None, list[tuple[str, str]]]:
    """Check a GeoJSON geometry object and build it; returns (geometry, [(where, message)])."""
    out: list[tuple[str, str]] = []
    if geom is None:
        return None, [(where, "geometry is null; expected a Polygon or MultiPolygon")]
    if not isinstance(geom, dict):
        return None, [(where, f"{fmt_value(geom)} is not a geometry object")]
    kind = geom.get("type")
    if kind not in ("Polygon", "MultiPolygon"):
        if kind in ("Point", "MultiPoint", "LineString", "MultiLineString", "GeometryCollection"):
            msg = (
                f"{kind} is not supported; a hazard zone is an area: use Polygon or "
                "MultiPolygon (to guard a line, draw a thin polygon around it)"
            )
        else:
            msg = f"type {fmt_value(kind)} is not a geometry type; expected Polygon or MultiPolygon"
        return None, [(f"{where}.type", msg)]
    coords = geom.get("coordinates")
    cwhere = f"{where}.coordinates"
    if kind == "Polygon":
        if not _check_polygon(coords, cwhere, out) or coords is None:
            return None, out
        shape = shapely.Polygon(*_flat(coords))
    else:
        if not isinstance(coords, list) or not coords:
            return None, [(cwhere, "MultiPolygon has no polygons: the geometry is empty")]
        ok = all([_check_polygon(p, f"{cwhere}[{i}]", out) for i, p in enumerate(coords)])
        if not ok:
            return None, out
        shape = shapely.MultiPolygon([_flat(p) for p in coords])
    if shape.is_empty:
        return None, [(where, "geometry is empty; a zone needs an area")]
    if not shape.is_valid:
        return None, [(where, _validity_message(shapely.is_valid_reason(shape)))]
    if shape.area <= 0:
        return None, [(where, "geometry has zero area; a zone needs an area")]
    return shape, []
