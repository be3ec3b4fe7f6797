"""``safetyd replay``: run the whole pipeline on a video file.

Same code path as the daemon (CameraPipeline). Every frame is processed in
order, as fast as the machine allows, unless ``--realtime`` paces the file like
a live camera through the same latest-frame reader the daemon uses (frames
the pipeline cannot keep up with are then dropped, as they would be live).
Alerts go only to the event log unless ``--send`` delivers them through the
configured sinks.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import IO

from ..assembly import load as cfg
from ..assembly.settings import CameraSettings
from ..base.problems import errors
from ..drawing.video import codecs_for, open_video
from ..hazard.exposure import exposure_records, risky_record
from ..hazard.records import CONTRACT_EVENTS, to_json_line
from ..hazard.snapshots import SnapshotWriter, annotate
from ..pipeline import CameraPipeline, FrameResult
from ..storage.store import open_store
from ..vision.pose import create_estimator, native_chatter_hidden
from ..vision.sources import CameraSource, Frame, SourceError, iter_file
from ..zones.load import load_zone_files
from ..zones.model import ZoneContext
from .common import PRIVATE_UMASK


def _frames(video: Path, camera: str, realtime: bool) -> Iterator[Frame]:
    if not realtime:
        yield from iter_file(video, camera)
        return
    source = CameraSource(camera, str(video), pace=True, loop=False).start()
    last = -1
    try:
        while True:
            frame = source.read(last, timeout=0.5)
            if frame is not None:
                last = frame.index
                yield frame
            elif source.status().ended or not source.alive:
                return
    finally:
        source.stop()


class Progress:
    """A one-line progress bar on a terminal; silent when stderr is piped."""

    def __init__(self, total: int, stream: IO[str] = sys.stderr) -> None:
        self.total = total
        self.stream = stream
        self.enabled = stream.isatty()
        self.start = time.monotonic()
        self._last = 0.0

    def update(self, done: int, events: int) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self._last < 0.2 and done != self.total):
            return
        self._last = now
        rate = done / max(now - self.start, 1e-6)
        if self.total > 0:
            width = 30
            filled = int(width * min(done / self.total, 1.0))
            bar = "#" * filled + "-" * (width - filled)
            text = f"\r[{bar}] {done}/{self.total} frames  {rate:5.1f} fps  {events} events"
        else:
            text = f"\r{done} frames  {rate:5.1f} fps  {events} events"
        self.stream.write(text)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def _frame_count(video: Path) -> int:
    import cv2

    cap = cv2.VideoCapture(str(video))
    try:
        return max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
    finally:
        cap.release()


def _fps(video: Path) -> float:
    import cv2

    cap = cv2.VideoCapture(str(video))
    try:
        fps = cap.get(cv2.CAP_PROP_FPS)
        return fps if 0 < fps < 240 else 10.0
    finally:
        cap.release()


@contextlib.contextmanager
def _output(path: str | None) -> Iterator[IO[str] | None]:
    if path is None:
        yield None
    elif path == "-":
        yield sys.stdout
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            yield fh


def _tracks_line(result: FrameResult) -> str:
    return json.dumps(
        {
            "frame": result.frame.index,
            "t": round(result.frame.video_t, 3),
            "inferred": result.inferred,
            "poses": len(result.poses),
            "tracks": [
                {
                    "id": t.id,
                    "state": t.state,
                    "seen": t.seen,
                    "bbox": [round(float(v), 1) for v in t.bbox],
                }
                for t in result.tracks
            ],
        },
        separators=(",", ":"),
    )


def _posture(result: FrameResult, camera: str, out: IO[str] | None, totals: dict) -> int:
    """A frame's posture exposure into the totals; its risky postures as lines."""
    assert result.body is not None
    for e in result.body.exposure.exposed:
        key = (e.area, e.measure, e.band)
        totals[key] = totals.get(key, 0.0) + e.seconds
    for r in result.body.exposure.risky:
        if out:
            record = risky_record(camera, result.frame.index, result.frame.video_t, r)
            out.write(json.dumps(record, separators=(",", ":")) + "\n")
    return len(result.body.exposure.risky)


