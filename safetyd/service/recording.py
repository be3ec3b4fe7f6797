"""A camera's incident events on their way to the record: held, committed with
their alerts in one SQLite transaction (oldest first), and logged.

When that commit fails (a full disk), the alerts do not wait for the disk: they
are handed to the delivery worker's in-memory queue at once, and the events are
kept in a bounded buffer (held.py) and recorded (with their alerts marked as sent
from memory) once the database takes writes again. Whatever is still unrecorded
at exit is logged as lost from the record.
"""

from __future__ import annotations

import logging
import time

from ..alerts.service import AlertService
from ..base.alerts import OutboxStatus
from ..base.ratelog import RateLimitedLog
from ..hazard.incidents import Transition
from ..storage.store import Store, is_storage_failure
from ..zones.model import Zone
from .held import Held, HeldEvents
from .metrics import Metrics

# The journal has named these lines "safetyd.runner" since v1; operators filter on it.
log = logging.getLogger("safetyd.runner")
UNRECORDED_LIMIT = 10_000  # batches of incident events held while the database fails


class Recorder:
    """One camera's: called by its inference thread and, on reload, the main thread."""

    def __init__(self, camera: str, store: Store, alerts: AlertService, metrics: Metrics) -> None:
        self.id = camera
        self.store = store
        self.alerts = alerts
        self.metrics = metrics
        self.held = HeldEvents(UNRECORDED_LIMIT)
        self._ratelog = RateLimitedLog(log)

    def hold(
        self, transitions: list[Transition], capture_mono: float | None, zones: tuple[Zone, ...]
    ) -> None:
        self._log(transitions)
        self.held.hold(Held(list(transitions), capture_mono, zones))

    def flush(self) -> None:
        """Commit held transitions and their alerts, oldest first.

        A locked or failing database must neither kill the camera nor delay an
        alert: on failure every alert not yet out goes to the memory queue, and
        the record is retried on the next frame."""
        while (entry := self.held.first()) is not None:
            try:
                self.commit(entry)
            except Exception as exc:
                self._commit_failed(exc)
                return
            self.held.committed()

    def commit(self, entry: Held) -> None:
        with self.store.transaction() as db:
            self.store.add_events(db, entry.transitions)
            self.alerts.enqueue(
                db,
                entry.transitions,
                entry.zones,
                capture_mono=entry.capture_mono,
                status=OutboxStatus.MEMORY if entry.from_memory else OutboxStatus.PENDING,
            )
        if entry.capture_mono is not None and not entry.from_memory:
            self.metrics.frame_to_alert_seconds.labels("outbox").observe(
                time.monotonic() - entry.capture_mono
            )

    def _commit_failed(self, exc: Exception) -> None:
        todo, dropped, held = self.held.failed()
        for e in todo:
            self.alerts.send_from_memory(e.transitions, e.zones, e.capture_mono)
        self._ratelog.error(
            "commit",
            "camera %s: cannot store incident events (%s); %d held, their alerts are sent "
            "from memory, storing is retried",
            self.id,
            exc,
            held,
            exc_info=None if is_storage_failure(exc) else exc,
        )
        for e in dropped:
            for tr in e.transitions:
                log.error(
                    "camera %s: incident event dropped from the record (more than %d held): "
                    "incident=%s event=%s level=%s zone=%s",
                    self.id,
                    UNRECORDED_LIMIT,
                    tr.incident_id,
                    tr.event,
                    tr.level,
                    tr.zone_id,
                )

    def unrecorded(self) -> int:
        """Incident events held because the database would not take them."""
        return self.held.unrecorded()

    def report_unrecorded(self) -> None:
        for tr in self.held.events():
            log.error(
                "camera %s: incident event LOST from the record (the database would not take "
                "it; its alerts were sent from memory): incident=%s event=%s level=%s zone=%s",
                self.id,
                tr.incident_id,
                tr.event,
                tr.level,
                tr.zone_id,
            )

    def _log(self, transitions: list[Transition]) -> None:
        for tr in transitions:
            self.metrics.incidents.labels(self.id, tr.zone_id, tr.event, tr.level).inc()
            if tr.kind != "hazard" and tr.event == "opened":
                self.metrics.people_down.labels(self.id, tr.zone_id, tr.kind).inc()
            if tr.event == "opened" and tr.level == "warning" and tr.ttc_s is not None:
                self.metrics.warning_ttc_seconds.labels(self.id, tr.zone_id).observe(tr.ttc_s)
            log.warning(
                "incident event=%s level=%s camera=%s zone=%s zone_file_hash=%s track=%d "
                "body_part=%r distance=%.3f closing_speed=%.3f ttc_s=%s latency_s=%.3f "
                "incident=%s%s%s",
                tr.event,
                tr.level,
                tr.camera,
                tr.zone_id,
                tr.zone_file_hash,
                tr.track_id,
                tr.body_part,
                tr.distance,
                tr.closing_speed,
                "none" if tr.ttc_s is None else f"{tr.ttc_s:.2f}",
                tr.latency_s or 0.0,
                tr.incident_id,
                f" reason={tr.reason}" if tr.reason else "",
                f" kind={tr.kind}" if tr.kind != "hazard" else "",
            )
            if tr.folded:
                log.info(
                    "camera %s: warning SMS for incident %s folded: zone %s opened it within "
                    "its cooldown_s of the last incident (recorded and published, no SMS)",
                    self.id,
                    tr.incident_id,
                    tr.zone_id,
                )
