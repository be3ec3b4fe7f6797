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
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from zoneinfo import ZoneInfo

import numpy as np

from .abc import PoseEstimator
from .assembly.settings import CameraSettings, LiveSettings
from .hazard.body import BodyFrame, BodyWatch
from .hazard.hazards import Assessment, HazardEngine
from .hazard.incidents import FrameContext, IncidentManager, Transition
from .hazard.snapshots import SnapshotWriter
from .vision import boxes
from .vision import regions as regionplan
from .vision.calibration import FloorMap
from .vision.gating import GateDecision, MotionGate
from .vision.phantoms import PhantomJudge
from .vision.plausibility import PlausibilityFilter
from .vision.pose import Pose
from .vision.regional import RegionalEstimator
from .vision.regions import MIN_PERSON_PX, RegionPlan
from .vision.sizes import (
    FloorHeights,
    Heights,
    LearnedHeights,
    Sighting,
    feet_point,
    standing_height,
)
from .vision.sources import Frame
from .vision.targets import Expected
from .vision.tracking import Track, Tracker
from .zones.arming import AlwaysArmed, Arming, machine_armed
from .zones.fit import fit_zones
from .zones.model import Zone

REPLAN_S = 5.0  # how often the regions are re-planned as the camera learns sizes
LEARN_EVERY_S = 0.2  # one size sample per person this often, at most
LEARN_STEP = 0.2  # feet this share of his height from the last sample's are a new spot
LEARN_PER_SPOT = 3  # samples per person per spot at most
SAME_BOX = 0.85  # a re-planned region this close (IoU) to the old one is the old one
FOLLOW_FOR_S = 0.5  # a person missed by the regions is looked for this long on his own


@dataclass(frozen=True)
class ZoneSetup:
    """Everything built from a camera's live settings; swapped whole on reload."""

    live: LiveSettings
    engine: HazardEngine
    arming: Arming | AlwaysArmed

    @property
    def zones(self) -> tuple[Zone, ...]:
        return self.live.zones

    @property
    def floor_map(self) -> FloorMap | None:
        return self.live.floor_map

    @classmethod
    def build(
        cls, live: LiveSettings, visibility_threshold: float, always_armed: bool = False
    ) -> ZoneSetup:
        engine = HazardEngine(
            [z for z in live.zones if z.hazard],  # areas are the body watch's (hazard/body.py)
            live.floor_map,
            visibility_threshold=visibility_threshold,
            clear_margin=live.hazards.clear_margin,
            max_ttc_speed=live.hazards.max_ttc_speed,
        )
        arming = AlwaysArmed(live.zones) if always_armed else Arming(live.zones, live.timezone)
        return cls(live, engine, arming)