def run(args: argparse.Namespace) -> int:
    loaded = cfg.load(args.config)  # InvalidConfig is explained by the CLI
    config = loaded.config
    if args.camera:
        camera_id = args.camera
    else:
        enabled = [c.id for c in config.cameras if c.enabled]
        if not enabled:
            print(
                f"every camera in {args.config} is disabled: name one with --camera",
                file=sys.stderr,
            )
            return 1
        camera_id = enabled[0]
        # Not silently: its zones decide what the replay reports.
        print(
            f"replaying as camera {camera_id!r} (the first enabled one; choose with --camera "
            f"from: {', '.join(c.id for c in config.cameras)})",
            file=sys.stderr,
        )
    try:
        config.camera(camera_id)
    except KeyError:
        ids = ", ".join(c.id for c in config.cameras)
        print(f"--camera {camera_id!r} is not in {args.config} (cameras: {ids})", file=sys.stderr)
        return 1
    zones = None
    if args.zones:
        context = ZoneContext.from_config(config)
        by_cam, problems = load_zone_files({camera_id: [Path(z) for z in args.zones]}, context)
        for p in problems:
            print(str(p), file=sys.stderr)
        if errors(problems):
            return 1
        zones = by_cam[camera_id]
    video = Path(args.video)
    if not video.is_file():
        print(f"{video}: no such video file", file=sys.stderr)
        return 1

    with contextlib.ExitStack() as stack:
        if args.state_dir:
            os.umask(PRIVATE_UMASK)  # its database and snapshots, as the daemon's (cli/run.py)
            state_dir = Path(args.state_dir)
        else:
            state_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="safetyd-")))
        store = open_store(state_dir / "safetyd.db")
        stack.callback(store.close)
        settings = CameraSettings.of(loaded, camera_id)
        if zones is not None:
            settings = replace(settings, live=replace(settings.live, zones=tuple(zones)))
        run_settings = settings.run
        snapshots = None
        if args.state_dir and run_settings.snapshots_dir:
            snapshots = SnapshotWriter(state_dir / "snapshots", run_settings.blur_faces)

        def make_estimator(num_poses: int | None = None, still: bool = False):
            # Models are made as regions appear; in --realtime mode the reader thread
            # runs meanwhile, so its stderr is left alone then.
            with native_chatter_hidden(not args.realtime):
                return create_estimator(
                    run_settings.pose, run_settings.model_path, num_poses, still
                )

        pipeline = CameraPipeline.from_settings(
            settings,
            make_estimator,
            always_armed=not args.honour_schedule,
            snapshots=snapshots,
        )
        stack.callback(_close_quietly, pipeline)
        alerts = None
        plant = None
        if args.send:
            from ..alerts.service import AlertService
            from ..plant.service import Plant

            alerts = AlertService.from_config(loaded, store)
            stack.callback(alerts.stop)
            alerts.start()
            if config.outputs.modbus or config.inputs.modbus:  # stack lights, machine states
                plant = Plant(config, loaded.zones).start()
                stack.callback(plant.stop)
        _machine_arming(pipeline, plant, args.honour_schedule)
        shown: dict[str, str] | None = None
        events_out = stack.enter_context(_output(args.events))
        tracks_out = stack.enter_context(_output(args.tracks))
        posture_out = stack.enter_context(_output(args.posture))
        exposed: dict[tuple[str, str, str], float] = {}
        n_risky = 0
        writer = None
        progress = Progress(_frame_count(video))
        n_frames = n_events = 0
        said: tuple[str | None, str | None] = (None, None)
        incidents: set[str] = set()
        started = time.monotonic()
        try:
            for frame in _frames(video, camera_id, args.realtime):
                # The first inference prints more native chatter; in --realtime mode the
                # reader thread runs meanwhile, so its stderr is left alone.
                with native_chatter_hidden(n_frames == 0 and not args.realtime):
                    result = pipeline.process(frame, frame.video_t)
                fit = (pipeline.size_fault, pipeline.size_note)
                if fit != said:  # the zones against the video's picture size, once per change
                    said = fit
                    if fit[0] or fit[1]:
                        progress.close()
                        print(
                            f"camera {camera_id}: "
                            + (f"ZONES NOT USED: {fit[0]}" if fit[0] else str(fit[1])),
                            file=sys.stderr,
                        )
                n_frames += 1
                if plant is not None and pipeline.zone_states() != shown:
                    shown = pipeline.zone_states()
                    plant.show_zones(camera_id, shown, time.monotonic())
                if result.transitions:
                    with store.transaction() as db:
                        store.add_events(db, result.transitions)
                        if alerts:
                            alerts.enqueue(db, result.transitions, pipeline.setup.zones)
                for tr in result.transitions:
                    incidents.add(tr.incident_id)
                    if events_out and tr.event in CONTRACT_EVENTS:
                        events_out.write(to_json_line(tr) + "\n")
                        events_out.flush()
                        n_events += 1
                if tracks_out:
                    tracks_out.write(_tracks_line(result) + "\n")
                if result.body is not None:
                    n_risky += _posture(result, camera_id, posture_out, exposed)
                if args.annotate:
                    writer = writer or _video_writer(
                        args.annotate, frame, _fps(video), quiet=not args.realtime
                    )
                    pic = annotate(
                        frame.image,
                        pipeline.setup.zones,
                        result.tracks,
                        pipeline.setup.floor_map,
                        pipeline.zone_states(),
                        config.privacy.blur_faces,
                        motion=result.motion,
                        reasons=result.assessments,
                        down=pipeline.body.down_now(),
                    )
                    writer.write(pic)
                progress.update(n_frames, n_events)
        except SourceError as exc:
            progress.close()
            print(f"{video}: {exc}", file=sys.stderr)
            return 1
        finally:
            if writer is not None:
                writer.release()
        progress.close()
        if posture_out:
            for record in exposure_records(camera_id, exposed):
                posture_out.write(json.dumps(record, separators=(",", ":")) + "\n")
        if alerts:
            alerts.drain(timeout=args.send_timeout)
        elapsed = time.monotonic() - started
        print(
            f"replayed {n_frames} frames of {video.name} on camera {camera_id} in {elapsed:.1f}s "
            f"({n_frames / max(elapsed, 1e-6):.1f} fps): {len(incidents)} incident(s), "
            f"{n_events} event(s)"
            + (f", {n_risky} risky posture(s)" if pipeline.body.active else ""),
            file=sys.stderr,
        )
    return 0


