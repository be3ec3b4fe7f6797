"""Benchmark 3: the zone engine, 10 people × 33 landmarks × 200 zones per frame.

Scene: a 1920×1080 camera with 200 hazard zones of 30–70 px (about a quarter
of the floor guarded), 10 people about 300 px tall: 6 standing (a little
jitter) and 4 walking at about 1.4 m/s (240 px/s), zones with 10–60 px warn
distances and 0.5–2 s time-to-contact horizons. The fast engine runs every
frame; the naive reference (one shapely Point at a time) runs on a subset of
the same frames, interleaved, in the same process.
"""

from __future__ import annotations

import time

import numpy as np
import shapely
from common import Result, log, median, percentile
from reference import reference_assess
from synth import person, track_from

from safetyd.base import bodyparts
from safetyd.hazard.hazards import HazardEngine
from safetyd.zones import schedule as schedules
from safetyd.zones.model import Recipients, Zone

W, H = 1920, 1080
GROUPS = (["feet"], ["hands"], ["any"], ["head"], ["torso"])


def make_zones(rng: np.random.Generator, n: int = 200) -> list[Zone]:
    zones = []
    for i in range(n):
        x, y = rng.uniform(0, W - 70), rng.uniform(0, H - 70)
        geometry = shapely.box(x, y, x + rng.uniform(30, 70), y + rng.uniform(30, 70))
        parts = tuple(GROUPS[i % len(GROUPS)])
        zones.append(Zone(
            id=f"z{i}", name=f"Zone {i}", camera=None, severity="high", body_parts=parts,
            landmarks=bodyparts.resolve(parts), fallback=bodyparts.fallback_for(parts),
            warn_distance=float(rng.uniform(10, 60)), warn_ttc_s=float(rng.uniform(0.5, 2.0)),
            min_frames=3, cooldown_s=60, escalate_after_s=None, schedule=schedules.ALWAYS,
            recipients=Recipients(), enabled=True, geometry=geometry, units="pixels",
            file="bench", file_hash="-", index=i,
        ))  # fmt: skip
    return zones


def make_frames(n_frames: int, fps: float = 10.0) -> list[list]:
    people = []
    for j in range(10):
        r = np.random.default_rng(100 + j)
        start = np.array([r.uniform(100, W - 100), r.uniform(350, H)])
        if j < 4:
            angle = r.uniform(0, 2 * np.pi)
            velocity = 240.0 * np.array([np.cos(angle), np.sin(angle)])
        else:
            velocity = np.zeros(2)
        people.append((start, velocity, r))
    frames = []
    for k in range(n_frames):
        tracks = []
        for j, (start, velocity, r) in enumerate(people):
            pos = start + velocity * k / fps
            pos = np.array([pos[0] % W, 350 + (pos[1] - 350) % (H - 350)])
            jitter = r.normal(0, 2, 2)
            hide = ("feet",) if j % 5 == 0 else ()
            p = person(*(pos + jitter), scale=1.8, hide=hide, frame=(W, H))
            tracks.append(track_from(p, j + 1, velocity + r.normal(0, 10, 2)))
        frames.append(tracks)
    return frames


def stage_profile(
    engine: HazardEngine, frames: list[list]
) -> tuple[dict[str, float], dict[str, float]]:
    """Median milliseconds per stage of HazardEngine.assess, from its own steps, and
    the median sizes the stages worked on."""
    from safetyd.hazard.hazards import _People

    stages: dict[str, list[float]] = {}
    sizes: dict[str, list[int]] = {"pairs": [], "points": [], "measured": []}
    armed = np.ones(len(engine.zones), bool)
    for tracks in frames:
        marks = [time.perf_counter()]
        people = _People.of(tracks, engine.visibility_threshold)
        t_idx, z_idx = engine._pairs(people, armed)
        marks.append(time.perf_counter())
        p = engine._points(people, t_idx, z_idx)
        marks.append(time.perf_counter())
        keep, in_box = engine._near(p)
        p = p.take(keep)
        marks.append(time.perf_counter())
        m = engine._measure(p, in_box)
        marks.append(time.perf_counter())
        engine._reduce(people, t_idx, z_idx, p, m)
        marks.append(time.perf_counter())
        sizes["pairs"].append(len(t_idx))
        sizes["points"].append(len(engine._points(people, t_idx, z_idx).pair))
        sizes["measured"].append(len(p.pair))
        names = (
            "candidate pairs",
            "gather points",
            "bound pruning",
            "inside, distance, levels",
            "deciding parts",
        )
        for name, a, b in zip(names, marks, marks[1:], strict=False):
            stages.setdefault(name, []).append((b - a) * 1000)
    return (
        {k: median(v) for k, v in stages.items()},
        {k: median(v) for k, v in sizes.items()},
    )


