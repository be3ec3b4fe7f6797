"""Hazard zones: GeoJSON FeatureCollections → validated ``Zone`` values.

A zone file is read whole, every problem in it is collected (never only the
first), and each problem names the file, the feature (index and id), the
member or coordinate, the bad value and what is expected. Geometry is checked
structurally first, so a typo in one coordinate is reported as such rather
than as an obscure shapely error (geometry.py), then for validity with
``shapely.is_valid_reason`` (which says *where* an outline crosses itself)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapely
from pydantic import ValidationError
from shapely.geometry.base import BaseGeometry

from ..base import bodyparts
from ..base.problems import Problem, Severity, errors, fmt_value
from ..config.pydantic_problems import problems_from
from . import schedule as schedules
from .checks import check_context
from .geometry import build_geometry, json_kind
from .model import (
    AreaRules,
    CameraInfo,
    FileOptions,
    Step,
    Zone,
    ZoneContext,
    ZoneProperties,
)

MAX_ZONE_FILE_BYTES = 5_000_000
MAX_NESTING = 64  # a zone file is nested ~7 deep; JSON deeper than this is not one


@dataclass(frozen=True)
class ParsedFile:
    path: str
    zones: tuple[Zone, ...]
    problems: tuple[Problem, ...]


def _json_error_position(text: str, exc: json.JSONDecodeError) -> str:
    return f"line {exc.lineno}, column {exc.colno}"


def _nesting(text: str) -> int:
    """How deep brackets nest, outside strings (checked before parsing: Python's
    JSON parser recurses, and thousands of levels end in RecursionError)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def read_file(path: Path) -> tuple[Any, str, list[Problem]]:
    """Read and decode JSON. Returns (data, sha256 prefix, problems); data is only
    meaningful when there are no problems (a file may hold a plain ``null``)."""
    name = str(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        return None, "", [Problem(name, "", f"cannot read the file: {exc.strerror}")]
    if size > MAX_ZONE_FILE_BYTES:
        return (
            None,
            "",
            [
                Problem(
                    name,
                    "",
                    f"file is {size / 1e6:.1f} MB; zone files over "
                    f"{MAX_ZONE_FILE_BYTES / 1e6:.0f} MB are refused (hand-drawn zones are a "
                    "few KB; simplify the outlines)",
                )
            ],
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, "", [Problem(name, "", f"cannot read the file: {exc.strerror}")]
    digest = hashlib.sha256(raw).hexdigest()[:12]
    try:
        text = raw.decode("utf-8-sig")  # a BOM, as Windows editors write, is fine
    except UnicodeDecodeError as exc:
        return (
            None,
            digest,
            [Problem(name, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})")],
        )

    # JSON has no NaN/Infinity, but Python's parser accepts them; keep them as
    # floats so that the number checks below name them.
    def constant(token: str) -> float:
        return float(token.replace("Infinity", "inf"))

    depth = _nesting(text)
    if depth > MAX_NESTING:
        return (
            None,
            digest,
            [Problem(name, "", f"JSON nested {depth} levels deep; a zone file needs fewer than "
                               f"{MAX_NESTING}")],
        )  # fmt: skip
    try:
        data = json.loads(text, parse_constant=constant, object_pairs_hook=_Object.of)
    except json.JSONDecodeError as exc:
        where = _json_error_position(text, exc)
        return None, digest, [Problem(name, where, f"not valid JSON: {exc.msg}")]
    except (ValueError, RecursionError) as exc:
        why = str(exc)[:120]
        if "integer string conversion" in why:  # Python's limit on digits per integer
            why = "a number has thousands of digits; coordinates are at most ±1e9"
        return None, digest, [Problem(name, "", f"not usable JSON: {why}")]
    twice = [
        Problem(name, where, f"key {key!r} appears more than once ({fmt_value(first)}, then "
                             f"{fmt_value(last)}); keep one: JSON readers silently take the last")
        for where, key, first, last in _duplicates(data)
    ]  # fmt: skip
    return data, digest, twice


class _Object(dict):
    """A JSON object that remembers keys it held twice (JSON readers keep the last)."""

    duplicates: list[tuple[str, Any, Any]]

    @classmethod
    def of(cls, pairs: list[tuple[str, Any]]) -> _Object:
        obj = cls()
        obj.duplicates = []
        for key, value in pairs:
            if key in obj:
                obj.duplicates.append((key, obj[key], value))
            obj[key] = value
        return obj


def _duplicates(value: Any, where: str = "") -> list[tuple[str, str, Any, Any]]:
    """(where, key, first, last) for every key given twice, anywhere in the file."""
    found: list[tuple[str, str, Any, Any]] = []
    if isinstance(value, _Object):
        found += [(where, k, a, b) for k, a, b in value.duplicates]
        for k, v in value.items():
            found += _duplicates(v, f"{where}.{k}" if where else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _duplicates(v, f"{where}[{i}]")
    return found


def _raw_id(feature: Any) -> str | None:
    if not isinstance(feature, dict):
        return None
    props = feature.get("properties")
    raw = props.get("id") if isinstance(props, dict) else None
    raw = feature.get("id") if raw is None else raw
    return str(raw) if raw is not None else None


def feature_label(index: int, zone_id: Any) -> str:
    return f"features[{index}]" + (f" (id {zone_id!r})" if isinstance(zone_id, str) else "")


def check_image_bounds(
    shape: BaseGeometry, info: CameraInfo, camera: str | None
) -> tuple[Severity, str] | None:
    """A pixel zone against the camera's picture (``camera`` None: the picture its
    ``drawn_on`` names): wholly outside is an error (nobody can ever be seen in it),
    partly outside a warning that names the part."""
    if not info.width or not info.height:
        return None
    w, h = info.width, info.height
    picture = f"camera {camera!r}'s {w}x{h} image" if camera else f"the {w}x{h} picture of drawn_on"
    minx, miny, maxx, maxy = shape.bounds
    seen = shape.intersection(shapely.box(0, 0, w, h)).area
    if seen <= 0:
        return (
            "error",
            f"the zone lies entirely outside {picture} "
            f"(bounds {minx:g},{miny:g} to {maxx:g},{maxy:g}); nobody can ever be seen in it: "
            "draw it on a frame of this camera, in pixels",
        )
    outside = 1 - seen / shape.area
    if outside < 0.005:
        return None
    edges = [
        name
        for name, beyond in (
            (f"left of x=0 (to x={minx:g})", minx < 0),
            (f"above y=0 (to y={miny:g})", miny < 0),
            (f"right of x={w} (to x={maxx:g})", maxx > w),
            (f"below y={h} (to y={maxy:g})", maxy > h),
        )
        if beyond
    ]
    hint = "; are the coordinates in pixels of this camera?" if outside > 0.5 else ""
    return (
        "warning",
        f"{outside:.0%} of the zone lies outside {picture}, "
        f"{' and '.join(edges)}: people there cannot be seen{hint}",
    )


# Smallest plausible zone: a person's foot is ~25 x 10 cm, and a zone a few pixels
# across holds no body part a pose model can place in it.
MIN_PIXEL_SIDE = 4.0
MIN_METRE_AREA = 0.01


def check_plausible_size(shape: BaseGeometry, units: str) -> str | None:
    """A zone too small for its units, and what its numbers look like."""
    minx, miny, maxx, maxy = shape.bounds
    wide, high = maxx - minx, maxy - miny
    if units == "pixels":
        small = max(wide, high) < MIN_PIXEL_SIDE
        size = f"{wide:.3g} x {high:.3g} pixels"
    else:
        small = shape.area < MIN_METRE_AREA
        size = f"{wide:.3g} x {high:.3g} m"
    if not small:
        return None
    coords = list(shape.exterior.coords) if hasattr(shape, "exterior") else []
    lonlat = (
        bool(coords)
        and all(abs(x) <= 180 and abs(y) <= 90 for x, y, *_ in coords)
        and any(x != round(x, 2) or y != round(y, 2) for x, y, *_ in coords)
    )
    looks = (
        f"; its numbers ({coords[0][0]:g}, {coords[0][1]:g}) look like longitude/latitude, "
        "which safetyd does not use"
        if lonlat
        else ""
    )
    where = (
        "image pixels of the camera"
        if units == "pixels"
        else 'floor metres ("safetyd": {"units": "metres"})'
    )
    return f"the zone is only {size}: too small to hold a person{looks}; draw it in {where}"


def parse_zone_file(path: Path, context: ZoneContext | None = None) -> ParsedFile:
    """Validate one zone file completely; zones are returned only when it has no errors.

    Never raises, whatever the file holds: a daemon reloading a poisoned file must
    keep its old zones, and the CLI must explain, not show a traceback. What the
    checks below did not foresee is reported as a problem of the file."""
    try:
        return _parse_zone_file(path, context or ZoneContext())
    except Exception as exc:
        return ParsedFile(str(path), (), (Problem(
            str(path), "", f"cannot be used as a zone file ({exc.__class__.__name__}: "
                           f"{str(exc)[:120]}); please report this file to safetyd's developers",
        ),))  # fmt: skip


def _parse_zone_file(path: Path, context: ZoneContext) -> ParsedFile:
    name = str(path)
    data, digest, problems = read_file(path)
    if problems:
        return ParsedFile(name, (), tuple(problems))

    def add(where: str, message: str, severity: str = "error") -> None:
        problems.append(Problem(name, where, message, severity))  # type: ignore[arg-type]

    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        found = fmt_value(data.get("type")) if isinstance(data, dict) else json_kind(data)
        add(
            "",
            f"top level is {found}; expected a GeoJSON FeatureCollection "
            '({"type": "FeatureCollection", "features": [...]})',
        )
        return ParsedFile(name, (), tuple(problems))
    options = FileOptions()
    if "safetyd" in data:
        try:
            options = FileOptions.model_validate(data["safetyd"])
        except ValidationError as exc:
            problems.extend(problems_from(exc, FileOptions, name, prefix="safetyd"))
    features = data.get("features")
    if not isinstance(features, list):
        add("features", f"{fmt_value(features)} is not a list of Features")
        return ParsedFile(name, (), tuple(problems))
    if not features:
        add(
            "features",
            "the file has no zones: the cameras that list it watch nothing from it; if that "
            "is intended, take the file out of their zones list",
            "warning",
        )

    zones: list[Zone] = []
    seen_ids: dict[str, int] = {}
    for index, feature in enumerate(features):
        zone = _parse_feature(feature, index, options, context, digest, name, add)
        raw_id = _raw_id(feature)
        if raw_id is not None:
            if raw_id in seen_ids:
                add(
                    feature_label(index, raw_id),
                    f"id {raw_id!r} is already used by features[{seen_ids[raw_id]}]; "
                    "zone ids must be unique",
                )
                continue
            seen_ids[raw_id] = index
        if zone is not None:
            zones.append(zone)
    if errors(problems):
        return ParsedFile(name, (), tuple(problems))
    return ParsedFile(name, tuple(zones), tuple(problems))


def _parse_feature(
    feature: Any,
    index: int,
    options: FileOptions,
    context: ZoneContext,
    digest: str,
    file: str,
    add,
) -> Zone | None:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        found = feature.get("type") if isinstance(feature, dict) else type(feature).__name__
        add(f"features[{index}]", f"{fmt_value(found)} is not a Feature object")
        return None
    raw_props = feature.get("properties")
    if not isinstance(raw_props, dict):
        add(
            f"features[{index}].properties",
            f"{fmt_value(raw_props)} is not an object; zone settings live in properties",
        )
        return None
    raw_props = dict(raw_props)
    feature_id = feature.get("id")
    if "id" not in raw_props and feature_id is not None:
        raw_props["id"] = str(feature_id)
    zone_id = raw_props.get("id")
    label = feature_label(index, zone_id)
    failed = False
    if (
        feature_id is not None
        and "id" in (feature.get("properties") or {})
        and str(feature_id) != str(zone_id)
    ):
        add(label, f"Feature id {feature_id!r} differs from properties.id {zone_id!r}")
        failed = True
    if zone_id is None:
        add(f"{label}.properties.id", "required key is missing: every zone needs a unique id")
        failed = True
    try:
        props = ZoneProperties.model_validate(raw_props)
    except ValidationError as exc:
        for p in problems_from(exc, ZoneProperties, file, prefix=f"{label}.properties"):
            add(p.where, p.message)
        props = None
    shape, geo_problems = build_geometry(feature.get("geometry"), f"{label}.geometry")
    for where, message in geo_problems:
        add(where, message)
    if shape is not None:
        tiny = check_plausible_size(shape, options.units)
        if tiny:
            add(f"{label}.geometry", tiny)
            shape = None
    ok = check_context(raw_props, props, options, context, f"{label}.properties", add)
    if props is None or shape is None or failed or not ok:
        return None
    return Zone(
        id=props.id or "",
        name=props.name or props.id or "",
        camera=props.camera,
        severity=props.severity,
        body_parts=tuple(props.body_parts),
        landmarks=bodyparts.resolve(tuple(props.body_parts)),
        fallback=bodyparts.fallback_for(tuple(props.body_parts)),
        warn_distance=props.warn_distance or 0.0,
        warn_ttc_s=props.warn_ttc_s,
        min_frames=props.min_frames,
        cooldown_s=props.cooldown_s,
        escalate_after_s=props.escalate_after_s,
        schedule=schedules.parse(props.schedule),
        recipients=props.recipients,
        enabled=props.enabled,
        geometry=shape,
        units=options.units,
        file=file,
        file_hash=digest,
        index=index,
        drawn_on=options.image_size,
        escalation_chain=None
        if props.escalation_chain is None
        else tuple(Step.of(s) for s in props.escalation_chain),
        armed_when=props.armed_when,
        kind=props.kind,
        # A man down is acknowledged by a person, whether or not he got up again.
        danger_must_ack=props.danger_must_ack or props.kind == "area",
        rules=AreaRules(
            props.fall,
            props.man_down,
            props.man_down_after_s,
            props.posture,
            props.posture_notice_after,
        ),
    )
