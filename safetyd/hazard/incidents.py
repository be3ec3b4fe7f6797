"""Incidents: turning per-frame assessments into a few meaningful transitions.

One incident per (zone, track) visit: ``opened`` (at warning or danger) →
``escalated`` (warning → danger) → ``cleared``. Alerts are made from these
transitions, never from raw per-frame levels. What happens when nobody answers
(the escalation chain, acknowledgement) is the alert lifecycle's
(safetyd/hazard/lifecycle.py): it runs on wall time across restarts, not per frame.

Pure, clock injected: ``update()`` gets the frame's times and returns the
transitions; there are no threads and no wall-clock reads here.

The rules, and why:

* **Debounce**: a level must hold for the zone's ``min_frames`` consecutive
  frames before it opens or escalates an incident (one noisy frame is not a
  person in a press).
* **Hysteresis**: an incident clears only after ``clear_frames`` frames in
  which the person is *seen* and is beyond ``warn_distance × (1 +
  clear_margin)`` and not predicted to reach the zone within ``warn_ttc_s ×
  (1 + clear_margin)``. Frames where the person is not detected change nothing,
  so detection gaps cannot flicker an incident.
* **Cooldown folds messages, never the assessment**: every approach opens its
  incident at its level. A *warning* incident opened within ``cooldown_s`` after
  the same (zone, track) cleared, or by a track that first appeared after the
  zone's last incident opened (the same person under a new id after an id
  switch) while that zone cools down, is marked ``folded = "cooldown"``: it is
  recorded, shown and published like any other, but sends no SMS (routing), and
  the log says so. **Danger is never folded**.
* **Handover**: when a track disappears while its incident is open, a new
  track in the same zone within ``handover_s``, seen where the old one was last
  seen and about as big, inherits the incident instead of opening a second
  one; otherwise it clears with reason ``track_lost``. A track that was seen
  while the old one still was (first seen before he was last seen) is somebody
  else, never his heir: the model's "person" in the pixels a worker is walking
  out of does not take over his incident.
* **Phantoms**: a track judged not to be a person (vision/phantoms.py) opens
  nothing, and an incident it opened before the verdict clears with reason
  ``phantom``; nobody inherits it.
* **Confirmation**: frames of a track not yet confirmed count towards
  ``min_frames``, but nothing opens before it is confirmed.
* A zone that is disarmed (schedule) clears its incidents with reason
  ``disarmed``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np

from ..vision import boxes
from ..vision.tracking import Track
from ..zones.model import Zone
from .hazards import RANK, Assessment, Level

if TYPE_CHECKING:
    from ..assembly.settings import LiveSettings


# A track's first sighting is computed as now minus its age: equal times may differ by
# rounding.
BIRTH_SLACK_S = 1e-6


class IncidentEvent(StrEnum):
    OPENED = "opened"
    ESCALATED = "escalated"
    CLEARED = "cleared"


@dataclass(frozen=True)
class FrameContext:
    camera: str
    frame: int
    t: float  # the pipeline's clock: video time in replay, monotonic capture time live
    video_t: float  # seconds from the start of the video / stream
    wall: float  # wall-clock capture time (epoch seconds)


@dataclass(frozen=True)
class Transition:
    event: IncidentEvent
    incident_id: str
    camera: str
    zone_id: str
    zone_name: str
    zone_file: str
    zone_file_hash: str
    severity: str
    units: str
    track_id: int
    level: Level  # the incident's level after this transition ("clear" when cleared)
    body_part: str
    distance: float
    closing_speed: float
    ttc_s: float | None
    estimated: bool
    frame: int
    video_t: float
    t: float
    wall: float
    opened_wall: float
    reason: str = ""  # for cleared: clear | track_lost | disarmed | zone_removed | phantom
    folded: str = ""  # for a warning opened while its zone cools down: "cooldown" (no SMS)
    # Where the deciding part was in the picture (pixels), and, when it was estimated,
    # how (bodyparts.Fallback: "bbox_bottom_centre", ...).
    part_x: float | None = None
    part_y: float | None = None
    estimate: str = ""
    latency_s: float | None = None  # capture → decision, filled in by the pipeline
    snapshot: str | None = None  # filled in by the pipeline
    # "hazard" (a zone's incident), or a body event in an area: "fall", "man_down"
    # (hazard/body.py; for those the zone is the area and the part the trunk).
    kind: str = "hazard"
    still_s: float | None = None  # man_down: how long he had lain still


@dataclass
class _Pending:
    frames: int = 0
    danger_frames: int = 0


@dataclass
class _Incident:
    id: str
    zone: Zone
    track_id: int
    level: Level
    last: Assessment
    opened_t: float
    opened_wall: float
    clear_frames: int = 0
    danger_frames: int = 0
    orphaned_at: float | None = None
    last_box: np.ndarray | None = None  # where its person was last seen
    last_seen_t: float = float("-inf")  # ... and when


@dataclass
class IncidentManager:
    """Per-camera incident state machine."""

    camera: str
    zones: Sequence[Zone]
    clear_frames: int = 5
    handover_s: float = 2.0
    new_id: Callable[[], str] = field(default=lambda: uuid.uuid4().hex[:16])

    def __post_init__(self) -> None:
        self._zones = {z.id: z for z in self.zones}
        self._pending: dict[tuple[str, int], _Pending] = {}
        self._open: dict[tuple[str, int], _Incident] = {}
        self._pair_cooldown: dict[tuple[str, int], float] = {}
        self._zone_cooldown: dict[str, tuple[float, float]] = {}  # until, last opened
        self._births: dict[int, float] = {}

    # -- public -----------------------------------------------------------------

    def open_incidents(self) -> list[_Incident]:
        return list(self._open.values())

    def apply(self, live: LiveSettings, ctx: FrameContext) -> list[Transition]:
        """Take reloaded live settings: the incident rules, and the zones (see set_zones)."""
        self.clear_frames = live.hazards.clear_frames
        self.handover_s = live.hazards.handover_s
        return self.set_zones(live.zones, ctx)

    def set_zones(self, zones: Sequence[Zone], ctx: FrameContext) -> list[Transition]:
        """Swap in reloaded zones; incidents of removed zones clear, others keep going."""
        new = {z.id: z for z in zones}
        out = []
        for key, inc in list(self._open.items()):
            if key[0] not in new:
                out.append(self._close(key, ctx, "zone_removed"))
            else:
                inc.zone = new[key[0]]
        self.zones, self._zones = tuple(zones), new
        self._pending = {k: v for k, v in self._pending.items() if k[0] in new}
        return out

    def update(
        self,
        ctx: FrameContext,
        assessments: Iterable[Assessment],
        tracks: Sequence[Track],
        armed: Iterable[str] | None = None,
        phantoms: Mapping[int, str] | None = None,
        undecided: Collection[int] = (),
    ) -> list[Transition]:
        """``phantoms``: tracks judged not to be people (vision/phantoms.py), with why;
        ``undecided``: tracks not yet judged, which open nothing for now (their frames
        count towards the debounce, as a tentative track's do)."""
        armed_ids = set(self._zones) if armed is None else set(armed)
        phantoms = phantoms or {}
        by_key = {(a.zone_id, a.track_id): a for a in assessments if a.track_id not in phantoms}
        live = {t.id for t in tracks}
        seen = {t.id for t in tracks if t.seen and t.confirmed}
        tentative = {t.id for t in tracks if not t.confirmed} | set(undecided)
        boxes = {t.id: t.bbox for t in tracks if t.seen}
        for t in tracks:
            self._births.setdefault(t.id, ctx.t - t.age_s)
        out: list[Transition] = []

        for key in [k for k in self._open if k[0] not in armed_ids]:
            out.append(self._close(key, ctx, "disarmed"))
        # A phantom never owns an incident: it closes, and nobody inherits it.
        for key in [k for k in self._open if k[1] in phantoms]:
            out.append(self._close(key, ctx, "phantom"))

        for key, inc in list(self._open.items()):
            if key[1] in seen:
                out.extend(self._advance(key, inc, by_key.get(key), ctx))
            elif key[1] in live:
                inc.orphaned_at = None  # briefly undetected: hold, never flicker
            else:
                inc.orphaned_at = ctx.t if inc.orphaned_at is None else inc.orphaned_at
                if ctx.t - inc.orphaned_at >= self.handover_s:
                    out.append(self._close(key, ctx, "track_lost"))

        for key, a in by_key.items():
            if key in self._open or key[0] not in armed_ids or RANK[a.level] == 0:
                continue
            if key[1] in tentative:
                # Not yet a person: count the frame towards the debounce, open nothing.
                self._count(key, a)
                continue
            born = self._births.get(key[1], float("-inf"))
            heir_of = self._adoptable(key[0], seen, boxes.get(key[1]), born)
            if heir_of is not None:
                out.extend(self._adopt(heir_of, key, a, ctx))
                continue
            opened = self._open_if_due(key, a, ctx)
            if opened:
                out.append(opened)
        # Debounce counts consecutive frames: a pair seen clear starts over, a
        # pair whose person was not detected this frame keeps its count.
        self._pending = {
            k: v
            for k, v in self._pending.items()
            if (k in by_key and RANK[by_key[k].level] > 0) or (k[1] in live and k[1] not in seen)
        }
        self._births = {k: v for k, v in self._births.items() if k in live}
        for key, inc in self._open.items():
            if key[1] in boxes:
                inc.last_box, inc.last_seen_t = boxes[key[1]], ctx.t
        return out

    # -- internals --------------------------------------------------------------

    def _advance(self, key, inc: _Incident, a: Assessment | None, ctx) -> list[Transition]:
        if a is None or (a.level == Level.CLEAR and not a.held):
            inc.clear_frames += 1
            inc.danger_frames = 0
            if inc.clear_frames >= self.clear_frames:
                return [self._close(key, ctx, "clear")]
            return []
        inc.clear_frames = 0
        inc.last = a
        if a.level == Level.DANGER:
            inc.danger_frames += 1
            if inc.level == Level.WARNING and inc.danger_frames >= inc.zone.min_frames:
                inc.level = Level.DANGER
                return [self._transition(IncidentEvent.ESCALATED, inc, a, ctx)]
        else:
            inc.danger_frames = 0
        return []

    def _count(self, key, a: Assessment) -> _Pending:
        p = self._pending.setdefault(key, _Pending())
        p.frames += 1
        p.danger_frames = p.danger_frames + 1 if a.level == Level.DANGER else 0
        return p

    def _open_if_due(self, key, a: Assessment, ctx: FrameContext) -> Transition | None:
        if RANK[a.level] == 0:
            return None
        zone = self._zones[key[0]]
        p = self._count(key, a)
        if p.frames < zone.min_frames:
            return None
        level = Level.DANGER if p.danger_frames >= zone.min_frames else Level.WARNING
        folded = "cooldown" if level == Level.WARNING and self._cooling(key, ctx) else ""
        del self._pending[key]
        inc = _Incident(
            id=self.new_id(),
            zone=zone,
            track_id=key[1],
            level=level,
            last=a,
            opened_t=ctx.t,
            opened_wall=ctx.wall,
        )
        self._open[key] = inc
        until, _ = self._zone_cooldown.get(zone.id, (0.0, 0.0))
        self._zone_cooldown[zone.id] = (until, ctx.t)
        return replace(self._transition(IncidentEvent.OPENED, inc, a, ctx), folded=folded)

    def _cooling(self, key, ctx: FrameContext) -> bool:
        if ctx.t < self._pair_cooldown.get(key, float("-inf")):
            return True
        until, last_opened = self._zone_cooldown.get(key[0], (float("-inf"), 0.0))
        born = self._births.get(key[1], float("-inf"))
        return ctx.t < until and born >= last_opened

    def _adoptable(
        self, zone_id: str, seen: set[int], box: np.ndarray | None, born: float
    ) -> tuple[str, int] | None:
        """An open incident in this zone whose person is no longer detected, last seen
        where this new track is and about as big, before this track was first seen:
        the same person under a new id. Anyone else (another worker, a person where
        a phantom stood, or a "person" the model found while he was still seen)
        opens an incident of his own."""
        for key, inc in self._open.items():
            if (
                key[0] == zone_id
                and key[1] not in seen
                and born > inc.last_seen_t + BIRTH_SLACK_S
                and _same_place(inc.last_box, box)
            ):
                return key
        return None

    def _adopt(self, old, new, a: Assessment, ctx: FrameContext) -> list[Transition]:
        """A new track id continues the incident of a lost one (an id switch)."""
        inc = self._open.pop(old)
        inc.track_id, inc.orphaned_at = new[1], None
        self._open[new] = inc
        self._pending.pop(new, None)
        return self._advance(new, inc, a, ctx)

    def _close(self, key, ctx: FrameContext, reason: str) -> Transition:
        """Close an incident. Reasons: clear, track_lost, disarmed, zone_removed,
        phantom (its "person" was judged a machine part or another non-person)."""
        inc = self._open.pop(key)
        self._pair_cooldown[key] = ctx.t + inc.zone.cooldown_s
        _, last_opened = self._zone_cooldown.get(key[0], (0.0, inc.opened_t))
        self._zone_cooldown[key[0]] = (ctx.t + inc.zone.cooldown_s, last_opened)
        inc.level = Level.CLEAR
        return self._transition(IncidentEvent.CLEARED, inc, inc.last, ctx, reason)

    def _transition(
        self,
        event: IncidentEvent,
        inc: _Incident,
        a: Assessment,
        ctx: FrameContext,
        reason: str = "",
    ) -> Transition:
        z = inc.zone
        return Transition(
            event=event,
            incident_id=inc.id,
            camera=self.camera,
            zone_id=z.id,
            zone_name=z.name,
            zone_file=z.file,
            zone_file_hash=z.file_hash,
            severity=z.severity,
            units=z.units,
            track_id=inc.track_id,
            level=inc.level,
            body_part=a.body_part,
            distance=a.distance,
            closing_speed=a.closing_speed,
            ttc_s=a.ttc_s,
            estimated=a.estimated,
            frame=ctx.frame,
            video_t=ctx.video_t,
            t=ctx.t,
            wall=ctx.wall,
            opened_wall=inc.opened_wall,
            reason=reason,
            part_x=a.part_x,
            part_y=a.part_y,
            estimate=str(z.fallback) if a.estimated else "",
        )


def _same_place(old: np.ndarray | None, new: np.ndarray | None) -> bool:
    """Two boxes of one person: centres within a body height, sizes within 2x."""
    if old is None or new is None:
        return True  # nothing to compare (no box recorded): the old rule
    if not 0.5 <= boxes.height(new) / boxes.height(old) <= 2.0:
        return False
    return float(np.hypot(*(boxes.centre(old) - boxes.centre(new)))) <= boxes.height(old)
