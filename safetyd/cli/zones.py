"""``safetyd zones check|render|schema``: work with GeoJSON hazard-zone files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..base.problems import InvalidConfig, Problem, errors
from ..vision.calibration import floor_map_of
from ..zones.model import Zone
from .common import EXIT_INVALID, EXIT_OK, print_problems, summary


def _zone_context(config_path: Path | None):
    from ..assembly import load as cfg
    from ..zones.model import ZoneContext

    if config_path is None:
        return ZoneContext(), None
    parsed, problems = cfg.parse_config(config_path)
    if parsed is None:
        raise InvalidConfig(problems, str(config_path))
    return ZoneContext.from_config(parsed), parsed


def cmd_zones_check(args: argparse.Namespace) -> int:
    from ..assembly.load import resolve_path
    from ..zones.geojson import parse_zone_file
    from ..zones.load import load_zone_files

    context, config = _zone_context(args.config)
    status = EXIT_OK
    for name in args.files:
        path = Path(name)
        listed_by = [
            cam.id
            for cam in (config.cameras if config is not None else ())
            if any(resolve_path(args.config, z).resolve() == path.resolve() for z in cam.zones)
        ]
        if listed_by:
            # As the daemon loads it: against each camera that lists it (image bounds).
            loaded, problems = load_zone_files({c: [path] for c in listed_by}, context)
            count = len({z.id for zones in loaded.values() for z in zones})
        else:
            parsed = parse_zone_file(path, context)
            problems, count = list(parsed.problems), len(parsed.zones)
            problems += _drawn_on_bounds(path, parsed.zones)
        print_problems(problems)
        if errors(problems):
            print(f"{path}: invalid: {summary(problems)}", file=sys.stderr)
            status = EXIT_INVALID
        else:
            print(f"{path}: OK: {count} zone(s)")
        if config is not None and not listed_by:
            print(
                f"({path} is not listed by any camera in {args.config}: image bounds not checked)"
            )
    if args.config is None:
        print("(camera names, recipient groups and image bounds not checked: pass --config)")
    return status


def _drawn_on_bounds(path: Path, zones) -> list[Problem]:  # noqa: ANN001
    """A file no camera lists: its pixel zones against the picture they say they were
    drawn on (``drawn_on``), the only size known."""
    from ..zones.geojson import check_image_bounds, feature_label
    from ..zones.model import CameraInfo

    out = []
    for z in zones:
        if z.units != "pixels" or not z.drawn_on:
            continue
        info = CameraInfo(int(z.drawn_on[0]), int(z.drawn_on[1]), False)
        bounds = check_image_bounds(z.geometry, info, None)
        if bounds:
            severity, message = bounds
            where = f"{feature_label(z.index, z.id)}.geometry"
            out.append(Problem(str(path), where, message, severity))
    return out


def cmd_zones_render(args: argparse.Namespace) -> int:
    import cv2

    from ..zones.geojson import parse_zone_file

    context, parsed_config = _zone_context(args.config)
    image = cv2.imread(str(args.image), cv2.IMREAD_COLOR) if args.image.is_file() else None
    if image is None:
        print(f"{args.image}: cannot read it as an image (PNG or JPEG expected)", file=sys.stderr)
        return EXIT_INVALID
    floor_map = None
    if parsed_config is not None and args.camera:
        try:
            cam = parsed_config.camera(args.camera)
        except KeyError:
            print(f"--camera {args.camera!r} is not in {args.config}", file=sys.stderr)
            return EXIT_INVALID
        if cam.calibration:
            floor_map = floor_map_of(cam.calibration)
    zones: list[Zone] = []
    for path in args.zones:
        parsed = parse_zone_file(Path(path), context)
        print_problems(parsed.problems)
        if errors(parsed.problems):
            print(f"{path}: invalid: {summary(parsed.problems)}", file=sys.stderr)
            return EXIT_INVALID
        zones.extend(parsed.zones)
    # As the daemon fits them to the camera's picture (zones/fit.py): scaled when the
    # file declares the size it was drawn on, refused when the camera's configured size
    # differs from this image.
    from ..zones.fit import fit_zones

    h, w = image.shape[:2]
    cam_size = None
    if parsed_config is not None and args.camera and cam.width and cam.height:
        cam_size = (cam.width, cam.height)
    fit = fit_zones(tuple(zones), cam_size, (w, h), calibrated=floor_map is not None)
    if fit.fault:
        print(f"{args.image}: {fit.fault}; for the camera's own frame: safetyd snapshot "
              "--config PATH --camera ID FRAME.png", file=sys.stderr)  # fmt: skip
        return EXIT_INVALID
    if fit.scaled:
        print(f"note: {fit.scaled}")
    zones = list(fit.zones)
    if cam_size is None and any(z.units == "pixels" and not z.drawn_on for z in zones):
        print(
            "warning: nothing says what picture these zones were drawn on (no image_size in "
            "the file, no --camera with width/height): check that "
            f"{args.image} is the camera's frame at its size",
            file=sys.stderr,
        )
    if any(z.units == "metres" for z in zones) and floor_map is None:
        print(
            "zones in metres need the camera's calibration: pass --config PATH --camera ID",
            file=sys.stderr,
        )
        return EXIT_INVALID
    from ..drawing.render import zone_preview

    full_frame, boxes = zone_preview(image, zones, floor_map)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(args.out), image):
        print(f"{args.out}: cannot write the image", file=sys.stderr)
        return EXIT_INVALID
    where = "the whole frame" if full_frame else f"{len(boxes)} region(s)"
    print(f"{args.out}: drew {len(zones)} zone(s); the pose model looks at {where}")
    return EXIT_OK


def cmd_zones_schema(args: argparse.Namespace) -> int:
    from ..zones.model import zone_schema

    print(json.dumps(zone_schema(), indent=2))
    return EXIT_OK


def add_parser(sub) -> None:
    zones = sub.add_parser(
        "zones",
        help="check, preview or describe GeoJSON hazard-zone files",
        description="Work with GeoJSON hazard-zone files (see zones/README.md).",
    )
    zsub = zones.add_subparsers(dest="zones_command", required=True, metavar="ACTION")
    zc = zsub.add_parser(
        "check",
        help="validate zone files",
        description=(
            "Validate zone files and report every problem (file, feature, property, value, "
            "what is expected). With --config, camera ids, recipient groups and image "
            "bounds are checked too. Exit 0 valid, 1 invalid."
        ),
    )
    zc.add_argument("files", nargs="+", metavar="FILE", help="GeoJSON zone file(s)")
    zc.add_argument("--config", type=Path, help="safetyd.toml to check names against")
    zc.set_defaults(func=cmd_zones_check)

    zr = zsub.add_parser(
        "render",
        help="draw zones on a frame to see what you drew",
        description=(
            "Draw each zone (filled), its warn_distance buffer (thin yellow outline) and its "
            "label on an image, e.g. a frame grabbed from the camera."
        ),
    )
    zr.add_argument(
        "--zones",
        type=Path,
        action="append",
        required=True,
        metavar="FILE",
        help="zone file (repeat for several)",
    )
    zr.add_argument(
        "--image",
        type=Path,
        required=True,
        metavar="FRAME.png",
        help="background image (a camera frame)",
    )
    zr.add_argument(
        "--out", type=Path, required=True, metavar="PREVIEW.png", help="output image path"
    )
    zr.add_argument("--config", type=Path, help="safetyd.toml (for names and calibration)")
    zr.add_argument("--camera", help="camera id whose calibration maps zones in metres")
    zr.set_defaults(func=cmd_zones_render)

    zs = zsub.add_parser(
        "schema",
        help="print the JSON Schema of zone properties",
        description="Print the JSON Schema of a zone Feature's properties.",
    )
    zs.set_defaults(func=cmd_zones_schema)
