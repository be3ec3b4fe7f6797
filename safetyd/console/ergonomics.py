"""The ergonomics page: posture exposure per area and shift (analytics/ergonomics.py),
as tables and stacked charts (Chart.js, vendored), with the period filter of the
analytics page. A figure for ergonomic review; it makes no medical or compliance
claim, and the page says so."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..analytics.ergonomics import Ergonomics, compute
from ..analytics.figures import shift_starts
from ..base.timing import stamp
from ..hazard.exposure import MEASURES, RISKY
from ..storage import posture
from .analytics import Query, parse_query

if TYPE_CHECKING:
    from .app import Console

LABELS = {"trunk": "trunk lean", "upper_arm": "upper arm raised", "knee": "knee bent",
          "hands": "hands"}  # fmt: skip


def build(store: Any, loaded: Any, query: Query) -> Ergonomics:
    c = loaded.config
    seconds, events = posture.read(store.db, query.since, query.until)
    names = {z.id: z.name for zs in loaded.zones.values() for z in zs if not z.hazard}
    if query.cameras:
        seconds = [s for s in seconds if s["camera"] in query.cameras]
        events = [e for e in events if e["camera"] in query.cameras]
    tz = ZoneInfo(c.site.timezone)
    return compute(seconds, events, query.since, query.until, tz, shift_starts(c.analytics), names)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f}"


class ErgonomicsPages:
    def __init__(self, console: Console) -> None:
        self.console = console

    def routes(self) -> list[Route]:
        return [Route("/ergonomics", self.page)]

    async def page(self, request: Request) -> Response:
        s = self.console.need(request)
        b = self.console.backend
        tz = b.alerts.tz
        query = parse_query(request.query_params, tz)
        figures = await asyncio.to_thread(build, b.store, b.loaded(), query)
        return self.console.page(
            request, "ergonomics.html", s, q=query, e=figures, data=figures.as_json(),
            measures=MEASURES, labels=LABELS, risky=RISKY, minutes=_minutes,
            since_text=stamp(query.since, tz), until_text=stamp(query.until, tz),
            all_cameras=[cam.id for cam in b.loaded().config.cameras],
        )  # fmt: skip
