"""Plant I/O over Modbus TCP, against a real pymodbus server on 127.0.0.1: outputs
that follow the floor's state, the heartbeat, a device that goes away and comes
back, machine-state arming, the configuration's checks, ``safetyd io test``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import BASE_TOML, run_safetyd, wait_for, write_config, zone_collection, zone_feature
from modbus_server import ModbusServer

from safetyd.config.plantio import ModbusInput, ModbusOutput
from safetyd.plant import signals
from safetyd.plant.modbus import InputPoller, OutputDevice
from safetyd.plant.signals import FloorState, Signal
from safetyd.zones.arming import machine_armed

# -- what the outputs should show (pure) ------------------------------------------------

RED = Signal("coil", 0, zones=("press",), state="danger")
AMBER = Signal("coil", 1, zones=("press",), state="warning")
BLUE = Signal("coil", 2, cameras=("cam",), state="camera_offline")
ANDON = Signal("register", 10, zones=("press", "lane"), system=True,
               values={"clear": 1, "warning": 2, "danger": 3, "camera_offline": 4,
                       "system_fault": 5}, stopped=0)  # fmt: skip
ZONE_CAMERAS = {"press": "cam", "lane": "cam2"}


def floor(**kw) -> FloorState:
    return FloorState(zone_cameras=ZONE_CAMERAS, **kw)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (floor(), {("coil", 0): 0, ("coil", 1): 0, ("coil", 2): 0, ("register", 10): 1}),
        (floor(zones={"press": "warning"}),
         {("coil", 0): 0, ("coil", 1): 1, ("coil", 2): 0, ("register", 10): 2}),
        # Danger anywhere among the sources outranks a warning elsewhere...
        (floor(zones={"press": "warning", "lane": "danger"}),
         {("coil", 0): 0, ("coil", 1): 1, ("coil", 2): 0, ("register", 10): 3}),
        # ...and a blind camera: its zone cannot be said to be clear.
        (floor(zones={"lane": "danger"}, cameras_offline=frozenset({"cam"})),
         {("coil", 0): 0, ("coil", 1): 0, ("coil", 2): 1, ("register", 10): 3}),
        (floor(cameras_offline=frozenset({"cam"})),
         {("coil", 0): 0, ("coil", 1): 0, ("coil", 2): 1, ("register", 10): 4}),
        (floor(zones={"press": "warning"}, system_fault=True),
         {("coil", 0): 0, ("coil", 1): 1, ("coil", 2): 0, ("register", 10): 5}),
    ],
    ids=["clear", "warning", "danger-over-warning", "danger-over-offline", "offline", "fault"],
)  # fmt: skip
def test_signals_merge_by_priority(state: FloorState, expected: dict) -> None:
    assert signals.desired([RED, AMBER, BLUE, ANDON], state) == expected


def test_two_signals_on_one_coil_turn_it_on_if_either_does_and_stopped_values() -> None:
    other = Signal("coil", 0, zones=("lane",), state="danger", stopped=1)
    assert signals.desired([RED, other], floor(zones={"lane": "danger"})) == {("coil", 0): 1}
    assert signals.stopped([RED, AMBER, ANDON, other]) == {
        ("coil", 0): 1, ("coil", 1): 0, ("register", 10): 0,
    }  # fmt: skip


def test_machine_inputs_arm_zones_with_the_schedule() -> None:
    from dataclasses import replace

    from test_hazards import make_zone

    guard = replace(make_zone("guard"), armed_when="press-running")
    lane = make_zone("lane")
    armed = frozenset({"guard", "lane"})
    assert machine_armed([guard, lane], armed, lambda i: False) == {"lane"}
    assert machine_armed([guard, lane], armed, lambda i: True) == armed
    assert machine_armed([guard, lane], frozenset({"lane"}), lambda i: True) == {"lane"}
    assert machine_armed([guard, lane], armed, None) == armed  # replay: the schedule alone


# -- an output device against a real server ----------------------------------------------


def output_settings(server: ModbusServer, **kw) -> ModbusOutput:
    base = {
        "id": "tower", "host": "127.0.0.1", "port": server.port, "timeout_s": 0.3,
        "reassert_s": 60, "heartbeat": {"register": 100, "every_s": 0.2},
        "map": [
            {"coil": 0, "state": "danger", "zones": ["press"], "stopped": 0},
            {"coil": 1, "state": "warning", "zones": ["press"]},
            {"coil": 2, "state": "clear", "zones": ["press"], "stopped": 0},
            {"register": 10, "zones": ["press"], "cameras": ["cam"], "stopped": 9,
             "values": {"clear": 1, "warning": 2, "danger": 3, "camera_offline": 4}},
        ],
    }  # fmt: skip
    return ModbusOutput.model_validate({**base, **kw})


@pytest.fixture
def server():
    with ModbusServer() as s:
        yield s


def test_state_changes_reach_the_right_coils_in_the_right_order(server) -> None:
    latencies: list[float] = []
    device = OutputDevice(output_settings(server), on_written=lambda d, s: latencies.append(s))
    device.start()
    try:
        device.show(floor(), time.monotonic())
        assert wait_for(lambda: server.get("coil", 2) == 1 and server.get("hr", 10) == 1, 5)
        device.show(floor(zones={"press": "warning"}), time.monotonic())
        assert wait_for(lambda: server.get("coil", 1) == 1, 5)
        mark = len(server.writes)
        device.show(floor(zones={"press": "danger"}), time.monotonic())
        assert wait_for(lambda: server.get("coil", 0) == 1 and server.get("hr", 10) == 3, 5)
        changes = [(k, a, v) for _, k, a, v in server.writes[mark:] if (k, a) != ("hr", 100)]
        # Off before on: the amber lamp goes out before the red one lights.
        assert changes == [("coil", 1, 0), ("coil", 0, 1), ("hr", 10, 3)]
        assert server.get("coil", 2) == 0
        # Each change of the outputs is timed once the server has answered (a moment after
        # its memory shows the write). The first show may change nothing: the device's
        # own first cycle may already have written the same all-clear, untimed.
        assert wait_for(lambda: len(latencies) >= 2, 5)
        assert len(latencies) <= 3 and all(0 < s < 1.0 for s in latencies)
        # The heartbeat counts while the daemon is healthy.
        beats = server.get("hr", 100)
        assert wait_for(lambda: server.get("hr", 100) >= beats + 3, 5)
    finally:
        device.stop()
    # Stopped: every output shows its "stopped" value.
    assert (server.get("coil", 0), server.get("coil", 2), server.get("hr", 10)) == (0, 0, 9)


def test_the_heartbeat_stops_while_the_daemon_is_unhealthy(server) -> None:
    healthy = [True]
    device = OutputDevice(output_settings(server), healthy=lambda: healthy[0]).start()
    try:
        assert wait_for(lambda: server.get("hr", 100) >= 2, 5)
        healthy[0] = False
        time.sleep(0.5)
        frozen = server.get("hr", 100)
        time.sleep(1.0)
        assert server.get("hr", 100) == frozen
        healthy[0] = True
        assert wait_for(lambda: server.get("hr", 100) > frozen, 5)
    finally:
        device.stop()


def test_a_device_that_goes_away_is_flagged_and_gets_everything_again_when_back(server) -> None:
    device = OutputDevice(output_settings(server, reassert_s=60)).start()
    try:
        device.show(floor(zones={"press": "danger"}), time.monotonic())
        assert wait_for(lambda: server.get("coil", 0) == 1, 5)
        assert device.health().up
        server.stop()
        server.mem.clear()  # power cycled: it comes back with every output off
        started = time.monotonic()
        device.show(floor(zones={"press": "warning"}), time.monotonic())  # never blocks
        assert time.monotonic() - started < 0.05
        assert wait_for(lambda: not device.health().up, 5)
        health = device.health()
        assert health.down_since is not None and health.error
        server.start()
        # Back: everything is written again, not only what changed meanwhile.
        assert wait_for(lambda: device.health().up and server.get("hr", 10) == 2, 15)
        assert server.get("coil", 1) == 1 and server.get("coil", 2) == 0
    finally:
        device.stop()


def test_outputs_are_reasserted(server) -> None:
    device = OutputDevice(output_settings(server, reassert_s=0.5)).start()
    try:
        device.show(floor(zones={"press": "danger"}), time.monotonic())
        assert wait_for(lambda: server.get("coil", 0) == 1, 5)
        server.set("coil", 0, 0)  # somebody (or a power cycle) cleared it
        assert wait_for(lambda: server.get("coil", 0) == 1, 5)
    finally:
        device.stop()


# -- inputs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "mem_kind"), [("coil", "coil"), ("discrete_input", "di"), ("register", "hr"),
                           ("input_register", "ir")],
)  # fmt: skip
def test_inputs_are_read_and_decide_arming(server, kind: str, mem_kind: str) -> None:
    settings = ModbusInput.model_validate(
        {"id": "press-running", "host": "127.0.0.1", "port": server.port, kind: 7,
         "poll_hz": 20, "timeout_s": 0.3}
    )  # fmt: skip
    changes: list[bool] = []
    poller = InputPoller(settings)
    poller.on_change(lambda i, allows: changes.append(allows))
    poller.start()
    try:
        assert wait_for(lambda: poller.value == 0, 5)
        assert poller.allows  # stopped, but not yet for disarm_after_s (2 s)
        assert wait_for(lambda: not poller.allows, 5)
        server.set(mem_kind, 7, 1)
        assert wait_for(lambda: poller.allows, 5)
        server.set(mem_kind, 7, 0)
        assert wait_for(lambda: not poller.allows, 5)
        server.stop()
        # Unreadable: the zones it arms stay armed (fail-safe).
        assert wait_for(lambda: poller.allows and not poller.health().up, 5)
    finally:
        poller.stop()
    assert changes[:3] == [False, True, False] and changes[-1] is True


def test_a_machine_input_disarms_late_and_never_on_untrusted_readings() -> None:
    """Pure: arm at once, disarm after disarm_after_s of stopped without a break; a
    reading out of range, or a flapping input, keeps the zones armed and is a fault."""
    from safetyd.plant.machine import FLAP_WINDOW_S, MachineInput

    m = MachineInput(1, frozenset({0}), disarm_after_s=2.0, flapping_changes=6)
    m.read(0, 0.0)
    assert m.allows(1.9) and not m.allows(2.0) and m.fault is None
    m.read(1, 2.5)
    assert m.allows(2.5)  # running: armed at once
    m.read(0, 3.0)
    m.read(None, 4.0)  # a failed read breaks the run of stopped readings
    m.read(0, 4.5)
    assert m.allows(6.4) and not m.allows(6.5)
    m.read(37, 7.0)
    assert m.allows(7.0) and "reads 37, out of range" in m.fault
    m.read(0, 7.5)
    assert m.fault is None
    # Toggled every 0.4 s: armed throughout, and flapping from the sixth change on.
    f = MachineInput(1, frozenset({0}), disarm_after_s=0.0, flapping_changes=6)
    allowed = []
    for k in range(40):
        f.read(k % 2, 100 + 0.4 * k)
        allowed.append(f.allows(100 + 0.4 * k))
    assert all(allowed[5:]) and f.flapping and f.fault.startswith("flapping")
    # Steady (stopped) for a whole window: trusted again, and then it disarms.
    t = 100 + 0.4 * 40
    while t < 100 + 0.4 * 40 + FLAP_WINDOW_S + 1:
        f.read(0, t)
        t += 0.5
    assert not f.flapping and f.fault is None and not f.allows(t)


def test_a_flapping_or_out_of_range_input_keeps_zones_armed_and_alarms(server) -> None:
    """Round 2: an input toggled every 0.4 s closed live danger incidents as
    disarmed (115 log lines, health 200). On a real server: the zones stay armed, the
    input's health is down with the reason, and the plant raises its alarm."""
    from safetyd.plant.service import Plant

    settings = ModbusInput.model_validate(
        {"id": "press-running", "host": "127.0.0.1", "port": server.port, "register": 7,
         "poll_hz": 20, "timeout_s": 0.3, "alarm_after_s": 0.5}
    )  # fmt: skip
    from types import SimpleNamespace as NS

    changes: list[bool] = []
    config = NS(outputs=NS(modbus=[]), inputs=NS(modbus=[settings]))
    plant = Plant(config, {}, on_input=lambda i, allows: changes.append(allows))  # type: ignore[arg-type]
    poller = plant.inputs["press-running"]
    server.set("hr", 7, 1)
    plant.start()
    try:
        assert wait_for(lambda: poller.value == 1 and poller.health().up, 5)
        end = time.monotonic() + 4.0
        k = 0
        while time.monotonic() < end:
            server.set("hr", 7, k % 2)
            assert poller.allows
            k += 1
            time.sleep(0.4)
        health = poller.health()
        assert not health.up and health.error.startswith("flapping"), health
        assert changes == []  # never disarmed, so nothing changed
        (alarm,) = plant.alarms(time.time())
        assert alarm.facts["error"].startswith("flapping") and "stay armed" in alarm.facts["effect"]
        server.set("hr", 7, 37)
        assert wait_for(lambda: poller.value == 37, 5)
        assert poller.allows
    finally:
        plant.stop()


