"""``safetyd report``: the near-miss analytics as one HTML file (and the near-miss
records as CSV), for people who never open the console."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from ..assembly import load as cfg
from ..console.analytics import Query, near_miss_csv, render_report
from ..storage.store import open_store
from .common import add_state_args, state_db
from .events import parse_since


def run(args: argparse.Namespace) -> int:
    loaded = cfg.load(args.config, state_dir=Path(args.state_dir) if args.state_dir else None)
    tz = ZoneInfo(loaded.config.site.timezone)
    db = state_db(loaded, args.state_dir)
    if db is None:
        return 1
    now = time.time()
    try:
        since = parse_since(args.since, tz, now)
        until = parse_since(args.until, tz, now) if args.until else now
    except ValueError as exc:
        print(str(exc).replace("--since", "--since/--until"), file=sys.stderr)
        return 2
    if until <= since:
        print(f"--until ({args.until}) is not after --since ({args.since})", file=sys.stderr)
        return 2
    query = Query(since, until, tuple(args.camera or ()), tuple(args.zone or ()))
    store = open_store(db)
    try:
        html = render_report(store, loaded, query)
        if args.near_misses:
            from ..analytics import read

            rows = read.incidents(store, since, until, query.cameras, query.zones)
            Path(args.near_misses).write_text(near_miss_csv(loaded.config.site.name, rows, tz))
    finally:
        store.close()
    Path(args.out).write_text(html)
    print(f"wrote {args.out}" + (f" and {args.near_misses}" if args.near_misses else ""),
          file=sys.stderr)  # fmt: skip
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser(
        "report",
        help="write the near-miss analytics as one HTML file",
        description=(
            "Warnings and dangers per zone, camera, shift and hour of day, acknowledgement "
            "times, the time-to-contact distribution and where warnings fired, from the state "
            "directory's database, as one self-contained HTML file (opens offline). Near "
            "misses only: safetyd records no injuries."
        ),
    )
    add_state_args(p)
    p.add_argument("--since", default="7d", help="from: 7d (default), 24h, or a date/time")
    p.add_argument("--until", help="to: a date/time or 1d (ago); default now")
    p.add_argument("--camera", action="append", help="only this camera (repeatable)")
    p.add_argument("--zone", action="append", help="only this zone id (repeatable)")
    p.add_argument("--out", required=True, metavar="REPORT.html", help="the HTML file to write")
    p.add_argument(
        "--near-misses", metavar="OUT.csv", help="also write the near-miss records as CSV"
    )
    p.set_defaults(func=run)
