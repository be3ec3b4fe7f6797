"""``safetyd test-alert``: send a test message to a group through the real path.

The message goes through an outbox, the delivery worker and the configured
sinks exactly like an incident alert. It uses its own temporary outbox, so it
can run beside the daemon without both delivering the same rows.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from ..alerts import messages
from ..alerts.service import AlertService
from ..assembly import load as cfg
from ..base.alerts import AlertKind, OutboxStatus
from ..storage.store import Store


def run(args: argparse.Namespace) -> int:
    loaded = cfg.load(args.config)  # InvalidConfig is explained by the CLI
    alerts = loaded.config.alerts
    if args.group not in alerts.groups:
        known = ", ".join(sorted(alerts.groups)) or "none"
        print(
            f"--group {args.group!r} is not in [alerts.groups] (groups: {known})", file=sys.stderr
        )
        return 1
    numbers = alerts.groups[args.group].numbers
    shown = ", ".join(messages.mask_number(n) for n in numbers) or "no numbers"
    print(
        f"test alert to group {args.group!r} ({shown}) through sink(s): "
        f"{', '.join(alerts.sinks) or 'none'}"
    )
    tz = ZoneInfo(loaded.config.site.timezone)
    with tempfile.TemporaryDirectory(prefix="safetyd-test-alert-") as tmp:
        store = Store(Path(tmp) / "outbox.db")
        service = AlertService.from_config(loaded, store, alarms=False)
        now = time.time()
        body = messages.test_text(loaded.config.site.name, args.group, now, tz)
        service.enqueue_system(
            f"test:{now}", AlertKind.TEST, "info", body, {"group": args.group}, groups=[args.group]
        )
        service.start()
        try:
            service.dispatcher.flush = True
            deadline = time.monotonic() + args.timeout
            while time.monotonic() < deadline and service.outbox.rows(status=OutboxStatus.PENDING):
                time.sleep(0.1)
        finally:
            service.stop()
        rows = service.outbox.rows()
        store.close()
    ok = True
    for row in rows:
        where = f"{row['sink']:7} {messages.mask_number(row['recipient'])}"
        if row["status"] == OutboxStatus.SENT:
            print(f"sent     {where}" + (f"  {row['provider_id']}" if row["provider_id"] else ""))
        else:
            ok = False
            print(f"{row['status']:8} {where}  {row['last_error'] or 'not attempted'}")
    if not rows:
        print("nothing to send: the group has no numbers and no sink is configured")
        ok = False
    texted = [r for r in rows if r["sink"] == "sms" and r["status"] == OutboxStatus.SENT]
    if not texted:
        # The one thing a test alert is for: loudly, on stderr, and a failure.
        if "sms" not in alerts.sinks:
            why = f"'sms' is not in [alerts] sinks ({', '.join(alerts.sinks) or 'none'})"
        elif not numbers:
            why = f"group {args.group!r} has no numbers"
        else:
            why = "every SMS failed (see above)"
        print(f"NO PHONE WAS TEXTED: {why}", file=sys.stderr)
        ok = False
    return 0 if ok else 1


def add_parser(sub) -> None:
    p = sub.add_parser(
        "test-alert",
        help="send a test alert to a recipient group",
        description=(
            "Send a test message to every number of a recipient group through the same "
            "outbox, delivery worker and sinks as real alerts, and report what each "
            "recipient's delivery did. Exit 0 when all were delivered."
        ),
    )
    p.add_argument("--config", type=Path, required=True, help="safetyd.toml")
    p.add_argument("--group", required=True, help="recipient group from [alerts.groups]")
    p.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to keep retrying (default 60)",
    )
    p.set_defaults(func=run)
