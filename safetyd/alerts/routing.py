"""Who gets what (pure): incident transitions and system alarms → outbox rows.

* An ``opened`` incident goes to the zone's groups for its level, an
  ``escalated`` one to the danger groups; every SMS recipient gets one row per
  transition. (Escalation when nobody answers: alerts/escalation.py.)
* A zone whose warnings are snoozed gets no warning SMS; the log and the
  webhook still get it, marked. Danger is never snoozed.
* A warning incident opened while its zone cools down (``folded``, see
  incidents.py) sends no SMS either; the log, webhook and MQTT get it, marked
  ``(cooldown: no SMS)``. Danger is never folded.
* The webhook, MQTT and the log get every transition (``cleared`` included)
  and every system alarm.
* System alarms (blind cameras, storage, failed deliveries) go to
  ``alerts.system_recipients`` and the groups the alarm names.

A row's dedup key is (what happened, sink, recipient): enqueueing the same
transition twice, after a crash, adds nothing.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from ..base.alerts import AlertKind, SystemAlert
from ..config.alerts import Group
from ..hazard.incidents import IncidentEvent, Transition
from ..hazard.records import event_record
from ..zones.model import Zone
from . import messages
from .outbox import NewAlert

# Which of a zone's recipient lists an alerting transition goes to (None: its level).
ALERTING_EVENTS = {
    IncidentEvent.OPENED: None,
    IncidentEvent.ESCALATED: "danger",
}


@dataclass(frozen=True)
class Routes:
    """What routing needs of the configuration and the running sinks."""

    groups: Mapping[str, Group]
    system_recipients: tuple[str, ...]
    sinks: Mapping[str, bool]  # the running sinks: name → addressed (abc.Sink)
    tz: ZoneInfo
    site: str

    def numbers(self, groups: Iterable[str]) -> list[str]:
        seen: dict[str, None] = {}
        for g in groups:
            group = self.groups.get(g)
            for number in group.numbers if group else ():
                seen.setdefault(number, None)
        return list(seen)

    def rows(
        self,
        key: str,
        kind: AlertKind,
        level: str,
        body: str,
        payload: dict,
        groups: Iterable[str],
        created: float,
        **extra,
    ) -> list[NewAlert]:
        text = json.dumps(payload, separators=(",", ":"))
        out = []
        numbers = self.numbers(groups)
        for sink, addressed in self.sinks.items():
            if addressed:
                out += [NewAlert(f"{key}:{sink}:{n}", kind, sink, n, level, body, text, created,
                                 **extra) for n in numbers]  # fmt: skip
        for sink, addressed in self.sinks.items():
            if not addressed:
                out.append(
                    NewAlert(f"{key}:{sink}", kind, sink, sink, level, body, text, created, **extra)
                )
        return out

    def incident_rows(
        self,
        transitions: Sequence[Transition],
        zones: Sequence[Zone],
        created: float,
        capture_mono: float | None = None,
        snoozed: Collection[str] = (),
    ) -> list[NewAlert]:
        """``snoozed``: zones whose warnings are snoozed now (lifecycle.snoozed)."""
        by_id = {z.id: z for z in zones}
        out: list[NewAlert] = []
        for tr in transitions:
            zone = by_id.get(tr.zone_id)
            if tr.event in ALERTING_EVENTS and zone is not None:
                groups = zone.recipients_for(ALERTING_EVENTS[tr.event] or tr.level)
            else:
                groups = ()
            if tr.event == IncidentEvent.ESCALATED:
                level = "danger"
            else:
                level = tr.level if tr.event == IncidentEvent.OPENED else "info"
            body = messages.incident_text(tr, self.tz)
            if level == "warning" and tr.zone_id in snoozed:
                groups, body = (), f"(snoozed) {body}"
            elif level == "warning" and tr.folded:
                groups, body = (), f"({tr.folded}: no SMS) {body}"
            out += self.rows(
                f"{tr.incident_id}:{tr.event}",
                AlertKind.INCIDENT,
                level,
                body,
                event_record(tr),
                groups,
                created,
                camera=tr.camera,
                zone=tr.zone_id,
                incident=tr.incident_id,
                capture_mono=capture_mono,
            )
        return out

    def system_rows(
        self,
        key: str,
        kind: AlertKind,
        level: str,
        body: str,
        payload: dict,
        groups: Sequence[str] | None,
        created: float,
        camera: str | None = None,
    ) -> list[NewAlert]:
        """``groups`` None: the system recipients; else exactly these groups."""
        return self.rows(
            key, kind, level, body, {"kind": kind, **payload},
            self.system_recipients if groups is None else groups, created, camera=camera,
        )  # fmt: skip

    def reply_rows(self, key: str, number: str, body: str, created: float) -> list[NewAlert]:
        """An answer to one person's SMS (not to a group), logged too."""
        payload = json.dumps({"kind": AlertKind.REPLY, "to": messages.mask_number(number)})
        out = []
        if "sms" in self.sinks:
            out.append(
                NewAlert(f"{key}:sms:{number}", AlertKind.REPLY, "sms", number, "info", body,
                         payload, created)
            )  # fmt: skip
        if "log" in self.sinks:
            out.append(
                NewAlert(f"{key}:log", AlertKind.REPLY, "log", "log", "info", body, payload,
                         created)
            )  # fmt: skip
        return out

    def alarm_rows(self, alert: SystemAlert, created: float) -> list[NewAlert]:
        """A system alarm: to the system recipients and the groups it names."""
        groups = [*self.system_recipients]
        groups += [g for g in alert.groups if g not in groups]
        return self.system_rows(
            alert.key,
            alert.kind,
            alert.level,
            messages.system_text(alert, self.site, self.tz),
            {"camera": alert.camera, **alert.facts} if alert.camera else dict(alert.facts),
            groups,
            created,
            camera=alert.camera,
        )
