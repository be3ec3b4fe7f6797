"""MQTT: events through the outbox, retained live state and the Last Will,
commands, Home Assistant discovery, the fleet.

Everything talks to a real Mosquitto (tests/mqtt_broker.py: password file and
ACL) on a free loopback port; the outbox and the ledger are real SQLite files.
The daemon tests run the real daemon as a subprocess on the demo clip.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from conftest import SAFETYD, run_safetyd, wait_for, write_config
from daemon_harness import DaemonProcess, press_camera
from fake_twilio import FakeTwilio
from mqtt_broker import Broker, need_mosquitto, password
from test_alerts import ZONE, alert_config, transition

from safetyd.alerts.service import AlertService
from safetyd.assembly import load as cfg
from safetyd.hazard import lifecycle
from safetyd.hazard.records import event_record
from safetyd.mqtt import discovery
from safetyd.mqtt.commands import CommandRefused, parse
from safetyd.mqtt.fleet import FleetView
from safetyd.mqtt.service import MqttService, link_of
from safetyd.mqtt.topics import Topics, parse_state
from safetyd.storage.store import Store

BASE = "safetyd/test-plant/box-a"


@pytest.fixture
def broker(tmp_path: Path):
    need_mosquitto()
    b = Broker(tmp_path / "mosquitto").start()
    yield b
    b.stop()


def mqtt_toml(broker: Broker, box: str = "box-a", extra: str = "") -> str:
    return f"""
[mqtt]
url = "{broker.url}"
username_credential = "mqtt-user"
password_credential = "mqtt-password"
box = "{box}"
keepalive_s = 5
publish_timeout_s = 2
{extra}"""


@pytest.fixture
def box_env(monkeypatch):
    """The box's broker credentials, as systemd would pass them (here: environment)."""
    monkeypatch.setenv("MQTT_USER", "box-a")
    monkeypatch.setenv("MQTT_PASSWORD", password("box-a"))


def box_config(
    tmp_path: Path, fake: FakeTwilio, broker: Broker, box: str = "box-a", extra: str = ""
) -> Path:
    path = alert_config(tmp_path, fake, sinks='"log", "mqtt"')
    text = path.read_text().replace('name = "Plant 1"', 'name = "Test plant"', 1)
    path.write_text(text + mqtt_toml(broker, box, extra))
    return path


class Box:
    """A box in this process: the alert service (outbox with the mqtt sink), the
    link and the MQTT service with no cameras."""

    def __init__(
        self, tmp_path: Path, fake: FakeTwilio, broker: Broker, box: str = "box-a",
        extra: str = "",
    ) -> None:  # fmt: skip
        self.loaded = cfg.load(box_config(tmp_path, fake, broker, box, extra))
        self.store = Store(tmp_path / "state.db")
        self.link = link_of(self.loaded)
        self.alerts = AlertService.from_config(self.loaded, self.store, mqtt=self.link)
        self.mqtt = MqttService(lambda: self.loaded, self.link, self.alerts, lambda: ())
        self.alerts.start()
        self.mqtt.start()
        assert self.link.wait_connected(10), self.link.error

    def open(self, incident: str, level: str = "danger", event: str = "opened") -> None:
        tr = [transition(event, level, incident=incident)]
        with self.store.transaction() as db:
            self.store.add_events(db, tr)
            self.alerts.enqueue(db, tr, [ZONE])

    def rows(self, sink: str = "mqtt") -> list[dict]:
        return self.alerts.outbox.rows(sink=sink)

    def close(self) -> None:
        self.mqtt.stop()
        self.alerts.stop()
        self.store.close()


@pytest.fixture
def box(tmp_path, fake, broker, box_env):
    b = Box(tmp_path, fake, broker)
    yield b
    b.close()


# -- events --------------------------------------------------------------------------------


def test_each_event_arrives_once_with_the_record_and_its_topic(box, broker) -> None:
    sub = broker.client("viewer").subscribe("safetyd/#")
    try:
        box.open("inc-1", "warning")
        box.open("inc-1", "danger", event="escalated")
        box.open("inc-1", "clear", event="cleared")
        assert wait_for(lambda: all(r["status"] == "sent" for r in box.rows()), 10)
        assert len(box.rows()) == 3
        time.sleep(0.5)  # anything extra would arrive now
        got = sub.got(f"{BASE}/events/")
        assert len(got) == 3, got
        for (topic, payload, retained, _), row in zip(got, box.rows(), strict=True):
            assert topic == f"{BASE}/events/press-line/press"
            assert not retained
            message = json.loads(payload)
            assert message.pop("site") == "test-plant"
            assert message.pop("site_name") == "Test plant"
            assert message.pop("box") == "box-a"
            assert message.pop("alert_id") == row["id"]
            assert message.pop("alert_kind") == "incident"
            assert message.pop("level_sent") == row["level"]
            assert message == json.loads(row["payload"])  # the record replay and events use
            assert row["provider_id"].startswith("mid:")
        assert [json.loads(p)["event"] for _, p, _, _ in got] == ["opened", "escalated", "cleared"]
        record = event_record(transition("opened", "warning", incident="inc-1"))
        assert set(record) <= set(json.loads(got[0][1]))
    finally:
        sub.close()


