"""Posture exposure in the daemon: every camera's measured postures (hazard/body.py)
into metrics, the database, this shift's figures for MQTT, and an area's notice.

One book for all cameras (each camera's inference thread adds its frames; a lock
keeps them apart). Seconds and events are written about once a minute in one
transaction (a frame's worth of exposure is not worth a disk write); a database
that refuses keeps them in memory, bounded, and tries again.

An area with ``posture_notice_after`` gets one low-priority notice per shift when
its risky postures in that shift reach that count, to its ``recipients.warning``
groups (no groups: logged only). It is a figure for ergonomic review: never an
alarm, never escalated.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from ..alerts.service import AlertService
from ..analytics.figures import ShiftStart, shift_began
from ..base.alerts import AlertKind
from ..base.ratelog import RateLimitedLog
from ..hazard.exposure import ExposureFrame
from ..storage import posture as table
from ..storage.store import Store
from ..zones.model import Zone
from .metrics import Metrics

log = logging.getLogger("safetyd.posture")
FLUSH_S = 60.0
MAX_HELD_EVENTS = 10_000  # risky posture events held while the database refuses


@dataclass
class AreaShift:
    """One area's figures in the shift now running (for MQTT and the notice)."""

    camera: str
    area: str
    shift: str
    began: float  # wall time
    seconds: dict[str, dict[str, float]] = field(default_factory=dict)  # measure → band → s
    risky: dict[str, int] = field(default_factory=dict)  # event → count
    noticed: bool = False

    def copy(self) -> AreaShift:
        seconds = {m: dict(b) for m, b in self.seconds.items()}
        return AreaShift(self.camera, self.area, self.shift, self.began, seconds,
                         dict(self.risky), self.noticed)  # fmt: skip

    def payload(self) -> dict:
        return {
            "camera": self.camera, "area": self.area, "shift": self.shift,
            "since": round(self.began, 3),
            "seconds": {m: {b: round(s, 1) for b, s in bands.items()}
                        for m, bands in self.seconds.items()},
            "risky_postures": dict(self.risky),
            "note": "posture exposure for ergonomic review; no medical or compliance claim",
        }  # fmt: skip


class PostureBook:
    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        alerts: AlertService,
        tz: Callable[[], ZoneInfo],
        shifts: Callable[[], list[ShiftStart]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.alerts = alerts
        self.tz = tz
        self.shifts = shifts
        self.clock = clock
        self._lock = threading.Lock()
        self._seconds: dict[tuple, float] = {}  # (slot, camera, area, measure, band) → s
        self._events: list[tuple] = []
        self.dropped = 0  # events lost to a database that refused for too long
        self._shift: dict[tuple[str, str], AreaShift] = {}
        self._flushed = clock()
        self._ratelog = RateLimitedLog(log)
        store.ensure(table.SCHEMA)

    def add(self, camera: str, wall: float, frame: ExposureFrame, zones: Sequence[Zone]) -> None:
        """One frame's exposure from a camera's inference thread."""
        if not frame.exposed and not frame.risky:
            return
        slot = table.slot_of(wall)
        # The shift this frame is in: once per frame, not per area and measure.
        name, began = shift_began(datetime.fromtimestamp(wall, self.tz()), self.shifts())
        running = (name, began.timestamp())
        notices = []
        with self._lock:
            for e in frame.exposed:
                key = (slot, camera, e.area, e.measure, e.band)
                self._seconds[key] = self._seconds.get(key, 0.0) + e.seconds
                self.metrics.posture_seconds.labels(camera, e.area, e.measure, e.band).inc(
                    e.seconds
                )
                bands = self._now(camera, e.area, running).seconds.setdefault(e.measure, {})
                bands[e.band] = bands.get(e.band, 0.0) + e.seconds
            for r in frame.risky:
                self.metrics.risky_postures.labels(camera, r.area, r.event).inc()
                if len(self._events) < MAX_HELD_EVENTS:
                    self._events.append((wall, camera, r.area, r.track_id, r.event, r.value))
                else:
                    self.dropped += 1
                now = self._now(camera, r.area, running)
                now.risky[r.event] = now.risky.get(r.event, 0) + 1
                zone = next((z for z in zones if z.id == r.area), None)
                if zone is None or not zone.rules.notice_after or now.noticed:
                    continue
                if sum(now.risky.values()) >= zone.rules.notice_after:
                    now.noticed = True
                    notices.append((zone, now.copy()))
        for zone, shift in notices:  # outside the lock: the outbox writes
            self._notice(zone, shift, wall)

    def _now(self, camera: str, area: str, running: tuple[str, float]) -> AreaShift:
        """The area's figures of the shift (name, start) now running."""
        name, began = running
        current = self._shift.get((camera, area))
        if current is None or current.began != began:
            current = AreaShift(camera, area, name, began)
            self._shift[(camera, area)] = current
        return current

    def current(self) -> list[AreaShift]:
        """This shift's figures per camera and area (copies), for MQTT."""
        with self._lock:
            return [s.copy() for s in self._shift.values()]

    def flush(self, force: bool = False) -> None:
        """Write what was measured, when FLUSH_S has passed (``force``: now)."""
        now = self.clock()
        if not force and now - self._flushed < FLUSH_S:
            return
        self._flushed = now
        with self._lock:
            seconds, events = self._seconds, self._events
            self._seconds, self._events = {}, []
        if not seconds and not events:
            return
        try:
            with self.store.transaction() as db:
                table.write(db, (k + (v,) for k, v in seconds.items()), events)
        except Exception as exc:
            self._ratelog.error("write", "posture exposure not written yet (kept): %s", exc)
            with self._lock:  # back in front of what came meanwhile
                for k, v in seconds.items():
                    self._seconds[k] = self._seconds.get(k, 0.0) + v
                room = MAX_HELD_EVENTS - len(self._events)
                self.dropped += max(0, len(events) - room)
                self._events = events[: max(room, 0)] + self._events

    def _notice(self, zone: Zone, shift: AreaShift, wall: float) -> None:
        tz = self.tz()
        since = datetime.fromtimestamp(shift.began, tz).strftime("%H:%M")
        parts = ", ".join(f"{k.replace('_', ' ')} {n}" for k, n in sorted(shift.risky.items()))
        body = (
            f"POSTURE NOTICE {zone.name} (cam {shift.camera}): {sum(shift.risky.values())} "
            f"risky postures in the {shift.shift} shift since {since} ({parts}). For ergonomic "
            "review; not an alarm."
        )[:300]
        groups = tuple(zone.recipients.warning)
        log.warning("%s", body)
        if not groups:
            return
        key = f"posture:{shift.camera}:{zone.id}:{int(shift.began)}"
        payload = {**shift.payload(), "wall": wall, "threshold": zone.rules.notice_after}
        self.alerts.enqueue_system(
            key, AlertKind.POSTURE_NOTICE, "info", body, payload, groups, shift.camera
        )
