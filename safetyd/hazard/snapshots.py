"""JPEG evidence per opened/escalated incident: the frame, the zone, the person."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np

from ..base.alerts import DOWN_WORDS
from ..base.ratelog import RateLimitedLog
from ..base.timing import day, stamp
from ..drawing.render import (
    LEVEL_COLOURS,
    Explained,
    blur_faces,
    draw_contacts,
    draw_lost,
    draw_person,
    draw_regions,
    draw_zones,
    put_label,
)
from ..vision.calibration import FloorMap
from ..vision.tracking import Track
from ..zones.model import Zone
from .incidents import Transition

UTC_ZONE = ZoneInfo("UTC")
log = logging.getLogger(__name__)
_ratelog = RateLimitedLog(log)


def annotate(
    image: np.ndarray,
    zones: Sequence[Zone],
    tracks: Sequence[Track],
    floor_map: FloorMap | None = None,
    states: dict[str, str] | None = None,
    blur: bool = False,
    highlight: int | None = None,
    regions: Sequence[tuple[int, int, int, int]] = (),
    motion: bool | None = None,
    reasons: Iterable[Explained] = (),
    down: Mapping[int, str] | None = None,
) -> np.ndarray:
    """A copy of the frame with zones (coloured by state), the regions the model looked
    at, tracked skeletons, and why each warning or danger was raised (``reasons``:
    the deciding part, estimated ones in their own style, and the way to the zone).
    ``blur``: faces hidden (render.blur_faces), the whole frame when it shows motion
    (``None``: not known) and nobody seen. ``down``: people down now (track id →
    "fall" | "man_down", hazard/body.py), drawn red and named so."""
    out = image.copy()
    if blur:
        blur_faces(out, tracks, motion)
    draw_regions(out, regions, "region")
    draw_zones(out, zones, floor_map, states)
    for t in tracks:
        if not t.confirmed:
            continue
        if not t.seen:
            # Coasting on a prediction: a thin grey box where he is thought to be,
            # never a skeleton drawn as if the model saw him.
            draw_lost(out, t.bbox, f"#{t.id} lost")
            continue
        kind = (down or {}).get(t.id)
        colour = (0, 0, 255) if t.id == highlight or kind else (255, 200, 0)
        label = f"#{t.id} {DOWN_WORDS[kind]}" if kind else f"#{t.id}"
        draw_person(out, t.keypoints, t.visibility, label, colour)
    draw_contacts(out, reasons, zones, floor_map)
    return out


class SnapshotWriter:
    def __init__(self, directory: Path, blur_faces: bool = False, quality: int = 85) -> None:
        self.directory = directory
        self.blur_faces = blur_faces
        self.quality = quality

    def write(
        self,
        image: np.ndarray,
        tr: Transition,
        zones: Sequence[Zone],
        tracks: Sequence[Track],
        floor_map: FloorMap | None,
        tz: ZoneInfo = UTC_ZONE,
    ) -> str | None:
        """The snapshot's path, or None when it could not be written: evidence is
        nice to have, and a full disk must never cost the incident itself. Labelled
        and filed by site time (``tz``), with its zone."""
        zone = [z for z in zones if z.id == tr.zone_id]
        body = tr.kind != "hazard"  # a fall or man down: no part near a zone to show
        pic = annotate(
            image, zone, tracks, floor_map, {tr.zone_id: tr.level}, self.blur_faces, tr.track_id,
            reasons=() if body else [tr], down={tr.track_id: tr.kind} if body else None,
        )  # fmt: skip
        what = f"{tr.level.upper()} {tr.zone_name} {tr.body_part}"
        if body:
            what = f"{DOWN_WORDS[tr.kind]} {tr.zone_name}"
        put_label(
            pic,
            f"{what} {stamp(tr.wall, tz)}",
            (4, 16),
            LEVEL_COLOURS.get(tr.level, (255, 255, 255)),
        )
        folder = self.directory / day(tr.wall, tz)
        path = folder / f"{tr.camera}_{tr.zone_id}_{tr.incident_id}_{tr.event}.jpg"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if cv2.imwrite(str(path), pic, [cv2.IMWRITE_JPEG_QUALITY, self.quality]):
                return str(path)
            error = "the encoder or the disk refused it"
        except (OSError, cv2.error) as exc:
            error = str(exc)
        _ratelog.error("write", "snapshot %s not written: %s", path, error)
        return None
