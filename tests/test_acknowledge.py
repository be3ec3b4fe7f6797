"""The alert lifecycle at work: escalation chains, acknowledgement by SMS reply and by
the command line, snoozes. The real twilio library talks HTTP to the fake Twilio
(which also lists the replies phones send), the outbox and the ledger are real
SQLite files, and the clock is injected."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from conftest import BASE_TOML, run_safetyd, wait_for, write_config, zone_collection, zone_feature
from fake_twilio import FakeTwilio
from test_alerts import OPERATORS, SAFETY, SUPERVISORS, ZONE, alert_config, transition

from safetyd.alerts.escalation import Escalations
from safetyd.alerts.service import AlertService, build_sinks
from safetyd.assembly import load as cfg
from safetyd.hazard import lifecycle
from safetyd.storage.store import Store

MAINTENANCE = "+15555550131"
STRANGER = "+15559990000"
# Near the real time: the delivery worker runs on the real clock and gives up on rows
# older than max_age_s, so the lifecycle's injected clock starts from now.
T0 = float(int(time.time()))
INCIDENT = "3fa2c0ffee000001"
CHAIN = """escalation_chain = [
  { after_s = 0, groups = ["supervisors"] },
  { after_s = 60, groups = ["safety"] },
  { after_s = 180, groups = ["maintenance"] },
]"""


def lifecycle_config(tmp_path: Path, fake: FakeTwilio, chain: str = CHAIN) -> Path:
    """The example configuration with SMS to the fake Twilio, this default chain, and
    replies read from it."""
    path = alert_config(tmp_path, fake)
    text = path.read_text()
    start = text.index("escalation_chain = [")
    end = text.index("]\n", text.index("groups", start) + 20) + 2
    text = text[:start] + chain + "\n" + text[end:]
    text = text.replace("# [alerts.replies]\n# poll_interval_s = 20", "[alerts.replies]\n")
    path.write_text(text)
    return path


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def parts(tmp_path: Path, fake: FakeTwilio, clock: Clock, service_clock: bool = False):
    """The alert service (on the real clock, as the delivery worker must be, unless
    ``service_clock``) and the lifecycle on the injected one."""
    loaded = cfg.load(lifecycle_config(tmp_path, fake))
    store = Store(tmp_path / "state.db")
    sinks = build_sinks(loaded)
    service = AlertService(loaded, store, sinks, clock=clock if service_clock else time.time)
    return service, Escalations(lambda: loaded, service, clock=clock)


def open_danger(service: AlertService, incident: str = INCIDENT, wall: float = T0) -> None:
    """As a camera does: the event and its alerts in one transaction."""
    opened = [transition("opened", "danger", incident=incident, wall=wall)]
    with service.store.transaction() as db:
        service.store.add_events(db, opened)
        service.enqueue(db, opened, [ZONE])


def bodies_to(fake: FakeTwilio, number: str) -> list[str]:
    return [r.form["Body"] for r in fake.delivered() if r.form["To"] == number]


def delivered_count(fake: FakeTwilio) -> int:
    return len(fake.delivered())


def test_the_chain_goes_out_step_by_step_until_acknowledged(tmp_path, fake, twilio_env) -> None:
    clock = Clock()
    service, esc = parts(tmp_path, fake, clock)
    service.start()
    try:
        open_danger(service)
        assert wait_for(lambda: delivered_count(fake) == 3, 20)  # operators ×2, supervisors
        assert esc.tick().steps == 1  # step 1 is due at once
        assert wait_for(lambda: len(bodies_to(fake, SUPERVISORS[0])) == 2, 20)
        assert bodies_to(fake, SUPERVISORS[0])[1].startswith(
            "ESCALATION 1/3 DANGER Press 3 guard (cam press-line) since "
        )
        clock.t = T0 + 59
        assert esc.tick().steps == 0
        clock.t = T0 + 61
        assert esc.tick().steps == 1
        assert wait_for(lambda: bodies_to(fake, SAFETY[0]), 20)
        (body,) = bodies_to(fake, SAFETY[0])
        assert body.startswith("ESCALATION 2/3 ") and body.endswith(
            "1m01s NOT acknowledged ACK 3FA2"
        )
        # The supervisor answers "ok" (after the texts reached him): acknowledged,
        # confirmed, and the chain stops.
        fake.reply(SUPERVISORS[0], "ok")
        clock.t = T0 + 75
        assert esc.poll_replies() == 1
        assert wait_for(lambda: len(bodies_to(fake, SUPERVISORS[0])) == 3, 20)
        assert bodies_to(fake, SUPERVISORS[0])[2] == (
            "safetyd Plant 1: acknowledged 3FA2 Press 3 guard"
        )
        clock.t = T0 + 500
        report = esc.tick()
        assert report.steps == 0
        (acked,) = report.acknowledged
        assert (acked.acked_by, acked.acked_channel, acked.acked_wall) == (
            SUPERVISORS[0],
            "sms",
            T0 + 75,
        )
        assert esc.poll_replies() == 0  # the same reply is not read twice
    finally:
        service.stop()
    assert bodies_to(fake, MAINTENANCE) == []
    # The acknowledgement is one of the incident's events.
    events = service.store.events()
    assert [e["event"] for e in events] == ["opened", "acknowledged"]
    assert events[1]["reason"] == f"by {SUPERVISORS[0]} via sms" and events[1]["wall"] == T0 + 75


def test_a_code_acknowledges_that_incident_and_strangers_are_ignored(
    tmp_path, fake, twilio_env
) -> None:
    clock = Clock()
    service, esc = parts(tmp_path, fake, clock)
    older, newer = "aaaa000000000001", "bbbb000000000002"
    open_danger(service, older, T0)
    open_danger(service, newer, T0 + 5)
    service.dispatcher.settle(10)  # the texts go out; the replies answer them
    clock.t = T0 + 10
    fake.reply(STRANGER, "OK")
    fake.reply(OPERATORS[1], "ACK aaaa")
    assert esc.poll_replies() == 2
    waiting = {i.incident for i in service.ledger.waiting()}
    assert waiting == {newer}
    # The stranger is told nothing; the operator gets the confirmation.
    confirmations = [
        r for r in service.outbox.rows() if r["kind"] == "reply" and r["sink"] == "sms"
    ]
    assert [(r["recipient"], r["body"]) for r in confirmations] == [
        (OPERATORS[1], "safetyd Plant 1: acknowledged AAAA Press 3 guard")
    ]
    with sqlite3.connect(tmp_path / "state.db") as db:
        outcomes = dict(db.execute("SELECT sender, outcome FROM replies"))
    assert outcomes == {
        STRANGER: "ignored: the sender is in no recipient group",
        OPERATORS[1]: "acknowledged AAAA Press 3 guard",
    }
    # A plain "1" now acknowledges the operator's latest open one; a second "OK" finds none.
    fake.reply(OPERATORS[1], "1")
    fake.reply(OPERATORS[1], "OK")
    assert esc.poll_replies() == 2
    assert service.ledger.waiting() == []
    texts = [
        r["body"] for r in service.outbox.rows() if r["kind"] == "reply" and r["sink"] == "sms"
    ]
    assert texts[1:] == [
        "safetyd Plant 1: acknowledged BBBB Press 3 guard",
        "safetyd Plant 1: no open incident of yours to acknowledge",
    ]
    # The polls asked Twilio for messages to our number only.
    assert {p.get("To") for p in fake.polls} == {"+15555550100"}


def test_a_reply_sent_before_the_alert_acknowledges_nothing_and_says_why(
    tmp_path, fake, twilio_env
) -> None:
    """An "OK" sent ten minutes before the incident, and an "ACK" that reached Twilio a
    second before the text it would answer went out: neither is an answer to it. The
    incident stays unacknowledged, its chain goes on, and each sender is told why. A
    reply after the text acknowledges it, even one in the same second: Twilio stamps
    whole seconds, rounded down, so its stamp may read earlier than the send."""
    clock = Clock()
    service, esc = parts(tmp_path, fake, clock)
    fake.reply(OPERATORS[0], "OK", at=time.time() - 600)  # before the daemon even started
    open_danger(service)
    service.dispatcher.settle(10)
    sent = {r["recipient"]: r["sent"] for r in service.outbox.rows() if r["sink"] == "sms"}
    fake.reply(OPERATORS[1], "ACK 3FA2", at=sent[OPERATORS[1]] - 1.0)
    clock.t = T0 + 10
    assert esc.poll_replies() == 2
    assert [i.incident for i in service.ledger.waiting()] == [INCIDENT]  # not acknowledged
    answers = {
        r["recipient"]: r["body"]
        for r in service.outbox.rows()
        if r["kind"] == "reply" and r["sink"] == "sms"
    }
    why = (
        "safetyd Plant 1: nothing acknowledged: your reply was sent before the alert about "
        "3FA2 Press 3 guard reached you; reply again to acknowledge it"
    )
    assert answers == {OPERATORS[0]: why, OPERATORS[1]: why}
    assert esc.tick().steps == 1  # the chain goes on
    # Now he answers the text he got, at once.
    fake.reply(OPERATORS[1], "ACK 3FA2", at=sent[OPERATORS[1]] + 0.01)
    assert esc.poll_replies() == 1
    assert service.ledger.waiting() == []


def test_a_restart_in_the_middle_of_a_chain_resumes_it_and_repeats_nothing(
    tmp_path, fake, twilio_env
) -> None:
    clock = Clock()
    first, esc = parts(tmp_path, fake, clock)
    first.start()
    try:
        open_danger(first)
        clock.t = T0 + 1
        assert esc.tick().steps == 1
        assert wait_for(lambda: len(bodies_to(fake, SUPERVISORS[0])) == 2, 20)
    finally:
        first.stop()
        first.store.close()
    # A new process: its own store, service and lifecycle over the same database,
    # started after step 2 fell due and before step 3.
    clock.t = T0 + 100
    second, esc2 = parts(tmp_path, fake, clock)
    second.start()
    try:
        assert esc2.tick().steps == 1
        assert esc2.tick().steps == 0
        assert wait_for(lambda: bodies_to(fake, SAFETY[0]), 20)
        clock.t = T0 + 181
        assert esc2.tick().steps == 1
        assert wait_for(lambda: bodies_to(fake, MAINTENANCE), 20)
    finally:
        second.stop()
    steps = [r.form["Body"].split()[1] for r in fake.delivered() if "ESCALATION" in r.form["Body"]]
    assert sorted(steps) == ["1/3", "2/3", "3/3"]


def test_clearing_stops_the_chain_unless_the_zone_says_danger_must_be_acknowledged(
    tmp_path, fake, twilio_env
) -> None:
    import dataclasses

    clock = Clock()
    service, esc = parts(tmp_path, fake, clock)
    strict = dataclasses.replace(ZONE, id="strict", danger_must_ack=True)
    with service.store.transaction() as db:
        service.enqueue(db, [
            transition("opened", "danger", incident="aaaa000000000001", wall=T0),
            transition("opened", "danger", incident="bbbb000000000002", wall=T0,
                       zone_id="strict"),
        ], [ZONE, strict])  # fmt: skip
        service.enqueue(db, [
            transition("cleared", "clear", incident="aaaa000000000001", wall=T0 + 5),
            transition("cleared", "clear", incident="bbbb000000000002", wall=T0 + 5,
                       zone_id="strict"),
        ], [ZONE, strict])  # fmt: skip
    clock.t = T0 + 61
    esc.tick()
    rows = [r for r in service.outbox.rows() if r["kind"] == "escalation" and r["sink"] == "log"]
    keys = {r["dedup_key"].split(":")[1] + ":" + r["incident"][:4] for r in rows}
    assert keys == {"step1:bbbb", "step2:bbbb"}


def test_snoozed_warnings_stay_quiet_and_danger_still_alerts(tmp_path, fake, twilio_env) -> None:
    clock = Clock()
    service, _ = parts(tmp_path, fake, clock, service_clock=True)
    snooze = lifecycle.request_snooze("press", ["press"], T0 + 600, "die change", "ana", T0)
    service.ledger.add_snooze(snooze)

    def sms(incident: str) -> list[str]:
        return [r["body"] for r in service.outbox.rows() if r["incident"] == incident
                and r["sink"] == "sms"]  # fmt: skip

    clock.t = T0 + 10
    with service.store.transaction() as db:
        service.enqueue(db, [transition("opened", "warning", incident="w1", wall=T0 + 10)], [ZONE])
        service.enqueue(db, [transition("opened", "danger", incident="d1", wall=T0 + 10)], [ZONE])
        service.enqueue(db, [transition("escalated", "danger", incident="w1", wall=T0 + 11)],
                        [ZONE])  # fmt: skip
    assert sms("w1") and all(b.startswith("DANGER") for b in sms("w1"))  # the escalation only
    assert len(sms("d1")) == 3  # danger: operators and supervisors, snooze or not
    (logged,) = [r["body"] for r in service.outbox.rows() if r["incident"] == "w1"
                 and r["sink"] == "log" and r["level"] == "warning"]  # fmt: skip
    assert logged.startswith("(snoozed) WARNING Press 3 guard")
    # The snooze runs out: warnings text again.
    clock.t = T0 + 601
    with service.store.transaction() as db:
        service.enqueue(db, [transition("opened", "warning", incident="w2", wall=T0 + 601)], [ZONE])
    assert len(sms("w2")) == 2


def test_a_warning_folded_by_the_cooldown_sends_no_sms_and_says_so(
    tmp_path, fake, twilio_env
) -> None:
    """The incident of a return within cooldown_s opens at warning (recorded, shown,
    published); only its SMS is folded, and the log's copy says why. Its escalation
    to danger is never folded."""
    import dataclasses

    clock = Clock()
    service, _ = parts(tmp_path, fake, clock, service_clock=True)
    clock.t = T0 + 10
    folded = dataclasses.replace(
        transition("opened", "warning", incident="w1", wall=T0 + 10), folded="cooldown"
    )
    with service.store.transaction() as db:
        service.store.add_events(db, [folded])
        service.enqueue(db, [folded], [ZONE])
        service.enqueue(db, [transition("escalated", "danger", incident="w1", wall=T0 + 11)],
                        [ZONE])  # fmt: skip
    rows = [r for r in service.outbox.rows() if r["incident"] == "w1"]
    sms = [r["body"] for r in rows if r["sink"] == "sms"]
    assert sms and all(b.startswith("DANGER") for b in sms)  # the escalation only
    (logged,) = [r["body"] for r in rows if r["sink"] == "log" and r["level"] == "warning"]
    assert logged.startswith("(cooldown: no SMS) WARNING Press 3 guard")
    (event,) = service.store.db.execute("SELECT folded FROM events WHERE incident = 'w1'")
    assert event["folded"] == "cooldown"


def test_an_ended_snooze_is_reported_once(tmp_path, fake, twilio_env, caplog) -> None:
    clock = Clock()
    service, esc = parts(tmp_path, fake, clock)
    service.ledger.add_snooze(
        lifecycle.request_snooze("press", ["press"], T0 + 60, "die change", "ana", T0)
    )
    clock.t = T0 + 30
    assert esc.tick().snoozes_ended == 0
    clock.t = T0 + 61
    with caplog.at_level("INFO", logger="safetyd.hazard.lifecycle"):
        assert esc.tick().snoozes_ended == 1
        assert esc.tick().snoozes_ended == 0
    assert "snooze ended zone=press reason='die change' (set by ana)" in caplog.text


def test_replies_that_cannot_be_read_are_said_once_and_recover(tmp_path, fake, twilio_env, caplog):
    clock = Clock()
    _, esc = parts(tmp_path, fake, clock)
    fake.list_mode = "error"
    with caplog.at_level("INFO", logger="safetyd.hazard.lifecycle"):
        assert esc.poll_replies() == 0
        assert esc.poll_replies() == 0
        assert esc.poll_error == "Twilio HTTP 500: cannot list the replies"
        fake.list_mode = "ok"
        fake.reply(OPERATORS[0], "OK")
        clock.t = time.time()
        assert esc.poll_replies() == 1
    assert esc.poll_error is None
    assert caplog.text.count("cannot read SMS replies from Twilio") == 1
    assert "SMS replies can be read again" in caplog.text


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("garbage", "Twilio's reply list is unreadable (JSONDecodeError)"),
        ("endless", None),
    ],
)
def test_a_reply_list_that_is_garbage_or_never_ends_costs_a_few_requests(
    tmp_path, fake, twilio_env, mode, error
) -> None:
    """Round 2: a 200 answer that is not JSON raised a traceback at every poll while
    replies counted as readable; a list whose pages never end made 195 requests in
    14 s. A poll reads at most MAX_PAGES pages, and a bad body is a failed poll."""
    from safetyd.alerts.replies import MAX_PAGES

    clock = Clock()
    _, esc = parts(tmp_path, fake, clock)
    fake.list_mode = mode
    assert esc.poll_replies() == 0
    assert esc.poll_error == error
    assert 1 <= len(fake.polls) <= MAX_PAGES
    fake.list_mode = "ok"
    fake.reply(OPERATORS[0], "OK")
    clock.t = time.time()
    assert esc.poll_replies() == 1 and esc.poll_error is None


# -- the command line ------------------------------------------------------------------


def state_with_incident(tmp_path: Path, fake: FakeTwilio) -> tuple[Path, Path]:
    """A configuration and a state directory whose database holds one open incident."""
    config = lifecycle_config(tmp_path, fake)
    state = tmp_path / "cli-state"
    state.mkdir()
    loaded = cfg.load(config)
    service = AlertService(loaded, Store(state / "safetyd.db"), build_sinks(loaded))
    open_danger(service, wall=time.time())
    service.store.close()
    return config, state


def test_ack_on_the_command_line(tmp_path, fake) -> None:
    config, state = state_with_incident(tmp_path, fake)
    where = ("--config", str(config), "--state-dir", str(state))
    listed = run_safetyd("ack", *where)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith("3FA2  ") and "press-line/press  danger" in listed.stdout
    wrong = run_safetyd("ack", "ABCD", *where)
    assert wrong.returncode == 1 and "no incident with code ABCD" in wrong.stderr
    done = run_safetyd("ack", "3fa2", "--by", "ana", *where)
    assert done.returncode == 0 and done.stdout == "acknowledged 3FA2 Press 3 guard\n"
    again = run_safetyd("ack", "3FA2", "--by", "bo", *where)
    assert "already acknowledged by ana" in again.stdout
    events = run_safetyd("events", *where)
    (row,) = [line for line in events.stdout.splitlines() if " acknowledged " in line]
    assert row.rstrip().endswith("by ana via cli")


def test_every_way_in_acknowledges_within_one_window(tmp_path, fake) -> None:
    """SMS and the console once took incidents up to 7 days old, MQTT and `safetyd ack`
    only 1 day: now one function and one window (lifecycle.ACK_WINDOW_S). A warning
    that cleared 3 days ago is acknowledged on the command line and through the ledger
    function the console and MQTT call; one of 8 days ago is not, by either."""
    config = lifecycle_config(tmp_path, fake)
    state = tmp_path / "cli-state"
    state.mkdir()
    loaded = cfg.load(config)
    service = AlertService(loaded, Store(state / "safetyd.db"), build_sinks(loaded))
    now = time.time()
    days = {"aaaa000000000001": 3, "bbbb000000000002": 8, "cccc000000000003": 3}
    for incident, age in days.items():
        wall = now - age * 86400
        events = [transition("opened", "warning", incident=incident, wall=wall),
                  transition("cleared", "clear", incident=incident, wall=wall + 5)]  # fmt: skip
        with service.store.transaction() as db:  # as a camera records them
            service.store.add_events(db, events)
            service.enqueue(db, events, [ZONE])
    ledger = service.ledger
    old = ledger.acknowledge_named("bbbb000000000002", "console:ana", "console", now)
    assert not old.ok and old.incident is None
    recent = ledger.acknowledge_named("cccc000000000003", "console:ana", "console", now)
    assert recent.ok and recent.incident == "cccc000000000003"
    service.store.close()
    where = ("--config", str(config), "--state-dir", str(state))
    done = run_safetyd("ack", "AAAA", "--by", "bo", *where)
    assert done.returncode == 0 and done.stdout.startswith("acknowledged AAAA"), done
    refused = run_safetyd("ack", "BBBB", "--by", "bo", *where)
    assert refused.returncode == 1 and "no incident with code BBBB" in refused.stderr
    assert lifecycle.ACK_WINDOW_S == 7 * 86400.0  # the documented window (README)


def test_snooze_on_the_command_line(tmp_path, fake) -> None:
    config, state = state_with_incident(tmp_path, fake)
    where = ("--config", str(config), "--state-dir", str(state))
    refused = run_safetyd("snooze", "press-3-guard", "--until", "1h", "--reason", "x",
                          "--level", "danger", *where)  # fmt: skip
    assert refused.returncode == 1
    assert "danger is never snoozed: only warnings can be; danger alerts always go out" in (
        refused.stderr
    )
    unknown = run_safetyd("snooze", "press-9", "--until", "1h", "--reason", "x", *where)
    assert unknown.returncode == 1 and "no zone 'press-9'; zones: " in unknown.stderr
    no_reason = run_safetyd("snooze", "press-3-guard", "--until", "1h", *where)
    assert no_reason.returncode == 1 and "say why (--reason)" in no_reason.stderr
    ok = run_safetyd("snooze", "press-3-guard", "--until", "45m", "--reason", "die change",
                     "--by", "ana", *where)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert (
        "press-3-guard: warnings snoozed until " in ok.stdout and "danger still alerts" in ok.stdout
    )
    listed = run_safetyd("snooze", *where)
    assert "press-3-guard" in listed.stdout and "by ana: die change" in listed.stdout
    cancelled = run_safetyd("snooze", "press-3-guard", "--cancel", *where)
    assert cancelled.returncode == 0 and "1 snooze(s) ended" in cancelled.stdout
    assert "0 zone snooze(s) in force" in run_safetyd("snooze", *where).stderr


def test_commands_never_create_the_database(tmp_path, fake) -> None:
    config = lifecycle_config(tmp_path, fake)
    state = tmp_path / "empty"
    state.mkdir()
    for command in (["ack"], ["snooze"]):
        result = run_safetyd(*command, "--config", str(config), "--state-dir", str(state))
        assert result.returncode == 1 and "no event database yet" in result.stderr
    assert list(state.iterdir()) == []


# -- configuration ----------------------------------------------------------------------


OLD_STYLE = zone_collection(
    zone_feature(
        recipients={"danger": ["operators"], "escalation": ["operators"]}, escalate_after_s=45
    )  # fmt: skip
)


def test_the_old_escalation_keeps_working_and_check_config_says_how_to_migrate(tmp_path) -> None:
    path = write_config(tmp_path, BASE_TOML, OLD_STYLE)
    result = run_safetyd("check-config", str(path))
    assert result.returncode == 0, result.stderr
    assert (
        "recipients.escalation: warning: the old one-step escalation; it keeps working (and "
        "acknowledging now stops it). Its chain form, which can add steps: "
        '"escalation_chain": [{"after_s": 45, "groups": ["operators"]}] in place of '
        "recipients.escalation (and escalate_after_s)"
    ) in result.stderr
    from safetyd.alerts.escalation import zone_chain

    loaded = cfg.load(path)
    (zone,) = loaded.zones["cam1"]
    assert zone_chain(loaded, zone) == (lifecycle.Step(45, ("operators",)),)


@pytest.mark.parametrize(
    ("toml_extra", "zone_props", "message"),
    [
        (
            'escalation_chain = [{ after_s = 60, groups = ["nobody"] }]',
            None,
            "escalation_chain names unknown group(s) ['nobody']",
        ),
        (
            "escalation_chain = [{ after_s = 60, groups = ['operators'] }, "
            "{ after_s = 30, groups = ['operators'] }]",
            None,
            "steps must come in order of after_s, each later than the one before; got "
            "after_s [60.0, 30.0]",
        ),
        (
            "[alerts.replies]",
            None,
            "[alerts.replies] reads SMS replies, but no SMS is sent",
        ),
        (
            "",
            {"escalation_chain": [{"after_s": 10, "groups": ["nobody"]}]},
            "escalation_chain[0].groups: unknown recipient group 'nobody'",
        ),
        (
            "",
            {
                "escalation_chain": [{"after_s": 10, "groups": ["operators"]}],
                "recipients": {"danger": ["operators"], "escalation": ["operators"]},
            },
            "both escalation_chain and recipients.escalation are set",
        ),
    ],
    ids=["unknown-group", "out-of-order", "replies-without-sms", "zone-unknown-group", "both"],
)
def test_bad_chains_are_refused(tmp_path, toml_extra, zone_props, message) -> None:
    toml = BASE_TOML.replace('sinks = ["log"]', f'sinks = ["log"]\n{toml_extra}')
    if toml_extra.startswith("[alerts.replies]"):
        toml = BASE_TOML + "\n[alerts.replies]\n"
    props = zone_props or {"recipients": {"danger": ["operators"]}}
    path = write_config(tmp_path, toml, zone_collection(zone_feature(**props)))
    result = run_safetyd("check-config", str(path))
    assert result.returncode == 1
    assert message in result.stderr, result.stderr
