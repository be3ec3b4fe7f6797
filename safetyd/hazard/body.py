"""Body events in areas: a fall and a man down as incidents, and posture exposure.
Pure, one per camera, clock passed in (the pipeline's ``FrameContext``).

An *area* is a zone-file Feature of kind ``area``. A person is in the area his
box's bottom centre is in (on the floor whether he stands or lies; through the
calibration for areas in metres); the first armed area in file order that holds
him decides his rules: [body], the camera's exceptions, the area's own.

hazard/down.py says when someone fell or is down; each becomes an incident of
its own kind (``fall``, ``man_down``) in that area, at level danger, so that it
goes the way every incident goes: the event record, the snapshot and clip, the
alert routing to the area's ``recipients.danger`` and its escalation chain, MQTT,
the plant outputs mapped to the area, the console. An area's incidents must be
acknowledged (``danger_must_ack`` is always on for areas): a man who got up, or
whom the model lost, may still need someone to come. The incidents end when he
has been up for a second (reason ``up``), when the tracker gives him up
(``track_lost``), when he turns out not to be a person (``phantom``), or when
the area is disarmed or removed.

hazard/exposure.py counts posture exposure per area; exposure is a figure for
ergonomic review, never an alarm.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely

from ..config.body import BodySettings
from ..vision.calibration import FloorMap
from ..vision.tracking import Track
from ..zones.model import Zone
from .down import DownEvent, DownKind, DownSettings, DownWatch
from .exposure import ExposureFrame, ExposureMeter, Sample
from .hazards import Level
from .incidents import FrameContext, IncidentEvent, Transition
from .posture import posture_of


@dataclass(frozen=True)
class AreaWatch:
    """One area and what is watched in it."""

    zone: Zone
    down: DownSettings | None  # None: neither falls nor man down here
    posture: bool

    @classmethod
    def of(cls, zone: Zone, body: BodySettings) -> AreaWatch:
        r = zone.rules
        fall = body.fall if r.fall is None else r.fall
        man_down = body.man_down if r.man_down is None else r.man_down
        after = body.man_down_after_s if r.man_down_after_s is None else r.man_down_after_s
        down = DownSettings(fall=fall, man_down=man_down, man_down_after_s=after)
        posture = body.posture if r.posture is None else r.posture
        return cls(zone, down if fall or man_down else None, posture)


@dataclass(frozen=True)
class BodyFrame:
    transitions: list[Transition]
    exposure: ExposureFrame
    down: Mapping[int, str]  # track id → "fall" | "man_down": who is down now


@dataclass
class _Open:
    id: str
    area: Zone
    kind: str
    opened_wall: float
    x: float
    y: float
    still_s: float | None


@dataclass
class BodyWatch:
    camera: str
    zones: Sequence[Zone]
    body: BodySettings = field(default_factory=BodySettings)
    new_id: Callable[[], str] = field(default=lambda: uuid.uuid4().hex[:16])

    def __post_init__(self) -> None:
        self.downs = DownWatch()
        self.meter = ExposureMeter(self.body.hold_s)
        self._open: dict[tuple[int, str], _Open] = {}
        self.set_areas(self.zones, self.body)

    def set_areas(self, zones: Sequence[Zone], body: BodySettings) -> None:
        """Take zones and [body] rules (the same areas: nothing ends)."""
        self.zones, self.body = tuple(zones), body
        self.meter.hold_s = body.hold_s
        self.areas = tuple(AreaWatch.of(z, body) for z in zones if not z.hazard and z.enabled)

    @property
    def active(self) -> bool:
        return bool(self.areas)

    def apply(
        self, zones: Sequence[Zone], body: BodySettings, ctx: FrameContext
    ) -> list[Transition]:
        """Reloaded zones and [body]; the incidents of areas now gone end."""
        self.set_areas(zones, body)
        ids = {a.zone.id for a in self.areas}
        return [self._close(k, ctx, "zone_removed") for k, o in list(self._open.items())
                if o.area.id not in ids]  # fmt: skip

    def opened(self) -> dict[tuple[int, str], _Open]:
        """(track id, kind) → the open incident (a copy of the table)."""
        return dict(self._open)

    def open_incidents(self) -> list[tuple[str, str]]:
        """(area id, incident id) of the open incidents."""
        return [(o.area.id, o.id) for o in self._open.values()]

    def down_now(self) -> dict[int, str]:
        return {tid: kind for (tid, kind) in sorted(self._open, key=lambda k: k[1] == "man_down")}

    def update(
        self,
        ctx: FrameContext,
        tracks: Sequence[Track],
        armed: Collection[str],
        phantoms: Mapping[int, str],
        standing_at: Callable[[float, float], float | None],
        frame_h: float,
        floor_map: FloorMap | None,
        undecided: Collection[int] = (),
    ) -> BodyFrame:
        """One inferred frame's tracks (all of them: phantoms are left out here, and
        so are tracks not yet judged people, vision/phantoms.py: a still machine part
        must never be a man down while the verdict is out)."""
        out: list[Transition] = []
        for key in [k for k, o in self._open.items() if o.area.id not in armed]:
            out.append(self._close(key, ctx, "disarmed"))
        for key in [k for k in self._open if k[0] in phantoms]:
            out.append(self._close(key, ctx, "phantom"))
        people = [tr for tr in tracks if tr.id not in phantoms and tr.id not in undecided]
        where = self._areas_of(people, armed, floor_map)

        def rules(track: Track) -> DownSettings | None:
            area = where.get(track.id)
            return area.down if area is not None else None

        for ev in self.downs.update(people, ctx.t, standing_at, frame_h, rules):
            out += self._on(ev, where.get(ev.track_id), ctx)
        watched = self.downs.watched()
        for key in [k for k in self._open if k[0] not in watched]:
            out.append(self._close(key, ctx, "track_lost"))
        samples = [
            Sample(tr.id, where[tr.id].zone.id, posture_of(tr.keypoints, tr.visibility))
            for tr in people
            if tr.seen and tr.confirmed and tr.id in where and where[tr.id].posture
        ]
        return BodyFrame(out, self.meter.update(ctx.t, samples), self.down_now())

    def lies_in_area(self, box, floor_map: FloorMap | None) -> bool:  # noqa: ANN001
        """Whether a person with this box would be in an area watched for falls or a man
        down (armed or not: the plausibility filter asks before arming is known)."""
        point = np.array([[(float(box[0]) + float(box[2])) / 2, float(box[3])]])
        watched = [a for a in self.areas if a.down is not None]
        return first_areas(point, watched, floor_map)[0] is not None

    def _areas_of(
        self, tracks: Sequence[Track], armed: Collection[str], floor_map: FloorMap | None
    ) -> dict[int, AreaWatch]:
        areas = [a for a in self.areas if a.zone.id in armed]
        if not areas or not tracks:
            return {}
        pts = np.array([[(t.bbox[0] + t.bbox[2]) / 2, t.bbox[3]] for t in tracks], float)
        held = first_areas(pts, areas, floor_map)
        return {t.id: a for t, a in zip(tracks, held, strict=True) if a is not None}

    def _on(self, ev: DownEvent, area: AreaWatch | None, ctx: FrameContext) -> list[Transition]:
        if ev.kind == DownKind.UP:
            return [self._close(k, ctx, "up") for k in list(self._open) if k[0] == ev.track_id]
        key = (ev.track_id, str(ev.kind))
        if area is None or key in self._open:
            return []
        still = ev.still_s if ev.kind == DownKind.MAN_DOWN else None
        inc = _Open(self.new_id(), area.zone, str(ev.kind), ctx.wall, ev.x, ev.y, still)
        self._open[key] = inc
        return [self._transition(IncidentEvent.OPENED, key, inc, ctx, Level.DANGER)]

    def _close(self, key: tuple[int, str], ctx: FrameContext, reason: str) -> Transition:
        inc = self._open.pop(key)
        return self._transition(IncidentEvent.CLEARED, key, inc, ctx, Level.CLEAR, reason)

    def _transition(
        self,
        event: IncidentEvent,
        key: tuple[int, str],
        inc: _Open,
        ctx: FrameContext,
        level: Level,
        reason: str = "",
    ) -> Transition:
        z = inc.area
        return Transition(
            event=event, incident_id=inc.id, camera=self.camera, zone_id=z.id,
            zone_name=z.name, zone_file=z.file, zone_file_hash=z.file_hash,
            severity=z.severity, units=z.units, track_id=key[0], level=level,
            body_part="trunk", distance=0.0, closing_speed=0.0, ttc_s=None, estimated=False,
            frame=ctx.frame, video_t=ctx.video_t, t=ctx.t, wall=ctx.wall,
            opened_wall=inc.opened_wall, reason=reason, part_x=inc.x, part_y=inc.y,
            kind=inc.kind, still_s=inc.still_s,
        )  # fmt: skip


def first_areas(
    points: np.ndarray, areas: Sequence[AreaWatch], floor_map: FloorMap | None
) -> list[AreaWatch | None]:
    """For each point (a person's box bottom centre, pixels), the first of ``areas`` in
    file order that holds it: the one whose rules are his."""
    floor = floor_map.floor(points) if floor_map is not None else None
    found: list[AreaWatch | None] = [None] * len(points)
    for area in areas:
        p = points if area.zone.units == "pixels" else floor
        if p is None:
            continue  # an area in metres on an uncalibrated camera (check-config says)
        inside = shapely.contains_xy(area.zone.geometry, p[:, 0], p[:, 1])
        for i, hit in enumerate(inside):
            if hit and found[i] is None:
                found[i] = area
    return found
