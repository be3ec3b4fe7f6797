"""Zones are armed only inside their schedule windows, in the site's time zone, and
every change of state is reported once."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from test_hazards import make_zone

from safetyd.zones import schedule
from safetyd.zones.arming import AlwaysArmed, Arming, arming_changes

BERLIN = ZoneInfo("Europe/Berlin")
SHIFT = replace(make_zone("day"), schedule=schedule.parse("mon-fri 06:00-22:00"))
ALWAYS = make_zone("always")
OFF = replace(make_zone("off"), enabled=False)


def at(day: int, hour: int, minute: int = 0) -> float:
    return datetime(2026, 11, day, hour, minute, tzinfo=BERLIN).timestamp()


def test_schedules_are_read_in_the_site_time_zone() -> None:
    arming = Arming([SHIFT, ALWAYS, OFF], "Europe/Berlin")
    assert arming.armed(at(24, 6, 0)) == {"day", "always"}  # Tuesday 06:00 Berlin
    assert arming.armed(at(24, 5, 59)) == {"always"}
    # 05:30 UTC is 06:30 in Berlin: armed there, not in a UTC site.
    assert "day" in arming.armed(datetime(2026, 11, 24, 5, 30, tzinfo=ZoneInfo("UTC")).timestamp())
    assert "day" not in Arming([SHIFT], "UTC").armed(at(24, 6, 30))
    assert arming.armed(at(28, 12)) == {"always"}  # Saturday
    assert AlwaysArmed([SHIFT, OFF]).armed(at(28, 12)) == {"day"}  # replay: not disabled ones


def test_each_change_is_reported_once() -> None:
    arming = Arming([SHIFT, ALWAYS], "Europe/Berlin")
    known: dict = {}
    first = arming_changes("cam", [SHIFT, ALWAYS], arming, at(24, 5, 0), known)
    assert [(z.id, a) for z, a in first] == [("day", False), ("always", True)]
    assert arming_changes("cam", [SHIFT, ALWAYS], arming, at(24, 5, 30), known) == []
    armed = arming_changes("cam", [SHIFT, ALWAYS], arming, at(24, 6, 0), known)
    assert [(z.id, a) for z, a in armed] == [("day", True)]
    off = arming_changes("cam", [SHIFT, ALWAYS], arming, at(24, 22, 0), known)
    assert [(z.id, a) for z, a in off] == [("day", False)]
