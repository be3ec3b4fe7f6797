"""Pose estimation: the PoseEstimator protocol and its MediaPipe implementation.

MediaPipe results are converted to our own ``Pose`` right here; nothing past
this module sees a MediaPipe type. The model ships inside the package
(``models/pose_landmarker_full.task``, built by ``models/build_pose_model.py``)
and is verified against its SHA-256 before use; nothing is ever downloaded."""

from __future__ import annotations

import hashlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..base.bodyparts import MIRRORED, NUM_LANDMARKS

MODELS = Path(__file__).parent.parent / "models"


BUNDLED_MODEL = MODELS / "pose_landmarker_full.task"


SHOULDERS = (11, 12)
HIPS = (23, 24)


def trunk_axis(
    keypoints: np.ndarray, visibility: np.ndarray, threshold: float
) -> np.ndarray | None:
    """The trunk, hip centre to shoulder centre (pixels, y down), or None when a
    shoulder or a hip is not seen: what the trunk's lean, a standing person's size
    and a lying person's length are measured by."""
    if not np.all(visibility[[*SHOULDERS, *HIPS]] >= threshold):
        return None
    return keypoints[list(SHOULDERS)].mean(axis=0) - keypoints[list(HIPS)].mean(axis=0)


@dataclass(frozen=True, eq=False)
class Pose:
    """One detected person: 33 landmarks in pixels, their visibility, and a box."""

    keypoints: np.ndarray  # (33, 2) float64, pixels, may lie outside the frame
    visibility: np.ndarray  # (33,) 0..1
    bbox: np.ndarray  # (4,) x0, y0, x1, y1 of all landmarks, clipped to the frame

    @property
    def score(self) -> float:
        return float(self.visibility.mean())

    @classmethod
    def from_arrays(
        cls, keypoints: np.ndarray, visibility: np.ndarray, frame_size: tuple[int, int]
    ) -> Pose:
        kp = np.asarray(keypoints, dtype=np.float64).reshape(NUM_LANDMARKS, 2)
        vis = np.clip(np.asarray(visibility, dtype=np.float64).reshape(NUM_LANDMARKS), 0, 1)
        w, h = frame_size
        x0, y0 = np.clip(kp.min(axis=0), 0, [w, h])
        x1, y1 = np.clip(kp.max(axis=0), 0, [w, h])
        return cls(kp, vis, np.array([x0, y0, x1, y1]))

    def mirrored(self, picture_size: tuple[int, int]) -> Pose:
        """This pose, found in a picture flipped left to right, in the unflipped picture:
        x reflected about the picture's width, left and right landmarks swapped."""
        kp = self.keypoints[list(MIRRORED)]
        kp[:, 0] = picture_size[0] - kp[:, 0]
        return Pose.from_arrays(kp, self.visibility[list(MIRRORED)], picture_size)


class ModelError(RuntimeError):
    pass


def expected_sha256(model: Path) -> str | None:
    sidecar = model.with_name(model.name + ".sha256")
    if not sidecar.is_file():
        return None
    return sidecar.read_text().split()[0]


# Files already checked, by identity (device, inode, size, mtime): a camera makes a
# model per region and per person followed, and hashing 9 MB each time costs 7 ms.
_verified: set[tuple[str, int, int, int, int]] = set()


