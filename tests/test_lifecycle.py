"""The alert lifecycle's rules (safetyd/hazard/lifecycle.py), with an injected clock:
the escalation chain's timing, acknowledgement, replies, snoozes."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from safetyd.hazard import lifecycle
from safetyd.hazard.lifecycle import Step, Tracked

T0 = 1_790_000_000.0  # some wall time
CHAIN = (Step(0, ("operators",)), Step(60, ("supervisors",)), Step(180, ("safety",)))


def incident(**kw) -> Tracked:
    base = dict(
        incident="3fa2c0ffee000001", camera="press-line", zone="press-3-guard",
        zone_name="Press 3 guard", level="danger", opened_wall=T0, danger_wall=T0,
    )  # fmt: skip
    return Tracked(**{**base, **kw})


def test_the_chain_fires_each_step_once_at_its_time() -> None:
    fired = 0
    seen = []
    for t in range(0, 400, 5):  # a tick every 5 s
        inc = incident(steps_fired=fired)
        due = lifecycle.due_steps(inc, CHAIN, T0 + t)
        if due:
            seen.append((t, due))
            fired = due[-1] + 1
    assert seen == [(0, [0]), (60, [1]), (180, [2])]


def test_a_late_tick_sends_every_step_that_fell_due_in_order() -> None:
    """After a restart that took 200 s, both missed steps go out, in order."""
    assert lifecycle.due_steps(incident(steps_fired=1), CHAIN, T0 + 200) == [1, 2]


def test_acknowledging_stops_the_chain() -> None:
    acked = incident(steps_fired=1, acked_wall=T0 + 30, acked_by="+15550001111")
    assert lifecycle.due_steps(acked, CHAIN, T0 + 500) == []
    assert lifecycle.next_step_at(acked, CHAIN) is None


def test_clearing_stops_the_chain_unless_danger_must_be_acknowledged() -> None:
    cleared = incident(steps_fired=1, level="clear", cleared_wall=T0 + 20)
    assert lifecycle.due_steps(cleared, CHAIN, T0 + 100) == []
    must = incident(steps_fired=1, level="clear", cleared_wall=T0 + 20, must_ack=True)
    assert lifecycle.due_steps(must, CHAIN, T0 + 100) == [1]
    # A warning that never reached danger has no chain at all, must_ack or not.
    warning = incident(level="warning", danger_wall=None, must_ack=True)
    assert lifecycle.due_steps(warning, CHAIN, T0 + 1000) == []


def test_the_chain_counts_from_danger_not_from_the_opening() -> None:
    inc = incident(opened_wall=T0, danger_wall=T0 + 40)
    assert lifecycle.due_steps(inc, CHAIN[1:], T0 + 90) == []
    assert lifecycle.due_steps(inc, CHAIN[1:], T0 + 100) == [0]
    assert lifecycle.next_step_at(inc, CHAIN[1:]) == T0 + 100


def test_the_old_escalate_after_s_is_a_one_step_chain() -> None:
    assert lifecycle.chain_for(None, None, ["supervisors"], 30) == (Step(30, ("supervisors",)),)
    assert lifecycle.chain_for(None, None, [], 30) == ()
    # What the zone says beats the site's default; the default serves the other zones.
    assert lifecycle.chain_for(None, CHAIN, ["supervisors"], 30) == (Step(30, ("supervisors",)),)
    assert lifecycle.chain_for(None, CHAIN, [], 30) == CHAIN
    own = (Step(5, ("safety",)),)
    assert lifecycle.chain_for(own, CHAIN, ["supervisors"], 30) == own


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("OK", lifecycle.Reply(None)),
        ("ok.", lifecycle.Reply(None)),
        (" Ack ", lifecycle.Reply(None)),
        ("1", lifecycle.Reply(None)),
        ("ACK 3fa2", lifecycle.Reply("3FA2")),
        ("ack: 3FA2!", lifecycle.Reply("3FA2")),
        ("not ok", None),
        ("OK but the press is still running", None),
        ("ACK 3FA2X", None),
        ("", None),
        ("2", None),
    ],
)
def test_reply_words(body: str, expected) -> None:
    assert lifecycle.parse_reply(body) == expected


def test_reply_words_are_configurable() -> None:
    assert lifecycle.parse_reply("ja", ["JA", "OK"]) == lifecycle.Reply(None)
    assert lifecycle.parse_reply("1", ["JA", "OK"]) is None


def test_acknowledge_the_latest_or_the_named_one() -> None:
    newer = incident(incident="aaaa000000000002", opened_wall=T0 + 10, zone_name="Lane")
    older = incident(incident="bbbb000000000001")
    latest = lifecycle.acknowledge([newer, older], None)
    assert latest.incident == newer.incident and latest.ok
    assert "1 more open" in latest.answer and "ACK <code>" in latest.answer
    named = lifecycle.acknowledge([newer, older], "bbbb")
    assert named.incident == older.incident and named.answer == "acknowledged BBBB Press 3 guard"
    unknown = lifecycle.acknowledge([newer, older], "CCCC")
    assert unknown.incident is None and not unknown.ok and "CCCC" in unknown.answer
    done = incident(acked_wall=T0 + 5, acked_by="+15550001111")
    again = lifecycle.acknowledge([done], "3FA2")
    assert again.incident is None and again.ok and "already acknowledged" in again.answer
    assert lifecycle.acknowledge([done], None).incident is None


def test_only_recipients_may_acknowledge() -> None:
    groups = {"operators": ["+15550001111"], "supervisors": ["+15550002222"]}
    assert lifecycle.may_acknowledge("+15550002222", groups)
    assert not lifecycle.may_acknowledge("+15559999999", groups)


def test_danger_is_never_snoozed() -> None:
    with pytest.raises(lifecycle.SnoozeRefused, match="danger is never snoozed"):
        lifecycle.request_snooze("z", ["z"], T0 + 60, "maintenance", "ana", T0, level="danger")
    s = lifecycle.request_snooze("z", ["z"], T0 + 60, "maintenance", "ana", T0)
    assert lifecycle.snoozed([s], "z", "warning", T0 + 30) == s
    assert lifecycle.snoozed([s], "z", "danger", T0 + 30) is None


def test_a_snooze_expires() -> None:
    s = lifecycle.request_snooze("z", ["z"], T0 + 60, "maintenance", "ana", T0)
    assert lifecycle.snoozed([s], "z", "warning", T0 + 59.9) == s
    assert lifecycle.snoozed([s], "z", "warning", T0 + 60) is None
    assert lifecycle.snoozed([s], "other", "warning", T0 + 30) is None


@pytest.mark.parametrize(
    ("zone", "until", "reason", "message"),
    [
        ("nope", T0 + 60, "x", "no zone 'nope'; zones: z"),
        ("z", T0 + 60, " ", "say why"),
        ("z", T0 - 1, "x", "that time has passed"),
        ("z", T0 + 13 * 3600, "x", "at most 12 h; that one would last 13.0 h"),
    ],
)
def test_bad_snoozes_are_refused_with_the_reason(zone, until, reason, message) -> None:
    with pytest.raises(lifecycle.SnoozeRefused, match=message):
        lifecycle.request_snooze(zone, ["z"], until, reason, "ana", T0)


def test_until_times() -> None:
    tz = ZoneInfo("Europe/Berlin")
    now = datetime(2026, 11, 27, 9, 0, tzinfo=tz).timestamp()
    assert (
        lifecycle.parse_until("14:30", now, tz)
        == datetime(2026, 11, 27, 14, 30, tzinfo=tz).timestamp()
    )
    # 08:30 has passed today: the next one is tomorrow (and then too long for a snooze).
    assert (
        lifecycle.parse_until("08:30", now, tz)
        == datetime(2026, 11, 28, 8, 30, tzinfo=tz).timestamp()
    )
    assert lifecycle.parse_until("45m", now, tz) == now + 2700
    assert lifecycle.parse_until("2h", now, tz) == now + 7200
    with pytest.raises(lifecycle.SnoozeRefused, match="give a time of day"):
        lifecycle.parse_until("teatime", now, tz)
    with pytest.raises(lifecycle.SnoozeRefused, match="not a time of day"):
        lifecycle.parse_until("25:00", now, tz)


def test_codes_are_short_and_upper_case() -> None:
    assert lifecycle.code_of("3fa2c0ffee000001") == "3FA2"
