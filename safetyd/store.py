"""SQLite state: incident events and the alert outbox, in one WAL database.

One connection per thread (sqlite3 objects are not shared across threads);
WAL lets the delivery worker, the HTTP endpoint and the inference threads
read while another thread writes. ``synchronous=FULL`` makes a committed
alert survive a power cut as well as a crash; alerts are few, so the fsync
per commit costs nothing that matters.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .incidents import Transition

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id             INTEGER PRIMARY KEY,
    incident       TEXT    NOT NULL,
    event          TEXT    NOT NULL,
    level          TEXT    NOT NULL,
    camera         TEXT    NOT NULL,
    zone           TEXT    NOT NULL,
    zone_name      TEXT    NOT NULL,
    zone_file      TEXT    NOT NULL,
    zone_file_hash TEXT    NOT NULL,
    severity       TEXT    NOT NULL,
    units          TEXT    NOT NULL,
    track          INTEGER NOT NULL,
    body_part      TEXT    NOT NULL,
    distance       REAL,
    closing_speed  REAL,
    ttc_s          REAL,
    estimated      INTEGER NOT NULL,
    frame          INTEGER NOT NULL,
    video_t        REAL    NOT NULL,
    wall           REAL    NOT NULL,
    latency_s      REAL,
    snapshot       TEXT,
    reason         TEXT,
    UNIQUE (incident, event)
);
CREATE INDEX IF NOT EXISTS events_wall ON events (wall);
CREATE INDEX IF NOT EXISTS events_zone ON events (zone, wall);

CREATE TABLE IF NOT EXISTS outbox (
    id           INTEGER PRIMARY KEY,
    dedup_key    TEXT    NOT NULL UNIQUE,
    kind         TEXT    NOT NULL,
    sink         TEXT    NOT NULL,
    recipient    TEXT    NOT NULL,
    level        TEXT    NOT NULL,
    camera       TEXT,
    zone         TEXT,
    incident     TEXT,
    body         TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    created      REAL    NOT NULL,
    capture_mono REAL,
    next_attempt REAL    NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    status       TEXT    NOT NULL DEFAULT 'pending',
    provider_id  TEXT,
    last_error   TEXT,
    sent         REAL,
    folded_into  INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt);
"""

EVENT_COLUMNS = (
    "incident", "event", "level", "camera", "zone", "zone_name", "zone_file", "zone_file_hash",
    "severity", "units", "track", "body_part", "distance", "closing_speed", "ttc_s",
    "estimated", "frame", "video_t", "wall", "latency_s", "snapshot", "reason",
)  # fmt: skip


def _event_row(tr: Transition) -> tuple:
    return (
        tr.incident_id, tr.event, tr.level, tr.camera, tr.zone_id, tr.zone_name, tr.zone_file,
        tr.zone_file_hash, tr.severity, tr.units, tr.track_id, tr.body_part, tr.distance,
        tr.closing_speed, tr.ttc_s, int(tr.estimated), tr.frame, tr.video_t, tr.wall,
        tr.latency_s, tr.snapshot, tr.reason or None,
    )  # fmt: skip


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[sqlite3.Connection] = []
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path} was written by a newer safetyd (schema {version}); "
                "upgrade safetyd or move the database aside"
            )
        # executescript commits by itself, so the schema is its own transaction.
        self.db.executescript(
            f"BEGIN IMMEDIATE;\n{SCHEMA}\nPRAGMA user_version = {SCHEMA_VERSION};\nCOMMIT;"
        )

    @property
    def db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        db = self.db
        self._local.after = []
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            self._local.after = []
            raise
        db.execute("COMMIT")
        callbacks, self._local.after = self._local.after, []
        for callback in callbacks:
            callback()

    def after_commit(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` once the current transaction of this thread has committed
        (at once outside a transaction): other threads only see rows after that."""
        pending = getattr(self._local, "after", None)
        if pending is None or not self.db.in_transaction:
            callback()
        else:
            pending.append(callback)

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._all.clear()
        self._local = threading.local()

    # -- events -----------------------------------------------------------------

    def add_events(self, db: sqlite3.Connection, transitions: Iterable[Transition]) -> None:
        db.executemany(
            f"INSERT OR IGNORE INTO events ({', '.join(EVENT_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(EVENT_COLUMNS))})",
            [_event_row(t) for t in transitions],
        )

    def events(
        self,
        since: float | None = None,
        zone: str | None = None,
        level: str | None = None,
        camera: str | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        where, args = [], []
        for column, op, value in (
            ("wall", ">=", since),
            ("zone", "=", zone),
            ("level", "=", level),
            ("camera", "=", camera),
        ):
            if value is not None:
                where.append(f"{column} {op} ?")
                args.append(value)
        sql = "SELECT * FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY wall, id LIMIT ?"
        return [dict(r) for r in self.db.execute(sql, (*args, limit))]

    def zone_counts(self, since: float, until: float) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT camera, zone, zone_name, "
            "SUM(event = 'opened') AS incidents, "
            "SUM(event = 'escalated' OR (event = 'opened' AND level = 'danger')) AS danger "
            "FROM events WHERE wall >= ? AND wall < ? GROUP BY camera, zone ORDER BY camera, zone",
            (since, until),
        )
        return [dict(r) for r in rows]

    def delete_events_before(self, wall: float) -> Sequence[str]:
        """Delete old events; return their snapshot paths for the caller to remove."""
        with self.transaction() as db:
            snaps = [
                r[0]
                for r in db.execute(
                    "SELECT snapshot FROM events WHERE wall < ? AND snapshot IS NOT NULL", (wall,)
                )
            ]
            db.execute("DELETE FROM events WHERE wall < ?", (wall,))
            db.execute("DELETE FROM outbox WHERE created < ? AND status != 'pending'", (wall,))
        return snaps
