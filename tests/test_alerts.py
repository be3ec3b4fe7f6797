"""Alert delivery: the real twilio library talking HTTP to a fake Twilio on 127.0.0.1,
a real SQLite outbox, the real delivery worker."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import EXAMPLE_CONFIG, FIXTURES, SAFETYD, run_safetyd, wait_for
from fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from test_hazards import make_zone

from safetyd.alerts.service import AlertService
from safetyd.assembly import load as cfg
from safetyd.hazard.incidents import Transition
from safetyd.storage.store import Store
from safetyd.zones.model import Recipients

OPERATORS = ["+15555550101", "+15555550102"]
SUPERVISORS = ["+15555550111"]
SAFETY = ["+15555550121"]
MAINTENANCE = ["+15555550131"]


def alert_config(
    tmp_path: Path,
    fake: FakeTwilio,
    *,
    fold_window_s: float = 60,
    max_per_hour: int = 20,
    backoff_max_s: float = 2,
    max_age_s: float = 3600,
    timeout_s: float = 5,
    sinks: str = '"log", "sms"',
    backoff_initial_s: float = 0.3,
    danger_backoff_max_s: float = 10,
    send_deadline_s: float = 20,
) -> Path:
    """The example configuration, delivering SMS to the fake Twilio."""
    text = EXAMPLE_CONFIG.read_text()
    text = text.replace('sinks = ["log"]', f"sinks = [{sinks}]")
    text = text.replace(
        "timeout_s = 10", f'timeout_s = {timeout_s}\napi_base_url = "{fake.base_url}"'
    )
    text = text.replace("backoff_initial_s = 2", f"backoff_initial_s = {backoff_initial_s}")
    text = text.replace(
        "danger_backoff_max_s = 10", f"danger_backoff_max_s = {danger_backoff_max_s}"
    )
    text = text.replace("send_deadline_s = 20", f"send_deadline_s = {send_deadline_s}")
    text = text.replace("backoff_max_s = 300", f"backoff_max_s = {backoff_max_s}")
    text = text.replace("max_age_s = 21600", f"max_age_s = {max_age_s}")
    text = text.replace("fold_window_s = 60", f"fold_window_s = {fold_window_s}")
    text = text.replace("max_warnings_per_hour = 20", f"max_warnings_per_hour = {max_per_hour}")
    text = text.replace('"../', f'"{EXAMPLE_CONFIG.parent}/../')
    text = text.replace('state_dir = "/var/lib/safetyd"', f'state_dir = "{tmp_path / "state"}"')
    path = tmp_path / "safetyd.toml"
    path.write_text(text)
    return path


ZONE = make_zone("press", warn_distance=40)
ZONE = type(ZONE)(
    **{
        **{f: getattr(ZONE, f) for f in ZONE.__dataclass_fields__ if f != "boundary"},
        "recipients": Recipients(
            warning=["operators"], danger=["operators", "supervisors"], escalation=["safety"]
        ),
    }
)


def transition(
    event: str = "opened",
    level: str = "warning",
    incident: str = "i1",
    wall: float | None = None,
    **kw,
) -> Transition:
    values = dict(
        event=event,
        incident_id=incident,
        camera="press-line",
        zone_id="press",
        zone_name="Press 3 guard",
        zone_file="z.geojson",
        zone_file_hash="abc",
        severity="high",
        units="pixels",
        track_id=1,
        level=level,
        body_part="right_wrist",
        distance=-4.0 if level == "danger" else 30.0,
        closing_speed=50.0,
        ttc_s=0.0 if level == "danger" else 0.6,
        estimated=False,
        frame=1,
        video_t=0.1,
        t=0.1,
        wall=wall or time.time(),
        opened_wall=wall or time.time(),
    )
    values.update(kw)
    return Transition(**values)


def service_for(tmp_path: Path, fake: FakeTwilio, **kw) -> AlertService:
    loaded = cfg.load(alert_config(tmp_path, fake, **kw))
    return AlertService.from_config(loaded, Store(tmp_path / "outbox.db"))


def enqueue(service: AlertService, *transitions: Transition) -> None:
    with service.store.transaction() as db:
        service.enqueue(db, list(transitions), [ZONE])


# -- end to end ---------------------------------------------------------------------


def test_replay_send_reaches_twilio_as_correct_posts(tmp_path, fake, twilio_env) -> None:
    config = alert_config(tmp_path, fake)
    result = subprocess.run(
        [
            *SAFETYD,
            "replay",
            str(FIXTURES / "walk-in.mp4"),
            "--config",
            str(config),
            "--camera",
            "press-line",
            "--send",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=twilio_env,
    )
    assert result.returncode == 0, result.stderr
    got = sorted((r.form["To"], r.form["Body"].split()[0]) for r in fake.requests)
    assert got == sorted(
        [(n, "WARNING") for n in OPERATORS] + [(n, "DANGER") for n in OPERATORS + SUPERVISORS]
    )
    for req in fake.requests:
        assert (req.account, req.user, req.password) == (ACCOUNT_SID, ACCOUNT_SID, AUTH_TOKEN)
        assert req.form["From"] == "+15555550100"
        assert req.answered == "ok"
        assert len(req.form["Body"]) <= 160
    danger = next(r.form["Body"] for r in fake.requests if r.form["Body"].startswith("DANGER"))
    assert danger.startswith("DANGER Press 3 guard (cam press-line) ")
    assert re.search(r" inside ACK [0-9A-F]{4}$", danger), danger


def run_test_alert(config: Path, group: str, timeout: float, env: dict):
    return subprocess.run(
        [*SAFETYD, "test-alert", "--config", str(config), "--group", group, "--timeout",
         str(timeout)],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip


def test_credentials_from_systemd_credentials_directory(tmp_path, fake) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "twilio-account-sid").write_text(ACCOUNT_SID + "\n")
    (creds / "twilio-auth-token").write_text(AUTH_TOKEN + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
    env["CREDENTIALS_DIRECTORY"] = str(creds)
    result = run_test_alert(alert_config(tmp_path, fake), "operators", 20, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(r.form["To"] for r in fake.delivered()) == OPERATORS
    assert all(
        r.form["Body"].startswith("TEST safetyd Plant 1: test alert for group operators")
        for r in fake.requests
    )
    assert result.stdout.splitlines()[0] == (
        "test alert to group 'operators' (+155…101, +155…102) through sink(s): log, sms"
    )
    assert result.stdout.count("sent     sms     +155…10") == 2
    assert not any(n in result.stdout + result.stderr for n in OPERATORS)  # masked


def test_empty_credential_files_are_told_apart_from_missing_ones(tmp_path, fake) -> None:
    """The README used to advise empty files when not sending SMS; with sms in sinks
    that gave the same "not found" as a missing file, forever."""
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "twilio-account-sid").write_text("")
    (creds / "twilio-auth-token").write_text("\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
    env["CREDENTIALS_DIRECTORY"] = str(creds)
    result = run_test_alert(alert_config(tmp_path, fake), "safety", 2, env)
    assert result.returncode == 1
    assert (
        "pending  sms     +155…121  credential 'twilio-account-sid' is empty (the file systemd "
        "passed in, from LoadCredential=twilio-account-sid:…, has no content): write the secret "
        "into /etc/safetyd/credentials/twilio-account-sid, or take 'sms' out of [alerts] sinks "
        "if this box sends no SMS"
    ) in result.stdout
    assert "NO PHONE WAS TEXTED: every SMS failed (see above)" in result.stderr


def test_test_alert_says_loudly_when_no_phone_can_ring(tmp_path, fake, twilio_env) -> None:
    """A service installed by the book had sinks = ["log"]: test-alert printed
    "sent log log" and exited 0 while no phone would ever ring."""
    result = run_test_alert(alert_config(tmp_path, fake, sinks='"log"'), "safety", 5, twilio_env)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "test alert to group 'safety' (+155…121) through sink(s): log",
        "sent     log     log",
    ]
    assert "NO PHONE WAS TEXTED: 'sms' is not in [alerts] sinks (log)" in result.stderr
    assert fake.requests == []
    check = run_safetyd("check-config", str(alert_config(tmp_path, fake, sinks='"log"')))
    assert check.returncode == 0
    assert (
        ": alerts.sinks: warning: no SMS will be sent: sinks are log, so the 5 number(s) in "
        '[alerts.groups] get nothing; add "sms" to sinks (with [alerts.twilio] and its '
        "credentials) to text them"
    ) in check.stderr


def test_missing_credentials_keep_alerts_pending_and_say_why(tmp_path, fake) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TWILIO_") and k != "CREDENTIALS_DIRECTORY"
    }
    result = run_test_alert(alert_config(tmp_path, fake), "safety", 2, env)
    assert result.returncode == 1
    assert (
        "pending  sms     +155…121  credential 'twilio-account-sid' not found: add "
        "'LoadCredential=twilio-account-sid:/etc/safetyd/credentials/twilio-account-sid' "
        "to the service, or set the environment variable TWILIO_ACCOUNT_SID" in result.stdout
    )
    assert fake.requests == []


def test_the_auth_token_never_appears_in_any_output(tmp_path, fake, twilio_env) -> None:
    fake.script = ["error", "auth", "invalid_to", "rate_limited"]  # exercise error paths too
    config = alert_config(tmp_path, fake)
    outputs = []
    for args in (
        [
            "replay",
            str(FIXTURES / "walk-in.mp4"),
            "--camera",
            "press-line",
            "--send",
            "--state-dir",
            str(tmp_path / "st"),
            "--events",
            "-",
            "--log-level",
            "debug",
        ],
        ["test-alert", "--group", "operators", "--timeout", "5", "--log-level", "debug"],
        ["check-config", "-v"],
    ):
        result = subprocess.run(
            [*SAFETYD, *args[:1], "--config", str(config), *args[1:]]
            if args[0] != "check-config"
            else [*SAFETYD, "check-config", str(config), "-v"],
            capture_output=True,
            text=True,
            timeout=300,
            env=twilio_env,
        )
        outputs += [result.stdout, result.stderr]
    assert len(fake.requests) >= 5  # the token really was used
    for out in outputs:
        assert AUTH_TOKEN not in out
    db = (tmp_path / "st" / "safetyd.db").read_bytes()
    assert AUTH_TOKEN.encode() not in db


# -- failures and retries ------------------------------------------------------------


@pytest.mark.slow
def test_60s_outage_then_recovery_loses_nothing(tmp_path, fake, twilio_env) -> None:
    fake.default = "error"
    service = service_for(tmp_path, fake, backoff_max_s=5)
    service.start()
    try:
        for k in range(5):
            enqueue(service, transition("opened", "danger", incident=f"i{k}"))
            time.sleep(0.5)
        time.sleep(58)
        assert fake.delivered() == []
        assert len(fake.requests) > 15  # retried all along
        fake.default = "ok"
        assert wait_for(lambda: service.outbox.depth() == 0, 30)
    finally:
        service.stop()
    # 5 incidents × (2 operators + 1 supervisor), each accepted exactly once
    delivered = Counter(r.form["To"] for r in fake.delivered())
    assert delivered == {n: 5 for n in OPERATORS + SUPERVISORS}
    assert {row["status"] for row in service.outbox.rows()} == {"sent"}


def test_invalid_number_is_not_retried_and_is_reported(tmp_path, fake, twilio_env) -> None:
    fake.script = ["invalid_to"]  # the first SMS (danger comes first) is refused
    service = service_for(tmp_path, fake)
    service.start()
    try:
        enqueue(service, transition("opened", "danger"))
        assert wait_for(lambda: service.outbox.depth() == 0, 20)
        time.sleep(1.0)  # room for a (wrong) retry
    finally:
        service.stop()
    refused = [r for r in fake.requests if r.answered == "invalid_to"]
    assert len(refused) == 1
    bad = refused[0].form["To"]
    assert (
        sum(
            r.form["To"] == bad
            for r in fake.requests
            if not r.form["Body"].startswith("ALERT NOT DELIVERED")
        )
        == 1
    )
    failed = service.outbox.rows(status="failed")
    masked = bad[:4] + "…" + bad[-3:]  # Twilio names the number; we keep it out of records
    assert [(r["recipient"], r["last_error"]) for r in failed] == [
        (
            bad,
            f"Twilio HTTP 400 code 21211: Unable to create record: The 'To' number {masked} is "
            "not a valid phone number.",
        )
    ]
    # Reported to the system recipients through the normal path.
    report = [r for r in fake.delivered() if r.form["Body"].startswith("ALERT NOT DELIVERED")]
    assert [r.form["To"] for r in report] == MAINTENANCE
    body = report[0].form["Body"]
    assert bad not in body and f"to {masked}:" in body and "21211" in body
    assert service.health().failures_last_hour == 1 and not service.health().ok


def test_rate_limited_429_is_retried_with_backoff(tmp_path, fake, twilio_env) -> None:
    fake.script = ["rate_limited", "rate_limited", "rate_limited"]
    service = service_for(tmp_path, fake, backoff_max_s=10, sinks='"sms"')
    service.enqueue_system("k", "test", "info", "hello", {}, groups=["safety"])
    service.start()
    try:
        assert wait_for(lambda: fake.delivered(), 20)
    finally:
        service.stop()
    times = [r.at for r in fake.requests]
    assert [r.answered for r in fake.requests] == ["rate_limited"] * 3 + ["ok"]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    # backoff_initial_s 0.3 doubling, with jitter in [0.5, 1] of each step
    for attempt, gap in enumerate(gaps):
        assert 0.3 * 2**attempt * 0.5 - 0.05 <= gap <= 0.3 * 2**attempt + 0.5
    assert gaps[2] > gaps[0]


def test_rfc9457_service_errors_are_retried(tmp_path, fake, twilio_env) -> None:
    fake.script = ["rfc9457"]
    service = service_for(tmp_path, fake)
    service.enqueue_system("k", "test", "info", "hello", {}, groups=["safety"])
    service.start()
    try:
        assert wait_for(lambda: fake.delivered(), 20)
    finally:
        service.stop()
    assert [r.answered for r in fake.requests] == ["rfc9457", "ok"]


def test_a_hanging_twilio_times_out_and_retries(tmp_path, fake, twilio_env) -> None:
    fake.script = ["hang"]
    service = service_for(tmp_path, fake, timeout_s=1)
    service.enqueue_system("k", "test", "info", "hello", {}, groups=["safety"])
    service.start()
    try:
        assert wait_for(lambda: fake.delivered(), 20)
    finally:
        fake.release()
        service.stop()
    first = [r for r in service.outbox.rows(sink="sms")][0]
    assert first["status"] == "sent" and first["attempts"] == 2


def test_alerts_too_old_to_matter_expire_and_are_reported(tmp_path, fake, twilio_env) -> None:
    fake.default = "error"
    service = service_for(tmp_path, fake, max_age_s=2)
    service.enqueue_system("k", "test", "info", "hello", {}, groups=["safety"])
    service.start()
    try:
        assert wait_for(lambda: service.outbox.rows(status="expired"), 20)
    finally:
        service.stop()
    (row,) = service.outbox.rows(status="expired")
    assert row["last_error"].startswith("gave up after")


# -- storm control and escalation ---------------------------------------------------------


def test_warning_storm_is_folded_but_danger_goes_out_at_once(tmp_path, fake, twilio_env) -> None:
    """50 warnings in one zone within a minute, and a danger in the same minute."""
    service = service_for(tmp_path, fake, fold_window_s=8)
    service.start()
    try:
        start = time.time()
        for k in range(50):
            enqueue(service, transition("opened", "warning", incident=f"w{k}"))
            time.sleep(0.05)
            if k == 25:
                danger_at = time.time()
                enqueue(service, transition("opened", "danger", incident="d1"))
        assert wait_for(lambda: service.outbox.depth() == 0, 30)
    finally:
        service.stop()
    danger = [r for r in fake.delivered() if r.form["Body"].startswith("DANGER")]
    assert sorted(r.form["To"] for r in danger) == sorted(OPERATORS + SUPERVISORS)
    assert max(r.at for r in danger) - danger_at < 1.0  # not held behind the warnings
    warnings = [r for r in fake.delivered() if r.form["Body"].startswith("WARNING")]
    per_recipient = Counter(r.form["To"] for r in warnings)
    assert per_recipient == {n: 2 for n in OPERATORS}  # the first one(s), then one summary
    for number in OPERATORS:
        bodies = [r.form["Body"] for r in warnings if r.form["To"] == number]
        counted = sum(int(b.split()[1][1:]) if b.startswith("WARNING x") else 1 for b in bodies)
        assert counted == 50  # every warning accounted for, none lost
        assert bodies[-1].startswith("WARNING x") and "Press 3 guard" in bodies[-1]
    late = [r for r in warnings if r is not warnings[0] and r.form["Body"].startswith("WARNING x")]
    assert all(r.at - start >= 8 for r in late[-2:])  # summaries wait for the fold window
    rows = service.outbox.rows(sink="sms", level="warning")
    assert Counter(r["status"] for r in rows) == {"sent": 4, "folded": 96}


def test_per_recipient_rate_limit(tmp_path, fake, twilio_env) -> None:
    service = service_for(tmp_path, fake, fold_window_s=0, max_per_hour=3)
    service.start()
    try:
        for k in range(10):
            enqueue(service, transition("opened", "warning", incident=f"w{k}"))
            time.sleep(0.2)
        time.sleep(1.0)
    finally:
        service.stop()
    assert Counter(r.form["To"] for r in fake.delivered()) == {n: 3 for n in OPERATORS}
    held = service.outbox.rows(status="pending", sink="sms")
    folded = service.outbox.rows(status="folded", sink="sms")
    assert len(held) + len(folded) == 14  # nothing dropped: waiting for the hour, or folded
    assert all(r["next_attempt"] > time.time() + 3000 for r in held)


def test_cleared_goes_to_the_log_and_webhook_not_to_phones(tmp_path, fake, twilio_env) -> None:
    service = service_for(tmp_path, fake)
    enqueue(service, transition("cleared", "clear"))
    assert [r["sink"] for r in service.outbox.rows()] == ["log"]


def test_enqueue_twice_is_one_alert(tmp_path, fake, twilio_env) -> None:
    service = service_for(tmp_path, fake)
    tr = transition("opened", "danger")
    enqueue(service, tr)
    enqueue(service, tr)
    assert len(service.outbox.rows(sink="sms")) == 3


def test_webhook_receives_the_event_json(tmp_path, fake, twilio_env) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received = []

    class Hook(BaseHTTPRequestHandler):
        def log_message(self, *a) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = alert_config(tmp_path, fake, sinks='"webhook"')
    config.write_text(
        config.read_text() + f"\n[alerts.webhook]\nurl = "
        f'"http://127.0.0.1:{server.server_address[1]}/hook"\n'
    )
    service = AlertService.from_config(cfg.load(config), Store(tmp_path / "o.db"))
    service.start()
    try:
        enqueue(service, transition("opened", "danger"), transition("cleared", "clear"))
        assert wait_for(lambda: len(received) == 2, 10)
    finally:
        service.stop()
        server.shutdown()
    assert [(e["event"], e["zone"], e["camera"]) for e in received] == [
        ("opened", "press", "press-line"),
        ("cleared", "press", "press-line"),
    ]
    assert fake.requests == []


def test_an_idle_worker_sends_a_danger_alert_at_once(tmp_path, fake, twilio_env) -> None:
    """The worker is woken after the incident's transaction commits, not before it
    (waking it before would let it find nothing and sleep for a second)."""
    service = service_for(tmp_path, fake)
    service.start()
    try:
        time.sleep(1.5)  # idle
        started = time.time()
        enqueue(service, transition("opened", "danger"))
        assert wait_for(lambda: len(fake.delivered()) == 3, 5)
    finally:
        service.stop()
    assert max(r.at for r in fake.delivered()) - started < 0.5


def test_messaging_service_and_api_key_credentials(tmp_path, fake, monkeypatch) -> None:
    """A Messaging Service SID instead of a From number, and an API key + secret."""
    api_key = "SK" + "ab" * 16
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_API_KEY", api_key)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    config = alert_config(tmp_path, fake)
    service_sid = "MG" + "cd" * 16
    config.write_text(
        config.read_text().replace(
            'from_number = "+15555550100"',
            f'messaging_service_sid = "{service_sid}"\napi_key_credential = "twilio-api-key"',
        )
    )
    service = AlertService.from_config(cfg.load(config), Store(tmp_path / "o.db"))
    service.enqueue_system("k", "test", "info", "hello", {}, groups=["safety"])
    service.start()
    try:
        assert wait_for(lambda: fake.requests, 10)
    finally:
        service.stop()
    (req,) = fake.requests
    assert req.form.get("MessagingServiceSid") == service_sid and "From" not in req.form
    assert (req.account, req.user) == (ACCOUNT_SID, api_key)  # the key authenticates


def test_a_channel_in_the_sink_registry_gets_every_message() -> None:
    """Routing once named its broadcast channels in a tuple of its own ("webhook",
    "mqtt", "log"): a new sink outside it was built and never got a message. Now it
    asks each running sink how it is addressed (abc.Sink.addressed)."""
    from zoneinfo import ZoneInfo

    from safetyd.alerts.routing import Routes
    from safetyd.alerts.service import SINKS, build_sinks
    from safetyd.base.alerts import AlertKind
    from safetyd.config.alerts import Group

    routes = Routes(
        groups={"operators": Group(numbers=["+15555550100", "+15555550101"])},
        system_recipients=(),
        sinks={"sms": True, "pager": False, "voice": True, "log": False},
        tz=ZoneInfo("UTC"),
        site="plant",
    )
    rows = routes.rows("i1:opened", AlertKind.INCIDENT, "danger", "body", {}, ["operators"], 0.0)
    got = Counter((r.sink, r.recipient) for r in rows)
    assert got == Counter({("sms", "+15555550100"): 1, ("sms", "+15555550101"): 1,
                           ("voice", "+15555550100"): 1, ("voice", "+15555550101"): 1,
                           ("pager", "pager"): 1, ("log", "log"): 1})  # fmt: skip
    # Every registered channel that the example configuration builds says how it is
    # addressed, and the registry names each channel the configuration may choose.
    loaded = cfg.load(EXAMPLE_CONFIG)
    for name, sink in build_sinks(loaded).items():
        assert name in SINKS and isinstance(sink.addressed, bool)
    from typing import get_args

    from safetyd.config.alerts import SinkName

    assert set(get_args(SinkName)) == set(SINKS)
