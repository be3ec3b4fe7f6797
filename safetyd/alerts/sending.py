"""Sends in flight: each on a thread of its own, a few per sink, each with a deadline.

A provider that answers one byte every few seconds defeats a per-read socket
timeout, and a Python thread cannot be killed. So the delivery worker never
waits on a send: it starts it here and goes on with the others, and collects
the outcome when the send ends (``finished``).

A send still running at its deadline is *abandoned* (``overdue``): the worker
counts it as a failed attempt and retries the row, so one stalled connection
cannot hold an alert back. Its thread is left to end by itself; if it then
succeeds after all, that outcome comes back marked ``late`` (the alert went
out, perhaps twice: better than not at all).

Capacity per sink: ``parallel`` sends within their deadline, to different
recipients, so one slow recipient does not hold up the next while each
recipient still gets their messages in order; abandoned sends still running are counted
too, up to ``MAX_ABANDONED`` per sink, so a provider that never answers cannot
grow threads without bound: at that point the sink takes no new sends and
delivery health says why.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..abc import Sink
from ..base.alerts import Alert, DeliveryError

log = logging.getLogger(__name__)
MAX_ABANDONED = 8  # per sink: stalled sends whose threads have not ended yet


@dataclass
class Attempt:
    token: int
    sink: str
    alert: Alert  # as sent (a folded summary carries its summary body)
    folded: tuple[int, ...]  # warnings the summary stands for
    from_memory: bool  # an alert the outbox could not store
    started: float  # monotonic
    deadline: float  # monotonic
    abandoned: bool = False
    ended: bool = False  # the send returned; its outcome waits to be collected


@dataclass(frozen=True)
class Outcome:
    attempt: Attempt
    provider_id: str | None
    error: DeliveryError | None
    late: bool  # ended after it had been abandoned


class Sends:
    def __init__(
        self,
        parallel: int,
        deadline_s: float,
        on_done: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.parallel = parallel
        self.deadline_s = deadline_s
        self.on_done = on_done
        self.clock = clock
        self._lock = threading.Lock()
        self._running: dict[int, Attempt] = {}
        self._results: list[Outcome] = []
        self._tokens = itertools.count(1)

    def free(self, sink: str) -> bool:
        """Whether ``sink`` can take another send now."""
        with self._lock:
            mine = [a for a in self._running.values() if a.sink == sink and not a.ended]
        live = sum(1 for a in mine if not a.abandoned)
        return live < self.parallel and len(mine) - live < MAX_ABANDONED

    def busy(self) -> set[int]:
        """Outbox ids of sends in flight within their deadline, or ended and not yet
        collected (and the warnings a summary stands for): not to be picked again
        meanwhile."""
        with self._lock:
            return {
                i
                for a in self._running.values()
                if not a.abandoned and not a.from_memory
                for i in (a.alert.id, *a.folded)
            }

    def busy_recipient(self, sink: str, recipient: str) -> bool:
        """Whether a send to this recipient on this sink is in flight (within its
        deadline, or ended and not yet collected): one at a time per recipient keeps
        their messages in order (a webhook sees "opened" before "cleared")."""
        with self._lock:
            return any(
                a.sink == sink and a.alert.recipient == recipient and not a.abandoned
                for a in self._running.values()
            )

    def running(self, *, abandoned: bool | None = None) -> list[Attempt]:
        """Sends whose call has not returned yet."""
        with self._lock:
            return [
                a
                for a in self._running.values()
                if not a.ended and (abandoned is None or a.abandoned == abandoned)
            ]

    def uncollected(self) -> bool:
        """Whether a send is in flight within its deadline, or has ended and its
        outcome waits for ``finished``."""
        with self._lock:
            return any(not a.abandoned for a in self._running.values())

    def next_deadline(self) -> float | None:
        with self._lock:
            live = [a.deadline for a in self._running.values() if not (a.abandoned or a.ended)]
        return min(live) if live else None

    def start(
        self, sink: Sink, alert: Alert, folded: tuple[int, ...] = (), from_memory: bool = False
    ) -> Attempt:
        now = self.clock()
        attempt = Attempt(
            next(self._tokens), sink.name, alert, folded, from_memory, now, now + self.deadline_s
        )
        with self._lock:
            self._running[attempt.token] = attempt
        try:
            threading.Thread(
                target=self._send, args=(sink, attempt), name=f"send-{sink.name}", daemon=True
            ).start()
        except BaseException:  # no thread (resource limits): the row stays due
            with self._lock:
                self._running.pop(attempt.token, None)
            raise
        return attempt

    def _send(self, sink: Sink, attempt: Attempt) -> None:
        provider_id, error = None, None
        try:
            provider_id = sink.send(attempt.alert)
        except DeliveryError as exc:
            error = exc
        except Exception as exc:  # a bug in a sink: report it, retry the row
            log.exception("alert %d via %s: unexpected error", attempt.alert.id, attempt.sink)
            error = DeliveryError(exc.__class__.__name__, permanent=False)
        with self._lock:
            attempt.ended = True
            self._results.append(Outcome(attempt, provider_id, error, attempt.abandoned))
        self.on_done()

    def finished(self) -> list[Outcome]:
        """Outcomes of the sends that ended since the last call (collected: their rows
        may be picked again once the caller has booked them)."""
        with self._lock:
            done, self._results = self._results, []
            for outcome in done:
                self._running.pop(outcome.attempt.token, None)
        return done

    def overdue(self) -> list[Attempt]:
        """Sends past their deadline, abandoned now (each is returned once)."""
        now = self.clock()
        with self._lock:
            late = [
                a
                for a in self._running.values()
                if not (a.abandoned or a.ended) and now >= a.deadline
            ]
            for a in late:
                a.abandoned = True
        return late

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no send within its deadline is running (for drain and tests)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not self.running(abandoned=False):
                return True
            time.sleep(0.02)
        return not self.running(abandoned=False)
