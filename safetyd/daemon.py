"""``safetyd run``: the service. Wiring, signals, reload, watchdog, health.

Threads: per camera a reader and an inference thread (CameraRunner), the
alert delivery worker, APScheduler's worker, the HTTP server; the main thread
supervises. One stop event ends them all; shutdown joins them in order with a
bounded wait, and pending alerts simply stay in the outbox for the next start.

Reload (SIGHUP) validates the whole new configuration first; an invalid one is
refused with the check-config explanation while the old one keeps running.
A valid one swaps zones into unchanged cameras between two frames and
restarts only cameras whose own settings changed: nothing is disarmed in
between.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from pathlib import Path
from typing import Any

import cv2

from . import config as cfg
from . import housekeeping
from .alerts import messages
from .alerts.service import AlertService
from .arming import arming_changes
from .config import Camera, LoadedConfig
from .metrics import Metrics, StateCollector
from .problems import InvalidConfig
from .runner import CameraRunner, CameraState, setup_for
from .scheduler import Scheduler
from .sdnotify import Notifier, watchdog_interval
from .store import Store
from .web import Endpoints, WebServer

log = logging.getLogger(__name__)
STALL_S = 10.0  # a pipeline thread silent this long is wedged: stop feeding the watchdog
STOP_BUDGET_S = 7.0  # SIGTERM must end within systemd's default 10 s
STORAGE_PROBE_S = 5.0  # a test write this often finds a full disk while nothing happens


def _runner_key(loaded: LoadedConfig, cam: Camera) -> tuple:
    """What a running camera cannot change without a restart (zones can)."""
    c = loaded.config
    own = cam.model_dump(exclude={"zones", "calibration"})
    return (
        repr(own),
        repr(c.pose),
        repr(c.tracking),
        repr(c.motion),
        repr(c.hazards),
        repr(c.privacy),
        c.storage.snapshots,
        c.site.timezone,
        str(loaded.state_dir),
    )


class StartupError(RuntimeError):
    """Something outside the configuration file stops the start (explained, no traceback)."""


class Daemon:
    def __init__(
        self, config_path: Path, notifier: Notifier | None = None, state_dir: Path | None = None
    ) -> None:
        self.path = Path(config_path)
        self.state_override = state_dir
        self.notifier = notifier or Notifier()
        self.stop_event = threading.Event()
        self._wake = threading.Event()
        self._reload = threading.Event()
        self.runners: dict[str, CameraRunner] = {}
        self._offline: dict[str, float] = {}  # camera → wall time it went blind
        self._armed: dict[tuple[str, str], bool] = {}
        self._storage_alarm: float | None = None  # wall time storage began failing
        self._last_stall_log = 0.0
        self.web: WebServer | None = None

    # -- start ---------------------------------------------------------------------

    def start(self) -> None:
        # Handlers first: a reload or stop that arrives while we start (or right after
        # READY=1) must be queued, not kill the process with SIGHUP's default action.
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._signal)
        self.loaded = self._load()  # raises InvalidConfig with every problem
        for p in self.loaded.warnings:
            log.warning("%s", p)
        c = self.loaded.config
        state = self.loaded.state_dir
        try:
            state.mkdir(parents=True, exist_ok=True)
            self.store = Store(state / "safetyd.db")
        except OSError as exc:
            raise StartupError(
                f"cannot use the state directory {state}: {exc.strerror or exc}; set "
                "[storage] state_dir, or run as the service (StateDirectory=)"
            ) from None
        self.metrics = Metrics()
        if c.http.enabled:  # bind first: a taken port is reported before cameras open
            try:
                self.web = WebServer(
                    c.http.bind,
                    c.http.port,
                    Endpoints(
                        metrics=self.metrics.render,
                        health=self.health,
                        status=self.snapshot,
                        picture=self.picture,
                    ),
                )
            except OSError as exc:
                raise StartupError(
                    f"cannot listen on {c.http.bind}:{c.http.port}: {exc.strerror or exc}; "
                    "change [http] port or stop what uses it"
                ) from None
        self.alerts = AlertService.from_config(self.loaded, self.store)
        self.alerts.start()
        for cam in c.cameras:
            if cam.enabled:
                self.runners[cam.id] = CameraRunner(
                    self.loaded, cam, self.store, self.alerts, self.metrics
                ).start()
            else:
                log.info("camera %s is disabled in the configuration", cam.id)
        self.metrics.add_collector(StateCollector(self.snapshot))
        self.scheduler = Scheduler()
        self._schedule()
        self.scheduler.start()
        if self.web:
            self.web.start()
            log.info("http on %s:%d", c.http.bind, self.web.port)
        self._wait_for_cameras(timeout=10.0)
        self._log_arming(initial=True)
        self.notifier.ready(self.status_line())
        log.info("ready: %s", self.status_line())

    def _load(self) -> LoadedConfig:
        loaded = cfg.load(self.path)
        if self.state_override is None:
            return loaded
        c = loaded.config
        storage = c.storage.model_copy(update={"state_dir": str(self.state_override.resolve())})
        return LoadedConfig(
            loaded.path, c.model_copy(update={"storage": storage}), loaded.zones, loaded.warnings
        )

    def _wait_for_cameras(self, timeout: float) -> None:
        """Ready means watching: every camera opened and its first frame went through
        the model. A camera that is down does not hold up the others (it alarms)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stop_event.is_set():
            if all(r.state().processed_age_s is not None for r in self.runners.values()):
                return
            time.sleep(0.1)
        for r in self.runners.values():
            if r.state().processed_age_s is None:
                log.error(
                    "camera %s delivered no frame within %.0fs: %s",
                    r.id,
                    timeout,
                    r.source.status().error or "no frames",
                )

    def _schedule(self) -> None:
        c = self.loaded.config
        s = self.scheduler
        s.every("camera-health", 1.0, self.check_cameras)
        s.every("storage-health", STORAGE_PROBE_S, self.check_storage)
        s.every("outbox-sweep", 30.0, self.sweep_outbox)
        s.cron("zone-arming", self._log_arming, c.site.timezone, second=0)
        s.cron("retention", self.retention, c.site.timezone, hour=3, minute=17)
        if c.digest.enabled and c.digest.recipients:
            hour, minute = (int(x) for x in c.digest.time.split(":"))
            s.cron("digest", self.digest, c.site.timezone, hour=hour, minute=minute)
        else:
            s.remove("digest")

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

    def stalled(self) -> list[str]:
        now = time.monotonic()
        problems = []
        for r in self.runners.values():
            if now - r.heartbeat > STALL_S:
                problems.append(
                    f"camera {r.id} inference thread silent for {now - r.heartbeat:.0f}s"
                )
            if not r.alive:
                problems.append(f"camera {r.id} threads ended")
        timeout = (
            self.loaded.config.alerts.twilio.timeout_s if self.loaded.config.alerts.twilio else 10.0
        )
        d = self.alerts.dispatcher
        if not d.alive or now - d.heartbeat > timeout + 15:
            problems.append("alert delivery worker stalled")
        if not self.scheduler.running or now - self.scheduler.heartbeat > STALL_S:
            problems.append("scheduler stalled")
        if self.web and not self.web.alive:
            problems.append("http server ended")
        return problems

    # -- reload ---------------------------------------------------------------------

    def reload(self) -> bool:
        self.notifier.reloading(time.monotonic_ns() // 1000)
        log.info("reloading %s", self.path)
        try:
            new = self._load()
        except InvalidConfig as exc:
            for p in exc.problems:
                log.error("reload refused: %s", p)
            n = sum(p.severity == "error" for p in exc.problems)
            log.error("reload refused: %d problem(s); the previous configuration keeps running", n)
            self.notifier.ready(f"reload refused ({n} problem(s)); " + self.status_line())
            return False
        old = self.loaded
        if (new.config.http != old.config.http) or new.state_dir != old.state_dir:
            log.warning("[http] and storage.state_dir changes take effect after a restart")
        self.alerts.reconfigure(new)
        wanted = {c.id: c for c in new.config.cameras if c.enabled}
        for cam_id in [i for i in self.runners if i not in wanted]:
            log.info("camera %s removed", cam_id)
            self._stop_runner(cam_id)
        for cam_id, cam in wanted.items():
            runner = self.runners.get(cam_id)
            old_cam = next((c for c in old.config.cameras if c.id == cam_id), None)
            if runner and old_cam and _runner_key(old, old_cam) == _runner_key(new, cam):
                runner.set_setup(setup_for(new, cam))
                runner.camera = cam
                log.info(
                    "camera %s: %d zone(s) swapped in, camera kept running",
                    cam_id,
                    len(new.zones.get(cam_id, ())),
                )
            else:
                if runner:
                    self._stop_runner(cam_id)
                self.runners[cam_id] = CameraRunner(
                    new, cam, self.store, self.alerts, self.metrics
                ).start()
                log.info("camera %s (re)started with its new settings", cam_id)
        self.loaded = new
        self._schedule()
        self._log_arming()
        self.notifier.ready(self.status_line())
        log.info("reloaded: %s", self.status_line())
        return True

    def _stop_runner(self, cam_id: str) -> None:
        runner = self.runners.pop(cam_id)
        runner.request_stop()
        runner.join(time.monotonic() + STOP_BUDGET_S)
        self._offline.pop(cam_id, None)

    # -- scheduled duties ---------------------------------------------------------------

    def check_cameras(self) -> None:
        """A camera with armed zones and no fresh, processed frame for stale_after_s
        is blind: that is an alarm, raised once per outage, and cleared when it recovers."""
        self.scheduler.heartbeat = time.monotonic()
        now = time.time()
        for runner in list(self.runners.values()):
            st = runner.state()
            if time.monotonic() - runner.started < st.stale_after_s:
                continue  # still starting up
            if st.up:
                since = self._offline.pop(runner.id, None)
                if since is not None:
                    log.warning("camera_restored camera=%s offline_s=%.0f", runner.id, now - since)
                    body = messages.camera_restored_text(
                        runner.id, now, now - since, self.alerts.tz
                    )
                    self.alerts.enqueue_system(
                        f"camera_restored:{runner.id}:{since:.0f}",
                        "camera_restored",
                        "info",
                        body,
                        {"camera": runner.id, "offline_s": round(now - since, 1)},
                        groups=self._camera_groups(runner, st),
                        camera=runner.id,
                    )
                continue
            if not st.armed or runner.id in self._offline:
                continue
            self._offline[runner.id] = now
            age = st.fresh_age_s
            stale = age if age is not None else time.monotonic() - runner.started
            reason = _blind_reason(st)
            log.error(
                "camera_offline camera=%s reason=%r stale_s=%.1f armed_zones=%s",
                runner.id,
                reason,
                stale,
                ",".join(sorted(st.armed)),
            )
            body = messages.camera_offline_text(
                runner.id, now, stale, len(st.armed), reason, self.alerts.tz
            )
            self.alerts.enqueue_system(
                f"camera_offline:{runner.id}:{now:.0f}",
                "camera_offline",
                "danger",
                body,
                {
                    "camera": runner.id,
                    "reason": reason,
                    "stale_s": round(stale, 1),
                    "armed_zones": sorted(st.armed),
                },
                groups=self._camera_groups(runner, st),
                camera=runner.id,
            )

    def check_storage(self) -> None:
        """A database that cannot be written is a system alarm, once per outage, on
        every channel that still works (the alert itself goes out from memory)."""
        with contextlib.suppress(Exception):  # a failure is recorded in store.status()
            self.store.probe()
        st = self.store.status()
        site, tz = self.loaded.config.site.name, self.alerts.tz
        if not st.ok and self._storage_alarm is None and st.since is not None:
            self._storage_alarm = st.since
            log.error("storage_failed path=%s error=%r", st.path, st.error)
            self.alerts.enqueue_system(
                f"storage_failed:{st.since:.0f}",
                "storage_failed",
                "danger",
                messages.storage_failed_text(site, st.path, st.error or "?", st.since, tz),
                {"path": st.path, "error": st.error},
            )
        elif st.ok and self._storage_alarm is not None:
            since, self._storage_alarm = self._storage_alarm, None
            now = time.time()
            log.warning("storage_restored path=%s failed_s=%.0f", st.path, now - since)
            self.alerts.enqueue_system(
                f"storage_restored:{since:.0f}",
                "storage_restored",
                "info",
                messages.storage_restored_text(site, now, now - since, tz),
                {"path": st.path, "failed_s": round(now - since, 1)},
            )

    def _camera_groups(self, runner: CameraRunner, st: CameraState) -> list[str]:
        """Maintenance, and the people who rely on this camera's armed zones."""
        groups = list(self.loaded.config.alerts.system_recipients)
        for zone in runner.pipeline.setup.zones:
            if zone.id in st.armed:
                groups += [g for g in zone.recipients.danger if g not in groups]
        return groups

    def sweep_outbox(self) -> None:
        self.alerts.dispatcher.wake()
        health = self.alerts.health()
        if not health.ok:
            log.warning("alert delivery unhealthy: %s", "; ".join(health.reasons))

    def _log_arming(self, initial: bool = False) -> None:
        now = time.time()
        for runner in list(self.runners.values()):
            setup = runner.pipeline.setup
            for zone, is_armed in arming_changes(
                runner.id, setup.zones, setup.arming, now, self._armed
            ):
                if not initial or not is_armed:  # at start, only the disarmed are news
                    log.info(
                        "zone %s camera=%s zone=%s schedule=%r",
                        "armed" if is_armed else "disarmed",
                        runner.id,
                        zone.id,
                        "; ".join(zone.schedule.text),
                    )

    def digest(self) -> None:
        c = self.loaded.config
        housekeeping.send_digest(self.store, self.alerts, c.site.name, c.digest.recipients)

    def retention(self) -> None:
        days = self.loaded.config.storage.retention_days
        removed = housekeeping.retention(self.store, self.loaded.state_dir, days)
        log.info("retention: removed events and %d snapshot(s) older than %d days", removed, days)

    # -- status -------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        cams = []
        incidents = []
        tz = self.alerts.tz
        for runner in list(self.runners.values()):
            st = runner.state()
            src = st.source
            cams.append(
                {
                    "id": st.id,
                    "up": st.up,
                    "connected": src.connected,
                    "fps": st.processed_fps,
                    "frame_age_s": st.fresh_age_s,
                    "frames_read": src.frames_read,
                    "frames_dropped": src.frames_dropped,
                    "reconnects": src.reconnects,
                    "error": src.error,
                    "zones": {z: z in st.armed for z in st.zones},
                    "open_incidents": st.open_incidents,
                }
            )
            for inc in runner.pipeline.incidents.open_incidents():
                incidents.append(
                    {
                        "camera": runner.id,
                        "zone": inc.zone.id,
                        "level": inc.level,
                        "track": inc.track_id,
                        "body_part": inc.last.body_part,
                        "since": messages.clock(inc.opened_wall, tz),
                    }
                )
        d = self.alerts.dispatcher
        health = self.alerts.health()
        storage = self.store.status()
        return {
            "site": self.loaded.config.site.name,
            "cameras": cams,
            "incidents": incidents,
            "delivery": {
                "pending": health.pending,
                "ok": health.ok,
                "reasons": list(health.reasons),
                "sinks": sorted(self.alerts.sinks),
                "sent": dict(d.sent),
                "failed": dict(d.failed),
                "in_memory": len(d.in_memory()),
            },
            "storage": {
                "ok": storage.ok,
                "path": storage.path,
                "error": storage.error,
                "since": storage.since,
                "failures": storage.failures,
                "unrecorded_events": sum(r.unrecorded() for r in self.runners.values()),
            },
        }

    def health(self) -> tuple[bool, dict[str, Any]]:
        snap = self.snapshot()
        reasons = []
        for cam in snap["cameras"]:
            armed = [z for z, a in cam["zones"].items() if a]
            if armed and not cam["up"]:
                reasons.append(
                    f"camera {cam['id']} is not delivering fresh frames "
                    f"({len(armed)} armed zone(s) unwatched)"
                )
        storage = snap["storage"]
        if not storage["ok"]:
            reasons.append(f"storage: cannot write {storage['path']}: {storage['error']}")
        if storage["unrecorded_events"]:
            reasons.append(
                f"storage: {storage['unrecorded_events']} incident event(s) not yet recorded"
            )
        reasons += [f"alert delivery: {r}" for r in snap["delivery"]["reasons"]]
        body = {
            "status": "ok" if not reasons else "unhealthy",
            "reasons": reasons,
            "cameras": {
                c["id"]: {
                    "up": c["up"],
                    "frame_age_s": c["frame_age_s"],
                    "armed_zones": [z for z, a in c["zones"].items() if a],
                }
                for c in snap["cameras"]
            },
            "delivery": snap["delivery"],
            "storage": storage,
        }
        return not reasons, body

    def picture(self, camera: str) -> bytes | None:
        runner = self.runners.get(camera)
        image = runner.picture() if runner else None
        if image is None:
            return None
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
        return data.tobytes() if ok else None

    def status_line(self) -> str:
        states = [r.state() for r in self.runners.values()]
        up = sum(s.up for s in states)
        fps = sum(s.processed_fps for s in states)
        opened = sum(sum(s.open_incidents.values()) for s in states)
        return (
            f"{up}/{len(states)} cameras up, {fps:.1f} fps, {opened} open incident(s), "
            f"outbox {self.alerts.outbox.depth()}"
        )

    # -- stop ---------------------------------------------------------------------------

    def shutdown(self) -> None:
        self.notifier.stopping()
        log.info("stopping")
        self._stop_parts(serving=True)
        self._report_undelivered()
        self.store.close()
        self.notifier.close()
        log.info("stopped")

    def _report_undelivered(self) -> None:
        """Say what happens to what is not delivered yet, and promise nothing more."""
        for alert in self.alerts.dispatcher.in_memory():
            log.error(
                "alert LOST: held in memory (the database would not take it) and not "
                "delivered before stopping: via %s to %s: %s",
                alert.sink,
                messages.mask_number(alert.recipient),
                alert.body,
            )
        try:
            pending = self.alerts.outbox.depth()
        except Exception as exc:
            log.error("cannot read the outbox at stop (%s): pending alerts are unknown", exc)
            return
        if pending:
            log.warning(
                "%d alert(s) still pending; they are delivered after the next start", pending
            )

    def _stop_parts(self, serving: bool) -> None:
        """Stop whatever has been started, in order, within the stop budget."""
        deadline = time.monotonic() + STOP_BUDGET_S
        if self.web and serving:
            self.web.stop()
        if getattr(self, "scheduler", None):
            self.scheduler.shutdown()
        for r in self.runners.values():
            r.request_stop()
        if getattr(self, "alerts", None):
            self.alerts.stop(timeout=2.0)
        for r in self.runners.values():
            r.join(deadline)

    def abort_start(self) -> None:
        """Undo a start that failed half-way (threads must not outlive the process)."""
        self._stop_parts(serving=False)
        if self.web:
            self.web.close()
        if getattr(self, "store", None):
            self.store.close()


def _blind_reason(st: CameraState) -> str:
    src = st.source
    if not src.connected or src.last_frame_age_s is None or src.last_frame_age_s > st.stale_after_s:
        return f"no frames ({src.error})" if src.error else "no frames"
    if src.last_fresh_age_s is None or src.last_fresh_age_s > st.stale_after_s:
        return "frozen picture"
    return "frames not processed"


def run(args) -> int:
    import sys

    from .pose import ModelError

    daemon = Daemon(args.config, state_dir=args.state_dir)
    try:
        try:
            daemon.start()
        except BaseException:
            daemon.abort_start()
            raise
    except (ModelError, StartupError) as exc:
        print(f"safetyd: {exc}", file=sys.stderr)
        return 1
    return daemon.run()


def add_parser(sub) -> None:
    p = sub.add_parser(
        "run",
        help="run the safety daemon (as systemd does)",
        description=(
            "Run the daemon: watch every enabled camera, check people against armed zones, "
            "deliver alerts, serve /metrics, /healthz and a status page. SIGHUP reloads the "
            "configuration (an invalid one is refused and the old one keeps running), "
            "SIGTERM stops. Speaks sd_notify when started by systemd (Type=notify)."
        ),
    )
    p.add_argument("--config", type=Path, required=True, help="safetyd.toml")
    p.add_argument(
        "--state-dir",
        type=Path,
        help="use this state directory instead of [storage] state_dir (for trying "
        "the daemon out as a normal user)",
    )
    p.set_defaults(func=run, default_log_level="info")