def verify_model(model: Path) -> None:
    if not model.is_file():
        raise ModelError(f"pose model {model} does not exist")
    st = model.stat()
    identity = (str(model), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    if identity in _verified:
        return
    expected = expected_sha256(model)
    if expected is None:
        return  # a user's own model: nothing to check it against
    actual = hashlib.sha256(model.read_bytes()).hexdigest()
    if actual != expected:
        raise ModelError(
            f"pose model {model} is damaged: SHA-256 {actual[:16]}… but expected "
            f"{expected[:16]}…; reinstall safetyd"
        )
    _verified.add(identity)


class MediaPipePoseEstimator:
    """MediaPipe Tasks PoseLandmarker in VIDEO mode; one instance per camera."""

    def __init__(
        self,
        model: str | Path | None = None,
        num_poses: int = 4,
        min_detection_confidence: float = 0.5,
        min_presence_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        still: bool = False,
    ) -> None:
        """``still``: IMAGE mode, each picture on its own (no tracking from one call to
        the next), for one-off looks at different parts of the frame: one such model
        serves them all, where VIDEO mode needs an instance per picture stream."""
        os.environ.setdefault("GLOG_minloglevel", "2")  # before mediapipe loads
        from mediapipe.tasks.python import BaseOptions, vision

        path = Path(model) if model else BUNDLED_MODEL
        verify_model(path)
        options = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(path)),
            running_mode=vision.RunningMode.IMAGE if still else vision.RunningMode.VIDEO,
            num_poses=num_poses,
            min_pose_detection_confidence=min_detection_confidence,
            min_pose_presence_confidence=min_presence_confidence,
            min_tracking_confidence=min_tracking_confidence,
        )
        try:
            self._landmarker = vision.PoseLandmarker.create_from_options(options)
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"cannot load pose model {path}: {exc}") from None
        self._last_ms = -1
        self.model_path = path
        self.still = still

    def estimate(self, image_bgr: np.ndarray, timestamp_s: float) -> list[Pose]:
        import cv2
        import mediapipe as mp

        # VIDEO mode needs strictly increasing integer milliseconds.
        ms = max(int(round(timestamp_s * 1000)), self._last_ms + 1)
        self._last_ms = ms
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
        if self.still:
            result = self._landmarker.detect(image)
        else:
            result = self._landmarker.detect_for_video(image, ms)
        h, w = image_bgr.shape[:2]
        poses = []
        for landmarks in result.pose_landmarks:
            arr = np.array([(lm.x, lm.y, lm.visibility or 0.0) for lm in landmarks])
            poses.append(Pose.from_arrays(arr[:, :2] * [w, h], arr[:, 2], (w, h)))
        return poses

    def close(self) -> None:
        # Close explicitly: mediapipe 1.2.x raises from __del__ at interpreter exit
        # ("TypeError: 'NoneType' object is not callable") when left to the GC.
        landmarker, self._landmarker = getattr(self, "_landmarker", None), None
        if landmarker is not None:
            landmarker.close()

    def __enter__(self) -> MediaPipePoseEstimator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_ERROR_LINE = re.compile(r"^(?:[EF]\d{4} |E0000|ERROR|FATAL|Traceback)")


@contextmanager
def native_chatter_hidden(enabled: bool = True) -> Iterator[None]:
    """Hide what LiteRT/XNNPACK print to file descriptor 2 while a model loads and on its
    first frame ("INFO: Created TensorFlow Lite XNNPACK delegate", dozens of "Sparsity
    tensors" warnings): Python cannot turn that logging off. fd 2 goes to a temporary
    file meanwhile and error lines are passed on afterwards. Only for moments when no
    other thread writes to stderr: their lines would be filtered too.
    """
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            for line in sink.read().decode(errors="replace").splitlines():
                if _ERROR_LINE.match(line):
                    print(line, file=sys.stderr)


def create_estimator(
    settings, model_path: Path | None, num_poses: int | None = None, still: bool = False
) -> MediaPipePoseEstimator:
    """An estimator from ``[pose]`` settings (safetyd.config.PoseSettings);
    ``num_poses`` overrides theirs (1 for a model that follows one person); ``still``
    for one-off looks (IMAGE mode)."""
    return MediaPipePoseEstimator(
        model=model_path,
        num_poses=settings.num_poses if num_poses is None else num_poses,
        min_detection_confidence=settings.min_detection_confidence,
        min_presence_confidence=settings.min_presence_confidence,
        min_tracking_confidence=settings.min_tracking_confidence,
        still=still,
    )
