"""The ``safetyd`` command line.

Exit codes: 0 success, 1 invalid input or a failed operation (explained on
stderr), 2 usage error (argparse), 3 the machine lacks a system library.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .problems import InvalidConfig, Problem

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_SYSTEM = 0, 1, 2, 3


def _print_problems(problems: Sequence[Problem], stream=None) -> None:
    stream = stream or sys.stderr
    for p in problems:
        print(str(p), file=stream)


def _summary(problems: Sequence[Problem]) -> str:
    n_err = sum(p.severity == "error" for p in problems)
    n_warn = len(problems) - n_err
    return f"{n_err} error(s), {n_warn} warning(s)"


# ---------------------------------------------------------------------------
# check-config


def cmd_check_config(args: argparse.Namespace) -> int:
    from . import config as cfg

    loaded = cfg.load(args.config)  # InvalidConfig is explained by main()
    _print_problems(loaded.warnings)
    n_zones = sum(len(z) for z in loaded.zones.values())
    cams = loaded.config.cameras
    print(
        f"{args.config}: OK: {len(cams)} camera(s), {n_zones} zone(s)"
        + (f", {len(loaded.warnings)} warning(s)" if loaded.warnings else "")
    )
    if args.verbose:
        for cam in cams:
            zones = loaded.zones.get(cam.id, ())
            print(f"  camera {cam.id}: {cam.source}")
            for z in zones:
                print(
                    f"    zone {z.id} ({z.name}) {z.units}, body parts {','.join(z.body_parts)}, "
                    f"warn {z.warn_distance:g} / {z.warn_ttc_s:g}s, "
                    f"schedule {'; '.join(z.schedule.text)}{'' if z.enabled else ', DISABLED'}"
                )
    return EXIT_OK


# ---------------------------------------------------------------------------
# zones


def _zone_context(config_path: Path | None):
    from . import config as cfg
    from .zones import ZoneContext

    if config_path is None:
        return ZoneContext(), None
    parsed, problems = cfg.parse_config(config_path)
    if parsed is None:
        raise InvalidConfig(problems, str(config_path))
    return ZoneContext.from_config(parsed), parsed


def cmd_zones_check(args: argparse.Namespace) -> int:
    from .zones import parse_zone_file

    context, _ = _zone_context(args.config)
    status = EXIT_OK
    for path in args.files:
        parsed = parse_zone_file(Path(path), context)
        _print_problems(parsed.problems)
        if any(p.severity == "error" for p in parsed.problems):
            print(f"{path}: invalid: {_summary(parsed.problems)}", file=sys.stderr)
            status = EXIT_INVALID
        else:
            print(f"{path}: OK: {len(parsed.zones)} zone(s)")
    if args.config is None:
        print("(camera and recipient names not checked: pass --config to check them)")
    return status


def cmd_zones_render(args: argparse.Namespace) -> int:
    import cv2

    from .calibration import FloorMap
    from .render import draw_regions, draw_zones
    from .zones import parse_zone_file

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
            floor_map = FloorMap.from_points(
                cam.calibration.image_points, cam.calibration.floor_points
            )
    zones = []
    for path in args.zones:
        parsed = parse_zone_file(Path(path), context)
        _print_problems(parsed.problems)
        if any(p.severity == "error" for p in parsed.problems):
            print(f"{path}: invalid: {_summary(parsed.problems)}", file=sys.stderr)
            return EXIT_INVALID
        zones.extend(parsed.zones)
    if any(z.units == "metres" for z in zones) and floor_map is None:
        print(
            "zones in metres need the camera's calibration: pass --config PATH --camera ID",
            file=sys.stderr,
        )
        return EXIT_INVALID
    # The regions the model would look at with every zone armed, before the camera has
    # learned how big people are (or with its calibration's sizes).
    from .vision import regions as regionplan
    from .vision.sizes import Heights

    h, w = image.shape[:2]
    plan = regionplan.plan(zones, {z.id for z in zones}, (w, h), Heights(floor_map), floor_map)
    boxes = [r.box for r in plan.regions]
    draw_regions(image, boxes, "region")
    draw_zones(image, zones, floor_map)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(args.out), image):
        print(f"{args.out}: cannot write the image", file=sys.stderr)
        return EXIT_INVALID
    where = "the whole frame" if plan.full_frame else f"{len(boxes)} region(s)"
    print(f"{args.out}: drew {len(zones)} zone(s); the pose model looks at {where}")
    return EXIT_OK


def cmd_zones_schema(args: argparse.Namespace) -> int:
    from .zones import zone_schema

    print(json.dumps(zone_schema(), indent=2))
    return EXIT_OK


# ---------------------------------------------------------------------------
# parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="safetyd",
        description=(
            "Factory safety daemon: finds people in camera frames, checks their feet, hands "
            "and heads against hazard zones, and alerts before contact."
        ),
        epilog="Run 'safetyd COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"safetyd {__version__}")

    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "check-config",
        help="validate safetyd.toml and every zone file it names",
        description=(
            "Validate a configuration file and all zone files it lists, reporting every "
            "problem with its file, key path and what is expected. Opens no camera. "
            "Exit 0 valid (warnings allowed), 1 invalid, 2 usage error."
        ),
    )
    p.add_argument("config", type=Path, metavar="PATH", help="path to safetyd.toml")
    p.add_argument("-v", "--verbose", action="store_true", help="list cameras and zones")
    p.set_defaults(func=cmd_check_config)

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

    from . import daemon, events_cmd, replay
    from .alerts import probe

    daemon.add_parser(sub)
    replay.add_parser(sub)
    events_cmd.add_parser(sub)
    probe.add_parser(sub)
    for leaf in _leaves(parser):
        leaf.add_argument(
            "--log-level",
            choices=["debug", "info", "warning", "error"],
            help="log verbosity (default: info for 'run', warning for the other commands)",
        )
    return parser


def _leaves(parser: argparse.ArgumentParser):
    """Every command parser that has no subcommands of its own."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield parser
    for action in subs:
        for child in dict.fromkeys(action.choices.values()):
            yield from _leaves(child)


def main(argv: Sequence[str] | None = None) -> int:
    from . import logsetup
    from .syslibs import MissingSystemLibrary, explained

    parser = build_parser()
    args = parser.parse_args(argv)
    logsetup.setup(args.log_level or getattr(args, "default_log_level", "warning"))
    try:
        with explained():
            return int(args.func(args))
    except InvalidConfig as exc:
        # Every command that reads a configuration explains a bad one the same way.
        _print_problems(exc.problems)
        print(
            f"{exc.source or 'configuration'}: invalid: {_summary(exc.problems)}", file=sys.stderr
        )
        return EXIT_INVALID
    except MissingSystemLibrary as exc:
        print(f"safetyd: {exc}", file=sys.stderr)
        return EXIT_SYSTEM
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
