"""One live camera in the daemon: its reader, its pose model, its inference thread.

The inference thread takes the newest frame, runs the camera's pipeline at
most ``fps`` times a second, and commits any incident transitions together
with their alerts in one SQLite transaction before anything is sent. Zones
are swapped between two frames on reload (``set_setup``), so an unchanged
camera never stops watching.

When that commit fails (a full disk), the alerts do not wait for the disk:
they are handed to the delivery worker's in-memory queue at once, and the
events are kept in a bounded buffer and recorded (with their alerts marked as
sent from memory) once the database takes writes again. Whatever is still
unrecorded at exit is logged as lost from the record.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from .alerts.service import AlertService
from .config import Camera, LoadedConfig
from .incidents import FrameContext, Transition
from .metrics import Metrics
from .pipeline import CameraPipeline, FrameResult, ZoneSetup, floor_map_for
from .pose import create_estimator
from .ratelog import RateLimitedLog
from .snapshots import SnapshotWriter, annotate
from .sources import CameraSource, SourceStatus
from .store import Store, is_storage_failure
from .vision.sizes import load_heights, save_heights
from .zones import Zone

log = logging.getLogger(__name__)
UNRECORDED_LIMIT = 10_000  # batches of incident events held while the database fails
SIZES_SAVE_S = 300.0  # what the camera learned about people's sizes is saved this often


@dataclass
class _Unrecorded:
    """Incident transitions not yet committed, with what routing them needs."""

    transitions: list[Transition]
    capture_mono: float | None
    zones: tuple[Zone, ...]
    from_memory: bool = False  # their alerts were already handed to the memory queue


@dataclass(frozen=True)
class CameraState:
    id: str
    source: SourceStatus
    processed_age_s: float | None  # since the last frame went through the pipeline
    processed_fps: float
    armed: frozenset[str]
    zones: tuple[str, ...]
    open_incidents: dict[str, int]
    stale_after_s: float

    @property
    def fresh_age_s(self) -> float | None:
        """How old the newest fresh frame that was also processed is."""
        ages = [self.source.last_fresh_age_s, self.processed_age_s]
        return None if any(a is None for a in ages) else max(a for a in ages if a is not None)

    @property
    def up(self) -> bool:
        age = self.fresh_age_s
        return age is not None and age <= self.stale_after_s


class CameraRunner:
    def __init__(
        self,
        loaded: LoadedConfig,
        camera: Camera,
        store: Store,
        alerts: AlertService,
        metrics: Metrics,
    ) -> None:
        cfg = loaded.config
        self.camera = camera
        self.id = camera.id
        self.store = store
        self.alerts = alerts
        self.metrics = metrics
        self.privacy_blur = cfg.privacy.blur_faces
        self.source = CameraSource(
            camera.id,
            str(loaded.resolve(camera.source)) if _is_path(camera.source) else camera.source,
            pace=True,
            loop=camera.loop,
            width=camera.width,
            height=camera.height,
            stall_timeout_s=max(2.0, min(camera.stale_after_s, 10.0)),
        )
        model = loaded.resolve(cfg.pose.model) if cfg.pose.model else None
        snapshots = (
            SnapshotWriter(loaded.state_dir / "snapshots", cfg.privacy.blur_faces)
            if cfg.storage.snapshots
            else None
        )
        self.sizes_path = loaded.state_dir / "sizes" / f"{camera.id}.json"
        self.pipeline = CameraPipeline.from_config(
            loaded,
            camera.id,
            lambda num_poses=None: create_estimator(cfg.pose, model, num_poses),
            snapshots=snapshots,
            learned=load_heights(self.sizes_path),
        )
        self._sizes_saved = time.monotonic()
        self._lock = threading.Lock()  # held while a frame is processed, or zones swapped
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.heartbeat = time.monotonic()
        self.started = time.monotonic()
        self._processed_at: float | None = None
        self._fps = 0.0
        self.last: FrameResult | None = None
        # Appended by the inference thread and, on reload, the main thread.
        self._unrecorded: deque[_Unrecorded] = deque()
        self._unrecorded_lock = threading.Lock()
        self.unrecorded_dropped = 0
        self._ratelog = RateLimitedLog(log)

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> CameraRunner:
        self.source.start()
        self._thread = threading.Thread(target=self._run, name=f"infer-{self.id}", daemon=True)
        self._thread.start()
        return self

    def request_stop(self) -> None:
        self._stop.set()
        self.source.request_stop()

    def join(self, deadline: float) -> None:
        if self._thread:
            self._thread.join(max(0.0, deadline - time.monotonic()))
        self.source.join(deadline)
        if self._thread and not self._thread.is_alive():
            self.pipeline.close()
            self._flush()
            self._report_unrecorded()
            save_heights(self.sizes_path, self.pipeline.heights.learned)

    @property
    def alive(self) -> bool:
        return bool(self._thread and self._thread.is_alive() and self.source.alive)

    def set_setup(self, setup: ZoneSetup) -> None:
        """Swap in reloaded zones between two frames; the camera keeps running."""
        with self._lock:
            last = self.last
            ctx = FrameContext(
                self.id,
                last.frame.index if last else 0,
                time.monotonic(),
                last.frame.video_t if last else 0.0,
                time.time(),
            )
            transitions = self.pipeline.set_setup(setup, ctx)
        if transitions:
            self._hold(transitions, None, setup.zones)

    # -- inference ------------------------------------------------------------------

    def _run(self) -> None:
        # The fps cap drops frames that come sooner than the cap allows; it never
        # makes a frame wait: a frame is processed the moment it is taken.
        min_gap = 0.8 / self.camera.fps
        last_index, last_capture = -1, float("-inf")
        while not self._stop.is_set():
            self.heartbeat = time.monotonic()
            self._flush()
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
            now = time.monotonic()
            if self._processed_at is not None:
                dt = now - self._processed_at
                self._fps = 1 / dt if self._fps == 0 else 0.9 * self._fps + 0.1 / max(dt, 1e-6)
            self._processed_at = now
            self.metrics.frames_processed.labels(self.id).inc()
            if result.inferred:
                self.metrics.frames_inferred.labels(self.id).inc()
                self.metrics.inference_seconds.labels(self.id).observe(result.infer_s)
            if result.transitions:
                self._hold(result.transitions, frame.mono, self.pipeline.setup.zones)
            self._flush()
            if now - self._sizes_saved >= SIZES_SAVE_S:
                self._sizes_saved = now
                save_heights(self.sizes_path, self.pipeline.heights.learned)

    def _hold(
        self, transitions: list[Transition], capture_mono: float | None, zones: tuple[Zone, ...]
    ) -> None:
        self._log_transitions(transitions)
        with self._unrecorded_lock:
            self._unrecorded.append(_Unrecorded(list(transitions), capture_mono, zones))

    def _flush(self) -> None:
        """Commit held transitions and their alerts, oldest first.

        A locked or failing database must neither kill the camera nor delay an
        alert: on failure every alert not yet out goes to the memory queue, and
        the record is retried on the next frame."""
        while True:
            with self._unrecorded_lock:
                if not self._unrecorded:
                    return
                entry = self._unrecorded[0]
            try:
                self._commit(entry)
            except Exception as exc:
                self._commit_failed(exc)
                return
            with self._unrecorded_lock:
                self._unrecorded.popleft()

    def _commit(self, entry: _Unrecorded) -> None:
        with self.store.transaction() as db:
            self.store.add_events(db, entry.transitions)
            self.alerts.enqueue(
                db,
                entry.transitions,
                entry.zones,
                capture_mono=entry.capture_mono,
                status="memory" if entry.from_memory else "pending",
            )
        if entry.capture_mono is not None and not entry.from_memory:
            self.metrics.frame_to_alert_seconds.labels("outbox").observe(
                time.monotonic() - entry.capture_mono
            )

    def _commit_failed(self, exc: Exception) -> None:
        with self._unrecorded_lock:
            todo = [e for e in self._unrecorded if not e.from_memory]
            for e in todo:
                e.from_memory = True
            dropped = []
            while len(self._unrecorded) > UNRECORDED_LIMIT:
                dropped.append(self._unrecorded.popleft())
            self.unrecorded_dropped += sum(len(e.transitions) for e in dropped)
            held = sum(len(e.transitions) for e in self._unrecorded)
        for e in todo:
            self.alerts.send_from_memory(e.transitions, e.zones, e.capture_mono)
        self._ratelog.error(
            "commit",
            "camera %s: cannot store incident events (%s); %d held, their alerts are sent "
            "from memory, storing is retried",
            self.id,
            exc,
            held,
            exc_info=None if is_storage_failure(exc) else exc,
        )
        for e in dropped:
            for tr in e.transitions:
                log.error(
                    "camera %s: incident event dropped from the record (more than %d held): "
                    "incident=%s event=%s level=%s zone=%s",
                    self.id,
                    UNRECORDED_LIMIT,
                    tr.incident_id,
                    tr.event,
                    tr.level,
                    tr.zone_id,
                )

    def unrecorded(self) -> int:
        """Incident events held because the database would not take them."""
        with self._unrecorded_lock:
            return sum(len(e.transitions) for e in self._unrecorded)

    def _report_unrecorded(self) -> None:
        with self._unrecorded_lock:
            lost = [tr for e in self._unrecorded for tr in e.transitions]
        for tr in lost:
            log.error(
                "camera %s: incident event LOST from the record (the database would not take "
                "it; its alerts were sent from memory): incident=%s event=%s level=%s zone=%s",
                self.id,
                tr.incident_id,
                tr.event,
                tr.level,
                tr.zone_id,
            )

    def _log_transitions(self, transitions: list[Transition]) -> None:
        for tr in transitions:
            self.metrics.incidents.labels(self.id, tr.zone_id, tr.event, tr.level).inc()
            log.warning(
                "incident event=%s level=%s camera=%s zone=%s zone_file_hash=%s track=%d "
                "body_part=%r distance=%.3f closing_speed=%.3f ttc_s=%s latency_s=%.3f "
                "incident=%s%s",
                tr.event,
                tr.level,
                tr.camera,
                tr.zone_id,
                tr.zone_file_hash,
                tr.track_id,
                tr.body_part,
                tr.distance,
                tr.closing_speed,
                "none" if tr.ttc_s is None else f"{tr.ttc_s:.2f}",
                tr.latency_s or 0.0,
                tr.incident_id,
                f" reason={tr.reason}" if tr.reason else "",
            )

    # -- status ---------------------------------------------------------------------

    def state(self) -> CameraState:
        now = time.monotonic()
        setup = self.pipeline.setup
        opened: dict[str, int] = {}
        for inc in self.pipeline.incidents.open_incidents():
            opened[inc.level] = opened.get(inc.level, 0) + 1
        return CameraState(
            id=self.id,
            source=self.source.status(),
            processed_age_s=None if self._processed_at is None else now - self._processed_at,
            processed_fps=self._fps,
            armed=setup.arming.armed(time.time()),
            zones=tuple(z.id for z in setup.zones),
            open_incidents=opened,
            stale_after_s=self.camera.stale_after_s,
        )

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
            self.pipeline.zone_states(),
            self.privacy_blur,
            regions=[r.box for r in last.plan.regions] if last.plan else (),
        )


def _is_path(source: str) -> bool:
    from .sources import kind_of

    return kind_of(source) == "file" and not source.startswith("file://")


def setup_for(loaded: LoadedConfig, camera: Camera) -> ZoneSetup:
    return ZoneSetup.build(loaded.zones.get(camera.id, ()), floor_map_for(camera), loaded)
