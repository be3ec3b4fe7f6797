"""Hazard engine (pure): levels, time to contact, fallbacks, floor zones, and the fast
path against the obvious Point-by-Point reference implementation."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import shapely
from reference import reference_assess
from synth import person, track_from

from safetyd.base import bodyparts
from safetyd.hazard.hazards import HazardEngine
from safetyd.hazard.incidents import FrameContext, IncidentManager
from safetyd.vision.calibration import FloorMap
from safetyd.vision.tracking import Tracker
from safetyd.zones import schedule as schedules
from safetyd.zones.model import Recipients, Zone

FPS = 10.0
# 100 image pixels per floor metre, axes aligned: easy numbers to reason about.
FLOOR = FloorMap.from_points(
    [(0, 0), (1000, 0), (1000, 1000), (0, 1000)], [(0, 0), (10, 0), (10, 10), (0, 10)]
)


def make_zone(
    zone_id: str = "z",
    geometry=None,
    body_parts=("any",),
    warn_distance: float = 20.0,
    warn_ttc_s: float = 1.0,
    units: str = "pixels",
    min_frames: int = 3,
    cooldown_s: float = 60.0,
    enabled: bool = True,
) -> Zone:
    return Zone(
        id=zone_id, name=zone_id.upper(), camera=None, severity="high",
        body_parts=tuple(body_parts), landmarks=bodyparts.resolve(tuple(body_parts)),
        fallback=bodyparts.fallback_for(tuple(body_parts)), warn_distance=warn_distance,
        warn_ttc_s=warn_ttc_s, min_frames=min_frames, cooldown_s=cooldown_s,
        escalate_after_s=None, schedule=schedules.ALWAYS, recipients=Recipients(),
        enabled=enabled, geometry=geometry or shapely.box(600, 300, 800, 700), units=units,
        file="test.geojson", file_hash="0" * 12, index=0,
    )  # fmt: skip


def levels(engine: HazardEngine, tracks) -> dict:
    return {(a.zone_id, a.track_id): a.level for a in engine.assess(tracks)}


# -- levels ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "velocity", "expected"),
    [
        (300, (0, 0), None),  # far and still: clear, not even held
        (560, (0, 0), "warning"),  # right wrist 13 px from the zone, warn_distance 20
        (700, (0, 0), "danger"),  # standing in the zone
        (400, (200, 0), "warning"),  # 173 px away walking at 200 px/s: contact in 0.87 s
        (400, (-200, 0), None),  # same distance walking away
        (300, (200, 0), None),  # 273 px away at 200 px/s: 1.37 s, beyond the 1 s horizon
    ],
)
def test_levels(x, velocity, expected) -> None:
    engine = HazardEngine([make_zone()])
    got = levels(engine, [track_from(person(x, 600), velocity=velocity)])
    assert got.get(("z", 1)) == expected


def test_distance_is_signed_and_ttc_is_distance_over_closing_speed() -> None:
    engine = HazardEngine([make_zone(body_parts=["right_wrist"])])
    (a,) = engine.assess([track_from(person(400, 600), velocity=(200, 0))])
    # right wrist at x = 427: 173 px from the zone edge at 600, closing at 200 px/s
    assert a.body_part == "right_wrist"
    assert a.distance == pytest.approx(173.0)
    assert a.closing_speed == pytest.approx(200.0)
    assert a.ttc_s == pytest.approx(173.0 / 200.0)
    (inside,) = engine.assess([track_from(person(700, 600))])
    # wrist at x = 727 inside the box x 600..800: 73 px from the nearest (right) edge
    assert inside.level == "danger" and inside.distance == pytest.approx(-73.0)


def test_a_hand_reaching_into_a_hands_only_zone_triggers_it_but_feet_do_not() -> None:
    hands = make_zone(
        "hands",
        shapely.box(600, 450, 800, 560),
        body_parts=["hands"],
        warn_distance=0,
        warn_ttc_s=0,
    )
    floor_zone = make_zone(
        "floor",
        shapely.box(600, 560, 800, 700),
        body_parts=["hands"],
        warn_distance=0,
        warn_ttc_s=0,
    )
    engine = HazardEngine([hands, floor_zone])
    # Standing left of both zones, right hand stretched 120 px into the upper zone.
    reaching = person(
        520,
        600,
        move={
            "right_wrist": (120, 0),
            "right_pinky": (120, 0),
            "right_index": (120, 0),
            "right_thumb": (120, 0),
        },
    )
    got = levels(engine, [track_from(reaching)])
    assert got == {("hands", 1): "danger"}
    # Feet inside the lower zone, hands out of both: a hands-only zone stays clear.
    standing_in = person(640, 690, move={"hands": (-200, 0)})
    assert levels(engine, [track_from(standing_in)]) == {}


def test_occluded_feet_fall_back_to_the_box_bottom() -> None:
    lane = make_zone(
        "lane", shapely.box(0, 650, 1280, 720), body_parts=["feet"], warn_distance=30, warn_ttc_s=0
    )
    engine = HazardEngine([lane])
    visible = track_from(person(400, 630))
    (a,) = engine.assess([visible])
    assert (a.level, a.estimated) == ("warning", False)
    hidden = track_from(person(400, 630, hide=("feet",)))  # a cart hides the feet
    (b,) = engine.assess([hidden])
    assert (b.level, b.estimated, b.body_part) == ("warning", True, "feet (estimated)")
    assert b.distance == pytest.approx(20.0)  # box bottom at y = 630 (foot index)


def test_unseen_and_disarmed_are_not_assessed() -> None:
    engine = HazardEngine([make_zone()])
    t = track_from(person(700, 600))
    # Tentative tracks are assessed: their frames count towards the debounce, and
    # the incident manager opens nothing for them (tests/test_incidents.py).
    assert len(engine.assess([replace(t, state="tentative")])) == 1
    assert engine.assess([replace(t, state="lost", seen=False)]) == []
    assert engine.assess([t], armed=set()) == []
    assert len(engine.assess([t], armed={"z"})) == 1


# -- floor-plane zones -------------------------------------------------------


def test_floor_zone_uses_feet_on_the_floor_in_metres() -> None:
    lane = make_zone(
        "lane",
        shapely.box(6, 0, 8, 10),
        body_parts=["feet"],
        units="metres",
        warn_distance=0.5,
        warn_ttc_s=1.5,
    )
    engine = HazardEngine([lane], floor_map=FLOOR)
    # feet around x = 5.0 m; walking +x at 1.4 m/s = 140 px/s
    (a,) = engine.assess([track_from(person(500, 600), velocity=(140, 0))])
    assert a.level == "warning"
    assert a.closing_speed == pytest.approx(1.4, rel=1e-3)
    assert a.distance == pytest.approx(6 - 5.16, abs=1e-6)  # right foot index at 516 px
    assert a.ttc_s == pytest.approx(a.distance / 1.4, rel=1e-3)


def test_walking_straight_at_a_zone_warns_at_least_warn_ttc_before_danger() -> None:
    """A worker walks at 1.4 m/s straight at a floor zone; the real tracker estimates
    the velocity from the detections, the real incident manager debounces."""
    lane = make_zone(
        "lane",
        shapely.box(6, 0, 8, 10),
        body_parts=["feet"],
        units="metres",
        warn_distance=0.3,
        warn_ttc_s=1.5,
        min_frames=3,
    )
    engine = HazardEngine([lane], floor_map=FLOOR)
    tracker = Tracker()
    incidents = IncidentManager("cam", [lane])
    events = {}
    for k in range(60):
        t = k / FPS
        tracks = tracker.update([person(100 + 140 * t, 600)], t)
        ctx = FrameContext("cam", k, t, t, 1e9 + t)
        for tr in incidents.update(ctx, engine.assess(tracks), tracks):
            events.setdefault(tr.event, (t, tr.level))
    assert events["opened"][1] == "warning"
    assert events["escalated"][1] == "danger"
    assert events["escalated"][0] - events["opened"][0] >= lane.warn_ttc_s


def test_walking_parallel_to_the_edge_gives_at_most_one_incident() -> None:
    zone = make_zone(warn_distance=40, warn_ttc_s=1.0)  # box x 600..800
    engine = HazardEngine([zone])
    tracker = Tracker()
    incidents = IncidentManager("cam", [zone])
    opened = 0
    rng = np.random.default_rng(1)
    for k in range(100):
        t = k / FPS
        # Right wrist (x + 27) 20 px left of the zone (warn_distance / 2), walking
        # down along the edge at 1.4 m/s-ish with a little detection jitter.
        jitter = rng.normal(0, 2, 2)
        p = person(600 - 20 - 27 + jitter[0], 300 + 60 * t + jitter[1])
        tracks = tracker.update([p], t)
        ctx = FrameContext("cam", k, t, t, 1e9 + t)
        opened += sum(
            tr.event == "opened" for tr in incidents.update(ctx, engine.assess(tracks), tracks)
        )
    assert opened == 1


# -- fast path versus reference ------------------------------------------------


def _random_case(rng, n_tracks: int, n_zones: int, units: str):
    zones = []
    for i in range(n_zones):
        if units == "metres":
            x, y = rng.uniform(0, 9, 2)
            geom = shapely.box(x, y, x + rng.uniform(0.3, 2), y + rng.uniform(0.3, 2))
            parts = ["feet"]
            warn = rng.uniform(0, 1)
        else:
            x, y = rng.uniform(0, 1100, 2)
            geom = shapely.Polygon(
                [
                    (x, y),
                    (x + rng.uniform(40, 200), y + rng.uniform(-30, 30)),
                    (x + rng.uniform(40, 200), y + rng.uniform(40, 200)),
                    (x + rng.uniform(-30, 30), y + rng.uniform(40, 200)),
                ]
            ).buffer(0)
            if i % 5 == 1:  # a guard rail around a machine: a zone with a hole
                geom = geom.difference(geom.centroid.buffer(15))
            elif i % 5 == 2:  # two cells under one id
                geom = shapely.MultiPolygon(
                    [*shapely.get_parts(geom), shapely.box(x - 80, y, x - 40, y + 60)]
                )
            parts = list(
                rng.choice(
                    ["feet", "hands", "head", "torso", "any", "left_wrist"],
                    size=rng.integers(1, 3),
                    replace=False,
                )
            )
            warn = rng.uniform(0, 60)
        zones.append(make_zone(f"z{i}", geom, parts, warn, rng.uniform(0, 2), units))
    tracks = []
    for j in range(n_tracks):
        hide = tuple(rng.choice(["feet", "hands", "head"], size=rng.integers(0, 2)))
        p = person(
            rng.uniform(0, 1100),
            rng.uniform(200, 1000),
            rng.uniform(0.6, 1.5),
            hide=hide,
            frame=(1280, 1100),
        )
        tracks.append(track_from(p, j + 1, rng.uniform(-300, 300, 2)))
    return zones, tracks


@pytest.mark.parametrize("units", ["pixels", "metres", "both"])
@pytest.mark.parametrize("seed", range(8))
def test_fast_path_matches_reference(seed: int, units: str) -> None:
    rng = np.random.default_rng(seed)
    if units == "both":  # one camera with image zones and floor zones
        zones, tracks = _random_case(rng, n_tracks=6, n_zones=20, units="pixels")
        floor_zones, _ = _random_case(rng, n_tracks=0, n_zones=20, units="metres")
        zones += [replace(z, id=f"floor-{z.id}") for z in floor_zones]
    else:
        zones, tracks = _random_case(rng, n_tracks=6, n_zones=40, units=units)
    floor = FLOOR if units != "pixels" else None
    fast = HazardEngine(zones, floor_map=floor).assess(tracks)
    slow = reference_assess(tracks, zones, floor_map=floor)
    key = lambda a: (a.track_id, a.zone_id)  # noqa: E731
    fast, slow = sorted(fast, key=key), sorted(slow, key=key)
    assert [key(a) for a in fast] == [key(a) for a in slow]
    assert len(slow) > 0
    for f, s in zip(fast, slow, strict=True):
        assert (f.level, f.body_part, f.estimated, f.held) == (
            s.level,
            s.body_part,
            s.estimated,
            s.held,
        )
        assert f.distance == pytest.approx(s.distance, abs=1e-6)
        assert f.closing_speed == pytest.approx(s.closing_speed, abs=1e-6)
        assert (f.part_x, f.part_y) == pytest.approx((s.part_x, s.part_y), abs=1e-9)
        assert (f.ttc_s is None) == (s.ttc_s is None)
        if f.ttc_s is not None:
            assert f.ttc_s == pytest.approx(s.ttc_s, rel=1e-6)


def test_a_foot_with_no_floor_position_is_left_out_not_propagated() -> None:
    """A landmark on the camera's horizon has no floor position (NaN): the engine
    judges the floor zone from the other feet, as if that one were not seen."""
    # A perspective floor map whose horizon is the image row y = 300.
    h = np.array([[0.01, 0.0, 0.0], [0.0, 0.01, 0.0], [0.0, 0.001, -0.3]])
    floor = FloorMap(to_floor=h, to_image=np.linalg.inv(h))
    standing = track_from(person(500, 600), velocity=(40, 0))
    feet = floor.floor(standing.keypoints[list(bodyparts.GROUPS["feet"])])
    x, y = feet[:, 0].max(), feet[:, 1].mean()
    lane = make_zone(
        "lane", shapely.box(x + 0.1, y - 1, x + 2, y + 1), ["feet"], 0.5, 2.0, "metres"
    )
    engine = HazardEngine([lane], floor_map=floor)
    heel = bodyparts.INDEX["right_heel"]
    on_horizon = standing.keypoints.copy()
    on_horizon[heel] = (513.0, 300.0)
    assert np.isnan(floor.floor(on_horizon[[heel]])).all()
    unseen = standing.visibility.copy()
    unseen[heel] = 0.0
    got = engine.assess([replace(standing, keypoints=on_horizon)])
    expected = reference_assess([replace(standing, visibility=unseen)], [lane], floor_map=floor)
    assert [a.level for a in expected] == ["warning"]
    assert got == expected
