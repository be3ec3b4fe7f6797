"""Posture exposure: seconds in each risk band, and risky postures held, per area.
Pure, clock passed in; fed one frame's measured postures (hazard/posture.py).

The bands follow the parts of REBA/RULA that a 2-D skeleton measures reliably:
trunk lean (0–20°, 20–60°, beyond 60°), upper-arm elevation (0–45°, 45–90°,
beyond 90°), knee flexion (0–30°, 30–60°, beyond 60°: deep squat, kneeling) and
the hands (below the shoulders, above the shoulders, above the head). A *risky
posture event* is one of the last bands held for ``hold_s`` without a break.

A person's frames count the time since his previous measured frame, at most
``MAX_GAP_S``: a person the model lost for a while is not assumed to have held
his posture all that time.

This measures posture exposure for ergonomic review; it makes no medical or
compliance claim.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from .posture import Posture

MAX_GAP_S = 0.5

# measure → (upper bound, band name) in order; the last band is the risky one.
BANDS: dict[str, tuple[tuple[float, str], ...]] = {
    "trunk": ((20.0, "0-20"), (60.0, "20-60"), (math.inf, "over_60")),
    "upper_arm": ((45.0, "0-45"), (90.0, "45-90"), (math.inf, "over_90")),
    "knee": ((30.0, "0-30"), (60.0, "30-60"), (math.inf, "over_60")),
    "hands": ((0.0, "below_shoulders"), (1.0, "above_shoulders"), (math.inf, "above_head")),
}
MEASURES = tuple(BANDS)
RISKY = {m: bands[-1][1] for m, bands in BANDS.items()}
# The risky posture events, by measure.
EVENTS = {
    "trunk": "trunk_over_60",
    "upper_arm": "arm_over_90",
    "knee": "knee_over_60",
    "hands": "hands_above_head",
}


def band_of(measure: str, value: float) -> str:
    for upper, name in BANDS[measure]:
        if value <= upper if measure == "hands" else value < upper:
            return name
    return BANDS[measure][-1][1]


def values_of(p: Posture) -> dict[str, float]:
    """The measures a posture has (a part not seen has none)."""
    out: dict[str, float] = {}
    if p.trunk is not None:
        out["trunk"] = p.trunk
    if p.arm is not None:
        out["upper_arm"] = p.arm
    if p.knees is not None:
        out["knee"] = p.knees
    if p.hands_above_head or p.hands_above_shoulders or p.arm is not None:
        out["hands"] = 2.0 if p.hands_above_head else 1.0 if p.hands_above_shoulders else 0.0
    return out


@dataclass(frozen=True)
class Sample:
    """One person's posture in one frame, in an area."""

    track_id: int
    area: str
    posture: Posture


@dataclass(frozen=True)
class Exposed:
    """Seconds added to an area's band."""

    area: str
    measure: str
    band: str
    seconds: float


@dataclass(frozen=True)
class RiskyPosture:
    """A risky posture held for ``hold_s`` (one per hold)."""

    area: str
    track_id: int
    event: str  # EVENTS' values
    t: float
    value: float  # the angle (or hands level) when it was called


@dataclass(frozen=True)
class ExposureFrame:
    exposed: tuple[Exposed, ...]
    risky: tuple[RiskyPosture, ...]


class ExposureMeter:
    def __init__(self, hold_s: float = 2.0) -> None:
        self.hold_s = hold_s
        self._last: dict[int, float] = {}
        self._since: dict[tuple[int, str], float] = {}  # (track, measure) → risky since
        self._said: set[tuple[int, str]] = set()

    def update(self, t: float, samples: Iterable[Sample]) -> ExposureFrame:
        exposed: dict[tuple[str, str, str], float] = {}
        risky: list[RiskyPosture] = []
        seen: set[int] = set()
        for s in samples:
            seen.add(s.track_id)
            last = self._last.get(s.track_id)
            self._last[s.track_id] = t
            dt = 0.0 if last is None else max(0.0, min(t - last, MAX_GAP_S))
            values = values_of(s.posture)
            for measure in MEASURES:
                key = (s.track_id, measure)
                value = values.get(measure)
                band = band_of(measure, value) if value is not None else None
                if band is not None and dt > 0:
                    k = (s.area, measure, band)
                    exposed[k] = exposed.get(k, 0.0) + dt
                if band != RISKY[measure]:
                    self._since.pop(key, None)
                    self._said.discard(key)
                    continue
                since = self._since.setdefault(key, t)
                if t - since >= self.hold_s and key not in self._said:
                    self._said.add(key)
                    assert value is not None
                    risky.append(RiskyPosture(s.area, s.track_id, EVENTS[measure], t, value))
        for tid in set(self._last) - seen:
            # Not measured this frame: his holds end (a gap is no evidence he held on).
            if t - self._last[tid] > MAX_GAP_S:
                del self._last[tid]
                for measure in MEASURES:
                    self._since.pop((tid, measure), None)
                    self._said.discard((tid, measure))
        return ExposureFrame(
            tuple(Exposed(a, m, b, sec) for (a, m, b), sec in exposed.items()), tuple(risky)
        )


# -- the posture records (``safetyd replay --posture``: JSON lines) ----------------
#
# {"event": "risky_posture", "camera", "zone" (the area), "track", "frame", "t",
#  "posture" (EVENTS' values), "value" (degrees; hands: 2 = above the head)}
# and at the end, one per area, measure and band seen:
# {"event": "exposure", "camera", "zone", "measure", "band", "seconds"}


def risky_record(camera: str, frame: int, video_t: float, r: RiskyPosture) -> dict:
    return {
        "event": "risky_posture", "camera": camera, "zone": r.area, "track": r.track_id,
        "frame": frame, "t": round(video_t, 3), "posture": r.event, "value": round(r.value, 1),
    }  # fmt: skip


def exposure_records(camera: str, totals: dict[tuple[str, str, str], float]) -> list[dict]:
    """``totals``: (area, measure, band) → seconds."""
    return [
        {"event": "exposure", "camera": camera, "zone": area, "measure": measure, "band": band,
         "seconds": round(seconds, 2)}
        for (area, measure, band), seconds in sorted(totals.items())
    ]  # fmt: skip
