"""The delivery worker: sends due outbox rows, retries, folds warning storms.

Order: danger first, then warnings, then the rest; oldest first within a level.
The worker itself never waits on a provider: each send runs on a thread of its
own with a total deadline, a few at a time per sink but one at a time per
recipient, so that each gets their messages in order (alerts/sending.py); the
worker does the bookkeeping when a send ends. One stalled connection, one slow
recipient or one broken channel cannot hold up the others.

Storm control applies to warning SMS only, and never to danger:

* **Folding**: after a warning SMS for a zone reaches a recipient, further
  warnings for that zone and recipient wait until ``fold_window_s`` has passed,
  then go out as one summary ("WARNING x12 Press 3 guard ...").
* **Rate limit**: at most ``max_warnings_per_hour`` warning SMS per recipient;
  beyond that, warnings wait (and fold) until the hour frees a slot.

The limits are computed from the outbox itself, so they survive restarts.

Retries: transient failures retry with capped exponential backoff and jitter,
capped tighter for danger (``danger_backoff_max_s``); when a sink delivers
again after failing, its waiting rows are retried at once rather than at the
end of their backoff; a provider's Retry-After pauses that sink. Permanent
failures, and alerts older than ``max_age_s``, are marked failed, logged at
error level and reported through the other channels. A channel that is broken
as a whole (Twilio rejects the account's credentials, or they are missing) is a
*sink fault*: its rows stay queued, an alarm goes out on the other channels,
and the sink is tried again as soon as its credentials change (or every
``FAULT_PROBE_S``).

The wall clock may step (NTP fixing a stale RTC, an operator setting the time):
a step is seen as wall time moving differently from monotonic time, and the
times of pending rows move with it, so an alert is neither delayed by an hour
nor expired seconds after it was made.

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
from ..base.alerts import Alert, AlertKind, DeliveryError, OutboxStatus
from ..base.ratelog import RateLimitedLog
from ..base.timing import backoff
from ..storage.store import is_storage_failure
from .messages import fold_text, mask_number
from .outbox import NewAlert, Outbox
from .sending import Attempt, Outcome, Sends

log = logging.getLogger(__name__)
HOUR = 3600.0
MEMORY_LIMIT = 10_000  # alerts held in memory while the outbox cannot be written
LEVEL_RANK = {"danger": 0, "warning": 1}
CLOCK_STEP_S = 2.0  # wall time moving this much more or less than monotonic time
FAULT_PROBE_S = 300.0  # a faulted sink is tried again this often even if nothing changed
WORKER_STALL_S = 45.0  # a pass may wait on SQLite's busy timeout (30 s) and more


@dataclass(frozen=True)
class Accepted:
    """A send the provider accepted whose recording in the outbox has not succeeded."""

    alert: Alert  # as sent
    provider_id: str | None
    sent: float
    folded: tuple[int, ...]

    @property
    def summary(self) -> str | None:
        """The folded summary's text, recorded as the row's body."""
        return self.alert.body if self.folded else None


@dataclass
class SinkFault:
    """A channel broken as a whole: no sends until its credentials change."""

    error: str
    since: float  # wall
    credentials: object  # the sink's credential state when it failed
    probe_at: float  # monotonic: try once more anyway


@dataclass
class _Held:
    """An alert delivered from memory because the outbox could not take it."""

    alert: Alert
    due: float
    sending: bool = False


def is_fold_candidate(alert: Alert) -> bool:
    return alert.sink == "sms" and alert.level == "warning" and alert.kind == AlertKind.INCIDENT


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
        monotonic: Callable[[], float] = time.monotonic,
        on_sink_fault: Callable[[str, str | None], None] | None = None,
    ) -> None:
        self.outbox = outbox
        self.sinks = dict(sinks)
        self.delivery = delivery
        self.storm = storm
        self.tz = tz
        self.on_failure = on_failure
        self.on_sink_fault = on_sink_fault  # (sink, error) when it breaks, (sink, None) when back
        self.clock = clock
        self.monotonic = monotonic
        self.sent: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.heartbeat = monotonic()
        self.flush = False  # draining: send held warnings now (still folded)
        self.sends = Sends(delivery.parallel_sends, delivery.send_deadline_s, self.wake, monotonic)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._accepted: dict[int, Accepted] = {}
        self._deferred: dict[int, tuple[float, int]] = {}  # id -> (monotonic until, tries)
        self._memory: list[_Held] = []
        self._memory_ids = itertools.count(-1, -1)
        self._memory_warned: dict[tuple[str, str | None], float] = {}
        self._faults: dict[str, SinkFault] = {}
        self._paused: dict[str, float] = {}  # sink -> monotonic end of a provider's Retry-After
        self._failing: set[str] = set()  # sinks whose last outcome was a transient failure
        self._clock_ref: tuple[float, float] | None = None  # (wall, monotonic)
        self._unapplied_step = 0.0  # a clock step the outbox has not taken yet
        self._ratelog = RateLimitedLog(log)

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="delivery", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the worker; wait (within ``timeout``) for sends in flight and record
        what they did, so an accepted alert is not sent again after a restart."""
        end = time.monotonic() + timeout
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(max(0.0, end - time.monotonic()))
        if self.sends.running(abandoned=False):
            self.sends.wait_idle(max(0.0, end - time.monotonic()))
        try:
            self._collect(self.clock())
            self._record_accepted()
        except Exception as exc:
            log.error("cannot record the last sends at stop: %s", exc)

    @property
    def alive(self) -> bool:
        return bool(self._thread and self._thread.is_alive())

    def stalled(self) -> list[str]:
        """The worker ended, or has not come round for too long."""
        if not self.alive:
            return ["alert delivery worker ended"]
        late = self.monotonic() - self.heartbeat
        if late > WORKER_STALL_S:
            return [f"alert delivery worker has not come round for {late:.0f}s"]
        return []

    def wake(self) -> None:
        self._wake.set()

    def drain(self, timeout: float) -> bool:
        """Deliver everything pending now (held warnings folded and sent at once)."""
        self.flush = True
        self.wake()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._drained():
                return True
            time.sleep(0.05)
        return self._drained()

    def _drained(self) -> bool:
        return (
            self.outbox.depth() == 0
            and not self.in_memory()
            and not self.sends.running(abandoned=False)
        )

    def _run(self) -> None:
        while not self._stop.is_set():
            self.heartbeat = self.monotonic()
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
        """Until the next row is due, a send may end or its deadline passes; at most
        1 s. Rows that are due but cannot start (their sink is busy, paused or
        broken) are looked at again every half second, or when a send ends."""
        now = self.clock()
        nxt = self.outbox.next_due(skip=self._held_back())
        with self._lock:
            dues = [h.due for h in self._memory if not h.sending]
        if dues:
            nxt = min(dues) if nxt is None else min(nxt, min(dues))
        wait = 1.0 if nxt is None else (min(1.0, nxt - now) if nxt > now else 0.5)
        deadline = self.sends.next_deadline()
        if deadline is not None:
            wait = min(wait, max(0.0, deadline - self.monotonic()))
        return wait

    # -- what is held in memory -------------------------------------------------------

    def in_memory(self) -> list[Alert]:
        """Alerts waiting in memory for delivery (the outbox could not take them)."""
        with self._lock:
            return [h.alert for h in self._memory]

    def unrecorded(self) -> dict[int, Accepted]:
        """Sends the provider accepted that the outbox has not recorded yet."""
        with self._lock:
            return dict(self._accepted)

    def faults(self) -> dict[str, SinkFault]:
        """Sinks broken as a whole (rejected or missing credentials)."""
        with self._lock:
            return dict(self._faults)

    def stuck_sends(self) -> Counter[str]:
        """Per sink, sends past their deadline whose threads have not ended."""
        return Counter(a.sink for a in self.sends.running(abandoned=True))

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
                victim = next(
                    (h for h in self._memory if h.alert.level != "danger" and not h.sending), None
                )
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
        """One pass: follow the clock, collect ended sends, record, start what is due.
        True when there may be more to do at once."""
        now = self.clock()
        self._follow_clock(now)
        worked = self._collect(now)
        worked = self._record_accepted() or worked
        worked = self._send_from_memory(self.clock()) or worked
        return self._send_due(self.clock()) or worked

    def settle(self, timeout: float = 30.0) -> None:
        """Passes until nothing is due, in flight or waiting to be booked (for tests
        that drive the worker): a send that ended after this pass collected is booked
        by the next one."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            worked = self.run_once()
            if not worked and not self.sends.uncollected():
                return
            if not worked:
                self._wake.wait(0.05)
                self._wake.clear()

    def _send_due(self, now: float) -> bool:
        batch = self.outbox.due(now, skip=self._held_back())
        started = False
        for alert in batch:
            if self._stop.is_set():
                break
            if (
                self.sends.busy_recipient(alert.sink, alert.recipient)
                or self._warning_in_flight(alert)
                or not self._can_send(alert.sink)
            ):
                continue
            try:
                if self.outbox.still_pending(alert.id):  # may have been folded meanwhile
                    started = self.process(alert, now) or started
            except Exception as exc:  # one row's failure must not starve the others
                self._defer(alert, exc)
            self.heartbeat = self.monotonic()
        return started

    def _can_send(self, sink_name: str) -> bool:
        if not self.sends.free(sink_name):
            return False
        mono = self.monotonic()
        if self._paused.get(sink_name, 0.0) > mono:
            return False
        fault = self._faults.get(sink_name)
        if fault is None:
            return True
        if self._busy_sink(sink_name):
            return False  # a try is in flight already
        sink = self.sinks.get(sink_name)
        now_credentials = _credentials(sink) if sink is not None else None
        if now_credentials != fault.credentials or mono >= fault.probe_at:
            # One try; until one succeeds the sink stays faulted.
            fault.probe_at = mono + FAULT_PROBE_S
            fault.credentials = now_credentials
            return True
        return False

    def _busy_sink(self, sink_name: str) -> bool:
        return any(a.sink == sink_name for a in self.sends.running(abandoned=False))

    def _warning_in_flight(self, alert: Alert) -> bool:
        """A warning to a recipient about a zone waits while another one to them
        about it is in flight or unrecorded: the fold must see the first one sent."""
        if not is_fold_candidate(alert):
            return False
        key = (alert.recipient, alert.zone)
        busy = [a.alert for a in self.sends.running(abandoned=False)]
        busy += [acc.alert for acc in self.unrecorded().values()]
        return any(is_fold_candidate(b) and (b.recipient, b.zone) == key for b in busy)

    def _held_back(self) -> set[int]:
        now = self.monotonic()
        with self._lock:
            self._deferred = {i: d for i, d in self._deferred.items() if d[0] > now}
            held = set(self._accepted) | set(self._deferred)
            for acc in self._accepted.values():
                held.update(acc.folded)
        return held | self.sends.busy()

    def _defer(self, alert: Alert, exc: Exception) -> None:
        with self._lock:
            _, tries = self._deferred.get(alert.id, (0.0, 0))
            delay = min(30.0, 2.0**tries)
            self._deferred[alert.id] = (self.monotonic() + delay, tries + 1)
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
                self.outbox.mark_sent(alert_id, acc.provider_id, acc.sent, acc.summary, acc.folded)
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

    # -- the clock -------------------------------------------------------------------------

    def _follow_clock(self, wall: float) -> None:
        """Move pending rows (and alerts held in memory) with a step of the wall clock.
        Never raises: a database that cannot take the move now gets it on a later pass,
        and meanwhile everything else goes on."""
        mono = self.monotonic()
        ref = self._clock_ref
        self._clock_ref = (wall, mono)
        if ref is not None:
            step = (wall - ref[0]) - (mono - ref[1])
            if abs(step) > CLOCK_STEP_S:
                with self._lock:
                    for held in self._memory:
                        held.due += step
                        held.alert = replace(held.alert, created=held.alert.created + step)
                self._unapplied_step += step
                log.warning("the wall clock stepped %+.0fs; pending alerts move with it", step)
        if self._unapplied_step:
            try:
                moved = self.outbox.shift_pending(self._unapplied_step)
            except Exception as exc:
                self._ratelog.error("clock", "cannot move pending alerts with the clock: %s", exc)
                return
            self._unapplied_step = 0.0
            log.info("%d pending alert(s) moved with the clock", moved)

    # -- deciding and starting a send ----------------------------------------------------

    def _backoff(self, alert: Alert) -> float:
        d = self.delivery
        cap = min(d.backoff_max_s, d.danger_backoff_max_s) if alert.level == "danger" else None
        return backoff(alert.attempts, d.backoff_initial_s, cap or d.backoff_max_s)

    def _hold_until(self, alert: Alert, now: float) -> float | None:
        window = self.storm.fold_window_s
        last = self.outbox.last_warning_sent(alert.recipient, alert.zone)
        if last is not None and now < last + window:
            # min(): after the clock stepped back, a "sent" in the future must not
            # hold warnings for the length of the step.
            return min(last + window, now + window)
        recent = self.outbox.warnings_sent_since(alert.recipient, now - HOUR)
        limit = self.storm.max_warnings_per_hour
        if len(recent) >= limit:
            return min(recent[len(recent) - limit] + HOUR, now + HOUR)
        return None

    def process(self, alert: Alert, now: float) -> bool:
        """Decide what to do with a due row; True if a send was started."""
        sink = self.sinks.get(alert.sink)
        if sink is None:
            self._fail(alert, f"sink {alert.sink!r} is not configured", OutboxStatus.FAILED)
            return False
        if now - alert.created > self.delivery.max_age_s:
            # Queued behind a broken channel: too old to matter now.
            why = f"not delivered within max_age_s ({self.delivery.max_age_s:g}s)"
            last_error = self._last_error(alert)
            self._fail(alert, f"{why}; last error: {last_error}" if last_error else why,
                       OutboxStatus.EXPIRED)  # fmt: skip
            return False
        folded: list[int] = []
        if is_fold_candidate(alert):
            hold = self._hold_until(alert, now)
            if hold is not None and hold > now and not self.flush:
                self.outbox.hold(alert.id, hold)
                return False
            pending = self.outbox.pending_warnings(alert.recipient, alert.zone)
            if len(pending) > 1:
                alert = replace(alert, body=fold_text([r["payload"] for r in pending], self.tz))
                folded = [r["id"] for r in pending if r["id"] != alert.id]
        self.sends.start(sink, alert, tuple(folded))
        return True

    def _last_error(self, alert: Alert) -> str | None:
        rows = self.outbox.rows(id=alert.id) if alert.id > 0 else []
        return rows[0]["last_error"] if rows else None

    # -- outcomes --------------------------------------------------------------------------

    def _collect(self, now: float) -> bool:
        """Book what ended, and give up on what overran its deadline."""
        outcomes = self.sends.finished()
        for outcome in outcomes:
            try:
                self._outcome(outcome, now)
            except Exception as exc:
                self._defer(outcome.attempt.alert, exc)
        overdue = self.sends.overdue()
        for attempt in overdue:
            error = DeliveryError(
                f"no answer within {self.delivery.send_deadline_s:g}s", permanent=False
            )
            try:
                self._attempt_failed(attempt, error, now)
            except Exception as exc:
                self._defer(attempt.alert, exc)
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
        self._delivered(attempt.sink)
        if attempt.from_memory:
            self._sent_from_memory(attempt, outcome.provider_id, now)
            return
        # From here on the alert is out: whatever happens to the bookkeeping, it is
        # never sent again (a failed commit used to resend it every second).
        with self._lock:
            self._accepted[alert.id] = Accepted(
                alert, outcome.provider_id, self.clock(), attempt.folded
            )
            self.sent[alert.sink] += 1
        log.info(
            "alert %d sent via %s to %s%s%s",
            alert.id,
            alert.sink,
            mask_number(alert.recipient),
            f" id={outcome.provider_id}" if outcome.provider_id else "",
            f" (folded {len(attempt.folded)} more)" if attempt.folded else "",
        )

    def _late_success(self, outcome: Outcome) -> None:
        """A send abandoned at its deadline went through after all."""
        attempt, alert = outcome.attempt, outcome.attempt.alert
        self._delivered(attempt.sink)
        if attempt.from_memory:
            held = self._held_for(attempt)
            if held is not None and not held.sending:
                self._forget(held)  # not retried yet: this was its delivery
            log.warning(
                "alert via %s to %s answered after its deadline: delivered (perhaps twice)",
                alert.sink,
                mask_number(alert.recipient),
            )
            return
        rows = self.outbox.rows(id=alert.id)
        if alert.id in self.unrecorded() or (rows and rows[0]["status"] == OutboxStatus.SENT):
            log.warning(
                "alert %d via %s to %s: an attempt abandoned at its deadline went through "
                "as well: delivered twice",
                alert.id,
                alert.sink,
                mask_number(alert.recipient),
            )
            return
        with self._lock:
            self._accepted[alert.id] = Accepted(
                alert, outcome.provider_id, self.clock(), attempt.folded
            )
            self.sent[alert.sink] += 1
        log.warning(
            "alert %d via %s to %s was delivered after its deadline (id=%s)",
            alert.id,
            alert.sink,
            mask_number(alert.recipient),
            outcome.provider_id,
        )

    def _delivered(self, sink_name: str) -> None:
        """A send on this sink went through: it works, so clear its fault, and what
        waits on it after failures goes now instead of at the end of its backoff."""
        fault = self._faults.pop(sink_name, None)
        if fault is not None:
            log.warning("alert channel %s works again (was: %s)", sink_name, fault.error)
            if self.on_sink_fault:
                self.on_sink_fault(sink_name, None)
        if fault is not None or sink_name in self._failing:
            self._failing.discard(sink_name)
            moved = self.outbox.pull_forward(sink_name, self.clock())
            if moved:
                log.info("%s delivers again: %d waiting alert(s) retried now", sink_name, moved)

    def _attempt_failed(self, attempt: Attempt, error: DeliveryError, now: float) -> None:
        alert = attempt.alert
        if error.retry_after:
            self._paused[attempt.sink] = self.monotonic() + error.retry_after
        if error.fault:
            self._sink_fault(attempt.sink, error)
        elif not error.permanent:
            self._failing.add(attempt.sink)
        if attempt.from_memory:
            self._memory_failed(attempt, error, now)
        else:
            self._failed_attempt(alert, error, now)

    def _sink_fault(self, sink_name: str, error: DeliveryError) -> None:
        new = sink_name not in self._faults
        sink = self.sinks.get(sink_name)
        reset = getattr(sink, "reset", None)
        if reset:
            reset()  # drop cached clients: the next try reads the credentials again
        with self._lock:
            self._faults[sink_name] = SinkFault(
                str(error),
                self._faults[sink_name].since if not new else self.clock(),
                _credentials(sink) if sink is not None else None,
                self.monotonic() + FAULT_PROBE_S,
            )
        if new:
            log.error(
                "alert channel %s is broken: %s; its alerts stay queued and it is tried "
                "again when its credentials change",
                sink_name,
                error,
            )
            if self.on_sink_fault:
                self.on_sink_fault(sink_name, str(error))

    def _failed_attempt(self, alert: Alert, exc: DeliveryError, now: float) -> None:
        if exc.permanent:
            self._fail(alert, str(exc), OutboxStatus.FAILED)
            return
        delay = max(self._backoff(alert), exc.retry_after or 0.0)
        if exc.fault:
            delay = max(delay, 1.0)  # the fault, not the backoff, decides when it is tried
        elif now + delay - alert.created > self.delivery.max_age_s:
            self._fail(
                alert, f"gave up after {alert.attempts + 1} attempts: {exc}", OutboxStatus.EXPIRED
            )
            return
        self.outbox.mark_retry(alert.id, str(exc), now + delay)
        self._ratelog.warning(
            f"retry-{alert.sink}",
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

    # -- delivery from memory ------------------------------------------------------------

    def _send_from_memory(self, now: float) -> bool:
        with self._lock:
            due = sorted(
                (h for h in self._memory if h.due <= now and not h.sending),
                key=lambda h: (LEVEL_RANK.get(h.alert.level, 2), h.alert.created),
            )
        started = False
        for held in due:
            if self._stop.is_set():
                break
            started = self._send_held(held, now) or started
        return started

    def _send_held(self, held: _Held, now: float) -> bool:
        alert = held.alert
        sink = self.sinks.get(alert.sink)
        if sink is None:
            self._forget(held)
            log.error("alert via %s NOT DELIVERED (held in memory): sink not configured: %s",
                      alert.sink, alert.body)  # fmt: skip
            return False
        if self.sends.busy_recipient(alert.sink, alert.recipient) or not self._can_send(alert.sink):
            return False
        if is_fold_candidate(alert):
            # No outbox to fold from: a recipient just warned about this zone is not
            # warned again within the fold window (danger is never held back).
            last = self._memory_warned.get((alert.recipient, alert.zone))
            if last is not None and now - last < self.storm.fold_window_s:
                self._forget(held)
                log.warning(
                    "warning to %s not sent: warned about this zone %.0fs ago (from memory)",
                    mask_number(alert.recipient),
                    now - last,
                )
                return False
        with self._lock:
            held.sending = True
        self.sends.start(sink, alert, from_memory=True)
        return True

    def _held_for(self, attempt: Attempt) -> _Held | None:
        with self._lock:
            return next((h for h in self._memory if h.alert.id == attempt.alert.id), None)

    def _sent_from_memory(self, attempt: Attempt, provider_id: str | None, now: float) -> None:
        alert = attempt.alert
        held = self._held_for(attempt)
        if held is not None:
            self._forget(held)
        if is_fold_candidate(alert):
            self._memory_warned[(alert.recipient, alert.zone)] = now
        with self._lock:
            self.sent[alert.sink] += 1
        log.info(
            "alert sent from memory via %s to %s%s",
            alert.sink,
            mask_number(alert.recipient),
            f" id={provider_id}" if provider_id else "",
        )

    def _memory_failed(self, attempt: Attempt, error: DeliveryError, now: float) -> None:
        held = self._held_for(attempt)
        if held is None:
            return
        alert = held.alert
        delay = max(self._backoff(alert), error.retry_after or 0.0)
        if error.permanent or (
            not error.fault and now + delay - alert.created > self.delivery.max_age_s
        ):
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
            if held in self._memory:
                self._memory.remove(held)


def _credentials(sink: Sink) -> object:
    """What the sink's credentials are now (opaque; compared to see a change)."""
    state = getattr(sink, "credential_state", None)
    return state() if state else None
