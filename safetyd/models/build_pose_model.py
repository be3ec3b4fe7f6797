"""Rebuild the bundled pose model ``pose_landmarker_full.task`` from scratch.

Why this script exists: the official ``.task`` files are downloaded from a
Google bucket that a factory box (and our CI) cannot reach, and a safety
daemon must never fetch a model at run time. The mediapipe 0.10.21 wheel on
PyPI still carries the two raw TFLite graphs that make up the "full" pose
landmarker. The Tasks API needs input-normalisation metadata on both, which
only the 0.10.21 metadata writer can add (in 1.2.x it fails with ``No module
named 'mediapipe.tasks.cc'``). So the script:

1. creates a throwaway virtual environment with ``mediapipe==0.10.21``;
2. re-runs itself inside it (``--inner``) to add the metadata and bundle the
   two graphs as ``pose_detector.tflite`` + ``pose_landmarks_detector.tflite``;
3. writes the bundle and its SHA-256 next to this file.

Usage (needs PyPI, not the Google bucket)::

    python safetyd/models/build_pose_model.py [--out DIR]

The model files are Apache-2.0 (see ``NOTICE``).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

MEDIAPIPE_VERSION = "0.10.21"
TASK_NAME = "pose_landmarker_full.task"
DETECTOR_SRC = "modules/pose_detection/pose_detection.tflite"
LANDMARKER_SRC = "modules/pose_landmark/pose_landmark_full.tflite"

# Normalisation the two graphs were trained with (from the MediaPipe graphs'
# ImageToTensorCalculator options): the detector wants [-1, 1], the landmarker
# wants [0, 1].
DETECTOR_NORM = (127.5, 127.5)
LANDMARKER_NORM = (0.0, 255.0)
DETECTOR_OUTPUTS = 2  # box regressors, classificators
LANDMARKER_OUTPUTS = 5  # landmarks, presence, segmentation, heatmap, world landmarks


def _inner(out_dir: Path) -> None:
    import mediapipe
    from mediapipe.tasks.python.metadata.metadata_writers import (
        metadata_writer,
        model_asset_bundle_utils,
    )

    root = Path(mediapipe.__file__).parent

    def with_metadata(path: Path, norm: tuple[float, float], outputs: int) -> bytes:
        writer = metadata_writer.MetadataWriter.create(bytearray(path.read_bytes()))
        writer.add_image_input(norm_mean=[norm[0]], norm_std=[norm[1]])
        for _ in range(outputs):
            writer.add_feature_output()
        model, _json = writer.populate()
        return bytes(model)

    detector = with_metadata(root / DETECTOR_SRC, DETECTOR_NORM, DETECTOR_OUTPUTS)
    landmarker = with_metadata(root / LANDMARKER_SRC, LANDMARKER_NORM, LANDMARKER_OUTPUTS)
    out_dir.mkdir(parents=True, exist_ok=True)
    model_asset_bundle_utils.create_model_asset_bundle(
        {"pose_detector.tflite": detector, "pose_landmarks_detector.tflite": landmarker},
        str(out_dir / TASK_NAME),
    )


def _outer(out_dir: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="safetyd-model-") as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        py = venv / "bin" / "python"
        subprocess.run(
            [str(py), "-m", "pip", "install", "--quiet", f"mediapipe=={MEDIAPIPE_VERSION}"],
            check=True,
        )
        subprocess.run([str(py), __file__, "--inner", "--out", str(out_dir)], check=True)
    task = out_dir / TASK_NAME
    digest = hashlib.sha256(task.read_bytes()).hexdigest()
    (out_dir / (TASK_NAME + ".sha256")).write_text(f"{digest}  {TASK_NAME}\n")
    print(f"wrote {task} ({task.stat().st_size} bytes) sha256 {digest}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent, help="output directory")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        _inner(args.out)
    else:
        _outer(args.out.resolve())


if __name__ == "__main__":
    os.environ.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    main()
