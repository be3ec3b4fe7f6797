"""Benchmark 1: what the pipeline costs on top of MediaPipe.

The same frames go through the bare MediaPipe loop (decode, colour
conversion, PoseLandmarker.detect_for_video) and through safetyd's full
pipeline (regions, follow-ups and the look-around, plausibility, tracking,
phantoms, hazards, incidents; events kept in memory), in alternating rounds
within one process. Decoding is outside both clocks. Motion gating is off: it
would skip frames and flatter the pipeline.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import mediapipe as mp
from common import FIXTURES, Result, log, median, percentile
from scenes import read_frames

from safetyd.assembly import load as cfg
from safetyd.assembly.settings import CameraSettings
from safetyd.pipeline import CameraPipeline
from safetyd.vision.pose import BUNDLED_MODEL, MediaPipePoseEstimator
from safetyd.vision.sources import iter_file

EXAMPLE = FIXTURES.parent / "systemd" / "safetyd.toml"


def bare_round(video: Path) -> tuple[float, list[float]]:
    """Frames per second of the bare loop, and its per-frame inference times."""
    from mediapipe.tasks.python import BaseOptions, vision

    options = vision.PoseLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(BUNDLED_MODEL)),
        running_mode=vision.RunningMode.VIDEO,
        num_poses=4,
    )
    landmarker = vision.PoseLandmarker.create_from_options(options)
    infer = []
    try:
        frames = read_frames(video)
        n, start = 0, time.perf_counter()
        for frame in frames:
            t = time.perf_counter()
            image = mp.Image(
                image_format=mp.ImageFormat.SRGB, data=cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            )
            landmarker.detect_for_video(image, int(n * 100))
            infer.append(time.perf_counter() - t)
            n += 1
        elapsed = time.perf_counter() - start
    finally:
        landmarker.close()
    return n / elapsed, infer


def pipeline_round(video: Path, loaded) -> tuple[float, int, int, float]:
    """Frames per second of the pipeline on its second pass over the video (its models
    are loaded on the first, as a daemon's are once in its life; the bare loop loads
    its one model before its clock starts too)."""
    camera = "press-line"  # the camera the demo video was drawn for
    pipe = CameraPipeline.from_settings(
        CameraSettings.of(loaded, camera), MediaPipePoseEstimator, gate=False, always_armed=True
    )
    frames = list(iter_file(video, camera))
    shift = frames[-1].video_t + 1.0
    events = []  # the in-memory sink
    calls, infer = 0, 0.0
    try:
        for frame in frames:
            pipe.process(frame, frame.video_t)
        n, start = 0, time.perf_counter()
        for frame in frames:
            result = pipe.process(frame, frame.video_t + shift)
            events += result.transitions
            calls += result.calls
            infer += result.infer_s
            n += 1
        elapsed = time.perf_counter() - start
    finally:
        pipe.close()
    return n / elapsed, len(events), calls, (elapsed - infer) / n


def run(quick: bool = False) -> Result:
    video = FIXTURES / "walk-in.mp4"
    loaded = cfg.load(EXAMPLE)
    rounds = 2 if quick else 6
    bare_fps, pipe_fps, infer, calls, rest = [], [], [], [], []
    bare_round(video)  # warm-up: first model load, page cache
    for i in range(rounds):
        fps, times = bare_round(video)
        bare_fps.append(fps)
        infer += times
        fps, n_events, n_calls, rest_s = pipeline_round(video, loaded)
        pipe_fps.append(fps)
        calls.append(n_calls)
        rest.append(rest_s)
        log(
            f"overhead round {i + 1}/{rounds}: bare {bare_fps[-1]:.1f} fps, "
            f"pipeline {pipe_fps[-1]:.1f} fps"
        )
    ratio = median(bare_fps) / median(pipe_fps)  # the pipeline's time per frame, of bare's
    frames = len(read_frames(video))
    return Result(
        key="overhead",
        title="Pipeline overhead",
        target="pipeline time ≤ 1.05 × a bare MediaPipe loop's, one zone and one person",
        measured=f"{median(pipe_fps):.1f} vs {median(bare_fps):.1f} frames/s: {ratio:.2f}×",
        passed=ratio <= 1.05,
        notes=[
            f"fixtures/walk-in.mp4 (640×360, {frames} frames, one zone, one man), {rounds} "
            "alternating rounds of each; medians of the per-round throughput.",
            f"Bare inference per frame: median {median(infer) * 1e3:.1f} ms, p99 "
            f"{percentile(infer, 99) * 1e3:.1f} ms. The pipeline found {n_events} incident "
            "transitions per round (opened, escalated, cleared).",
            f"Where the pipeline's extra time goes: {median(calls)} model calls per round of "
            f"{frames} frames (the region on every frame; the rest turns, a look at the region "
            "flipped when it loses him, and look-arounds), and "
            f"{median(rest) * 1e3:.2f} ms per frame outside the model (tracking, phantoms, "
            "zones, incidents).",
            "Close to the target, so within the noise of one run on a shared machine: on "
            "2026-12-04 the same code less a per-frame prediction cache measured 1.08×. "
            "Where more room lies (measured on this clip, one model each): a VIDEO-mode model "
            "for up to 4 people costs as much as a still picture (about 36 ms: its detector "
            "runs on every frame while it tracks fewer than 4), one for a single person "
            "about 21 ms, and that one kept the man on 87 of 107 frames against 74; "
            "following each confirmed person with a one-person model and running the "
            "region's detector less often would cost less than the bare loop.",
        ],
        data={
            "bare_fps": bare_fps,
            "pipeline_fps": pipe_fps,
            "ratio": ratio,
            "bare_infer_p99_s": percentile(infer, 99),
        },
    )