def test_events_wait_in_the_outbox_while_the_broker_is_down(box, broker) -> None:
    sub = broker.client("viewer", client_id="durable-viewer", durable=True)
    sub.subscribe(f"{BASE}/events/#")
    broker.stop()
    assert wait_for(lambda: not box.link.connected, 10)
    for i in range(5):
        box.open(f"out-{i}")
    assert wait_for(lambda: all(r["attempts"] >= 1 for r in box.rows()), 10)
    assert all(r["status"] == "pending" for r in box.rows())
    assert "mqtt broker not connected" in box.rows()[0]["last_error"]
    broker.start()
    try:
        assert wait_for(lambda: all(r["status"] == "sent" for r in box.rows()), 40)
        ids = {r["id"] for r in box.rows()}
        assert wait_for(lambda: {json.loads(p)["alert_id"] for _, p, _, _ in sub.got()} == ids, 20)
        seen = [json.loads(p)["alert_id"] for _, p, _, _ in sub.got()]
        # At least once: a copy may come twice (same alert_id), never more than tried.
        attempts = {r["id"]: r["attempts"] for r in box.rows()}
        assert all(seen.count(i) <= attempts[i] for i in ids)
    finally:
        sub.close()


# -- commands -------------------------------------------------------------------------------


def replies(sub) -> list[dict]:
    return [json.loads(p) for _, p, _, _ in sub.got(f"{BASE}/reply")]


def test_an_acknowledge_command_acknowledges_the_incident(box, broker) -> None:
    op = broker.client("operator").subscribe(f"{BASE}/reply")
    try:
        box.open("3fa2c0ffee000001")
        ledger = box.alerts.ledger
        assert not ledger.recent(0)[0].acknowledged
        op.publish(f"{BASE}/cmd", json.dumps({"command": "ack", "incident": "3FA2",
                                               "by": "shift lead", "id": "r1"}))  # fmt: skip
        assert wait_for(lambda: any(r.get("id") == "r1" for r in replies(op)), 10)
        answer = next(r for r in replies(op) if r["id"] == "r1")
        assert answer["ok"] is True and answer["incident"] == "3fa2c0ffee000001"
        inc = ledger.recent(0)[0]
        assert inc.acknowledged
        assert (inc.acked_by, inc.acked_channel) == ("mqtt:shift lead", "mqtt")
        # A second one is answered, not recorded again.
        op.publish(f"{BASE}/cmd", json.dumps({"command": "ack", "incident": "3fa2", "id": "r2"}))
        assert wait_for(lambda: any(r.get("id") == "r2" for r in replies(op)), 10)
        assert "already acknowledged" in next(r for r in replies(op) if r["id"] == "r2")["answer"]
        assert ledger.recent(0)[0].acked_by == "mqtt:shift lead"
    finally:
        op.close()


def test_snooze_commands_quiet_warnings_and_never_danger(box, broker) -> None:
    op = broker.client("operator").subscribe(f"{BASE}/reply")
    zone = "press-3-guard"
    try:
        op.publish(f"{BASE}/cmd", json.dumps({"command": "snooze", "zone": zone, "until": "30m",
                                               "reason": "die change", "level": "danger",
                                               "id": "d"}))  # fmt: skip
        assert wait_for(lambda: any(r.get("id") == "d" for r in replies(op)), 10)
        refused = next(r for r in replies(op) if r["id"] == "d")
        assert refused["ok"] is False and "danger is never snoozed" in refused["error"]
        assert box.alerts.ledger.snoozes(time.time()) == []
        op.publish(f"{BASE}/cmd", json.dumps({"command": "snooze", "zone": zone, "until": "30m",
                                               "reason": "die change", "id": "w"}))  # fmt: skip
        assert wait_for(lambda: any(r.get("id") == "w" for r in replies(op)), 10)
        assert next(r for r in replies(op) if r["id"] == "w")["ok"] is True
        (snooze,) = box.alerts.ledger.snoozes(time.time())
        assert (snooze.zone, snooze.reason, snooze.by) == (
            zone,
            "die change",
            "mqtt",
        )  # nobody said who: the channel
        assert 29 * 60 < snooze.until - time.time() <= 30 * 60
    finally:
        op.close()


@pytest.mark.parametrize(
    "until", ["NaN", "Infinity", "1" + "0" * 400, "-1e300"], ids=["nan", "inf", "400-digit", "huge"]
)
def test_a_snooze_until_no_time_is_answered_and_refused(box, broker, until) -> None:
    """Round 2 / issue 30: `until` NaN or a 400-digit number got no reply (a traceback
    in the log; NaN was even accepted by the lifecycle). Each is refused, answered."""
    op = broker.client("operator").subscribe(f"{BASE}/reply")
    try:
        raw = ('{"command": "snooze", "zone": "press-3-guard", "reason": "x", "id": "u", '
               f'"until": {until}}}')  # fmt: skip
        op.publish(f"{BASE}/cmd", raw)
        assert wait_for(lambda: any(r.get("id") == "u" for r in replies(op)), 10)
        answer = next(r for r in replies(op) if r["id"] == "u")
        assert answer["ok"] is False and "until is a time" in answer["error"]
        assert box.alerts.ledger.snoozes(time.time()) == []
    finally:
        op.close()


