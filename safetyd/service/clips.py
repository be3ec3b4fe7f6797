"""One camera's incident clips: a thread of its own that draws, keeps the pre-roll
and encodes, so that recording never slows the pipeline.

The inference thread hands each processed frame over (``offer``) without
waiting: when the clip thread is behind, the frame is left out of the clip
(counted in ``safetyd_clip_frames_skipped``), never held in a queue that grows,
and the incident events it carried are passed on with the next frame, so no
clip misses its opening. Every frame is drawn as the snapshots are (zones,
skeletons, the contact point) with every person's head pixelated (``[clips]
blur_faces``; a coasting track's too), scaled to ``[clips] width``, and written
at the camera's fps in real time (a frame repeats when frames came slower), as
WebM/VP8, which browsers play (drawing/video.py). hazard/clips.py decides which
frames belong to which clip; clipdisk.py files them and bounds the disk.
Drawn frames wait for the encoder in the order they came; only the frames still
to be drawn are bounded (``QUEUE_FRAMES``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np

from ..assembly.settings import ClipRecording
from ..base.ratelog import RateLimitedLog
from ..drawing.render import Explained
from ..drawing.video import open_video
from ..hazard.clips import ClipPlanner, Joined
from ..hazard.incidents import IncidentEvent, Transition
from ..hazard.snapshots import annotate
from ..vision.calibration import FloorMap
from ..vision.tracking import Track
from ..zones.model import Zone
from .clipdisk import ClipDisk
from .metrics import Metrics

log = logging.getLogger("safetyd.clips")
QUEUE_FRAMES = 8  # frames handed over but not yet drawn; more waiting means skipping
WORK_BEHIND_S = 5.0  # seconds of drawn frames the encoder may be behind, past the pre-roll


@dataclass(frozen=True, eq=False)
class ClipInput:
    """One processed frame, as the clip thread needs it (all immutable or owned)."""

    mono: float
    wall: float
    image: np.ndarray
    tracks: Sequence[Track]
    reasons: Sequence[Explained]
    zones: Sequence[Zone]
    floor_map: FloorMap | None
    states: Mapping[str, str]
    motion: bool | None
    transitions: Sequence[Transition] = ()
    down: Mapping[int, str] | None = None  # people down now (hazard/body.py): marked


@dataclass(frozen=True, eq=False)
class _Picture:
    mono: float
    wall: float
    image: np.ndarray | None  # None: not drawn (nobody would see it)


class ClipRecorder:
    def __init__(
        self,
        camera: str,
        recording: ClipRecording,
        fps: float,
        disk: ClipDisk,
        metrics: Metrics,
        tz: ZoneInfo,
    ) -> None:
        self.camera = camera
        self.recording = recording
        self.fps = fps
        self.disk = disk
        self.metrics = metrics
        self.tz = tz
        self.planner: ClipPlanner[_Picture] = ClipPlanner(
            recording.pre_roll_s, recording.post_roll_s, recording.max_s
        )
        self._queue: queue.Queue[ClipInput | None] = queue.Queue(QUEUE_FRAMES)
        self._carried: list[Transition] = []  # events of frames left out
        self._work: deque[Callable[[], object]] = deque()  # drawn, not yet encoded
        # Room for the pre-roll written at a clip's start and a few seconds more.
        self._work_limit = int((recording.pre_roll_s + WORK_BEHIND_S) * fps) + 2
        self._thread: threading.Thread | None = None
        self._writer: cv2.VideoWriter | None = None
        self._path: Path | None = None
        self._started = (0.0, 0.0)  # the clip's first frame: monotonic, wall
        self._written = 0
        self._ratelog = RateLimitedLog(log)
        for family in (metrics.clips_recorded, metrics.clip_frames_skipped, metrics.clip_failures):
            family.labels(camera)

    # -- the inference thread's side ----------------------------------------------------

    def offer(self, item: ClipInput) -> None:
        """Hand a frame over without waiting (inference thread only)."""
        if self._carried:
            item = _with_transitions(item, [*self._carried, *item.transitions])
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._carried = list(item.transitions)
            self.metrics.clip_frames_skipped.labels(self.camera).inc()
            return
        self._carried = []

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> ClipRecorder:
        self._thread = threading.Thread(target=self._run, name=f"clips-{self.camera}", daemon=True)
        self._thread.start()
        return self

    def request_stop(self) -> None:
        """The running clip is closed with what it has; frames still queued are dropped."""
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        try:
            self._queue.put_nowait(None)
        except queue.Full:  # the thread took a frame meanwhile; room for the sentinel soon
            self._queue.put(None, timeout=1.0)

    def join(self, deadline: float) -> None:
        if self._thread:
            self._thread.join(max(0.0, deadline - time.monotonic()))

    # -- the clip thread ------------------------------------------------------------------

    def _run(self) -> None:
        """Frames are drawn as they come (about a millisecond: the queue stays short);
        encoding (about ten) runs while no frame waits, so the pre-roll written at a
        clip's start, a burst of seconds of frames, never makes the queue overflow."""
        while True:
            try:
                item = self._queue.get(block=not self._work)
            except queue.Empty:
                self._guarded(self._do_one)
                continue
            if item is None:
                break
            self._guarded(partial(self._plan, item))
        self._guarded(self._do_all)
        self._close(ok=True)

    def _guarded(self, work: Callable[[], object]) -> None:
        try:
            work()
        except Exception as exc:
            # A clip is evidence for review: losing one must not stop the next.
            self._ratelog.error("frame", "camera %s: clip failed: %s", self.camera, exc,
                                exc_info=exc)  # fmt: skip
            self.metrics.clip_failures.labels(self.camera).inc()
            self._work.clear()
            self._close(ok=False)
            self.planner.reset()

    def take(self, item: ClipInput) -> None:
        """All the clip thread's work for one frame, done now (tests call it in order)."""
        self._plan(item)
        self._do_all()

    def _plan(self, item: ClipInput) -> None:
        """Draw the frame, and queue what it does to the clip (in order)."""
        opens = any(t.event == IncidentEvent.OPENED for t in item.transitions)
        drawn = self._draw(item) if opens or self.planner.wants_frames else None
        picture = _Picture(item.mono, item.wall, drawn)
        step = self.planner.step(item.mono, picture, item.transitions)
        if step.started is not None:
            self._work.append(partial(self._open, step.started[0]))
            self._work.extend(partial(self._write, p) for p in step.started)
        elif step.frame is not None and len(self._work) >= self._work_limit:
            # The encoder cannot keep up at all (a picture too big for this machine):
            # frames are left out rather than memory growing.
            self.metrics.clip_frames_skipped.labels(self.camera).inc()
        elif step.frame is not None:
            self._work.append(partial(self._write, step.frame))
        if step.joined:
            self._work.append(partial(self._join, step.joined))
        if step.ended:
            self._work.append(partial(self._close, True))

    def _do_one(self) -> None:
        self._work.popleft()()

    def _do_all(self) -> None:
        while self._work:
            self._do_one()

    def _join(self, joined: list[Joined]) -> None:
        if self._path is not None:
            self.disk.join(self.camera, self._path, self._started[1], joined)

    def _draw(self, item: ClipInput) -> np.ndarray:
        pic = annotate(
            item.image, item.zones, item.tracks, item.floor_map, dict(item.states),
            self.recording.blur_faces, motion=item.motion, reasons=item.reasons,
            down=item.down,
        )  # fmt: skip
        h, w = pic.shape[:2]
        width = min(self.recording.width, w) // 2 * 2  # VP8 wants even sizes
        height = max(2, round(h * width / w) // 2 * 2)
        return cv2.resize(pic, (width, height), interpolation=cv2.INTER_AREA)

    def _open(self, first: _Picture) -> None:
        self._started = (first.mono, first.wall)
        self._written = 0
        path = self.disk.new_path(self.camera, first.wall, self.tz)
        self._path = path
        size = (first.image.shape[1], first.image.shape[0]) if first.image is not None else None
        opened, why = None, "the VP8 encoder would not open"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if size is not None:
                opened = open_video(path, self.fps, size)
        except OSError as exc:
            why = str(exc)
        if opened is None:
            self._ratelog.error("open", "camera %s: clip %s not recorded: %s",
                                self.camera, path, why)  # fmt: skip
            self.metrics.clip_failures.labels(self.camera).inc()
            self.disk.finished(path, ok=False)
            self._path = None
            return
        self._writer = opened[0]

    def _write(self, picture: _Picture) -> None:
        """Real time at the clip's fps: a frame that came late is repeated, one that
        came sooner than the next slot is left out."""
        if self._writer is None or picture.image is None:
            return
        due = int((picture.mono - self._started[0]) * self.fps) + 1
        for _ in range(max(0, due - self._written)):
            self._writer.write(picture.image)
            self._written += 1

    def _close(self, ok: bool) -> None:
        writer, path = self._writer, self._path
        self._writer, self._path = None, None
        if writer is not None:
            writer.release()
        if path is None:
            return
        self.disk.finished(path, ok and writer is not None and self._written > 0)
        if ok and writer is not None:
            self.metrics.clips_recorded.labels(self.camera).inc()
            log.info("camera %s: clip %s written (%.1f s)", self.camera, path,
                     self._written / self.fps)  # fmt: skip
            self.disk.enforce()


def _with_transitions(item: ClipInput, transitions: list[Transition]) -> ClipInput:
    return replace(item, transitions=tuple(transitions))