# -- configuration ----------------------------------------------------------------------

OUTPUT = """
[[outputs.modbus]]
id = "tower"
host = "127.0.0.1"
{extra}
"""


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (OUTPUT.format(extra='[[outputs.modbus.map]]\ncoil = 0\nzones = ["z1"]'),
         'coil 0: say which state turns it on (state = "danger", ...)'),
        (OUTPUT.format(extra='[[outputs.modbus.map]]\nregister = 3\nzones = ["z1"]'),
         "register 3: give values per state"),
        (OUTPUT.format(extra='[[outputs.modbus.map]]\nregister = 3\nzones = ["z1"]\n'
                             "values = { clear = 1, danjer = 3 }"),
         "register 3: unknown state(s) ['danjer'] in values"),
        (OUTPUT.format(extra='[[outputs.modbus.map]]\ncoil = 0\nregister = 1\nstate = "danger"'
                             '\nzones = ["z1"]'),
         "each map entry drives either a coil or a register"),
        (OUTPUT.format(extra='[[outputs.modbus.map]]\ncoil = 70000\nstate = "danger"\n'
                             'zones = ["z1"]'),
         "map[0].coil: 70000 is not valid: Input should be less than or equal to 65535"),
        (OUTPUT.format(extra='[[outputs.modbus.map]]\ncoil = 0\nstate = "danger"'),
         "nothing drives this entry"),
        (OUTPUT.format(extra='[[outputs.modbus.map]]\ncoil = 0\nstate = "danger"\n'
                             'zones = ["z9"]'),
         "map[0].zones: unknown zone 'z9'; zones: z1"),
        (OUTPUT.format(extra='[[outputs.modbus.map]]\ncoil = 0\nstate = "danger"\n'
                             'cameras = ["cam9"]'),
         "map names unknown camera(s) ['cam9']"),
        (OUTPUT.format(extra='heartbeat = { coil = 0 }\n[[outputs.modbus.map]]\ncoil = 0\n'
                             'state = "danger"\nzones = ["z1"]'),
         "the heartbeat's coil 0 is also mapped to a state"),
        ('[[inputs.modbus]]\nid = "run"\nhost = "127.0.0.1"\ncoil = 1\nregister = 2',
         "give exactly one of discrete_input, coil, register, input_register (got coil, "
         "register)"),
        ('[[inputs.modbus]]\nid = "run"\nhost = "127.0.0.1"\ncoil = 1\nequals = 5',
         "a coil reads 0 or 1; equals = 5 never matches"),
        ('[[inputs.modbus]]\nid = "run"\nhost = "127.0.0.1"\nregister = 1\nequals = 2\n'
         "disarmed_values = [0, 2]",
         "equals = 2 is also in disarmed_values: a reading cannot mean both running and "
         "stopped"),
        ('[[inputs.modbus]]\nid = "run"\nhost = "127.0.0.1"\nregister = 1\nequals = 0',
         "equals = 0 on a register: say which readings mean stopped (disarmed_values = [...])"),
    ],
    ids=["coil-no-state", "register-no-values", "unknown-state", "coil-and-register",
         "address-range", "no-source", "unknown-zone", "unknown-camera", "heartbeat-clash",
         "input-two-addresses", "input-equals", "input-both", "input-register-zero"],
)  # fmt: skip
def test_bad_plant_io_is_explained(tmp_path: Path, toml: str, message: str) -> None:
    path = write_config(tmp_path, BASE_TOML + toml)
    result = run_safetyd("check-config", str(path))
    assert result.returncode == 1, result.stdout
    assert message in result.stderr, result.stderr


