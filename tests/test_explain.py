"""An operator can see why it fired: the deciding body part, an estimated one drawn in
its own style where it was estimated, the way to the zone, and the incident page's
words for it. Real model, real pixels: the demo man is cut off at the thighs, so a
zone that watches feet can only use their estimate (the bottom of his box)."""

from __future__ import annotations

import json
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest
import shapely
from conftest import FIXTURES

from safetyd.assembly import load as cfg
from safetyd.assembly.settings import CameraSettings
from safetyd.console.incident import timeline
from safetyd.drawing.render import ESTIMATE_COLOUR
from safetyd.hazard.records import event_record
from safetyd.hazard.snapshots import SnapshotWriter, annotate
from safetyd.pipeline import CameraPipeline
from safetyd.vision.pose import MediaPipePoseEstimator
from safetyd.vision.sources import iter_file

pytestmark = pytest.mark.slow

# The floor in front of the press, at the bottom of the picture, watching feet.
FLOOR = [[330, 330], [640, 330], [640, 360], [330, 360]]


def _feet_zone_run(tmp: Path):
    zones = {"type": "FeatureCollection", "features": [{
        "type": "Feature",
        "properties": {"id": "floor", "name": "Press floor", "body_parts": ["feet"],
                       "warn_distance": 60, "min_frames": 3},
        "geometry": {"type": "Polygon", "coordinates": [FLOOR + [FLOOR[0]]]},
    }]}  # fmt: skip
    (tmp / "zones.geojson").write_text(json.dumps(zones))
    (tmp / "safetyd.toml").write_text(
        '[[cameras]]\nid = "cam"\nsource = "x.mp4"\nwidth = 640\nheight = 360\n'
        f'zones = ["zones.geojson"]\n[storage]\nstate_dir = "{tmp / "state"}"\n'
    )
    settings = CameraSettings.of(cfg.load(tmp / "safetyd.toml"), "cam")
    writer = SnapshotWriter(tmp / "snapshots")
    pipe = CameraPipeline.from_settings(
        settings, MediaPipePoseEstimator, always_armed=True, snapshots=writer
    )
    try:
        results = [pipe.process(f, f.video_t) for f in iter_file(FIXTURES / "walk-in.mp4", "cam")]
    finally:
        pipe.close()
    return results, pipe.setup


def _magenta(pic: np.ndarray, x: float, y: float, r: int = 12) -> int:
    """Pixels of the estimate's colour (allowing for JPEG) around (x, y)."""
    h, w = pic.shape[:2]
    patch = pic[max(int(y) - r, 0) : min(int(y) + r, h), max(int(x) - r, 0) : min(int(x) + r, w)]
    b, g, rd = (patch[..., i].astype(int) for i in range(3))
    target = np.array(ESTIMATE_COLOUR)
    return int(np.sum((abs(b - target[0]) < 60) & (g < 80) & (abs(rd - target[2]) < 60)))


def test_an_estimated_foot_is_drawn_where_it_was_estimated_and_explained(tmp_path) -> None:
    results, setup = _feet_zone_run(tmp_path)
    opened = [t for r in results for t in r.transitions if t.event == "opened"]
    assert opened, "the feet zone must raise something as he walks up"
    tr = opened[0]
    assert tr.body_part == "feet (estimated)" and tr.estimate == "bbox_bottom_centre"
    # The point is the bottom centre of his box in that frame.
    frame = next(r for r in results if tr in r.transitions)
    box = next(t.bbox for t in frame.tracks if t.id == tr.track_id)
    assert (tr.part_x, tr.part_y) == pytest.approx(((box[0] + box[2]) / 2, box[3]), abs=0.01)
    record = event_record(tr)
    assert record["estimate"] == "bbox_bottom_centre" and record["part_y"] == round(box[3], 1)

    # The snapshot: the diamond of an estimate at that point (not on a bare frame).
    snap = cv2.imread(tr.snapshot)
    assert _magenta(snap, tr.part_x, tr.part_y) >= 20
    assert _magenta(frame.frame.image, tr.part_x, tr.part_y) == 0
    # The live view and --annotate draw the frame's assessments the same way.
    live = annotate(frame.frame.image, setup.zones, frame.tracks, reasons=frame.assessments)
    assert _magenta(live, tr.part_x, tr.part_y) >= 20
    # Before he reaches the zone, a line runs from the estimate to the nearest point of
    # the zone: the pixels at its end and half way along it are drawn on. (Any frame
    # where he is near but outside: when the model first finds him differs a little
    # from one CPU to another, so the opening frame may already have him inside.)
    near = [
        (r, a)
        for r in results
        for a in r.assessments
        if a.estimated and a.distance > 5 and a.level != "clear"
    ]
    assert near, "he must be seen near the zone before he reaches it"
    ahead, a = near[0]
    edge = shapely.get_coordinates(
        shapely.shortest_line(shapely.Polygon(FLOOR).boundary, shapely.Point(a.part_x, a.part_y))
    )[0]
    drawn = annotate(ahead.frame.image, setup.zones, ahead.tracks, reasons=ahead.assessments)
    plain = annotate(ahead.frame.image, setup.zones, ahead.tracks)
    changed = np.any(drawn != plain, axis=2)
    for x, y in (edge, (edge + (a.part_x, a.part_y)) / 2):
        assert changed[int(y) - 3 : int(y) + 4, int(x) - 3 : int(x) + 4].any(), (x, y)

    # The incident page says which part, how it was known and how far it was.
    row = dict(record, id=1, wall=tr.wall, snapshot=tr.snapshot)
    (line,) = timeline([row], None, ZoneInfo("UTC"))
    assert line["part"] == "feet (estimated)"
    assert line["how"] == (
        "estimated from the bottom centre of the person's box (no landmark of it was visible)"
    )
    assert line["measured"].endswith("px, not approaching") or "s to contact" in line["measured"]


def test_a_seen_hand_is_drawn_as_seen_and_explained_as_seen(tmp_path) -> None:
    """The demo's danger: his hand, a landmark the model saw, inside the guard."""
    loaded = cfg.load(FIXTURES.parent / "systemd" / "safetyd.toml")
    settings = CameraSettings.of(loaded, "press-line")
    pipe = CameraPipeline.from_settings(settings, MediaPipePoseEstimator, always_armed=True)
    try:
        results = [
            pipe.process(f, f.video_t) for f in iter_file(FIXTURES / "walk-in.mp4", "press-line")
        ]
    finally:
        pipe.close()
    esc = next(t for r in results for t in r.transitions if t.event == "escalated")
    assert (
        not esc.estimated
        and esc.estimate == ""
        and esc.body_part.endswith(("pinky", "index", "wrist", "thumb"))
    )
    frame = next(r for r in results if esc in r.transitions)
    live = annotate(frame.frame.image, pipe.setup.zones, frame.tracks, reasons=frame.assessments)
    assert _magenta(live, esc.part_x, esc.part_y) == 0  # not drawn as an estimate
    assert np.any(
        live[
            int(esc.part_y) - 10 : int(esc.part_y) + 11, int(esc.part_x) - 10 : int(esc.part_x) + 11
        ]
        != frame.frame.image[
            int(esc.part_y) - 10 : int(esc.part_y) + 11, int(esc.part_x) - 10 : int(esc.part_x) + 11
        ]
    )
    (line,) = timeline([dict(event_record(esc), id=1, snapshot=None)], None, ZoneInfo("UTC"))
    assert line["how"] == "landmark seen" and line["measured"] == "inside"
