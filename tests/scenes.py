"""Scene variants made from a clip: shrink it into a bigger frame, as a camera that
covers a bigger floor would see it, with clutter around it.

``shrink_into(frames, scale)`` places every frame, resized so that at scale 1.0
it fills a 1920×1080 canvas (the clip's aspect kept), at ``scale`` of that size,
centred, on a background made from the clip's own empty floor (its per-pixel
median over time, reflected outwards and blurred). People shrink with the scene; zones
drawn in clip pixels map through ``Placement.box``/``point``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

CANVAS = (1920, 1080)


def read_frames(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


@dataclass(frozen=True)
class Placement:
    """Where the clip sits in the canvas: canvas = clip * factor + offset."""

    factor: float
    offset: tuple[float, float]

    def point(self, x: float, y: float) -> tuple[float, float]:
        return (x * self.factor + self.offset[0], y * self.factor + self.offset[1])

    def box(self, box: Sequence[float]) -> tuple[float, float, float, float]:
        x0, y0 = self.point(box[0], box[1])
        x1, y1 = self.point(box[2], box[3])
        return (x0, y0, x1, y1)

    def coords(self, ring: Sequence[Sequence[float]]) -> list[list[float]]:
        return [list(self.point(x, y)) for x, y in ring]


def placement(clip_size: tuple[int, int], scale: float, canvas=CANVAS) -> Placement:
    w, h = clip_size
    fit = min(canvas[0] / w, canvas[1] / h)
    factor = fit * scale
    return Placement(factor, ((canvas[0] - w * factor) / 2, (canvas[1] - h * factor) / 2))


def background(frames: Sequence[np.ndarray]) -> np.ndarray:
    """The clip without its moving people: the median of (up to 15) frames."""
    step = max(1, len(frames) // 15)
    return np.median(np.stack(frames[::step]), axis=0).astype(np.uint8)


def shrink_into(
    frames: Sequence[np.ndarray], scale: float, canvas=CANVAS
) -> tuple[Iterator[np.ndarray], Placement]:
    h, w = frames[0].shape[:2]
    where = placement((w, h), scale, canvas)
    size = (int(round(w * where.factor)), int(round(h * where.factor)))
    x0, y0 = int(round(where.offset[0])), int(round(where.offset[1]))
    # Adjust for rounding, so that the placement is exact to the pixel.
    where = Placement(size[0] / w, (x0, y0))
    bg = cv2.resize(background(frames), size, interpolation=cv2.INTER_AREA)
    # The empty floor reflected outwards (numpy repeats the reflection if the clip
    # is small), so the clutter around the clip is floor, not a blank border; blurred,
    # so that the faint remains of a person who stood still (the median keeps some)
    # do not become people all around.
    pads = ((y0, canvas[1] - y0 - size[1]), (x0, canvas[0] - x0 - size[0]), (0, 0))
    base = cv2.GaussianBlur(np.pad(bg, pads, mode="symmetric"), (0, 0), 20)

    def frames_out() -> Iterator[np.ndarray]:
        for frame in frames:
            out = base.copy()
            out[y0 : y0 + size[1], x0 : x0 + size[0]] = cv2.resize(
                frame, size, interpolation=cv2.INTER_AREA if scale <= 1 else cv2.INTER_LINEAR
            )
            yield out

    return frames_out(), where


def astronaut(side: int) -> np.ndarray:
    """scikit-image's public-domain portrait of an astronaut (an upper body the pose
    model finds reliably once it is 0.3 of the picture), ``side`` px square."""
    from skimage import data

    image = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    return cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)


def noise_floor(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A grey concrete-like floor: smooth blotches and a little grain."""
    rng = np.random.default_rng(seed)
    blotches = cv2.GaussianBlur(rng.normal(0, 14, (height, width)).astype(np.float32), (0, 0), 6)
    grain = rng.normal(0, 2, (height, width)).astype(np.float32)
    return np.clip(118 + blotches + grain, 0, 255).astype(np.uint8)[..., None].repeat(3, axis=2)


def paste(image: np.ndarray, picture: np.ndarray, x: int, y: int) -> np.ndarray:
    out = image.copy()
    h, w = picture.shape[:2]
    out[y : y + h, x : x + w] = picture
    return out
