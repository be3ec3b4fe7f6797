"""The extension points: what a new alert channel or a new pose model implements.

* ``Sink``: one alert channel (SMS, webhook, the log; safetyd/alerts/ has one
  module per backend). The delivery worker calls ``send`` from its own thread
  and turns a ``DeliveryError`` into a retry or a failure.
* ``PoseEstimator``: a pose model on one picture stream (MediaPipe in
  safetyd/vision/pose.py). It keeps per-stream state (VIDEO mode), so each
  region or followed person gets an instance of its own.
* ``Clock``: seconds, injected wherever time is read, so that the pure parts
  (incidents, the delivery worker's schedule) run on a test's clock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np

    from .alerts.base import Alert
    from .vision.pose import Pose

Clock = Callable[[], float]


class Sink(Protocol):
    name: str

    def send(self, alert: Alert) -> str | None:
        """Deliver; return the provider's message id if it has one, raise DeliveryError."""
        ...


class PoseEstimator(Protocol):
    def estimate(self, image_bgr: np.ndarray, timestamp_s: float) -> list[Pose]:
        """The people in this picture, in its pixels; ``timestamp_s`` increases."""
        ...

    def close(self) -> None: ...