def test_the_lifecycle_refuses_a_snooze_until_nan() -> None:
    import math

    with pytest.raises(lifecycle.SnoozeRefused, match="not a time"):
        lifecycle.request_snooze("z", ["z"], math.nan, "why", "ana", 1000.0)


@pytest.mark.parametrize(
    ("topic", "payload", "why"),
    [
        (f"{BASE}/cmd", b"{not json", "not JSON"),
        (f"{BASE}/cmd", b'["ack"]', "a command is a JSON object"),
        (f"{BASE}/cmd", b'{"command": "mute", "zone": "press-3-guard"}', "unknown command"),
        (f"{BASE}/cmd", b'{"command": "ack", "incident": "3FA2", "force": 1}', "unknown key"),
        (f"{BASE}/cmd", b'{"command": "ack"}', "missing incident"),
        (f"{BASE}/cmd/ack", b'{"command": "ack", "incident": "3FA2"}', "commands are taken"),
    ],
)
def test_a_malformed_or_misplaced_command_is_refused_and_changes_nothing(
    box, broker, topic, payload, why
) -> None:
    op = broker.client("operator").subscribe(f"{BASE}/reply")
    try:
        box.open("3fa2c0ffee000001")
        op.publish(topic, payload)
        assert wait_for(lambda: box.mqtt.commands_refused == 1, 10)
        assert wait_for(lambda: any(not r["ok"] for r in replies(op)), 5)
        assert why in replies(op)[-1]["error"]
        assert not box.alerts.ledger.recent(0)[0].acknowledged
        assert box.mqtt.commands_done == 0
    finally:
        op.close()


def test_a_retained_command_is_ignored_and_cleared(tmp_path, fake, broker, box_env) -> None:
    """Round 2: a snooze published with the retain flag was applied at every start and
    reconnect. Kept by the broker before the box starts, it is not acted on, and the
    box clears it: a later subscriber finds nothing retained."""
    op = broker.client("operator")
    snooze = {"command": "snooze", "zone": "press-3-guard", "until": "30m", "reason": "old"}
    op.publish(f"{BASE}/cmd", json.dumps(snooze), retain=True)
    op.close()
    b = Box(tmp_path, fake, broker)
    try:
        assert wait_for(lambda: b.mqtt.commands_refused == 1, 10)
        time.sleep(1.0)
        assert b.alerts.ledger.snoozes(time.time()) == [] and b.mqtt.commands_done == 0
        late = broker.client("operator").subscribe(f"{BASE}/cmd")
        time.sleep(1.0)
        assert late.messages == []  # nothing retained any more
        late.close()
        # A command sent now (not retained) is acted on as ever.
        op = broker.client("operator")
        op.publish(f"{BASE}/cmd", json.dumps({**snooze, "id": "now"}))
        assert wait_for(lambda: b.mqtt.commands_done == 1, 10)
        op.close()
        assert len(b.alerts.ledger.snoozes(time.time())) == 1
    finally:
        b.close()


def test_commands_for_another_box_never_reach_this_one(box, broker) -> None:
    """A command on box-b's topic is box-b's business; box-b itself may not write into
    box-a's command topic (the ACL drops it): box-a's incident stays unacknowledged."""
    other = broker.client("box-b")
    op = broker.client("operator")
    try:
        box.open("3fa2c0ffee000001")
        ack = json.dumps({"command": "ack", "incident": "3FA2"})
        assert op.publish("safetyd/test-plant/box-b/cmd", ack) is None
        assert other.publish(f"{BASE}/cmd", ack) == "Not authorized"
        time.sleep(1.5)
        assert box.mqtt.commands_done == 0 and box.mqtt.commands_refused == 0
        assert not box.alerts.ledger.recent(0)[0].acknowledged
    finally:
        other.close()
        op.close()


def test_command_parsing_refuses_what_is_not_a_command() -> None:
    own = f"{BASE}/cmd"
    assert parse(own, own, b'{"command": "status"}').verb == "status"
    cmd = parse(own, own, b'{"command": "ack", "incident": "3fa2", "by": "ann", "id": 7}')
    assert (cmd.incident, cmd.by, cmd.request_id) == ("3fa2", "mqtt:ann", "7")
    for payload in (b"\xff", b"null", b'{"command": "ack", "incident": 3}', b"x" * 5000,
                    b'{"command": "snooze", "zone": "z", "until": true, "reason": "r"}',
                    b'{"command": "status", "by": ""}'):  # fmt: skip
        with pytest.raises(CommandRefused):
            parse(own, own, payload)


# -- state, the Last Will and the fleet ------------------------------------------------------


