"""Whether alert delivery works, and if not every reason why: the outbox's backlog
and its oldest danger, permanent failures, the worker, broken channels, sends that
hang, alerts held in memory or not yet recorded. Read by /healthz, the status page,
the console and the timed health check."""

from __future__ import annotations

from dataclasses import dataclass

from ..config.alerts import AlertSettings
from ..storage.store import is_storage_failure
from . import messages
from .dispatcher import Dispatcher
from .outbox import Outbox

DANGER_WAIT_S = 30.0  # a danger alert still undelivered after this: delivery is unhealthy


@dataclass(frozen=True)
class DeliveryHealth:
    ok: bool
    pending: int
    oldest_pending_s: float | None
    oldest_danger_s: float | None
    failures_last_hour: int
    reasons: tuple[str, ...]


def _depth(outbox: Outbox, level: str) -> int | str:
    try:
        return outbox.depth(level=level)
    except Exception as exc:
        if not is_storage_failure(exc):
            raise
        return "?"


def delivery_health(
    outbox: Outbox, d: Dispatcher, settings: AlertSettings, now: float
) -> DeliveryHealth:
    reasons = []
    try:
        pending = outbox.depth()
        oldest = outbox.oldest_pending()
        oldest_danger = outbox.oldest_pending(level="danger")
        failures = outbox.failures_since(now - 3600)
    except Exception as exc:  # the page must still say what it can
        if not is_storage_failure(exc):
            raise
        pending, oldest, oldest_danger, failures = -1, None, None, 0
        reasons.append(f"cannot read the outbox: {exc}")
    oldest_age = None if oldest is None else now - oldest
    danger_age = None if oldest_danger is None else now - oldest_danger
    if danger_age is not None and danger_age > DANGER_WAIT_S:
        reasons.append(
            f"{_depth(outbox, 'danger')} danger alert(s) undelivered, the oldest "
            f"for {danger_age:.0f}s"
        )
    if pending >= settings.delivery.backlog_alarm:
        reasons.append(f"{pending} alerts waiting for delivery")
    # Held warnings wait up to a fold window by design; older than that is a backlog.
    if oldest_age is not None and oldest_age > max(120.0, 2 * settings.storm.fold_window_s):
        reasons.append(f"oldest undelivered alert is {oldest_age:.0f}s old")
    if failures:
        reasons.append(f"{failures} alert(s) failed permanently in the last hour")
    if not d.alive:
        reasons.append("delivery worker is not running")
    for sink, fault in sorted(d.faults().items()):
        reasons.append(f"{sink} is broken: {messages.mask_numbers(fault.error)}")
    for sink, stuck in sorted(d.stuck_sends().items()):
        reasons.append(
            f"{sink}: {stuck} send(s) got no answer within "
            f"{settings.delivery.send_deadline_s:g}s and are still hanging"
        )
    held = len(d.in_memory())
    if held:
        reasons.append(f"{held} alert(s) held in memory: the outbox cannot be written")
    unrecorded = len(d.unrecorded())
    if unrecorded:
        reasons.append(f"{unrecorded} delivered alert(s) not yet recorded in the outbox")
    return DeliveryHealth(not reasons, pending, oldest_age, danger_age, failures, tuple(reasons))
