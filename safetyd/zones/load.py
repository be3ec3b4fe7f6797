"""Loading every zone file of a configuration, per camera: each file parsed and
checked against the configuration, zone ids unique per camera, every problem
reported at once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ..base.problems import Problem
from .geojson import ParsedFile, check_image_bounds, feature_label, parse_zone_file
from .model import CameraInfo, Zone, ZoneContext


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
                            f"{feature_label(zone.index, zone.id)}.properties.camera",
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
                            feature_label(zone.index, zone.id),
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
                                feature_label(zone.index, zone.id),
                                f"zone is in metres but camera {camera!r} has no [calibration]; "
                                "add image_points/floor_points to the camera or draw in pixels",
                            )
                        )
                        continue
                    if zone.units == "pixels":
                        if zone.drawn_on:  # checked on the picture it was drawn on
                            info = CameraInfo(*zone.drawn_on, info.calibrated)
                        bounds = check_image_bounds(zone.geometry, info, camera)
                        if bounds:
                            severity, message = bounds
                            where = f"{feature_label(zone.index, zone.id)}.geometry"
                            problems.append(Problem(str(f), where, message, severity))
                            if severity == "error":
                                continue
                zones.append(zone)
        out[camera] = tuple(zones)
    return out, problems