def test_armed_when_must_name_an_input(tmp_path: Path) -> None:
    zones = zone_collection(zone_feature(armed_when="press-runing",
                                         recipients={"danger": ["operators"]}))  # fmt: skip
    toml = BASE_TOML + '[[inputs.modbus]]\nid = "press-running"\nhost = "127.0.0.1"\ncoil = 1\n'
    result = run_safetyd("check-config", str(write_config(tmp_path, toml, zones)))
    assert result.returncode == 1
    assert (
        "properties.armed_when: unknown machine input 'press-runing' (did you mean "
        "'press-running'?); inputs in [[inputs.modbus]]: press-running"
    ) in result.stderr


# -- safetyd io test ---------------------------------------------------------------------


def test_io_test_drives_each_output_and_reads_each_input(tmp_path: Path, server) -> None:
    server.set("hr", 7, 1)
    toml = (
        BASE_TOML
        + f"""
[[outputs.modbus]]
id = "tower"
host = "127.0.0.1"
port = {server.port}
[[outputs.modbus.map]]
coil = 0
state = "danger"
zones = ["z1"]
[[outputs.modbus.map]]
register = 10
zones = ["z1"]
values = {{ clear = 1, warning = 2, danger = 3, camera_offline = 4 }}
stopped = 9

[[inputs.modbus]]
id = "press-running"
host = "127.0.0.1"
port = {server.port}
register = 7
"""
    )
    result = run_safetyd("io", "test", "--config", str(write_config(tmp_path, toml)),
                         "--step-s", "0")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"output tower (127.0.0.1:{server.port} unit 1):"
    assert [line.split()[0] for line in lines[1:7]] == [
        "clear", "warning", "camera_offline", "system_fault", "danger", "stopped"
    ]  # fmt: skip
    assert "  danger          coil 0=1, register 10=3  OK" in lines
    assert server.written("hr", 10) == [1, 2, 4, 1, 3, 9]
    assert server.written("coil", 0) == [0, 0, 0, 0, 1, 0]
    assert lines[-1] == (
        f"input press-running (127.0.0.1:{server.port} register 7): 1 (equals 1: arms its zones)"
    )
    server.stop()
    down = run_safetyd("io", "test", "--config", str(write_config(tmp_path, toml)),
                       "--step-s", "0")  # fmt: skip
    assert down.returncode == 1
    assert "FAILED: cannot connect to 127.0.0.1" in down.stdout
    assert "zones armed by it would stay armed (fail-safe)" in down.stdout


