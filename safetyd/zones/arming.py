"""Which zones are armed now: their ``enabled`` flag and schedule, in site time."""

from __future__ import annotations

from collections.abc import Sequence
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


def arming_changes(
    camera: str,
    zones: Sequence[Zone],
    arming: Arming | AlwaysArmed,
    wall: float,
    known: dict[tuple[str, str], bool],
) -> list[tuple[Zone, bool]]:
    """Zones whose armed state differs from ``known`` (updated in place)."""
    armed = arming.armed(wall)
    changed = []
    for zone in zones:
        key, is_armed = (camera, zone.id), zone.id in armed
        if known.get(key) != is_armed:
            known[key] = is_armed
            changed.append((zone, is_armed))
    return changed
