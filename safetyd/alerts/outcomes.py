"""The delivery worker's bookkeeping of ended sends: delivered (recorded, never sent
again), delivered after its deadline, failed (retried with backoff, or failed for
good and reported through the other channels), or overrunning its deadline."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..base.alerts import Alert, AlertKind, DeliveryError, OutboxStatus
from ..base.ratelog import RateLimitedLog
from .bookkeeping import Accepted
from .messages import mask_number
from .sending import Attempt, Outcome

if TYPE_CHECKING:
    from .dispatcher import Dispatcher

log = logging.getLogger("safetyd.alerts.dispatcher")  # the lines kept their logger name


class Outcomes:
    """Part of the delivery worker (``w``: its outbox, sends, channels, counters)."""

    def __init__(self, worker: Dispatcher) -> None:
        self.w = worker
        self._ratelog = RateLimitedLog(log)

    def collect(self, now: float) -> bool:
        """Book what ended, and give up on what overran its deadline."""
        outcomes = self.w.sends.finished()
        for outcome in outcomes:
            try:
                self._outcome(outcome, now)
            except Exception as exc:
                self.w.books.defer(outcome.attempt.alert, exc)
        overdue = self.w.sends.overdue()
        for attempt in overdue:
            error = DeliveryError(
                f"no answer within {self.w.delivery.send_deadline_s:g}s", permanent=False
            )
            try:
                self._attempt_failed(attempt, error, now)
            except Exception as exc:
                self.w.books.defer(attempt.alert, exc)
        return bool(outcomes or overdue)

    def _outcome(self, outcome: Outcome, now: float) -> None:
        attempt, alert = outcome.attempt, outcome.attempt.alert
        if outcome.late:
            if outcome.error is None:
                self._late_success(outcome)
            return  # a late failure was already booked when the send was abandoned
        if outcome.error is not None:
            self._attempt_failed(attempt, outcome.error, now)
            return
        self.w.channels.delivered(attempt.sink)
        if attempt.from_memory:
            self.w.memory.sent(attempt, outcome.provider_id, now)
            return
        self._accepted(outcome)
        log.info(
            "alert %d sent via %s to %s%s%s",
            alert.id,
            alert.sink,
            mask_number(alert.recipient),
            f" id={outcome.provider_id}" if outcome.provider_id else "",
            f" (folded {len(attempt.folded)} more)" if attempt.folded else "",
        )

    def _accepted(self, outcome: Outcome) -> None:
        """The provider took it: counted, and never sent again (bookkeeping.py)."""
        attempt = outcome.attempt
        accepted = Accepted(attempt.alert, outcome.provider_id, self.w.clock(), attempt.folded)
        self.w.books.accept(accepted)
        self.w.count(self.w.sent, attempt.alert.sink)

    def _late_success(self, outcome: Outcome) -> None:
        """A send abandoned at its deadline went through after all."""
        attempt, alert = outcome.attempt, outcome.attempt.alert
        self.w.channels.delivered(attempt.sink)
        if attempt.from_memory:
            self.w.memory.sent_late(attempt)
            return
        rows = self.w.outbox.rows(id=alert.id)
        if alert.id in self.w.unrecorded() or (rows and rows[0]["status"] == OutboxStatus.SENT):
            log.warning(
                "alert %d via %s to %s: an attempt abandoned at its deadline went through "
                "as well: delivered twice",
                alert.id,
                alert.sink,
                mask_number(alert.recipient),
            )
            return
        self._accepted(outcome)
        log.warning(
            "alert %d via %s to %s was delivered after its deadline (id=%s)",
            alert.id,
            alert.sink,
            mask_number(alert.recipient),
            outcome.provider_id,
        )

    def _attempt_failed(self, attempt: Attempt, error: DeliveryError, now: float) -> None:
        self.w.channels.failed(attempt.sink, error)
        if attempt.from_memory:
            self.w.memory.failed(attempt, error, now)
        else:
            self._failed_attempt(attempt.alert, error, now)

    def _failed_attempt(self, alert: Alert, exc: DeliveryError, now: float) -> None:
        if exc.permanent:
            self.fail(alert, str(exc), OutboxStatus.FAILED)
            return
        delay = max(self.w.backoff(alert), exc.retry_after or 0.0)
        if exc.fault:
            delay = max(delay, 1.0)  # the fault, not the backoff, decides when it is tried
        elif now + delay - alert.created > self.w.delivery.max_age_s:
            self.fail(
                alert, f"gave up after {alert.attempts + 1} attempts: {exc}", OutboxStatus.EXPIRED
            )
            return
        self.w.outbox.mark_retry(alert.id, str(exc), now + delay)
        self._ratelog.warning(
            f"retry-{alert.sink}",
            "alert %d via %s to %s failed (%s); retry in %.1fs",
            alert.id,
            alert.sink,
            mask_number(alert.recipient),
            exc,
            delay,
        )

    def fail(self, alert: Alert, error: str, status: OutboxStatus) -> None:
        self.w.outbox.mark_failed(alert.id, error, status)
        self.w.count(self.w.failed, alert.sink)
        log.error(
            "alert %d via %s to %s NOT DELIVERED: %s",
            alert.id,
            alert.sink,
            mask_number(alert.recipient),
            error,
        )
        if self.w.on_failure and alert.kind != AlertKind.DELIVERY_FAILED:
            self.w.on_failure(alert, error)
