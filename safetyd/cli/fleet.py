"""``safetyd fleet --broker URL``: every safetyd box under a prefix, as one table,
from the broker's retained state (no box is asked anything).

Exit 0 when every box seen is online, 1 when one is offline (its Last Will:
the broker saw it vanish) or when no box answered, 3 when the broker cannot be
reached.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict

from pydantic import ValidationError

from ..config.mqtt import MqttSettings
from ..mqtt.fleet import FleetRow, FleetWatcher
from ..mqtt.link import MqttLink
from ..mqtt.topics import Topics
from .common import EXIT_INVALID, EXIT_OK, EXIT_SYSTEM


def table(rows: list[FleetRow], now: float) -> str:
    head = ("BOX", "STATE", "CAMERAS", "OFFLINE CAMERAS", "OPEN", "DANGER", "LAST SEEN")
    lines = [head]
    for r in rows:
        state = "online" if r.state == "online" else f"{r.state.upper()} ({r.reason or '?'})"
        if r.alarm:
            state = "ALARM " + state
        offline = ", ".join(r.cameras_offline) or "-"
        if r.not_monitored:
            offline += f" [not monitored: {', '.join(r.not_monitored)}]"
        seen = "-" if r.last_seen is None else f"{max(0.0, now - r.last_seen):.0f}s ago"
        lines.append((f"{r.site}/{r.box}", state, str(r.cameras), offline,
                      str(r.open_incidents), str(r.danger), seen))  # fmt: skip
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def run(args: argparse.Namespace) -> int:
    try:
        settings = MqttSettings(
            url=args.broker,
            prefix=args.prefix,
            username_credential=args.username_credential,
            password_credential=args.password_credential,
            ca_file=args.ca_file,
        )
    except ValidationError as exc:
        for err in exc.errors():
            print(f"safetyd fleet: {err['msg']}", file=sys.stderr)
        return EXIT_INVALID
    link = MqttLink(
        settings, Topics(settings.prefix, "-", "fleet"), will=False,
        client_id=f"safetyd-fleet-{os.getpid()}",
    )  # fmt: skip
    if link.unusable:
        print(f"safetyd fleet: {link.error}", file=sys.stderr)
        return EXIT_INVALID
    watcher = FleetWatcher(link, settings.prefix)
    link.start()
    try:
        if not link.wait_connected(args.timeout):
            print(f"safetyd fleet: cannot reach {args.broker}: {link.error}", file=sys.stderr)
            return EXIT_SYSTEM
        time.sleep(args.wait)  # the retained messages arrive right after subscribing
        while True:
            rows = watcher.rows()
            if args.json:
                print(json.dumps([asdict(r) | {"alarm": r.alarm} for r in rows]))
            else:
                print(table(rows, time.time()))
                alarms = sum(r.alarm for r in rows)
                print(f"{len(rows)} box(es), {alarms} offline", file=sys.stderr)
            if not args.watch:
                break
            sys.stdout.flush()
            time.sleep(args.watch)
    except KeyboardInterrupt:
        pass
    finally:
        link.stop()
    rows = watcher.rows()
    if not rows:
        print(f"no safetyd box under {settings.prefix}/ on this broker", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_INVALID if any(r.state != "online" for r in rows) else EXIT_OK


def add_parser(sub) -> None:
    p = sub.add_parser(
        "fleet",
        help="every safetyd box on a broker, as one table (MQTT retained state)",
        description=(
            "Subscribe to the retained state of every safetyd box under the prefix and show "
            "one table: boxes, cameras, open incidents, offline cameras, last seen. A box "
            "whose status is offline (its Last Will: the broker lost it) is an ALARM. Exit 0 "
            "all online, 1 a box offline or none found, 3 broker unreachable."
        ),
    )
    p.add_argument("--broker", required=True, help="mqtt://host:1883 or mqtts://host:8883")
    p.add_argument("--prefix", default="safetyd", help="topic prefix (default: safetyd)")
    p.add_argument("--username-credential", help="credential (or env var) with the user name")
    p.add_argument("--password-credential", help="credential (or env var) with the password")
    p.add_argument("--ca-file", help="CA certificate of an mqtts broker")
    p.add_argument("--wait", type=float, default=1.0, help="seconds to collect (default 1)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to reach the broker")
    p.add_argument("--watch", type=float, metavar="S", help="print the table every S seconds")
    p.add_argument("--json", action="store_true", help="JSON rows instead of the table")
    p.set_defaults(func=run)
