"""What alerts are: their kinds, outbox states, a row as the worker sees it, a system
alarm, and the error a sink raises. The sink interface is in safetyd/abc.py."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

RETRY_AFTER_MAX_S = 600.0  # a provider's Retry-After beyond this is taken as this


class AlertKind(StrEnum):
    INCIDENT = "incident"
    CAMERA_OFFLINE = "camera_offline"
    CAMERA_RESTORED = "camera_restored"
    STORAGE_FAILED = "storage_failed"
    STORAGE_RESTORED = "storage_restored"
    DELIVERY_FAILED = "delivery_failed"
    SINK_FAILED = "sink_failed"
    SINK_RESTORED = "sink_restored"
    DIGEST = "digest"
    ESCALATION = "escalation"  # a chain step: danger unacknowledged
    PLANT_IO_FAILED = "plant_io_failed"  # a Modbus device unreachable too long
    PLANT_IO_RESTORED = "plant_io_restored"
    BOX_OFFLINE = "box_offline"  # another safetyd box vanished (its MQTT Last Will)
    BOX_RESTORED = "box_restored"
    REPLY = "reply"  # the answer to an SMS reply (an acknowledgement's confirmation)
    POSTURE_NOTICE = "posture_notice"  # an area's risky postures passed its threshold
    TEST = "test"


# Incidents of a person down in an area (hazard/body.py), as messages and pictures name
# them; a hazard zone's incident is named by its level.
DOWN_WORDS = {"fall": "FALL", "man_down": "MAN DOWN"}


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
    """A failed send.

    ``permanent``: this message can never be delivered (an invalid number); the
    row is failed and reported. ``fault``: the channel itself is broken for every
    message (rejected or missing credentials); rows stay queued, the worker
    raises an alarm and stops trying that channel until its credentials change.
    ``retry_after``: the provider asked for this many seconds of quiet (HTTP 429).
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        code: int | None = None,
        fault: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent and not fault
        self.code = code
        self.fault = fault
        self.retry_after = retry_after


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return min(max(seconds, 0.0), RETRY_AFTER_MAX_S)
