"""The sink interface: one small protocol, one module per backend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Alert:
    """One outbox row: a message for one recipient through one sink."""

    id: int
    kind: str  # incident | camera_offline | camera_restored | digest | test | delivery_failed
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


class DeliveryError(Exception):
    """A failed send. ``permanent`` ones are never retried (invalid number, bad auth)."""

    def __init__(self, message: str, *, permanent: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code


class Sink(Protocol):
    name: str

    def send(self, alert: Alert) -> str | None:
        """Deliver; return the provider's message id if it has one, raise DeliveryError."""
        ...
