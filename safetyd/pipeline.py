"""One camera's processing: frame → poses → tracks → assessments → transitions.

The same object runs in the daemon's inference thread and in ``safetyd
replay``, so what a safety engineer tunes on a recording is exactly what runs
on the live camera. It holds no threads and does no network I/O; the only
side effect is the optional snapshot JPEG.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from .arming import AlwaysArmed, Arming
from .calibration import FloorMap
from .config import LoadedConfig
from .gating import MotionGate
from .hazards import Assessment, HazardEngine
from .incidents import FrameContext, IncidentManager, Transition
from .pose import PlausibilityFilter, Pose, PoseEstimator
from .snapshots import SnapshotWriter
from .sources import Frame
from .tracking import Track, Tracker
from .zones import Zone


@dataclass(frozen=True)
class ZoneSetup:
    """Everything that depends on a camera's zone files; swapped whole on reload."""

    zones: tuple[Zone, ...]
    floor_map: FloorMap | None
    engine: HazardEngine
    arming: Arming | AlwaysArmed

    @classmethod
    def build(
        cls,
        zones: Sequence[Zone],
        floor_map: FloorMap | None,
        loaded: LoadedConfig,
        always_armed: bool = False,
    ) -> ZoneSetup:
        cfg = loaded.config
        engine = HazardEngine(
            zones,
            floor_map,
            visibility_threshold=cfg.pose.visibility_threshold,
            clear_margin=cfg.hazards.clear_margin,
            max_ttc_speed=cfg.hazards.max_ttc_speed,
        )
        arming = AlwaysArmed(zones) if always_armed else Arming(zones, cfg.site.timezone)
        return cls(tuple(zones), floor_map, engine, arming)


@dataclass(frozen=True, eq=False)
class FrameResult:
    frame: Frame
    ctx: FrameContext
    inferred: bool
    gate_reason: str
    poses: list[Pose]
    tracks: list[Track]
    assessments: list[Assessment]
    transitions: list[Transition]
    armed: frozenset[str]
    infer_s: float
    total_s: float


def floor_map_for(camera) -> FloorMap | None:
    cal = camera.calibration
    return FloorMap.from_points(cal.image_points, cal.floor_points) if cal else None


class CameraPipeline:
    def __init__(
        self,
        camera: str,
        estimator: PoseEstimator,
        tracker: Tracker,
        plausibility: PlausibilityFilter,
        incidents: IncidentManager,
        setup: ZoneSetup,
        gate: MotionGate | None = None,
        snapshots: SnapshotWriter | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.camera = camera
        self.estimator = estimator
        self.tracker = tracker
        self.plausibility = plausibility
        self.incidents = incidents
        self.setup = setup
        self.gate = gate
        self.snapshots = snapshots
        self._clock = clock
        self.last: FrameResult | None = None

    @classmethod
    def from_config(
        cls,
        loaded: LoadedConfig,
        camera_id: str,
        estimator: PoseEstimator,
        *,
        zones: Sequence[Zone] | None = None,
        always_armed: bool = False,
        snapshots: SnapshotWriter | None = None,
        gate: bool | None = None,
    ) -> CameraPipeline:
        cfg = loaded.config
        cam = cfg.camera(camera_id)
        zones = loaded.zones.get(camera_id, ()) if zones is None else zones
        setup = ZoneSetup.build(zones, floor_map_for(cam), loaded, always_armed)
        use_gate = cfg.motion.enabled if gate is None else gate
        return cls(
            camera=camera_id,
            estimator=estimator,
            tracker=Tracker.from_settings(cfg.tracking, cfg.pose.visibility_threshold),
            plausibility=PlausibilityFilter.from_settings(
                cfg.pose.plausibility, cfg.pose.visibility_threshold
            ),
            incidents=IncidentManager(
                camera=camera_id,
                zones=setup.zones,
                clear_frames=cfg.hazards.clear_frames,
                handover_s=cfg.hazards.handover_s,
                escalate_after_s=cfg.alerts.escalate_after_s,
            ),
            setup=setup,
            gate=MotionGate(cfg.motion.min_changed_frac, cfg.motion.max_skip_s)
            if use_gate
            else None,
            snapshots=snapshots,
        )

    def set_setup(self, setup: ZoneSetup, ctx: FrameContext) -> list[Transition]:
        """Swap zones in between two frames (reload); the tracker keeps its people."""
        self.setup = setup
        return self.incidents.set_zones(setup.zones, ctx)

    def process(self, frame: Frame, t: float) -> FrameResult:
        """Run one frame; ``t`` is the pipeline clock (video time in replay)."""
        start = time.perf_counter()
        setup = self.setup
        decision = self.gate.decide(frame.image, t, self.tracker.alive) if self.gate else None
        inferred = decision is None or decision.infer
        infer_s = 0.0
        poses: list[Pose] = []
        tracks: list[Track] = []
        if inferred:
            t0 = time.perf_counter()
            raw = self.estimator.estimate(frame.image, t)
            infer_s = time.perf_counter() - t0
            poses = self.plausibility.filter(raw, frame.image.shape[0])
            tracks = self.tracker.update(poses, t)
        armed = setup.arming.armed(frame.wall)
        assessments = setup.engine.assess(tracks, armed)
        ctx = FrameContext(self.camera, frame.index, t, frame.video_t, frame.wall)
        transitions = self.incidents.update(ctx, assessments, tracks, armed)
        if transitions:
            latency = self._clock() - frame.mono
            transitions = [self._finish(tr, latency, frame, tracks, setup) for tr in transitions]
        result = FrameResult(
            frame=frame, ctx=ctx, inferred=inferred,
            gate_reason=decision.reason if decision else "ungated",
            poses=poses, tracks=tracks, assessments=assessments, transitions=transitions,
            armed=armed, infer_s=infer_s, total_s=time.perf_counter() - start,
        )  # fmt: skip
        self.last = result
        return result

    def _finish(self, tr: Transition, latency: float, frame: Frame, tracks, setup) -> Transition:
        snap = None
        if self.snapshots and tr.event in ("opened", "escalated"):
            snap = self.snapshots.write(frame.image, tr, setup.zones, tracks, setup.floor_map)
        return replace(tr, latency_s=latency, snapshot=snap)

    def zone_states(self) -> dict[str, str]:
        """zone id → the highest open incident level (for drawing)."""
        states: dict[str, str] = {}
        for inc in self.incidents.open_incidents():
            if states.get(inc.zone.id) != "danger":
                states[inc.zone.id] = inc.level
        return states

    def close(self) -> None:
        self.estimator.close()
