"""The lifecycle's memory in SQLite: incidents and their acknowledgement, the
escalation steps sent, snoozes, and the SMS replies already read.

It lives in the daemon's database so that everything survives a restart (a
chain resumes where it stopped), and so that ``safetyd ack`` and ``safetyd
snooze`` can act on a running daemon by writing here: the daemon reads these
rows at every lifecycle tick and every alert it routes. The rules are in
safetyd/hazard/lifecycle.py; this module only reads and writes rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence

from ..hazard.incidents import IncidentEvent, Transition
from ..hazard.lifecycle import ACK_WINDOW_S, AckDecision, Snooze, Tracked, acknowledge_named
from ..hazard.records import EVENT_COLUMNS
from ..storage.store import Store

# "acknowledged" rows in the events table copy the incident's latest event (its
# zone, track, place) with their own event name, time and who/how in ``reason``.
_COPIED = ", ".join({"event": "?", "wall": "?", "reason": "?"}.get(c, c) for c in EVENT_COLUMNS)
_ACK_EVENT = (
    f"INSERT OR IGNORE INTO events ({', '.join(EVENT_COLUMNS)}) "
    f"SELECT {_COPIED} FROM events WHERE incident = ? ORDER BY id DESC LIMIT 1"
)
_WAITING = "acked_wall IS NULL AND (cleared_wall IS NULL OR (must_ack AND danger_wall IS NOT NULL))"


def _tracked(row: sqlite3.Row) -> Tracked:
    return Tracked(
        incident=row["incident"], camera=row["camera"], zone=row["zone"],
        zone_name=row["zone_name"], level=row["level"], opened_wall=row["opened_wall"],
        danger_wall=row["danger_wall"], cleared_wall=row["cleared_wall"],
        must_ack=bool(row["must_ack"]), steps_fired=row["steps_fired"],
        acked_wall=row["acked_wall"], acked_by=row["acked_by"],
        acked_channel=row["acked_channel"], kind=row["kind"] or "hazard",
    )  # fmt: skip


def _snooze(row: sqlite3.Row) -> Snooze:
    return Snooze(row["zone"], row["until"], row["reason"], row["by"], row["created"], id=row["id"])


class Ledger:
    SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (
    incident      TEXT PRIMARY KEY,
    camera        TEXT    NOT NULL,
    zone          TEXT    NOT NULL,
    zone_name     TEXT    NOT NULL,
    level         TEXT    NOT NULL,
    opened_wall   REAL    NOT NULL,
    danger_wall   REAL,
    cleared_wall  REAL,
    must_ack      INTEGER NOT NULL DEFAULT 0,
    steps_fired   INTEGER NOT NULL DEFAULT 0,
    acked_wall    REAL,
    acked_by      TEXT,
    acked_channel TEXT,
    kind          TEXT  -- fall | man_down (hazard/body.py); NULL: a hazard zone's
);
CREATE INDEX IF NOT EXISTS incidents_waiting ON incidents (acked_wall, cleared_wall);
CREATE TABLE IF NOT EXISTS snoozes (
    id      INTEGER PRIMARY KEY,
    zone    TEXT NOT NULL,
    until   REAL NOT NULL,
    reason  TEXT NOT NULL,
    by      TEXT NOT NULL,
    created REAL NOT NULL,
    ended   REAL
);
CREATE TABLE IF NOT EXISTS replies (
    sid     TEXT PRIMARY KEY,
    sender  TEXT NOT NULL,
    body    TEXT NOT NULL,
    wall    REAL NOT NULL,
    outcome TEXT NOT NULL
);
"""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.ensure(self.SCHEMA)
        columns = {r[1] for r in store.db.execute("PRAGMA table_info(incidents)")}
        if "kind" not in columns:  # a ledger an older safetyd made
            with store.transaction() as db:
                db.execute("ALTER TABLE incidents ADD COLUMN kind TEXT")

    # -- incidents ---------------------------------------------------------------------

    def track(
        self,
        db: sqlite3.Connection,
        transitions: Iterable[Transition],
        must_ack: Callable[[str], bool],
    ) -> None:
        """Follow the incidents' transitions (inside the caller's transaction).
        ``must_ack(zone_id)``: the zone's danger_must_ack."""
        for tr in transitions:
            if tr.event == IncidentEvent.OPENED:
                danger = tr.wall if tr.level == "danger" else None
                db.execute(
                    "INSERT OR IGNORE INTO incidents (incident, camera, zone, zone_name, level, "
                    "opened_wall, danger_wall, must_ack, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (tr.incident_id, tr.camera, tr.zone_id, tr.zone_name, tr.level,
                     tr.opened_wall, danger, int(must_ack(tr.zone_id)),
                     None if tr.kind == "hazard" else tr.kind),
                )  # fmt: skip
            elif tr.event == IncidentEvent.ESCALATED:
                db.execute(
                    "UPDATE incidents SET level = 'danger', danger_wall = COALESCE(danger_wall, ?) "
                    "WHERE incident = ?",
                    (tr.wall, tr.incident_id),
                )
            elif tr.event == IncidentEvent.CLEARED:
                db.execute(
                    "UPDATE incidents SET level = 'clear', cleared_wall = ? WHERE incident = ?",
                    (tr.wall, tr.incident_id),
                )

    def waiting(self) -> list[Tracked]:
        """Incidents that still need an answer, oldest first."""
        rows = self.store.db.execute(
            f"SELECT * FROM incidents WHERE {_WAITING} ORDER BY opened_wall"
        )
        return [_tracked(r) for r in rows]

    def recent(self, since: float) -> list[Tracked]:
        """Every incident opened since ``since``, newest first (for the CLI and codes)."""
        rows = self.store.db.execute(
            "SELECT * FROM incidents WHERE opened_wall >= ? OR "
            f"({_WAITING}) ORDER BY opened_wall DESC",
            (since,),
        )
        return [_tracked(r) for r in rows]

    def alerted(self, number: str, since: float, before: float | None = None) -> list[Tracked]:
        """Incidents opened since ``since`` that this number was texted about, newest
        first; with ``before``, only those whose text to it went out (accepted by the
        provider: sent, sent from memory, or inside a summary that was sent) before
        that time."""
        args: tuple[float | str, ...] = (since, number)
        sent = ""
        if before is not None:
            sent = (
                " AND COALESCE(o.sent, (SELECT s.sent FROM outbox s WHERE s.id = o.folded_into),"
                " CASE WHEN o.status = 'memory' THEN o.created END) < ?"
            )
            args += (before,)
        rows = self.store.db.execute(
            "SELECT i.* FROM incidents i WHERE i.opened_wall >= ? AND EXISTS (SELECT 1 FROM "
            f"outbox o WHERE o.incident = i.incident AND o.sink = 'sms' AND o.recipient = ?{sent})"
            " ORDER BY i.opened_wall DESC",
            args,
        )
        return [_tracked(r) for r in rows]

    def fired(self, db: sqlite3.Connection, incident: str, steps: int) -> None:
        db.execute(
            "UPDATE incidents SET steps_fired = MAX(steps_fired, ?) WHERE incident = ?",
            (steps, incident),
        )

    def acknowledge(self, incident: str, by: str, channel: str, wall: float) -> bool:
        """Record the first acknowledgement (False: it was acknowledged already), with
        an ``acknowledged`` event beside the incident's others."""
        with self.store.transaction() as db:
            changed = db.execute(
                "UPDATE incidents SET acked_wall = ?, acked_by = ?, acked_channel = ? "
                "WHERE incident = ? AND acked_wall IS NULL",
                (wall, by, channel, incident),
            ).rowcount
            if changed:
                db.execute(_ACK_EVENT, ("acknowledged", wall, f"by {by} via {channel}", incident))
        return bool(changed)

    def acknowledge_named(self, wanted: str, by: str, channel: str, wall: float) -> AckDecision:
        """Acknowledge the incident named by its code or id (lifecycle.acknowledge_named),
        among those of the one window, and record it: every way in but the SMS reply."""
        decision = acknowledge_named(self.recent(wall - ACK_WINDOW_S), wanted)
        if decision.incident is not None:
            self.acknowledge(decision.incident, by, channel, wall)
        return decision

    def acknowledged_since(self, since: float) -> list[Tracked]:
        rows = self.store.db.execute(
            "SELECT * FROM incidents WHERE acked_wall >= ? ORDER BY acked_wall", (since,)
        )
        return [_tracked(r) for r in rows]

    # -- snoozes --------------------------------------------------------------------------

    def add_snooze(self, s: Snooze) -> int:
        with self.store.transaction() as db:
            cur = db.execute(
                "INSERT INTO snoozes (zone, until, reason, by, created) VALUES (?, ?, ?, ?, ?)",
                (s.zone, s.until, s.reason, s.by, s.created),
            )
        return int(cur.lastrowid or 0)

    def cancel_snoozes(self, zone: str, wall: float) -> int:
        """End a zone's snoozes now (``safetyd snooze ZONE --cancel``); the daemon
        reports them ended at its next tick, as it does snoozes that ran out."""
        with self.store.transaction() as db:
            return db.execute(
                "UPDATE snoozes SET until = ? WHERE zone = ? AND ended IS NULL AND until > ?",
                (wall, zone, wall),
            ).rowcount

    def snoozes(self, now: float, db: sqlite3.Connection | None = None) -> list[Snooze]:
        """Snoozes in force at ``now``."""
        rows = (db or self.store.db).execute(
            "SELECT * FROM snoozes WHERE created <= ? AND until > ? ORDER BY until", (now, now)
        )
        return [_snooze(r) for r in rows]

    def ended_snoozes(self, now: float) -> list[Snooze]:
        """Snoozes run out (or cancelled) and not yet reported: ``end`` them once said."""
        rows = self.store.db.execute(
            "SELECT * FROM snoozes WHERE until <= ? AND ended IS NULL ORDER BY until", (now,)
        )
        return [_snooze(r) for r in rows]

    def end(self, ids: Sequence[int], wall: float) -> None:
        with self.store.transaction() as db:
            db.executemany(
                "UPDATE snoozes SET ended = ? WHERE id = ? AND ended IS NULL",
                [(wall, i) for i in ids],
            )

    # -- replies ------------------------------------------------------------------------

    def replied(self, sid: str) -> bool:
        row = self.store.db.execute("SELECT 1 FROM replies WHERE sid = ?", (sid,)).fetchone()
        return row is not None

    def record_reply(self, sid: str, sender: str, body: str, wall: float, outcome: str) -> None:
        with self.store.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO replies (sid, sender, body, wall, outcome) "
                "VALUES (?, ?, ?, ?, ?)",
                (sid, sender, body, wall, outcome),
            )
