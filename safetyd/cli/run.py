"""``safetyd run``: the daemon, as systemd starts it."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..service import logsetup, memory
from ..service.app import App
from ..service.nativelog import NativeStderr
from .common import PRIVATE_UMASK


def run(args: argparse.Namespace) -> int:
    os.umask(PRIVATE_UMASK)
    # Before any thread starts: memory freed by one thread is reused by the next
    # (service/memory.py).
    memory.limit_arenas()
    # Before any model loads: LiteRT's per-model chatter stays out of the journal,
    # its error lines go in (service/nativelog.py).
    native = NativeStderr()
    logsetup.use_stream(native.start())
    try:
        app = App(args.config, state_dir=args.state_dir)
        app.start()  # failures unwind what had started; main() explains them
        return app.run()
    finally:
        native.stop()


def add_parser(sub) -> None:
    p = sub.add_parser(
        "run",
        help="run the safety daemon (as systemd does)",
        description=(
            "Run the daemon: watch every enabled camera, check people against armed zones, "
            "deliver alerts, serve /metrics, /healthz and a status page. SIGHUP reloads the "
            "configuration (an invalid one is refused and the old one keeps running), "
            "SIGTERM stops. Speaks sd_notify when started by systemd (Type=notify)."
        ),
    )
    p.add_argument("--config", type=Path, required=True, help="safetyd.toml")
    p.add_argument(
        "--state-dir",
        type=Path,
        help="use this state directory instead of [storage] state_dir (for trying "
        "the daemon out as a normal user)",
    )
    p.set_defaults(func=run, default_log_level="info")
