"""The ``clips`` table: which incident is seen in which clip file, and where.

An incident that opened while another's clip ran is seen in that clip, at its
offset; the row's ``ended`` is NULL while the clip is being recorded. Written by
the clip writers (service/clipdisk.py), read by the console.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from .store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS clips (
    incident TEXT NOT NULL,
    camera   TEXT NOT NULL,
    path     TEXT NOT NULL,
    offset_s REAL NOT NULL,  -- where the incident opened, seconds into the clip
    started  REAL NOT NULL,  -- wall time of the clip's first frame
    ended    REAL,           -- NULL while it is being recorded
    bytes    INTEGER,
    PRIMARY KEY (incident, path)
);
CREATE INDEX IF NOT EXISTS clips_path ON clips (path);
"""
JOIN = (
    "INSERT OR REPLACE INTO clips (incident, camera, path, offset_s, started) "
    "VALUES (?, ?, ?, ?, ?)"
)
ENDED = "UPDATE clips SET ended = ?, bytes = ? WHERE path = ?"
FORGET = "DELETE FROM clips WHERE path = ?"


def clip_of(store: Store, incident: str) -> dict[str, Any] | None:
    """The incident's clip row (path, offset_s, started, ended), if it has one."""
    try:
        row = store.db.execute(
            "SELECT * FROM clips WHERE incident = ? ORDER BY started LIMIT 1", (incident,)
        ).fetchone()
    except sqlite3.OperationalError:  # no such table: nothing ever recorded a clip here
        return None
    return None if row is None else dict(row)
