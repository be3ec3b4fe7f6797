"""Camera sources against real files and real stream servers on loopback."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from conftest import FIXTURES, wait_for
from streams import MjpegServer, RtspServer, rtsp_unavailable

from safetyd.vision.sources import CameraSource, iter_file


def collect(source: CameraSource, seconds: float, delay: float = 0.0, last: int = -1) -> list:
    frames = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        frame = source.read(last, timeout=0.2)
        if frame is not None:
            frames.append(frame)
            last = frame.index
            time.sleep(delay)
    return frames


def test_iter_file_reads_every_frame_with_video_time() -> None:
    frames = list(iter_file(FIXTURES / "walk-in.mp4", "cam"))
    assert len(frames) == 107
    assert [f.index for f in frames] == list(range(107))
    assert frames[10].video_t == pytest.approx(1.0)
    assert all(b.video_t > a.video_t for a, b in zip(frames, frames[1:], strict=False))
    assert frames[0].image.shape == (360, 640, 3)


def test_paced_file_runs_at_native_speed() -> None:
    source = CameraSource("cam", str(FIXTURES / "walk-in.mp4"), pace=True).start()
    try:
        frames = collect(source, 2.0)
    finally:
        source.stop()
    assert 15 <= len(frames) <= 22  # 10 fps for 2 s
    span_video = frames[-1].video_t - frames[0].video_t
    span_mono = frames[-1].mono - frames[0].mono
    assert span_mono == pytest.approx(span_video, abs=0.25)
    assert all(abs(f.wall - time.time()) < 5 for f in frames)


def test_file_source_ends_or_loops(tmp_path: Path) -> None:
    once = CameraSource("cam", str(FIXTURES / "walk-in.mp4"), pace=False).start()
    try:
        assert wait_for(lambda: once.status().ended, 20)
        assert once.status().frames_read == 107
    finally:
        once.stop()
    looped = CameraSource("cam", str(FIXTURES / "empty.mp4"), pace=False, loop=True).start()
    try:
        assert wait_for(lambda: looped.status().frames_read > 200, 20)
        assert not looped.status().ended
        frames = collect(looped, 0.5)
        assert all(b.video_t > a.video_t for a, b in zip(frames, frames[1:], strict=False))
    finally:
        looped.stop()


def test_latest_frame_wins_and_drops_are_counted() -> None:
    with MjpegServer(fps=25) as server:
        source = CameraSource("cam", server.url, stall_timeout_s=3).start()
        try:
            assert wait_for(lambda: source.status().connected, 10)
            frames = collect(source, 2.5, delay=0.3)  # a consumer slower than the camera
            status = source.status()
        finally:
            source.stop()
    assert len(frames) >= 5
    ages = [time.monotonic() - f.mono for f in frames[-1:]]
    assert status.frames_dropped > 10
    assert status.frames_read >= status.frames_dropped + len(frames) - 1
    # What the consumer gets is fresh, not a backlog: consecutive reads skip ahead.
    gaps = [b.index - a.index for a, b in zip(frames, frames[1:], strict=False)]
    assert min(gaps) >= 3
    assert ages[0] < 1.0


def _outage(server, source) -> None:
    frames = collect(source, 2.0)
    assert len(frames) > 5, source.status()
    server.stop()
    time.sleep(10)  # the camera is gone for 10 s
    down = source.status()
    assert not down.connected and down.last_frame_age_s > 8
    server.start()
    assert wait_for(lambda: source.status().connected, 30), source.status()
    # Frames newer than the last one before the outage: the slot still holds that
    # one until the reconnected stream delivers, and a reader asks for newer ones.
    after = collect(source, 3.0, last=frames[-1].index)
    assert len(after) > 5, source.status()
    assert after[0].index > frames[-1].index
    assert source.status().reconnects >= 1


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["mjpeg", "rtsp"])
def test_stream_reconnects_after_a_10s_outage(kind: str) -> None:
    if kind == "rtsp":
        reason = rtsp_unavailable()
        if reason:
            pytest.skip(reason)
    server = (MjpegServer(fps=15) if kind == "mjpeg" else RtspServer()).start()
    source = CameraSource(
        "cam",
        server.url,
        open_timeout_s=3,
        stall_timeout_s=3,
        backoff_initial_s=0.2,
        backoff_max_s=2,
    ).start()
    try:
        _outage(server, source)
    finally:
        source.stop()
        server.stop()


def test_hanging_stream_is_reopened() -> None:
    """The server keeps the connection open but stops sending: a stall."""
    with MjpegServer(fps=20) as server:
        source = CameraSource(
            "cam",
            server.url,
            open_timeout_s=2,
            stall_timeout_s=1.5,
            backoff_initial_s=0.2,
            backoff_max_s=1,
        ).start()
        try:
            assert len(collect(source, 1.0)) > 5
            server.mode = "hang"
            assert wait_for(lambda: source.status().reconnects >= 1, 10), source.status()
            assert source.status().last_frame_age_s > 1.0
            server.mode = "live"
            assert wait_for(lambda: (source.status().last_frame_age_s or 99) < 0.5, 15)
        finally:
            source.stop()


def test_frozen_stream_is_not_fresh() -> None:
    with MjpegServer(fps=20) as server:
        source = CameraSource("cam", server.url).start()
        try:
            assert len(collect(source, 1.0)) > 5
            server.mode = "frozen"
            collect(source, 2.0)
            status = source.status()
        finally:
            source.stop()
    assert status.last_frame_age_s < 0.5  # frames keep coming...
    assert status.last_fresh_age_s > 1.5  # ...but they are all the same picture


def test_a_native_call_that_never_returns_does_not_wedge_the_source(tmp_path: Path) -> None:
    """Opening a FIFO nobody writes to blocks inside FFmpeg's open() for ever, with no
    timeout that could interrupt it. The supervisor abandons that reader and keeps
    retrying; stop() still returns promptly."""
    fifo = tmp_path / "camera.fifo"
    os.mkfifo(fifo)
    source = CameraSource(
        "cam",
        str(fifo),
        pace=False,
        open_timeout_s=0.5,
        stall_timeout_s=0.5,
        backoff_initial_s=0.1,
        backoff_max_s=0.2,
    ).start()
    try:
        assert wait_for(lambda: source.status().abandoned_readers >= 2, 15), source.status()
        started = time.monotonic()
        source.request_stop()
        source.join(time.monotonic() + 2)
        assert time.monotonic() - started < 3
        assert not source.alive
    finally:
        # Unblock the stuck open()s so their threads end before the interpreter does.
        def unblock() -> None:
            for _ in range(source.status().abandoned_readers + 2):
                try:
                    fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                    os.close(fd)
                except OSError:
                    pass
                time.sleep(0.05)

        unblock()
        threading.Event().wait(0.5)
        unblock()


def test_an_unplugged_device_is_reported_and_retried() -> None:
    """A USB camera that is not there (unplugged, or the wrong /dev/videoN): OpenCV's
    V4L2 backend is asked for it for real; the source says so and keeps retrying,
    so the daemon can raise camera_offline and recover when it is plugged back."""
    device = next(f"/dev/video{n}" for n in range(63, 0, -1) if not Path(f"/dev/video{n}").exists())
    source = CameraSource(device, device, backoff_initial_s=0.1, backoff_max_s=0.3).start()
    try:
        assert wait_for(lambda: source.status().reconnects >= 2, 10), source.status()
        status = source.status()
    finally:
        source.stop()
    assert not status.connected
    assert status.error == f"cannot open {device}"
    assert status.frames_read == 0


def test_backoff_is_capped_and_jittered() -> None:
    source = CameraSource("cam", "rtsp://127.0.0.1:9/x", backoff_initial_s=0.5, backoff_max_s=8)
    delays = [source._backoff(attempt) for attempt in range(12) for _ in range(20)]
    assert max(delays) <= 8 and min(delays) >= 0.25
    assert len({round(d, 3) for d in delays}) > 50  # not lockstep


def test_credentials_are_redacted_from_logged_sources() -> None:
    from safetyd.vision.sources import redact

    assert redact("rtsp://admin:secret@10.0.0.5:554/s1") == "rtsp://***@10.0.0.5:554/s1"
    assert redact("rtsp://10.0.0.5/s1") == "rtsp://10.0.0.5/s1"
