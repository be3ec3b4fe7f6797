"""One live camera in the daemon: its reader, its pose model, its inference thread.

The inference thread takes the newest frame, runs the camera's pipeline at
most ``fps`` times a second, and commits any incident transitions together
with their alerts in one SQLite transaction before anything is sent. Live
settings (zones, rules) are swapped between two frames on reload (``apply``),
so a camera whose own settings did not change never stops watching.

What other threads may read is published by the inference thread as
immutable values after each frame (the last result, the open incidents); the
list of held transitions is guarded by a lock.

When that commit fails (a full disk), the alerts do not wait for the disk
(recording.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from zoneinfo import ZoneInfo

import numpy as np

from ..abc import FrameOutput, Reloaded, ZoneView
from ..alerts import messages
from ..alerts.service import AlertService
from ..assembly.load import LoadedConfig
from ..assembly.settings import CameraSettings
from ..base.alerts import DOWN_WORDS
from ..base.timing import Rate
from ..hazard.incidents import FrameContext
from ..hazard.snapshots import SnapshotWriter, annotate
from ..pipeline import CameraPipeline, FrameResult
from ..storage.store import Store
from ..vision.pose import create_estimator
from ..vision.sizes import load_heights, save_heights
from ..vision.sources import CameraSource, password_reader
from ..zones.arming import machine_armed
from . import memory
from .blind import CameraState
from .clipdisk import ClipDisk
from .clips import ClipInput, ClipRecorder
from .metrics import Metrics
from .posture import PostureBook
from .recording import Recorder
from .reload import plan_reload
from .status import CameraStatus, IncidentStatus, ZoneStatus

# The journal has named these lines "safetyd.runner" since v1; operators filter on it.
log = logging.getLogger("safetyd.runner")
daemon_log = logging.getLogger("safetyd.daemon")  # reload lines, under the daemon's name
SIZES_SAVE_S = 300.0  # what the camera learned about people's sizes is saved this often
STALL_S = 10.0  # an inference thread silent this long is wedged


class CameraRunner:
    def __init__(
        self,
        settings: CameraSettings,
        store: Store,
        alerts: AlertService,
        metrics: Metrics,
        outputs: Callable[[], Sequence[FrameOutput]] = tuple,
        machine: Callable[[str], bool] = lambda input_id: True,
        clip_disk: ClipDisk | None = None,
        posture: PostureBook | None = None,
    ) -> None:
        """``outputs``: where each frame's zone levels go (abc.FrameOutput), asked for
        at every frame (a reload may replace them). ``machine``: whether a machine-state
        input arms its zones now (plant I/O; ``armed_when``). ``clip_disk``: where
        incident clips go (none recorded without it or with ``[clips]`` disabled).
        ``posture``: where posture exposure in areas goes."""
        run = settings.run
        self.settings = settings
        self.id = settings.id
        self.store = store
        self.alerts = alerts
        self.metrics = metrics
        for family in (metrics.pipeline_errors, metrics.frames_processed, metrics.frames_inferred):
            family.labels(self.id)  # the series exists (at 0) before the first event
        self.source = CameraSource(
            self.id,
            run.source,
            pace=True,
            loop=run.camera.loop,
            width=run.camera.width,
            height=run.camera.height,
            stall_timeout_s=max(2.0, min(run.camera.stale_after_s, 10.0)),
            password=password_reader(run.camera.password_credential),
        )
        snapshots = SnapshotWriter(run.snapshots_dir, run.blur_faces) if run.snapshots_dir else None
        self.pipeline = CameraPipeline.from_settings(
            settings,
            lambda num_poses=None, still=False: create_estimator(
                run.pose, run.model_path, num_poses, still
            ),
            snapshots=snapshots,
            learned=load_heights(run.sizes_path),
        )
        self.outputs = outputs
        self.machine = machine
        self.posture = posture
        self.pipeline.machine = machine
        self._sizes_saved = time.monotonic()
        self._fit_said: tuple[str | None, str | None] = (None, None)
        self._lock = threading.Lock()  # held while a frame is processed, or zones swapped
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.heartbeat = time.monotonic()
        self.started = time.monotonic()
        self._processed_at: float | None = None
        self._rate = Rate()
        self.last: FrameResult | None = None
        self._incidents: tuple[IncidentStatus, ...] = ()  # published after each frame
        self._down: dict[int, str] = {}  # who is down (hazard/body.py), published likewise
        self.recorder = Recorder(self.id, store, alerts, metrics)
        self.clips = (
            ClipRecorder(self.id, run.clips, run.camera.fps, clip_disk, metrics, alerts.tz)
            if run.clips is not None and clip_disk is not None
            else None
        )

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> CameraRunner:
        # Models first: the first frame's decision (the zones leave camera_offline
        # with it) must not wait for them to load.
        self.pipeline.prepare()
        if self.clips is not None:
            self.clips.start()
        self.source.start()
        self._thread = threading.Thread(target=self._run, name=f"infer-{self.id}", daemon=True)
        self._thread.start()
        return self

    def request_stop(self) -> None:
        self._stop.set()
        self.source.request_stop()
        if self.clips is not None:
            self.clips.request_stop()

    def join(self, deadline: float) -> None:
        if self._thread:
            self._thread.join(max(0.0, deadline - time.monotonic()))
        self.source.join(deadline)
        if self.clips is not None:
            self.clips.join(deadline)
        if self._thread and not self._thread.is_alive():
            self.pipeline.close()
            self.recorder.flush()
            self.recorder.report_unrecorded()
            save_heights(self.settings.run.sizes_path, self.pipeline.heights.learned)

    @property
    def alive(self) -> bool:
        return bool(self._thread and self._thread.is_alive() and self.source.alive)

    def apply(self, settings: CameraSettings) -> None:
        """Swap in reloaded live settings between two frames; the camera keeps running.
        (Only valid when ``settings.run`` equals the running ones: see reload.py.)"""
        with self._lock:
            last = self.last
            ctx = FrameContext(
                self.id,
                last.frame.index if last else 0,
                time.monotonic(),
                last.frame.video_t if last else 0.0,
                time.time(),
            )
            transitions = self.pipeline.apply(settings.live, ctx)
            self.settings = settings
            self._publish()
        if transitions:
            self.recorder.hold(transitions, None, settings.live.zones)

    def stalled(self, now: float) -> list[str]:
        problems = []
        if now - self.heartbeat > STALL_S:
            problems.append(
                f"camera {self.id} inference thread silent for {now - self.heartbeat:.0f}s"
            )
        if not self.alive:
            problems.append(f"camera {self.id} threads ended")
        return problems

    # -- inference ------------------------------------------------------------------

    def _run(self) -> None:
        # The fps cap drops frames that come sooner than the cap allows; it never
        # makes a frame wait: a frame is processed the moment it is taken.
        min_gap = 0.8 / self.settings.run.camera.fps
        last_index, last_capture = -1, float("-inf")
        while not self._stop.is_set():
            self.heartbeat = time.monotonic()
            self.recorder.flush()
            frame = self.source.read(last_index, timeout=0.5)
            if frame is None:
                continue
            last_index = frame.index
            if frame.mono - last_capture < min_gap:
                continue
            last_capture = frame.mono
            try:
                with self._lock:
                    result = self.pipeline.process(frame, frame.mono)
            except Exception:
                # Never let one bad frame end the camera; the blind-camera alarm
                # fires if this keeps happening (no processed frames).
                log.exception("camera %s: frame %d failed", self.id, frame.index)
                self.metrics.pipeline_errors.labels(self.id).inc()
                self._stop.wait(0.5)
                continue
            self.last = result
            self._report_fit()
            now = time.monotonic()
            self._rate.tick(now)
            self._processed_at = now
            self._publish()
            # The zones' levels after this frame, taken once, shown to every output (the
            # stack light first: before any SMS is queued).
            view = ZoneView(
                self.id, self.pipeline.setup.zones, self.pipeline.zone_incidents(), frame.mono
            )
            for output in self.outputs():
                output.show_frame(view)
            self.metrics.frames_processed.labels(self.id).inc()
            if result.inferred:
                self.metrics.frames_inferred.labels(self.id).inc()
                self.metrics.inference_seconds.labels(self.id).observe(result.infer_s)
            if result.transitions:
                self.recorder.hold(result.transitions, frame.mono, self.pipeline.setup.zones)
            if self.clips is not None:
                self.clips.offer(self._clip_input(result))
            self.recorder.flush()
            if self.posture is not None:
                if result.body is not None:
                    zones = self.pipeline.setup.zones
                    self.posture.add(self.id, frame.wall, result.body.exposure, zones)
                self.posture.flush()
            if now - self._sizes_saved >= SIZES_SAVE_S:
                self._sizes_saved = now
                save_heights(self.settings.run.sizes_path, self.pipeline.heights.learned)

    def _clip_input(self, result: FrameResult) -> ClipInput:
        setup = self.pipeline.setup
        return ClipInput(
            mono=result.frame.mono,
            wall=result.frame.wall,
            image=result.frame.image,
            tracks=tuple(result.tracks),
            reasons=result.assessments,
            zones=setup.zones,
            floor_map=setup.floor_map,
            states=self._zone_states(),
            motion=result.motion,
            transitions=tuple(result.transitions),
            down=self._down,
        )

    def _zone_states(self) -> dict[str, str]:
        """Each zone's level by its open incidents (danger over warning)."""
        return {i.zone: i.level for i in sorted(self._incidents, key=lambda i: i.level == "danger")}

    def _report_fit(self) -> None:
        """Say (once per change) when the zones were scaled to the picture, or do not
        fit it (then the camera counts as blind: its alarm and /healthz follow)."""
        said = (self.pipeline.size_fault, self.pipeline.size_note)
        if said == self._fit_said:
            return
        self._fit_said = said
        fault, note = said
        if fault:
            log.error("camera %s: zones not used: %s", self.id, fault)
        elif note:
            log.warning("camera %s: %s", self.id, note)

    # -- status ---------------------------------------------------------------------

    def _publish(self) -> None:
        """The open incidents as values, for other threads (inference thread or under
        the lock: the incident manager is not safe to read while a frame runs)."""
        self._down = self.pipeline.body.down_now()
        self._incidents = open_incidents(self.id, self.pipeline, self.alerts.tz)

    def state(self) -> CameraState:
        now = time.monotonic()
        setup = self.pipeline.setup
        armed = machine_armed(setup.zones, setup.arming.armed(time.time()), self.machine)
        groups: list[str] = []
        for zone in setup.zones:
            if zone.id in armed:
                groups += [g for g in zone.recipients.danger if g not in groups]
        return CameraState(
            id=self.id,
            source=self.source.status(),
            fault=self.pipeline.size_fault_short,
            processed_age_s=None if self._processed_at is None else now - self._processed_at,
            processed_fps=self._rate.value,
            armed=armed,
            zones=tuple(z.id for z in setup.zones),
            stale_after_s=self.settings.run.camera.stale_after_s,
            running_s=now - self.started,
            danger_groups=tuple(groups),
        )

    def status(self) -> CameraStatus:
        st = self.state()
        src = st.source
        return CameraStatus(
            id=self.id,
            up=st.up,
            connected=src.connected,
            fps=st.processed_fps,
            frame_age_s=st.fresh_age_s,
            frames_read=src.frames_read,
            frames_dropped=src.frames_dropped,
            reconnects=src.reconnects,
            error=self.pipeline.size_fault or src.error,
            zones=tuple(ZoneStatus(z, z in st.armed) for z in st.zones),
            incidents=self._incidents,
            unrecorded_events=self.recorder.unrecorded(),
        )

    def frame(self) -> np.ndarray | None:
        """The last processed frame as it came (the zone editor draws on it)."""
        last = self.last
        return None if last is None else last.frame.image

    def picture(self) -> np.ndarray | None:
        """The last processed frame with zones and skeletons drawn (status page)."""
        last = self.last
        if last is None:
            return None
        setup = self.pipeline.setup
        return annotate(
            last.frame.image,
            setup.zones,
            last.tracks,
            setup.floor_map,
            self._zone_states(),
            self.settings.run.blur_faces,
            regions=[r.box for r in last.plan.regions] if last.plan else (),
            motion=last.motion,
            reasons=last.assessments,
            down=self._down,
        )


