"""The delivery worker's view of each alert channel: broken as a whole, paused by
a provider, or failing.

A channel that is broken as a whole (Twilio rejects the account's credentials, or
they are missing) is a *sink fault*: its rows stay queued, an alarm goes out on
the other channels, and the sink is tried once more as soon as its credentials
change (or every ``FAULT_PROBE_S``). A provider's Retry-After pauses its sink.
When a sink delivers again after failing, its waiting rows are retried at once
rather than at the end of their backoff.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..abc import Sink
from ..base.alerts import DeliveryError
from .outbox import Outbox
from .sending import Sends

log = logging.getLogger("safetyd.alerts.dispatcher")  # the lines kept their logger name
FAULT_PROBE_S = 300.0  # a faulted sink is tried again this often even if nothing changed


@dataclass
class SinkFault:
    """A channel broken as a whole: no sends until its credentials change."""

    error: str
    since: float  # wall
    credentials: object  # the sink's credential state when it failed
    probe_at: float  # monotonic: try once more anyway


def credentials_of(sink: Sink | None) -> object:
    """What the sink's credentials are now (opaque; compared to see a change)."""
    state = getattr(sink, "credential_state", None)
    return state() if state else None


class Channels:
    def __init__(
        self,
        outbox: Outbox,
        sinks: Callable[[], Mapping[str, Sink]],
        sends: Sends,
        clock: Callable[[], float],
        monotonic: Callable[[], float],
        on_sink_fault: Callable[[str, str | None], None] | None,
    ) -> None:
        """``sinks``: the running ones (a reload replaces them). ``on_sink_fault``:
        (sink, error) when it breaks, (sink, None) when it works again."""
        self.outbox = outbox
        self.sinks = sinks
        self.sends = sends
        self.clock = clock
        self.monotonic = monotonic
        self.on_sink_fault = on_sink_fault
        self._lock = threading.Lock()
        self._faults: dict[str, SinkFault] = {}
        self._paused: dict[str, float] = {}  # sink -> monotonic end of a provider's Retry-After
        self._failing: set[str] = set()  # sinks whose last outcome was a transient failure

    def faults(self) -> dict[str, SinkFault]:
        """Sinks broken as a whole (rejected or missing credentials)."""
        with self._lock:
            return dict(self._faults)

    def can_send(self, sink_name: str) -> bool:
        """A send may start on this sink now: it has room, is not paused, and is not
        faulted (or this is the faulted sink's one try)."""
        if not self.sends.free(sink_name):
            return False
        mono = self.monotonic()
        if self._paused.get(sink_name, 0.0) > mono:
            return False
        fault = self._faults.get(sink_name)
        if fault is None:
            return True
        if any(a.sink == sink_name for a in self.sends.running(abandoned=False)):
            return False  # a try is in flight already
        now_credentials = credentials_of(self.sinks().get(sink_name))
        if now_credentials != fault.credentials or mono >= fault.probe_at:
            # One try; until one succeeds the sink stays faulted.
            fault.probe_at = mono + FAULT_PROBE_S
            fault.credentials = now_credentials
            return True
        return False

    def delivered(self, sink_name: str) -> None:
        """A send on this sink went through: it works, so clear its fault, and what
        waits on it after failures goes now instead of at the end of its backoff."""
        with self._lock:
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

    def failed(self, sink_name: str, error: DeliveryError) -> None:
        """What a failed send says about its channel."""
        if error.retry_after:
            self._paused[sink_name] = self.monotonic() + error.retry_after
        if error.fault:
            self._fault(sink_name, error)
        elif not error.permanent:
            self._failing.add(sink_name)

    def _fault(self, sink_name: str, error: DeliveryError) -> None:
        new = sink_name not in self._faults
        sink = self.sinks().get(sink_name)
        reset = getattr(sink, "reset", None)
        if reset:
            reset()  # drop cached clients: the next try reads the credentials again
        with self._lock:
            self._faults[sink_name] = SinkFault(
                str(error),
                self._faults[sink_name].since if not new else self.clock(),
                credentials_of(sink),
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
