"""Precision and lead: false DANGER on the phantom trap, and warnings before danger.

**Phantom trap** (tests/trap.py): the shared worker clip composed into footage
where a still object the pose model takes for a small person stands in the
bay, behind the spot where the worker stops, and workers walk in and out past
it (three visits, empty floor between). Variants: the clip shrunk into a
1920×1080 frame at three sizes, the object at three sizes. Reported: DANGER
incidents raised by the object or with nobody there, per hour of footage.

**Lead**: of the visits in which the worker was seen at least a second before
danger, those that opened at warning first; on the trap footage and on the
bundled demo looped (one visit per loop, as a new user watching the daemon
sees it).
"""

from __future__ import annotations

import tempfile
from functools import cache
from pathlib import Path

from common import FIXTURES, Result, log
from perception import CLIPS, _pipeline, reference_boxes
from scenes import read_frames, shrink_into
from trap import LEAD_S, score, trap

SCALES = (0.3, 0.4, 0.6)  # of the size at which the clip fills 1080p
FIGURES = (0.25, 0.33, 0.4)  # the object's height, of a worker's there
# Half a worker's height is what a crouching worker measures: size cannot tell a still
# figure that tall from him (vision/phantoms.py, SIZE_FACTOR), so it is reported apart.
BOUNDARY = 0.5
DEMO_LOOPS = 6
BEFORE_RUN = "2026-12-04"
# Measured with the old code on this footage (the runs were long, and the second was
# cut short by a restart: what was measured is given as it stands).
BEFORE = (
    "on an earlier set of variants (objects 0.33, 0.4 and 0.5 of a worker's height, the "
    "same three scales) 23 false DANGER in 7.8 min of footage (about 177/h), and 1 of 16 "
    "visits warned before danger; on this set, the 5 variants measured before that run was "
    "cut short gave 3 false DANGER (all at ×0.3, object 0.4)"
)


def _zones(where) -> dict:
    ring = CLIPS[1].zone
    return {"type": "FeatureCollection", "features": [{
        "type": "Feature",
        "properties": {"id": "bay", "body_parts": ["feet"],
                       "warn_distance": round(30 * where.factor, 1), "min_frames": 3},
        "geometry": {"type": "Polygon", "coordinates": [where.coords(ring + [ring[0]])]},
    }]}  # fmt: skip


@cache
def trap_runs(quick: bool, figures: tuple[float, ...] = FIGURES) -> tuple[tuple, ...]:
    """(scale, figure, Outcome) per variant."""
    from safetyd.vision.sources import Frame

    clip = CLIPS[1]
    if not clip.path.exists():
        return ()
    frames = read_frames(clip.path)
    person = [t.box if t is not None else None for t in reference_boxes(clip, frames)]
    out = []
    for scale in SCALES[:1] if quick else SCALES:
        for figure in figures[-1:] if quick else figures:
            footage = trap(frames, person, clip.fps, figure)
            scaled, where = shrink_into(footage.frames, scale)
            with tempfile.TemporaryDirectory() as name:
                pipe = _pipeline(Path(name), _zones(where))
                try:
                    results = [
                        pipe.process(Frame("cam", i, i / clip.fps, 1.7e9 + i, i / clip.fps, im),
                                     i / clip.fps)
                        for i, im in enumerate(scaled)
                    ]  # fmt: skip
                finally:
                    pipe.close()
            outcome = score(footage, results, where.box(footage.figure_box))
            log(f"trap x{scale} object {figure}: {outcome}")
            out.append((scale, figure, outcome))
    return tuple(out)


