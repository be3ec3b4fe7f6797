"""Commands a box takes from its broker (pure): parse and refuse.

A command is a JSON object on the box's own command topic,
``<prefix>/<site>/<box>/cmd``::

    {"command": "ack", "incident": "3FA2", "by": "shift lead"}
    {"command": "snooze", "zone": "press-1", "until": "14:30", "reason": "die change",
     "by": "maint"}
    {"command": "status"}

``id`` (any string) is echoed in the answer on ``<…>/reply``. Anything else is
refused with a reason and changes nothing: another topic (even below the
command topic), a payload that is not a JSON object, an unknown command or
key, a missing field. What a valid command may do is the lifecycle core's
decision (safetyd/hazard/lifecycle.py): danger is never snoozed or muted.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

MAX_BYTES = 4096
FIELDS = {
    "ack": {"incident"},
    "snooze": {"zone", "until", "reason"},
    "status": set(),
}
OPTIONAL = {"id", "by", "command", "level"}


class CommandRefused(ValueError):
    """Not a command this box takes (the text says why); nothing was changed."""

    def __init__(self, message: str, request_id: str | None = None) -> None:
        super().__init__(message)
        self.request_id = request_id


@dataclass(frozen=True)
class Command:
    verb: str  # ack | snooze | status
    by: str
    request_id: str | None = None
    incident: str | None = None  # its code (4 characters) or its full id
    zone: str | None = None
    until: str | float | None = None  # "14:30", "45m", an ISO time, or epoch seconds
    reason: str = ""
    level: str = "warning"


def parse(topic: str, own_topic: str, payload: bytes) -> Command:
    if topic != own_topic:
        raise CommandRefused(f"commands are taken only on {own_topic}, not on {topic}")
    if len(payload) > MAX_BYTES:
        raise CommandRefused(f"command of {len(payload)} bytes; at most {MAX_BYTES}")
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CommandRefused(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CommandRefused('a command is a JSON object, e.g. {"command": "status"}')
    rid = data.get("id")
    request_id = str(rid)[:64] if isinstance(rid, str | int) else None
    verb = data.get("command")
    if verb not in FIELDS:
        raise CommandRefused(
            f"unknown command {verb!r}; commands: {', '.join(sorted(FIELDS))}", request_id
        )
    unknown = sorted(set(data) - FIELDS[verb] - OPTIONAL)
    if unknown:
        raise CommandRefused(f"{verb}: unknown key(s) {unknown}", request_id)
    missing = sorted(k for k in FIELDS[verb] if k not in data)
    if missing:
        raise CommandRefused(f"{verb}: missing {', '.join(missing)}", request_id)
    by = data.get("by", "mqtt")
    if not isinstance(by, str) or not by.strip() or len(by) > 64:
        raise CommandRefused("'by' is who sends it: a name of 1 to 64 characters", request_id)
    for key in ("incident", "zone", "reason", "level"):
        if key in data and not isinstance(data[key], str):
            raise CommandRefused(f"{verb}: {key} must be a string", request_id)
    until = data.get("until")
    if until is not None and not _a_time(until):
        raise CommandRefused(
            'snooze: until is a time ("14:30", "45m", an ISO time) or epoch seconds',
            request_id,
        )
    return Command(
        verb=verb,
        # Recorded as the channel and who: "mqtt:shift lead", or "mqtt" when nobody said.
        by=f"mqtt:{by.strip()}" if "by" in data else "mqtt",
        request_id=request_id,
        incident=data.get("incident"),
        zone=data.get("zone"),
        until=until,
        reason=data.get("reason", ""),
        level=data.get("level", "warning"),
    )


def _a_time(until: object) -> bool:
    """A string, or epoch seconds that are a finite number a clock can hold (JSON gives
    NaN, and integers of any length)."""
    if isinstance(until, str):
        return True
    if isinstance(until, bool) or not isinstance(until, int | float):
        return False
    try:
        return math.isfinite(float(until)) and abs(float(until)) < 1e12
    except OverflowError:
        return False
