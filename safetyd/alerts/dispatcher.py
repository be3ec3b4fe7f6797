"""The delivery worker: sends due outbox rows, retries, folds warning storms.

Order: danger first, then warnings, then the rest; oldest first within a level.

Storm control applies to warning SMS only, and never to danger:

* **Folding**: after a warning SMS for a zone reaches a recipient, further
  warnings for that zone and recipient wait until ``fold_window_s`` has passed,
  then go out as one summary ("WARNING x12 Press 3 guard ...").
* **Rate limit**: at most ``max_warnings_per_hour`` warning SMS per recipient;
  beyond that, warnings wait (and fold) until the hour frees a slot.

The limits are computed from the outbox itself, so they survive restarts.
Transient failures retry with capped exponential backoff and jitter; permanent
ones, and alerts older than ``max_age_s``, are marked failed, logged at error
level and reported through the other channels.

When the database cannot be written (a full disk):

* a row the provider accepted is never sent again: its provider id is kept in
  memory and only the bookkeeping is retried;
* a row whose bookkeeping fails is held back in memory for a while, so it
  cannot come first in every pass and starve the others;
* alerts that could not be written to the outbox at all are delivered from an
  in-memory queue (bounded), and what is still in it at exit is logged as lost.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

from ..abc import Sink
from ..ratelog import RateLimitedLog
from ..store import is_storage_failure
from ..timing import backoff
from .base import Alert, AlertKind, DeliveryError, OutboxStatus
from .messages import fold_text, mask_number
from .outbox import NewAlert, Outbox

log = logging.getLogger(__name__)
HOUR = 3600.0
MEMORY_LIMIT = 10_000  # alerts held in memory while the outbox cannot be written
LEVEL_RANK = {"danger": 0, "warning": 1}


@dataclass(frozen=True)
class Accepted:
    """A send the provider accepted whose recording in the outbox has not succeeded."""

    provider_id: str | None
    sent: float
    body: str | None  # the folded summary that was sent, if any
    folded: tuple[int, ...]


@dataclass
class _Held:
    """An alert delivered from memory because the outbox could not take it."""

    alert: Alert
    due: float


class Dispatcher:
    def __init__(
        self,
        outbox: Outbox,
        sinks: Mapping[str, Sink],
        delivery,
        storm,
        tz: ZoneInfo,
        on_failure: Callable[[Alert, str], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.outbox = outbox
        self.sinks = dict(sinks)
        self.delivery = delivery
        self.storm = storm
        self.tz = tz
        self.on_failure = on_failure
        self.clock = clock
        self.sent: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.heartbeat = time.monotonic()
        self.flush = False  # draining: send held warnings now (still folded)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._accepted: dict[int, Accepted] = {}
        self._deferred: dict[int, tuple[float, int]] = {}  # id -> (monotonic until, tries)
        self._memory: list[_Held] = []
        self._memory_ids = itertools.count(-1, -1)
        self._memory_warned: dict[tuple[str, str | None], float] = {}
        self._ratelog = RateLimitedLog(log)

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="delivery", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return bool(self._thread and self._thread.is_alive())

    def wake(self) -> None:
        self._wake.set()

    def drain(self, timeout: float) -> bool:
        """Deliver everything pending now (held warnings folded and sent at once)."""
        self.flush = True
        self.wake()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.outbox.depth() == 0 and not self.in_memory():
                return True
            time.sleep(0.05)
        return self.outbox.depth() == 0 and not self.in_memory()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.heartbeat = time.monotonic()
            try:
                worked = self.run_once()
                wait = 0.0 if worked else self._idle_wait()
            except Exception as exc:  # a bug or a database fault must not end delivery
                self._ratelog.error("worker", "delivery worker error; retrying", exc_info=exc)
                worked, wait = False, 1.0
            if worked:
                continue
            self._wake.wait(wait)
            self._wake.clear()

    def _idle_wait(self) -> float:
        now = self.clock()
        nxt = self.outbox.next_due()
        with self._lock:
            if self._memory:
                soonest = min(h.due for h in self._memory)
                nxt = soonest if nxt is None else min(nxt, soonest)
        return 1.0 if nxt is None else min(1.0, max(0.0, nxt - now))

    # -- what is held in memory -------------------------------------------------------

    def in_memory(self) -> list[Alert]:
        """Alerts waiting in memory for delivery (the outbox could not take them)."""
        with self._lock:
            return [h.alert for h in self._memory]

    def unrecorded(self) -> dict[int, Accepted]:
        """Sends the provider accepted that the outbox has not recorded yet."""
        with self._lock:
            return dict(self._accepted)

    def send_from_memory(self, rows: Sequence[NewAlert]) -> None:
        """Deliver alerts the outbox could not store. Bounded: past ``MEMORY_LIMIT``
        the oldest non-danger alerts are dropped (and logged), never danger."""
        held = [
            _Held(
                Alert(
                    id=next(self._memory_ids), kind=r.kind, sink=r.sink, recipient=r.recipient,
                    level=r.level, camera=r.camera, zone=r.zone, incident=r.incident,
                    body=r.body, payload=r.payload, created=r.created, attempts=0,
                ),
                due=r.created,
            )
            for r in rows
        ]  # fmt: skip
        dropped: list[Alert] = []
        with self._lock:
            self._memory.extend(held)
            while len(self._memory) > MEMORY_LIMIT:
                victim = next((h for h in self._memory if h.alert.level != "danger"), None)
                if victim is None:
                    break
                self._memory.remove(victim)
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
        self.wake()

    # -- one pass ------------------------------------------------------------------

    def run_once(self) -> bool:
        worked = self._record_accepted()
        worked = self._send_from_memory(self.clock()) or worked
        batch = self.outbox.due(self.clock(), skip=self._held_back())
        for alert in batch:
            if self._stop.is_set():
                break
            try:
                if self.outbox.still_pending(alert.id):  # may have been folded meanwhile
                    self.process(alert, self.clock())
            except Exception as exc:  # one row's failure must not starve the others
                self._defer(alert, exc)
            self.heartbeat = time.monotonic()
        return worked or bool(batch)

    def _held_back(self) -> set[int]:
        now = time.monotonic()
        with self._lock:
            self._deferred = {i: d for i, d in self._deferred.items() if d[0] > now}
            return set(self._accepted) | set(self._deferred)

    def _defer(self, alert: Alert, exc: Exception) -> None:
        with self._lock:
            _, tries = self._deferred.get(alert.id, (0.0, 0))
            delay = min(30.0, 2.0**tries)
            self._deferred[alert.id] = (time.monotonic() + delay, tries + 1)
        self._ratelog.error(
            "row",
            "alert %d via %s: cannot update the outbox (%s); held back %.0fs, others go on",
            alert.id,
            alert.sink,
            exc,
            delay,
            # A storage fault explains itself; anything else is a bug: show where.
            exc_info=None if is_storage_failure(exc) else exc,
        )

    def _record_accepted(self) -> bool:
        """Retry the bookkeeping of sends the provider accepted (never the send)."""
        recorded = False
        for alert_id, acc in self.unrecorded().items():
            try:
                self.outbox.mark_sent(alert_id, acc.provider_id, acc.sent, acc.body, acc.folded)
            except Exception as exc:
                self._ratelog.error(
                    "record",
                    "alert %d was delivered (id=%s) but cannot be recorded: %s; it will not "
                    "be sent again, recording is retried",
                    alert_id,
                    acc.provider_id,
                    exc,
                )
                return recorded
            with self._lock:
                self._accepted.pop(alert_id, None)
            recorded = True
        return recorded

    def _backoff(self, attempts: int) -> float:
        return backoff(attempts, self.delivery.backoff_initial_s, self.delivery.backoff_max_s)

    def _hold_until(self, alert: Alert, now: float) -> float | None:
        last = self.outbox.last_warning_sent(alert.recipient, alert.zone)
        if last is not None and now < last + self.storm.fold_window_s:
            return last + self.storm.fold_window_s
        recent = self.outbox.warnings_sent_since(alert.recipient, now - HOUR)
        limit = self.storm.max_warnings_per_hour
        if len(recent) >= limit:
            return recent[len(recent) - limit] + HOUR
        return None

    def process(self, alert: Alert, now: float) -> None:
        sink = self.sinks.get(alert.sink)
        if sink is None:
            self._fail(alert, f"sink {alert.sink!r} is not configured", OutboxStatus.FAILED)
            return
        folded: list[int] = []
        if alert.sink == "sms" and alert.level == "warning" and alert.kind == AlertKind.INCIDENT:
            hold = self._hold_until(alert, now)
            if hold is not None and hold > now and not self.flush:
                self.outbox.hold(alert.id, hold)
                return
            pending = self.outbox.pending_warnings(alert.recipient, alert.zone)
            if len(pending) > 1:
                alert = replace(alert, body=fold_text([r["payload"] for r in pending], self.tz))
                folded = [r["id"] for r in pending if r["id"] != alert.id]
        try:
            provider_id = sink.send(alert)
        except DeliveryError as exc:
            self._failed_attempt(alert, exc, now)
            return
        except Exception as exc:  # an unexpected error in a sink: retry, report
            log.exception("alert %d via %s: unexpected error", alert.id, alert.sink)
            self._failed_attempt(alert, DeliveryError(exc.__class__.__name__, permanent=False), now)
            return
        # From here on the alert is out: whatever happens to the bookkeeping, it is
        # never sent again (a failed commit used to resend it every second).
        with self._lock:
            self._accepted[alert.id] = Accepted(
                provider_id, self.clock(), alert.body if folded else None, tuple(folded)
            )
            self.sent[alert.sink] += 1
        log.info(
            "alert %d sent via %s to %s%s%s",
            alert.id,
            alert.sink,
            mask_number(alert.recipient),
            f" id={provider_id}" if provider_id else "",
            f" (folded {len(folded)} more)" if folded else "",
        )
        self._record_accepted()

    def _send_from_memory(self, now: float) -> bool:
        with self._lock:
            due = sorted(
                (h for h in self._memory if h.due <= now),
                key=lambda h: (LEVEL_RANK.get(h.alert.level, 2), h.alert.created),
            )
        for held in due:
            if self._stop.is_set():
                break
            self._send_held(held, now)
            self.heartbeat = time.monotonic()
        return bool(due)

    def _send_held(self, held: _Held, now: float) -> None:
        alert = held.alert
        sink = self.sinks.get(alert.sink)
        key = (alert.recipient, alert.zone)
        if alert.sink == "sms" and alert.level == "warning" and alert.kind == AlertKind.INCIDENT:
            # No outbox to fold from: a recipient just warned about this zone is not
            # warned again within the fold window (danger is never held back).
            last = self._memory_warned.get(key)
            if last is not None and now - last < self.storm.fold_window_s:
                self._forget(held)
                log.warning(
                    "warning to %s not sent: warned about this zone %.0fs ago (from memory)",
                    mask_number(alert.recipient),
                    now - last,
                )
                return
        try:
            if sink is None:
                raise DeliveryError(f"sink {alert.sink!r} is not configured", permanent=True)
            provider_id = sink.send(alert)
        except Exception as exc:
            error = (
                exc if isinstance(exc, DeliveryError) else DeliveryError(str(exc), permanent=False)
            )
            delay = self._backoff(alert.attempts)
            if error.permanent or now + delay - alert.created > self.delivery.max_age_s:
                self._forget(held)
                with self._lock:
                    self.failed[alert.sink] += 1
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
            self._ratelog.warning(
                "memory-retry",
                "alert via %s to %s failed (%s); retry from memory in %.1fs",
                alert.sink,
                mask_number(alert.recipient),
                error,
                delay,
            )
            return
        self._forget(held)
        if alert.level == "warning":
            self._memory_warned[key] = now
        with self._lock:
            self.sent[alert.sink] += 1
        log.info(
            "alert sent from memory via %s to %s%s",
            alert.sink,
            mask_number(alert.recipient),
            f" id={provider_id}" if provider_id else "",
        )

    def _forget(self, held: _Held) -> None:
        with self._lock:
            if held in self._memory:
                self._memory.remove(held)

    def _failed_attempt(self, alert: Alert, exc: DeliveryError, now: float) -> None:
        if exc.permanent:
            self._fail(alert, str(exc), OutboxStatus.FAILED)
            return
        delay = self._backoff(alert.attempts)
        if now + delay - alert.created > self.delivery.max_age_s:
            self._fail(
                alert, f"gave up after {alert.attempts + 1} attempts: {exc}", OutboxStatus.EXPIRED
            )
            return
        self.outbox.mark_retry(alert.id, str(exc), now + delay)
        log.warning(
            "alert %d via %s to %s failed (%s); retry in %.1fs",
            alert.id,
            alert.sink,
            mask_number(alert.recipient),
            exc,
            delay,
        )

    def _fail(self, alert: Alert, error: str, status: OutboxStatus) -> None:
        self.outbox.mark_failed(alert.id, error, status)
        with self._lock:
            self.failed[alert.sink] += 1
        log.error(
            "alert %d via %s to %s NOT DELIVERED: %s",
            alert.id,
            alert.sink,
            mask_number(alert.recipient),
            error,
        )
        if self.on_failure and alert.kind != AlertKind.DELIVERY_FAILED:
            self.on_failure(alert, error)
