"""Man down and posture: recall on falls, false alarms on people at work, latency,
and the trunk angle's error by view.

* Falls: synthetic people (tests/skeletons.py: 3-D, known poses, seen by a
  camera 15° down) falling forward, backward and to the side at views 0°, 45°,
  90°; and real tracked skeletons (the shared worker footage, upright frames)
  rotated about their feet through a fall in the picture's plane, and
  foreshortened for falls toward the camera.
* Not falls: the same people bending, kneeling, sitting on a stool, crouching,
  lying down slowly to work (no fall; a man down only once still for its time),
  at each view; and every shared clip through real MediaPipe and the tracker.
* Latency: from the moment he is down (the fall's motion ends) to the alarm; the
  long lie's alarm against its configured time.
"""

from __future__ import annotations

import math
import sys

import numpy as np
from common import FIXTURES, ROOT, SHARED_FOOTAGE, Result, log, median

sys.path.insert(0, str(ROOT / "tests"))
import skeletons as S  # noqa: E402

from safetyd.hazard.down import DownKind, DownSettings, DownWatch  # noqa: E402
from safetyd.hazard.posture import trunk_angle  # noqa: E402
from safetyd.vision.tracking import Track  # noqa: E402

VIEWS = (0, 45, 90)
FPS = 10.0
LONG_LIE_S = 20.0


def _run(tracks, standing, settings: DownSettings, frame_h: float = S.H):
    watch = DownWatch(settings)
    events = []
    for t, track in tracks:
        events += watch.update([track], t, lambda x, y: standing, frame_h)
    return events


def _synthetic_falls():
    """(name, tracks, standing, down_at)"""
    stand = S.template()
    out = []
    for direction, sideways, sign in (("forward", False, 1), ("backward", False, -1),
                                      ("sideways", True, 1)):  # fmt: skip
        down = S.tip_over(stand, 90 * sign, sideways)
        for seconds in (0.5, 0.8, 1.2):
            poses = S.hold(stand, 2) + S.move(
                lambda u, sg=sign, sw=sideways: S.tip_over(stand, 90 * sg * u, sw), seconds
            ) + S.breathe(down, 5)  # fmt: skip
            for view in VIEWS:
                clip = S.Clip(poses, view_deg=view, seed=view)
                out.append((f"3-D {direction} {seconds}s view {view}°", list(clip.tracks()),
                            S.standing_height(view), 2.0 + seconds))  # fmt: skip
    return out


def _synthetic_work():
    stand = S.template()
    kinds = {
        "bending": lambda u: S.flex_trunk(stand, 95 * u),
        "kneeling": lambda u: stand + (S.kneel(stand) - stand) * u,
        "kneeling, leaning": lambda u: S.flex_trunk(stand + (S.kneel(stand) - stand) * u, 50 * u),
        "stool": lambda u: S.lower_hips(stand, 0.95 - 0.45 * u, 0.3 * u, 5 * u),
        "crouching": lambda u: S.lower_hips(stand, 0.95 - 0.55 * u, 0.35 * u, 40 * u),
    }
    out = []
    for name, pose in kinds.items():
        poses = S.hold(stand, 1) + S.move(pose, 0.7) + S.hold(pose(1.0), 10)
        poses += S.move(lambda u, p=pose: p(1 - u), 0.7) + S.hold(stand, 2)
        for view in VIEWS:
            clip = S.Clip(poses, view_deg=view, seed=view)
            out.append((f"{name} view {view}°", list(clip.tracks()), S.standing_height(view)))
    return out


