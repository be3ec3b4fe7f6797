"""Body events in areas (hazard/body.py, hazard/exposure.py) on synthetic people with
known poses (tests/skeletons.py): a fall and a man down become incidents of their
own kind in the area he is in, with the area's rules over the camera's; nothing
outside areas; posture exposure adds up to the time measured, and a risky posture
held is one event. The same on real pixels through the daemon and replay is in
test_body_pixels.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import skeletons as S
from conftest import square, zone_collection
from test_down import FELL_FORWARD, STAND, fall

from safetyd.config.body import BodySettings, CameraBody
from safetyd.hazard.body import BodyWatch
from safetyd.hazard.exposure import BANDS, ExposureMeter, Sample, band_of
from safetyd.hazard.incidents import FrameContext
from safetyd.hazard.posture import posture_of
from safetyd.zones.geojson import parse_zone_file


def area(area_id: str, box=(0, 0, S.W, S.H), **props) -> dict:
    return {
        "type": "Feature",
        "properties": {"id": area_id, "kind": "area", **props},
        "geometry": {"type": "Polygon", "coordinates": square(*box)},
    }


def zones_of(tmp_path: Path, *features: dict):
    path = tmp_path / "areas.geojson"
    path.write_text(json.dumps(zone_collection(*features)))
    parsed = parse_zone_file(path)
    assert not [p for p in parsed.problems if p.severity == "error"], parsed.problems
    return parsed.zones


def run(watch: BodyWatch, clip: S.Clip, armed=None):
    standing = S.standing_height(clip.view_deg, clip.at)
    armed = {z.id for z in watch.zones} if armed is None else armed
    out, frames = [], []
    for i, (t, track) in enumerate(clip.tracks()):
        ctx = FrameContext("cam1", i, t, t, 1_700_000_000.0 + t)
        frame = watch.update(ctx, [track], armed(t) if callable(armed) else armed, {},
                             lambda x, y: standing, S.H, None)  # fmt: skip
        out += frame.transitions
        frames.append(frame)
    return out, frames


SHORT_FALL = S.hold(STAND, 2) + fall(FELL_FORWARD) + S.breathe(FELL_FORWARD, 3)
FALL_AND_LIE = S.hold(STAND, 2) + fall(FELL_FORWARD) + S.breathe(FELL_FORWARD, 12)
GETS_UP = S.move(lambda u: S.tip_over(STAND, 90 * (1 - u)), 1.0) + S.hold(STAND, 3)


def test_a_fall_and_a_man_down_are_incidents_of_their_kind_in_his_area(tmp_path) -> None:
    zones = zones_of(tmp_path, area("bay", severity="critical"))
    body = BodySettings(man_down_after_s=5.0)
    events, frames = run(
        BodyWatch("cam1", zones, body), S.Clip(FALL_AND_LIE + GETS_UP, view_deg=90)
    )
    got = [(e.event, e.kind, e.zone_id, str(e.level), e.reason) for e in events]
    assert got == [
        ("opened", "fall", "bay", "danger", ""),
        ("opened", "man_down", "bay", "danger", ""),
        ("cleared", "fall", "bay", "clear", "up"),
        ("cleared", "man_down", "bay", "clear", "up"),
    ], got
    opened_fall, opened_down = events[0], events[1]
    assert 2.6 <= opened_fall.t <= 4.6  # down at 2.6 s, confirmed within 2 s
    # Lying still from about the fall: a man down 5 s later (± 1 s).
    assert opened_down.still_s is not None and 5.0 <= opened_down.still_s <= 6.0
    assert abs(opened_down.t - opened_fall.t - 5.0) <= 1.5
    assert opened_fall.body_part == "trunk" and opened_fall.ttc_s is None
    assert opened_fall.severity == "critical" and opened_fall.zone_file.endswith("areas.geojson")
    assert len({events[0].incident_id, events[1].incident_id}) == 2
    assert events[2].incident_id == events[0].incident_id
    # Who is down, for the live view, while he was.
    assert any(f.down == {1: "man_down"} for f in frames)
    assert frames[-1].down == {}
    # Areas are always to be acknowledged.
    assert all(z.danger_must_ack for z in zones)


@pytest.mark.parametrize(
    ("name", "features", "camera", "kinds"),
    [
        ("the area turns man down off (work under machines)",
         [area("pit", man_down=False)], CameraBody(), ["fall"]),
        ("the camera turns falls off, the area keeps man down",
         [area("bay")], CameraBody(fall=False), ["man_down"]),
        ("the area lengthens the time beyond the clip", [area("bay", man_down_after_s=60)],
         CameraBody(), ["fall"]),
        ("he is in no area", [area("far", box=(0, 0, 200, 200))], CameraBody(), []),
        ("the first area in the file that holds him decides",
         [area("pit", man_down=False, fall=False), area("bay")], CameraBody(), []),
    ],
)  # fmt: skip
def test_the_rules_are_the_areas_over_the_cameras_over_the_sites(
    tmp_path, name, features, camera, kinds
) -> None:
    zones = zones_of(tmp_path, *features)
    body = camera.over(BodySettings(man_down_after_s=5.0))
    events, _ = run(BodyWatch("cam1", zones, body), S.Clip(FALL_AND_LIE, view_deg=90))
    assert [e.kind for e in events if e.event == "opened"] == kinds, name


def test_a_disarmed_area_ends_its_incidents_and_watches_nobody(tmp_path) -> None:
    zones = zones_of(tmp_path, area("bay", schedule="mon-fri 06:00-22:00"))
    watch = BodyWatch("cam1", zones, BodySettings(man_down_after_s=5.0))
    events, _ = run(
        watch, S.Clip(FALL_AND_LIE, view_deg=90), armed=lambda t: set() if t > 6 else {"bay"}
    )
    assert [(e.event, e.kind, e.reason) for e in events] == [
        ("opened", "fall", ""), ("cleared", "fall", "disarmed")
    ]  # fmt: skip


def test_a_lost_track_ends_the_incident_and_a_removed_area_too(tmp_path) -> None:
    zones = zones_of(tmp_path, area("bay"))
    watch = BodyWatch("cam1", zones, BodySettings(man_down_after_s=5.0))
    events, _ = run(watch, S.Clip(SHORT_FALL, view_deg=90))
    assert [e.kind for e in events] == ["fall"]
    ctx = FrameContext("cam1", 99, 9.9, 9.9, 1_700_000_010.0)
    gone = watch.update(ctx, [], {"bay"}, {}, lambda x, y: None, S.H, None)
    assert [(e.event, e.reason) for e in gone.transitions] == [("cleared", "track_lost")]
    events, _ = run(watch, S.Clip(SHORT_FALL, view_deg=90))
    removed = watch.apply([], BodySettings(), ctx)
    assert [(e.event, e.reason) for e in removed] == [("cleared", "zone_removed")]
    assert not watch.active


def test_a_hazard_zone_watches_no_body(tmp_path) -> None:
    path = tmp_path / "z.geojson"
    path.write_text(json.dumps(zone_collection(
        {"type": "Feature", "properties": {"id": "press", "warn_distance": 10},
         "geometry": {"type": "Polygon", "coordinates": square(0, 0, S.W, S.H)}})))  # fmt: skip
    watch = BodyWatch("cam1", parse_zone_file(path).zones, BodySettings(man_down_after_s=5.0))
    assert not watch.active
    events, _ = run(watch, S.Clip(FALL_AND_LIE, view_deg=90))
    assert events == []


# -- posture exposure --------------------------------------------------------------

BENT = S.flex_trunk(STAND, 80)


@pytest.mark.parametrize(
    ("measure", "value", "band"),
    [("trunk", 0, "0-20"), ("trunk", 19.9, "0-20"), ("trunk", 20, "20-60"),
     ("trunk", 61, "over_60"),
     ("upper_arm", 44, "0-45"), ("upper_arm", 90, "over_90"), ("knee", 45, "30-60"),
     ("knee", 100, "over_60"), ("hands", 0, "below_shoulders"), ("hands", 1, "above_shoulders"),
     ("hands", 2, "above_head")],
)  # fmt: skip
def test_bands(measure, value, band) -> None:
    assert band_of(measure, value) == band
    assert band in [b for _, b in BANDS[measure]]


def test_exposure_adds_up_to_the_time_measured_and_a_held_bend_is_one_event() -> None:
    clip = S.Clip(S.hold(STAND, 3) + S.hold(BENT, 4) + S.hold(STAND, 3) + S.hold(BENT, 1),
                  view_deg=90)  # fmt: skip
    meter = ExposureMeter(hold_s=2.0)
    seconds: dict[tuple[str, str], float] = {}
    risky = []
    for t, track in clip.tracks():
        frame = meter.update(t, [Sample(1, "bay", posture_of(track.keypoints, track.visibility))])
        for e in frame.exposed:
            seconds[(e.measure, e.band)] = seconds.get((e.measure, e.band), 0.0) + e.seconds
        risky += frame.risky
    trunk = {b: s for (m, b), s in seconds.items() if m == "trunk"}
    # 11 s of frames at 10 fps: 10.9 s between the first and the last.
    assert sum(trunk.values()) == pytest.approx(10.9, abs=1e-6)
    assert trunk["over_60"] == pytest.approx(5.0, abs=0.25)  # 4 s and 1 s bent
    assert trunk.get("0-20", 0) == pytest.approx(5.9, abs=0.25)
    # One event for the 4 s bend; the 1 s bend was too short.
    assert [(e.event, e.area) for e in risky] == [("trunk_over_60", "bay")]
    assert 4.9 <= risky[0].t <= 5.1 and risky[0].value > 60  # bent from 3 s, held 2 s


def test_hands_overhead_is_an_event_and_a_gap_is_not_counted() -> None:
    overhead = STAND.copy()
    for s, e, w in ((11, 13, 15), (12, 14, 16)):  # arms straight up
        overhead[e] = overhead[s] + (0, 0.3, 0)
        overhead[w] = overhead[s] + (0, 0.55, 0)
    clip = S.Clip(S.hold(overhead, 3) + S.hold(overhead, 3), view_deg=90,
                  lost=lambda i: 25 <= i < 40)  # fmt: skip
    meter = ExposureMeter(hold_s=2.0)
    total, risky = 0.0, []
    for t, track in clip.tracks():
        samples = (
            [Sample(1, "bay", posture_of(track.keypoints, track.visibility))] if track.seen else []
        )
        frame = meter.update(t, samples)
        total += sum(e.seconds for e in frame.exposed if e.measure == "hands")
        risky += [e.event for e in frame.risky]
    assert "hands_above_head" in risky and "arm_over_90" in risky
    # Frames 0–24 and 40–59: 2.4 s + 1.9 s; the 1.6 s he was not seen count nothing.
    assert total == pytest.approx(2.4 + 1.9, abs=1e-6)
    # The hold starts over after the gap: 1.9 s from 4.0 s, short of 2 s: no second event.
    assert risky.count("hands_above_head") == 1


def test_an_unknown_key_or_value_is_refused_in_the_configuration() -> None:
    with pytest.raises(ValueError, match="man_down_after"):
        BodySettings.model_validate({"man_down_after": 30})
    with pytest.raises(ValueError, match="greater than or equal to 5"):
        CameraBody.model_validate({"man_down_after_s": 1})
    assert CameraBody(posture=False).over(BodySettings()).posture is False
    assert CameraBody().over(BodySettings(man_down_after_s=30)).man_down_after_s == 30


def test_posture_of_a_person_standing_is_the_lowest_band() -> None:
    track = next(S.Clip(S.hold(STAND, 1), view_deg=90).tracks())[1]
    p = posture_of(track.keypoints, track.visibility)
    assert band_of("trunk", p.trunk) == "0-20" and band_of("upper_arm", p.arm) == "0-45"
    assert np.isfinite(p.knees) and band_of("knee", p.knees) == "0-30"


# -- what seeing a lying person takes ---------------------------------------------


def _pose_of(track):
    from safetyd.vision.pose import Pose

    return Pose.from_arrays(track.keypoints, track.visibility, (S.W, S.H))


def test_a_lying_person_is_a_person_where_falls_are_watched_and_flat_elsewhere() -> None:
    from safetyd.vision.plausibility import PlausibilityFilter

    lying = _pose_of(next(S.Clip(S.hold(FELL_FORWARD, 1), view_deg=90).tracks())[1])
    standing = _pose_of(next(S.Clip(S.hold(STAND, 1), view_deg=90).tracks())[1])
    plain = PlausibilityFilter()
    # Flat (23 px tall, 236 px long): too short for the picture, and too wide.
    assert "< 8% of the picture" in (plain.why_rejected(lying, S.H) or "")
    watched = PlausibilityFilter(lying_where=lambda pose: True)
    assert watched.why_rejected(lying, S.H) is None
    assert plain.why_rejected(standing, S.H) is None is watched.why_rejected(standing, S.H)
    # Outside the areas watched for falls, nothing changes: flat is flat.
    elsewhere = PlausibilityFilter(lying_where=lambda pose: False)
    assert elsewhere.why_rejected(lying, S.H) == plain.why_rejected(lying, S.H)


def test_only_the_areas_watched_for_falls_keep_lying_people(tmp_path) -> None:
    zones = zones_of(
        tmp_path,
        area("left", box=(0, 0, 640, 720)),
        area("right", box=(640, 0, 1280, 720), fall=False, man_down=False),
    )
    watch = BodyWatch("cam1", zones, BodySettings())
    assert watch.lies_in_area(np.array([100, 300, 500, 350]), None)  # bottom centre x 300
    assert not watch.lies_in_area(np.array([700, 300, 1100, 350]), None)  # posture only there
    assert not watch.lies_in_area(np.array([100, 700, 500, 730]), None)  # below the areas


@pytest.mark.parametrize(
    ("name", "pose", "learns"),
    [("standing", STAND, True), ("bending", S.flex_trunk(STAND, 80), False),
     ("lying", FELL_FORWARD, False), ("leaning a little", S.flex_trunk(STAND, 20), True)],
)  # fmt: skip
def test_only_a_standing_person_teaches_the_camera_peoples_sizes(name, pose, learns) -> None:
    from safetyd.vision.sizes import standing_height, upright_height

    track = next(S.Clip(S.hold(pose, 1), view_deg=90).tracks())[1]
    got = standing_height(track.keypoints, track.visibility, 0.5)
    assert (got is not None) == learns, name
    if learns:
        assert got == upright_height(track.keypoints, track.visibility, 0.5)


def test_a_fall_that_switches_the_track_id_is_still_a_fall() -> None:
    """The tracker gives the person a new id as he hits the floor (his shape changed
    too fast): the new track inherits his upright time and height."""
    from safetyd.hazard.down import DownKind, DownSettings, DownWatch

    clip = S.Clip(S.hold(STAND, 2) + fall(FELL_FORWARD) + S.breathe(FELL_FORWARD, 4), view_deg=90)
    watch = DownWatch(DownSettings(man_down_after_s=20.0))
    events = []
    for i, (t, track) in enumerate(clip.tracks()):
        if i >= 24:  # mid-fall: the old id coasts, a new one is seen
            old = track.__class__(**{**track.__dict__, "seen": False, "state": "lost"})
            new = track.__class__(**{**track.__dict__, "id": 2})
            tracks = [old, new] if i < 30 else [new]
        else:
            tracks = [track]
        events += watch.update(tracks, t, lambda x, y: None, S.H)  # no sizes learned here
    assert [(e.kind, e.track_id) for e in events] == [(DownKind.FALL, 2)]


def test_somebody_else_appearing_far_away_inherits_nothing() -> None:
    from safetyd.hazard.down import DownSettings, DownWatch

    clip = S.Clip(S.hold(STAND, 2) + S.hold(FELL_FORWARD, 4), view_deg=90)
    far = S.Clip(S.hold(FELL_FORWARD, 6), view_deg=90, at=(4.0, 0.0))
    watch = DownWatch(DownSettings(man_down_after_s=20.0))
    events = []
    for (t, a), (_, b) in zip(clip.tracks(), far.tracks(), strict=True):
        b = b.__class__(**{**b.__dict__, "id": 2})
        tracks = [a] if t < 2 else [b]  # he vanishes as a lying man appears 4 m away
        events += watch.update(tracks, t, lambda x, y: None, S.H)
    assert events == []


def test_a_man_down_reads_as_such_in_history_and_on_its_page_never_as_a_near_miss(
    tmp_path,
) -> None:
    """The console's incident timeline and the history CSV's record type, from the
    event record of real BodyWatch transitions (as the events table holds them)."""
    from zoneinfo import ZoneInfo

    from safetyd.analytics.records import RECORD_TYPE, record_type
    from safetyd.console.incident import timeline
    from safetyd.hazard.records import event_record

    zones = zones_of(tmp_path, area("bay"))
    events, _ = run(BodyWatch("cam1", zones, BodySettings(man_down_after_s=5.0)),
                    S.Clip(FALL_AND_LIE, view_deg=90))  # fmt: skip
    records = [{**event_record(e), "id": i} for i, e in enumerate(events)]
    rows = timeline(records, None, ZoneInfo("UTC"))
    assert [(r["what"], r["part"]) for r in rows] == [("opened", "fall"), ("opened", "man down")]
    assert rows[0]["measured"] == "" and rows[1]["measured"].startswith("lying still ")
    assert record_type("man_down").startswith("man down seen by safetyd (not a near miss")
    assert record_type("fall").startswith("fall seen by safetyd")
    assert record_type(None) == record_type("hazard") == RECORD_TYPE