def test_state_topics_parse_back() -> None:
    t = Topics("plant7/safety", "north", "box-1")
    assert parse_state("plant7/safety", t.status).kind == "status"
    assert parse_state("plant7/safety", t.camera("c1")).camera == "c1"
    z = parse_state("plant7/safety", t.zone("c1", "z.1"))
    assert (z.site, z.box, z.camera, z.zone) == ("north", "box-1", "c1", "z.1")
    for other in (t.event("c1", "z"), t.command, t.reply, "plant7/x", "safetyd/a/b/status"):
        assert parse_state("plant7/safety", other) is None


def test_the_fleet_view_counts_only_what_online_boxes_say() -> None:
    view = FleetView("safetyd")
    on = b'{"state": "online", "updated": 100}'
    assert view.feed("safetyd/s/a/status", on, 101) is None  # first sight of an online box
    view.feed("safetyd/s/a/cameras/c1", b'{"online": false, "monitored": true}', 101)
    view.feed("safetyd/s/a/cameras/c2", b'{"online": false, "monitored": false}', 101)
    view.feed("safetyd/s/a/zones/c1/z", b'{"level": "danger", "incident": "x"}', 101)
    (row,) = view.rows()
    assert (row.state, row.cameras_offline, row.not_monitored, row.danger) == (
        "online", ("c1",), ("c2",), 1)  # fmt: skip
    change = view.feed("safetyd/s/a/status", b'{"state":"offline","reason":"connection lost",'
                       b'"connection":"17-1"}', 102)  # fmt: skip
    assert change is not None and not change.online and change.connection == "17-1"
    (row,) = view.rows()
    assert row.alarm and row.open_incidents == 0 and row.cameras_offline == ()
    assert view.feed("safetyd/s/a/status", on, 103).online
    view.feed("safetyd/s/a/status", b'{"state":"offline","reason":"stopped"}', 104)
    assert not view.rows()[0].alarm  # stopped by its operator: offline, not an alarm
    view.feed("safetyd/s/a/zones/c1/z", b"", 105)  # a cleared retained message
    assert view.boxes[("s", "a")].zones == {}


def test_a_killed_box_is_offline_in_the_fleet_and_raises_the_alarm(
    tmp_path, fake, broker, box_env
) -> None:
    """box-a is the real daemon; box-b, in this process, watches the fleet. SIGKILL
    box-a: the broker publishes its Last Will; `safetyd fleet` shows it offline and
    box-b queues the BOX OFFLINE alarm in its outbox."""
    env = {"MQTT_USER": "box-a", "MQTT_PASSWORD": password("box-a")}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    d = DaemonProcess(tmp_path / "a", press_camera(), extra=mqtt_toml(broker) + DISCOVERY,
                      env=env, sinks='["log", "mqtt"]')  # fmt: skip
    viewer = broker.client("viewer").subscribe("safetyd/#").subscribe("homeassistant/#")
    watcher = None
    try:
        d.start()
        d.wait_ready(90)
        retained = broker.client("viewer").subscribe("safetyd/#").subscribe("homeassistant/#")
        status = retained.wait_for(lambda m: m[0] == f"{BASE}/status" and m[2])
        assert json.loads(status[1])["state"] == "online"
        retained.wait_for(lambda m: m[0] == f"{BASE}/cameras/press-line" and m[2])
        # Published again at once when the camera's state changes (it came up just now).
        camera = retained.wait_for(lambda m: m[0] == f"{BASE}/cameras/press-line"
                                   and json.loads(m[1])["online"], 15)  # fmt: skip
        cam = json.loads(camera[1])
        assert cam["armed"] == ["press-3-guard"] and cam["monitored"] is True
        zone = retained.wait_for(lambda m: m[0] == f"{BASE}/zones/press-line/press-3-guard")
        assert json.loads(zone[1])["level"] in ("clear", "warning", "danger")
        check_discovery(retained)
        retained.close()
        # The level changes as the man walks in: danger with its incident id, then clear.
        danger = viewer.wait_for(lambda m: m[0].startswith(f"{BASE}/zones/")
                                 and json.loads(m[1])["level"] == "danger", 60)  # fmt: skip
        assert json.loads(danger[1])["incident"]
        # The fleet, from another box: box-b in this process.
        monkey_env = {"MQTT_USER": "box-b", "MQTT_PASSWORD": password("box-b")}
        with pytest.MonkeyPatch.context() as mp:
            for k, v in monkey_env.items():
                mp.setenv(k, v)
            watcher = Box(tmp_path / "b", fake, broker, "box-b", "[mqtt.fleet]\nenabled = true\n")
        fleet = run_fleet(broker)
        assert fleet.returncode == 0, fleet.stdout + fleet.stderr
        assert "test-plant/box-a" in fleet.stdout and "ALARM" not in fleet.stdout
        d.kill()  # SIGKILL: no goodbye; the broker's Last Will speaks for it
        will = viewer.wait_for(lambda m: m[0] == f"{BASE}/status"
                               and json.loads(m[1])["state"] == "offline", 15)  # fmt: skip
        assert json.loads(will[1])["reason"] == "connection lost"
        fleet = run_fleet(broker)
        assert fleet.returncode == 1
        line = next(x for x in fleet.stdout.splitlines() if "box-a" in x)
        assert "ALARM OFFLINE (connection lost)" in line
        assert wait_for(lambda: watcher.rows("log") and any(
            r["kind"] == "box_offline" for r in watcher.rows("log")), 15)  # fmt: skip
        alarm = next(r for r in watcher.rows("log") if r["kind"] == "box_offline")
        assert alarm["level"] == "danger"
        assert alarm["body"].startswith("SAFETY BOX OFFLINE test-plant/box-a ")
        sms = [r for r in watcher.alerts.outbox.rows(sink="sms") if r["kind"] == "box_offline"]
        assert not sms  # this box has no SMS sink; with one, maintenance would be texted
    finally:
        if watcher is not None:
            watcher.close()
        viewer.close()
        d.stop()


