"""Which frames make an incident's clip: pure, one per camera, clock passed in.

A camera's clip starts when an incident opens, with the frames of the last
``pre_roll_s`` before it (what led up to it), and goes on while any incident
that joined it is open, then ``post_roll_s`` more; it ends at ``max_s`` in any
case (a clip is for review, not surveillance). An incident that opens while a
clip runs joins that clip, at its offset, rather than starting a second video of
the same picture. An incident that opens after a clip ended at ``max_s`` starts
a new one.

The planner never sees pixels: ``T`` is whatever the caller keeps per frame.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from .incidents import IncidentEvent, Transition

T = TypeVar("T")
EPS = 1e-6  # frame times are floats: 1.6 + 0.3 must reach 1.9


@dataclass(frozen=True)
class Joined:
    """An incident seen in a clip from ``offset_s`` seconds after the clip's start."""

    incident: str
    offset_s: float


@dataclass
class ClipStep(Generic[T]):
    """What one frame does to the camera's clip. In order: a clip that ``started``
    (its pre-roll frames, this one last), or this ``frame`` added to the running
    clip; the incidents that ``joined`` it; whether it ``ended`` with this frame."""

    started: list[T] | None = None
    frame: T | None = None
    joined: list[Joined] = field(default_factory=list)
    ended: bool = False

    @property
    def recording(self) -> bool:
        return self.started is not None or self.frame is not None


@dataclass
class _Clip:
    start: float  # monotonic time of its first frame
    open: set[str]  # its incidents that have not cleared
    until: float | None = None  # post-roll end, once all of them cleared


class ClipPlanner(Generic[T]):
    def __init__(self, pre_roll_s: float, post_roll_s: float, max_s: float) -> None:
        self.pre_roll_s = pre_roll_s
        self.post_roll_s = post_roll_s
        self.max_s = max_s
        self._recent: deque[tuple[float, T]] = deque()
        self._clip: _Clip | None = None

    @property
    def recording(self) -> bool:
        return self._clip is not None

    @property
    def wants_frames(self) -> bool:
        """Whether a frame would be kept now (pre-roll or a running clip): a caller
        may skip preparing frames nobody will see (then it must prepare the frame
        that opens an incident)."""
        return self._clip is not None or self.pre_roll_s > 0

    def step(self, mono: float, item: T, transitions: Sequence[Transition]) -> ClipStep[T]:
        out: ClipStep[T] = ClipStep()
        opened = [t.incident_id for t in transitions if t.event == IncidentEvent.OPENED]
        cleared = {t.incident_id for t in transitions if t.event == IncidentEvent.CLEARED}
        # The pre-roll is kept while a clip runs too: an incident that opens just after
        # a clip ended still gets what led up to it (the two clips then share frames).
        self._recent.append((mono, item))
        while self._recent and mono - self._recent[0][0] > self.pre_roll_s + EPS:
            self._recent.popleft()
        clip = self._clip
        if clip is None:
            if not opened:
                return out
            clip = self._clip = _Clip(start=self._recent[0][0], open=set())
            out.started = [i for _, i in self._recent]
        else:
            out.frame = item
        for incident in opened:
            clip.open.add(incident)
            out.joined.append(Joined(incident, mono - clip.start))
        clip.open -= cleared
        if clip.open:
            clip.until = None
        elif clip.until is None:
            clip.until = mono + self.post_roll_s
        if mono - clip.start >= self.max_s - EPS or (
            clip.until is not None and mono >= clip.until - EPS
        ):
            out.ended = True
            self._clip = None
        return out

    def reset(self) -> None:
        """Forget the pre-roll and any running clip (the caller closes its file)."""
        self._recent.clear()
        self._clip = None
