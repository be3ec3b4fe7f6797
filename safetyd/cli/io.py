"""``safetyd io test``: drive every Modbus output through its states and read every
input, printing what was written and seen, so an installer can watch the tower
change colour and the PLC bits arrive before trusting them.

It talks to the devices directly (the daemon need not run; if it does, its own
writes will put the outputs back within ``reassert_s``)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..assembly.load import load
from .common import EXIT_INVALID, EXIT_OK

STEP_S = 1.0  # how long each state is shown


def cmd_io_test(args: argparse.Namespace) -> int:
    from ..plant import signals
    from ..plant.modbus import InputPoller, OutputDevice

    loaded = load(args.config)  # InvalidConfig is explained by main()
    c = loaded.config
    if not c.outputs.modbus and not c.inputs.modbus:
        print(f"{args.config}: no [[outputs.modbus]] or [[inputs.modbus]] configured",
              file=sys.stderr)  # fmt: skip
        return EXIT_INVALID
    failed = 0
    zone_cameras = {z.id: cam for cam, zs in loaded.zones.items() for z in zs}
    for settings in c.outputs.modbus:
        device = OutputDevice(settings)
        print(f"output {settings.id} ({settings.host}:{settings.port} unit {settings.unit}):")
        for state in signals.STATES:
            floor = _floor_showing(state, device.signals, zone_cameras)
            want = signals.desired(device.signals, floor)
            error = device.write_now(want)
            shown = ", ".join(f"{k} {a}={v}" for (k, a), v in sorted(want.items()))
            print(f"  {state:15} {shown}  {'OK' if error is None else 'FAILED: ' + error}")
            failed += error is not None
            time.sleep(args.step_s)
        stopped = signals.stopped(device.signals)
        error = device.write_now(stopped)
        shown = ", ".join(f"{k} {a}={v}" for (k, a), v in sorted(stopped.items()))
        print(f"  {'stopped':15} {shown}  {'OK' if error is None else 'FAILED: ' + error}")
        failed += error is not None
        device.close()
    for point in c.inputs.modbus:
        poller = InputPoller(point)
        where = f"{point.kind} {point.address}"
        try:
            value = poller.read_once()
        except Exception as exc:
            print(f"input {point.id} ({point.host}:{point.port} {where}): FAILED: "
                  f"{exc}; zones armed by it would stay armed (fail-safe)")  # fmt: skip
            failed += 1
        else:
            arms = "arms its zones" if value == point.equals else "disarms its zones"
            print(f"input {point.id} ({point.host}:{point.port} {where}): {value} "
                  f"(equals {point.equals}: {arms})")  # fmt: skip
        poller.close()
    print(f"{failed} failure(s)", file=sys.stderr)
    return EXIT_INVALID if failed else EXIT_OK


def _floor_showing(state: str, sigs, zone_cameras):  # noqa: ANN001, ANN202
    """A floor on which every source of these signals is in ``state``."""
    from ..plant.signals import FloorState

    zones = {z for s in sigs for z in s.zones}
    cameras = {c for s in sigs for c in s.cameras}
    if state == "camera_offline":
        offline = cameras | {zone_cameras[z] for z in zones if z in zone_cameras}
        return FloorState({}, frozenset(offline), zone_cameras)
    if state == "system_fault":
        return FloorState({}, frozenset(), zone_cameras, system_fault=True)
    level = state if state in ("warning", "danger") else "clear"
    return FloorState(dict.fromkeys(zones, level), frozenset(), zone_cameras)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "io",
        help="plant I/O (Modbus): test outputs and inputs",
        description="Plant I/O over Modbus TCP ([[outputs.modbus]], [[inputs.modbus]]).",
    )
    io_sub = p.add_subparsers(dest="io_command", required=True, metavar="COMMAND")
    t = io_sub.add_parser(
        "test",
        help="drive each output through its states, read each input",
        description=(
            "Write each [[outputs.modbus]] device's mapped coils and registers for every "
            "state in turn (clear, warning, camera_offline, system_fault, danger, then "
            "stopped), and read each [[inputs.modbus]] machine state. Exit 0 when every "
            "device answered, 1 otherwise."
        ),
    )
    t.add_argument("--config", type=Path, required=True, help="safetyd.toml")
    t.add_argument("--step-s", type=float, default=STEP_S, help="seconds each state is shown")
    t.set_defaults(func=cmd_io_test)
