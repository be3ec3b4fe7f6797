"""Camera sources: files, RTSP/HTTP streams and local devices through OpenCV.

Latest frame wins: a reader thread per camera keeps only the newest frame in a
one-slot buffer, so a slow consumer sees fresh frames with dropped ones counted,
never a growing queue of stale ones. A supervisor thread per camera restarts the
reader with capped exponential backoff and jitter when the stream fails, ends
or stalls. A native read that blocks forever cannot be interrupted from Python:
the supervisor abandons that reader (a daemon thread, left blocked) and opens a
fresh capture, so one wedged socket never wedges the daemon.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import cv2
import numpy as np

from ..base.credentials import CredentialMissing, read_credential
from ..base.timing import Rate, backoff
from ..config.model import is_device

log = logging.getLogger(__name__)
_configured = False


def configure() -> None:
    """OpenCV's process-wide settings for camera capture; done once, at the first open
    (never at import: importing a module must not change the process).

    * FFmpeg input options (OpenCV reads the variable whenever a capture opens):
      TCP for RTSP (no smeared frames from UDP loss), a bounded demuxer delay and
      a short probe so that a stream opens quickly. Latency is kept low by the
      reader consuming continuously (latest frame wins), not by
      "fflags;nobuffer|flags;low_delay": those drop the first frame of a video
      file and make FFmpeg warn. An operator can override them in the unit's
      Environment=.
    * FFmpeg's own log lines ("Connection refused" per retry) would flood the
      journal; safetyd logs each failure once, in its own words.
    * OpenCV's thread pool: the images it sees here are small and every camera
      already has its own threads, so waking pool threads costs more CPU than it
      saves (measured: +60 % CPU for the motion gate's small-image work).
    """
    global _configured
    if _configured:
        return
    os.environ.setdefault(
        "OPENCV_FFMPEG_CAPTURE_OPTIONS",
        "rtsp_transport;tcp|max_delay;500000|probesize;500000|analyzeduration;1000000",
    )
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "8")  # AV_LOG_FATAL
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    cv2.setNumThreads(1)
    _configured = True


class SourceError(RuntimeError):
    pass


@dataclass(frozen=True, eq=False)
class Frame:
    camera: str
    index: int  # sequence number of frames read from this source
    mono: float  # time.monotonic() when the frame was read
    wall: float  # time.time() when the frame was read
    video_t: float  # seconds since the start of the video or stream
    image: np.ndarray  # BGR


@dataclass(frozen=True)
class SourceStatus:
    camera: str
    connected: bool
    fps: float
    last_frame_age_s: float | None
    last_fresh_age_s: float | None  # age of the last frame that differed from its predecessor
    reconnects: int
    frames_read: int
    frames_dropped: int
    abandoned_readers: int
    ended: bool
    error: str | None


def kind_of(source: str) -> str:
    if is_device(source):
        return "device"
    if "://" in source and not source.startswith("file://"):
        return "stream"
    return "file"


def open_capture(
    source: str,
    open_timeout_s: float,
    read_timeout_s: float,
    width: int | None = None,
    height: int | None = None,
) -> cv2.VideoCapture:
    configure()
    kind = kind_of(source)
    if kind == "device":
        index = int(source) if source.isdigit() else int(source.removeprefix("/dev/video"))
        cap = cv2.VideoCapture(index, cv2.CAP_V4L2)
        if width and height:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
    elif kind == "stream":
        cap = cv2.VideoCapture(
            source,
            cv2.CAP_FFMPEG,
            [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(open_timeout_s * 1000),
                cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(read_timeout_s * 1000),
            ],
        )  # fmt: skip
    else:
        path = source.removeprefix("file://")
        if not Path(path).exists():
            raise SourceError(f"video file {path!r} does not exist")
        cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    if not cap.isOpened():
        cap.release()
        raise SourceError(f"cannot open {redact(source)}")
    return cap


def with_password(source: str, password: str) -> str:
    """rtsp://user@host/... with the password put in (URL-quoted)."""
    scheme, rest = source.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{quote(password, safe='')}@{host}"


def password_reader(name: str | None) -> Callable[[], str] | None:
    """The stream password from its systemd credential, read at each open of the
    stream (a changed credential is picked up at the next reconnect)."""
    if name is None:
        return None

    def read() -> str:
        try:
            return read_credential(name)
        except CredentialMissing as exc:
            raise SourceError(str(exc)) from None

    return read


def redact(source: str) -> str:
    """A source for logs: credentials in a URL (rtsp://user:pass@host) are hidden."""
    if "://" in source and "@" in source.split("://", 1)[1].split("/", 1)[0]:
        scheme, rest = source.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return source


def _signature(image: np.ndarray) -> bytes:
    """A cheap fingerprint to notice a frozen stream (identical frames)."""
    h, w = image.shape[:2]
    return image[:: max(1, h // 24), :: max(1, w // 32)].tobytes()


def _video_time(cap: cv2.VideoCapture, index: int, fps: float, last: float) -> float:
    pos = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
    if pos > last or (index == 0 and pos >= 0):
        return pos
    return last + 1.0 / (fps if fps > 0 else 10.0)


def iter_file(path: str | Path, camera: str = "replay") -> Iterator[Frame]:
    """Every frame of a video file, in order, as fast as it decodes (replay)."""
    cap = open_capture(str(path), 10, 10)
    fps = cap.get(cv2.CAP_PROP_FPS)
    index, last_t = 0, -1.0
    try:
        while True:
            ok, image = cap.read()
            if not ok:
                return
            last_t = _video_time(cap, index, fps, last_t)
            yield Frame(camera, index, time.monotonic(), time.time(), last_t, image)
            index += 1
    finally:
        cap.release()


class LatestFrameSlot:
    """A one-slot buffer: put() replaces, get() waits for something newer."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._taken = True
        self.dropped = 0

    def put(self, frame: Frame) -> None:
        with self._cond:
            if not self._taken:
                self.dropped += 1
            self._frame, self._taken = frame, False
            self._cond.notify_all()

    def get(self, after_index: int, timeout: float) -> Frame | None:
        """The newest frame with index > after_index, waiting up to timeout seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._frame is None or self._frame.index <= after_index:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)
            self._taken = True
            return self._frame

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()


class CameraSource:
    """A supervised, reconnecting reader of one camera into a one-slot buffer."""

    def __init__(
        self,
        camera: str,
        source: str,
        *,
        pace: bool = True,
        loop: bool = False,
        width: int | None = None,
        height: int | None = None,
        open_timeout_s: float = 5.0,
        stall_timeout_s: float = 5.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        password: Callable[[], str] | None = None,
    ) -> None:
        self.camera = camera
        self.source = source
        # Read at every open (a changed credential is picked up on the next reconnect);
        # the URL with it is only ever given to the decoder, never logged.
        self.password = password
        self.kind = kind_of(source)
        self.pace = pace and self.kind == "file"
        self.loop = loop and self.kind == "file"
        self.width, self.height = width, height
        self.open_timeout_s = open_timeout_s
        self.stall_timeout_s = stall_timeout_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self._clock = clock
        self.slot = LatestFrameSlot()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._generation = 0
        self._index = 0
        self._supervisor: threading.Thread | None = None
        self._reader: threading.Thread | None = None
        # status, guarded by _lock
        self._connected = False
        self._reader_started = 0.0
        self._last_frame: float | None = None  # monotonic, the current reader's last frame
        self._last_any: float | None = None
        self._last_fresh: float | None = None
        self._signature = b""
        self._rate = Rate()
        self._reconnects = 0
        self._read = 0
        self._abandoned = 0
        self._ended = False
        self._error: str | None = None
        self._eof = False

    # -- public -------------------------------------------------------------

    def start(self) -> CameraSource:
        self._supervisor = threading.Thread(
            target=self._supervise, name=f"source-{self.camera}", daemon=True
        )
        self._supervisor.start()
        return self

    def stop(self, timeout: float = 3.0) -> None:
        """Stop and wait for the threads. A reader inside a native read returns within
        the read timeout; leaving it running into interpreter shutdown would abort
        the process ("FATAL: exception not rethrown")."""
        self.request_stop()
        self.join(time.monotonic() + max(timeout, self.stall_timeout_s + 1))

    def request_stop(self) -> None:
        self._stop.set()
        self.slot.wake()

    def join(self, deadline: float) -> None:
        for thread in (self._supervisor, self._reader):
            if thread is not None:
                thread.join(max(0.0, deadline - time.monotonic()))

    def read(self, after_index: int, timeout: float) -> Frame | None:
        return self.slot.get(after_index, timeout)

    def status(self) -> SourceStatus:
        now = self._clock()
        with self._lock:
            return SourceStatus(
                camera=self.camera,
                connected=self._connected,
                fps=self._rate.value,
                last_frame_age_s=None if self._last_any is None else now - self._last_any,
                last_fresh_age_s=None if self._last_fresh is None else now - self._last_fresh,
                reconnects=self._reconnects,
                frames_read=self._read,
                frames_dropped=self.slot.dropped,
                abandoned_readers=self._abandoned,
                ended=self._ended,
                error=self._error,
            )

    @property
    def alive(self) -> bool:
        return bool(self._supervisor and self._supervisor.is_alive())

    # -- supervisor -----------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        return backoff(attempt, self.backoff_initial_s, self.backoff_max_s)

    def _supervise(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            with self._lock:
                self._generation += 1
                gen = self._generation
                self._reader_started = self._clock()
                self._last_frame = None
                self._eof = False
            reader = threading.Thread(
                target=self._read_loop,
                args=(gen,),
                name=f"reader-{self.camera}-{gen}",
                daemon=True,
            )
            reader.start()
            self._reader = reader
            produced = False
            while not self._stop.wait(0.1):
                if not reader.is_alive():
                    break
                with self._lock:
                    last = self._last_frame
                    started = self._reader_started
                produced = produced or last is not None
                limit = self.stall_timeout_s + (0 if last else self.open_timeout_s)
                if self._clock() - (last or started) > limit:
                    with self._lock:
                        self._generation += 1  # the stuck reader now knows it is abandoned
                        self._abandoned += 1
                        self._connected = False
                        self._error = f"no frame for {limit:.0f}s; reopening"
                    log.warning(
                        "camera %s: stream stalled, abandoning reader and reopening", self.camera
                    )
                    break
            if self._stop.is_set():
                break
            with self._lock:
                self._connected = False
                eof = self._eof
            if eof and not self.loop:
                with self._lock:
                    self._ended = True
                log.info("camera %s: end of video file", self.camera)
                break
            attempt = 0 if produced else attempt + 1
            delay = self._backoff(attempt)
            log.info("camera %s: reconnecting in %.1fs", self.camera, delay)
            if self._stop.wait(delay):
                break
            with self._lock:
                self._reconnects += 1
        with self._lock:
            self._connected = False

    # -- reader ---------------------------------------------------------------

    def _current(self, gen: int) -> bool:
        with self._lock:
            return gen == self._generation and not self._stop.is_set()

    def _read_loop(self, gen: int) -> None:
        try:
            source = (
                self.source
                if self.password is None
                else with_password(self.source, self.password())
            )
            cap = open_capture(
                source, self.open_timeout_s, self.stall_timeout_s, self.width, self.height
            )
        except SourceError as exc:
            with self._lock:
                self._error = str(exc)
            log.warning("camera %s: %s", self.camera, exc)
            return
        except cv2.error as exc:
            with self._lock:
                self._error = f"OpenCV: {exc}"
            return
        fps = cap.get(cv2.CAP_PROP_FPS)
        with self._lock:
            self._connected = True
            self._error = None
        log.info("camera %s: opened %s", self.camera, redact(self.source))
        start_mono = self._clock()
        video_t = -1.0
        offset = 0.0  # advances per loop of a file so that time never runs backwards
        local = 0
        try:
            while self._current(gen):
                ok, image = cap.read()
                if not self._current(gen):
                    return
                if not ok or image is None:
                    if self.kind == "file" and self.loop and local > 0:
                        offset = video_t + 1.0 / (fps if fps > 0 else 10.0)
                        cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                        local = 0
                        continue
                    with self._lock:
                        self._eof = self.kind == "file"
                        self._error = None if self._eof else "stream ended or read failed"
                    return
                pos = _video_time(cap, local, fps, video_t - offset)
                video_t = offset + pos
                local += 1
                # Paced: simulate a live camera, handing out each frame at its own time.
                if self.pace and self._stop.wait(max(0.0, start_mono + video_t - self._clock())):
                    return
                self._publish(image, video_t)
        finally:
            cap.release()

    def _publish(self, image: np.ndarray, video_t: float) -> None:
        now = self._clock()
        sig = _signature(image)
        with self._lock:
            self._rate.tick(now)
            self._last_frame = self._last_any = now
            if sig != self._signature:
                self._last_fresh = now
                self._signature = sig
            index = self._index
            self._index += 1
            self._read += 1
        self.slot.put(Frame(self.camera, index, now, time.time(), video_t, image))
