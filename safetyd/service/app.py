"""The daemon (``safetyd run``): wiring, signals, the main loop, the watchdog.

One lifecycle: the parts (abc.Part) start in order into an ``ExitStack`` — the
store, the HTTP endpoint (bound first, so a taken port is reported before any
camera opens), alert delivery, the plant I/O, the cameras, MQTT, the scheduler,
the console — and stop in reverse. A start that fails half-way unwinds what it
had started. Each part answers ``stalled(now)``; the main thread feeds systemd's
watchdog only while none is. A reload asks each part, in the order of its start.

Threads: per camera a reader and an inference thread, the alert delivery
worker, APScheduler's workers, the HTTP server; the main thread supervises.
Reload (SIGHUP) validates the whole new configuration first; an invalid one is
refused with the check-config explanation while the old one keeps running
(service/reload.py says what a valid one changes).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import cv2

from .. import extensions
from ..abc import FrameOutput, Part
from ..alerts import messages
from ..alerts.service import AlertService
from ..analytics.figures import shift_starts
from ..assembly.load import LoadedConfig
from ..assembly.load import load as load_config
from ..base.problems import InvalidConfig
from ..mqtt.service import MqttService, link_of
from ..storage.store import open_store
from . import logsetup, report
from .camera import Cameras
from .clipdisk import ClipDisk
from .jobs import Jobs
from .metrics import Metrics, StateCollector
from .parts import JobsPart, OutputPart, PlantPart, ServerPart, stop_delivery
from .posture import PostureBook
from .reload import enabled_settings
from .scheduler import Scheduler
from .sdnotify import Notifier, watchdog_interval
from .startup import StartupError, address, listen_error, start_console
from .status import Status
from .web import Endpoints, WebServer

if TYPE_CHECKING:
    from ..console.server import ConsoleServer

# The journal has named these lines "safetyd.daemon" since v1; operators filter on it.
log = logging.getLogger("safetyd.daemon")
STOP_BUDGET_S = 7.0  # SIGTERM must end within systemd's default 10 s
READY_WAIT_S = 10.0  # how long start waits for every camera's first processed frame


class App:
    def __init__(
        self, config_path: Path, notifier: Notifier | None = None, state_dir: Path | None = None
    ) -> None:
        self.path = Path(config_path)
        self.state_override = state_dir
        self.notifier = notifier or Notifier()
        self.stop_event = threading.Event()
        self._wake = threading.Event()
        self._reload = threading.Event()
        self._stack = ExitStack()
        self._last_stall_log = 0.0
        self.web: WebServer | None = None
        self.console: ConsoleServer | None = None
        self.reload_refused: str | None = None  # until a reload succeeds
        self.reloads = 0  # reloads done (applied or refused), for request_reload
        self._started = False  # every part exists (set at the end of start)
        self.parts: list[Part] = []  # in the order of their start
        self._reload_done = threading.Condition()

    # -- start ---------------------------------------------------------------------

    def start(self) -> None:
        """Start every part, or none: on any failure what was started is stopped."""
        # Handlers first: a reload or stop that arrives while we start (or right after
        # READY=1) must be queued, not kill the process with SIGHUP's default action.
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._signal)
        with ExitStack() as stack:
            self._start_parts(stack)
            self._stack = stack.pop_all()
        self._started = True
        self.cameras.wait_ready(READY_WAIT_S, self.stop_event)
        self.jobs.log_arming(initial=True)
        self.notifier.ready(self.status_line())
        log.info("ready: %s", self.status_line())

    def _start_parts(self, stack: ExitStack) -> None:
        self.loaded = self._load()  # raises InvalidConfig with every problem
        logsetup.use_timezone(ZoneInfo(self.loaded.config.site.timezone))
        for p in self.loaded.warnings:
            log.warning("%s", p)
        c = self.loaded.config
        state = self.loaded.state_dir
        try:
            state.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StartupError(
                f"cannot use the state directory {state}: {exc.strerror or exc}; set "
                "[storage] state_dir, or run as the service (StateDirectory=)"
            ) from None
        self.store = open_store(state / "safetyd.db")  # StorageUnusable: explained, exit 4
        stack.callback(self.store.close)
        self.metrics = Metrics()
        if c.http.enabled:
            try:
                self.web = WebServer(
                    c.http.bind,
                    c.http.port,
                    Endpoints(
                        metrics=self.metrics.render,
                        health=lambda: self.status().health(),
                        status=lambda: self.status().as_json(),
                        page=self.status,
                        picture=self.picture,
                    ),
                )
            except OSError as exc:
                raise StartupError(listen_error(c.http.bind, c.http.port, exc)) from None
            self._add(stack, ServerPart("http", self.web, "http"))
        # The broker connection before alert delivery (the mqtt sink publishes through
        # it); connecting happens in the background and never holds up the start.
        link = link_of(self.loaded) if c.mqtt is not None else None
        self.alerts = AlertService.from_config(self.loaded, self.store, mqtt=link)
        self.alerts.start()
        self._add(stack, self.alerts, stop=lambda: stop_delivery(self.alerts, self.store))
        self.posture = PostureBook(
            self.store, self.metrics, self.alerts, lambda: self.alerts.tz,
            lambda: shift_starts(self.loaded.config.analytics),
        )  # fmt: skip
        self.mqtt: MqttService | None = None
        if link is not None:
            self.mqtt = MqttService(
                lambda: self.loaded, link, self.alerts, lambda: self.cameras.statuses(),
                on_latency=self.metrics.mqtt_state_seconds.observe,
                posture=lambda: self.posture.current(),
            )  # fmt: skip
        # Plant I/O before the cameras (their first frames are shown) and stopped after
        # them, showing its "stopped" state last.
        self.plant = PlantPart(self.loaded, self.metrics, self.healthy, lambda: self.loaded.zones)
        self._add(stack, self.plant)
        self.outputs: list[OutputPart] = []  # safetyd/extensions/, in OUTPUTS' order
        for kind in extensions.OUTPUTS:
            self.outputs.append(OutputPart(kind, self.loaded))
            self._add(stack, self.outputs[-1])
        self.clip_disk = ClipDisk(
            state / "clips", lambda: self.loaded.config.clips, self.store, self.metrics
        )
        self.cameras = Cameras(
            self.store, self.alerts, self.metrics, self.frame_outputs,
            machine=self.plant.allows, stop_budget_s=STOP_BUDGET_S, clip_disk=self.clip_disk,
            posture=self.posture,
        )  # fmt: skip
        for cam in c.cameras:
            if not cam.enabled:
                log.info("camera %s is disabled in the configuration", cam.id)
        self._add(stack, self.cameras)
        self.cameras.start(enabled_settings(self.loaded))
        if self.mqtt is not None:
            self.mqtt.start()
            self._add(stack, self.mqtt)
        self.metrics.add_collector(StateCollector(self.status))
        self.scheduler = Scheduler()
        self.jobs = Jobs(
            lambda: self.loaded, self.store, self.alerts, self.cameras, self.scheduler,
            on_acknowledged=lambda s, via: self.metrics.time_to_acknowledge.labels(via).observe(s),
            plant=lambda: self.plant.current, clip_disk=self.clip_disk,
        )  # fmt: skip
        self.cameras.on_stopped = self.jobs.blind.forget
        self.jobs.schedule()
        self.scheduler.start()
        self._add(stack, JobsPart(self.jobs, self.scheduler))
        if self.web:
            self.web.start()
            log.info("http on %s", address(c.http.bind, self.web.port))
        self.console = self._start_console()
        if self.console is not None:
            self._add(stack, ServerPart("console", self.console, "console"))

    def _add(self, stack: ExitStack, part: Part, stop: Callable[[], object] | None = None) -> None:
        """A started part: stopped in reverse order of its start (``stop``: in place of
        its own), asked on every reload and by the watchdog."""
        self.parts.append(part)
        stack.callback(stop or part.stop)

    def frame_outputs(self) -> list[FrameOutput]:
        """Where each frame's zone levels go, in this order: the plant's stack lights
        first (before any SMS is queued), the broker's live state, then the outputs
        registered in safetyd/extensions/."""
        outputs: list[FrameOutput] = [self.plant.current]
        if self.mqtt is not None:
            outputs.append(self.mqtt)
        return outputs + list(self.outputs)

    def _start_console(self) -> ConsoleServer | None:
        if not self.loaded.config.console.enabled:
            return None
        from ..console.backend import Backend

        backend = Backend(status=self.status, loaded=lambda: self.loaded,
                          picture=self.picture, store=self.store, alerts=self.alerts,
                          frame=self.cameras.frame, reload=self.request_reload)  # fmt: skip
        return start_console(self.loaded, backend)

    def _load(self) -> LoadedConfig:
        return load_config(self.path, state_dir=self.state_override)

    # -- main loop --------------------------------------------------------------------

    def _signal(self, signum: int, _frame) -> None:
        if signum == signal.SIGHUP:
            self._reload.set()
        else:
            self.stop_event.set()
        self._wake.set()

    def run(self) -> int:
        interval = watchdog_interval()
        tick = min(interval, 2.0) if interval else 2.0
        last_status = 0.0
        while not self.stop_event.is_set():
            self._wake.wait(tick)
            self._wake.clear()
            if self.stop_event.is_set():
                break
            if self._reload.is_set():
                self._reload.clear()
                self.reload()
                with self._reload_done:
                    self.reloads += 1
                    self._reload_done.notify_all()
            stalled = self.stalled()
            if stalled:
                if time.monotonic() - self._last_stall_log > 10:
                    self._last_stall_log = time.monotonic()
                    log.error("not feeding the watchdog: %s", "; ".join(stalled))
            elif self.notifier.enabled:
                self.notifier.watchdog()
            if time.monotonic() - last_status >= 5:
                last_status = time.monotonic()
                self.notifier.status(self.status_line())
        self.shutdown()
        return 0

    def healthy(self) -> bool:
        """Every part has started and none is stalled (the plant's heartbeat: it must
        not read a part that does not exist yet, a false Modbus fault at start)."""
        return self._started and not self.stalled()

    def stalled(self) -> list[str]:
        now = time.monotonic()
        return [problem for part in self.parts for problem in part.stalled(now)]

    # -- reload ---------------------------------------------------------------------

    def reload(self) -> bool:
        self.notifier.reloading(time.monotonic_ns() // 1000)
        log.info("reloading %s", self.path)
        try:
            new = self._load()
        except InvalidConfig as exc:
            for p in exc.problems:
                log.error("reload refused: %s", p)
            n = len(exc.errors)
            log.error("reload refused: %d problem(s); the previous configuration keeps running", n)
            self._refused(f"{n} problem(s), the first: {exc.errors[0] if exc.errors else '?'}")
            self.notifier.ready(f"reload refused ({n} problem(s)); " + self.status_line())
            return False
        except Exception as exc:  # load() explains everything it foresees; never lose the guard
            log.exception("reload refused; the previous configuration keeps running")
            self._refused(f"unexpected error {exc.__class__.__name__}")
            self.notifier.ready("reload refused (unexpected error); " + self.status_line())
            return False
        self.reload_refused = None
        for p in new.warnings:
            log.warning("reload: %s", p)
        old, self.loaded = self.loaded, new
        logsetup.use_timezone(ZoneInfo(new.config.site.timezone))
        # Every part in the order of its start: alerts, the plant I/O (a new one shows
        # what the old one knew until the cameras' next frames), the cameras, MQTT, the
        # timed jobs; the servers say which of their keys wait for a restart.
        kept = ["storage.state_dir"] if new.state_dir != old.state_dir else []
        for part in self.parts:
            kept += part.reload(old, new).restart_keys
        if kept:
            log.warning(
                "reload: %s changed: kept as they were until a restart (systemctl restart safetyd)",
                ", ".join(sorted(kept)),
            )
        self.notifier.ready(self.status_line())
        log.info("reloaded: %s", self.status_line())
        return True

    def _refused(self, what: str) -> None:
        """Keep a refused reload visible (health, metrics, page) until one succeeds."""
        when = messages.clock(time.time(), ZoneInfo(self.loaded.config.site.timezone))
        self.reload_refused = (
            f"the files on disk were refused at the reload of {when} ({what}); the previous "
            "configuration keeps running: fix them (safetyd check-config) and reload"
        )

    # -- status -------------------------------------------------------------------------

    def status(self) -> Status:
        return Status(
            site=self.loaded.config.site.name,
            cameras=self.cameras.statuses(),
            delivery=report.delivery(self.alerts),
            storage=self.store.status(),
            stalled=tuple(self.stalled()),
            reload_refused=self.reload_refused,
            plant=tuple(self.plant.health()),
            mqtt=report.mqtt(self.mqtt, self.alerts.tz),
            **report.lifecycle(self.alerts, self.loaded, self.jobs.lifecycle.poll_error),
        )

    def picture(self, camera: str) -> bytes | None:
        image = self.cameras.picture(camera)
        if image is None:
            return None
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
        return data.tobytes() if ok else None

    def request_reload(self, timeout: float = 30.0) -> tuple[bool, str]:
        """The ordinary reload (as SIGHUP), run by the main thread; wait for its outcome."""
        with self._reload_done:
            seen = self.reloads
            self._reload.set()
            self._wake.set()
            if not self._reload_done.wait_for(lambda: self.reloads > seen, timeout):
                return False, f"no reload within {timeout:.0f}s"
            return self.reload_refused is None, self.reload_refused or ""

    def status_line(self) -> str:
        return report.status_line(self.cameras.statuses(), self.alerts)

    # -- stop ---------------------------------------------------------------------------

    def shutdown(self) -> None:
        self.notifier.stopping()
        log.info("stopping")
        self._stack.close()  # the parts, in reverse order of their start
        self.notifier.close()
        log.info("stopped")