def trap_row(quick: bool = False) -> Result:
    runs = trap_runs(quick)
    if not runs:
        return Result("trap", "Phantom trap: false DANGER", "-",
                      "not run: shared footage absent", None)  # fmt: skip
    bounds = trap_runs(quick, (BOUNDARY,))
    false = sum(o.false_danger for _, _, o in runs)
    seconds = sum(o.seconds for _, _, o in runs)
    return Result(
        key="trap",
        title="Phantom trap: false DANGER",
        target="0 false DANGER incidents per hour of footage",
        measured=f"{false} in {seconds / 60:.1f} min of footage ({false * 3600 / seconds:.0f}/h) "
        f"over {len(runs)} variants",
        passed=false == 0,
        notes=[
            "Footage composed by tests/trap.py from worker-zone-detection.gif (shared footage, "
            "CC BY 4.0 Intel IoT Devkit): a cut-out of the worker shrunk to a fraction of his "
            "height stands still in the bay, behind the spot where he stops (the model finds "
            "it as a small person); he stands in front of it, walks out, and comes back twice "
            "(8 s of empty floor between visits). The clip is shrunk into 1920×1080 at "
            f"{', '.join(map(str, SCALES))} of its full size; the object is "
            f"{', '.join(map(str, FIGURES))} of the worker's height there.",
            "A false DANGER: an incident opened at or escalated to danger while nobody is in "
            "the picture, or by a track on the object (most of its box in the object's box "
            "grown by half, and not much taller than the object).",
            f"Before this change (the code of 2026-11-27, same footage, run {BEFORE_RUN}): "
            f"{BEFORE}. The object was first found in a crop looking for the worker who was "
            "leaving, as a box sprawling over the pixels he was leaving; its settling onto "
            "the object, or the model's fits on it jumping a quarter of its height, counted "
            "as life ('live for good'), it opened danger at once and held it until the "
            "next visitor; and its 'life' taught the camera wrong sizes, which later had a "
            "real worker walking in judged a phantom.",
            *[
                f"×{s} of 1080p, object {f} of a worker: {o.false_danger} false DANGER in "
                f"{o.seconds:.0f} s; {o.warned}/{o.visits} visits warned first"
                for s, f, o in runs
            ],
            f"The boundary, reported apart: an object {BOUNDARY} of a worker's height, which "
            "is what a crouching worker measures, so that size cannot condemn it; it is "
            "held only when first seen in the pixels of a worker leaving (a suspect) and "
            "otherwise opens like a still person: "
            + "; ".join(f"×{s}: {o.false_danger} DANGER in {o.seconds:.0f} s" for s, _, o in bounds)
            + ".",
            "The run of 2026-12-04 evening had 1 false DANGER (×0.6, object 0.33): a new "
            "track on the object had a box that sprawled for one frame, that box became "
            "the reference its life was measured from, and the next two boxes, back on the "
            "object, seemed to have travelled from it: 'moved', live for good, danger. "
            "Since 2026-12-05 one odd box is compared with nothing and is not the next "
            "reference; only a box that stays changed makes one (vision/phantoms.py, "
            "SETTLED_FRAMES; tests/test_phantoms.py replays those boxes).",
        ],
        data={
            "runs": [[s, f, o.false_danger, o.visits, o.warned, o.seconds] for s, f, o in runs],
            "boundary": [[s, f, o.false_danger, o.seconds] for s, f, o in bounds],
        },
    )


def _demo_visits(loops: int) -> tuple[int, int, int]:
    """The bundled demo looped, as the daemon loops it: (visits counted, warned first,
    incidents opened)."""
    from safetyd.assembly import load as cfg
    from safetyd.assembly.settings import CameraSettings
    from safetyd.pipeline import CameraPipeline
    from safetyd.vision.pose import MediaPipePoseEstimator
    from safetyd.vision.sources import Frame, iter_file

    video = list(iter_file(FIXTURES / "walk-in.mp4", "press-line"))
    loaded = cfg.load(FIXTURES.parent / "systemd" / "safetyd.toml")
    pipe = CameraPipeline.from_settings(
        CameraSettings.of(loaded, "press-line"), MediaPipePoseEstimator, always_armed=True
    )
    fps, n = 10.0, len(video)
    visits = warned = opened = 0
    try:
        for loop in range(loops):
            seen = danger = warning = None
            for k, f in enumerate(video):
                i = loop * n + k
                t = i / fps
                res = pipe.process(Frame("press-line", i, t, 1.7e9 + t, t, f.image), t)
                if seen is None and any(tr.seen for tr in res.tracks):
                    seen = t
                for tr in res.transitions:
                    opened += tr.event == "opened"
                    if tr.event == "opened" and tr.level == "warning" and warning is None:
                        warning = t
                    if tr.level == "danger" and tr.event != "cleared" and danger is None:
                        danger = t
            if seen is not None and danger is not None and danger - seen >= LEAD_S:
                visits += 1
                warned += warning is not None and warning <= danger
    finally:
        pipe.close()
    return visits, warned, opened


def lead_row(quick: bool = False) -> Result:
    runs = trap_runs(quick)
    visits = sum(o.visits for _, _, o in runs)
    warned = sum(o.warned for _, _, o in runs)
    demo = _demo_visits(2 if quick else DEMO_LOOPS)
    total, total_warned = visits + demo[0], warned + demo[1]
    share = total_warned / total if total else float("nan")
    return Result(
        key="lead",
        title="Warned before danger",
        target=f"100 % of visits where the person was seen ≥ {LEAD_S:.0f} s before contact",
        measured=f"{total_warned}/{total} ({share:.0%}): trap footage {warned}/{visits}, "
        f"demo looped {demo[1]}/{demo[0]}",
        passed=bool(total) and total_warned == total,
        notes=[
            f"A visit counts when a person (not a phantom, not the trap's object) was seen at "
            f"least {LEAD_S:.0f} s before the first danger (opened or escalated); it is warned "
            "when a warning incident opened before that danger. The trap footage's first "
            "visit starts with the worker inside the zone and does not count.",
            f"Demo: fixtures/walk-in.mp4 looped {DEMO_LOOPS if not quick else 2} times through "
            "the press-line camera of systemd/safetyd.toml (as `safetyd run` loops it), "
            f"{demo[2]} incidents opened. Before this change a new approach within the zone's "
            "cooldown_s (60 s) of the last incident opened no warning incident at all: on 3 "
            "minutes of the looping demo 1 of 17 incidents opened at warning. Now the "
            "cooldown folds the warning's SMS (marked in the event, the log and the sinks) "
            "and the assessment is never held back.",
        ],
        data={"trap": [visits, warned], "demo": list(demo)},
    )
