"""``safetyd ack``: acknowledge an incident ("I'm on it"), which stops its
escalation chain. The running daemon sees it at its next lifecycle tick."""

from __future__ import annotations

import argparse
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
    try:
        ledger = Ledger(store)
        now = time.time()
        if args.code is None:
            # What may be acknowledged: the one window of every way in (lifecycle.py).
            recent = ledger.recent(now - lifecycle.ACK_WINDOW_S)
            waiting = [i for i in recent if i.needs_answer]
            for i in waiting:
                print(f"{i.code}  {stamp(i.opened_wall, tz):24}  {i.camera}/{i.zone}  {i.level}")
            print(f"{len(waiting)} incident(s) waiting for an answer", file=sys.stderr)
            return 0
        decision = ledger.acknowledge_named(args.code, args.by, "cli", now)
        print(decision.answer, file=sys.stdout if decision.ok else sys.stderr)
        return 0 if decision.ok else EXIT_INVALID
    finally:
        store.close()


def add_parser(sub) -> None:
    p = sub.add_parser(
        "ack",
        help="acknowledge an incident (stops its escalation chain)",
        description=(
            "Acknowledge an incident by the code its alert SMS carries: its escalation chain "
            "stops, and the acknowledgement is recorded with the incident's events. Without a "
            "code, list the incidents waiting for an answer. Run it as the service user "
            "(sudo -u safetyd), so the database stays the daemon's."
        ),
    )
    p.add_argument("code", nargs="?", help="the incident's code (4 characters, e.g. 3FA2)")
    p.add_argument("--by", default="cli", help="who acknowledges (recorded; default: cli)")
    add_state_args(p)
    p.set_defaults(func=run)
