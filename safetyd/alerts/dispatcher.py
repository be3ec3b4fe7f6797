"""The delivery worker: sends due outbox rows, retries, folds warning storms.

Order: danger first, then warnings, then the rest; oldest first within a level.
The worker itself never waits on a provider: each send runs on a thread of its
own with a total deadline, a few at a time per sink but one at a time per
recipient, so that each gets their messages in order (sending.py); the worker
does the bookkeeping when a send ends. One stalled connection, one slow
recipient or one broken channel cannot hold up the others.

Storm control (warning SMS only, never danger) is storm.py. Retries: transient
failures retry with capped exponential backoff and jitter, capped tighter for
danger (``danger_backoff_max_s``). Permanent failures, and alerts older than
``max_age_s``, are marked failed, logged at error level and reported through the
other channels. A channel broken as a whole, a provider's Retry-After, a channel
that delivers again: channels.py.

The wall clock may step (NTP fixing a stale RTC, an operator setting the time):
a step is seen as wall time moving differently from monotonic time, and the
times of pending rows move with it, so an alert is neither delayed by an hour
nor expired seconds after it was made.

When the database cannot be written (a full disk), rows whose update failed are
held back (bookkeeping.py: an accepted send is never sent again), and alerts that
could not be written to the outbox at all are delivered from memory (memory.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from zoneinfo import ZoneInfo

from ..abc import Sink
from ..base.alerts import Alert, OutboxStatus
from ..base.ratelog import RateLimitedLog
from ..base.timing import backoff
from ..config.alerts import DeliverySettings, StormSettings
from . import storm as storms
from .bookkeeping import Accepted, Bookkeeping
from .channels import Channels, SinkFault
from .memory import MemoryQueue
from .outbox import NewAlert, Outbox
from .outcomes import Outcomes
from .sending import Sends

log = logging.getLogger(__name__)
CLOCK_STEP_S = 2.0  # wall time moving this much more or less than monotonic time
WORKER_STALL_S = 45.0  # a pass may wait on SQLite's busy timeout (30 s) and more


class Dispatcher:
    def __init__(
        self,
        outbox: Outbox,
        sinks: Mapping[str, Sink],
        delivery: DeliverySettings,
        storm: StormSettings,
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
        self._lock = threading.Lock()  # the counters
        # (sink, error) when it breaks, (sink, None) when it works again
        self.channels = Channels(outbox, lambda: self.sinks, self.sends, clock, monotonic,
                                 on_sink_fault)  # fmt: skip
        self.books = Bookkeeping(outbox, monotonic)
        self.memory = MemoryQueue(self)
        self.outcomes = Outcomes(self)
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
            self.outcomes.collect(self.clock())
            self.books.record()
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
            and not self.memory.alerts()
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
        held = self.memory.next_due()
        if held is not None:
            nxt = held if nxt is None else min(nxt, held)
        wait = 1.0 if nxt is None else (min(1.0, nxt - now) if nxt > now else 0.5)
        deadline = self.sends.next_deadline()
        if deadline is not None:
            wait = min(wait, max(0.0, deadline - self.monotonic()))
        return wait

    # -- what is held, broken, stuck ----------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def count(self, counter: Counter[str], sink: str) -> None:
        """One more sent or failed on this sink (``self.sent`` / ``self.failed``)."""
        with self._lock:
            counter[sink] += 1

    def in_memory(self) -> list[Alert]:
        """Alerts waiting in memory for delivery (the outbox could not take them)."""
        return self.memory.alerts()

    def unrecorded(self) -> dict[int, Accepted]:
        """Sends the provider accepted that the outbox has not recorded yet."""
        return self.books.unrecorded()

    def faults(self) -> dict[str, SinkFault]:
        """Sinks broken as a whole (rejected or missing credentials)."""
        return self.channels.faults()

    def stuck_sends(self) -> Counter[str]:
        """Per sink, sends past their deadline whose threads have not ended."""
        return Counter(a.sink for a in self.sends.running(abandoned=True))

    def send_from_memory(self, rows: Sequence[NewAlert]) -> None:
        """Deliver alerts the outbox could not store (memory.py)."""
        self.memory.add(rows)
        self.wake()

    # -- one pass ------------------------------------------------------------------

    def run_once(self) -> bool:
        """One pass: follow the clock, collect ended sends, record, start what is due.
        True when there may be more to do at once."""
        now = self.clock()
        self._follow_clock(now)
        worked = self.outcomes.collect(now)
        worked = self.books.record() or worked
        worked = self.memory.send_due(self.clock()) or worked
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
                or not self.channels.can_send(alert.sink)
            ):
                continue
            try:
                if self.outbox.still_pending(alert.id):  # may have been folded meanwhile
                    started = self.process(alert, now) or started
            except Exception as exc:  # one row's failure must not starve the others
                self.books.defer(alert, exc)
            self.heartbeat = self.monotonic()
        return started

    def _warning_in_flight(self, alert: Alert) -> bool:
        """A warning to a recipient about a zone waits while another one to them
        about it is in flight or unrecorded: the fold must see the first one sent."""
        if not storms.is_fold_candidate(alert):
            return False
        key = (alert.recipient, alert.zone)
        busy = [a.alert for a in self.sends.running(abandoned=False)]
        busy += [acc.alert for acc in self.unrecorded().values()]
        return any(storms.is_fold_candidate(b) and (b.recipient, b.zone) == key for b in busy)

    def _held_back(self) -> set[int]:
        return self.books.held_back() | self.sends.busy()

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
                self.memory.shift(step)
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

    def backoff(self, alert: Alert) -> float:
        d = self.delivery
        cap = min(d.backoff_max_s, d.danger_backoff_max_s) if alert.level == "danger" else None
        return backoff(alert.attempts, d.backoff_initial_s, cap or d.backoff_max_s)

    def process(self, alert: Alert, now: float) -> bool:
        """Decide what to do with a due row; True if a send was started."""
        sink = self.sinks.get(alert.sink)
        if sink is None:
            self.outcomes.fail(alert, f"sink {alert.sink!r} is not configured", OutboxStatus.FAILED)
            return False
        if now - alert.created > self.delivery.max_age_s:
            # Queued behind a broken channel: too old to matter now.
            why = f"not delivered within max_age_s ({self.delivery.max_age_s:g}s)"
            last_error = self._last_error(alert)
            self.outcomes.fail(alert, f"{why}; last error: {last_error}" if last_error else why,
                       OutboxStatus.EXPIRED)  # fmt: skip
            return False
        folded: list[int] = []
        if storms.is_fold_candidate(alert):
            hold = storms.hold_until(self.outbox, self.storm, alert, now)
            if hold is not None and hold > now and not self.flush:
                self.outbox.hold(alert.id, hold)
                return False
            alert, folded = storms.fold(self.outbox, alert, self.tz)
        self.sends.start(sink, alert, tuple(folded))
        return True

    def _last_error(self, alert: Alert) -> str | None:
        rows = self.outbox.rows(id=alert.id) if alert.id > 0 else []
        return rows[0]["last_error"] if rows else None
