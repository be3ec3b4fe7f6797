"""Incident state machine (pure, clock injected): debounce, hysteresis, cooldown,
handover across id switches, disarming, overdue danger."""

from __future__ import annotations

from dataclasses import replace

import pytest
from synth import person, track_from
from test_hazards import make_zone

from safetyd.hazard.hazards import Assessment
from safetyd.hazard.incidents import FrameContext, IncidentManager

DT = 0.1
ZONE = make_zone("z", min_frames=3, cooldown_s=60)


def assessment(level: str, track: int = 1, held: bool | None = None, distance: float = 5.0):
    return Assessment(
        zone_id="z", track_id=track, level=level, body_part="right_wrist",
        distance=-5.0 if level == "danger" else distance, closing_speed=0.0, ttc_s=None,
        estimated=False, held=level != "clear" if held is None else held, part_x=10.0,
        part_y=20.0,
    )  # fmt: skip


TRACK = track_from(person(0, 0))


def tracks(*ids: int, seen: bool = True, age: float = 100.0):
    return [
        replace(TRACK, id=i, seen=seen, state="confirmed" if seen else "lost", age_s=age)
        for i in ids
    ]


class Run:
    """Feeds frames to a manager and records transitions with their frame numbers."""

    def __init__(self, **kw) -> None:
        self.mgr = IncidentManager("cam", [ZONE], **{"clear_frames": 5, "handover_s": 2.0, **kw})
        self.k = 0
        self.log: list[tuple[int, str, str, int]] = []
        self.all: list = []

    def step(self, assessments=(), live=None, armed=None, n: int = 1):
        for _ in range(n):
            t = self.k * DT
            ctx = FrameContext("cam", self.k, t, t, 1e9 + t)
            trs = self.mgr.update(
                ctx, list(assessments), tracks(1) if live is None else live, armed
            )
            self.log += [(self.k, tr.event, tr.level, tr.track_id) for tr in trs]
            self.all += trs
            self.k += 1
        return self

    def events(self):
        return [(e, lvl) for _, e, lvl, _ in self.log]


def test_debounce_needs_min_frames_consecutive() -> None:
    r = Run()
    r.step([assessment("warning")], n=2).step([assessment("clear", held=False)])
    r.step([assessment("warning")], n=2)
    assert r.log == []
    r.step([assessment("warning")])
    assert r.events() == [("opened", "warning")]


def test_frames_before_confirmation_count_towards_the_debounce() -> None:
    """The tracker confirms a person on his 3rd frame; the zone wants 3 frames of
    warning: the incident opens on that 3rd frame, not 3 frames later."""
    tentative = [replace(TRACK, state="tentative", age_s=0.0)]
    r = Run().step([assessment("warning")], live=tentative, n=2)
    assert r.log == []  # nothing opens for someone not yet confirmed
    r.step([assessment("warning")])  # confirmed now
    assert r.log == [(2, "opened", "warning", 1)]


def test_a_track_that_is_never_confirmed_opens_nothing() -> None:
    tentative = [replace(TRACK, state="tentative", age_s=0.0)]
    r = Run().step([assessment("danger")], live=tentative, n=20)
    assert r.log == []


def test_straight_into_danger_opens_at_danger() -> None:
    r = Run().step([assessment("danger")], n=3)
    assert r.events() == [("opened", "danger")]


def test_warning_escalates_after_min_frames_of_danger() -> None:
    r = Run().step([assessment("warning")], n=3).step([assessment("danger")], n=2)
    assert r.events() == [("opened", "warning")]
    r.step([assessment("danger")])
    assert r.events() == [("opened", "warning"), ("escalated", "danger")]


def test_no_flicker_one_clear_frame_does_not_clear() -> None:
    r = Run().step([assessment("warning")], n=3)
    for _ in range(5):
        r.step([]).step([assessment("warning")], n=2)
    assert r.events() == [("opened", "warning")]
    r.step([], n=5)
    assert r.events() == [("opened", "warning"), ("cleared", "clear")]


def test_hysteresis_held_frames_do_not_count_towards_clearing() -> None:
    r = Run().step([assessment("warning")], n=3)
    r.step([assessment("clear", held=True)], n=20)  # beyond warn_distance, within margin
    assert r.events() == [("opened", "warning")]
    r.step([assessment("clear", held=False)], n=5)
    assert r.events()[-1] == ("cleared", "clear")


