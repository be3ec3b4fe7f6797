"""Rows the delivery worker's next pass must not pick up, because their outbox
update has not succeeded (the database cannot be written, e.g. a full disk):

* a row the provider accepted is never sent again: its provider id is kept in
  memory and only the recording is retried;
* a row whose update failed is held back for a growing while, so that it cannot
  come first in every pass and starve the others.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from ..base.alerts import Alert
from ..base.ratelog import RateLimitedLog
from ..storage.store import is_storage_failure
from .outbox import Outbox

log = logging.getLogger("safetyd.alerts.dispatcher")  # the lines kept their logger name


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


class Bookkeeping:
    def __init__(self, outbox: Outbox, monotonic: Callable[[], float]) -> None:
        self.outbox = outbox
        self.monotonic = monotonic
        self._lock = threading.Lock()
        self._accepted: dict[int, Accepted] = {}
        self._deferred: dict[int, tuple[float, int]] = {}  # id -> (monotonic until, tries)
        self._ratelog = RateLimitedLog(log)

    def accept(self, accepted: Accepted) -> None:
        """The provider took it: from here on it is never sent again, whatever
        happens to its recording (a failed commit used to resend it every second)."""
        with self._lock:
            self._accepted[accepted.alert.id] = accepted

    def unrecorded(self) -> dict[int, Accepted]:
        """Sends the provider accepted that the outbox has not recorded yet."""
        with self._lock:
            return dict(self._accepted)

    def record(self) -> bool:
        """Retry the recording of sends the provider accepted (never the send)."""
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

    def defer(self, alert: Alert, exc: Exception) -> None:
        """Its update failed: hold it back (1 s, 2 s, ... 30 s) while the others go on."""
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

    def held_back(self) -> set[int]:
        """Row ids the next pass skips: accepted (and the rows folded into them) and
        deferred ones."""
        now = self.monotonic()
        with self._lock:
            self._deferred = {i: d for i, d in self._deferred.items() if d[0] > now}
            held = set(self._accepted) | set(self._deferred)
            for acc in self._accepted.values():
                held.update(acc.folded)
        return held
