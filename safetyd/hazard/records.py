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
estimated, wall time, processing latency, snapshot path, for ``cleared`` the
reason, for a warning opened while its zone cools down ``folded:
"cooldown"`` (recorded and published, no SMS sent), where the deciding part was
in the picture (``part_x``, ``part_y``, pixels) and, when it was estimated, how
(``estimate``: ``bbox_bottom_centre``, ``bbox_top_centre``, ``bbox_centre``,
``bbox_corners``), the incident's ``kind`` (``hazard``; ``fall`` and ``man_down``
for a person down in an area, whose ``zone`` is the area, ``body_part``
``trunk``, ``distance`` 0 and ``ttc_s`` null) and for a man down ``still_s``, how
long he had lain still. ``overdue`` transitions (danger open too long) are alerts, not
part of the replay event stream.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Literal

from .incidents import IncidentEvent, Transition

CONTRACT_EVENTS = (IncidentEvent.OPENED, IncidentEvent.ESCALATED, IncidentEvent.CLEARED)

Kind = Literal["text", "text?", "int", "bool", "real", "real?"]
_SQL = {
    "text": "TEXT NOT NULL",
    "text?": "TEXT",
    "int": "INTEGER NOT NULL",
    "bool": "INTEGER NOT NULL",
    "real": "REAL NOT NULL",
    "real?": "REAL",
}


@dataclass(frozen=True)
class Field:
    """One fact of an incident transition: its JSON key, its column, how to read it."""

    key: str  # in the event record (JSON)
    column: str  # in the events table
    kind: Kind
    get: Callable[[Transition], Any]
    digits: int = 3  # JSON rounding of reals

    def sql_value(self, tr: Transition) -> object:
        value = self.get(tr)
        if self.kind == "bool":
            return int(bool(value))
        if self.kind == "text?":
            return value or None
        return value

    def json_value(self, tr: Transition) -> object:
        value = self.get(tr)
        if self.kind in ("real", "real?"):
            if value is None or not math.isfinite(value):
                return None
            return round(float(value), self.digits)
        if self.kind == "int":
            return int(value)
        if self.kind == "bool":
            return bool(value)
        if self.kind == "text?":
            return value or None
        return str(value)


# The one table: the record's keys in this order, the columns of the events table,
# and the row written for each transition all come from it.
FIELDS: tuple[Field, ...] = (
    Field("event", "event", "text", lambda t: t.event),
    Field("level", "level", "text", lambda t: t.level),
    Field("camera", "camera", "text", lambda t: t.camera),
    Field("zone", "zone", "text", lambda t: t.zone_id),
    Field("track", "track", "int", lambda t: t.track_id),
    Field("frame", "frame", "int", lambda t: t.frame),
    Field("t", "video_t", "real", lambda t: t.video_t),
    Field("body_part", "body_part", "text", lambda t: t.body_part),
    Field("distance", "distance", "real?", lambda t: t.distance),
    Field("ttc_s", "ttc_s", "real?", lambda t: t.ttc_s),
    Field("incident", "incident", "text", lambda t: t.incident_id),
    Field("zone_name", "zone_name", "text", lambda t: t.zone_name),
    Field("zone_file", "zone_file", "text", lambda t: t.zone_file),
    Field("zone_file_hash", "zone_file_hash", "text", lambda t: t.zone_file_hash),
    Field("severity", "severity", "text", lambda t: t.severity),
    Field("units", "units", "text", lambda t: t.units),
    Field("closing_speed", "closing_speed", "real?", lambda t: t.closing_speed),
    Field("estimated", "estimated", "bool", lambda t: t.estimated),
    Field("wall", "wall", "real", lambda t: t.wall),
    Field("latency_s", "latency_s", "real?", lambda t: t.latency_s, digits=4),
    Field("snapshot", "snapshot", "text?", lambda t: t.snapshot),
    Field("reason", "reason", "text?", lambda t: t.reason),
    Field("folded", "folded", "text?", lambda t: t.folded),
    Field("part_x", "part_x", "real?", lambda t: t.part_x, digits=1),
    Field("part_y", "part_y", "real?", lambda t: t.part_y, digits=1),
    Field("estimate", "estimate", "text?", lambda t: t.estimate),
    Field("kind", "kind", "text?", lambda t: t.kind),
    Field("still_s", "still_s", "real?", lambda t: t.still_s, digits=1),
)

EVENT_COLUMNS = tuple(f.column for f in FIELDS)
EVENTS_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS events (\n    id INTEGER PRIMARY KEY,\n"
    + "".join(f"    {f.column} {_SQL[f.kind]},\n" for f in FIELDS)
    + "    UNIQUE (incident, event)\n);\n"
    "CREATE INDEX IF NOT EXISTS events_wall ON events (wall);\n"
    "CREATE INDEX IF NOT EXISTS events_zone ON events (zone, wall);\n"
)
INSERT_EVENT = (
    f"INSERT OR IGNORE INTO events ({', '.join(EVENT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(FIELDS))})"
)


def added_columns(existing: Collection[str]) -> list[str]:
    """ALTER statements for the columns an events table made by an older safetyd
    lacks. Columns are only ever added, nullable (its rows have no value for them),
    so an older safetyd still writes a newer table."""
    return [
        f"ALTER TABLE events ADD COLUMN {f.column} {_SQL[f.kind]}"
        for f in FIELDS
        if f.column not in existing and f.kind.endswith("?")
    ]


def event_row(tr: Transition) -> tuple:
    return tuple(f.sql_value(tr) for f in FIELDS)


def event_record(tr: Transition) -> dict[str, Any]:
    return {f.key: f.json_value(tr) for f in FIELDS}


def to_json_line(tr: Transition) -> str:
    return json.dumps(event_record(tr), separators=(",", ":"))