def test_the_readme_says_what_safetyd_is_not() -> None:
    """The README says plainly what safetyd is not."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert "not a safety-rated protective device" in readme
    assert "ISO 13849" in readme and "IEC 61496" in readme


def test_a_camera_not_yet_seen_is_shown_offline_and_its_first_frame_shows_at_once() -> None:
    """Issue 30: at start the floor showed clear before any camera had produced a frame,
    and a camera's health reached the outputs only at the next 1 s health check. Pure:
    the floor of a plant over one camera's zones."""
    from types import SimpleNamespace as NS

    from test_hazards import make_zone

    from safetyd.plant.service import Plant

    config = NS(outputs=NS(modbus=[]), inputs=NS(modbus=[]))
    plant = Plant(config, {"cam": (make_zone("press"),)})  # type: ignore[arg-type]
    assert plant.floor().cameras_offline == {"cam"} and plant.wants_frame("cam")
    plant.show_zones("cam", {}, None)  # its first frame: clear, and seen
    assert plant.floor().cameras_offline == frozenset() and not plant.wants_frame("cam")
    plant.show_health(["cam"], False)  # the health check: it went blind
    assert plant.floor().cameras_offline == {"cam"} and plant.wants_frame("cam")
    plant.show_zones("cam", {"press": "warning"}, None)  # a frame: it sees again, now
    assert plant.floor().cameras_offline == frozenset()
    # A reload's new plant knows what the old one knew: no flash of camera_offline.
    fresh = Plant(config, {"cam": (make_zone("press"),)})  # type: ignore[arg-type]
    fresh.carry_over(plant)
    assert fresh.floor().cameras_offline == frozenset()
    assert fresh.floor().zones == {"press": "warning"}


