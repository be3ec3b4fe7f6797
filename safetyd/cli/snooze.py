"""``safetyd snooze``: quiet a zone's *warnings* until a time, with a reason.
Danger is never snoozed. The running daemon reads snoozes from the database for
every alert it routes, so this acts at once."""

from __future__ import annotations

import argparse
import os
import sys
import time
from zoneinfo import ZoneInfo

from ..alerts.ledger import Ledger
from ..base.timing import stamp
from ..hazard import lifecycle
from .common import EXIT_INVALID, add_state_args, open_state


def run(args: argparse.Namespace) -> int:
    opened = open_state(args)
    if opened is None:
        return EXIT_INVALID
    loaded, store = opened
    tz = ZoneInfo(loaded.config.site.timezone)
    now = time.time()
    try:
        ledger = Ledger(store)
        if args.zone is None:
            active = ledger.snoozes(now)
            for s in active:
                print(f"{s.zone:18} until {stamp(s.until, tz):24} by {s.by}: {s.reason}")
            print(f"{len(active)} zone snooze(s) in force", file=sys.stderr)
            return 0
        if args.cancel:
            n = ledger.cancel_snoozes(args.zone, now)
            print(f"{args.zone}: {n} snooze(s) ended; its warnings alert again")
            return 0
        if args.until is None:
            print("give --until (14:30, 45m, 2h) and --reason, or --cancel", file=sys.stderr)
            return EXIT_INVALID
        zones = {z.id for cam in loaded.zones.values() for z in cam}
        try:
            until = lifecycle.parse_until(args.until, now, tz)
            snooze = lifecycle.request_snooze(
                args.zone, zones, until, args.reason or "", args.by, now, level=args.level
            )
        except lifecycle.SnoozeRefused as exc:
            print(f"{args.zone}: not snoozed: {exc}", file=sys.stderr)
            return EXIT_INVALID
        ledger.add_snooze(snooze)
        print(
            f"{args.zone}: warnings snoozed until {stamp(until, tz)} ({args.reason}); "
            "danger still alerts"
        )
        return 0
    finally:
        store.close()


def add_parser(sub) -> None:
    p = sub.add_parser(
        "snooze",
        help="snooze a zone's warnings until a time (never danger)",
        description=(
            "Quiet a zone's warning SMS until a time, with a reason (maintenance next to it). "
            "Danger is never snoozed: it always alerts. A snooze ends by itself (at most "
            f"{lifecycle.MAX_SNOOZE_S / 3600:g} h); the status page lists those in force. "
            "Without a zone, list them. Run it as the service user (sudo -u safetyd)."
        ),
    )
    p.add_argument("zone", nargs="?", help="zone id")
    p.add_argument("--until", help="when it ends: 14:30 (site time), 45m, 2h or an ISO time")
    p.add_argument("--reason", help="why (shown on the status page and in the log)")
    p.add_argument(
        "--by",
        default=os.environ.get("SUDO_USER") or os.environ.get("USER") or "cli",
        help="who snoozes (default: the user)",
    )
    p.add_argument(
        "--level",
        default="warning",
        choices=["warning", "danger"],
        help="only warning can be snoozed; danger is refused, loudly",
    )
    p.add_argument("--cancel", action="store_true", help="end the zone's snoozes now")
    add_state_args(p)
    p.set_defaults(func=run)
