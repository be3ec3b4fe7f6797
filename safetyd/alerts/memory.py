"""Delivery from memory: alerts that could not be written to the outbox at all (a
full disk) are delivered from here, in the worker's passes like outbox rows:
danger first, one at a time per recipient, retried with the same backoff. Bounded
(``MEMORY_LIMIT``: past it the oldest non-danger alerts are dropped and logged,
never danger); what is still here at exit is logged as lost (service/parts.py).
With no outbox to fold from, a recipient just warned about a zone is not warned
again within the fold window.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..base.alerts import Alert, DeliveryError
from ..base.ratelog import RateLimitedLog
from .messages import mask_number
from .outbox import NewAlert
from .sending import Attempt
from .storm import is_fold_candidate

if TYPE_CHECKING:
    from .dispatcher import Dispatcher

log = logging.getLogger("safetyd.alerts.dispatcher")  # the lines kept their logger name
MEMORY_LIMIT = 10_000  # alerts held in memory while the outbox cannot be written
LEVEL_RANK = {"danger": 0, "warning": 1}


@dataclass
class _Held:
    """An alert delivered from memory because the outbox could not take it."""

    alert: Alert
    due: float
    sending: bool = False


class MemoryQueue:
    """Part of the delivery worker (``worker``: its sinks, sends, channels, settings)."""

    def __init__(self, worker: Dispatcher) -> None:
        self.worker = worker
        self._lock = threading.Lock()
        self._held: list[_Held] = []
        self._ids = itertools.count(-1, -1)  # negative: never an outbox row's id
        self._warned: dict[tuple[str, str | None], float] = {}  # (recipient, zone) -> wall
        self._ratelog = RateLimitedLog(log)

    def alerts(self) -> list[Alert]:
        with self._lock:
            return [h.alert for h in self._held]

    def next_due(self) -> float | None:
        with self._lock:
            return min((h.due for h in self._held if not h.sending), default=None)

    def shift(self, step: float) -> None:
        """The wall clock stepped: move what waits with it."""
        with self._lock:
            for held in self._held:
                held.due += step
                held.alert = replace(held.alert, created=held.alert.created + step)

    def add(self, rows: Sequence[NewAlert]) -> None:
        held = [
            _Held(
                Alert(
                    id=next(self._ids), kind=r.kind, sink=r.sink, recipient=r.recipient,
                    level=r.level, camera=r.camera, zone=r.zone, incident=r.incident,
                    body=r.body, payload=r.payload, created=r.created, attempts=0,
                ),
                due=r.created,
            )
            for r in rows
        ]  # fmt: skip
        dropped: list[Alert] = []
        with self._lock:
            self._held.extend(held)
            while len(self._held) > MEMORY_LIMIT:
                victim = next(
                    (h for h in self._held if h.alert.level != "danger" and not h.sending), None
                )
                if victim is None:
                    break
                self._held.remove(victim)
                dropped.append(victim.alert)
        for alert in dropped:
            self._ratelog.error(
                "memory-full",
                "alert via %s to %s dropped: %d alerts already held in memory: %s",
                alert.sink,
                mask_number(alert.recipient),
                MEMORY_LIMIT,
                alert.body,
            )

    def send_due(self, now: float) -> bool:
        """Start the sends that are due; True if one was started."""
        with self._lock:
            due = sorted(
                (h for h in self._held if h.due <= now and not h.sending),
                key=lambda h: (LEVEL_RANK.get(h.alert.level, 2), h.alert.created),
            )
        started = False
        for held in due:
            if self.worker.stopping:
                break
            started = self._send(held, now) or started
        return started

    def _send(self, held: _Held, now: float) -> bool:
        alert = held.alert
        w = self.worker
        sink = w.sinks.get(alert.sink)
        if sink is None:
            self._forget(held)
            log.error("alert via %s NOT DELIVERED (held in memory): sink not configured: %s",
                      alert.sink, alert.body)  # fmt: skip
            return False
        if w.sends.busy_recipient(alert.sink, alert.recipient) or not w.channels.can_send(
            alert.sink
        ):
            return False
        if is_fold_candidate(alert):
            # No outbox to fold from: a recipient just warned about this zone is not
            # warned again within the fold window (danger is never held back).
            last = self._warned.get((alert.recipient, alert.zone))
            if last is not None and now - last < w.storm.fold_window_s:
                self._forget(held)
                log.warning(
                    "warning to %s not sent: warned about this zone %.0fs ago (from memory)",
                    mask_number(alert.recipient),
                    now - last,
                )
                return False
        with self._lock:
            held.sending = True
        w.sends.start(sink, alert, from_memory=True)
        return True

    def _held_for(self, attempt: Attempt) -> _Held | None:
        with self._lock:
            return next((h for h in self._held if h.alert.id == attempt.alert.id), None)

    def sent(self, attempt: Attempt, provider_id: str | None, now: float) -> None:
        alert = attempt.alert
        held = self._held_for(attempt)
        if held is not None:
            self._forget(held)
        if is_fold_candidate(alert):
            self._warned[(alert.recipient, alert.zone)] = now
        self.worker.count(self.worker.sent, alert.sink)
        log.info(
            "alert sent from memory via %s to %s%s",
            alert.sink,
            mask_number(alert.recipient),
            f" id={provider_id}" if provider_id else "",
        )

    def sent_late(self, attempt: Attempt) -> None:
        """A send abandoned at its deadline went through after all."""
        held = self._held_for(attempt)
        if held is not None and not held.sending:
            self._forget(held)  # not retried yet: this was its delivery
        log.warning(
            "alert via %s to %s answered after its deadline: delivered (perhaps twice)",
            attempt.alert.sink,
            mask_number(attempt.alert.recipient),
        )

    def failed(self, attempt: Attempt, error: DeliveryError, now: float) -> None:
        held = self._held_for(attempt)
        if held is None:
            return
        alert = held.alert
        w = self.worker
        delay = max(w.backoff(alert), error.retry_after or 0.0)
        if error.permanent or (
            not error.fault and now + delay - alert.created > w.delivery.max_age_s
        ):
            self._forget(held)
            w.count(w.failed, alert.sink)
            log.error(
                "alert via %s to %s NOT DELIVERED (held in memory): %s: %s",
                alert.sink,
                mask_number(alert.recipient),
                error,
                alert.body,
            )
            return
        with self._lock:
            held.alert = replace(alert, attempts=alert.attempts + 1)
            held.due = now + delay
            held.sending = False
        self._ratelog.warning(
            "memory-retry",
            "alert via %s to %s failed (%s); retry from memory in %.1fs",
            alert.sink,
            mask_number(alert.recipient),
            error,
            delay,
        )

    def _forget(self, held: _Held) -> None:
        with self._lock:
            if held in self._held:
                self._held.remove(held)
