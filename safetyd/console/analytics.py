"""The near-miss analytics page (filters, figures, charts, where warnings fired), the
near-miss CSV, and the same page as one self-contained HTML file for ``safetyd
report`` (its script, styles and pictures inlined: it opens anywhere, offline).

Charts are drawn in the browser by Chart.js (MIT), vendored in static/ (no CDN);
the figures themselves are computed here (analytics/figures.py) and shown as
tables too, so the report reads without JavaScript.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ..analytics import heat, read
from ..analytics.figures import Figures, Incident, compute, shift_starts
from ..analytics.records import COLUMNS, near_miss_rows
from ..base.timing import stamp
from ..vision.calibration import floor_map_of
from .history import spreadsheet_cell

if TYPE_CHECKING:
    from .app import Console

HERE = Path(__file__).parent
DAY = 86400.0
MAX_DAYS = 366


@dataclass(frozen=True)
class Query:
    since: float
    until: float
    cameras: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()

    def params(self) -> str:
        """The query as URL parameters (the pictures follow the page's filters)."""
        from urllib.parse import urlencode

        pairs = [("since", f"{self.since:.0f}"), ("until", f"{self.until:.0f}")]
        pairs += [("camera", c) for c in self.cameras] + [("zone", z) for z in self.zones]
        return urlencode(pairs)


def parse_query(q: Any, tz: ZoneInfo, now: float | None = None) -> Query:
    """``days`` (default 7) back from now, or ``since``/``until`` as site-time dates or
    times (or epoch seconds); ``camera``/``zone`` repeatable. Bad values fall back
    to the defaults rather than fail (it is a filter form)."""
    now = time.time() if now is None else now
    until = _when(q.get("until"), tz) or now
    try:
        days = min(max(float(q.get("days") or 7), 1 / 24), MAX_DAYS)
    except ValueError:
        days = 7.0
    since = _when(q.get("since"), tz) or until - days * DAY
    since = max(since, until - MAX_DAYS * DAY)
    return Query(
        since, until,
        tuple(c for c in q.getlist("camera") if c), tuple(z for z in q.getlist("zone") if z),
    )  # fmt: skip


def _when(text: str | None, tz: ZoneInfo) -> float | None:
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (at if at.tzinfo else at.replace(tzinfo=tz)).timestamp()


@dataclass(frozen=True)
class View:
    """Everything the page shows, computed once per request."""

    query: Query
    figures: Figures
    incidents: list[Incident]
    cameras: list[str]
    zones: list[str]
    calibrated: set[str]

    def context(self, tz: ZoneInfo) -> dict[str, Any]:
        f = self.figures
        return {
            "q": self.query, "f": f, "data": f.as_json(),
            "since_text": stamp(f.since, tz), "until_text": stamp(f.until, tz),
            "all_cameras": self.cameras, "all_zones": self.zones,
            "heat_cameras": sorted(f.where), "calibrated": self.calibrated,
            "seconds": _seconds,
        }  # fmt: skip


def _seconds(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.0f} s" if value < 120 else f"{value / 60:.1f} min"


def build_view(store: Any, loaded: Any, query: Query) -> View:
    c = loaded.config
    tz = ZoneInfo(c.site.timezone)
    incidents = read.incidents(store, query.since, query.until, query.cameras, query.zones)
    figures = compute(incidents, query.since, query.until, tz, shift_starts(c.analytics))
    return View(
        query, figures, incidents, [cam.id for cam in c.cameras],
        sorted({z.id for zs in loaded.zones.values() for z in zs}),
        {cam.id for cam in c.cameras if cam.calibration is not None},
    )  # fmt: skip


def heat_picture(store: Any, loaded: Any, view: View, camera: str) -> bytes | None:
    points = view.figures.where.get(camera)
    if not points:
        return None
    row = store.db.execute(
        "SELECT snapshot FROM events WHERE camera = ? AND snapshot IS NOT NULL "
        "ORDER BY wall DESC LIMIT 1",
        (camera,),
    ).fetchone()
    snapshots = (loaded.state_dir / "snapshots").resolve()
    snap = Path(row[0]) if row else None
    if snap is not None and not snap.resolve().is_relative_to(snapshots):
        snap = None
    cam = next((x for x in loaded.config.cameras if x.id == camera), None)
    size = (cam.width, cam.height) if cam and cam.width and cam.height else None
    return heat.png(heat.camera_heat(points, heat.backdrop(snap, size)))


def floor_picture(loaded: Any, view: View, camera: str) -> bytes | None:
    cam = next((x for x in loaded.config.cameras if x.id == camera), None)
    points = view.figures.where.get(camera)
    if cam is None or cam.calibration is None or not points:
        return None
    fmap = floor_map_of(cam.calibration)
    return heat.png(heat.floor_heat(points, fmap, loaded.zones.get(camera, ())))


def near_miss_csv(site: str, incidents: list[Incident], tz: ZoneInfo) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS)
    writer.writeheader()
    for row in near_miss_rows(site, incidents, tz):
        writer.writerow({k: spreadsheet_cell(v) for k, v in row.items()})
    return out.getvalue()


