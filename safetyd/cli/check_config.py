"""``safetyd check-config``: validate a configuration and every zone file it names."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..assembly.load import load
from ..vision.sources import redact
from .common import EXIT_OK, print_problems


def cmd_check_config(args: argparse.Namespace) -> int:
    loaded = load(args.config)  # InvalidConfig is explained by main()
    print_problems(loaded.warnings)
    n_zones = sum(len(z) for z in loaded.zones.values())
    cams = loaded.config.cameras
    print(
        f"{args.config}: OK: {len(cams)} camera(s), {n_zones} zone(s)"
        + (f", {len(loaded.warnings)} warning(s)" if loaded.warnings else "")
    )
    if loaded.config.console.enabled:
        print(f"  console users: {loaded.users_path}")
    if args.verbose:
        for cam in cams:
            zones = loaded.zones.get(cam.id, ())
            print(f"  camera {cam.id}: {redact(cam.source)}")  # never a password
            for z in zones:
                print(
                    f"    zone {z.id} ({z.name}) {z.units}, body parts {','.join(z.body_parts)}, "
                    f"warn {z.warn_distance:g} / {z.warn_ttc_s:g}s, "
                    f"schedule {'; '.join(z.schedule.text)}{'' if z.enabled else ', DISABLED'}"
                )
    return EXIT_OK


def add_parser(sub) -> None:
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
