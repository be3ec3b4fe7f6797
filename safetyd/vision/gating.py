"""Motion gating: skip pose inference on still, empty scenes.

Pose inference is most of the CPU a camera costs. On a static scene with
nobody in it, a background subtractor on a small grey copy of the frame says
whether anything moved; if nothing did, inference is skipped. It is never
skipped while anyone is being tracked (a worker standing still inside a zone
moves very little and must keep being checked), and at least every
``max_skip_s`` seconds inference runs anyway, so a gating mistake cannot
blind a camera for long.

The same foreground mask also says *where* things moved: its blobs
(``GateDecision.movers``, boxes in the gated picture's pixels) let the pose
model look closer at something moving that it did not recognise as a person
(vision/regional.py, "movers").
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

GATE_WIDTH = 96  # pixels: a person is still a dozen pixels wide; the model stays cheap
MOVER_MIN_PX = 3  # a blob this many mask pixels tall and wide can be a person
MOVERS_MAX = 8  # the largest blobs only: a flickering light makes hundreds

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class GateDecision:
    infer: bool
    reason: str  # tracking | motion | interval | warmup | skip
    changed_frac: float
    movers: tuple[Box, ...] = ()  # moving blobs, largest first (frames to infer only)


class MotionGate:
    def __init__(
        self, min_changed_frac: float = 0.002, max_skip_s: float = 1.0, warmup_frames: int = 5
    ) -> None:
        self.min_changed_frac = min_changed_frac
        self.max_skip_s = max_skip_s
        self.warmup_frames = warmup_frames
        self.reset()

    def reset(self) -> None:
        # detectShadows off: shadows are not people, and the test is cheaper.
        self._bg = cv2.createBackgroundSubtractorMOG2(
            history=200, varThreshold=25, detectShadows=False
        )
        self._seen = 0
        self._last_infer: float | None = None
        self._kernel = np.ones((3, 3), np.uint8)

    def _changed(self, image: np.ndarray) -> tuple[float, np.ndarray, tuple[float, float]]:
        h, w = image.shape[:2]
        # Nearest-neighbour decimation, then a blur: a quarter of the CPU of an
        # area-averaging resize, and the blur takes out the sensor noise it keeps.
        size = (GATE_WIDTH, max(1, round(h * GATE_WIDTH / w)))
        small = cv2.resize(image, size, interpolation=cv2.INTER_NEAREST)
        grey = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), (5, 5), 0)
        mask = self._bg.apply(grey)
        # Opening removes isolated noise pixels; a person is a blob.
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._kernel)
        return float(np.count_nonzero(mask)) / mask.size, mask, (w / size[0], h / size[1])

    def decide(self, image: np.ndarray, t: float, tracking: bool) -> GateDecision:
        changed, mask, scale = self._changed(image)
        self._seen += 1
        # Where things moved, only for frames the model will see (the gate's own cost
        # on skipped frames stays as it was), and not while a new background model
        # still calls everything foreground.
        warm = self._seen > self.warmup_frames
        if tracking:
            reason = "tracking"
        elif not warm:
            reason = "warmup"
        elif changed >= self.min_changed_frac:
            reason = "motion"
        elif self._last_infer is None or t - self._last_infer >= self.max_skip_s - 1e-6:
            reason = "interval"
        else:
            return GateDecision(False, "skip", changed)
        self._last_infer = t
        return GateDecision(True, reason, changed, _blobs(mask, *scale) if warm else ())


_JOIN = np.ones((5, 5), np.uint8)  # closes the gaps between a walker's moving parts


def _blobs(mask: np.ndarray, sx: float, sy: float) -> tuple[Box, ...]:
    """The mask's connected blobs big enough to be a person, as boxes scaled back to
    the picture. A walker's body parts move apart (legs, arms); a closing joins them."""
    if not mask.any():
        return ()
    joined = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, _JOIN)
    n, _, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    big = [
        stats[i]
        for i in range(1, n)
        if min(stats[i, cv2.CC_STAT_WIDTH], stats[i, cv2.CC_STAT_HEIGHT]) >= MOVER_MIN_PX
    ]
    big.sort(key=lambda s: -s[cv2.CC_STAT_AREA])
    return tuple(
        (float(s[0] * sx), float(s[1] * sy), float((s[0] + s[2]) * sx), float((s[1] + s[3]) * sy))
        for s in big[:MOVERS_MAX]
    )
