"""``safetyd snapshot``: grab a camera's current frame, to draw its zones on.

Zones in pixels belong to one picture size. The frame to draw on (in any editor,
or with ``zones render``) should come from the camera itself, at the size it
streams: this command opens the camera as the daemon does (its source, its
password credential) and writes one frame.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..assembly.load import load as load_config
from ..assembly.settings import CameraSettings
from .common import EXIT_INVALID, EXIT_OK

GRAB_S = 10.0  # a stream's first decodable frame comes at its next key frame


def run(args: argparse.Namespace) -> int:
    import cv2

    from ..vision.sources import SourceError, open_capture, password_reader, redact, with_password

    loaded = load_config(args.config)
    ids = [c.id for c in loaded.config.cameras]
    if args.camera not in ids:
        print(f"--camera {args.camera!r} is not in {args.config}; cameras: {', '.join(ids)}",
              file=sys.stderr)  # fmt: skip
        return EXIT_INVALID
    run_settings = CameraSettings.of(loaded, args.camera).run
    cam = run_settings.camera
    source = run_settings.source
    try:
        password = password_reader(cam.password_credential)
        url = with_password(source, password()) if password is not None else source
        cap = open_capture(url, GRAB_S, GRAB_S, cam.width, cam.height)
    except SourceError as exc:
        print(f"camera {args.camera}: {exc}", file=sys.stderr)
        return EXIT_INVALID
    try:
        end = time.monotonic() + GRAB_S
        image = None
        while image is None and time.monotonic() < end:
            ok, frame = cap.read()
            image = frame if ok and frame is not None else None
    finally:
        cap.release()
    if image is None:
        print(f"camera {args.camera}: no frame from {redact(source)} within {GRAB_S:g} s",
              file=sys.stderr)  # fmt: skip
        return EXIT_INVALID
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(args.out), image):
        print(f"{args.out}: cannot write the image (use .png or .jpg)", file=sys.stderr)
        return EXIT_INVALID
    h, w = image.shape[:2]
    print(f"{args.out}: camera {args.camera}'s frame, {w}x{h}")
    if cam.width and cam.height and (cam.width, cam.height) != (w, h):
        print(
            f"warning: camera {args.camera} is configured as {cam.width}x{cam.height} but "
            f"streams {w}x{h}: its pixel zones would be in the wrong place; fix width/height",
            file=sys.stderr,
        )
    return EXIT_OK


def add_parser(sub) -> None:
    p = sub.add_parser(
        "snapshot",
        help="grab a camera's current frame (to draw its zones on)",
        description=(
            "Open the camera as the daemon does (its source and password credential) and "
            "write one frame, at the size it streams: the picture to draw pixel zones on "
            "and to check them with 'safetyd zones render'."
        ),
    )
    p.add_argument("out", type=Path, metavar="OUT.png", help="where to write the frame")
    p.add_argument("--config", type=Path, required=True, help="safetyd.toml")
    p.add_argument("--camera", required=True, help="camera id")
    p.set_defaults(func=run)
