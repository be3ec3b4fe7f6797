"""The durable outbox: every alert is a SQLite row before any network call.

Rows are inserted in the same transaction as the incident event that caused
them, keyed by a dedup key (incident, transition, sink, recipient), so a
re-run after a crash cannot enqueue an alert twice. The delivery worker marks
a row sent only after the provider accepted it: a crash between the send and
that commit re-sends it once after the restart (at-least-once, at most one
duplicate per alert).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from ..base.alerts import Alert, AlertKind, OutboxStatus
from ..storage.store import Store

LEVEL_ORDER = "CASE level WHEN 'danger' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END"


@dataclass(frozen=True)
class NewAlert:
    dedup_key: str
    kind: AlertKind
    sink: str
    recipient: str
    level: str
    body: str
    payload: str
    created: float
    camera: str | None = None
    zone: str | None = None
    incident: str | None = None
    capture_mono: float | None = None


def _alert(row: sqlite3.Row) -> Alert:
    return Alert(
        id=row["id"], kind=row["kind"], sink=row["sink"], recipient=row["recipient"],
        level=row["level"], camera=row["camera"], zone=row["zone"], incident=row["incident"],
        body=row["body"], payload=row["payload"], created=row["created"],
        attempts=row["attempts"],
    )  # fmt: skip


class Outbox:
    SCHEMA = """
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

    def __init__(self, store: Store) -> None:
        self.store = store
        store.ensure(self.SCHEMA)

    def delete_before(self, wall: float) -> int:
        """Retention: delivered, failed and folded rows older than ``wall``."""
        with self.store.transaction() as db:
            cursor = db.execute(
                "DELETE FROM outbox WHERE created < ? AND status != ?", (wall, OutboxStatus.PENDING)
            )
        return cursor.rowcount

    def add(
        self,
        db: sqlite3.Connection,
        alerts: Iterable[NewAlert],
        status: OutboxStatus = OutboxStatus.PENDING,
    ) -> int:
        """Insert inside the caller's transaction; duplicates (same key) are ignored.

        ``status="memory"`` records rows that were already handed to the in-memory
        delivery while the database could not be written: kept for the record,
        never sent from here."""
        before = db.total_changes
        db.executemany(
            "INSERT OR IGNORE INTO outbox (dedup_key, kind, sink, recipient, level, camera, zone,"
            " incident, body, payload, created, capture_mono, next_attempt, status)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    a.dedup_key,
                    a.kind,
                    a.sink,
                    a.recipient,
                    a.level,
                    a.camera,
                    a.zone,
                    a.incident,
                    a.body,
                    a.payload,
                    a.created,
                    a.capture_mono,
                    a.created,
                    status,
                )
                for a in alerts
            ],
        )
        return db.total_changes - before

    def due(self, now: float, limit: int = 50, skip: Collection[int] = ()) -> list[Alert]:
        """Pending rows whose time has come, most urgent first; ``skip``: ids the worker
        holds back in memory (accepted by the provider but not yet recorded, or rows
        whose bookkeeping failed)."""
        skip = sorted(skip)
        not_in = f" AND id NOT IN ({', '.join('?' * len(skip))})" if skip else ""
        rows = self.store.db.execute(
            f"SELECT * FROM outbox WHERE status = 'pending' AND next_attempt <= ?{not_in}"
            f" ORDER BY {LEVEL_ORDER}, created, id LIMIT ?",
            (now, *skip, limit),
        )
        return [_alert(r) for r in rows]

    def next_due(self, skip: Collection[int] = ()) -> float | None:
        skip = sorted(skip)
        not_in = f" AND id NOT IN ({', '.join('?' * len(skip))})" if skip else ""
        row = self.store.db.execute(
            f"SELECT MIN(next_attempt) FROM outbox WHERE status = 'pending'{not_in}", skip
        ).fetchone()
        return row[0]

    def shift_pending(self, step: float) -> int:
        """The wall clock stepped by ``step`` seconds: move the times of pending rows
        with it, so their ages and retry times stay what they were."""
        with self.store.transaction() as db:
            cursor = db.execute(
                "UPDATE outbox SET created = created + ?, next_attempt = next_attempt + ?"
                " WHERE status = 'pending'",
                (step, step),
            )
        return cursor.rowcount

    def pull_forward(self, sink: str, now: float) -> int:
        """``sink`` delivers again: rows of it waiting out a retry backoff are due now."""
        with self.store.transaction() as db:
            cursor = db.execute(
                "UPDATE outbox SET next_attempt = ? WHERE status = 'pending' AND sink = ?"
                " AND attempts > 0 AND next_attempt > ?",
                (now, sink, now),
            )
        return cursor.rowcount

    def still_pending(self, alert_id: int) -> bool:
        row = self.store.db.execute("SELECT status FROM outbox WHERE id = ?", (alert_id,))
        found = row.fetchone()
        return bool(found and found[0] == OutboxStatus.PENDING)

    def mark_sent(
        self,
        alert_id: int,
        provider_id: str | None,
        now: float,
        body: str | None = None,
        folded: Sequence[int] = (),
    ) -> None:
        """Record a delivery, and the warnings its summary folded in, in one commit."""
        with self.store.transaction() as db:
            db.execute(
                "UPDATE outbox SET status = 'sent', provider_id = ?, sent = ?, last_error = NULL,"
                " attempts = attempts + 1, body = COALESCE(?, body) WHERE id = ?",
                (provider_id, now, body, alert_id),
            )
            db.executemany(
                "UPDATE outbox SET status = 'folded', folded_into = ? WHERE id = ?",
                [(alert_id, o) for o in folded],
            )

    def mark_retry(self, alert_id: int, error: str, next_attempt: float) -> None:
        with self.store.transaction() as db:
            db.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt = ?"
                " WHERE id = ?",
                (error, next_attempt, alert_id),
            )

    def hold(self, alert_id: int, until: float) -> None:
        with self.store.transaction() as db:
            db.execute("UPDATE outbox SET next_attempt = ? WHERE id = ?", (until, alert_id))

    def mark_failed(
        self, alert_id: int, error: str, status: OutboxStatus = OutboxStatus.FAILED
    ) -> None:
        with self.store.transaction() as db:
            db.execute(
                "UPDATE outbox SET status = ?, last_error = ?, attempts = attempts + 1"
                " WHERE id = ?",
                (status, error, alert_id),
            )

    # -- storm-control queries ------------------------------------------------------

    def pending_warnings(self, recipient: str, zone: str | None) -> list[sqlite3.Row]:
        return list(
            self.store.db.execute(
                "SELECT id, payload FROM outbox WHERE status = 'pending' AND sink = 'sms'"
                " AND level = 'warning' AND kind = 'incident' AND recipient = ? AND zone IS ?"
                " ORDER BY created, id",
                (recipient, zone),
            )
        )

    def last_warning_sent(self, recipient: str, zone: str | None) -> float | None:
        return self.store.db.execute(
            "SELECT MAX(sent) FROM outbox WHERE status = 'sent' AND sink = 'sms'"
            " AND level = 'warning' AND recipient = ? AND zone IS ?",
            (recipient, zone),
        ).fetchone()[0]

    def warnings_sent_since(self, recipient: str, since: float) -> list[float]:
        rows = self.store.db.execute(
            "SELECT sent FROM outbox WHERE status = 'sent' AND sink = 'sms'"
            " AND level = 'warning' AND recipient = ? AND sent >= ? ORDER BY sent",
            (recipient, since),
        )
        return [r[0] for r in rows]

    # -- health ---------------------------------------------------------------------

    def depth(self, level: str | None = None) -> int:
        and_level = " AND level = ?" if level else ""
        return self.store.db.execute(
            f"SELECT COUNT(*) FROM outbox WHERE status = 'pending'{and_level}",
            (level,) if level else (),
        ).fetchone()[0]

    def oldest_pending(self, level: str | None = None) -> float | None:
        and_level = " AND level = ?" if level else ""
        return self.store.db.execute(
            f"SELECT MIN(created) FROM outbox WHERE status = 'pending'{and_level}",
            (level,) if level else (),
        ).fetchone()[0]

    def has_key_since(self, prefix: str, since: float) -> bool:
        """Whether a row whose dedup key starts with ``prefix`` was made since ``since``."""
        row = self.store.db.execute(
            "SELECT 1 FROM outbox WHERE dedup_key >= ? AND dedup_key < ? AND created >= ? LIMIT 1",
            (prefix, prefix + "\uffff", since),
        ).fetchone()
        return row is not None

    def failures_since(self, since: float) -> int:
        return self.store.db.execute(
            "SELECT COUNT(*) FROM outbox WHERE status IN ('failed', 'expired') AND created >= ?"
            " AND kind != 'delivery_failed'",
            (since,),
        ).fetchone()[0]

    def rows(self, **where: object) -> list[dict]:
        """All rows matching column = value filters (for tests and the status page)."""
        sql = "SELECT * FROM outbox"
        if where:
            sql += " WHERE " + " AND ".join(f"{k} = ?" for k in where)
        return [dict(r) for r in self.store.db.execute(sql + " ORDER BY id", tuple(where.values()))]
