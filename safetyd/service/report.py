"""The daemon's parts, read into the typed status (service/status.py) that /healthz,
/metrics, /api/status, the page and the console show: delivery, the broker, and
the incidents waiting for an answer."""

from __future__ import annotations

import time
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from ..alerts import messages
from ..alerts.escalation import zone_chain
from ..alerts.service import AlertService
from ..assembly.load import LoadedConfig
from ..base.timing import stamp
from ..hazard.lifecycle import next_step_at
from ..mqtt.service import MqttService
from ..storage.store import is_storage_failure
from .status import AnswerStatus, CameraStatus, DeliveryStatus, MqttStatus, SnoozeStatus


def delivery(alerts: AlertService) -> DeliveryStatus:
    d = alerts.dispatcher
    health = alerts.health()
    return DeliveryStatus(
        pending=health.pending,
        ok=health.ok,
        reasons=health.reasons,
        sinks=tuple(sorted(alerts.sinks)),
        sent=dict(d.sent),
        failed=dict(d.failed),
        in_memory=len(d.in_memory()),
        broken=tuple(sorted(d.faults())),
        stuck=dict(d.stuck_sends()),
    )


def mqtt(m: MqttService | None, tz: ZoneInfo) -> MqttStatus | None:
    if m is None:
        return None
    link = m.link
    return MqttStatus(
        broker=link.settings.url, base_topic=m.topics.base, connected=link.connected,
        error=link.error, since=messages.clock(link.since, tz),
        commands=m.commands_done, refused=m.commands_refused,
        fleet=tuple(m.fleet_rows()) if m.fleet else None,
    )  # fmt: skip


def lifecycle(alerts: AlertService, loaded: LoadedConfig, poll_error: str | None) -> dict:
    """Incidents waiting for an answer (and those answered in the last hour), and
    the snoozes in force; the page still renders when the database cannot be read."""
    tz = alerts.tz
    now = time.time()
    ledger = alerts.ledger
    try:
        incidents = {i.incident: i for i in ledger.waiting()}
        incidents.update({i.incident: i for i in ledger.acknowledged_since(now - 3600)})
        snoozes = ledger.snoozes(now)
    except Exception as exc:
        if not is_storage_failure(exc):
            raise
        return {"replies_error": poll_error}
    answers = []
    for inc in sorted(incidents.values(), key=lambda i: i.opened_wall):
        zone = next((z for z in loaded.zones.get(inc.camera, ()) if z.id == inc.zone), None)
        nxt = next_step_at(inc, zone_chain(loaded, zone))
        answers.append(AnswerStatus(
            incident=inc.incident, code=inc.code, camera=inc.camera, zone=inc.zone,
            level=inc.level, opened=messages.clock(inc.opened_wall, tz),
            acknowledged_by=messages.mask_number(inc.acked_by) if inc.acked_by else None,
            via=inc.acked_channel,
            acknowledged=messages.clock(inc.acked_wall, tz) if inc.acked_wall else None,
            next_step=messages.clock(nxt, tz) if nxt is not None else None,
        ))  # fmt: skip
    return {
        "answers": tuple(answers),
        "snoozes": tuple(SnoozeStatus(s.zone, stamp(s.until, tz), s.reason, s.by) for s in snoozes),
        "replies_error": poll_error,
    }


def status_line(states: Sequence[CameraStatus], alerts: AlertService) -> str:
    """One line for systemd's STATUS= and the journal."""
    up = sum(s.up for s in states)
    fps = sum(s.fps for s in states)
    opened = sum(len(s.incidents) for s in states)
    try:
        outbox = str(alerts.outbox.depth())
    except Exception as exc:  # the main loop must not die of a storage fault
        outbox = f"unreadable ({exc.__class__.__name__})"
    return (
        f"{up}/{len(states)} cameras up, {fps:.1f} fps, {opened} open incident(s), outbox {outbox}"
    )