def test_the_heartbeat_reads_no_part_before_the_daemon_has_started(
    tmp_path: Path, server, caplog
) -> None:
    """Issue 30: the heartbeat's health callback read App.scheduler before it was set,
    logging a false 'modbus output tower unreachable: AttributeError' at start."""
    from conftest import BASE_TOML

    from safetyd.assembly import load as cfg
    from safetyd.service.app import App

    toml = BASE_TOML + plant_toml(server.port).replace(
        'zones = ["press-3-guard"]', 'zones = ["z1"]'
    )
    path = write_config(tmp_path, toml)
    from safetyd.service.metrics import Metrics
    from safetyd.service.parts import PlantPart

    app = App(path)  # as start() has it when the plant starts: config and metrics only
    app.loaded, app.metrics = cfg.load(path), Metrics()
    with caplog.at_level("INFO", logger="safetyd.plant"):
        plant = PlantPart(app.loaded, app.metrics, app.healthy, lambda: app.loaded.zones)
        try:
            time.sleep(1.0)  # several heartbeat cycles
        finally:
            plant.stop()
    assert "AttributeError" not in caplog.text
    assert server.get("hr", 100) == 0  # not healthy before the start ends: no beat
    assert 4 in server.written("hr", 10)  # the camera not yet seen: offline, never clear
    assert 1 not in server.written("hr", 10)


