"""Motion gating: skip pose inference on still, empty scenes.

Pose inference is most of the CPU a camera costs. On a static scene with
nobody in it, a background subtractor on a small grey copy of the frame says
whether anything moved; if nothing did, inference is skipped. It is never
skipped while anyone is being tracked (a worker standing still inside a zone
moves very little and must keep being checked), and at least every
``max_skip_s`` seconds inference runs anyway, so a gating mistake cannot
blind a camera for long.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

GATE_WIDTH = 96  # pixels: a person is still a dozen pixels wide; the model stays cheap


@dataclass(frozen=True)
class GateDecision:
    infer: bool
    reason: str  # tracking | motion | interval | warmup | skip
    changed_frac: float


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

    def _changed(self, image: np.ndarray) -> float:
        h, w = image.shape[:2]
        # Nearest-neighbour decimation, then a blur: a quarter of the CPU of an
        # area-averaging resize, and the blur takes out the sensor noise it keeps.
        size = (GATE_WIDTH, max(1, round(h * GATE_WIDTH / w)))
        small = cv2.resize(image, size, interpolation=cv2.INTER_NEAREST)
        grey = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), (5, 5), 0)
        mask = self._bg.apply(grey)
        # Opening removes isolated noise pixels; a person is a blob.
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._kernel)
        return float(np.count_nonzero(mask)) / mask.size

    def decide(self, image: np.ndarray, t: float, tracking: bool) -> GateDecision:
        changed = self._changed(image)
        self._seen += 1
        if tracking:
            reason = "tracking"
        elif self._seen <= self.warmup_frames:
            reason = "warmup"
        elif changed >= self.min_changed_frac:
            reason = "motion"
        elif self._last_infer is None or t - self._last_infer >= self.max_skip_s - 1e-6:
            reason = "interval"
        else:
            return GateDecision(False, "skip", changed)
        self._last_infer = t
        return GateDecision(True, reason, changed)
