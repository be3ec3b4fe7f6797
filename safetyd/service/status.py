"""The daemon's state, typed: what /metrics, /healthz, /api/status and the status
page show, taken once per request from the running parts.

Frozen values: a request reads a consistent picture, and nothing downstream
reaches into the running objects or takes a nested dict apart by string keys.
Health is a function of it: every reason the daemon is not safe to rely on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..mqtt.fleet import FleetRow
from ..plant.modbus import DeviceHealth
from ..storage.store import StorageStatus


@dataclass(frozen=True)
class ZoneStatus:
    id: str
    armed: bool


@dataclass(frozen=True)
class IncidentStatus:
    camera: str
    zone: str
    level: str
    track: int
    body_part: str
    since: str  # local time it opened, HH:MM:SS


@dataclass(frozen=True)
class CameraStatus:
    id: str
    up: bool
    connected: bool
    fps: float  # processed per second
    frame_age_s: float | None  # of the newest fresh frame that was processed
    frames_read: int
    frames_dropped: int
    reconnects: int
    error: str | None
    zones: tuple[ZoneStatus, ...]
    incidents: tuple[IncidentStatus, ...]
    unrecorded_events: int = 0

    @property
    def armed(self) -> tuple[str, ...]:
        return tuple(z.id for z in self.zones if z.armed)

    @property
    def open_by_level(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for inc in self.incidents:
            counts[inc.level] = counts.get(inc.level, 0) + 1
        return counts


@dataclass(frozen=True)
class DeliveryStatus:
    pending: int
    ok: bool
    reasons: tuple[str, ...]
    sinks: tuple[str, ...]
    sent: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    in_memory: int = 0
    broken: tuple[str, ...] = ()  # sinks with a fault (rejected or missing credentials)
    stuck: dict[str, int] = field(default_factory=dict)  # sends past their deadline, per sink


@dataclass(frozen=True)
class AnswerStatus:
    """An incident waiting for an acknowledgement, or recently given one."""

    incident: str
    code: str
    camera: str
    zone: str
    level: str
    opened: str  # site time
    acknowledged_by: str | None  # masked number, or the name given to `safetyd ack`
    via: str | None  # sms | cli
    acknowledged: str | None  # site time
    next_step: str | None  # site time the next escalation step falls due


@dataclass(frozen=True)
class SnoozeStatus:
    zone: str
    until: str  # site time
    reason: str
    by: str


@dataclass(frozen=True)
class MqttStatus:
    broker: str
    base_topic: str
    connected: bool
    error: str | None  # why not connected
    since: str  # site time of the last connect or disconnect
    commands: int
    refused: int
    fleet: tuple[FleetRow, ...] | None  # None: the fleet is not watched by this box


@dataclass(frozen=True)
class Status:
    site: str
    cameras: tuple[CameraStatus, ...]
    delivery: DeliveryStatus
    storage: StorageStatus
    stalled: tuple[str, ...] = ()  # parts that stopped making progress (the watchdog's view)
    reload_refused: str | None = None  # the files on disk were refused; the old config runs
    answers: tuple[AnswerStatus, ...] = ()
    snoozes: tuple[SnoozeStatus, ...] = ()
    replies_error: str | None = None  # SMS replies cannot be read (acks by SMS not seen)
    plant: tuple[DeviceHealth, ...] = ()  # Modbus outputs and inputs
    mqtt: MqttStatus | None = None

    @property
    def unacknowledged(self) -> int:
        return sum(a.acknowledged is None for a in self.answers)

    @property
    def unrecorded_events(self) -> int:
        return sum(c.unrecorded_events for c in self.cameras)

    @property
    def incidents(self) -> tuple[IncidentStatus, ...]:
        return tuple(i for c in self.cameras for i in c.incidents)

    def reasons(self) -> list[str]:
        """Why the daemon cannot be relied on now; empty when healthy."""
        out = []
        for cam in self.cameras:
            if cam.armed and not cam.up:
                out.append(
                    f"camera {cam.id}: {len(cam.armed)} armed zone(s) unwatched: "
                    + (cam.error or "no fresh frames")
                )
        if not self.storage.ok:
            out.append(f"storage: cannot write {self.storage.path}: {self.storage.error}")
        if self.unrecorded_events:
            out.append(f"storage: {self.unrecorded_events} incident event(s) not yet recorded")
        out += [f"alert delivery: {r}" for r in self.delivery.reasons]
        out += [f"stalled: {s}" for s in self.stalled]
        if self.reload_refused:
            out.append(f"configuration: {self.reload_refused}")
        for d in self.plant:
            if not d.up:
                effect = (
                    "its lights show nothing new"
                    if d.kind == "output"
                    else "its zones are kept armed"
                )
                out.append(f"plant I/O: modbus {d.kind} {d.id} unreachable ({d.error}): {effect}")
        return out

    def health(self) -> tuple[bool, dict]:
        """(healthy, the /healthz body)."""
        reasons = self.reasons()
        body = {
            "status": "ok" if not reasons else "unhealthy",
            "reasons": reasons,
            "cameras": {
                c.id: {"up": c.up, "frame_age_s": c.frame_age_s, "armed_zones": list(c.armed)}
                for c in self.cameras
            },
            "delivery": asdict(self.delivery),
            "storage": {**asdict(self.storage), "unrecorded_events": self.unrecorded_events},
            "plant": [asdict(d) for d in self.plant],
        }
        return not reasons, body

    def as_json(self) -> dict:
        """/api/status."""
        return {
            "site": self.site,
            "cameras": [
                {
                    **{k: v for k, v in asdict(c).items() if k not in ("zones", "incidents")},
                    "zones": {z.id: z.armed for z in c.zones},
                    "open_incidents": c.open_by_level,
                }
                for c in self.cameras
            ],
            "incidents": [asdict(i) for i in self.incidents],
            "acknowledgements": [asdict(a) for a in self.answers],
            "snoozes": [asdict(s) for s in self.snoozes],
            "replies_error": self.replies_error,
            "plant": [asdict(d) for d in self.plant],
            "delivery": asdict(self.delivery),
            "storage": asdict(self.storage),
            "mqtt": asdict(self.mqtt) if self.mqtt else None,
        }
