from datetime import datetime

import pytest

from safetyd.zones import schedule

# 2026-11-23 is a Monday.
MON, TUE, FRI, SAT, SUN = 23, 24, 27, 28, 29


def at(day: int, hh: int, mm: int = 0) -> datetime:
    return datetime(2026, 11, day, hh, mm)


@pytest.mark.parametrize(
    ("spec", "when", "armed"),
    [
        ("always", at(SUN, 3), True),
        ("mon-fri 06:00-22:00", at(TUE, 10), True),
        ("mon-fri 06:00-22:00", at(TUE, 5, 59), False),
        ("mon-fri 06:00-22:00", at(TUE, 22, 0), False),  # end is exclusive
        ("mon-fri 06:00-22:00", at(SAT, 10), False),
        ("* 22:00-06:00", at(SUN, 23), True),
        ("* 22:00-06:00", at(MON, 5, 30), True),
        ("* 22:00-06:00", at(MON, 12), False),
        ("fri 22:00-06:00", at(SAT, 2), True),  # Friday's night shift runs into Saturday
        ("fri 22:00-06:00", at(FRI, 2), False),  # ...but Thursday night is not listed
        ("fri-mon 08:00-09:00", at(SUN, 8, 30), True),  # wrapping day range
        ("fri-mon 08:00-09:00", at(TUE, 8, 30), False),
        ("mon,wed 00:00-24:00", at(MON, 23, 59), True),
        (["sat 06:00-14:00", "mon-fri 05:00-23:00"], at(SAT, 13), True),
        (["sat 06:00-14:00", "mon-fri 05:00-23:00"], at(SUN, 13), False),
    ],
)
def test_windows(spec, when: datetime, armed: bool) -> None:
    assert schedule.parse(spec).armed(when) is armed


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("sometimes", "window 'sometimes' not understood"),
        ("mon-fri 6-22", "window 'mon-fri 6-22' not understood"),
        ("mon 08:00-08:00", "starts and ends at the same time"),
        ("mon 24:00-08:00", "time '24:00' is not a clock time"),
        ("mon 08:60-09:00", "time '08:60' is not a clock time"),
        ("monday 08:00-09:00", "days 'monday' not understood"),
        ([], "schedule is an empty list"),
        (["always", "mon 08:00-09:00"], "'always' cannot be combined"),
    ],
)
def test_invalid(spec, message: str) -> None:
    with pytest.raises(schedule.ScheduleError, match=message):
        schedule.parse(spec)
