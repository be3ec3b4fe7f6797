"""The incident history (filtered by camera, zone, level and time), its CSV export,
one incident's page (timeline, deliveries, acknowledgement) and the snapshots of
its events. Every route needs a session (the role viewer)."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from ..alerts.messages import mask_number
from ..analytics.records import record_type
from ..base.timing import stamp
from ..hazard import lifecycle
from ..storage.clips import clip_of
from . import incident as incident_page

if TYPE_CHECKING:
    from .app import Console

SQLITE_INT_MAX = 2**63 - 1


def spreadsheet_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet will not run: text that starts, after any blanks, with
    = + - @ (a formula), or with a tab or carriage return (which spreadsheets skip
    before reading a formula), gets a leading apostrophe."""
    if not isinstance(value, str) or not value:
        return value
    if value[0] in "\t\r" or value.lstrip(" \t\r\n")[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def _when(text: str | None, tz: ZoneInfo) -> float | None:
    """A history filter's date or time (site time) as wall seconds."""
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (at if at.tzinfo else at.replace(tzinfo=tz)).timestamp()


class HistoryPages:
    def __init__(self, console: Console) -> None:
        self.console = console

    def routes(self) -> list[Route]:
        return [
            Route("/history", self.history),
            Route("/history.csv", self.history_csv),
            Route("/incident/{incident}", self.incident),
            Route("/snapshot/{event_id:int}.jpg", self.snapshot),
            Route("/clip/{incident}.webm", self.clip),
        ]

    def _events(self, request: Request) -> tuple[list[dict], dict]:
        q = request.query_params
        tz = self.console.backend.alerts.tz
        filters = {k: q.get(k) or "" for k in ("camera", "zone", "level", "since", "until")}
        since = _when(filters["since"], tz)
        until = _when(filters["until"], tz)
        rows = self.console.backend.store.events(
            since=since if since is not None else time.time() - 7 * 86400,
            zone=filters["zone"] or None, camera=filters["camera"] or None, limit=5000,
        )  # fmt: skip
        if until is not None:
            rows = [r for r in rows if r["wall"] < until]
        if filters["level"]:
            # An incident matches by the highest level it reached.
            top: dict[str, str] = {}
            for r in rows:
                if r["level"] == "danger" or r["incident"] not in top:
                    top[r["incident"]] = r["level"]
            rows = [r for r in rows if top.get(r["incident"]) == filters["level"]]
        for r in rows:
            r["when"] = stamp(r["wall"], tz)
        return rows, filters

    async def history(self, request: Request) -> Response:
        s = self.console.need(request)
        rows, filters = await asyncio.to_thread(self._events, request)
        incidents: dict[str, dict] = {}
        for r in rows:
            inc = incidents.setdefault(r["incident"], {
                "incident": r["incident"], "code": lifecycle.code_of(r["incident"]),
                "camera": r["camera"], "zone": r["zone"], "zone_name": r["zone_name"],
                "level": r["level"], "opened": r["when"], "events": []})  # fmt: skip
            if r["level"] == "danger":
                inc["level"] = "danger"
            inc["events"].append(r["event"])
        loaded = self.console.backend.loaded()
        zones = sorted({z.id for zs in loaded.zones.values() for z in zs})
        cameras = [c.id for c in loaded.config.cameras]
        return self.console.page(
            request, "history.html", s, incidents=list(incidents.values())[::-1],
            filters=filters, zones=zones, cameras=cameras, query=request.url.query,
        )  # fmt: skip

    async def history_csv(self, request: Request) -> Response:
        self.console.need(request)
        rows, _ = await asyncio.to_thread(self._events, request)
        out = io.StringIO()
        columns = ["when", "incident", "event", "level", "camera", "zone", "zone_name",
                   "body_part", "estimate", "distance", "ttc_s", "reason", "folded"]  # fmt: skip
        writer = csv.writer(out)
        # Last, so that tools reading the columns by position go on working.
        writer.writerow([*columns, "record_type"])
        for r in rows:
            writer.writerow([*(spreadsheet_cell(r.get(c)) for c in columns),
                             record_type(r.get("kind"))])  # fmt: skip
        return Response(out.getvalue(), media_type="text/csv", headers={
            "Content-Disposition": 'attachment; filename="safetyd-incidents.csv"'})  # fmt: skip

    async def incident(self, request: Request) -> Response:
        s = self.console.need(request)
        incident = request.path_params["incident"]

        def read() -> tuple[list[dict], list[dict], Any, dict | None]:
            events = [
                dict(r)
                for r in self.console.backend.store.db.execute(
                    "SELECT * FROM events WHERE incident = ? ORDER BY wall, id", (incident,)
                )
            ]
            deliveries = self.console.backend.alerts.outbox.rows(incident=incident)
            tracked = next((i for i in self.console.backend.alerts.ledger.recent(0)
                            if i.incident == incident), None)  # fmt: skip
            return events, deliveries, tracked, clip_of(self.console.backend.store, incident)

        events, deliveries, tracked, clip = await asyncio.to_thread(read)
        if not events:
            return PlainTextResponse("no such incident", 404)
        tz = self.console.backend.alerts.tz
        timeline = incident_page.timeline(events, tracked, tz)
        sent = [{"sink": d["sink"], "to": mask_number(d["recipient"]), "status": d["status"],
                 "attempts": d["attempts"], "when": stamp(d["sent"] or d["created"], tz),
                 "error": d["last_error"] or "", "body": d["body"]}
                for d in deliveries]  # fmt: skip
        return self.console.page(request, "incident.html", s, incident=incident,
                                 code=lifecycle.code_of(incident), first=events[0],
                                 timeline=timeline, deliveries=sent, tracked=tracked,
                                 clip=clip)  # fmt: skip

    async def snapshot(self, request: Request) -> Response:
        self.console.need(request)
        event_id = request.path_params["event_id"]
        if event_id > SQLITE_INT_MAX:  # no such row; SQLite cannot even take the number
            return PlainTextResponse("no snapshot", 404)
        row = self.console.backend.store.db.execute(
            "SELECT snapshot FROM events WHERE id = ?", (event_id,)).fetchone()  # fmt: skip
        if row is None or not row[0]:
            return PlainTextResponse("no snapshot", 404)
        path = Path(row[0])
        snapshots = (self.console.backend.loaded().state_dir / "snapshots").resolve()
        if not path.resolve().is_relative_to(snapshots) or not path.is_file():
            return PlainTextResponse("no snapshot", 404)
        return Response(path.read_bytes(), media_type="image/jpeg")

    async def clip(self, request: Request) -> Response:
        """The incident's clip, served with byte ranges (a browser seeks in it)."""
        self.console.need(request)
        incident = request.path_params["incident"]
        row = await asyncio.to_thread(clip_of, self.console.backend.store, incident)
        if row is None or row["ended"] is None:
            return PlainTextResponse("no clip", 404)
        path = Path(row["path"])
        clips = (self.console.backend.loaded().state_dir / "clips").resolve()
        if not path.resolve().is_relative_to(clips) or not path.is_file():
            return PlainTextResponse("no clip (deleted by retention?)", 404)
        return FileResponse(path, media_type="video/webm")

    # -- acting -------------------------------------------------------------------------
