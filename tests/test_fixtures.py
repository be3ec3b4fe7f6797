"""The committed fixtures are what fixtures/make_fixtures.py makes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
from conftest import FIXTURES
from scenes import read_frames


def frames(path: Path) -> list[np.ndarray]:
    return [f.astype(np.int16) for f in read_frames(path)]


def test_fixtures_are_reproducible(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(FIXTURES / "make_fixtures.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "walk-in.json").read_text()) == json.loads(
        (FIXTURES / "walk-in.json").read_text()
    )
    for name in ("walk-in.mp4", "empty.mp4"):
        made, committed = frames(tmp_path / name), frames(FIXTURES / name)
        assert len(made) == len(committed) > 0
        # Encoders may differ in the last bit between OpenCV builds; the pictures may not.
        assert max(np.abs(a - b).mean() for a, b in zip(made, committed, strict=False)) < 1.0
    for name in ("floor.png", "frame.png"):
        assert np.array_equal(cv2.imread(str(tmp_path / name)), cv2.imread(str(FIXTURES / name)))