DISCOVERY = "discovery = true\n"


def run_fleet(broker: Broker) -> subprocess.CompletedProcess:
    command = [*SAFETYD, "fleet", "--broker", broker.url, "--username-credential",
               "fleet-user", "--password-credential", "fleet-password", "--wait", "1"]  # fmt: skip
    env = {**os.environ, "FLEET_USER": "viewer", "FLEET_PASSWORD": password("viewer")}
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)


# -- Home Assistant discovery -----------------------------------------------------------------

# The configuration keys Home Assistant documents for MQTT binary sensors and sensors
# (https://www.home-assistant.io/integrations/binary_sensor.mqtt/, sensor.mqtt/): a
# key outside these is ignored or refused by Home Assistant.
COMMON_KEYS = {
    "availability", "availability_mode", "availability_template", "availability_topic",
    "device", "enabled_by_default", "encoding", "entity_category", "entity_picture",
    "expire_after", "force_update", "icon", "json_attributes_template",
    "json_attributes_topic", "name", "object_id", "default_entity_id", "payload_available",
    "payload_not_available", "platform", "qos", "state_topic", "unique_id",
    "value_template", "origin",
}  # fmt: skip
KEYS = {
    "binary_sensor": COMMON_KEYS | {"device_class", "off_delay", "payload_off", "payload_on"},
    "sensor": COMMON_KEYS
    | {
        "device_class",
        "last_reset_value_template",
        "options",
        "suggested_display_precision",
        "state_class",
        "unit_of_measurement",
    },  # fmt: skip
}
DEVICE_KEYS = {"configuration_url", "connections", "hw_version", "identifiers", "manufacturer",
               "model", "model_id", "name", "serial_number", "suggested_area", "sw_version",
               "via_device"}  # fmt: skip
AVAILABILITY_KEYS = {"payload_available", "payload_not_available", "topic", "value_template"}
DEVICE_CLASSES = {
    "binary_sensor": {"safety", "connectivity", "problem", "occupancy", "presence"},
    "sensor": {"enum"},
}


def check_config_message(topic: str, config: dict) -> None:
    parts = topic.split("/")
    assert len(parts) == 5 and parts[-1] == "config", topic
    component = parts[1]
    assert all(p and p.replace("_", "a").replace("-", "a").isalnum() for p in parts[2:4]), topic
    assert set(config) <= KEYS[component], set(config) - KEYS[component]
    assert config["state_topic"] and config["unique_id"] and config["name"]
    assert set(config["device"]) <= DEVICE_KEYS and config["device"]["identifiers"]
    for a in config["availability"]:
        assert set(a) <= AVAILABILITY_KEYS and a["topic"]
    assert config["device_class"] in DEVICE_CLASSES[component]
    if config["device_class"] == "enum":
        assert config["options"] == ["clear", "warning", "danger"]
    assert config["qos"] in (0, 1, 2)


def check_discovery(sub) -> None:
    found = sub.wait_for(lambda m: m[0].startswith("homeassistant/"))
    assert found[2]  # retained: Home Assistant finds it whenever it starts
    time.sleep(0.3)
    messages = {t: json.loads(p) for t, p, _, _ in sub.got("homeassistant/")}
    names = sorted(c["name"] for c in messages.values())
    assert names == ["online", "press-3-guard danger", "press-3-guard level"]
    for topic, config in messages.items():
        check_config_message(topic, config)


def test_discovery_messages_have_only_documented_keys() -> None:
    t = Topics("safetyd", "north", "box.1")
    configs = discovery.configs(t, "North plant", "homeassistant",
                                {"cam.1": ["z1", "press-3"], "cam2": []})  # fmt: skip
    assert len(configs) == 2 * 2 + 2
    for topic, config in configs.items():
        check_config_message(topic, config)
        json.dumps(config)
    uniques = [c["unique_id"] for c in configs.values()]
    assert len(set(uniques)) == len(uniques)
    danger = next(c for c in configs.values() if c["name"] == "z1 danger")
    assert danger["state_topic"] == "safetyd/north/box.1/zones/cam.1/z1"
    assert danger["availability"][0]["topic"] == "safetyd/north/box.1/status"


# -- the daemon: outage and SIGKILL -----------------------------------------------------------