def render_report(store: Any, loaded: Any, query: Query) -> str:
    """The analytics page as one HTML file: styles, Chart.js, the page's script and
    every picture inlined."""
    tz = ZoneInfo(loaded.config.site.timezone)
    view = build_view(store, loaded, query)
    pictures: dict[str, str] = {}
    for camera in sorted(view.figures.where):
        for kind, data in (("heat", heat_picture(store, loaded, view, camera)),
                           ("floor", floor_picture(loaded, view, camera))):  # fmt: skip
            if data:
                pictures[f"{kind}:{camera}"] = (
                    "data:image/png;base64," + base64.b64encode(data).decode()
                )
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"])
    )
    static = HERE / "static"
    return env.get_template("report.html").render(
        site=loaded.config.site.name, tz=str(tz), made=stamp(time.time(), tz),
        pictures=pictures, css=(static / "console.css").read_text(),
        chartjs=(static / "chart.umd.min.js").read_text(),
        script=(static / "analytics.js").read_text(), **view.context(tz),
    )  # fmt: skip


class AnalyticsPages:
    def __init__(self, console: Console) -> None:
        self.console = console

    def routes(self) -> list[Route]:
        return [
            Route("/analytics", self.page),
            Route("/analytics/heat/{camera}.png", self.heat),
            Route("/analytics/floor/{camera}.png", self.floor),
            Route("/near-misses.csv", self.csv),
        ]

    def _view(self, request: Request) -> View:
        b = self.console.backend
        return build_view(b.store, b.loaded(), parse_query(request.query_params, b.alerts.tz))

    async def page(self, request: Request) -> Response:
        s = self.console.need(request)
        view = await asyncio.to_thread(self._view, request)
        pictures = {}
        for camera in view.figures.where:
            pictures[f"heat:{camera}"] = f"/analytics/heat/{camera}.png?{view.query.params()}"
            if camera in view.calibrated:
                pictures[f"floor:{camera}"] = f"/analytics/floor/{camera}.png?{view.query.params()}"
        return self.console.page(request, "analytics.html", s, pictures=pictures,
                                 **view.context(self.console.backend.alerts.tz))  # fmt: skip

    async def heat(self, request: Request) -> Response:
        self.console.need(request)
        camera = request.path_params["camera"]
        b = self.console.backend

        def draw() -> bytes | None:
            return heat_picture(b.store, b.loaded(), self._view(request), camera)

        data = await asyncio.to_thread(draw)
        if data is None:
            return PlainTextResponse("no warnings from this camera in the period", 404)
        return Response(data, media_type="image/png")

    async def floor(self, request: Request) -> Response:
        self.console.need(request)
        camera = request.path_params["camera"]
        b = self.console.backend
        data = await asyncio.to_thread(
            lambda: floor_picture(b.loaded(), self._view(request), camera)
        )
        if data is None:
            return PlainTextResponse("no calibrated camera with warnings by that name", 404)
        return Response(data, media_type="image/png")

    async def csv(self, request: Request) -> Response:
        self.console.need(request)
        b = self.console.backend
        view = await asyncio.to_thread(self._view, request)
        body = near_miss_csv(b.loaded().config.site.name, view.incidents, b.alerts.tz)
        return Response(body, media_type="text/csv", headers={
            "Content-Disposition": 'attachment; filename="safetyd-near-misses.csv"'})  # fmt: skip