# -- the real daemon ---------------------------------------------------------------------


def plant_toml(port: int, coil: int = 0) -> str:
    return f"""
[[outputs.modbus]]
id = "tower"
host = "127.0.0.1"
port = {port}
timeout_s = 0.3
reassert_s = 2
alarm_after_s = 1
heartbeat = {{ register = 100, every_s = 0.2 }}
[[outputs.modbus.map]]
coil = {coil}
state = "danger"
zones = ["press-3-guard"]
[[outputs.modbus.map]]
register = 10
zones = ["press-3-guard"]
values = {{ clear = 1, warning = 2, danger = 3, camera_offline = 4 }}
stopped = 7

[[inputs.modbus]]
id = "press-running"
host = "127.0.0.1"
port = {port}
register = 7
poll_hz = 10
timeout_s = 0.3
alarm_after_s = 1
"""


def test_the_daemon_drives_the_tower_arms_by_machine_state_and_survives_the_device(
    tmp_path: Path, server
) -> None:
    from daemon_harness import DaemonProcess, press_camera

    server.set("hr", 7, 1)  # the press runs
    d = DaemonProcess(tmp_path, press_camera(), extra=plant_toml(server.port))
    zones = json.loads((tmp_path / "press.geojson").read_text())
    zones["features"][0]["properties"]["armed_when"] = "press-running"
    (tmp_path / "press.geojson").write_text(json.dumps(zones))
    d.start()
    try:
        d.wait_ready()
        # Before the camera's first frame was assessed the andon said camera_offline,
        # never clear (issue 30: it said clear at start).
        assert server.written("hr", 10)[0] == 4, server.written("hr", 10)
        # The demo's man reaches into the guard: the red lamp lights, the andon says 3.
        assert wait_for(lambda: 1 in server.written("coil", 0), 60), server.writes[-5:]
        assert wait_for(lambda: 3 in server.written("hr", 10), 5)
        beats = server.get("hr", 100)
        assert wait_for(lambda: server.get("hr", 100) >= beats + 3, 5)
        # The press stops: its guard zone is disarmed (logged, and in the status).
        mark = len(d.log())
        server.set("hr", 7, 0)
        assert d.wait_log(
            "machine input press-running: zones press-line/press-3-guard disarmed", 10, mark
        )
        assert wait_for(lambda: not _armed(d), 5)
        server.set("hr", 7, 1)
        assert wait_for(lambda: _armed(d), 5)

        # The device goes away: flagged, alarmed, the zone stays armed (fail-safe), and
        # the camera keeps its pace.
        fps_before = _processed_rate(d)
        server.stop()
        server.mem.clear()  # power cycled...
        server.set("hr", 7, 1)  # ...and the press still runs
        assert wait_for(lambda: len(_plant_reasons(d)) == 2, 10), _plant_reasons(d)
        output, inputs = sorted(_plant_reasons(d))[::-1]
        assert output.startswith("plant I/O: modbus output tower unreachable (")
        assert inputs.startswith("plant I/O: modbus input press-running unreachable (")
        assert inputs.endswith("its zones are kept armed")
        assert d.get("/healthz")[0] == 503
        assert d.wait_log("PLANT I/O DOWN", 15, mark)
        assert (
            'safetyd_modbus_up{device="tower",kind="output"} 0.0' in d.get("/metrics")[1].decode()
        )
        assert _armed(d)
        fps_down = _processed_rate(d)
        assert fps_down >= 0.7 * fps_before, (fps_before, fps_down)
        server.start()
        assert wait_for(lambda: d.get("/healthz")[0] == 200, 20), d.get("/healthz")[1]
        assert d.wait_log("PLANT I/O BACK", 15, mark)
        assert wait_for(lambda: server.get("hr", 10) in (1, 2, 3), 10)  # written again

        # A reload that moves the red lamp to coil 5.
        mark = len(d.log())
        moved = d.config.read_text().replace(plant_toml(server.port), plant_toml(server.port, 5))
        d.config.write_text(moved)
        import signal

        d.signal(signal.SIGHUP)
        assert d.wait_log("plant I/O restarted with the new configuration", 15, mark)
        assert wait_for(lambda: 1 in server.written("coil", 5), 60), d.log()[mark:]
    finally:
        assert d.stop() == 0
    assert server.get("hr", 10) == 7  # stopped


