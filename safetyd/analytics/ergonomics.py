"""Posture exposure figures per area and shift, from the posture tables (pure: rows
in, typed values out).

Each quarter hour's seconds belong to the shift that quarter hour starts in (site
time): exact for shifts that start on a quarter hour. A risky posture event
belongs to the shift of its time. These are figures for ergonomic review; they
make no medical or compliance claim.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ..hazard.exposure import BANDS, EVENTS, MEASURES, RISKY
from .figures import ShiftStart, shift_of


@dataclass
class AreaExposure:
    camera: str
    area: str
    name: str
    shift: str
    seconds: dict[str, dict[str, float]] = field(default_factory=dict)  # measure → band
    risky: dict[str, int] = field(default_factory=dict)  # event → count

    def measured(self, measure: str) -> float:
        return sum(self.seconds.get(measure, {}).values())

    def risky_share(self, measure: str) -> float | None:
        """Of the time this measure was seen, the share in its risky band."""
        total = self.measured(measure)
        if total <= 0:
            return None
        return self.seconds.get(measure, {}).get(RISKY[measure], 0.0) / total


@dataclass(frozen=True)
class Ergonomics:
    since: float
    until: float
    rows: tuple[AreaExposure, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "since": self.since, "until": self.until,
            "bands": {m: [b for _, b in BANDS[m]] for m in MEASURES},
            "events": list(EVENTS.values()),
            "rows": [{"camera": r.camera, "area": r.area, "name": r.name, "shift": r.shift,
                      "seconds": r.seconds, "risky": r.risky} for r in self.rows],
        }  # fmt: skip


def compute(
    seconds: Iterable[Mapping[str, Any]],
    events: Iterable[Mapping[str, Any]],
    since: float,
    until: float,
    tz: ZoneInfo,
    shifts: Sequence[ShiftStart],
    names: Mapping[str, str] | None = None,
) -> Ergonomics:
    """``seconds``: posture_exposure rows; ``events``: posture_events rows;
    ``names``: area id → name (an area no longer in any file keeps its id)."""
    names = names or {}
    table: dict[tuple[str, str, str], AreaExposure] = {}

    def row(camera: str, area: str, wall: float) -> AreaExposure:
        shift = shift_of(datetime.fromtimestamp(wall, tz), shifts)
        key = (camera, area, shift)
        if key not in table:
            table[key] = AreaExposure(camera, area, names.get(area, area), shift)
        return table[key]

    for s in seconds:
        r = row(s["camera"], s["area"], s["slot"])
        bands = r.seconds.setdefault(s["measure"], {})
        bands[s["band"]] = bands.get(s["band"], 0.0) + float(s["seconds"])
    for e in events:
        r = row(e["camera"], e["area"], e["wall"])
        r.risky[e["event"]] = r.risky.get(e["event"], 0) + 1
    order = {s.name: i for i, s in enumerate(sorted(shifts, key=lambda s: s.minute))}
    rows = sorted(table.values(), key=lambda r: (r.camera, r.area, order.get(r.shift, 99)))
    return Ergonomics(since, until, tuple(rows))
