"""The extension points: what a new alert channel or a new pose model implements.

* ``Sink``: one alert channel (SMS, webhook, the log; safetyd/alerts/ has one
  module per backend, and one line for each in ``alerts/service.py``'s
  ``SINKS``). The delivery worker calls ``send`` on threads of its
  own, several at once (so it must be thread-safe), and turns a
  ``DeliveryError`` into a retry, a failure or a fault of the whole channel.
  A sink with credentials may also offer ``credential_state()`` (an opaque
  value that changes when they do: a faulted sink is tried again then) and
  ``reset()`` (forget cached clients).
* ``PoseEstimator``: a pose model on one picture stream (MediaPipe in
  safetyd/vision/pose.py). It keeps per-stream state (VIDEO mode), so each
  region or followed person gets an instance of its own.
* ``Part``: a thread-owning component of the daemon: ``stop``, ``stalled(now)``,
  ``reload(old, new) -> Reloaded`` (applied, restarted, or keys kept until a
  restart). service/app.py starts them in order and stops them in reverse.
* ``FrameOutput``: where each frame's zone levels go (plant I/O, MQTT live
  state); handed a ``ZoneView`` after every frame, it must never block. An
  output registered in safetyd/extensions/ is a ``RunningOutput``: a
  FrameOutput that can also be stopped and asked whether it is stalled.
* ``Clock``: seconds, injected wherever time is read, so that the pure parts
  (incidents, the delivery worker's schedule) run on a test's clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np

    from .assembly.load import LoadedConfig
    from .base.alerts import Alert
    from .vision.pose import Pose
    from .zones.model import Zone

Clock = Callable[[], float]


class Sink(Protocol):
    name: str
    # True: one message per recipient number (SMS); False: every alert once, to the
    # channel itself (webhook, MQTT, the log). Routing reads this, never a list of names.
    addressed: bool

    def send(self, alert: Alert) -> str | None:
        """Deliver; return the provider's message id if it has one, raise DeliveryError."""
        ...


@dataclass(frozen=True)
class ZoneView:
    """One camera's zones after one frame: what every FrameOutput is shown."""

    camera: str
    zones: tuple[Zone, ...]  # the camera's zones as it assesses them now
    open: Mapping[str, tuple[str, str]]  # zone id → (level, incident id), open ones only
    captured_mono: float  # the frame's capture (monotonic), for frame-to-output latency


class FrameOutput(Protocol):
    """Where each frame's zone levels go: plant I/O (stack lights), the broker's live
    state, the next one. Called on the camera's inference thread after every frame,
    in the order the outputs were registered (service/app.py): it keeps what it last
    showed, acts on a change, and never blocks (store and wake a thread of its own)."""

    def show_frame(self, view: ZoneView) -> None: ...


class RunningOutput(FrameOutput, Protocol):
    """An output from safetyd/extensions/, once started: shown every frame, asked by
    the watchdog, stopped with the daemon (a reload that changes its table stops it
    and starts a new one from the new settings)."""

    def stop(self) -> None: ...

    def stalled(self, now: float) -> list[str]:
        """Why it is not doing its work (``now``: monotonic), or nothing."""
        ...


@dataclass(frozen=True)
class Reloaded:
    """What a part made of a reloaded configuration."""

    what: str  # "applied" (in place), "restarted", "unchanged"
    restart_keys: tuple[str, ...] = ()  # changed keys it keeps until the daemon restarts


class Part(Protocol):
    """A component of the running daemon that owns threads (service/app.py holds them
    in a list: started in order, stopped in reverse, each asked on a reload and by
    the watchdog)."""

    name: str

    def stop(self) -> None: ...

    def stalled(self, now: float) -> list[str]:
        """Why this part is not doing its work (``now``: monotonic), or nothing."""
        ...

    def reload(self, old: LoadedConfig, new: LoadedConfig) -> Reloaded:
        """Take a reloaded configuration that has passed validation; never raise for
        what the configuration says (it was checked)."""
        ...


class PoseEstimator(Protocol):
    def estimate(self, image_bgr: np.ndarray, timestamp_s: float) -> list[Pose]:
        """The people in this picture, in its pixels; ``timestamp_s`` increases."""
        ...

    def close(self) -> None: ...
