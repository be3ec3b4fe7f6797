"""What alerts are: their kinds, outbox states, a row as the worker sees it, a system
alarm, and the error a sink raises. The sink interface is in safetyd/abc.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class AlertKind(StrEnum):
    INCIDENT = "incident"
    CAMERA_OFFLINE = "camera_offline"
    CAMERA_RESTORED = "camera_restored"
    STORAGE_FAILED = "storage_failed"
    STORAGE_RESTORED = "storage_restored"
    DELIVERY_FAILED = "delivery_failed"
    DIGEST = "digest"
    TEST = "test"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # permanently refused (invalid number, sink not configured)
    EXPIRED = "expired"  # retried until max_age_s
    FOLDED = "folded"  # went out inside a summary of warnings
    MEMORY = "memory"  # sent from memory while the outbox could not be written


@dataclass(frozen=True)
class Alert:
    """One outbox row: a message for one recipient through one sink."""

    id: int
    kind: AlertKind
    sink: str  # sms | webhook | log
    recipient: str  # E.164 number, "webhook" or "log"
    level: str  # danger | warning | info
    camera: str | None
    zone: str | None
    incident: str | None
    body: str  # the SMS text
    payload: str  # event JSON
    created: float
    attempts: int


@dataclass(frozen=True)
class SystemAlert:
    """An alarm about the system itself (a blind camera, a failing disk), typed: the
    alert service turns it into text and rows for its recipients."""

    kind: AlertKind
    key: str  # the dedup key: one alert per outage
    level: str  # danger | info
    wall: float
    camera: str | None = None
    groups: tuple[str, ...] = ()  # told besides the system recipients
    facts: dict[str, Any] = field(default_factory=dict)  # for the text and the payload


class DeliveryError(Exception):
    """A failed send. ``permanent`` ones are never retried (invalid number, bad auth)."""

    def __init__(self, message: str, *, permanent: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code
