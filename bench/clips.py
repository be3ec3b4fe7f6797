"""What incident clips cost: the clip thread's CPU per frame (drawing and scaling
every frame for the pre-roll; encoding VP8 while a clip runs), the disk per hour
of clip, and whether the daemon drops frames at 10 fps on the demo with clips on.

The per-frame figures drive ``ClipRecorder.take`` (the clip thread's work) with the
demo's real pipeline results, at the demo's size and upscaled to 720p and 1080p
(a camera's usual sizes), and count that thread's CPU time (``thread_time``).
"""

from __future__ import annotations

import re
import tempfile
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
from common import FIXTURES, Result, log, median
from daemon import demo_daemon

from safetyd.assembly import load as cfg
from safetyd.assembly.settings import CameraSettings, ClipRecording
from safetyd.config.model import ClipSettings
from safetyd.pipeline import CameraPipeline
from safetyd.service.clipdisk import ClipDisk
from safetyd.service.clips import ClipInput, ClipRecorder
from safetyd.service.metrics import Metrics
from safetyd.storage.store import open_store
from safetyd.vision.pose import MediaPipePoseEstimator
from safetyd.vision.sources import iter_file

EXAMPLE = FIXTURES.parent / "systemd" / "safetyd.toml"
SIZES = ((640, 360), (1280, 720), (1920, 1080))


def _demo_results():
    loaded = cfg.load(EXAMPLE)
    settings = CameraSettings.of(loaded, "press-line")
    pipe = CameraPipeline.from_settings(settings, MediaPipePoseEstimator, always_armed=True)
    try:
        out = [(f, pipe.process(f, f.video_t)) for f in iter_file(FIXTURES / "walk-in.mp4")]
    finally:
        pipe.close()
    return out, pipe.setup.zones


def _scaled(results, zones, size):
    """The demo's frames and people at ``size`` (zones are drawn where they were: the
    cost of drawing does not depend on where)."""
    sx = size[0] / 640
    items = []
    for f, r in results:
        image = f.image if size == (640, 360) else cv2.resize(f.image, size)
        tracks = tuple(replace(t, keypoints=t.keypoints * sx, bbox=t.bbox * sx) for t in r.tracks)
        items.append((f.video_t, image, tracks, r.assessments, r.motion))
    return items, zones


def _round(items, zones, recording: bool, tmp: Path) -> tuple[float, int, float]:
    """Thread CPU per frame, clip bytes, clip seconds."""
    store = open_store(tmp / "s.db")
    settings = ClipSettings(pre_roll_s=5.0, max_s=600.0)
    disk = ClipDisk(tmp / "clips", lambda: settings, store, Metrics())
    rec = ClipRecorder("cam", ClipRecording.of(settings), 10.0, disk, Metrics(), ZoneInfo("UTC"))
    opened = [_Opened("bench")] if recording else []
    cpu = []
    for i, (t, image, tracks, reasons, motion) in enumerate(items):
        item = ClipInput(t, 1e9 + t, image, tracks, reasons, zones, None, {}, motion,
                         tuple(opened) if i == 0 else ())  # fmt: skip
        c0 = time.thread_time()
        rec.take(item)
        cpu.append(time.thread_time() - c0)
    rec._close(ok=True)
    files = list((tmp / "clips").rglob("*.webm"))
    size = sum(p.stat().st_size for p in files)
    return median(cpu), size, items[-1][0] - items[0][0]


class _Opened:
    """An opening, as the planner reads it."""

    def __init__(self, incident: str) -> None:
        self.event = "opened"
        self.incident_id = incident


def _scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    out: dict[str, float] = {}
    for name in ("safetyd_frames_read_total", "safetyd_frames_dropped_total",
                 "safetyd_frames_processed_total", "safetyd_clip_frames_skipped_total",
                 "safetyd_clips_recorded_total"):  # fmt: skip
        m = re.search(rf"^{name}\{{[^}}]*\}} ([0-9.e+]+)$", text, re.M)
        out[name] = float(m[1]) if m else float("nan")
    return out


def _daemon_round(seconds: float, clips: bool) -> dict[str, float]:
    extra = "" if clips else "[clips]\nenabled = false\n"
    with demo_daemon("safetyd-bench-clips-", extra) as d:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                first = _scrape(d.port)
                if first["safetyd_frames_processed_total"] > 0:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        time.sleep(seconds)
        last = _scrape(d.port)
    return {k: last[k] - first.get(k, 0.0) for k in last}