def _plant_reasons(d) -> list[str]:
    reasons = json.loads(d.get("/healthz")[1])["reasons"]
    return [r for r in reasons if r.startswith("plant I/O")]


def _armed(d) -> bool:
    (cam,) = json.loads(d.get("/api/status")[1])["cameras"]
    return bool(cam["zones"]["press-3-guard"])


def _processed(d) -> float:
    for line in d.get("/metrics")[1].decode().splitlines():
        if line.startswith('safetyd_frames_processed_total{camera="press-line"}'):
            return float(line.split()[-1])
    raise AssertionError("no safetyd_frames_processed_total")


def _processed_rate(d, seconds: float = 3.0) -> float:
    """Frames processed per second over a few seconds (the camera's pace)."""
    start = _processed(d)
    time.sleep(seconds)
    return (_processed(d) - start) / seconds


def test_replay_send_drives_the_tower(tmp_path: Path, server) -> None:
    from conftest import EXAMPLE_CONFIG, FIXTURES

    text = EXAMPLE_CONFIG.read_text().replace('"../', f'"{EXAMPLE_CONFIG.parent}/../')
    config = tmp_path / "safetyd.toml"
    config.write_text(text + plant_toml(server.port).split("[[inputs.modbus]]")[0])
    result = run_safetyd("replay", str(FIXTURES / "walk-in.mp4"), "--config", str(config),
                         "--camera", "press-line", "--send", timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    values = server.written("hr", 10)
    # camera_offline until the first frame, then its levels, and "stopped" at the end.
    assert values[:2] == [4, 1] and 2 in values and 3 in values and values[-1] == 7, values
    assert 1 in server.written("coil", 0)


def test_replay_send_honours_machine_state_arming_or_says_it_does_not(
    tmp_path: Path, server
) -> None:
    """Issue 30: with the press input at 0, `replay --send` still opened danger and drove
    the coil. With --honour-schedule the input is read and the guard stays disarmed;
    without, the replay says loudly that armed_when is not applied."""
    from conftest import EXAMPLE_CONFIG, FIXTURES

    text = EXAMPLE_CONFIG.read_text().replace('"../', f'"{EXAMPLE_CONFIG.parent}/../')
    zones = json.loads((EXAMPLE_CONFIG.parent.parent / "zones" / "press-cell.geojson").read_text())
    for f in zones["features"]:
        f["properties"]["armed_when"] = "press-running"
    (tmp_path / "press.geojson").write_text(json.dumps(zones))
    text = text.replace(f'"{EXAMPLE_CONFIG.parent}/../zones/press-cell.geojson"',
                        f'"{tmp_path / "press.geojson"}"')  # fmt: skip
    config = tmp_path / "safetyd.toml"
    config.write_text(text + plant_toml(server.port) + "disarm_after_s = 0\n")
    server.set("hr", 7, 0)  # the press is stopped
    replay = ("replay", str(FIXTURES / "walk-in.mp4"), "--config", str(config), "--camera",
              "press-line", "--send")  # fmt: skip
    result = run_safetyd(*replay, "--honour-schedule", timeout=300)
    assert result.returncode == 0, result.stderr
    assert "are armed by the machine states read now" in result.stderr
    assert 1 not in server.written("coil", 0)  # no danger on a stopped press
    assert 3 not in server.written("hr", 10)
    result = run_safetyd(*replay, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "machine-state arming (armed_when) is NOT applied" in result.stderr
    assert 1 in server.written("coil", 0)
