"""The posture tables: exposure seconds per quarter hour, and risky posture events.

Exposure is kept per quarter hour (``slot``: the wall time it starts) so that any
shift that starts on a quarter hour is summed exactly (analytics/ergonomics.py);
written by the daemon's posture book (service/posture.py) about once a minute,
read by the console's ergonomics page, deleted with the events by retention.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

SLOT_S = 900.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS posture_exposure (
    slot    REAL NOT NULL,  -- wall time of the quarter hour's start
    camera  TEXT NOT NULL,
    area    TEXT NOT NULL,
    measure TEXT NOT NULL,  -- trunk | upper_arm | knee | hands (hazard/exposure.py)
    band    TEXT NOT NULL,
    seconds REAL NOT NULL,
    PRIMARY KEY (slot, camera, area, measure, band)
);
CREATE TABLE IF NOT EXISTS posture_events (
    id     INTEGER PRIMARY KEY,
    wall   REAL    NOT NULL,
    camera TEXT    NOT NULL,
    area   TEXT    NOT NULL,
    track  INTEGER NOT NULL,
    event  TEXT    NOT NULL,  -- trunk_over_60 | arm_over_90 | knee_over_60 | hands_above_head
    value  REAL
);
CREATE INDEX IF NOT EXISTS posture_events_wall ON posture_events (wall);
"""
ADD_SECONDS = (
    "INSERT INTO posture_exposure (slot, camera, area, measure, band, seconds) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (slot, camera, area, measure, band) "
    "DO UPDATE SET seconds = seconds + excluded.seconds"
)
ADD_EVENT = (
    "INSERT INTO posture_events (wall, camera, area, track, event, value) VALUES (?, ?, ?, ?, ?, ?)"
)


def slot_of(wall: float) -> float:
    return wall - wall % SLOT_S


def write(db: sqlite3.Connection, seconds: Iterable[tuple], events: Iterable[tuple]) -> None:
    """``seconds``: (slot, camera, area, measure, band, seconds); ``events``: (wall,
    camera, area, track, event, value). Inside the caller's transaction."""
    db.executemany(ADD_SECONDS, list(seconds))
    db.executemany(ADD_EVENT, list(events))


def delete_before(db: sqlite3.Connection, wall: float) -> None:
    db.execute("DELETE FROM posture_exposure WHERE slot < ?", (slot_of(wall),))
    db.execute("DELETE FROM posture_events WHERE wall < ?", (wall,))


def read(
    db: sqlite3.Connection, since: float, until: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The exposure rows and the events between two wall times (none when no posture
    was ever recorded here)."""
    try:
        seconds = db.execute(
            "SELECT * FROM posture_exposure WHERE slot >= ? AND slot < ? ORDER BY slot",
            (slot_of(since), until),
        ).fetchall()
        events = db.execute(
            "SELECT * FROM posture_events WHERE wall >= ? AND wall < ? ORDER BY wall",
            (since, until),
        ).fetchall()
    except sqlite3.OperationalError:  # no such table: nothing measured posture here yet
        return [], []
    return [dict(r) for r in seconds], [dict(r) for r in events]
