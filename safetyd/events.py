"""The event record: one JSON object per incident transition.

This is a contract with users' tooling (``safetyd replay --events``, the
webhook, ``safetyd events --json``); keep these keys and their meaning stable.
Required keys::

    event      "opened" | "escalated" | "cleared"
    level      "warning" | "danger" | "clear"
    camera     camera id
    zone       zone id
    track      track id (int)
    frame      frame number in the video or stream (int)
    t          seconds from the start of the video or stream (float)
    body_part  the deciding landmark, or "<group> (estimated)"
    distance   signed distance to the zone in its units (negative inside)
    ttc_s      predicted seconds to contact, or null when not approaching

Extra keys (allowed by the contract) explain the alert further: incident id,
zone name, zone file and its hash, units, closing speed, whether the part was
estimated, wall time, processing latency, snapshot path and, for ``cleared``,
the reason. ``overdue`` transitions (danger open too long) are alerts, not
part of the replay event stream.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .incidents import Transition

CONTRACT_EVENTS = ("opened", "escalated", "cleared")


def _num(value: float | None, digits: int = 3) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


def event_record(tr: Transition) -> dict[str, Any]:
    return {
        "event": tr.event,
        "level": tr.level,
        "camera": tr.camera,
        "zone": tr.zone_id,
        "track": int(tr.track_id),
        "frame": int(tr.frame),
        "t": round(float(tr.video_t), 3),
        "body_part": tr.body_part,
        "distance": _num(tr.distance),
        "ttc_s": _num(tr.ttc_s),
        "incident": tr.incident_id,
        "zone_name": tr.zone_name,
        "zone_file": tr.zone_file,
        "zone_file_hash": tr.zone_file_hash,
        "severity": tr.severity,
        "units": tr.units,
        "closing_speed": _num(tr.closing_speed),
        "estimated": tr.estimated,
        "wall": round(tr.wall, 3),
        "latency_s": _num(tr.latency_s, 4),
        "snapshot": tr.snapshot,
        "reason": tr.reason or None,
    }


def to_json_line(tr: Transition) -> str:
    return json.dumps(event_record(tr), separators=(",", ":"))
