"""Drawing zones and people on frames: previews, annotated replays, snapshots.

Everything here draws on a copy-free BGR numpy image in place and returns it;
callers decide when to copy. Zones in metres are mapped into the image through
the camera's floor calibration, densified first so that straight floor edges
stay correct after the perspective mapping.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

import cv2
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from ..base.bodyparts import GROUPS, SKELETON
from ..vision.calibration import FloorMap, image_rings

BGR = tuple[int, int, int]
LEVEL_COLOURS: dict[str, BGR] = {
    "clear": (80, 200, 80),
    "armed": (0, 200, 255),
    "disarmed": (160, 160, 160),
    "warning": (0, 165, 255),
    "danger": (0, 0, 255),
}
WARN_BUFFER_COLOUR: BGR = (0, 220, 255)
AREA_COLOUR: BGR = (230, 160, 60)  # areas watched for falls and posture: not a hazard
FONT = cv2.FONT_HERSHEY_SIMPLEX


def _poly(img: np.ndarray, rings: Sequence[np.ndarray], colour: BGR, thickness: int) -> None:
    pts = [np.round(r).astype(np.int32) for r in rings if np.all(np.isfinite(r))]
    if pts:
        cv2.polylines(
            img, pts, isClosed=True, color=colour, thickness=thickness, lineType=cv2.LINE_AA
        )


def draw_zone(
    img: np.ndarray,
    geometry: BaseGeometry,
    label: str,
    warn_distance: float,
    floor_map: FloorMap | None = None,
    state: str = "armed",
    area: bool = False,
) -> np.ndarray:
    """A hazard zone filled in its state's colour, with its warn buffer; an area
    (watched for falls and posture) outlined only, in the area colour until a man is
    down in it."""
    colour = LEVEL_COLOURS.get(state, LEVEL_COLOURS["armed"])
    if area and state not in ("danger", "disarmed"):
        colour = AREA_COLOUR
    # A ring with a point that has no image position cannot be drawn (see
    # in_front_of_camera, which cuts floor zones so that this does not happen).
    rings = [r for r in image_rings(geometry, floor_map) if np.all(np.isfinite(r))]
    if not rings:
        return img
    if not area or state == "danger":
        overlay = img.copy()
        exterior_pts = [np.round(r).astype(np.int32) for r in rings]
        cv2.fillPoly(overlay, exterior_pts, colour, lineType=cv2.LINE_AA)
        alpha = 0.35 if state in ("warning", "danger") else 0.2
        cv2.addWeighted(overlay, alpha, img, 1 - alpha, 0, dst=img)
    _poly(img, rings, colour, 2)
    if warn_distance > 0:
        _poly(img, image_rings(geometry.buffer(warn_distance), floor_map), WARN_BUFFER_COLOUR, 1)
    anchor = rings[0][np.argmin(rings[0][:, 1])]
    put_label(img, label, (int(anchor[0]), int(anchor[1]) - 6), colour)
    return img


def put_label(
    img: np.ndarray, text: str, org: tuple[int, int], colour: BGR, scale: float = 0.45
) -> None:
    h, w = img.shape[:2]
    (tw, th), base = cv2.getTextSize(text, FONT, scale, 1)
    x = int(min(max(org[0], 0), max(w - tw - 2, 0)))
    y = int(min(max(org[1], th + 2), h - base - 1))
    cv2.rectangle(img, (x - 1, y - th - 2), (x + tw + 1, y + base), (0, 0, 0), -1)
    cv2.putText(img, text, (x, y), FONT, scale, colour, 1, cv2.LINE_AA)


def draw_person(
    img: np.ndarray,
    keypoints: np.ndarray,
    visibility: np.ndarray,
    label: str,
    colour: BGR = (255, 200, 0),
    threshold: float = 0.5,
) -> np.ndarray:
    """Skeleton of one person: edges between visible landmarks, and a label."""
    seen = (visibility >= threshold) & np.all(np.isfinite(keypoints), axis=1)
    pts = np.round(np.nan_to_num(keypoints)).astype(np.int32)
    for a, b in SKELETON:
        if seen[a] and seen[b]:
            cv2.line(img, tuple(pts[a]), tuple(pts[b]), colour, 2, cv2.LINE_AA)
    for i in np.flatnonzero(seen):
        cv2.circle(img, tuple(pts[i]), 3, colour, -1, cv2.LINE_AA)
    if seen.any():
        top = pts[seen][np.argmin(pts[seen][:, 1])]
        put_label(img, label, (int(top[0]) - 10, int(top[1]) - 10), colour)
    return img


REGION_COLOUR: BGR = (200, 160, 40)


def draw_regions(img: np.ndarray, boxes: Sequence[tuple[int, int, int, int]], label: str) -> None:
    """Where the pose model looked: thin boxes, so zones and people stay readable."""
    h, w = img.shape[:2]
    for x0, y0, x1, y1 in boxes:
        if (x0, y0, x1, y1) == (0, 0, w, h):
            continue  # the whole frame: nothing to show
        cv2.rectangle(img, (x0, y0), (x1 - 1, y1 - 1), REGION_COLOUR, 1, cv2.LINE_4)
        put_label(img, label, (x0 + 2, y1 - 4), REGION_COLOUR, scale=0.35)


def draw_lost(img: np.ndarray, bbox: np.ndarray, label: str) -> None:
    """A track the model does not see this frame: its predicted box, thin and grey."""
    if not np.all(np.isfinite(bbox)):
        return
    x0, y0, x1, y1 = (int(round(v)) for v in bbox)
    cv2.rectangle(img, (x0, y0), (x1, y1), (150, 150, 150), 1, cv2.LINE_AA)
    put_label(img, label, (x0 + 2, max(y0 - 4, 10)), (150, 150, 150))


def blur_faces(img: np.ndarray, tracks: Iterable, motion: bool | None = False) -> np.ndarray:
    """Hide faces (``[privacy] blur_faces``): a promise, so it errs on the safe side.

    * Every tracked person's head is hidden, seen in this frame or not: a coasting
      track's head is where it was last seen (its predicted landmarks), with a wider
      margin; without head landmarks, the top of the person's box.
    * A frame with motion but nobody seen (the model missed someone, or has not
      found him yet), or where motion is unknown (``None``: gating off), is hidden
      whole: nothing in it can be told to be a face or not.

    Hidden means pixelated, not softened: a Gaussian blur of a large face can leave
    it recognisable."""
    h, w = img.shape[:2]
    tracks = list(tracks)
    if motion is not False and not any(t.seen for t in tracks):
        _mosaic(img, 0, 0, w, h, max(8, w // 48))
        return img
    for t in tracks:
        centre, span = _head(t)
        if centre is None:
            continue
        r = int(max(span, 12.0) * (1.0 if t.seen else 1.6))
        cx, cy = int(centre[0]), int(centre[1])
        x0, y0 = max(cx - r, 0), max(cy - int(r * 1.3), 0)
        x1, y1 = min(cx + r, w), min(cy + int(r * 1.3), h)
        if x1 <= x0 or y1 <= y0:
            continue
        _mosaic(img, x0, y0, x1, y1, max(4, r // 3))
    return img


def _head(track, threshold: float = 0.3) -> tuple[np.ndarray | None, float]:
    """Where a person's head is and how wide, from the landmarks we trust most."""
    kp, vis = track.keypoints, track.visibility
    head = np.array(GROUPS["head"])
    finite = head[np.all(np.isfinite(kp[head]), axis=1)]
    visible = finite[vis[finite] >= threshold] if track.seen else finite
    pts = kp[visible if len(visible) else finite]
    box = np.asarray(track.bbox, float)
    box_ok = bool(np.all(np.isfinite(box))) and box[2] > box[0] and box[3] > box[1]
    if len(pts):
        centre = np.nanmean(pts, axis=0)
        span = float(np.nanmax(pts[:, 0]) - np.nanmin(pts[:, 0]))
    elif box_ok:
        centre = np.array([(box[0] + box[2]) / 2, box[1] + 0.12 * (box[3] - box[1])])
        span = 0.0
    else:
        return None, 0.0
    shoulders = kp[[11, 12]]
    if np.all(np.isfinite(shoulders)):
        span = max(span, 0.6 * float(np.linalg.norm(shoulders[0] - shoulders[1])))
    if box_ok:
        span = max(span, 0.12 * float(box[3] - box[1]), 0.3 * float(box[2] - box[0]))
    return centre, span


