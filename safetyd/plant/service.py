"""The plant I/O, wired: the floor's state (zones from each camera's frames, cameras
offline, system faults) to every output device, machine states from every input,
their health, and the alarms when a device stays unreachable.

The floor's state is kept here, whole: a camera's frame updates its zones and
every device is shown the merged picture at once (``show`` never blocks).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping

from ..abc import ZoneView
from ..base.alerts import AlertKind, SystemAlert
from ..config.model import Config
from ..config.plantio import ModbusInput, ModbusOutput
from ..zones.model import Zone
from .modbus import DeviceHealth, InputPoller, OutputDevice, stalled
from .signals import FloorState


class Plant:
    def __init__(
        self,
        config: Config,
        zones: Mapping[str, Iterable[Zone]],
        healthy: Callable[[], bool] = lambda: True,
        on_written: Callable[[str, float], object] | None = None,
        on_input: Callable[[str, bool], object] | None = None,
    ) -> None:
        self.outputs = [OutputDevice(o, healthy, on_written) for o in config.outputs.modbus]
        self.inputs = {i.id: InputPoller(i) for i in config.inputs.modbus}
        for poller in self.inputs.values():
            if on_input is not None:
                poller.on_change(on_input)
        self._lock = threading.Lock()
        self._zones: dict[str, str] = {}
        self._zone_cameras = {z.id: cam for cam, zs in zones.items() for z in zs}
        self._offline: frozenset[str] = frozenset()
        # A camera's zones are unknown, not clear, until a frame of it has been assessed:
        # until then it shows camera_offline (a plant restarted by a reload inherits
        # what the old one had seen: ``carry_over``).
        self._seen: set[str] = set()
        self._cameras = frozenset(self._zone_cameras.values()) | {
            c for o in self.outputs for sig in o.signals for c in sig.cameras
        }
        self._system_fault = False
        self._alarmed: set[str] = set()  # devices whose outage was alarmed
        self._framed: dict[str, dict[str, str]] = {}  # camera → levels its last frame showed

    @property
    def empty(self) -> bool:
        return not self.outputs and not self.inputs

    def parts(self) -> list[OutputDevice | InputPoller]:
        return [*self.outputs, *self.inputs.values()]

    def start(self) -> Plant:
        # The floor first (cameras not yet seen: offline), so no device writes the
        # default all-clear on its first cycle.
        self._push(None)
        for part in self.parts():
            part.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        for part in reversed(self.parts()):
            part.stop(timeout)

    # -- the floor ---------------------------------------------------------------------

    def show_zones(
        self, camera: str, levels: Mapping[str, str], captured_mono: float | None
    ) -> None:
        """A camera's zones now (zone id -> clear | warning | danger), from its frame.
        The frame also proves the camera sees: shown at once, not at the next health
        check (which alone says when a camera stops seeing)."""
        with self._lock:
            for zone, cam in self._zone_cameras.items():
                if cam == camera:
                    self._zones[zone] = levels.get(zone, "clear")
            self._seen.add(camera)
            self._offline = self._offline - {camera}
        self._push(captured_mono)

    def show_frame(self, view: ZoneView) -> None:
        """FrameOutput: a camera's frame, handed on when its levels changed or when the
        outputs still show it offline (its first frame, or back after an outage: shown
        at this frame, not at the next health check). Never waits for a device."""
        if not self.outputs:
            return
        levels = {zone: level for zone, (level, _) in view.open.items()}
        if levels != self._framed.get(view.camera) or self.wants_frame(view.camera):
            self._framed[view.camera] = levels
            self.show_zones(view.camera, levels, view.captured_mono)

    def wants_frame(self, camera: str) -> bool:
        """Whether this camera's next frame changes what the outputs show even when its
        levels did not change: it has not been seen yet, or is shown offline."""
        return camera not in self._seen or camera in self._offline

    def carry_over(self, old: Plant) -> None:
        """A plant restarted by a reload: what the old one knew of the floor, so the
        outputs do not flash camera_offline while the cameras' next frames come."""
        with old._lock:
            seen, offline, zones = set(old._seen), old._offline, dict(old._zones)
            fault = old._system_fault
        with self._lock:
            self._seen, self._offline, self._system_fault = seen, offline, fault
            self._zones.update({z: v for z, v in zones.items() if z in self._zone_cameras})

    def show_health(self, cameras_offline: Iterable[str], system_fault: bool) -> None:
        offline = frozenset(cameras_offline)
        with self._lock:
            if offline == self._offline and system_fault == self._system_fault:
                return
            self._offline, self._system_fault = offline, system_fault
        self._push(None)

    def floor(self) -> FloorState:
        with self._lock:
            unseen = self._cameras - self._seen
            return FloorState(dict(self._zones), self._offline | unseen,
                              dict(self._zone_cameras), self._system_fault)  # fmt: skip

    def _push(self, captured_mono: float | None) -> None:
        floor = self.floor()
        for device in self.outputs:
            device.show(floor, captured_mono)

    # -- machine states ----------------------------------------------------------------

    def allows(self, input_id: str) -> bool:
        """Whether zones naming this input may be armed (unknown input or unreadable:
        yes, fail-safe)."""
        poller = self.inputs.get(input_id)
        return True if poller is None else poller.allows

    # -- health --------------------------------------------------------------------------

    def health(self) -> list[DeviceHealth]:
        return [p.health() for p in self.parts()]

    def stalled(self, now: float) -> list[str]:
        return stalled(self.parts(), now)

    def alarms(self, now: float) -> list[SystemAlert]:
        """One alarm per device that stays unreachable past its ``alarm_after_s``, and
        one when it is back."""
        out = []
        settings: dict[str, ModbusOutput | ModbusInput] = {o.id: o.settings for o in self.outputs}
        settings.update({i.id: i.settings for i in self.inputs.values()})
        for h in self.health():
            after = settings[h.id].alarm_after_s
            if not h.up and h.down_since is not None and now - h.down_since >= after:
                if h.id not in self._alarmed:
                    self._alarmed.add(h.id)
                    what = (
                        "its outputs show nothing new"
                        if h.kind == "output"
                        else "zones armed by it stay armed (fail-safe)"
                    )
                    out.append(SystemAlert(
                        AlertKind.PLANT_IO_FAILED, f"plant_io_failed:{h.id}:{now:.0f}", "danger",
                        now, facts={"device": h.id, "kind": h.kind, "error": h.error or "?",
                                    "down_s": round(now - h.down_since), "effect": what},
                    ))  # fmt: skip
            elif h.up and h.id in self._alarmed:
                self._alarmed.discard(h.id)
                out.append(SystemAlert(
                    AlertKind.PLANT_IO_RESTORED, f"plant_io_restored:{h.id}:{now:.0f}", "info",
                    now, facts={"device": h.id, "kind": h.kind},
                ))  # fmt: skip
        return out
