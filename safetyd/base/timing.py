"""Small helpers of time: capped exponential backoff with jitter, a rate, and how
a time is written for a person.

One rule for every time a person reads (texts, events, snapshots, the status
page, logs): site time, with its zone ("14:03:12 CET").
"""

from __future__ import annotations

import random
from datetime import datetime
from zoneinfo import ZoneInfo


def backoff(attempt: int, initial_s: float, max_s: float) -> float:
    """Seconds before retry ``attempt`` (0 first): doubling from ``initial_s`` up to
    ``max_s``, with jitter to half of that, so that many clients (cameras, alerts)
    never retry in lockstep."""
    base = min(max_s, initial_s * 2 ** min(attempt, 20))
    return base * random.uniform(0.5, 1.0)


class Rate:
    """Events per second, smoothed (an exponential moving average of 1/interval)."""

    def __init__(self, weight: float = 0.1) -> None:
        self.weight = weight
        self.value = 0.0
        self._last: float | None = None

    def tick(self, now: float) -> float:
        if self._last is not None:
            dt = now - self._last
            if dt > 0:
                rate = 1.0 / dt
                self.value = (
                    rate if self.value == 0 else self.value + self.weight * (rate - self.value)
                )
        self._last = now
        return self.value


def clock(wall: float, tz: ZoneInfo) -> str:
    """Time of day with its zone: ``14:03:12 CET``."""
    return datetime.fromtimestamp(wall, tz).strftime("%H:%M:%S %Z")


def stamp(wall: float, tz: ZoneInfo) -> str:
    """Date and time with its zone, for records that outlive the day."""
    return datetime.fromtimestamp(wall, tz).strftime("%Y-%m-%d %H:%M:%S %Z")


def day(wall: float, tz: ZoneInfo) -> str:
    """The site's calendar date."""
    return datetime.fromtimestamp(wall, tz).strftime("%Y-%m-%d")
