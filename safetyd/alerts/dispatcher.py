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
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import replace
from zoneinfo import ZoneInfo

from .base import Alert, DeliveryError, Sink
from .messages import fold_text
from .outbox import Outbox

log = logging.getLogger(__name__)
HOUR = 3600.0


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
        self.send_latency: list[float] = []  # capture → provider accepted, for metrics
        self.heartbeat = time.monotonic()
        self.flush = False  # draining: send held warnings now (still folded)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

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
            if self.outbox.depth() == 0:
                return True
            time.sleep(0.05)
        return self.outbox.depth() == 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.heartbeat = time.monotonic()
            try:
                worked = self.run_once()
            except Exception:  # a bug here must not end alert delivery for good
                log.exception("delivery worker error; retrying")
                worked = False
                self._stop.wait(1.0)
            if worked:
                continue
            nxt = self.outbox.next_due()
            wait = 1.0 if nxt is None else min(1.0, max(0.0, nxt - self.clock()))
            self._wake.wait(wait)
            self._wake.clear()

    # -- one pass ------------------------------------------------------------------

    def run_once(self) -> bool:
        now = self.clock()
        batch = self.outbox.due(now)
        for alert in batch:
            if self._stop.is_set():
                break
            if self.outbox.still_pending(alert.id):  # may have been folded meanwhile
                self.process(alert, self.clock())
                self.heartbeat = time.monotonic()
        return bool(batch)

    def _backoff(self, attempts: int) -> float:
        d = self.delivery
        base = min(d.backoff_max_s, d.backoff_initial_s * 2 ** min(attempts, 20))
        return base * random.uniform(0.5, 1.0)

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
            self._fail(alert, f"sink {alert.sink!r} is not configured", "failed")
            return
        folded: list[int] = []
        if alert.sink == "sms" and alert.level == "warning" and alert.kind == "incident":
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
        self.outbox.mark_sent(
            alert.id, provider_id, self.clock(), body=alert.body if folded else None
        )
        if folded:
            self.outbox.fold(alert.id, folded)
        with self._lock:
            self.sent[alert.sink] += 1
        log.info(
            "alert %d sent via %s to %s%s%s",
            alert.id,
            alert.sink,
            _mask(alert.recipient),
            f" id={provider_id}" if provider_id else "",
            f" (folded {len(folded)} more)" if folded else "",
        )

    def _failed_attempt(self, alert: Alert, exc: DeliveryError, now: float) -> None:
        if exc.permanent:
            self._fail(alert, str(exc), "failed")
            return
        delay = self._backoff(alert.attempts)
        if now + delay - alert.created > self.delivery.max_age_s:
            self._fail(alert, f"gave up after {alert.attempts + 1} attempts: {exc}", "expired")
            return
        self.outbox.mark_retry(alert.id, str(exc), now + delay)
        log.warning(
            "alert %d via %s to %s failed (%s); retry in %.1fs",
            alert.id,
            alert.sink,
            _mask(alert.recipient),
            exc,
            delay,
        )

    def _fail(self, alert: Alert, error: str, status: str) -> None:
        self.outbox.mark_failed(alert.id, error, status)
        with self._lock:
            self.failed[alert.sink] += 1
        log.error(
            "alert %d via %s to %s NOT DELIVERED: %s",
            alert.id,
            alert.sink,
            _mask(alert.recipient),
            error,
        )
        if self.on_failure and alert.kind != "delivery_failed":
            self.on_failure(alert, error)


def _mask(recipient: str) -> str:
    """Phone numbers in logs: enough digits to tell them apart, not to dial them."""
    if recipient.startswith("+") and len(recipient) > 6:
        return recipient[:4] + "…" + recipient[-3:]
    return recipient
