"""Modbus TCP, through pymodbus: a writer per output device, a poller per input.

**Outputs.** The inference thread hands the floor's state to ``OutputDevice.show``
and goes on: that call only stores the state and wakes the device's own thread,
so a slow or dead device can never hold up a frame. The thread writes what
changed at once (the latency from the frame's capture to the server's answer is
measured), writes everything again every ``reassert_s`` (a tower that was power
cycled shows the right state within that time), advances the heartbeat while
the daemon is healthy, and reconnects with backoff when the device is gone. At
stop it writes each output's ``stopped`` value.

**Inputs.** ``InputPoller`` reads one machine state at ``poll_hz``. A zone that
names it in ``armed_when`` is armed unless it has read a stopped value for
``disarm_after_s`` without a break (plant/machine.py) — so also while it cannot
be read, reads out of range or flaps: an unknown machine state must never
disarm a guard (fail-safe), and the daemon alarms about it.

Both keep their health (``DeviceHealth``) for /healthz, /metrics and the alarms.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusException

from ..config.plantio import ModbusInput, ModbusOutput
from . import signals
from .machine import MachineInput
from .signals import FloorState, Signal

log = logging.getLogger("safetyd.plant")
BACKOFF_MAX_S = 10.0
STOP_WRITE_BUDGET_S = 1.0


@dataclass(frozen=True)
class DeviceHealth:
    id: str
    kind: str  # output | input
    up: bool
    error: str | None
    down_since: float | None  # wall time it became unreachable
    value: int | None = None  # an input's last reading


def signals_of(settings: ModbusOutput) -> tuple[Signal, ...]:
    return tuple(
        Signal(
            kind="coil" if m.coil is not None else "register",
            address=m.coil if m.coil is not None else int(m.register or 0),
            zones=tuple(m.zones),
            cameras=tuple(m.cameras),
            system=m.system,
            state=m.state,
            values=dict(m.values or {}),
            stopped=m.stopped,
        )
        for m in settings.map
    )


def _client(host: str, port: int, timeout: float) -> ModbusTcpClient:
    # No retries or reconnects of its own: our loop decides when to try again, so a
    # dead device costs one timeout per attempt, never a burst of them.
    return ModbusTcpClient(host, port=port, timeout=timeout, retries=0, reconnect_delay=0)


def _check(result, what: str):  # noqa: ANN001, ANN202 - pymodbus' result types
    if result is None or result.isError():
        raise ModbusException(f"{what}: the device answered with an error ({result})")
    return result


class _Link:
    """A connection with the health bookkeeping and backoff both kinds share."""

    def __init__(self, device_id: str, kind: str, host: str, port: int, timeout: float) -> None:
        self.id, self.kind = device_id, kind
        self.host, self.port, self.timeout = host, port, timeout
        self.client: ModbusTcpClient | None = None
        self.error: str | None = "not connected yet"
        self.down_since: float | None = time.time()
        self.backoff = 0.0
        self.retry_at = 0.0
        self._said_down = False

    @property
    def up(self) -> bool:
        return self.error is None

    @property
    def backing_off(self) -> bool:
        """Down, and not yet time to try again."""
        return self.client is None and time.monotonic() < self.retry_at

    def connected(self) -> ModbusTcpClient | None:
        """The client, connecting if needed (None while backing off or refused)."""
        if self.client is not None:
            return self.client
        if time.monotonic() < self.retry_at:
            return None
        client = _client(self.host, self.port, self.timeout)
        if not client.connect():
            client.close()
            self.failed(f"cannot connect to {self.host}:{self.port}")
            return None
        self.client = client
        return client

    def failed(self, error: str) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.close()
            self.client = None
        if self.error is None or not self._said_down:
            log.error("modbus %s %s unreachable: %s; retrying with backoff", self.kind, self.id,
                      error)  # fmt: skip
            self._said_down = True
        if self.error is None:
            self.down_since = time.time()
        self.error = error
        self.backoff = min(BACKOFF_MAX_S, max(0.2, self.backoff * 2))
        self.retry_at = time.monotonic() + self.backoff

    def succeeded(self) -> None:
        if self.error is not None and self._said_down:
            log.info("modbus %s %s reachable again", self.kind, self.id)
        self.error, self.down_since, self.backoff, self._said_down = None, None, 0.0, False

    def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.close()
            self.client = None


class OutputDevice:
    def __init__(
        self,
        settings: ModbusOutput,
        healthy: Callable[[], bool] = lambda: True,
        on_written: Callable[[str, float], object] | None = None,
    ) -> None:
        """``healthy``: whether the heartbeat may advance; ``on_written(device,
        seconds)``: capture-to-acknowledged latency of a change."""
        self.settings = settings
        self.id = settings.id
        self.signals = signals_of(settings)
        self.healthy = healthy
        self.on_written = on_written
        self._link = _Link(settings.id, "output", settings.host, settings.port,
                           settings.timeout_s)  # fmt: skip
        self._lock = threading.Lock()
        self._floor = FloorState()
        self._captured: float | None = None  # monotonic capture time of the newest change
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._written: dict[tuple[str, int], int] = {}
        self._reassert_at = 0.0
        self._beat_at = 0.0
        self.beats = 0
        self.heartbeat = time.monotonic()

    # -- the floor's state, from any thread (never blocks) ---------------------------

    def show(self, floor: FloorState, captured_mono: float | None = None) -> None:
        with self._lock:
            self._floor = floor
            if captured_mono is not None:
                self._captured = captured_mono
        self._wake.set()

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> OutputDevice:
        self._thread = threading.Thread(target=self._run, name=f"modbus-{self.id}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop, and show ``stopped`` on every output (best effort, bounded)."""
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout)
        self._write_stopped()
        self._link.close()

    @property
    def alive(self) -> bool:
        return bool(self._thread and self._thread.is_alive())

    def health(self) -> DeviceHealth:
        link = self._link
        return DeviceHealth(self.id, "output", link.up, link.error, link.down_since)

    # -- the device's thread ---------------------------------------------------------

    def _run(self) -> None:
        s = self.settings
        while not self._stop.is_set():
            self.heartbeat = time.monotonic()
            now = time.monotonic()
            if self._link.backing_off:
                wait = self._link.retry_at - now  # nothing can be written meanwhile
            else:
                waits = [self._reassert_at - now]
                if s.heartbeat is not None:
                    waits.append(self._beat_at - now)
                wait = min(waits)
            self._wake.wait(max(0.0, wait))
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self._cycle(time.monotonic())
            except Exception as exc:  # a device fault, or pymodbus raising anything
                self._link.failed(f"{exc.__class__.__name__}: {exc}")
                self._reassert_at = 0.0  # back: write everything, it may have restarted

    def _cycle(self, now: float) -> None:
        client = self._link.connected()
        if client is None:
            return
        with self._lock:
            floor, captured = self._floor, self._captured
            self._captured = None
        want = signals.desired(self.signals, floor)
        full = now >= self._reassert_at
        changed = {k: v for k, v in want.items() if full or self._written.get(k) != v}
        self._write(client, changed)
        if changed and captured is not None and self.on_written is not None:
            self.on_written(self.id, time.monotonic() - captured)
        if full:
            self._reassert_at = now + self.settings.reassert_s
        hb = self.settings.heartbeat
        if hb is not None and now >= self._beat_at:
            self._beat_at = now + hb.every_s
            if self.healthy():
                self.beats += 1
                unit = self.settings.unit
                if hb.coil is not None:
                    result = client.write_coil(hb.coil, self.beats % 2 == 1, device_id=unit)
                else:
                    result = client.write_register(
                        int(hb.register or 0), self.beats % 65536, device_id=unit
                    )
                _check(result, "heartbeat")
        self._link.succeeded()

    def _write(self, client: ModbusTcpClient, values: dict[tuple[str, int], int]) -> None:
        unit = self.settings.unit
        # Coils off before coils on: a tower never shows two states' lamps at once
        # when it moves from one to the other.
        for (kind, address), value in sorted(values.items(), key=lambda kv: kv[1]):
            if kind == "coil":
                _check(client.write_coil(address, bool(value), device_id=unit), f"coil {address}")
            else:
                _check(client.write_register(address, value, device_id=unit),
                       f"register {address}")  # fmt: skip
            self._written[(kind, address)] = value

    def write_now(self, values: dict[tuple[str, int], int]) -> str | None:
        """Write these values from the calling thread (``safetyd io test``); returns
        the error, or None when the device acknowledged every write."""
        self._link.retry_at = 0.0
        client = self._link.connected()
        if client is None:
            return self._link.error
        try:
            self._write(client, values)
        except Exception as exc:
            self._link.failed(f"{exc.__class__.__name__}: {exc}")
            return self._link.error
        self._link.succeeded()
        return None

    def close(self) -> None:
        self._link.close()

    def _write_stopped(self) -> None:
        link = self._link
        if link.client is None:
            link.retry_at = 0.0
        client = link.connected()
        if client is None:
            log.warning("modbus output %s: cannot show 'stopped' (%s)", self.id, link.error)
            return
        try:
            self._write(client, signals.stopped(self.signals))
        except Exception as exc:
            log.warning("modbus output %s: cannot show 'stopped' (%s)", self.id, exc)


