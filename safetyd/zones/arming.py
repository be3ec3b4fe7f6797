"""Which zones are armed now: their ``enabled`` flag and schedule, in site time, and
for a zone with ``armed_when`` its machine state (armed = schedule AND input)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from .model import Zone


class Arming:
    """Evaluates zone schedules at a wall-clock time, cached per minute.

    Schedules have minute resolution, so the per-frame check costs a dict
    lookup; the scheduler's minute job logs the changes.
    """

    def __init__(self, zones: Sequence[Zone], timezone: str = "UTC") -> None:
        self.zones = tuple(zones)
        self.tz = ZoneInfo(timezone)
        self._minute: int | None = None
        self._armed: frozenset[str] = frozenset()

    def armed(self, wall: float) -> frozenset[str]:
        minute = int(wall // 60)
        if minute != self._minute:
            local = datetime.fromtimestamp(wall, self.tz)
            self._armed = frozenset(
                z.id for z in self.zones if z.enabled and z.schedule.armed(local)
            )
            self._minute = minute
        return self._armed


class AlwaysArmed:
    """Replay default: every enabled zone is armed whatever the time."""

    def __init__(self, zones: Sequence[Zone]) -> None:
        self._armed = frozenset(z.id for z in zones if z.enabled)

    def armed(self, wall: float) -> frozenset[str]:
        return self._armed


def machine_armed(
    zones: Sequence[Zone], armed: frozenset[str], allows: Callable[[str], bool] | None
) -> frozenset[str]:
    """Of the zones the schedule arms, those their machine input (``armed_when``) also
    arms. ``allows(input_id)`` answers True for an input that cannot be read: an
    unknown machine state never disarms a guard. No ``allows`` (replay): the
    schedule alone."""
    if allows is None or not any(z.armed_when for z in zones):
        return armed
    return frozenset(
        z.id for z in zones if z.id in armed and (z.armed_when is None or allows(z.armed_when))
    )


def arming_changes(
    camera: str,
    zones: Sequence[Zone],
    arming: Arming | AlwaysArmed,
    wall: float,
    known: dict[tuple[str, str], bool],
    allows: Callable[[str], bool] | None = None,
) -> list[tuple[Zone, bool]]:
    """Zones whose armed state differs from ``known`` (updated in place)."""
    armed = machine_armed(zones, arming.armed(wall), allows)
    changed = []
    for zone in zones:
        key, is_armed = (camera, zone.id), zone.id in armed
        if known.get(key) != is_armed:
            known[key] = is_armed
            changed.append((zone, is_armed))
    return changed