def _real_skeletons() -> list[Track]:
    """Upright, whole people from the shared worker clip (real MediaPipe, tracked)."""
    from safetyd.assembly import load as cfg
    from safetyd.assembly.settings import CameraSettings
    from safetyd.pipeline import CameraPipeline
    from safetyd.vision.pose import MediaPipePoseEstimator
    from safetyd.vision.sources import iter_file

    clip = SHARED_FOOTAGE / "worker-zone-detection.gif"
    loaded = cfg.load(FIXTURES.parent / "systemd" / "safetyd.toml")
    pipe = CameraPipeline.from_settings(
        CameraSettings.of(loaded, "walkway"), MediaPipePoseEstimator, always_armed=True
    )
    out = []
    try:
        for f in iter_file(clip, "walkway"):
            for t in pipe.process(f, f.video_t).tracks:
                angle = trunk_angle(t.keypoints, t.visibility)
                whole = t.bbox[1] > 2 and t.bbox[3] < f.image.shape[0] - 2
                if t.seen and angle is not None and angle < 15 and whole:
                    out.append(t)
    finally:
        pipe.close()
    return out[:: max(1, len(out) // 6)][:6]


def _rotated(track: Track, degrees: float, toward: bool, rng) -> Track:
    """His skeleton rotated about his feet in the picture, or foreshortened (toward the
    camera), by ``degrees``."""
    kp = track.keypoints.copy()
    feet = np.array([(track.bbox[0] + track.bbox[2]) / 2, track.bbox[3]])
    a = math.radians(degrees)
    rel = kp - feet
    if toward:
        rel[:, 1] *= math.cos(a)
    else:
        rel = rel @ np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    kp = feet + rel + rng.normal(0, 1.0, kp.shape)
    box = np.array([kp[:, 0].min(), kp[:, 1].min(), kp[:, 0].max(), kp[:, 1].max()])
    from dataclasses import replace

    return replace(track, keypoints=kp, bbox=box, seen=True, state="confirmed")


def _real_falls(skeletons: list[Track]):
    rng = np.random.default_rng(1)
    out = []
    for n, sk in enumerate(skeletons):
        h = float(sk.bbox[3] - sk.bbox[1])
        # In the picture's plane only: a real skeleton foreshortened to nothing is no
        # picture of a fall toward the camera (the 3-D people above are).
        for how, toward, sign in (("left", False, -1), ("right", False, 1)):
            angles = [0.0] * 20 + [90 * (0.5 - 0.5 * math.cos(math.pi * (k + 1) / 6))
                                   for k in range(6)] + [90.0] * 50  # fmt: skip
            tracks = [(i / FPS, _rotated(sk, sign * a, toward, rng)) for i, a in enumerate(angles)]
            out.append((f"real skeleton {n} falls {how}", tracks, h, 2.6))
    return out


def _shared_clips():
    """Every shared clip through the real pipeline: (name, seconds, events)."""
    from safetyd.assembly import load as cfg
    from safetyd.assembly.settings import CameraSettings
    from safetyd.pipeline import CameraPipeline
    from safetyd.vision.pose import MediaPipePoseEstimator
    from safetyd.vision.sources import iter_file

    loaded = cfg.load(FIXTURES.parent / "systemd" / "safetyd.toml")
    clips = sorted(SHARED_FOOTAGE.glob("*.gif")) + [FIXTURES / "walk-in.mp4"]
    out = []
    for clip in clips:
        camera = "press-line" if clip.suffix == ".mp4" else "walkway"
        pipe = CameraPipeline.from_settings(
            CameraSettings.of(loaded, camera), MediaPipePoseEstimator, always_armed=True
        )
        # The long lie at 5 s, much shorter than any real setting: stricter.
        watch = DownWatch(DownSettings(man_down_after_s=5.0))
        events, last_t = [], 0.0
        try:
            for f in iter_file(clip, camera):
                r = pipe.process(f, f.video_t)
                events += watch.update(r.tracks, f.video_t, pipe.heights.trusted_at,
                                       f.image.shape[0])  # fmt: skip
                last_t = f.video_t
        finally:
            pipe.close()
        out.append((clip.name, last_t, events))
    return out


def run(quick: bool = False) -> Result:
    settings = DownSettings(man_down_after_s=LONG_LIE_S)
    falls = _synthetic_falls()
    have_shared = (SHARED_FOOTAGE / "worker-zone-detection.gif").exists()
    if have_shared:
        falls += _real_falls(_real_skeletons())
    found, latency, missed = 0, [], []
    for name, tracks, standing, down_at in falls:
        events = [e for e in _run(tracks, standing, settings) if e.kind == DownKind.FALL]
        if events:
            found += 1
            latency.append(events[0].t - down_at)
        else:
            missed.append(name)
    work = _synthetic_work()
    false_work = [(n, e) for n, tracks, h in work for e in _run(tracks, h, settings)]
    # A long lie: he lies down slowly (no fall) and stays still; the alarm's time.
    stand = S.template()
    lie = S.Clip(S.hold(stand, 1) + S.move(lambda u: S.tip_over(stand, 90 * u), 4.0) +
                 S.breathe(S.tip_over(stand, 90), LONG_LIE_S + 6), view_deg=90)  # fmt: skip
    lie_events = _run(list(lie.tracks()), S.standing_height(90), settings)
    lying_at = 1.0 + 4.0 * 0.75  # eased: he is below the lying line three quarters through
    lie_error = [e.t - lying_at - LONG_LIE_S for e in lie_events if e.kind == DownKind.MAN_DOWN]
    shared = _shared_clips() if have_shared else []
    shared_alarms = sum(len(e) for _, _, e in shared)
    shared_s = sum(s for _, s, _ in shared)
    views = {}
    for view in VIEWS:
        errors = [abs(trunk_angle(S.project(S.flex_trunk(stand, a), view), np.full(33, 0.95)) - a)
                  for a in range(0, 91, 5)]  # fmt: skip
        views[view] = (median(errors), max(errors))
    log(f"down: {found}/{len(falls)} falls, {len(false_work)} false on work, shared "
        f"{shared_alarms} in {shared_s:.0f} s; missed {missed}")  # fmt: skip
    recall = found / len(falls)
    passed = (not false_work and shared_alarms == 0 and latency and max(latency) <= 2.0
              and lie_error and abs(lie_error[0]) <= 1.0)  # fmt: skip
    notes = [
        f"Falls found: {found} of {len(falls)} ({recall:.0%}): "
        f"{sum(1 for f in falls if f[0].startswith('3-D'))} synthetic 3-D falls (forward, "
        "backward, sideways; 0.5, 0.8 and 1.2 s; views 0°, 45°, 90°; camera 1.5 m up, 15° "
        "down) and "
        f"{sum(1 for f in falls if f[0].startswith('real'))} real tracked skeletons from the "
        "shared worker clip rotated about their feet through a fall across the picture "
        "(left, right).",
        "Missed: " + ("; ".join(missed) if missed else "none") + ". A fall toward or away "
        "from the camera leaves the trunk upright in the picture: 2-D cannot tell it from "
        "crouching, and it is missed by design rather than raising false alarms on "
        "people who crouch.",
        f"Latency from down to the fall alarm: median {median(latency):.1f} s, max "
        f"{max(latency):.1f} s (goal ≤ 2 s; confirm_s = 1.0 s of lying first).",
        f"Long lie ({LONG_LIE_S:.0f} s configured): raised "
        + (f"{lie_error[0]:+.1f} s from its time" if lie_error else "NOT raised")
        + " (goal ± 1 s).",
        f"False alarms on synthetic work postures (bending, kneeling, kneeling and "
        f"leaning, sitting on a stool, crouching; each at 3 views, 10 s held): "
        f"{len(false_work)}.",
        (
            f"False alarms on the shared footage and the demo (real MediaPipe, tracked; man "
            f"down after 5 s, stricter than any real setting): {shared_alarms} in "
            f"{shared_s:.0f} s of video ({len(shared)} clips: "
            + ", ".join(n for n, _, _ in shared)
            + "). That is "
            f"{shared_s / 3600:.3f} camera-hours: too little footage to claim a rate per "
            "camera-hour; zero is what it shows."
        )
        if shared
        else "Shared footage absent: no real-footage false-alarm figure.",
        "Trunk angle error against known flexion (0–90° in 5° steps), median (max): "
        + "; ".join(f"view {v}°: {views[v][0]:.1f}° ({views[v][1]:.1f}°)" for v in VIEWS)
        + ". From the front (0°) a bend toward the camera is foreshortened, not tilted: "
        "2-D cannot measure it, and the figure says so.",
    ]
    return Result(
        key="down",
        title="Man down: falls, long lie, false alarms; trunk angle by view",
        target="falls found ≤ 2 s after down; long lie at its time ± 1 s; 0 false alarms "
        "on shared footage and work postures; trunk angle median error ≤ 10° side and 45°",
        measured=(
            f"{recall:.0%} of falls, latency max {max(latency):.1f} s; long lie "
            + (f"{lie_error[0]:+.1f} s" if lie_error else "missed")
            + f"; {len(false_work) + shared_alarms} false alarms; trunk error "
            f"{views[90][0]:.1f}° side, {views[45][0]:.1f}° at 45°"
        ),
        passed=bool(passed) and views[90][0] <= 10 and views[45][0] <= 10,
        notes=notes,
        data={
            "recall": recall,
            "latency": latency,
            "missed": missed,
            "views": views,
            "shared_alarms": shared_alarms,
            "false_work": len(false_work),
        },  # fmt: skip
    )