def _mosaic(img: np.ndarray, x0: int, y0: int, x1: int, y1: int, block: int) -> None:
    roi = img[y0:y1, x0:x1]
    rh, rw = roi.shape[:2]
    small = cv2.resize(
        roi, (max(1, rw // block), max(1, rh // block)), interpolation=cv2.INTER_AREA
    )
    roi[:] = cv2.resize(small, (rw, rh), interpolation=cv2.INTER_NEAREST)


def draw_zones(
    img: np.ndarray,
    zones: Iterable,
    floor_map: FloorMap | None = None,
    states: Mapping[str, str] | None = None,
) -> np.ndarray:
    """Draw every zone (safetyd.zones.Zone) with its warn buffer and a label."""
    states = states or {}
    for zone in zones:
        state = states.get(zone.id, "armed" if zone.enabled else "disarmed")
        area = getattr(zone, "kind", "hazard") == "area"
        label = f"{zone.name} [area]" if area else f"{zone.name} [{','.join(zone.body_parts)}]"
        draw_zone(
            img,
            zone.geometry,
            label,
            zone.warn_distance,
            floor_map if zone.units == "metres" else None,
            state,
            area,
        )
    return img


class Explained(Protocol):
    """What decided a level: an assessment of this frame, or an incident transition."""

    @property
    def zone_id(self) -> str: ...
    @property
    def level(self) -> str: ...
    @property
    def body_part(self) -> str: ...
    @property
    def estimated(self) -> bool: ...
    @property
    def distance(self) -> float: ...
    @property
    def ttc_s(self) -> float | None: ...
    @property
    def part_x(self) -> float | None: ...
    @property
    def part_y(self) -> float | None: ...


ESTIMATE_COLOUR: BGR = (255, 0, 255)  # magenta: nothing else is drawn in it


def outline_point(zone, floor_map: FloorMap | None, x: float, y: float) -> np.ndarray | None:
    """The point of the zone's outline nearest to the picture point (x, y), in picture
    pixels (for a zone in metres, nearest on the floor, mapped back)."""
    metres = zone.units == "metres"
    if metres and floor_map is None:
        return None
    here = floor_map.floor(np.array([[x, y]]))[0] if metres and floor_map else np.array([x, y])
    if not np.all(np.isfinite(here)):
        return None
    nearest = shapely.get_coordinates(
        shapely.shortest_line(zone.geometry.boundary, shapely.Point(here))
    )[0]
    return floor_map.image(nearest[None])[0] if metres and floor_map else nearest


def draw_contact(img: np.ndarray, why: Explained, zone, floor_map: FloorMap | None) -> None:
    """Why a level was raised: the deciding body part (a ring; an estimated one, which
    no landmark showed, a magenta diamond), a line to the nearest point of the zone
    when outside, and the part, distance and time to contact."""
    if why.part_x is None or why.part_y is None or not np.isfinite([why.part_x, why.part_y]).all():
        return
    colour = LEVEL_COLOURS.get(str(why.level), LEVEL_COLOURS["warning"])
    p = np.array([why.part_x, why.part_y])
    at = tuple(int(round(v)) for v in p)
    edge = outline_point(zone, floor_map, *p) if why.distance > 0 else None
    if edge is not None and np.all(np.isfinite(edge)):
        to = tuple(int(round(v)) for v in edge)
        cv2.line(img, at, to, colour, 1, cv2.LINE_AA)
        cv2.circle(img, to, 3, colour, -1, cv2.LINE_AA)
    if why.estimated:
        r = 9
        diamond = np.array([[at[0], at[1] - r], [at[0] + r, at[1]], [at[0], at[1] + r],
                            [at[0] - r, at[1]]], dtype=np.int32)  # fmt: skip
        cv2.polylines(img, [diamond], True, ESTIMATE_COLOUR, 2, cv2.LINE_AA)
        cv2.drawMarker(img, at, colour, cv2.MARKER_CROSS, 8, 1, cv2.LINE_AA)
    else:
        cv2.circle(img, at, 8, colour, 2, cv2.LINE_AA)
    units = "m" if zone.units == "metres" else "px"
    text = why.body_part.replace("_", " ").replace("(estimated)", "(est.)")
    if why.distance <= 0:
        text += " inside"
    else:
        text += f" {why.distance:.1f}{units}" if units == "m" else f" {why.distance:.0f}{units}"
        if why.ttc_s is not None:
            text += f" {why.ttc_s:.1f}s"
    put_label(img, text, (at[0] + 11, at[1] + 4), ESTIMATE_COLOUR if why.estimated else colour)


def draw_contacts(
    img: np.ndarray, reasons: Iterable[Explained], zones: Sequence, floor_map: FloorMap | None
) -> None:
    """draw_contact for each warning or danger among ``reasons``."""
    by_id = {z.id: z for z in zones}
    for why in reasons:
        zone = by_id.get(why.zone_id)
        if zone is not None and str(why.level) in ("warning", "danger"):
            draw_contact(img, why, zone, floor_map if zone.units == "metres" else None)


def zone_preview(
    image: np.ndarray, zones: Sequence, floor_map: FloorMap | None
) -> tuple[bool, list[tuple[int, int, int, int]]]:
    """Draw zones, warn buffers and the regions the pose model would look at with every
    zone armed (before the camera has learned people's sizes) onto ``image``; return
    (whole frame?, the region boxes). ``safetyd zones render`` and the zone editor."""
    from ..vision import regions as regionplan
    from ..vision.sizes import Heights

    h, w = image.shape[:2]
    plan = regionplan.plan(zones, {z.id for z in zones}, (w, h), Heights(floor_map), floor_map)
    boxes = [r.box for r in plan.regions]
    draw_regions(image, boxes, "region")
    draw_zones(image, zones, floor_map)
    return plan.full_frame, boxes