@dataclass(frozen=True, eq=False)
class FrameResult:
    frame: Frame
    inferred: bool  # the pose model ran on this frame (motion gating may skip it)
    poses: list[Pose]
    tracks: list[Track]
    transitions: list[Transition]
    infer_s: float
    plan: RegionPlan | None = None
    calls: int = 0  # pose model calls this frame (one per region, plus follow-ups)
    phantoms: Mapping[int, str] = field(default_factory=dict)
    motion: bool | None = None  # the motion gate saw change (None: no gate, not known)
    assessments: tuple[Assessment, ...] = ()  # people against the armed zones (why a level)
    body: BodyFrame | None = None  # falls, man down, posture in areas (inferred frames only)


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
        configured_size: tuple[int, int] | None = None,
        body: BodyWatch | None = None,
    ) -> None:
        self.camera = camera
        self.body = body or BodyWatch(camera, setup.zones, setup.live.body)
        self._plausibility = plausibility  # as configured; lying people kept in areas
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
        self._always_armed = isinstance(setup.arming, AlwaysArmed)
        self._plan: RegionPlan | None = None
        self._plan_key: tuple | None = None
        self._planned_at = float("-inf")
        self._phantoms: dict[int, str] = {}
        self._undecided: set[int] = set()  # not yet judged (no incident yet)
        # id → time, feet x, y of his spot, samples there
        self._learned_at: dict[int, tuple[float, float, float, int]] = {}
        self._gate_box: tuple | None = None
        # Do the zones fit the picture (zones/fit.py)? Checked per picture size.
        self.configured_size = configured_size
        self._live = setup.live  # as configured; setup.live may hold scaled zones
        self._fit_size: tuple[int, int] | None = None
        self.size_fault: str | None = None
        self.size_fault_short: str | None = None
        self.size_note: str | None = None
        # Machine states that arm zones (``armed_when``): set by the daemon (plant I/O).
        self.machine: Callable[[str], bool] | None = None
        self._watch_lying()

    @classmethod
    def from_settings(
        cls,
        settings: CameraSettings,
        make_estimator: Callable[..., PoseEstimator],
        *,
        always_armed: bool = False,
        snapshots: SnapshotWriter | None = None,
        gate: bool | None = None,
        learned: LearnedHeights | None = None,
    ) -> CameraPipeline:
        """The pipeline of one camera, from its settings (assembly/settings.py) and nothing
        else: what a reload compares is exactly what the pipeline reads."""
        run, live = settings.run, settings.live
        vis = run.pose.visibility_threshold
        setup = ZoneSetup.build(live, vis, always_armed)
        use_gate = run.motion.enabled if gate is None else gate
        return cls(
            camera=settings.id,
            estimator=RegionalEstimator(make_estimator, run.pose.context_every_s),
            tracker=Tracker.from_settings(run.tracking, vis),
            plausibility=PlausibilityFilter.from_settings(run.pose.plausibility, vis),
            incidents=IncidentManager(
                camera=settings.id,
                zones=live.zones,
                clear_frames=live.hazards.clear_frames,
                handover_s=live.hazards.handover_s,
            ),
            setup=setup,
            heights=Heights(live.floor_map, learned),
            judge=PhantomJudge(vis),
            regions=run.camera.regions,
            gate=MotionGate(run.motion.min_changed_frac, run.motion.max_skip_s)
            if use_gate
            else None,
            snapshots=snapshots,
            configured_size=(
                (run.camera.width, run.camera.height)
                if run.camera.width and run.camera.height
                else None
            ),
        )

    def apply(self, live: LiveSettings, ctx: FrameContext) -> list[Transition]:
        """Swap live settings in between two frames (reload): zones, calibration, the
        hazard and incident rules, the time zone. The tracker keeps its people."""
        setup = ZoneSetup.build(live, self.plausibility.visibility_threshold, self._always_armed)
        self.setup = setup
        self._live, self._fit_size = live, None  # fitted to the picture again
        self.heights.floor = FloorHeights(live.floor_map) if live.floor_map else None
        self._plan_key = None  # the regions follow the zones
        out = self.incidents.apply(live, ctx) + self.body.apply(live.zones, live.body, ctx)
        self._watch_lying()
        return out

    def _watch_lying(self) -> None:
        """Keep lying people as people where falls or men down are watched."""
        lying = any(a.down is not None for a in self.body.areas)
        where = (
            (lambda pose: self.body.lies_in_area(pose.bbox, self.setup.floor_map))
            if lying
            else None
        )
        self.plausibility = replace(self._plausibility, lying_where=where)

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
        h, w = frame.image.shape[:2]
        if (w, h) != self._fit_size:
            self._fit((w, h))
        setup = self.setup
        # Zones that do not fit the picture are not used (the camera reports the fault).
        armed = (
            frozenset()
            if self.size_fault
            else machine_armed(setup.zones, setup.arming.armed(frame.wall), self.machine)
        )
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
                frame.image, t, plan, expected, regions=decision is None or decision.infer,
                movers=movers_of(decision, plan, self.heights),
            )  # fmt: skip
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
        body = None
        if inferred and self.body.active:
            # Only frames the model saw: a frame without tracks is no evidence anyone left.
            body = self.body.update(
                ctx, tracks, armed, phantoms, self.heights.at, h, setup.floor_map, self._undecided
            )
            transitions += body.transitions
        if transitions:
            latency = self._clock() - frame.mono
            transitions = [self._finish(tr, latency, frame, tracks, setup) for tr in transitions]
        motion = None
        if decision is not None and self.gate is not None:
            motion = decision.changed_frac >= self.gate.min_changed_frac
        return FrameResult(
            frame=frame, inferred=inferred, poses=poses, tracks=tracks, transitions=transitions,
            infer_s=infer_s, plan=plan, calls=calls, phantoms=phantoms, motion=motion,
            assessments=tuple(assessments), body=body,
        )  # fmt: skip

    def _fit(self, size: tuple[int, int]) -> None:
        live = self._live
        fit = fit_zones(live.zones, self.configured_size, size, live.floor_map is not None)
        self._fit_size = size
        self.size_fault, self.size_fault_short, self.size_note = fit.fault, fit.short, fit.scaled
        if fit.fault is None:
            fitted = live if fit.scaled is None else replace(live, zones=fit.zones)
            if fitted is not self.setup.live:
                vis = self.plausibility.visibility_threshold
                self.setup = ZoneSetup.build(fitted, vis, self._always_armed)
                self.body.set_areas(fitted.zones, fitted.body)  # the same areas, scaled

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
        judged = self.judge.update(tracks, frame.image, self.heights, t)
        verdicts, self._undecided = judged.phantoms, set(judged.undecided)
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
            last = self._learned_at.get(tr.id)
            if last is not None and t - last[0] < LEARN_EVERY_S:
                continue
            height = standing_height(tr.keypoints, tr.visibility, vis)
            feet = feet_point(tr.keypoints, tr.visibility, vis)
            if height is None or feet is None:
                continue
            # A few samples per spot: a person (or a still thing wrongly taken for one)
            # standing for minutes would otherwise outvote everyone who walked past.
            spot, here = feet, 1
            if last is not None and np.hypot(feet[0] - last[1], feet[1] - last[2]) < (
                LEARN_STEP * height
            ):
                if last[3] >= LEARN_PER_SPOT:
                    continue
                spot, here = (last[1], last[2]), last[3] + 1
            self.heights.learned.add(Sighting(tr.id, feet[0], feet[1], height))
            self._learned_at[tr.id] = (t, spot[0], spot[1], here)

    def _finish(self, tr: Transition, latency: float, frame: Frame, tracks, setup) -> Transition:
        snap = None
        if self.snapshots and tr.event in ("opened", "escalated"):
            snap = self.snapshots.write(
                frame.image, tr, setup.zones, tracks, setup.floor_map, ZoneInfo(setup.live.timezone)
            )
        return replace(tr, latency_s=latency, snapshot=snap)

    def zone_states(self) -> dict[str, str]:
        """zone id → the highest open incident level (for drawing)."""
        return {zone: level for zone, (level, _) in self.zone_incidents().items()}

    def zone_incidents(self) -> dict[str, tuple[str, str]]:
        """zone id → (the highest open incident level, that incident's id)."""
        states: dict[str, tuple[str, str]] = {}
        for inc in self.incidents.open_incidents():
            if states.get(inc.zone.id, ("",))[0] != "danger":
                states[inc.zone.id] = (str(inc.level), inc.id)
        for area, incident in self.body.open_incidents():
            states[area] = ("danger", incident)
        return states

    def prepare(self) -> None:
        """Load the pose models before the first frame (see RegionalEstimator.prepare)."""
        self.estimator.prepare()

    def close(self) -> None:
        self.estimator.close()


def _same_plan(old: RegionPlan | None, new: RegionPlan) -> bool:
    if old is None or len(old.regions) != len(new.regions):
        return False
    return all(
        boxes.iou(a.box, b.box) >= SAME_BOX and a.kind == b.kind
        for a, b in zip(old.regions, new.regions, strict=True)
    )


def movers_of(
    decision: GateDecision | None, plan: RegionPlan, heights: Heights
) -> list[np.ndarray]:
    """The motion gate's moving blobs as boxes of a person's size in frame pixels:
    as tall as the blob, or as the people this camera has seen stand where the
    blob's bottom is (a blob can be just the legs or arms that moved)."""
    if decision is None or not decision.movers:
        return []
    x, y = plan.bounds[:2]
    out = []
    for x0, y0, x1, y1 in decision.movers:
        x0, y0, x1, y1 = x0 + x, y0 + y, x1 + x, y1 + y
        tall = max(y1 - y0, heights.at((x0 + x1) / 2, y1) or 0.0)
        if tall < MIN_PERSON_PX:
            continue
        out.append(np.array([x0, y1 - tall, x1, y1]))
    return out
