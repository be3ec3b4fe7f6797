"""Alert routing and wiring: transitions → outbox rows → dispatcher → sinks.

Routing: an ``opened`` incident goes to the zone's groups for its level, an
``escalated`` one to the danger groups, ``overdue`` danger to the escalation
groups; every SMS recipient gets one row per transition. The webhook and the
log get every transition (``cleared`` included) and every system alert.
Blind cameras and failed deliveries go to ``alerts.system_recipients``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from ..config import LoadedConfig
from ..events import event_record
from ..incidents import Transition
from ..store import Store, is_storage_failure
from ..zones import Zone
from . import messages
from .base import Alert, Sink
from .dispatcher import Dispatcher
from .log import LogSink
from .outbox import NewAlert, Outbox

log = logging.getLogger(__name__)
ALERTING_EVENTS = {"opened": None, "escalated": "danger", "overdue": "escalation"}


@dataclass(frozen=True)
class DeliveryHealth:
    ok: bool
    pending: int
    oldest_pending_s: float | None
    failures_last_hour: int
    reasons: tuple[str, ...]


def build_sinks(loaded: LoadedConfig) -> dict[str, Sink]:
    alerts = loaded.config.alerts
    sinks: dict[str, Sink] = {}
    if "log" in alerts.sinks:
        sinks["log"] = LogSink()
    if "sms" in alerts.sinks and alerts.twilio is not None:
        from .twilio_sms import TwilioSms

        sinks["sms"] = TwilioSms(alerts.twilio)
    if "webhook" in alerts.sinks and alerts.webhook is not None:
        from .webhook import Webhook

        sinks["webhook"] = Webhook(alerts.webhook)
    return sinks


class AlertService:
    def __init__(
        self, loaded: LoadedConfig, store: Store, sinks: Mapping[str, Sink], clock=time.time
    ) -> None:
        self.config = loaded.config
        self.alerts = loaded.config.alerts
        self.tz = ZoneInfo(loaded.config.site.timezone)
        self.store = store
        self.outbox = Outbox(store)
        self.clock = clock
        self.sinks = dict(sinks)
        self.dispatcher = Dispatcher(
            self.outbox,
            self.sinks,
            self.alerts.delivery,
            self.alerts.storm,
            self.tz,
            self._delivery_failed,
            clock,
        )

    @classmethod
    def from_config(cls, loaded: LoadedConfig, store: Store) -> AlertService:
        return cls(loaded, store, build_sinks(loaded))

    def reconfigure(self, loaded: LoadedConfig) -> None:
        """Take a reloaded configuration: recipients, sinks, limits. Queued rows stay."""
        self.config = loaded.config
        self.alerts = loaded.config.alerts
        self.tz = ZoneInfo(loaded.config.site.timezone)
        self.sinks = build_sinks(loaded)
        d = self.dispatcher
        d.sinks, d.delivery, d.storm, d.tz = (
            dict(self.sinks),
            self.alerts.delivery,
            self.alerts.storm,
            self.tz,
        )
        d.wake()

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        self.dispatcher.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.dispatcher.stop(timeout)

    def drain(self, timeout: float) -> bool:
        done = self.dispatcher.drain(timeout)
        if not done:
            log.warning("%d alert(s) still pending after %.0fs", self.outbox.depth(), timeout)
        return done

    # -- routing -------------------------------------------------------------------------

    def numbers(self, groups: Iterable[str]) -> list[str]:
        seen: dict[str, None] = {}
        for g in groups:
            group = self.alerts.groups.get(g)
            for number in group.numbers if group else ():
                seen.setdefault(number, None)
        return list(seen)

    def _rows(
        self,
        key: str,
        kind: str,
        level: str,
        body: str,
        payload: dict,
        groups,
        created: float,
        **extra,
    ) -> list[NewAlert]:
        text = json.dumps(payload, separators=(",", ":"))
        rows = []
        if "sms" in self.sinks:
            rows += [
                NewAlert(f"{key}:sms:{n}", kind, "sms", n, level, body, text, created, **extra)
                for n in self.numbers(groups)
            ]
        for sink in ("webhook", "log"):
            if sink in self.sinks:
                rows.append(
                    NewAlert(f"{key}:{sink}", kind, sink, sink, level, body, text, created, **extra)
                )
        return rows

    def rows_for(
        self,
        transitions: Sequence[Transition],
        zones: Sequence[Zone],
        capture_mono: float | None = None,
    ) -> list[NewAlert]:
        """The alerts these transitions cause: one row per sink and recipient."""
        by_id = {z.id: z for z in zones}
        rows: list[NewAlert] = []
        for tr in transitions:
            zone = by_id.get(tr.zone_id)
            if tr.event in ALERTING_EVENTS and zone is not None:
                groups = zone.recipients_for(ALERTING_EVENTS[tr.event] or tr.level)
            else:
                groups = ()
            level = (
                "danger"
                if tr.event in ("escalated", "overdue")
                else (tr.level if tr.event == "opened" else "info")
            )
            rows += self._rows(
                f"{tr.incident_id}:{tr.event}",
                "incident",
                level,
                messages.incident_text(tr, self.tz),
                event_record(tr),
                groups,
                self.clock(),
                camera=tr.camera,
                zone=tr.zone_id,
                incident=tr.incident_id,
                capture_mono=capture_mono,
            )
        return rows

    def enqueue(
        self,
        db,
        transitions: Sequence[Transition],
        zones: Sequence[Zone],
        capture_mono: float | None = None,
        status: str = "pending",
    ) -> int:
        """Add the alerts for these transitions inside the caller's transaction.

        ``status="memory"``: they were already sent from memory (see
        ``send_from_memory``); the rows are the record, not a second delivery."""
        added = self.outbox.add(db, self.rows_for(transitions, zones, capture_mono), status)
        if added and status == "pending":
            # Waking the worker before the commit would let it look, find nothing
            # yet, and sleep: the rows must be visible first.
            self.store.after_commit(self.dispatcher.wake)
        return added

    def send_from_memory(
        self,
        transitions: Sequence[Transition],
        zones: Sequence[Zone],
        capture_mono: float | None = None,
    ) -> None:
        """Deliver these transitions' alerts without the outbox (it cannot be written)."""
        self.dispatcher.send_from_memory(self.rows_for(transitions, zones, capture_mono))

    def enqueue_system(
        self,
        key: str,
        kind: str,
        level: str,
        body: str,
        payload: dict,
        groups: Sequence[str] | None = None,
        camera: str | None = None,
    ) -> int:
        """Queue a system alert; when the outbox cannot be written, send it from memory
        (a storage alarm must get out precisely when storage fails)."""
        groups = self.alerts.system_recipients if groups is None else groups
        rows = self._rows(
            key, kind, level, body, {"kind": kind, **payload}, groups, self.clock(), camera=camera
        )
        try:
            with self.store.transaction() as db:
                added = self.outbox.add(db, rows)
        except Exception as exc:
            if not is_storage_failure(exc):
                raise
            log.error("%s alert cannot be stored (%s); sending it from memory", kind, exc)
            self.dispatcher.send_from_memory(rows)
            return len(rows)
        self.dispatcher.wake()
        return added

    def _delivery_failed(self, alert: Alert, error: str) -> None:
        body = messages.delivery_failed_text(alert.recipient, error, alert.body)
        groups = [
            g for g in self.alerts.system_recipients if alert.recipient not in self.numbers([g])
        ]
        self.enqueue_system(
            f"delivery_failed:{alert.id}",
            "delivery_failed",
            "warning",
            body,
            {"alert_id": alert.id, "recipient": alert.recipient, "error": error},
            groups=groups,
            camera=alert.camera,
        )

    # -- health --------------------------------------------------------------------------

    def health(self) -> DeliveryHealth:
        now = self.clock()
        pending = self.outbox.depth()
        oldest = self.outbox.oldest_pending()
        oldest_age = None if oldest is None else now - oldest
        failures = self.outbox.failures_since(now - 3600)
        reasons = []
        if pending >= self.alerts.delivery.backlog_alarm:
            reasons.append(f"{pending} alerts waiting for delivery")
        # Held warnings wait up to a fold window by design; older than that is a backlog.
        if oldest_age is not None and oldest_age > max(120.0, 2 * self.alerts.storm.fold_window_s):
            reasons.append(f"oldest undelivered alert is {oldest_age:.0f}s old")
        if failures:
            reasons.append(f"{failures} alert(s) failed permanently in the last hour")
        if not self.dispatcher.alive:
            reasons.append("delivery worker is not running")
        held = len(self.dispatcher.in_memory())
        if held:
            reasons.append(f"{held} alert(s) held in memory: the outbox cannot be written")
        unrecorded = len(self.dispatcher.unrecorded())
        if unrecorded:
            reasons.append(f"{unrecorded} delivered alert(s) not yet recorded in the outbox")
        return DeliveryHealth(not reasons, pending, oldest_age, failures, tuple(reasons))
