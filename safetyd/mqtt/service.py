"""MQTT in the daemon, wired: the link, live state, commands, discovery, the fleet.

* The cameras hand their zone levels over after each frame (``show_zones``,
  never blocking); one thread here publishes camera and box state when it
  changes (and every ``state_every_s``, the "last seen"), and runs commands.
* Commands go through the lifecycle core (safetyd/hazard/lifecycle.py) and its ledger,
  like ``safetyd ack`` and SMS replies; the answer goes to ``<box>/reply``.
* With ``[mqtt.fleet] enabled``, every box under the prefix is watched; a box
  whose status turns ``offline`` other than by its own stop raises a system
  alarm through this box's outbox (a dead box is never silent).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .. import __version__
from ..abc import Reloaded, ZoneView
from ..assembly.changes import changed_keys
from ..assembly.load import LoadedConfig
from ..base.alerts import AlertKind, SystemAlert
from ..config.mqtt import MqttSettings
from ..hazard import lifecycle
from . import acting, commands, discovery
from .fleet import BoxChange, FleetRow, FleetWatcher
from .link import MqttLink
from .state import StatePublisher, ZoneLevel
from .topics import Topics, slug

if TYPE_CHECKING:  # the service's status values; the service imports this package
    from ..service.posture import AreaShift
    from ..service.status import CameraStatus

log = logging.getLogger(__name__)
STALL_S = 30.0


def topics_of(loaded: LoadedConfig) -> Topics:
    import socket

    s = loaded.config.mqtt
    assert s is not None
    return Topics(s.prefix, slug(loaded.config.site.name), s.box or slug(socket.gethostname()))


def link_of(loaded: LoadedConfig) -> MqttLink:
    s = loaded.config.mqtt
    assert s is not None
    return MqttLink(s, topics_of(loaded), loaded.resolve)


class MqttService:
    def __init__(
        self,
        loaded: Callable[[], LoadedConfig],
        link: MqttLink,
        alerts,  # AlertService: its ledger for commands, its outbox for fleet alarms
        cameras: Callable[[], Sequence[CameraStatus]],
        on_latency: Callable[[float], object] | None = None,
        posture: Callable[[], Sequence[AreaShift]] = tuple,
    ) -> None:
        """``posture``: this shift's posture exposure per camera and area
        (service/posture.py), published as each area's retained state."""
        self.loaded = loaded
        self.posture = posture
        # [mqtt] is made once, at start: a reload that changes or removes it is kept
        # to until a restart (service/reload.py says so), so its settings are held.
        started = loaded().config.mqtt
        assert started is not None
        self._settings = started
        self.link = link
        self.topics = link.topics
        self.alerts = alerts
        self.cameras = cameras
        self.publisher = StatePublisher(link, on_latency)
        self._commands: queue.Queue = queue.Queue(maxsize=100)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.heartbeat = time.monotonic()
        self.started_wall = time.time()
        self._told: dict[str, tuple] = {}  # camera → (zones, open) of its last frame shown
        self.commands_done = 0
        self.commands_refused = 0
        self.fleet: FleetWatcher | None = None
        if self.settings.fleet.enabled:
            self.fleet = FleetWatcher(link, self.settings.prefix, self._box_changed)
        link.subscribe(self.topics.command_filter, self._command_message)
        link.on_connect(self._connected)

    @property
    def settings(self) -> MqttSettings:
        return self._settings

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> MqttService:
        self.publisher.start()
        self._thread = threading.Thread(target=self._run, name="mqtt", daemon=True)
        self._thread.start()
        self.link.start()
        return self

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)
        self.publisher.stop(timeout)
        goodbye = json.dumps(self._status("offline", "stopped"), separators=(",", ":"))
        self.link.stop(goodbye=goodbye.encode(), timeout=timeout)

    def stalled(self, now: float) -> list[str]:
        problems = self.publisher.stalled(now)
        if self._thread is not None and not self._thread.is_alive():
            problems.append("mqtt thread ended")
        elif self._thread is not None and now - self.heartbeat > STALL_S:
            problems.append(f"mqtt thread silent for {now - self.heartbeat:.0f}s")
        if not self.link.alive:
            problems.append("mqtt network thread ended")
        return problems

    name = "mqtt"

    def reload(self, old: LoadedConfig, new: LoadedConfig) -> Reloaded:
        """Part: the zones may have changed (discovery and state again); [mqtt] itself
        is kept until a restart, and each changed key is named."""
        self.reloaded()
        return Reloaded("applied", tuple(changed_keys("mqtt", old.config.mqtt, new.config.mqtt)))

    def reloaded(self) -> None:
        """Zones may have changed: discovery and state again."""
        self._publish_discovery()
        self.publisher.republish()

    # -- what the cameras hand over ----------------------------------------------------

    def show_frame(self, view: ZoneView) -> None:
        """FrameOutput: a camera's zones, handed on when they changed (stored for the
        publisher thread; never waits for the broker). A camera's first hand-over is its
        initial state, not a change: published, but not timed (its frame also carried
        the model's warm-up)."""
        told = (view.zones, dict(view.open))
        last = self._told.get(view.camera)
        if told != last:
            self._told[view.camera] = told
            self.show_zones(view.camera, [z.id for z in view.zones], told[1],
                            None if last is None else view.captured_mono)  # fmt: skip

    def show_zones(
        self,
        camera: str,
        zone_ids: Sequence[str],
        open_: dict[str, tuple[str, str]],
        captured_mono: float | None,
    ) -> None:
        """After a frame: every zone of the camera (id -> (level, incident) when open)."""
        levels = {
            z: ZoneLevel(*open_[z]) if z in open_ else ZoneLevel("clear", None) for z in zone_ids
        }
        self.publisher.show_zones(camera, levels, captured_mono=captured_mono)

    # -- state --------------------------------------------------------------------------

    def _status(self, state: str, reason: str) -> dict:
        return {
            "state": state, "reason": reason, "box": self.topics.box, "site": self.topics.site,
            "site_name": self.loaded().config.site.name, "connection": self.link.connection,
            "since": round(self.started_wall, 3), "updated": round(time.time(), 3),
            "version": __version__,
        }  # fmt: skip

    def _connected(self) -> None:
        # paho's thread: the status (online again: the Last Will said offline) and the
        # rest go out through the publisher at once.
        self._publish_discovery()
        self._tick(force=True)

    def _tick(self, force: bool = False) -> None:
        now = time.time()
        bucket = int(now // self.settings.state_every_s)
        statuses = list(self.cameras())
        config = self.loaded().config
        running = {c.id for c in statuses}
        for cam in statuses:
            payload = {
                "camera": cam.id, "online": cam.up, "monitored": True,
                "fps": round(cam.fps, 1), "armed": list(cam.armed), "error": cam.error,
                "updated": round(now, 3),
            }  # fmt: skip
            self.publisher.set(
                self.topics.camera(cam.id), (cam.up, cam.armed, cam.error, bucket), payload
            )
        for cam_cfg in config.cameras:
            if cam_cfg.id not in running:
                payload = {
                    "camera": cam_cfg.id, "online": False, "monitored": False,
                    "reason": "disabled in the configuration: NOT MONITORED",
                    "updated": round(now, 3),
                }  # fmt: skip
                self.publisher.set(self.topics.camera(cam_cfg.id), ("off", bucket), payload)
        for area in self.posture():
            # Every state_every_s at most: exposure changes with every frame.
            self.publisher.set(
                self.topics.posture(area.camera, area.area), (bucket, area.began), area.payload()
            )
        offline = sorted(c.id for c in statuses if not c.up)
        incidents = [i for c in statuses for i in c.incidents]
        danger = sum(1 for i in incidents if i.level == "danger")
        status = self._status("online", "running")
        status.update(
            cameras=len(config.cameras), cameras_offline=offline,
            open_incidents=len(incidents), danger=danger,
        )  # fmt: skip
        said = (tuple(offline), len(incidents), danger, bucket, self.link.connection)
        # Forced (a reconnect, a status command): a key never seen before.
        self.publisher.set(self.topics.status, (said, time.monotonic() if force else 0), status)

    def _publish_discovery(self) -> None:
        s = self.settings
        if not s.discovery or not self.link.connected:
            return
        loaded = self.loaded()
        cams = {c.id: [z.id for z in loaded.zones.get(c.id, ())] for c in loaded.config.cameras}
        for topic, config in discovery.configs(
            self.topics, loaded.config.site.name, s.discovery_prefix, cams
        ).items():
            self.link.publish_nowait(topic, json.dumps(config).encode(), retain=True)

    # -- commands -----------------------------------------------------------------------

    def _command_message(self, message) -> None:
        """paho's thread: hand over, never wait (a command writes the database).

        A command is for the moment it is sent. One the broker kept (published with
        the retain flag) would come back at every start and reconnect, a snooze
        re-applied forever: it is ignored, said so, and cleared. The empty message
        that clears it (ours or anyone's) is no command either."""
        topic, payload = message.topic, bytes(message.payload)
        if not payload:
            return
        if message.retain:
            log.error(
                "mqtt: a retained command on %s ignored and cleared (commands are acted on "
                "when sent, never kept by the broker: publish them without retain): %r",
                topic,
                payload[:200],
            )
            self.link.publish_nowait(topic, b"", retain=True)
            self.commands_refused += 1
            return
        self._hand_over(lambda: self._command(topic, payload), f"command on {topic}")

    def _hand_over(self, job: Callable[[], None], what: str) -> None:
        try:
            self._commands.put_nowait(job)
        except queue.Full:
            log.error("mqtt: %s dropped: 100 jobs already waiting", what)

    def _run(self) -> None:
        next_tick = 0.0
        while not self._stop.is_set():
            self.heartbeat = time.monotonic()
            try:
                job = self._commands.get(timeout=0.5)
            except queue.Empty:
                pass
            else:
                try:
                    job()
                except Exception:
                    log.exception("mqtt: a command or fleet alarm failed")
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + 1.0
                try:
                    self._tick()
                except Exception:
                    log.exception("mqtt: publishing state failed")

    def _command(self, topic: str, payload: bytes) -> None:
        """Parse, act, answer: every command gets an answer on the reply topic."""
        try:
            cmd = commands.parse(topic, self.topics.command, payload)
        except commands.CommandRefused as exc:
            self._refused(exc.request_id, str(exc))
            return
        try:
            answer = self._execute(cmd)
        except (commands.CommandRefused, lifecycle.SnoozeRefused) as exc:
            self._refused(cmd.request_id, str(exc))
            return
        except Exception as exc:  # a command must always be answered (docs/MQTT.md)
            log.exception("mqtt command %s failed", cmd.verb)
            self._refused(cmd.request_id, f"internal error ({exc.__class__.__name__})")
            return
        self.commands_done += 1
        self._reply({"id": cmd.request_id, **answer})

    def _refused(self, request_id: str | None, error: str) -> None:
        self.commands_refused += 1
        log.error("mqtt command refused (%s): nothing changed", error)
        self._reply({"id": request_id, "ok": False, "error": error})

    def _execute(self, cmd: commands.Command) -> dict:
        now = time.time()
        if cmd.verb == "status":
            self.publisher.republish()
            self._tick(force=True)
            return {"ok": True, "answer": "state republished"}
        return acting.act(cmd, self.alerts.ledger, self.loaded(), self.alerts.tz, now)

    def _reply(self, answer: dict) -> None:
        self.link.publish_nowait(
            self.topics.reply, json.dumps(answer, separators=(",", ":")).encode(), retain=False
        )

    # -- the fleet ----------------------------------------------------------------------

    def _box_changed(self, change: BoxChange) -> None:
        """paho's thread: the alarm is raised on ours (it writes the outbox)."""
        self._hand_over(lambda: self._alarm(change), f"fleet alarm for {change.box}")

    def _alarm(self, change: BoxChange) -> None:
        if (change.site, change.box) == (self.topics.site, self.topics.box):
            return  # our own Last Will, from before this start
        fleet = self.settings.fleet
        kind = AlertKind.BOX_RESTORED if change.online else AlertKind.BOX_OFFLINE
        if not change.online and change.reason == "stopped":
            log.warning("mqtt fleet: box %s/%s was stopped", change.site, change.box)
            return
        alert = SystemAlert(
            kind,
            f"{kind}:{change.site}/{change.box}:{change.connection}",
            "info" if change.online else "danger",
            time.time(),
            groups=tuple(fleet.alarm_groups),
            facts={"site": change.site, "box": change.box, "reason": change.reason},
        )
        try:
            self.alerts.raise_alarm(alert)
        except Exception:
            log.exception("mqtt fleet: cannot raise the alarm for %s/%s", change.site, change.box)

    def fleet_rows(self) -> list[FleetRow]:
        return self.fleet.rows() if self.fleet else []