def mqtt_outbox(tmp: Path) -> list[dict]:
    db = tmp / "state" / "safetyd.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        con.row_factory = sqlite3.Row
        return [dict(r) for r in con.execute("SELECT * FROM outbox WHERE sink = 'mqtt'")]


def test_the_daemon_loses_no_event_through_a_broker_outage_and_a_sigkill(tmp_path, broker) -> None:
    """The real daemon on the looping demo clip. The broker goes down while incidents
    happen; the daemon is SIGKILLed with events unacknowledged; the broker comes back,
    the daemon restarts: every event in its outbox reaches the subscriber, duplicates
    (if any) carry the same alert_id."""
    env = {"MQTT_USER": "box-a", "MQTT_PASSWORD": password("box-a")}
    sub = broker.client("viewer", client_id="events-archive", durable=True)
    sub.subscribe(f"{BASE}/events/#")
    d = DaemonProcess(tmp_path, press_camera(), extra=mqtt_toml(broker), env=env,
                      sinks='["log", "mqtt"]')  # fmt: skip
    try:
        d.start()
        d.wait_ready(90)
        assert wait_for(lambda: any(r["status"] == "sent" for r in mqtt_outbox(tmp_path)), 60)
        broker.stop()
        before = len(mqtt_outbox(tmp_path))
        assert wait_for(lambda: len(mqtt_outbox(tmp_path)) >= before + 2, 60)  # incidents go on
        assert wait_for(lambda: any(r["status"] == "pending" and r["attempts"] >= 1
                                    for r in mqtt_outbox(tmp_path)), 20)  # fmt: skip
        d.kill()
        pending = [r for r in mqtt_outbox(tmp_path) if r["status"] == "pending"]
        assert pending
        broker.start()
        d.start()
        d.wait_ready(90)
        assert wait_for(lambda: all(r["status"] == "sent" for r in mqtt_outbox(tmp_path)
                                    if r["id"] <= max(p["id"] for p in pending)), 60)  # fmt: skip
        wanted = {r["id"] for r in mqtt_outbox(tmp_path) if r["status"] == "sent"}
        assert wait_for(
            lambda: wanted <= {json.loads(p)["alert_id"] for _, p, _, _ in sub.got()}, 30
        )
        seen = [json.loads(p)["alert_id"] for _, p, _, _ in sub.got()]
        attempts = {r["id"]: r["attempts"] for r in mqtt_outbox(tmp_path)}
        assert all(seen.count(i) <= max(1, attempts[i]) for i in wanted)
        for _, payload, _, _ in sub.got():
            message = json.loads(payload)
            assert {"event", "level", "camera", "zone", "track", "frame", "t"} <= set(message)
    finally:
        sub.close()
        d.stop()


