"""The daemon's native stderr filter: LiteRT's per-model chatter dropped, native
error lines logged as errors, anything else passed on (a real model loads)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = r"""
import logging, os
import numpy as np
from safetyd.service import logsetup
from safetyd.service.nativelog import NativeStderr
from safetyd.vision.pose import MediaPipePoseEstimator

logsetup.setup("info")
native = NativeStderr()
logsetup.use_stream(native.start())
with MediaPipePoseEstimator(num_poses=1) as est:  # ~48 lines of chatter per model
    est.estimate(np.zeros((360, 640, 3), np.uint8), 0.0)
os.write(2, b"E0000 00:00:1795000000.000000    42 model.cc:7] cannot map the model\n")
os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")  # not on every run
os.write(2, b"something else a library printed\n")
logging.getLogger("safetyd.test").warning("our own line")
native.stop()
print("dropped", native.dropped)
"""


def test_chatter_is_dropped_and_errors_are_kept() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    err = result.stderr
    assert "Sparsity tensors" not in err and "INFO: " not in err, err[:2000]
    assert int(result.stdout.split()[-1]) >= 40  # the chatter was there, and dropped
    assert (
        "ERROR   safetyd.native: E0000 00:00:1795000000.000000    42 model.cc:7] cannot map "
        "the model"
    ) in err
    assert "\nsomething else a library printed\n" in "\n" + err
    assert "WARNING safetyd.test: our own line" in err