def test_frames_without_a_detection_hold_the_incident() -> None:
    r = Run().step([assessment("danger")], n=3)
    r.step([], live=tracks(1, seen=False), n=30)  # 3 s undetected, still tracked
    assert r.events() == [("opened", "danger")]


def test_cooldown_folds_the_warning_message_never_the_incident_nor_danger() -> None:
    """A second approach within cooldown_s is assessed and opens its warning incident
    like the first (recorded, shown, published); only its SMS is folded."""
    r = Run().step([assessment("warning")], n=3).step([], n=5)
    assert r.events() == [("opened", "warning"), ("cleared", "clear")]
    assert r.all[0].folded == ""
    r.step([assessment("warning")], n=20)  # back at the edge 0.5 s later
    assert r.events()[2:] == [("opened", "warning")]
    assert r.all[-1].folded == "cooldown"
    r.step([assessment("danger")], n=3)  # now inside: escalates, never folded
    assert r.events()[-1] == ("escalated", "danger")
    assert r.all[-1].folded == ""


def test_cooldown_ends() -> None:
    r = Run().step([assessment("warning")], n=3).step([], n=5)
    r.step([], n=600)  # 60 s later
    r.step([assessment("warning")], n=3)
    assert r.events()[-1] == ("opened", "warning")
    assert r.all[-1].folded == ""


def test_id_switch_during_an_incident_continues_it() -> None:
    r = Run().step([assessment("warning", track=1)], n=3)
    first_id = r.all[-1].incident_id
    # The detector loses the person and the tracker re-finds them as track 2.
    live = tracks(1, seen=False) + tracks(2, age=0.0)
    r.step([assessment("warning", track=2)], live=live, n=2)
    r.step([assessment("danger", track=2)], live=live, n=3)
    assert r.events() == [("opened", "warning"), ("escalated", "danger")]
    assert r.all[-1].incident_id == first_id and r.all[-1].track_id == 2


def test_id_switch_after_clearing_does_not_start_a_new_warning_storm() -> None:
    r = Run().step([assessment("warning", track=1)], n=3).step([], n=5)
    assert r.events()[-1] == ("cleared", "clear")
    # Same person, new id (born after the incident opened): his warning opens, its
    # message is folded...
    r.step([assessment("warning", track=7)], live=tracks(7, age=0.1), n=10)
    assert r.log[-1][1:] == ("opened", "warning", 7) and r.all[-1].folded == "cooldown"
    # ...but someone who was already in view before that incident is told.
    r.step([assessment("warning", track=3)], live=tracks(7, 3, age=100), n=3)
    assert r.log[-1][1:] == ("opened", "warning", 3) and r.all[-1].folded == ""


def test_track_gone_clears_after_handover() -> None:
    r = Run().step([assessment("danger")], n=3)
    r.step([], live=[], n=18)  # gone for 1.7 s: a new id may still take it over
    assert r.events() == [("opened", "danger")]
    r.step([], live=[], n=4)  # past handover_s = 2 s
    assert r.events()[-1] == ("cleared", "clear")
    assert r.all[-1].reason == "track_lost"


def test_disarming_clears_and_nothing_opens_while_disarmed() -> None:
    r = Run().step([assessment("danger")], n=3).step([assessment("danger")], armed=set())
    assert r.events()[-1] == ("cleared", "clear")
    assert r.all[-1].reason == "disarmed"
    r.step([assessment("danger")], armed=set(), n=10)
    assert len(r.log) == 2


def test_danger_that_stays_opens_one_incident_and_says_nothing_more() -> None:
    """Who is told while danger lasts is the lifecycle's escalation chain (on wall time,
    across restarts: tests/test_lifecycle.py), not a per-frame transition."""
    r = Run().step([assessment("danger")], n=3)
    r.step([assessment("danger")], n=600)
    assert [e for e, _ in r.events()] == ["opened"]


def test_zone_removed_on_reload_clears_its_incidents() -> None:
    r = Run().step([assessment("danger")], n=3)
    ctx = FrameContext("cam", 99, 9.9, 9.9, 1e9)
    (tr,) = r.mgr.set_zones([], ctx)
    assert (tr.event, tr.reason) == ("cleared", "zone_removed")


