"""Hazard zones: GeoJSON FeatureCollections → validated ``Zone`` values.

A zone file is read whole, every problem in it is collected (never only the
first), and each problem names the file, the feature (index and id), the
member or coordinate, the bad value and what is expected. Geometry is checked
structurally first, so a typo in one coordinate is reported as such rather
than as an obscure shapely error, then for validity with
``shapely.is_valid_reason`` (which says *where* an outline crosses itself).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import shapely
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from shapely.geometry.base import BaseGeometry

from . import bodyparts
from . import schedule as schedules
from .config import ID_RE, Config
from .problems import Problem, fmt_value, suggest
from .pydantic_problems import problems_from

MAX_ZONE_FILE_BYTES = 5_000_000
Units = Literal["pixels", "metres"]
Level = Literal["warning", "danger"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Recipients(_Strict):
    """Recipient group names per alert level."""

    warning: list[str] = Field(default_factory=list, description="groups told about warnings")
    danger: list[str] = Field(default_factory=list, description="groups told about danger")
    escalation: list[str] = Field(
        default_factory=list,
        description="groups told when danger stays open longer than escalate_after_s",
    )

    def all_groups(self) -> set[str]:
        return set(self.warning) | set(self.danger) | set(self.escalation)


class ZoneProperties(_Strict):
    """The ``properties`` of one zone Feature (documented in zones/README.md)."""

    id: str | None = Field(
        None,
        pattern=ID_RE,
        description="unique zone id (letters, digits, '_', '-', '.'); may be the Feature's id",
    )
    name: str | None = Field(None, min_length=1, max_length=60, description="name used in alerts")
    camera: str | None = Field(
        None, description="camera id; default: every camera that lists this file"
    )
    severity: Literal["low", "medium", "high", "critical"] = Field(
        "high", description="how bad contact would be (reported, not used for levels)"
    )
    body_parts: list[str] = Field(
        default_factory=lambda: ["any"],
        min_length=1,
        description="feet, hands, head, torso, any, or MediaPipe landmark names",
    )
    warn_distance: float = Field(
        ge=0, description="distance from the zone that warns, in the file's units"
    )
    warn_ttc_s: float = Field(
        1.5, ge=0, le=30, description="warn when contact is predicted within this many seconds"
    )
    min_frames: int = Field(
        3, ge=1, le=100, description="consecutive frames a level must hold before it alerts"
    )
    cooldown_s: float = Field(
        60.0, ge=0, le=86400, description="quiet time for warnings after an incident clears"
    )
    escalate_after_s: float | None = Field(
        None, gt=0, description="override of alerts.escalate_after_s for this zone"
    )
    schedule: str | list[str] = Field(
        "always", description="when the zone is armed: 'always' or windows 'mon-fri 06:00-22:00'"
    )
    recipients: Recipients = Field(
        default_factory=Recipients, description="recipient group names per level"
    )
    enabled: bool = Field(True, description="false keeps the zone in the file but never arms it")

    @field_validator("body_parts")
    @classmethod
    def _parts(cls, parts: list[str]) -> list[str]:
        bad = [p for p in parts if p not in bodyparts.VALID_NAMES]
        if bad:
            hint = suggest(bad[0], bodyparts.VALID_NAMES)
            raise ValueError(
                f"unknown body part {bad[0]!r}{hint}; use a group (feet, hands, head, torso, "
                "any) or a MediaPipe landmark name such as 'left_wrist'"
            )
        return parts

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | list[str]) -> str | list[str]:
        try:
            schedules.parse(value)
        except schedules.ScheduleError as exc:
            raise ValueError(str(exc)) from None
        return value


class FileOptions(_Strict):
    """The file-level ``"safetyd"`` member."""

    units: Units = Field("pixels", description="coordinate units: image pixels or floor metres")


@dataclass(frozen=True, eq=False)
class Zone:
    id: str
    name: str
    camera: str | None
    severity: str
    body_parts: tuple[str, ...]
    landmarks: tuple[int, ...]
    fallback: bodyparts.Fallback
    warn_distance: float
    warn_ttc_s: float
    min_frames: int
    cooldown_s: float
    escalate_after_s: float | None
    schedule: schedules.Schedule
    recipients: Recipients
    enabled: bool
    geometry: BaseGeometry
    units: Units
    file: str
    file_hash: str
    index: int

    def __post_init__(self) -> None:
        # A prepared geometry makes the per-frame contains_xy calls fast.
        shapely.prepare(self.geometry)

    def recipients_for(self, level: str) -> tuple[str, ...]:
        return tuple(getattr(self.recipients, level, ()))


@dataclass(frozen=True)
class CameraInfo:
    width: int | None
    height: int | None
    calibrated: bool


@dataclass(frozen=True)
class ZoneContext:
    """What zone files are checked against; None fields are not checked."""

    cameras: Mapping[str, CameraInfo] | None = None
    groups: frozenset[str] | None = None

    @classmethod
    def from_config(cls, config: Config) -> ZoneContext:
        return cls(
            cameras={
                c.id: CameraInfo(c.width, c.height, c.calibration is not None)
                for c in config.cameras
            },
            groups=frozenset(config.alerts.groups),
        )


@dataclass(frozen=True)
class ParsedFile:
    path: str
    zones: tuple[Zone, ...]
    problems: tuple[Problem, ...]


# ---------------------------------------------------------------------------
# Reading


def _json_error_position(text: str, exc: json.JSONDecodeError) -> str:
    return f"line {exc.lineno}, column {exc.colno}"


def read_file(path: Path) -> tuple[Any, str, list[Problem]]:
    """Read and decode JSON. Returns (data, sha256 prefix, problems)."""
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
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()[:12]
    try:
        text = raw.decode("utf-8")
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

    try:
        data = json.loads(text, parse_constant=constant)
    except json.JSONDecodeError as exc:
        where = _json_error_position(text, exc)
        return None, digest, [Problem(name, where, f"not valid JSON: {exc.msg}")]
    return data, digest, []


# ---------------------------------------------------------------------------
# Geometry checks


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_position(pos: Any, where: str, out: list[tuple[str, str]]) -> bool:
    if not isinstance(pos, list) or len(pos) not in (2, 3) or not all(map(_is_number, pos)):
        out.append((where, f"{fmt_value(pos)} is not a position; expected [x, y] numbers"))
        return False
    bad = [v for v in pos if not math.isfinite(v)]
    if bad:
        out.append((where, f"{fmt_value(pos)} contains {bad[0]}; coordinates must be finite"))
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
        if not _check_polygon(coords, cwhere, out):
            return None, out
        shape = shapely.Polygon(coords[0], coords[1:])
    else:
        if not isinstance(coords, list) or not coords:
            return None, [(cwhere, "MultiPolygon has no polygons: the geometry is empty")]
        ok = all([_check_polygon(p, f"{cwhere}[{i}]", out) for i, p in enumerate(coords)])
        if not ok:
            return None, out
        shape = shapely.MultiPolygon([(p[0], p[1:]) for p in coords])
    if shape.is_empty:
        return None, [(where, "geometry is empty; a zone needs an area")]
    if not shape.is_valid:
        return None, [(where, _validity_message(shapely.is_valid_reason(shape)))]
    if shape.area <= 0:
        return None, [(where, "geometry has zero area; a zone needs an area")]
    return shape, []


# ---------------------------------------------------------------------------
# Features


def _raw_id(feature: Any) -> str | None:
    if not isinstance(feature, dict):
        return None
    props = feature.get("properties")
    raw = props.get("id") if isinstance(props, dict) else None
    raw = feature.get("id") if raw is None else raw
    return str(raw) if raw is not None else None


def _feature_label(index: int, zone_id: Any) -> str:
    return f"features[{index}]" + (f" (id {zone_id!r})" if isinstance(zone_id, str) else "")


def _check_image_bounds(shape: BaseGeometry, info: CameraInfo, camera: str) -> str | None:
    if not info.width or not info.height:
        return None
    minx, miny, maxx, maxy = shape.bounds
    w, h = info.width, info.height
    if maxx < 0 or maxy < 0 or minx > w or miny > h:
        return (
            f"the zone lies entirely outside camera {camera!r}'s {w}x{h} image "
            f"(bounds {minx:g},{miny:g} to {maxx:g},{maxy:g}); nobody can ever be seen in it"
        )
    if minx < -0.5 * w or miny < -0.5 * h or maxx > 1.5 * w or maxy > 1.5 * h:
        return (
            f"coordinates reach far outside camera {camera!r}'s {w}x{h} image "
            f"(bounds {minx:g},{miny:g} to {maxx:g},{maxy:g}); are they in pixels?"
        )
    return None


def parse_zone_file(path: Path, context: ZoneContext | None = None) -> ParsedFile:
    """Validate one zone file completely; zones are returned only when it has no errors."""
    context = context or ZoneContext()
    name = str(path)
    data, digest, problems = read_file(path)
    if data is None:
        return ParsedFile(name, (), tuple(problems))

    def add(where: str, message: str, severity: str = "error") -> None:
        problems.append(Problem(name, where, message, severity))  # type: ignore[arg-type]

    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        found = data.get("type") if isinstance(data, dict) else type(data).__name__
        add(
            "",
            f"top level is {fmt_value(found)}; expected a GeoJSON FeatureCollection "
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
        add("features", "the file has no zones", "warning")

    zones: list[Zone] = []
    seen_ids: dict[str, int] = {}
    for index, feature in enumerate(features):
        zone = _parse_feature(feature, index, options, context, digest, name, add)
        raw_id = _raw_id(feature)
        if raw_id is not None:
            if raw_id in seen_ids:
                add(
                    _feature_label(index, raw_id),
                    f"id {raw_id!r} is already used by features[{seen_ids[raw_id]}]; "
                    "zone ids must be unique",
                )
                continue
            seen_ids[raw_id] = index
        if zone is not None:
            zones.append(zone)
    if any(p.severity == "error" for p in problems):
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
    label = _feature_label(index, zone_id)
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
    ok = _check_context(raw_props, props, options, context, f"{label}.properties", add)
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
        warn_distance=props.warn_distance,
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
    )


def _check_context(
    raw: dict,
    props: ZoneProperties | None,
    options: FileOptions,
    context: ZoneContext,
    where: str,
    add,
) -> bool:
    """Checks against the configuration; they read the raw properties so that they
    still run (and report) when another property of the same zone is invalid."""
    ok = True
    camera = raw.get("camera")
    if context.cameras is not None and isinstance(camera, str) and camera not in context.cameras:
        add(
            f"{where}.camera",
            f"unknown camera {camera!r}{suggest(camera, context.cameras)}; "
            f"cameras in the configuration: {', '.join(sorted(context.cameras))}",
        )
        ok = False
    recipients = raw.get("recipients")
    if context.groups is not None and isinstance(recipients, dict):
        for level, groups in recipients.items():
            for group in groups if isinstance(groups, list) else ():
                if isinstance(group, str) and group not in context.groups:
                    add(
                        f"{where}.recipients.{level}",
                        f"unknown recipient group {group!r}{suggest(group, context.groups)}; "
                        f"groups in [alerts.groups]: {', '.join(sorted(context.groups)) or 'none'}",
                    )
                    ok = False
    parts = raw.get("body_parts")
    if options.units == "metres" and isinstance(parts, list):
        non_feet = [
            p
            for p in parts
            if p != "feet" and bodyparts.INDEX.get(p) not in bodyparts.FOOT_LANDMARKS
        ]
        if non_feet:
            add(
                f"{where}.body_parts",
                f"{non_feet[0]!r} cannot be checked in a floor-plane (metres) zone: only feet "
                "touch the floor, so only feet map to floor positions; use body_parts ['feet'] "
                "or draw this zone in pixels",
            )
            ok = False
    if props is not None and not props.recipients.all_groups():
        add(
            f"{where}.recipients",
            "no recipient groups: this zone's alerts are only logged",
            "warning",
        )
    return ok


def load_zone_files(
    files_by_camera: Mapping[str, Sequence[Path]], context: ZoneContext
) -> tuple[dict[str, tuple[Zone, ...]], list[Problem]]:
    """Load every camera's zone files; a file listed twice is parsed once."""
    parsed: dict[Path, ParsedFile] = {}
    problems: list[Problem] = []
    listed_by: dict[Path, list[str]] = {}
    for camera, files in files_by_camera.items():
        for f in files:
            listed_by.setdefault(f, []).append(camera)
    for f in listed_by:
        parsed[f] = parse_zone_file(f, context)
        problems.extend(parsed[f].problems)

    out: dict[str, tuple[Zone, ...]] = {}
    for camera, files in files_by_camera.items():
        ids: dict[str, str] = {}
        zones: list[Zone] = []
        for f in files:
            for zone in parsed[f].zones:
                if zone.camera is not None and zone.camera not in listed_by[f]:
                    problems.append(
                        Problem(
                            str(f),
                            f"{_feature_label(zone.index, zone.id)}.properties.camera",
                            f"zone is for camera {zone.camera!r} but this file is listed only "
                            f"under camera(s) {', '.join(listed_by[f])}; it would never be "
                            f"checked: list the file under camera {zone.camera!r}",
                        )
                    )
                    continue
                if zone.camera not in (None, camera):
                    continue
                if zone.id in ids:
                    problems.append(
                        Problem(
                            str(f),
                            _feature_label(zone.index, zone.id),
                            f"zone id {zone.id!r} is also defined in {ids[zone.id]} for camera "
                            f"{camera!r}; zone ids must be unique per camera",
                        )
                    )
                    continue
                ids[zone.id] = str(f)
                if context.cameras is not None and camera in context.cameras:
                    info = context.cameras[camera]
                    if zone.units == "metres" and not info.calibrated:
                        problems.append(
                            Problem(
                                str(f),
                                _feature_label(zone.index, zone.id),
                                f"zone is in metres but camera {camera!r} has no [calibration]; "
                                "add image_points/floor_points to the camera or draw in pixels",
                            )
                        )
                        continue
                    if zone.units == "pixels":
                        bounds = _check_image_bounds(zone.geometry, info, camera)
                        if bounds:
                            problems.append(
                                Problem(
                                    str(f),
                                    f"{_feature_label(zone.index, zone.id)}.geometry",
                                    bounds,
                                    "warning",
                                )
                            )
                zones.append(zone)
        out[camera] = tuple(zones)
    return out, problems


def zone_schema() -> dict[str, Any]:
    """JSON Schema of zone Feature properties (zones/zone-properties.schema.json)."""
    schema = ZoneProperties.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "safetyd zone properties"
    return schema


def iter_zones(zones: Mapping[str, Iterable[Zone]]) -> Iterable[tuple[str, Zone]]:
    for camera, items in zones.items():
        for zone in items:
            yield camera, zone
