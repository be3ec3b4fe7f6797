"""The daemon's parts that are not a package's service of their own: the two HTTP
servers, the plant I/O (a new Plant on a reload that changes it), the outputs
registered in safetyd/extensions/, and the timed jobs. Each implements abc.Part;
service/app.py holds them in a list.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

from pydantic import BaseModel

from ..abc import Reloaded, RunningOutput, ZoneView
from ..alerts import messages
from ..alerts.service import AlertService
from ..assembly.changes import changed_keys
from ..assembly.load import LoadedConfig
from ..extensions import OutputKind
from ..plant.modbus import DeviceHealth
from ..plant.service import Plant
from ..storage.store import Store
from ..zones.model import Zone
from .jobs import Jobs
from .metrics import Metrics
from .scheduler import Scheduler

log = logging.getLogger("safetyd.daemon")


class _Server(Protocol):
    @property
    def alive(self) -> bool: ...

    def stop(self) -> None: ...


class ServerPart:
    """An HTTP server made once at start: its ``[section]`` is kept until a restart,
    and a reload names each of its keys that changed."""

    def __init__(self, name: str, server: _Server, section: str) -> None:
        self.name = name
        self.server = server
        self.section = section

    def stop(self) -> None:
        self.server.stop()

    def stalled(self, now: float) -> list[str]:
        return [] if self.server.alive else [f"{self.name} server ended"]

    def reload(self, old: LoadedConfig, new: LoadedConfig) -> Reloaded:
        keys = changed_keys(
            self.section, getattr(old.config, self.section), getattr(new.config, self.section)
        )
        return Reloaded("unchanged", tuple(keys))


class PlantPart:
    """The plant I/O: its devices are made from the configuration, so a reload that
    changes the outputs, the inputs or the zones starts a new Plant, which shows what
    the old one knew until the cameras' next frames (no flash of camera_offline).
    Also the FrameOutput the cameras are handed and the machine states they ask.
    ``healthy``: what its heartbeat shows; ``zones``: the running configuration's
    zones (an input's change names the zones it arms)."""

    name = "plant"

    def __init__(
        self,
        loaded: LoadedConfig,
        metrics: Metrics,
        healthy: Callable[[], bool],
        zones: Callable[[], Mapping[str, Sequence[Zone]]],
    ) -> None:
        self.metrics = metrics
        self._healthy = healthy
        self._zones = zones
        self.current = self._make(loaded, None)

    def _make(self, loaded: LoadedConfig, carry_over: Plant | None) -> Plant:
        plant = Plant(
            loaded.config,
            loaded.zones,
            healthy=self._healthy,
            on_written=lambda device, s: self.metrics.plant_output_seconds.labels(device).observe(
                s
            ),
            on_input=self._input_changed,
        )
        if carry_over is not None:
            plant.carry_over(carry_over)
        for device in plant.outputs:
            self.metrics.plant_output_seconds.labels(device.id)  # the series exists at once
        if not plant.empty:
            log.info(
                "plant I/O: %d modbus output device(s), %d input(s)",
                len(plant.outputs),
                len(plant.inputs),
            )
        return plant.start()

    def _input_changed(self, input_id: str, allows: bool) -> None:
        zones = [
            f"{cam}/{z.id}" for cam, zs in self._zones().items() for z in zs
            if z.armed_when == input_id
        ]  # fmt: skip
        log.info(
            "machine input %s: zones %s %s",
            input_id,
            ", ".join(zones) or "(none)",
            "armed (within their schedule)" if allows else "disarmed",
        )

    def show_frame(self, view: ZoneView) -> None:
        self.current.show_frame(view)

    def allows(self, input_id: str) -> bool:
        return self.current.allows(input_id)

    def health(self) -> Iterable[DeviceHealth]:
        return self.current.health()

    def stop(self) -> None:
        self.current.stop()

    def stalled(self, now: float) -> list[str]:
        return self.current.stalled(now)

    def reload(self, old: LoadedConfig, new: LoadedConfig) -> Reloaded:
        before = (old.config.outputs, old.config.inputs, old.zones)
        if (new.config.outputs, new.config.inputs, new.zones) == before:
            return Reloaded("unchanged")
        previous = self.current
        previous.stop()
        self.current = self._make(new, previous)
        log.info("plant I/O restarted with the new configuration")
        return Reloaded("restarted")


class JobsPart:
    """The timed work (APScheduler): scheduled again from a reloaded configuration."""

    name = "scheduler"

    def __init__(self, jobs: Jobs, scheduler: Scheduler) -> None:
        self.jobs = jobs
        self.scheduler = scheduler

    def stop(self) -> None:
        self.scheduler.stop()

    def stalled(self, now: float) -> list[str]:
        return self.scheduler.stalled(now)

    def reload(self, old: LoadedConfig, new: LoadedConfig) -> Reloaded:
        self.jobs.schedule()
        self.jobs.log_arming()
        return Reloaded("applied")


class OutputPart:
    """An output registered in safetyd/extensions/: running while its table is in the
    configuration. A reload that changes, adds or removes the table stops the running
    one and starts one from the new settings; one that cannot start is reported by
    ``stalled`` (and logged) until a reload or restart starts it."""

    def __init__(self, kind: OutputKind, loaded: LoadedConfig) -> None:
        self.kind = kind
        self.name = kind.section
        self.settings: BaseModel | None = None
        self.current: RunningOutput | None = None
        self.error: str | None = None
        self._start(loaded.sections.get(kind.section))

    def _start(self, settings: BaseModel | None) -> None:
        self.settings, self.error = settings, None
        if settings is None:
            return
        try:
            self.current = self.kind.start(settings)
        except Exception as exc:  # its own fault must not take the cameras down
            self.error = f"{exc.__class__.__name__}: {exc}"
            log.error("output [%s] cannot start: %s", self.name, self.error)

    def show_frame(self, view: ZoneView) -> None:
        # Read once: a reload may swap it meanwhile (the old one may still be shown
        # this frame while it stops, which an output takes in its stride).
        current = self.current
        if current is not None:
            current.show_frame(view)

    def stop(self) -> None:
        current, self.current = self.current, None
        if current is not None:
            current.stop()

    def stalled(self, now: float) -> list[str]:
        if self.error is not None:
            return [f"output [{self.name}] cannot start: {self.error}"]
        current = self.current
        return [f"output [{self.name}]: {p}" for p in current.stalled(now)] if current else []

    def reload(self, old: LoadedConfig, new: LoadedConfig) -> Reloaded:
        settings = new.sections.get(self.kind.section)
        if settings == self.settings and self.error is None:
            return Reloaded("unchanged")
        self.stop()
        self._start(settings)
        if settings is not None:
            log.info("output [%s] restarted with the new configuration", self.name)
        return Reloaded("restarted")


def stop_delivery(alerts: AlertService, store: Store) -> None:
    """Stop delivery, then say what happens to what is not delivered yet, and
    promise nothing more."""
    lost = store.status().lost
    if lost:
        # The database file is gone: what is pending in it will not be there after
        # a restart. Deliver what can be delivered now.
        alerts.drain(2.0)
    alerts.stop(timeout=2.0)
    for alert in alerts.dispatcher.in_memory():
        log.error(
            "alert LOST: held in memory (the database would not take it) and not "
            "delivered before stopping: via %s to %s: %s",
            alert.sink,
            messages.mask_number(alert.recipient),
            alert.body,
        )
    try:
        pending = alerts.outbox.depth()
    except Exception as exc:
        log.error("cannot read the outbox at stop (%s): pending alerts are unknown", exc)
        return
    if pending and lost:
        for row in alerts.outbox.rows(status="pending"):
            log.error(
                "alert LOST: pending in %s, which was deleted while running, and not "
                "delivered before stopping: via %s to %s: %s",
                store.path,
                row["sink"],
                messages.mask_number(row["recipient"]),
                row["body"],
            )
    elif pending:
        log.warning("%d alert(s) still pending; they are delivered after the next start", pending)