@pytest.mark.parametrize("event", ["opened", "escalated", "cleared"])
def test_transitions_explain_themselves(event: str) -> None:
    mgr = IncidentManager("cam", [ZONE], clear_frames=5)
    got, k = [], 0
    for assessments, n in (([assessment("warning")], 3), ([assessment("danger")], 3), ([], 5)):
        for _ in range(n):
            ctx = FrameContext("cam", k, k * DT, k * DT, 1e9 + k)
            got += mgr.update(ctx, assessments, tracks(1))
            k += 1
    tr = {t.event: t for t in got}[event]
    assert (tr.camera, tr.zone_id, tr.zone_name, tr.zone_file_hash) == ("cam", "z", "Z", "0" * 12)
    assert tr.track_id == 1 and tr.body_part == "right_wrist"
    assert tr.frame == {"opened": 2, "escalated": 5, "cleared": 10}[event]
    assert tr.wall == 1e9 + tr.frame
    assert tr.level == {"opened": "warning", "escalated": "danger", "cleared": "clear"}[event]


# -- phantoms and handover ------------------------------------------------------------


def test_an_incident_opened_by_a_phantom_closes_and_nobody_inherits_it() -> None:
    """A machine part seen as a person opened danger before the camera knew better;
    judged a phantom, its incident closes, and the next visitor opens his own."""
    r = Run().step([assessment("danger", track=1)], n=3)
    phantom_incident = r.all[-1].incident_id
    trs = r.mgr.update(
        FrameContext("cam", 3, 0.3, 0.3, 1e9), [assessment("danger", track=1)], tracks(1), None,
        phantoms={1: "never moved, and 40 px tall where people are 170 px"},
    )  # fmt: skip
    assert [(t.event, t.reason) for t in trs] == [("cleared", "phantom")]
    r.k = 4
    # The phantom is still there (unseen for a moment), a real worker walks in.
    r.step([assessment("danger", track=2)], live=tracks(1, seen=False) + tracks(2), n=3)
    opened = [t for t in r.all if t.event == "opened"]
    assert [t.track_id for t in opened] == [1, 2]
    assert opened[-1].incident_id != phantom_incident


def test_a_new_id_far_from_where_the_person_was_lost_does_not_inherit() -> None:
    r = Run().step([assessment("warning", track=1)], n=3)
    far = replace(TRACK, id=2, bbox=TRACK.bbox + [900, 0, 900, 0])
    r.step([assessment("warning", track=2)], live=tracks(1, seen=False) + [far], n=3)
    opened = [t for t in r.all if t.event == "opened"]
    assert [t.track_id for t in opened] == [1, 2]  # two people, two incidents


def test_a_figure_seen_while_the_person_still_was_never_inherits_his_incident() -> None:
    """A worker in danger walks out; while he is still seen the model finds a "person"
    where he stood (a table's base, about his size in this test). When he is gone
    that figure is somebody else: it does not take over his incident."""
    r = Run().step([assessment("danger", track=1)], n=3)
    worker = r.all[-1].incident_id
    figure = replace(TRACK, id=2, state="tentative", age_s=0.0)
    both = tracks(1) + [figure]
    r.step([assessment("danger", track=1), assessment("danger", track=2)], live=both, n=1)
    later = tracks(1, seen=False) + tracks(2, age=0.5)
    r.step([assessment("danger", track=2)], live=later, n=25)
    opened = [t for t in r.all if t.event == "opened"]
    assert [t.track_id for t in opened] == [1, 2]  # its own incident, not his
    assert opened[-1].incident_id != worker


def test_undecided_tracks_count_frames_but_open_nothing_yet() -> None:
    r = Run()
    for k in range(8):
        ctx = FrameContext("cam", k, k * DT, k * DT, 1e9 + k * DT)
        r.log += [(k, t.event, t.level, t.track_id) for t in r.mgr.update(
            ctx, [assessment("danger")], tracks(1), None, undecided={1} if k < 5 else set()
        )]  # fmt: skip
    assert r.log == [(5, "opened", "danger", 1)]
