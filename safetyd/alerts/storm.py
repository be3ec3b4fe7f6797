"""Storm control: warning SMS only, never danger.

* **Folding**: after a warning SMS for a zone reaches a recipient, further
  warnings for that zone and recipient wait until ``fold_window_s`` has passed,
  then go out as one summary ("WARNING x12 Press 3 guard ...").
* **Rate limit**: at most ``max_warnings_per_hour`` warning SMS per recipient;
  beyond that, warnings wait (and fold) until the hour frees a slot.

Computed from the outbox itself, so the limits survive restarts.
"""

from __future__ import annotations

from dataclasses import replace
from zoneinfo import ZoneInfo

from ..base.alerts import Alert, AlertKind
from ..config.alerts import StormSettings
from .messages import fold_text
from .outbox import Outbox

HOUR = 3600.0


def is_fold_candidate(alert: Alert) -> bool:
    """A warning SMS about an incident: the only alerts storm control holds back."""
    return alert.sink == "sms" and alert.level == "warning" and alert.kind == AlertKind.INCIDENT


def hold_until(outbox: Outbox, storm: StormSettings, alert: Alert, now: float) -> float | None:
    """Until when this warning waits (a fold window or the hourly limit), or None."""
    window = storm.fold_window_s
    last = outbox.last_warning_sent(alert.recipient, alert.zone)
    if last is not None and now < last + window:
        # min(): after the clock stepped back, a "sent" in the future must not
        # hold warnings for the length of the step.
        return min(last + window, now + window)
    recent = outbox.warnings_sent_since(alert.recipient, now - HOUR)
    limit = storm.max_warnings_per_hour
    if len(recent) >= limit:
        return min(recent[len(recent) - limit] + HOUR, now + HOUR)
    return None


def fold(outbox: Outbox, alert: Alert, tz: ZoneInfo) -> tuple[Alert, list[int]]:
    """The warning with every other pending one to its recipient about its zone
    folded into one summary, and the ids of the rows folded in."""
    pending = outbox.pending_warnings(alert.recipient, alert.zone)
    if len(pending) <= 1:
        return alert, []
    body = fold_text([r["payload"] for r in pending], tz)
    return replace(alert, body=body), [r["id"] for r in pending if r["id"] != alert.id]