class InputPoller:
    def __init__(self, settings: ModbusInput) -> None:
        self.settings = settings
        self.id = settings.id
        self._link = _Link(settings.id, "input", settings.host, settings.port, settings.timeout_s)
        self.value: int | None = None
        self.machine = MachineInput(
            settings.equals,
            settings.stopped_values,
            settings.disarm_after_s,
            settings.flapping_changes,
        )
        self._allows = True  # the machine's verdict at the last reading
        self._fault_since: float | None = None  # wall time its readings became untrusted
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.heartbeat = time.monotonic()
        self._listeners: list[Callable[[str, bool], object]] = []

    def on_change(self, listener: Callable[[str, bool], object]) -> None:
        """``listener(input_id, allows)`` when what the input says about arming changes."""
        self._listeners.append(listener)

    @property
    def allows(self) -> bool:
        """Whether zones naming this input may be armed: unless it has read stopped
        long enough without a break (plant/machine.py); also while it cannot be read,
        reads out of range or flaps (fail-safe: an unknown machine state keeps them
        armed)."""
        return not self._link.up or self._allows

    def health(self) -> DeviceHealth:
        link = self._link
        if not link.up:
            return DeviceHealth(self.id, "input", False, link.error, link.down_since, self.value)
        fault = self.machine.fault
        return DeviceHealth(self.id, "input", fault is None, fault, self._fault_since, self.value)

    def start(self) -> InputPoller:
        self._thread = threading.Thread(target=self._run, name=f"modbus-in-{self.id}",
                                        daemon=True)  # fmt: skip
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)
        self._link.close()

    @property
    def alive(self) -> bool:
        return bool(self._thread and self._thread.is_alive())

    def close(self) -> None:
        self._link.close()

    def read_once(self) -> int:
        """One reading (raises when the device cannot be read)."""
        s = self.settings
        client = self._link.connected()
        if client is None:
            raise ModbusException(self._link.error or "not connected")
        kind, address, unit = s.kind, s.address, s.unit
        if kind == "discrete_input":
            return int(_check(client.read_discrete_inputs(address, count=1, device_id=unit),
                              kind).bits[0])  # fmt: skip
        if kind == "coil":
            return int(_check(client.read_coils(address, count=1, device_id=unit), kind).bits[0])
        if kind == "register":
            result = client.read_holding_registers(address, count=1, device_id=unit)
        else:
            result = client.read_input_registers(address, count=1, device_id=unit)
        return int(_check(result, kind).registers[0])

    def _run(self) -> None:
        period = 1.0 / self.settings.poll_hz
        while not self._stop.is_set():
            self.heartbeat = time.monotonic()
            before = self.allows
            if not self._link.backing_off:
                value = None
                try:
                    value = self.read_once()
                    self._link.succeeded()
                except Exception as exc:
                    self._link.failed(f"{exc.__class__.__name__}: {exc}")
                self.value = value if value is not None else self.value
                now = time.monotonic()
                self.machine.read(value, now)
                self._allows = self.machine.allows(now)
                self._said_fault()
            if self.allows != before:
                for listener in self._listeners:
                    listener(self.id, self.allows)
            self._stop.wait(period)

    def _said_fault(self) -> None:
        """One line when its readings stop being trusted, one when they are again."""
        fault = self.machine.fault
        if fault is not None and self._fault_since is None:
            self._fault_since = time.time()
            log.error("modbus input %s %s: its zones stay armed (fail-safe)", self.id, fault)
        elif fault is None and self._fault_since is not None:
            self._fault_since = None
            log.info("modbus input %s reads a trusted machine state again", self.id)


def stalled(parts: Sequence[OutputDevice | InputPoller], now: float) -> list[str]:
    """Device threads that ended or stopped coming round (the watchdog's view)."""
    out = []
    for p in parts:
        if not p.alive:
            out.append(f"modbus {p.id} thread ended")
        elif now - p.heartbeat > 30.0:
            out.append(f"modbus {p.id} thread silent for {now - p.heartbeat:.0f}s")
    return out