def _close_quietly(pipeline: CameraPipeline) -> None:
    with native_chatter_hidden():  # by now the other threads have stopped
        pipeline.close()


def _video_writer(path: str, frame: Frame, fps: float, quiet: bool = True):
    """``quiet``: hide FFmpeg's lines about codecs it lacks (not while the --realtime
    reader thread may write to stderr). The codec follows the suffix (drawing/video.py)."""
    h, w = frame.image.shape[:2]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    opened = open_video(Path(path), fps, (w, h), quiet)
    if opened is None:
        codecs = " or ".join(codecs_for(Path(path)))
        raise SourceError(f"cannot write the annotated video {path} ({codecs})")
    writer, codec = opened
    if codec == "mp4v":
        print(
            f"{path}: this OpenCV has no H.264 encoder, so the video is MPEG-4 Part 2, "
            "which VLC or ffplay play and browsers do not; name it .webm for a browser",
            file=sys.stderr,
        )
    return writer


def _machine_arming(pipeline: CameraPipeline, plant, honour: bool) -> None:  # noqa: ANN001
    """Zones armed by a machine state (``armed_when``): with --send --honour-schedule
    the configured inputs are read live and arm them, as in the daemon; otherwise they
    are armed throughout, and that is said (a recording has no machine state)."""
    named = sorted({z.id for z in pipeline.setup.zones if z.armed_when})
    if not named:
        return
    if honour and plant is not None:
        pipeline.machine = plant.allows
        print(f"note: zones {', '.join(named)} are armed by the machine states read now "
              "from [[inputs.modbus]], as the daemon does", file=sys.stderr)  # fmt: skip
        return
    print(f"note: machine-state arming (armed_when) is NOT applied: zones {', '.join(named)} "
          "are armed throughout this replay; with --send --honour-schedule the configured "
          "inputs are read live, as the daemon does", file=sys.stderr)  # fmt: skip


def add_parser(sub) -> None:
    p = sub.add_parser(
        "replay",
        help="run the whole pipeline on a video file",
        description=(
            "Run the full pipeline (pose, tracking, zones, incidents) on a video file with "
            "the daemon's code and a camera's zones. Writes incident events as JSON lines, "
            "optionally an annotated video for tuning. Zones are treated as armed whatever "
            "their schedule unless --honour-schedule; alerts are only logged unless --send."
        ),
    )
    p.add_argument("video", metavar="VIDEO", help="video file (mp4, avi, GIF, ...)")
    p.add_argument("--config", type=Path, required=True, help="safetyd.toml")
    p.add_argument(
        "--camera", help="camera whose zones and settings apply (default: the first enabled one)"
    )
    p.add_argument(
        "--zones",
        action="append",
        metavar="FILE",
        help="use these zone files instead of the camera's (repeatable)",
    )
    p.add_argument(
        "--events",
        metavar="OUT.jsonl",
        help="write one JSON object per incident transition ('-': stdout)",
    )
    p.add_argument(
        "--tracks",
        metavar="OUT.jsonl",
        help="write the tracked people of every frame as JSON lines ('-': stdout)",
    )
    p.add_argument(
        "--posture",
        metavar="OUT.jsonl",
        help="write the risky postures held in areas as JSON lines, and at the end the "
        "seconds spent in each posture band per area ('-': stdout)",
    )
    p.add_argument(
        "--annotate",
        metavar="OUT.webm",
        help="write a video with skeletons, track ids, zones and alert state (.webm: VP8, "
        "plays in browsers; .mp4: H.264 where OpenCV has it, else MPEG-4 Part 2)",
    )
    p.add_argument(
        "--realtime",
        action="store_true",
        help="pace the file at its own frame rate, like a live camera",
    )
    p.add_argument(
        "--send",
        action="store_true",
        help="deliver alerts through the configured sinks (SMS, webhook, log) and drive the "
        "[[outputs.modbus]] devices (with --honour-schedule, [[inputs.modbus]] machine states "
        "arm their zones, read live)",
    )
    p.add_argument(
        "--send-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="with --send: how long to wait for pending alerts at the end",
    )
    p.add_argument(
        "--honour-schedule",
        action="store_true",
        help="arm zones by their schedules at the current time",
    )
    p.add_argument(
        "--state-dir",
        metavar="DIR",
        help="keep the event database and snapshots here (default: temporary)",
    )
    p.set_defaults(func=run)