# -- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mqtt", "message"),
    [
        ('url = "tcp://broker:1883"', "use mqtt://host:1883, or mqtts://host:8883"),
        ('url = "mqtt://user:secret@broker"', "put no user name or password in the URL"),
        ('url = "mqtt://broker:99999"', "the port is not a number"),
        ('url = "mqtt://broker"\nprefix = "safetyd/#"', "is not a topic prefix"),
        ('url = "mqtt://broker"\nca_file = "ca.pem"', "cert_file and key_file are for TLS"),
        ('url = "mqtts://broker"\ncert_file = "c.pem"', "needs both cert_file and key_file"),
        ('url = "mqtt://broker"\npassword_credential = "p"', "password_credential needs"),
        ('url = "mqtt://broker"\nqos = 0', "mqtt.qos: 0 is not valid: Input should be 1 or 2"),
        ('url = "mqtt://broker"\nkeepalive = 30', "keepalive"),
        (
            'url = "mqtt://broker"\npassword_credential = "0123456789abcdef0123456789abcdef"\n'
            'username_credential = "u"',
            "looks like the secret itself",
        ),
    ],
)
def test_check_config_explains_bad_mqtt_settings(tmp_path, mqtt, message) -> None:
    from conftest import BASE_TOML

    path = write_config(tmp_path, BASE_TOML + f"\n[mqtt]\n{mqtt}\n")
    result = run_safetyd("check-config", str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert message in result.stderr, result.stderr


def test_an_mqtt_sink_needs_an_mqtt_section(tmp_path) -> None:
    from conftest import BASE_TOML

    path = write_config(tmp_path, BASE_TOML.replace('sinks = ["log"]', 'sinks = ["log", "mqtt"]'))
    result = run_safetyd("check-config", str(path))
    assert result.returncode == 1
    assert "alerts.sinks include 'mqtt' but there is no [mqtt] section" in result.stderr


def test_a_daemon_with_a_dead_broker_still_starts_and_says_why(tmp_path) -> None:
    """An absent broker never holds up the start or the cameras; the status says why."""
    from streams import free_port

    port = free_port()  # nothing listens there
    extra = f'\n[mqtt]\nurl = "mqtt://127.0.0.1:{port}"\nbox = "lonely"\n'
    d = DaemonProcess(tmp_path, press_camera(), extra=extra, sinks='["log", "mqtt"]')
    try:
        d.start()
        d.wait_ready(90)
        status = json.loads(d.get("/api/status")[1])
        assert status["mqtt"]["connected"] is False
        assert status["mqtt"]["base_topic"] == "safetyd/test-plant/lonely"
        assert any(c["up"] for c in status["cameras"])
        code, page = d.get("/")
        assert b"NOT CONNECTED" in page
    finally:
        assert d.stop() == 0


# -- TLS with client certificates, reconnects ------------------------------------------------


def test_a_box_with_a_client_certificate_over_tls_publishes_its_events(tmp_path, fake) -> None:
    """mqtts:// with the broker's CA and a client certificate (no password): the
    broker takes the certificate's name as the user, so the same ACL applies."""
    need_mosquitto()
    broker = Broker(tmp_path / "mosquitto", tls=True).start()
    d = broker.directory
    extra = (f'url = "mqtts://127.0.0.1:{broker.tls_port}"\nbox = "box-a"\n'
             f'ca_file = "{d / "ca.pem"}"\ncert_file = "{d / "box-a.pem"}"\n'
             f'key_file = "{d / "box-a.key"}"\n')  # fmt: skip
    path = alert_config(tmp_path, fake, sinks='"log", "mqtt"')
    text = path.read_text().replace('name = "Plant 1"', 'name = "Test plant"', 1)
    path.write_text(text + "\n[mqtt]\n" + extra)
    loaded = cfg.load(path)
    assert loaded.config.mqtt is not None and loaded.config.mqtt.broker.tls
    sub = broker.client("viewer").subscribe(f"{BASE}/#")
    store = Store(tmp_path / "state.db")
    link = link_of(loaded)
    alerts = AlertService.from_config(loaded, store, mqtt=link)
    service = MqttService(lambda: loaded, link, alerts, lambda: ())
    try:
        alerts.start()
        service.start()
        assert link.wait_connected(10), link.error
        tr = [transition("opened", "danger", incident="tls-1")]
        with store.transaction() as db:
            store.add_events(db, tr)
            alerts.enqueue(db, tr, [ZONE])
        assert wait_for(lambda: alerts.outbox.rows(sink="mqtt", status="sent"), 10)
        sub.wait_for(lambda m: m[0] == f"{BASE}/events/press-line/press")
        assert json.loads(sub.wait_for(lambda m: m[0] == f"{BASE}/status")[1])["state"] == "online"
    finally:
        service.stop()
        alerts.stop()
        store.close()
        sub.close()
        broker.stop()


def test_a_client_without_the_right_certificate_is_not_let_in(tmp_path) -> None:
    need_mosquitto()
    broker = Broker(tmp_path / "mosquitto", tls=True).start()
    from safetyd.config.mqtt import MqttSettings
    from safetyd.mqtt.link import MqttLink

    try:
        s = MqttSettings(url=f"mqtts://127.0.0.1:{broker.tls_port}",
                         ca_file=str(broker.directory / "ca.pem"))  # fmt: skip
        link = MqttLink(s, Topics("safetyd", "test-plant", "box-a")).start()
        try:
            assert not link.wait_connected(3)
        finally:
            link.stop()
        # A CA file that is not there: the link says so, and never connects.
        bad = MqttSettings(url="mqtts://127.0.0.1:1", ca_file="/nonexistent/ca.pem")
        link = MqttLink(bad, Topics("safetyd", "test-plant", "box-a"))
        assert link.unusable and "No such file" in str(link.error)
    finally:
        broker.stop()


def test_after_a_reconnect_the_box_says_online_again_and_republishes_its_state(box, broker) -> None:
    first = box.link.connection
    broker.stop()
    assert wait_for(lambda: not box.link.connected, 10)
    box.mqtt.show_zones("press-line", ["press-3-guard"], {"press-3-guard": ("danger", "x1")},
                        time.monotonic())  # fmt: skip
    broker.start()
    assert box.link.wait_connected(40)
    sub = broker.client("viewer").subscribe(f"{BASE}/#")
    try:
        status = sub.wait_for(lambda m: m[0] == f"{BASE}/status"
                              and json.loads(m[1]).get("connection") != first)  # fmt: skip
        assert json.loads(status[1])["state"] == "online"
        zone = sub.wait_for(lambda m: m[0] == f"{BASE}/zones/press-line/press-3-guard")
        assert json.loads(zone[1])["level"] == "danger"
        # Held by the broker (retained): a subscriber that comes later gets it at once.
        late = broker.client("viewer").subscribe(f"{BASE}/zones/#")
        kept = late.wait_for(lambda m: m[0] == f"{BASE}/zones/press-line/press-3-guard")
        late.close()
        assert kept[2] and json.loads(kept[1])["level"] == "danger"
        # A status command republishes now, and is answered.
        op = broker.client("operator").subscribe(f"{BASE}/reply")
        n = len(sub.got(f"{BASE}/zones/"))
        op.publish(f"{BASE}/cmd", b'{"command": "status", "id": "s"}')
        assert wait_for(lambda: any(r.get("id") == "s" and r["ok"] for r in replies(op)), 10)
        assert wait_for(lambda: len(sub.got(f"{BASE}/zones/")) > n, 5)
        op.close()
    finally:
        sub.close()


def test_the_status_page_shows_the_broker_and_the_fleet() -> None:
    from safetyd.mqtt.fleet import FleetRow
    from safetyd.service.status import DeliveryStatus, MqttStatus, Status
    from safetyd.service.web import render_page
    from safetyd.storage.store import StorageStatus

    rows = (
        FleetRow("north", "<b>x</b>", "offline", "connection lost", 2, (), (), 0, 0, time.time()),
        FleetRow("north", "b2", "online", "", 3, ("dock",), (), 1, 1, time.time() - 5),
    )
    status = Status(
        site="North", cameras=(), delivery=DeliveryStatus(0, True, (), ("log",)),
        storage=StorageStatus(True, "/x", None, None, 0),
        mqtt=MqttStatus("mqtt://b:1883", "safetyd/north/b1", False, "refused", "10:00:00 UTC",
                        0, 0, rows),
    )  # fmt: skip
    page = render_page(status)
    assert "NOT CONNECTED (refused)" in page
    assert "OFFLINE connection lost" in page and "&lt;b&gt;x&lt;/b&gt;" in page
    assert "<td>dock</td>" in page
    assert render_page(Status(site="N", cameras=(), delivery=status.delivery,
                              storage=status.storage)).count("Fleet") == 0  # fmt: skip


def test_a_reload_that_removes_or_changes_mqtt_and_console_says_so_and_keeps_running(
    tmp_path, broker
) -> None:
    """Round 2: a reload that took [mqtt] out raised AssertionError in the MQTT service,
    and [mqtt]/[console] changes were silently kept at their old values. They are
    made once, at start: the reload keeps them, says which keys need a restart, and
    the box stays connected and healthy."""
    env = {"MQTT_USER": "box-a", "MQTT_PASSWORD": password("box-a")}
    console = "\n[console]\nenabled = true\nport = 0\n"
    d = DaemonProcess(tmp_path, press_camera(), extra=mqtt_toml(broker) + console, env=env)
    op = broker.client("operator").subscribe(f"{BASE}/reply")
    try:
        d.start()
        d.wait_ready(90)
        text = d.config.read_text()
        start = text.index("\n[mqtt]")
        end = text.index("\n[console]")
        d.config.write_text(
            text[:start] + text[end:].replace("port = 0", "port = 0\nlockout_s = 60")
        )
        mark = len(d.log())
        d.signal(signal.SIGHUP)
        assert d.wait_log("reloaded:", 20, mark), d.log()[mark:]
        said = d.log()[mark:]
        assert (
            "[console] lockout_s, [mqtt] (removed) changed: kept as they were until a restart"
            in said
        )
        assert "Traceback" not in said and "AssertionError" not in said
        assert d.proc.poll() is None and d.get("/healthz")[0] == 200
        # The broker connection is the one it started with: commands are still answered.
        op.publish(f"{BASE}/cmd", json.dumps({"command": "status", "id": "after"}))
        assert wait_for(lambda: any(r.get("id") == "after" for r in replies(op)), 10)
    finally:
        op.close()
        d.stop()


def test_each_areas_posture_exposure_is_retained_state(tmp_path, fake, broker, box_env) -> None:
    """This shift's posture figures per area (service/posture.py) go to the broker as
    retained state under the box's posture topic, and follow the figures."""
    from safetyd.service.posture import AreaShift

    loaded = cfg.load(box_config(tmp_path, fake, broker, extra="state_every_s = 1"))
    store = Store(tmp_path / "state.db")
    link = link_of(loaded)
    alerts = AlertService.from_config(loaded, store, mqtt=link)
    shift = AreaShift(
        "press-line",
        "pack",
        "early",
        1_764_478_800.0,
        {"trunk": {"0-20": 600.0, "over_60": 120.0}},
        {"trunk_over_60": 3},
    )
    service = MqttService(lambda: loaded, link, alerts, lambda: (), posture=lambda: [shift])
    alerts.start()
    service.start()
    try:
        assert link.wait_connected(10), link.error
        topic = f"{BASE}/posture/press-line/pack"
        first = broker.client("viewer").subscribe(f"{BASE}/posture/#")
        got = first.wait_for(lambda m: m[0] == topic)
        assert got is not None and got[2] in (True, False)
        payload = json.loads(got[1])
        assert payload["seconds"] == {"trunk": {"0-20": 600.0, "over_60": 120.0}}
        assert payload["risky_postures"] == {"trunk_over_60": 3} and payload["shift"] == "early"
        assert "no medical or compliance claim" in payload["note"]
        first.close()
        shift.risky["trunk_over_60"] = 4  # the next state_every_s publishes the new figure
        later = broker.client("viewer").subscribe(topic)  # a newcomer gets it retained
        newer = later.wait_for(lambda m: json.loads(m[1])["risky_postures"]["trunk_over_60"] == 4)
        assert newer is not None
        later.close()
    finally:
        service.stop()
        alerts.stop()
        store.close()