def run(quick: bool = False) -> Result:
    results, zones = _demo_results()
    rows = {}
    rounds = 1 if quick else 3
    for size in SIZES:
        items, z = _scaled(results, zones, size)
        idle, rec, size_bytes, secs = [], [], [], []
        for _ in range(rounds):
            with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
                idle.append(_round(items, z, False, Path(a))[0])
                cpu, n_bytes, s = _round(items, z, True, Path(b))
                rec.append(cpu)
                size_bytes.append(n_bytes)
                secs.append(s)
        rows[size] = (median(idle), median(rec), median(size_bytes) / median(secs))
        pre, recording, rate = rows[size]
        log(f"clips {size[0]}×{size[1]}: pre-roll {pre * 1e3:.1f} ms/frame, "
            f"recording {recording * 1e3:.1f} ms/frame, {rate / 1e3:.0f} kB/s")  # fmt: skip
    seconds = 20.0 if quick else 120.0
    on = _daemon_round(seconds, True)
    off = _daemon_round(seconds, False)
    log(f"clips daemon on: {on}; off: {off}")
    lost_on = on["safetyd_frames_dropped_total"]
    demo = rows[(640, 360)]
    passed = (
        on["safetyd_clip_frames_skipped_total"] == 0
        and lost_on <= off["safetyd_frames_dropped_total"] + 0.01 * on["safetyd_frames_read_total"]
    )
    notes = [
        "Clip-thread CPU per frame (median of the demo's 107 frames, its real pipeline "
        "results; thread CPU time) and disk per second of clip (VP8 WebM, `[clips]` "
        "width 640, the default), by camera size:",
        *(
            f"{w}×{h}: {rows[(w, h)][0] * 1e3:.1f} ms per frame while only the pre-roll is "
            f"kept (drawn, faces hidden, scaled), {rows[(w, h)][1] * 1e3:.1f} ms while a clip "
            f"is recorded (plus encoding): at 10 fps {rows[(w, h)][0] * 1e3 / 100:.1%} and "
            f"{rows[(w, h)][1] * 1e3 / 100:.1%} of one core; {rows[(w, h)][2] / 1e3:.0f} kB "
            f"per second of clip, {rows[(w, h)][2] * 3600 / 1e9:.2f} GB per hour of clip"
            for w, h in SIZES
        ),
        "Clips run only around incidents (5 s before to 5 s after, 30 s at most), so a "
        "camera's disk per day is the clip-hours of its incidents times that rate; the "
        "default max_gb (5) holds about "
        f"{5e9 / demo[2] / 3600:.0f} hours of demo-sized clip.",
        f"The real daemon on the looped demo at 10 fps, {seconds:.0f} s each way: with "
        f"clips {on['safetyd_frames_processed_total']:.0f} frames processed, "
        f"{on['safetyd_frames_dropped_total']:.0f} dropped by the reader, "
        f"{on['safetyd_clip_frames_skipped_total']:.0f} left out of clips, "
        f"{on['safetyd_clips_recorded_total']:.0f} clips; without: "
        f"{off['safetyd_frames_processed_total']:.0f} processed, "
        f"{off['safetyd_frames_dropped_total']:.0f} dropped. Target: no frame left out of "
        "a clip, and no more frames dropped than without clips (+1 % of frames read).",
    ]
    return Result(
        key="clips",
        title="Incident clip recording cost",
        target="no frames dropped at 10 fps on the demo with clips on; CPU and disk reported",
        measured=(
            f"demo: {demo[1] * 1e3:.1f} ms/frame recording ({demo[1] * 1e3 / 100:.1%} of a core "
            f"at 10 fps), {demo[2] * 3600 / 1e9:.2f} GB per clip-hour; "
            f"{on['safetyd_frames_dropped_total']:.0f} vs "
            f"{off['safetyd_frames_dropped_total']:.0f} frames dropped with/without clips"
        ),
        passed=passed,
        notes=notes,
        data={"rows": {f"{w}x{h}": v for (w, h), v in rows.items()}, "on": on, "off": off},
    )