class Cameras:
    """The running cameras, as one component: started, reloaded, stopped together."""

    def __init__(
        self,
        store: Store,
        alerts: AlertService,
        metrics: Metrics,
        outputs: Callable[[], Sequence[FrameOutput]] = tuple,
        machine: Callable[[str], bool] = lambda input_id: True,
        stop_budget_s: float = 7.0,
        clip_disk: ClipDisk | None = None,
        posture: PostureBook | None = None,
    ) -> None:
        self.outputs = outputs
        self.clip_disk = clip_disk
        self.posture = posture
        self.machine = machine
        self.stop_budget_s = stop_budget_s
        # A camera stopped by a reload (removed, or restarted with new settings): its
        # blind-camera alarm state is forgotten (service/jobs.py sets this).
        self.on_stopped: Callable[[str], object] = lambda camera_id: None
        self.store = store
        self.alerts = alerts
        self.metrics = metrics
        self.runners: dict[str, CameraRunner] = {}

    def start(self, settings: Mapping[str, CameraSettings]) -> None:
        for camera_id, s in settings.items():
            self.runners[camera_id] = CameraRunner(
                s, self.store, self.alerts, self.metrics, self.outputs, self.machine,
                self.clip_disk, self.posture,
            ).start()  # fmt: skip

    def running(self) -> dict[str, CameraSettings]:
        return {i: r.settings for i, r in self.runners.items()}

    name = "cameras"

    def reload(self, old: LoadedConfig, new: LoadedConfig) -> Reloaded:
        """Part: each camera compared by its settings (service/reload.py): the live
        ones swapped in between two frames, the others restarted, removed or added."""
        plan, wanted = plan_reload(self.running(), old, new)
        for camera_id in plan.stop:
            daemon_log.info("camera %s removed", camera_id)
            self.stop_one(camera_id, self.stop_budget_s)
            self.on_stopped(camera_id)
        for camera_id in plan.apply:
            self.runners[camera_id].apply(wanted[camera_id])
            daemon_log.info(
                "camera %s: %d zone(s) swapped in, camera kept running",
                camera_id,
                len(wanted[camera_id].live.zones),
            )
        for camera_id in plan.restart:
            self.stop_one(camera_id, self.stop_budget_s)
            self.on_stopped(camera_id)
        self.start({i: wanted[i] for i in (*plan.restart, *plan.start)})
        for camera_id in (*plan.restart, *plan.start):
            daemon_log.info("camera %s (re)started with its new settings", camera_id)
        if plan.stop or plan.restart:
            memory.trim()  # the replaced cameras' models freed hundreds of MB
        return Reloaded("restarted" if plan.stop or plan.restart or plan.start else "applied")

    def stop_one(self, camera_id: str, budget_s: float) -> None:
        runner = self.runners.pop(camera_id)
        runner.request_stop()
        runner.join(time.monotonic() + budget_s)

    def stop(self, budget_s: float | None = None) -> None:
        """Every camera asked to stop first, then each joined within the one budget."""
        deadline = time.monotonic() + (self.stop_budget_s if budget_s is None else budget_s)
        for r in self.runners.values():
            r.request_stop()
        for r in self.runners.values():
            r.join(deadline)
        if self.posture is not None:
            self.posture.flush(force=True)

    def stalled(self, now: float) -> list[str]:
        return [p for r in self.runners.values() for p in r.stalled(now)]

    def wait_ready(self, timeout: float, stop: threading.Event) -> None:
        """Ready means watching: every camera opened and its first frame went through
        the model. A camera that is down does not hold up the others (it alarms)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not stop.is_set():
            if all(s.processed_age_s is not None for s in self.states()):
                return
            time.sleep(0.1)
        for st in self.states():
            if st.processed_age_s is None:
                daemon_log.error(
                    "camera %s delivered no frame within %.0fs: %s",
                    st.id,
                    timeout,
                    st.source.error or "no frames",
                )

    def states(self) -> list[CameraState]:
        return [r.state() for r in list(self.runners.values())]

    def statuses(self) -> tuple[CameraStatus, ...]:
        return tuple(r.status() for r in list(self.runners.values()))

    def picture(self, camera_id: str) -> np.ndarray | None:
        runner = self.runners.get(camera_id)
        return runner.picture() if runner else None

    def frame(self, camera_id: str) -> np.ndarray | None:
        runner = self.runners.get(camera_id)
        return runner.frame() if runner else None

    def unrecorded(self) -> int:
        return sum(r.recorder.unrecorded() for r in self.runners.values())


def open_incidents(
    camera: str, pipeline: CameraPipeline, tz: ZoneInfo
) -> tuple[IncidentStatus, ...]:
    """A camera's open incidents as status values: its zones' and its areas' (a fall
    or man down shows its kind where a zone's shows the deciding body part)."""
    zones = tuple(
        IncidentStatus(
            camera=camera, zone=inc.zone.id, level=str(inc.level), track=inc.track_id,
            body_part=inc.last.body_part, since=messages.clock(inc.opened_wall, tz),
        )
        for inc in pipeline.incidents.open_incidents()
    )  # fmt: skip
    areas = tuple(
        IncidentStatus(
            camera=camera, zone=o.area.id, level="danger", track=track,
            body_part=DOWN_WORDS[kind].lower(), since=messages.clock(o.opened_wall, tz),
        )
        for (track, kind), o in pipeline.body.opened().items()
    )  # fmt: skip
    return zones + areas
