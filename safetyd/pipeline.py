"""One camera's processing: frame → regions → poses → tracks → phantoms →
assessments → transitions.

The same object runs in the daemon's inference thread and in ``safetyd
replay``, so what a safety engineer tunes on a recording is exactly what runs
on the live camera. It holds no threads and does no network I/O; the only
side effect is the optional snapshot JPEG.

Per inferred frame: the regions around the armed zones are planned (kept
while zones, arming and the camera's knowledge of people's sizes stay the
same), the pose model runs on each region (vision/regional.py), the poses are
filtered and merged, tracked, and tracks that are not people are judged
phantoms (vision/phantoms.py). Confirmed, moving people teach the camera how
tall a person is where (vision/sizes.py), which sizes the regions and
condemns phantoms.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace

from .arming import AlwaysArmed, Arming
from .calibration import FloorMap
from .config import LoadedConfig
from .gating import GateDecision, MotionGate
from .hazards import Assessment, HazardEngine
from .incidents import FrameContext, IncidentManager, Transition
from .pose import PlausibilityFilter, Pose, PoseEstimator
from .snapshots import SnapshotWriter
from .sources import Frame
from .tracking import Track, Tracker, box_iou
from .vision import regions as regionplan
from .vision.phantoms import PhantomJudge
from .vision.regional import Expected, RegionalEstimator
from .vision.regions import RegionPlan
from .vision.sizes import Heights, LearnedHeights, Sighting, feet_point, upright_height
from .zones import Zone

REPLAN_S = 5.0  # how often the regions are re-planned as the camera learns sizes
LEARN_EVERY_S = 0.2  # one size sample per person this often, at most
SAME_BOX = 0.85  # a re-planned region this close (IoU) to the old one is the old one
FOLLOW_FOR_S = 0.5  # a person missed by the regions is looked for this long on his own


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
    plan: RegionPlan | None = None
    calls: int = 0  # pose model calls this frame (one per region, plus context)
    phantoms: Mapping[int, str] = field(default_factory=dict)


def floor_map_for(camera) -> FloorMap | None:
    cal = camera.calibration
    return FloorMap.from_points(cal.image_points, cal.floor_points) if cal else None


class CameraPipeline:
    def __init__(
        self,
        camera: str,
        estimator: RegionalEstimator,
        tracker: Tracker,
        plausibility: PlausibilityFilter,
        incidents: IncidentManager,
        setup: ZoneSetup,
        heights: Heights,
        judge: PhantomJudge,
        regions: str | list = "auto",
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
        self.heights = heights
        self.judge = judge
        self.regions_mode = regions
        self.gate = gate
        self.snapshots = snapshots
        self._clock = clock
        self._plan: RegionPlan | None = None
        self._plan_key: tuple | None = None
        self._planned_at = float("-inf")
        self._phantoms: dict[int, str] = {}
        self._undecided: set[int] = set()  # still and too young to judge (no incident yet)
        self._learned_at: dict[int, float] = {}
        self._gate_box: tuple | None = None

    @classmethod
    def from_config(
        cls,
        loaded: LoadedConfig,
        camera_id: str,
        make_estimator: Callable[[], PoseEstimator],
        *,
        zones: Sequence[Zone] | None = None,
        always_armed: bool = False,
        snapshots: SnapshotWriter | None = None,
        gate: bool | None = None,
        learned: LearnedHeights | None = None,
    ) -> CameraPipeline:
        cfg = loaded.config
        cam = cfg.camera(camera_id)
        zones = loaded.zones.get(camera_id, ()) if zones is None else zones
        floor_map = floor_map_for(cam)
        setup = ZoneSetup.build(zones, floor_map, loaded, always_armed)
        use_gate = cfg.motion.enabled if gate is None else gate
        return cls(
            camera=camera_id,
            estimator=RegionalEstimator(make_estimator, cfg.pose.context_every_s),
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
            heights=Heights(floor_map, learned),
            judge=PhantomJudge(cfg.pose.visibility_threshold),
            regions=cam.regions,
            gate=MotionGate(cfg.motion.min_changed_frac, cfg.motion.max_skip_s)
            if use_gate
            else None,
            snapshots=snapshots,
        )

    def set_setup(self, setup: ZoneSetup, ctx: FrameContext) -> list[Transition]:
        """Swap zones in between two frames (reload); the tracker keeps its people."""
        self.setup = setup
        self._plan_key = None  # the regions follow the zones
        return self.incidents.set_zones(setup.zones, ctx)

    # -- regions --------------------------------------------------------------------

    def regions(self, armed: Collection[str], frame_size: tuple[int, int], t: float) -> RegionPlan:
        """Where to look in this frame: planned again when the armed zones or the
        frame change, and every REPLAN_S as the camera learns people's sizes; a plan
        that comes out (nearly) the same keeps the old regions and their models."""
        key = (frozenset(armed), frame_size, id(self.setup))
        if self._plan is not None and key == self._plan_key and t - self._planned_at < REPLAN_S:
            return self._plan
        mode = self.regions_mode
        if mode == "full":
            new = regionplan.full(frame_size)
        elif isinstance(mode, list):
            new = regionplan.manual(mode, frame_size)
        else:
            new = regionplan.plan(
                self.setup.zones, armed, frame_size, self.heights, self.setup.floor_map
            )
        if not (key == self._plan_key and _same_plan(self._plan, new)):
            self._plan = new
        self._plan_key, self._planned_at = key, t
        assert self._plan is not None
        return self._plan

    # -- one frame ----------------------------------------------------------------------

    def process(self, frame: Frame, t: float) -> FrameResult:
        """Run one frame; ``t`` is the pipeline clock (video time in replay)."""
        start = time.perf_counter()
        setup = self.setup
        armed = setup.arming.armed(frame.wall)
        h, w = frame.image.shape[:2]
        plan = self.regions(armed, (w, h), t) if armed else None  # nothing armed: no cost
        decision = self._gate(frame, t, plan)
        infer_s = 0.0
        calls = 0
        poses: list[Pose] = []
        tracks: list[Track] = []
        looked = None
        if plan is not None and plan.regions:
            t0 = time.perf_counter()
            expected = [
                Expected(i, box, confirmed)
                for i, box, confirmed in self.tracker.expected(t, FOLLOW_FOR_S)
                if i not in self._phantoms
            ]
            looked = self.estimator.estimate(
                frame.image, t, plan, expected, regions=decision is None or decision.infer
            )
            infer_s = time.perf_counter() - t0
            calls = looked.calls
        inferred = calls > 0
        if looked is not None and inferred:
            poses = self.plausibility.filter_groups((f.poses, f.crop_height) for f in looked.found)
            tracks = self.tracker.update(poses, t)
            self._judge(tracks, frame, t)
        phantoms = dict(self._phantoms)
        people_tracks = [tr for tr in tracks if tr.id not in phantoms]
        assessments = setup.engine.assess(people_tracks, armed)
        ctx = FrameContext(self.camera, frame.index, t, frame.video_t, frame.wall)
        transitions = self.incidents.update(
            ctx, assessments, tracks, armed, phantoms, undecided=self._undecided
        )
        if transitions:
            latency = self._clock() - frame.mono
            transitions = [self._finish(tr, latency, frame, tracks, setup) for tr in transitions]
        return FrameResult(
            frame=frame, ctx=ctx, inferred=inferred,
            gate_reason=decision.reason if decision else "ungated",
            poses=poses, tracks=tracks, assessments=assessments, transitions=transitions,
            armed=armed, infer_s=infer_s, total_s=time.perf_counter() - start,
            plan=plan, calls=calls, phantoms=phantoms,
        )  # fmt: skip

    def _gate(self, frame: Frame, t: float, plan: RegionPlan | None) -> GateDecision | None:
        """Motion gating on the part of the frame the regions cover: a distant worker
        is a few pixels of a whole 1080p frame, but plenty of his region."""
        if self.gate is None or plan is None or not plan.regions:
            return None
        box = plan.bounds
        if box != self._gate_box:
            self.gate.reset()  # a new picture size: a new background model
            self._gate_box = box
        x0, y0, x1, y1 = box
        people = self.tracker.ids() - set(self._phantoms)
        return self.gate.decide(frame.image[y0:y1, x0:x1], t, bool(people))

    def _judge(self, tracks: list[Track], frame: Frame, t: float) -> None:
        """Phantom verdicts for the tracks seen now (kept for those not seen), and size
        samples from confirmed people who have moved."""
        verdicts = self.judge.update(tracks, frame.image, self.heights)
        self._undecided = {tr.id for tr in tracks if tr.seen and self.judge.undecided(tr)}
        alive = {tr.id for tr in tracks}
        kept = {k: v for k, v in self._phantoms.items() if k in alive}
        for tr in tracks:
            if tr.seen:
                kept.pop(tr.id, None)
        kept.update(verdicts)
        self._phantoms = kept
        self._learned_at = {k: v for k, v in self._learned_at.items() if k in alive}
        vis = self.plausibility.visibility_threshold
        for tr in tracks:
            if not (tr.seen and tr.confirmed and self.judge.live(tr.id)) or tr.id in kept:
                continue
            if t - self._learned_at.get(tr.id, float("-inf")) < LEARN_EVERY_S:
                continue
            height = upright_height(tr.keypoints, tr.visibility, vis)
            feet = feet_point(tr.keypoints, tr.visibility, vis)
            if height is not None and feet is not None:
                self.heights.learned.add(Sighting(tr.id, feet[0], feet[1], height))
                self._learned_at[tr.id] = t

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


def _same_plan(old: RegionPlan | None, new: RegionPlan) -> bool:
    if old is None or len(old.regions) != len(new.regions):
        return False
    return all(
        box_iou(a.box, b.box) >= SAME_BOX and a.kind == b.kind
        for a, b in zip(old.regions, new.regions, strict=True)
    )