def run(quick: bool = False) -> Result:
    rng = np.random.default_rng(2026)
    zones = make_zones(rng)
    frames = make_frames(120 if quick else 600)
    engine = HazardEngine(zones)
    for f in frames[:20]:  # warm-up
        engine.assess(f)
    fast, slow = [], []
    ref_every = 30 if quick else 20
    outputs = []
    for k, tracks in enumerate(frames):
        t = time.perf_counter()
        out = engine.assess(tracks)
        fast.append(time.perf_counter() - t)
        outputs.append(len(out))
        if k % ref_every == 0:
            t = time.perf_counter()
            reference_assess(tracks, zones)
            slow.append(time.perf_counter() - t)
    fast_med, slow_med = median(fast), median(slow)
    profile, sizes = stage_profile(engine, frames[: 60 if quick else 200])
    ratio = slow_med / fast_med
    ok = fast_med <= 0.001 and ratio >= 20
    log(f"zones: fast median {fast_med * 1e3:.3f} ms, naive {slow_med * 1e3:.1f} ms, x{ratio:.0f}")
    return Result(
        key="zones",
        title="Zone engine (10 tracks × 33 landmarks × 200 zones)",
        target="≤ 1 ms median; ≥ 20× the naive Point loop",
        measured=f"{fast_med * 1e3:.2f} ms median (p90 {percentile(fast, 90) * 1e3:.2f} ms); "
        f"naive {slow_med * 1e3:.0f} ms: {ratio:.0f}×",
        passed=ok,
        notes=[
            "1920×1080, 200 zones of 30–70 px, 10 people of ~300 px: 6 standing, 4 walking "
            "at ~240 px/s (1.4 m/s); warn 10–60 px, horizons 0.5–2 s.",
            f"{len(frames)} frames through the fast engine, {len(slow)} of the same frames "
            f"through the naive loop, interleaved; a median of {median(outputs):.0f} "
            "(track, zone) assessments reported per frame.",
            "Fast path: every track against every zone's bounding box in one tracks × zones "
            "table, then bounding-box bounds per body-part point, then shapely contains_xy "
            "(prepared zones, points within a bounding box only) and a numpy "
            "nearest-outline-point search (safetyd/hazard/outlines.py) on what is left, then one "
            "grouped reduction to the deciding part per pair; a fixed number of numpy calls "
            "per frame, none per point.",
            "Where the time goes (median ms per frame): "
            + ", ".join(f"{k} {v:.2f}" for k, v in profile.items())
            + f". The scene is dense: a median {sizes['pairs']:.0f} (track, zone) pairs are "
            "within reach per frame (the walkers' 2 s horizons reach ~600 px), "
            f"{sizes['points']:.0f} body-part points in them, {sizes['measured']:.0f} left after "
            "the bounds for exact geometry; each stage is a few dozen numpy calls whose fixed "
            "cost, not arithmetic, dominates at these sizes.",
        ],
        data={
            "fast_median_s": fast_med,
            "fast_p90_s": percentile(fast, 90),
            "naive_median_s": slow_med,
            "ratio": ratio,
            "frames": len(frames),
            "stages_ms": profile,
            "median_sizes": sizes,
        },
    )
