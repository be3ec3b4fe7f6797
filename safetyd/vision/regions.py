"""Where the pose model looks: regions of the frame around the armed zones.

The model's person detector sees its input shrunk to about 224 px. On a whole
1920×1080 frame a worker 100 px tall becomes 12 px there and is never found;
measured on real footage, the detector finds a person reliably once he is at
least about 0.22 of the long side of the picture it is given (docs/BENCHMARKS.md,
"Scale sweep"). So each camera runs the model on regions of interest:

* each armed zone's image bounds (a floor zone through its calibration),
  grown by an approach margin: ``warn_distance``, plus a standing person's
  height there (so that anyone close enough to matter is wholly inside), plus,
  once sizes are known, how far a brisk walker gets while he is found and
  confirmed (so that he is a confirmed person when he must be warned);
* overlapping regions merged into one;
* a region that covers at least half of the frame, is nearly as large as the
  frame and needs no tiles becomes the whole frame (cropping would save little
  and could cut people at its edges);
* a region still too large for the people in it (its long side more than
  ``SIDE_PER_HEIGHT`` person heights) tiled into square tiles that overlap by
  a person's height, so everyone is wholly inside at least one tile.

A person's height comes from ``sizes.Heights`` (calibration, or learned from
the people this camera has seen). Before anything is known, a pixel zone's
larger side stands in for it (zones are drawn around machines of about a
person's size), but no more than three times its shorter side (a long, shallow
strip is not a person tall); a wrong guess is corrected once people have been seen.
A disarmed zone gets no region; with no zone armed nothing is inferred.

Pure: planning is a function of zones, arming, frame size and heights.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..zones.model import Zone
from .calibration import FloorMap, image_rings
from .sizes import PersonHeights

Box = tuple[int, int, int, int]  # x0, y0, x1, y1; x1 and y1 exclusive
SIDE_PER_HEIGHT = 4.5  # a tile's long side, in person heights (measured: reliable ≤ 4.7)
SNAP_TO_FULL = 0.5  # a region covering this share of the frame becomes the frame
MIN_GUESS_FRAC = 0.06  # the unknown-height guess stays within these fractions
MAX_GUESS_FRAC = 0.9  # of the frame height
# ... and at most this many times the zone's shorter side: a long strip along a
# conveyor or in front of a bench is as deep as a step or two, seen foreshortened,
# and the person at it is a few times that, not as tall as the strip is long. A guess
# too big makes a region that shrinks people until the model cannot see them (and
# nobody found, nothing is learned); one too small is safer: the whole frame's
# look-around finds the big people a small region cuts.
SHORT_SIDE_HEIGHTS = 3.0
MIN_PERSON_PX = 40  # smaller people are beyond the model at any scale: no finer tiles
MAX_TILES = 6  # per region: beyond that the tiles grow instead (bounded cost)
WALK_HEIGHTS_PER_S = 1.0  # a brisk walk, 1.7 m/s, in body heights per second
CONFIRM_S = 0.3  # about how long it takes to find and confirm a person (3 frames)


@dataclass(frozen=True)
class Region:
    box: Box
    zones: tuple[str, ...]  # the zones it serves ("" for the whole frame by hand)
    kind: Literal["full", "zone", "tile", "manual"] = "zone"

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]


@dataclass(frozen=True)
class RegionPlan:
    regions: tuple[Region, ...]
    frame_size: tuple[int, int]  # width, height

    @property
    def full_frame(self) -> bool:
        return len(self.regions) == 1 and self.regions[0].kind == "full"

    @property
    def bounds(self) -> Box:
        """The box around all regions (the whole frame when there are none)."""
        if not self.regions:
            return (0, 0, *self.frame_size)
        boxes = np.array([r.box for r in self.regions])
        return (int(boxes[:, 0].min()), int(boxes[:, 1].min()),
                int(boxes[:, 2].max()), int(boxes[:, 3].max()))  # fmt: skip

    @property
    def context(self) -> bool:
        """Whether a low-rate whole-frame pass should run beside these regions: it
        finds people outside them (tracking context) and big, near people the
        regions cut, and it teaches the camera how big people are."""
        return bool(self.regions) and not self.full_frame


def full(frame_size: tuple[int, int]) -> RegionPlan:
    w, h = frame_size
    return RegionPlan((Region((0, 0, w, h), (), "full"),), frame_size)


def manual(boxes: Sequence[Sequence[float]], frame_size: tuple[int, int]) -> RegionPlan:
    w, h = frame_size
    regions = []
    for b in boxes:
        box = _clip((b[0], b[1], b[2], b[3]), w, h)
        if box is not None:
            regions.append(Region(box, (), "manual"))
    return RegionPlan(tuple(regions), frame_size)


def plan(
    zones: Sequence[Zone],
    armed: Collection[str],
    frame_size: tuple[int, int],
    heights: PersonHeights,
    floor_map: FloorMap | None = None,
) -> RegionPlan:
    """Regions for the armed zones of one camera (see the module docstring)."""
    w, h = frame_size
    grown: list[tuple[tuple[float, float, float, float], tuple[str, ...], float, float]] = []
    for zone in zones:
        if zone.id not in armed or not zone.enabled:
            continue
        bounds = zone_bounds(zone, floor_map, frame_size)
        if bounds is None:
            continue  # wholly out of view
        near, known = _person_height(bounds, heights, frame_size)
        warn = warn_pixels(zone, floor_map, bounds)
        # Wholly inside: his own height; and, once people's sizes are known, what a
        # walker covers while he is found and confirmed, so that he is a confirmed
        # person by the time his time to contact makes him a warning. (On a guessed
        # size that would only make the region too big for small people.)
        lead = WALK_HEIGHTS_PER_S * CONFIRM_S if known else 0.0
        margin = warn + near * (1 + lead)
        x0, y0, x1, y1 = bounds
        grown.append(((x0 - margin, y0 - margin, x1 + margin, y1 + margin), (zone.id,), near, warn))
    merged = _merge(grown)
    regions: list[Region] = []
    for (x0, y0, x1, y1), ids, near in merged:
        box = _clip((x0, y0, x1, y1), w, h)
        if box is None:
            continue
        tiles = _tiles(Region(box, ids), heights, near)
        area = (box[2] - box[0]) * (box[3] - box[1])
        if area >= SNAP_TO_FULL * w * h and len(tiles) == 1 and _fits_whole(frame_size, box):
            return full(frame_size)
        regions += tiles
    return RegionPlan(tuple(regions), frame_size)


def zone_bounds(
    zone: Zone, floor_map: FloorMap | None, frame_size: tuple[int, int]
) -> tuple[float, float, float, float] | None:
    """The zone's bounding box in frame pixels, clipped to the frame; None when none
    of it is in view."""
    if zone.units == "metres":
        if floor_map is None:
            return None
        rings = [r for r in image_rings(zone.geometry, floor_map) if len(r)]
        pts = np.concatenate(rings) if rings else np.empty((0, 2))
        pts = pts[np.all(np.isfinite(pts), axis=1)]
        if not len(pts):
            return None
        x0, y0 = pts.min(axis=0)
        x1, y1 = pts.max(axis=0)
    else:
        x0, y0, x1, y1 = zone.geometry.bounds
    w, h = frame_size
    if x1 < 0 or y1 < 0 or x0 > w or y0 > h:
        return None
    return (max(x0, 0.0), max(y0, 0.0), min(x1, float(w)), min(y1, float(h)))


def warn_pixels(
    zone: Zone, floor_map: FloorMap | None, bounds: tuple[float, float, float, float]
) -> float:
    """``warn_distance`` in pixels (a floor zone's metres at its nearest edge)."""
    if zone.units != "metres" or floor_map is None:
        return float(zone.warn_distance)
    x = (bounds[0] + bounds[2]) / 2
    feet = floor_map.floor(np.array([[x, bounds[3]]]))[0]
    if not np.all(np.isfinite(feet)):
        return 0.0
    pts = floor_map.image(np.array([feet, feet + [zone.warn_distance, 0]]))
    if not np.all(np.isfinite(pts)):
        return 0.0
    return float(np.hypot(*(pts[1] - pts[0])))


def _person_height(
    bounds: tuple[float, float, float, float],
    heights: PersonHeights,
    frame_size: tuple[int, int],
) -> tuple[float, bool]:
    """The tallest person expected at the zone (feet along its near edge and middle),
    and True; or a guess from the zone's shape and False when nothing is known yet."""
    x0, y0, x1, y1 = bounds
    xs = (x0, (x0 + x1) / 2, x1)
    values = [v for x in xs for y in (y1, (y0 + y1) / 2) if (v := heights.at(x, y)) is not None]
    if values:
        return max(values), True
    h = frame_size[1]
    long, short = max(x1 - x0, y1 - y0), min(x1 - x0, y1 - y0)
    guess = min(long, SHORT_SIDE_HEIGHTS * short)
    return min(max(guess, MIN_GUESS_FRAC * h), MAX_GUESS_FRAC * h), False


def _merge(grown):
    """Union overlapping boxes until none overlap; keep the largest person height."""
    items = [(b, ids, near) for b, ids, near, _ in grown]
    changed = True
    while changed:
        changed = False
        for i in range(len(items)):
            for j in range(i + 1, len(items)):
                a, b = items[i][0], items[j][0]
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    box = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    ids = tuple(sorted(set(items[i][1]) | set(items[j][1])))
                    items[i] = (box, ids, max(items[i][2], items[j][2]))
                    del items[j]
                    changed = True
                    break
            if changed:
                break
    return items


def _fits_whole(frame_size: tuple[int, int], box: Box) -> bool:
    """Whether the whole frame would serve the people in this region as well: they
    are big enough in it (the region needed no tiles, and the frame is at most a
    third larger than the region)."""
    side = max(box[2] - box[0], box[3] - box[1])
    return max(frame_size) <= 1.33 * side


def _clip(box: tuple[float, float, float, float], w: int, h: int) -> Box | None:
    x0, y0 = max(int(math.floor(box[0])), 0), max(int(math.floor(box[1])), 0)
    x1, y1 = min(int(math.ceil(box[2])), w), min(int(math.ceil(box[3])), h)
    if x1 - x0 < 16 or y1 - y0 < 16:
        return None
    return (x0, y0, x1, y1)


def _tiles(region: Region, heights: PersonHeights, near: float) -> list[Region]:
    """The region itself when people in it are big enough for the model, else square
    tiles of ``SIDE_PER_HEIGHT`` times the smallest expected person, overlapping by
    the tallest one (capped at half a tile)."""
    x0, y0, x1, y1 = region.box
    smallest = _smallest_person(region.box, heights)
    if smallest is None:
        return [region]
    side = max(int(SIDE_PER_HEIGHT * smallest), 64)
    if max(region.width, region.height) <= side:
        return [region]
    while True:
        overlap = min(near, side / 2)
        xs = _starts(x0, x1, side, overlap)
        ys = _starts(y0, y1, side, overlap)
        if len(xs) * len(ys) <= MAX_TILES:
            break
        side = int(side * 1.25)
    return [
        Region((x, y, min(x + side, x1), min(y + side, y1)), region.zones, "tile")
        for y in ys
        for x in xs
    ]


def _smallest_person(box: Box, heights: PersonHeights) -> float | None:
    """The smallest person whose feet can be in the box (the far, top rows)."""
    x0, y0, x1, y1 = box
    values = [
        v
        for x in np.linspace(x0, x1, 3)
        for y in np.linspace(y0 + 0.25 * (y1 - y0), y1, 4)
        if (v := heights.at(float(x), float(y))) is not None and v > 0
    ]
    return max(min(values), MIN_PERSON_PX) if values else None


def _starts(lo: int, hi: int, side: int, overlap: float) -> list[int]:
    """Evenly spread tile origins covering [lo, hi) with at least ``overlap``."""
    span = hi - lo
    if span <= side:
        return [lo]
    n = math.ceil((span - overlap) / (side - overlap))
    step = (span - side) / (n - 1) if n > 1 else 0
    return [int(round(lo + i * step)) for i in range(n)]
