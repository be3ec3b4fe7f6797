"""Arming windows: when a zone is watched.

A schedule is a list of windows, each ``DAYS HH:MM-HH:MM`` in the site's local
time, or the single word ``always``. DAYS is ``*`` / ``daily``, a day
(``mon``), a range (``mon-fri``, ``fri-mon`` wraps) or a comma list
(``mon,wed,fri``). A window whose end is before its start runs past midnight
and belongs to the day it starts on (``mon-fri 22:00-06:00`` is the night
shift starting Monday to Friday evening). ``24:00`` ends a window at midnight.

Parsing is pure and reports what is wrong; evaluation takes an aware datetime.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
GRAMMAR = "'always' or 'DAYS HH:MM-HH:MM' such as 'mon-fri 06:00-22:00' or '* 22:00-06:00'"

_WINDOW = re.compile(
    r"^\s*(?P<days>\S+)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$"
)


class ScheduleError(ValueError):
    pass


@dataclass(frozen=True)
class Window:
    days: frozenset[int]  # 0 = Monday, as datetime.weekday()
    start_min: int  # minutes after midnight, 0..1439
    end_min: int  # 1..1440; <= start_min means it runs past midnight

    def contains(self, weekday: int, minute: int) -> bool:
        if self.start_min < self.end_min:
            return weekday in self.days and self.start_min <= minute < self.end_min
        # Overnight: the evening part on a listed day, the morning part on the day after.
        return (weekday in self.days and minute >= self.start_min) or (
            (weekday - 1) % 7 in self.days and minute < self.end_min
        )


@dataclass(frozen=True)
class Schedule:
    windows: tuple[Window, ...]  # empty tuple means always armed
    text: tuple[str, ...]

    @property
    def always(self) -> bool:
        return not self.windows

    def armed(self, local: datetime) -> bool:
        if self.always:
            return True
        minute = local.hour * 60 + local.minute
        return any(w.contains(local.weekday(), minute) for w in self.windows)


ALWAYS = Schedule(windows=(), text=("always",))


def _minutes(text: str, *, end: bool) -> int:
    hours, minutes = (int(x) for x in text.split(":"))
    if minutes > 59 or hours > 24 or (hours == 24 and (minutes or not end)):
        raise ScheduleError(
            f"time {text!r} is not a clock time (00:00 to 23:59; 24:00 only as an end)"
        )
    return hours * 60 + minutes


def _days(text: str) -> frozenset[int]:
    if text in ("*", "daily"):
        return frozenset(range(7))
    days: set[int] = set()
    for item in text.lower().split(","):
        ends = item.split("-")
        if len(ends) > 2 or any(e not in DAYS for e in ends):
            raise ScheduleError(
                f"days {text!r} not understood; use '*', 'daily', a day "
                f"({', '.join(DAYS)}), a range like 'mon-fri' or a list like 'mon,wed'"
            )
        first, last = DAYS.index(ends[0]), DAYS.index(ends[-1])
        days.update((first + i) % 7 for i in range((last - first) % 7 + 1))
    return frozenset(days)


def parse_window(text: str) -> Window:
    match = _WINDOW.match(text)
    if not match:
        raise ScheduleError(f"window {text!r} not understood; expected {GRAMMAR}")
    start = _minutes(match["start"], end=False)
    end = _minutes(match["end"], end=True)
    if start == end:
        raise ScheduleError(
            f"window {text!r} starts and ends at the same time; for all day use '00:00-24:00'"
        )
    return Window(days=_days(match["days"]), start_min=start, end_min=end)


def parse(spec: str | list[str] | tuple[str, ...]) -> Schedule:
    """Parse a schedule; raises ScheduleError naming the bad window."""
    items = [spec] if isinstance(spec, str) else list(spec)
    if not items:
        raise ScheduleError(f"schedule is an empty list; expected {GRAMMAR}")
    if any(i.strip().lower() == "always" for i in items):
        if len(items) > 1:
            raise ScheduleError("'always' cannot be combined with other windows")
        return ALWAYS
    return Schedule(windows=tuple(parse_window(i) for i in items), text=tuple(items))
