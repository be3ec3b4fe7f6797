"""What the figures are made of, read from the state database: the events, the
alert ledger's acknowledgements, and when cameras were blind (their alarms)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from ..storage.store import Store
from .figures import Incident, incidents_of


def incidents(
    store: Store,
    since: float,
    until: float,
    cameras: Sequence[str] = (),
    zones: Sequence[str] = (),
) -> list[Incident]:
    """The hazard zones' incidents that opened in [since, until), with every event they
    had (an escalation after ``until`` still counts for an incident opened before it)."""
    sql = "SELECT * FROM events WHERE incident IN (SELECT incident FROM events WHERE "
    # Near misses are a hazard zone's; a fall or man down in an area is not one.
    sql += "event = 'opened' AND wall >= ? AND wall < ? AND (kind IS NULL OR kind = 'hazard')"
    args: list[object] = [since, until]
    for column, values in (("camera", cameras), ("zone", zones)):
        if values:
            sql += f" AND {column} IN ({', '.join('?' * len(values))})"
            args += list(values)
    sql += ") ORDER BY wall, id"
    events = [dict(r) for r in store.db.execute(sql, args)]
    return incidents_of(events, _ledger(store, {e["incident"] for e in events}, since))


def _ledger(store: Store, ids: set[str], since: float) -> dict[str, dict]:
    if not ids:
        return {}
    try:
        rows = store.db.execute(
            "SELECT * FROM incidents WHERE opened_wall >= ?", (since - 60.0,)
        ).fetchall()
    except sqlite3.OperationalError:  # a replay's database: no alert ledger
        return {}
    return {r["incident"]: dict(r) for r in rows if r["incident"] in ids}


def blind_seconds(store: Store, since: float, until: float) -> dict[str, float]:
    """Per camera, how long it was blind in [since, until): from each camera-offline
    alarm to the camera-restored one (or to ``until``). The alarm is raised after
    the camera's ``stale_after_s``, so the figure is that much short."""
    try:
        rows = store.db.execute(
            "SELECT DISTINCT camera, kind, created FROM outbox WHERE kind IN "
            "('camera_offline', 'camera_restored') AND created < ? ORDER BY created",
            (until,),
        ).fetchall()
    except sqlite3.OperationalError:
        return {}
    out: dict[str, float] = {}
    down: dict[str, float] = {}
    for camera, kind, created in rows:
        if kind == "camera_offline":
            down.setdefault(camera, created)
        elif camera in down:
            start = down.pop(camera)
            if created > since:
                out[camera] = out.get(camera, 0.0) + created - max(start, since)
    for camera, start in down.items():
        out[camera] = out.get(camera, 0.0) + until - max(start, since)
    return out
