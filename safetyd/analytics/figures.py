"""Near-miss figures from the event record: pure, from rows to typed values.

An *incident* is one person near one zone (hazard/incidents.py). Counted here:

* a **warning** is an incident that opened at the warning level (the early
  warning fired); a **danger** is an incident that reached danger (opened at it,
  or escalated). An incident that warned and then escalated counts in both: the
  warning came first, and the danger happened;
* each incident belongs to the zone, camera, shift and hour of day of its
  opening, in the site's time zone; shifts start at the configured local times
  and run until the next one starts (the last until the first, next day);
* time to contact: the predicted seconds at a warning's opening (null when
  the person was not approaching, which is not counted in the histogram);
* acknowledgement time: from the opening to the acknowledgement, of the incidents
  the alert ledger knows (those that had to be acknowledged, or were);
* where: the pixel of the deciding body part at the warning's opening (for zones
  that watch the feet, where the feet were).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ..config.model import AnalyticsSettings

TTC_BINS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0)  # seconds; the last bin is "5 s and more"


@dataclass(frozen=True)
class ShiftStart:
    name: str
    minute: int  # of the local day

    @classmethod
    def parse(cls, name: str, hhmm: str) -> ShiftStart:
        hours, minutes = (int(x) for x in hhmm.split(":"))
        return cls(name, hours * 60 + minutes)


def shift_of(local: datetime, shifts: Sequence[ShiftStart]) -> str:
    """The shift a local time falls in: the last one started at or before it."""
    minute = local.hour * 60 + local.minute
    ordered = sorted(shifts, key=lambda s: s.minute)
    current = ordered[-1]  # before the first start of the day: the last one still runs
    for s in ordered:
        if s.minute <= minute:
            current = s
    return current.name


def shift_began(local: datetime, shifts: Sequence[ShiftStart]) -> tuple[str, datetime]:
    """The shift a local time falls in and when this run of it began (a night shift
    that began yesterday at 22:00 is yesterday's)."""
    name = shift_of(local, shifts)
    start = next(s for s in shifts if s.name == name)
    began = local.replace(hour=start.minute // 60, minute=start.minute % 60, second=0,
                          microsecond=0)  # fmt: skip
    if began > local:
        began -= timedelta(days=1)
    return name, began


@dataclass(frozen=True)
class Incident:
    """One incident as the figures see it (from its events and its ledger row)."""

    id: str
    camera: str
    zone: str
    zone_name: str
    opened: float  # wall
    warned: bool  # opened at warning
    danger: bool  # reached danger
    ttc_s: float | None  # at the opening, when it opened as a warning
    where: tuple[float, float] | None  # pixel of the deciding part at the opening
    body_part: str
    min_distance: float | None
    units: str
    acked_s: float | None = None
    acked_by: str | None = None
    acked_via: str | None = None


def incidents_of(events: Iterable[dict], ledger: dict[str, dict] | None = None) -> list[Incident]:
    """Events (rows of the events table, any order) to incidents, oldest first.
    ``ledger``: the alert ledger's rows by incident id (acknowledgements)."""
    by_id: dict[str, list[dict]] = {}
    for e in events:
        by_id.setdefault(e["incident"], []).append(e)
    out = []
    for incident, rows in by_id.items():
        rows.sort(key=lambda r: (r["wall"], r.get("id", 0)))
        first = next((r for r in rows if r["event"] == "opened"), None)
        if first is None:  # its opening is before the period: counted in that one
            continue
        danger = any(r["level"] == "danger" for r in rows if r["event"] != "cleared")
        deciding = next((r for r in rows if r["level"] == "danger"), first)
        distances = [r["distance"] for r in rows if r["event"] != "cleared"]
        distances = [d for d in distances if d is not None]
        x, y = first.get("part_x"), first.get("part_y")
        led = (ledger or {}).get(incident) or {}
        acked = led.get("acked_wall")
        out.append(Incident(
            id=incident, camera=first["camera"], zone=first["zone"],
            zone_name=first["zone_name"], opened=first["wall"],
            warned=first["level"] == "warning", danger=danger,
            ttc_s=first["ttc_s"] if first["level"] == "warning" else None,
            where=(x, y) if x is not None and y is not None else None,
            body_part=deciding["body_part"], min_distance=min(distances) if distances else None,
            units=first.get("units") or "",
            acked_s=acked - first["wall"] if acked is not None else None,
            acked_by=led.get("acked_by"), acked_via=led.get("acked_channel"),
        ))  # fmt: skip
    out.sort(key=lambda i: i.opened)
    return out


@dataclass
class Counts:
    warnings: int = 0
    dangers: int = 0

    def add(self, inc: Incident) -> None:
        self.warnings += inc.warned
        self.dangers += inc.danger


@dataclass(frozen=True)
class ZoneFigures:
    camera: str
    zone: str
    zone_name: str
    warnings: int
    dangers: int
    median_ack_s: float | None
    median_ttc_s: float | None


@dataclass(frozen=True)
class Figures:
    since: float
    until: float
    incidents: int
    warnings: int
    dangers: int
    zones: list[ZoneFigures]  # most incidents first
    cameras: dict[str, Counts]
    shifts: dict[str, Counts]  # in the configured order
    hours: list[Counts]  # 24, local hour of day
    ttc_bins: tuple[float, ...]
    ttc_counts: list[int]  # len(ttc_bins); the last is "≥ the last edge"
    acknowledged: int
    ack_median_s: float | None
    ack_p90_s: float | None
    unacknowledged_dangers: int
    where: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # per camera

    def as_json(self) -> dict:
        return {
            "since": self.since, "until": self.until, "incidents": self.incidents,
            "warnings": self.warnings, "dangers": self.dangers,
            "zones": [z.__dict__ for z in self.zones],
            "cameras": {k: c.__dict__ for k, c in self.cameras.items()},
            "shifts": {k: c.__dict__ for k, c in self.shifts.items()},
            "hours": [c.__dict__ for c in self.hours],
            "ttc": {"bins": list(self.ttc_bins), "counts": self.ttc_counts},
            "acknowledged": self.acknowledged, "ack_median_s": self.ack_median_s,
            "ack_p90_s": self.ack_p90_s, "unacknowledged_dangers": self.unacknowledged_dangers,
        }  # fmt: skip


def _median(values: list[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def _p90(values: list[float]) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return float(values[0])
    return float(statistics.quantiles(values, n=10, method="inclusive")[-1])


def ttc_bin(ttc: float) -> int:
    for i in range(len(TTC_BINS) - 1, -1, -1):
        if ttc >= TTC_BINS[i]:
            return i
    return 0


def compute(
    incidents: Sequence[Incident],
    since: float,
    until: float,
    tz: ZoneInfo,
    shifts: Sequence[ShiftStart],
) -> Figures:
    """The figures of the incidents that opened in [since, until)."""
    chosen = [i for i in incidents if since <= i.opened < until]
    by_zone: dict[tuple[str, str], list[Incident]] = {}
    cameras: dict[str, Counts] = {}
    by_shift = {s.name: Counts() for s in shifts}
    hours = [Counts() for _ in range(24)]
    ttc_counts = [0] * len(TTC_BINS)
    where: dict[str, list[tuple[float, float]]] = {}
    for inc in chosen:
        by_zone.setdefault((inc.camera, inc.zone), []).append(inc)
        cameras.setdefault(inc.camera, Counts()).add(inc)
        local = datetime.fromtimestamp(inc.opened, tz)
        by_shift[shift_of(local, shifts)].add(inc)
        hours[local.hour].add(inc)
        if inc.warned and inc.ttc_s is not None:
            ttc_counts[ttc_bin(inc.ttc_s)] += 1
        if inc.warned and inc.where is not None:
            where.setdefault(inc.camera, []).append(inc.where)
    zones = []
    for (camera, zone), incs in by_zone.items():
        zones.append(ZoneFigures(
            camera, zone, incs[-1].zone_name, sum(i.warned for i in incs),
            sum(i.danger for i in incs),
            _median([i.acked_s for i in incs if i.acked_s is not None]),
            _median([i.ttc_s for i in incs if i.ttc_s is not None]),
        ))  # fmt: skip
    zones.sort(key=lambda z: (-(z.warnings + z.dangers), z.camera, z.zone))
    acks = [i.acked_s for i in chosen if i.acked_s is not None]
    return Figures(
        since=since, until=until, incidents=len(chosen),
        warnings=sum(i.warned for i in chosen), dangers=sum(i.danger for i in chosen),
        zones=zones, cameras=dict(sorted(cameras.items())), shifts=by_shift, hours=hours,
        ttc_bins=TTC_BINS, ttc_counts=ttc_counts, acknowledged=len(acks),
        ack_median_s=_median(acks), ack_p90_s=_p90(acks),
        unacknowledged_dangers=sum(i.danger and i.acked_s is None for i in chosen),
        where=where,
    )  # fmt: skip


def shift_starts(settings: AnalyticsSettings) -> list[ShiftStart]:
    """``[analytics] shifts`` as the figures use them."""
    return [ShiftStart.parse(s.name, s.start) for s in settings.shifts]
