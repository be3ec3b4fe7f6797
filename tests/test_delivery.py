"""Delivery under a misbehaving provider or clock: the real twilio library talking
HTTP to the fake Twilio on 127.0.0.1, a real SQLite outbox, the real worker.

A stalled answer (one byte every few seconds), rejected or missing credentials,
a rate limit with Retry-After, recovery after an outage, wall-clock steps, a
burst of undeliverable alerts, and the database table vanishing under the worker.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import wait_for
from fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from test_alerts import OPERATORS, SUPERVISORS, alert_config, enqueue, transition

from safetyd.alerts.health import DANGER_WAIT_S
from safetyd.alerts.service import AlertService, build_sinks
from safetyd.assembly import load as cfg
from safetyd.storage.store import Store

MAINTENANCE = "+15555550131"


def service(tmp_path: Path, fake: FakeTwilio, clock=time.time, **kw) -> AlertService:
    loaded = cfg.load(alert_config(tmp_path, fake, **kw))
    return AlertService(loaded, Store(tmp_path / "outbox.db"), build_sinks(loaded), clock=clock)


def sms_to(fake: FakeTwilio) -> Counter[str]:
    return Counter(r.form["To"] for r in fake.requests)


# -- a provider that stalls ------------------------------------------------------------------


def test_a_trickling_answer_holds_up_no_other_alert_and_is_retried(
    tmp_path: Path, fake: FakeTwilio, twilio_env
) -> None:
    """Twilio accepts the first SMS but dribbles its answer out one byte every 4 s
    (each socket read is well within timeout_s; the answer would take ~40 min). The
    other recipients get theirs at once, the stalled one is retried at the deadline,
    the worker keeps coming round (the watchdog is fed), and health says why."""
    fake.script = ["trickle"]
    fake.trickle_s = 0.5  # within the 1 s read timeout every time: ~5 min for the answer
    s = service(tmp_path, fake, timeout_s=1, send_deadline_s=2)
    s.start()
    try:
        started = time.time()
        enqueue(s, transition("opened", "danger"))
        numbers = set(OPERATORS + SUPERVISORS)
        # The two others, at once: nobody waits behind the stalled answer.
        assert wait_for(lambda: len({r.form["To"] for r in fake.requests}) == 3, 5)
        first = fake.requests[0].form["To"]
        others = [r for r in fake.requests if r.form["To"] != first]
        assert max(r.at for r in others) - started < 1.0
        # The stalled one is abandoned at its 2 s deadline and sent again.
        assert wait_for(lambda: sms_to(fake)[first] == 2, 8)
        assert fake.requests[-1].at - fake.requests[0].at >= 2.0
        assert wait_for(lambda: s.outbox.depth() == 0, 5)
        assert s.dispatcher.stalled() == []  # the worker never waited on the provider
        reasons = " ".join(s.health().reasons)
        assert "sms: 1 send(s) got no answer within 2s and are still hanging" in reasons
        assert set(sms_to(fake)) == numbers
    finally:
        fake.release()  # the trickle ends: the abandoned send completes late
        time.sleep(0.5)
        s.stop()
    rows = s.outbox.rows(sink="sms")
    assert [r["status"] for r in rows] == ["sent"] * 3
    assert s.dispatcher.stuck_sends() == Counter()


def test_the_deadline_must_cover_the_sinks_own_timeouts(tmp_path: Path, fake) -> None:
    from safetyd.base.problems import InvalidConfig

    with pytest.raises(InvalidConfig) as err:
        cfg.load(alert_config(tmp_path, fake, timeout_s=30, send_deadline_s=20))
    assert (
        "[alerts.twilio] timeout_s (30) is longer than [alerts.delivery] send_deadline_s (20)"
        in str(err.value)
    )


# -- credentials ------------------------------------------------------------------------------


def test_a_rejected_token_keeps_the_alerts_alarms_and_retries_when_it_changes(
    tmp_path: Path, fake: FakeTwilio, monkeypatch, caplog
) -> None:
    """Twilio answers 401/20003 (a wrong token): no message can go out, so this is the
    channel's fault, not the messages': the rows stay queued (none failed), Twilio is
    not hammered, an alarm goes out on the other channel (the log), health says so,
    and once the credential file is fixed everything queued goes out."""
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "twilio-account-sid").write_text(ACCOUNT_SID)
    (creds / "twilio-auth-token").write_text("0" * 32)  # wrong
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    caplog.set_level(logging.INFO, "safetyd")
    s = service(tmp_path, fake)
    s.start()
    try:
        enqueue(s, transition("opened", "danger"))
        assert wait_for(lambda: s.dispatcher.faults(), 10)
        time.sleep(2.0)  # room for (wrong) retries
        sms = s.outbox.rows(sink="sms", kind="incident")
        assert [r["status"] for r in sms] == ["pending"] * 3  # none given up
        assert all("code 20003" in (r["last_error"] or "") for r in sms if r["attempts"])
        assert len(fake.requests) <= 3  # the first tries in flight together, then quiet
        alarm = s.outbox.rows(sink="log", kind="sink_failed")
        assert [r["status"] for r in alarm] == ["sent"]
        assert alarm[0]["body"].startswith("ALERTS NOT GOING OUT safetyd ")
        assert "sms is broken (Twilio HTTP 401 code 20003" in alarm[0]["body"]
        assert any("sms is broken" in r for r in s.health().reasons)
        (creds / "twilio-auth-token").write_text(AUTH_TOKEN)  # fixed
        assert wait_for(lambda: s.outbox.rows(sink="sms", status="pending") == [], 10)
    finally:
        s.stop()
    delivered = Counter(r.form["To"] for r in fake.delivered())
    assert {n: delivered[n] for n in OPERATORS + SUPERVISORS} == {
        n: 1 for n in OPERATORS + SUPERVISORS
    }
    kinds = {(r["kind"], r["status"]) for r in s.outbox.rows(sink="sms")}
    assert kinds == {("incident", "sent"), ("sink_failed", "sent"), ("sink_restored", "sent")}
    assert not s.dispatcher.faults()
    assert "0" * 32 not in caplog.text and AUTH_TOKEN not in caplog.text


# -- retry timing ------------------------------------------------------------------------------


def test_waiting_alerts_go_at_once_when_the_provider_delivers_again(
    tmp_path: Path, fake: FakeTwilio, twilio_env
) -> None:
    """An alert that failed waits out its backoff (here 10-20 s); as soon as another
    send on the same channel goes through, it is retried at once."""
    fake.script = ["error"]
    s = service(tmp_path, fake, backoff_initial_s=20, backoff_max_s=300, sinks='"sms"')
    s.start()
    try:
        s.enqueue_system("k1", "test", "info", "first", {}, groups=["safety"])
        assert wait_for(lambda: s.outbox.rows(attempts=1), 5)
        time.sleep(0.5)
        s.enqueue_system("k2", "test", "info", "second", {}, groups=["maintenance"])
        assert wait_for(lambda: s.outbox.depth() == 0, 5)
    finally:
        s.stop()
    second = next(r.at for r in fake.delivered() if r.form["Body"] == "second")
    first = next(r.at for r in fake.delivered() if r.form["Body"] == "first")
    assert first - second < 1.5


def test_danger_retries_stay_tight_whatever_backoff_max_s_is(
    tmp_path: Path, fake: FakeTwilio, twilio_env
) -> None:
    """backoff_max_s 300 lets an info alert wait minutes; a danger alert's retries are
    capped by danger_backoff_max_s (1 s here)."""
    fake.script = ["error"] * 6
    s = service(tmp_path, fake, backoff_initial_s=0.3, backoff_max_s=300, danger_backoff_max_s=1)
    s.start()
    try:
        s.enqueue_system("k", "test", "danger", "DANGER test", {}, groups=["safety"])
        assert wait_for(lambda: fake.delivered(), 20)
    finally:
        s.stop()
    times = [r.at for r in fake.requests]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert len(gaps) == 6
    # Uncapped, attempt 4 alone would wait 0.3 * 2**4 * [0.5, 1] = 2.4-4.8 s.
    assert max(gaps) <= 1.0 + 0.3, gaps


def test_retry_after_pauses_the_channel(tmp_path: Path, fake: FakeTwilio, twilio_env) -> None:
    """A 429 with Retry-After: 2 means two seconds of quiet on the channel, not a retry
    after the 0.15-0.3 s backoff (nor a stream of requests from other alerts)."""
    fake.retry_after = 2
    fake.script = ["rate_limited_retry_after"]
    s = service(tmp_path, fake, sinks='"sms"')
    s.enqueue_system("k1", "test", "info", "one", {}, groups=["safety"])
    s.start()
    try:
        assert wait_for(lambda: fake.requests, 5)
        s.enqueue_system("k2", "test", "info", "two", {}, groups=["maintenance"])
        assert wait_for(lambda: len(fake.delivered()) == 2, 10)
    finally:
        s.stop()
    limited = fake.requests[0].at
    later = [r.at - limited for r in fake.requests[1:]]
    assert min(later) >= 1.9, later


# -- the wall clock steps ------------------------------------------------------------------------


class SteppingClock:
    """The wall clock of the service: real time plus a step the test makes (the
    machine's own clock cannot be set here)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.mark.parametrize("step_h", [-1, 7])
def test_a_wall_clock_step_neither_delays_nor_expires_an_alert(
    tmp_path: Path, fake: FakeTwilio, twilio_env, step_h: int
) -> None:
    """-1 h (the clock set back) used to delay a danger retry by an hour; +7 h (NTP
    correcting a stale RTC) expired an alert seconds old (max_age_s is 6 h)."""
    clock = SteppingClock()
    fake.script = ["error"]
    s = service(tmp_path, fake, clock=clock, backoff_initial_s=3, max_age_s=6 * 3600)
    s.start()
    try:
        s.enqueue_system("k", "test", "danger", "DANGER test", {}, groups=["safety"])
        assert wait_for(lambda: s.outbox.rows(attempts=1), 5)
        clock.offset += step_h * 3600
        assert wait_for(lambda: fake.delivered(), 8)
    finally:
        s.stop()
    (row,) = s.outbox.rows(sink="sms")
    assert row["status"] == "sent" and row["attempts"] == 2
    assert abs(row["sent"] - row["created"]) < 10  # its age moved with the clock


# -- many alerts to a bad number ------------------------------------------------------------------


def test_one_not_delivered_notice_per_number_however_many_fail(
    tmp_path: Path, fake: FakeTwilio, twilio_env, caplog
) -> None:
    """12 refused texts make 3 notices (one per number), and no full phone number is
    written anywhere: not in the notices, the outbox's errors or the log (Twilio's
    error text names the number)."""
    caplog.set_level(logging.INFO, "safetyd")
    fake.refuse = set(OPERATORS + SUPERVISORS)  # maintenance can be reached
    s = service(tmp_path, fake, sinks='"log", "sms"')
    s.start()
    try:
        for i in range(4):  # four incidents: each danger goes to three numbers, all refused
            enqueue(s, transition("opened", "danger", incident=f"i{i}"))
        assert wait_for(lambda: len(s.outbox.rows(status="failed")) == 12, 15)
        assert wait_for(lambda: s.outbox.rows(status="pending") == [], 10)
    finally:
        s.stop()
    notices = [r for r in fake.delivered() if r.form["Body"].startswith("ALERT NOT DELIVERED")]
    # One per failing number (3), not one per failed alert (12).
    assert len(notices) == 3 and {r.form["To"] for r in notices} == {MAINTENANCE}
    for r in notices:
        assert not any(n in r.form["Body"] for n in OPERATORS + SUPERVISORS)
    errors = " ".join(r["last_error"] or "" for r in s.outbox.rows())
    assert "The 'To' number +155…10" in errors
    for n in OPERATORS + SUPERVISORS:
        assert n not in errors and n not in caplog.text


# -- health ------------------------------------------------------------------------------------


def test_danger_waiting_longer_than_30s_makes_delivery_unhealthy(
    tmp_path: Path, fake: FakeTwilio, twilio_env
) -> None:
    s = service(tmp_path, fake)  # not started: nothing is delivered
    enqueue(s, transition("opened", "danger"))
    fresh = s.health()
    assert not any("danger alert(s) undelivered" in r for r in fresh.reasons)
    with s.store.transaction() as db:  # the rows as they are 40 s later
        db.execute("UPDATE outbox SET created = created - ?", (DANGER_WAIT_S + 10,))
    reasons = s.health().reasons
    assert any(r.startswith("4 danger alert(s) undelivered, the oldest for 4") for r in reasons)


# -- the worker survives -----------------------------------------------------------------------


def test_the_worker_survives_a_database_error_between_passes(
    tmp_path: Path, fake: FakeTwilio, twilio_env
) -> None:
    """The outbox table vanishes under the running worker (every query fails, its idle
    wait's included) and comes back: the worker is still there and delivers."""
    s = service(tmp_path, fake, sinks='"sms"')
    s.start()
    other = sqlite3.connect(tmp_path / "outbox.db", isolation_level=None)
    try:
        other.execute("ALTER TABLE outbox RENAME TO outbox_away")
        time.sleep(2.5)  # a few passes fail
        other.execute("ALTER TABLE outbox_away RENAME TO outbox")
        assert s.dispatcher.alive
        s.enqueue_system("k", "test", "info", "still here", {}, groups=["safety"])
        assert wait_for(lambda: fake.delivered(), 5)
    finally:
        other.close()
        s.stop()
