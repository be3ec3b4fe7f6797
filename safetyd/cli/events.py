"""``safetyd events``: list stored incident events."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from ..alerts.messages import mask_numbers
from ..assembly import load as cfg
from ..base.timing import stamp
from ..storage.store import open_store
from .common import add_state_args, state_db

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str, tz: ZoneInfo, now: float) -> float:
    """'30m', '2h', '7d' ago, or an ISO date/time (site time zone when naive)."""
    match = _RELATIVE.match(text.strip())
    if match:
        return now - float(match[1]) * _UNITS[match[2]]
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"--since {text!r} not understood; use e.g. 30m, 2h, 7d or 2026-11-26T06:00"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    return when.timestamp()


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _note(row: dict) -> str:
    """The snapshot, or for an acknowledgement who gave it (numbers masked)."""
    if row["event"] == "acknowledged":
        return mask_numbers(row["reason"] or "")
    return row["snapshot"] or ""


def run(args: argparse.Namespace) -> int:
    loaded = cfg.load(args.config)  # InvalidConfig is explained by the CLI
    tz = ZoneInfo(loaded.config.site.timezone)
    db = state_db(loaded, args.state_dir)
    if db is None:
        return 1
    try:
        since = parse_since(args.since, tz, time.time()) if args.since else None
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    store = open_store(db)
    try:
        rows = store.events(
            since=since, zone=args.zone, level=args.level, camera=args.camera, limit=args.limit
        )
    finally:
        store.close()
    if args.json:
        for row in rows:
            print(json.dumps(row, separators=(",", ":")))
        return 0
    header = (
        f"{'time':24}  {'camera':12} {'zone':18} {'event':12} {'level':7} {'track':>5} "
        f"{'body part':18} {'dist':>7} {'ttc s':>6}  snapshot / note"
    )
    print(header)
    for r in rows:
        when = stamp(r["wall"], tz)
        print(
            f"{when:24}  {r['camera'][:12]:12} {r['zone'][:18]:18} {r['event']:12} "
            f"{r['level']:7} {r['track']:>5} {r['body_part'][:18]:18} "
            f"{_fmt(r['distance'], '7.2f')} {_fmt(r['ttc_s'], '6.2f')}  {_note(r)}"
        )
    print(f"{len(rows)} event(s)", file=sys.stderr)
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser(
        "events",
        help="list stored incident events",
        description=(
            "List incident events (opened, escalated, cleared, acknowledged) stored in the state "
            "directory's SQLite database, oldest first, times in the site's time zone."
        ),
    )
    add_state_args(p)
    p.add_argument("--since", help="only events since: 30m, 2h, 7d, or a date/time")
    p.add_argument("--zone", help="only this zone id")
    p.add_argument("--camera", help="only this camera id")
    p.add_argument("--level", choices=["warning", "danger", "clear"], help="only this level")
    p.add_argument("--limit", type=int, default=1000, help="at most this many (default 1000)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=run)
