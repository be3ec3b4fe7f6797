"""Native stderr, sorted: LiteRT's chatter out of the journal, its errors in it.

Every pose model instance makes MediaPipe/LiteRT print about 48 lines straight
to file descriptor 2 ("INFO: [environment.cc:36] Creating LiteRT environment",
38 "Sparsity tensors may not yet be fully supported" warnings...), unprefixed,
and Python cannot turn that off. The daemon opens models at start and while it
runs (regions, follow-ups), so the journal filled with noise that buried real
lines.

``NativeStderr`` points fd 2 at a pipe read by a small thread, and Python's own
stderr (the log handler) at a copy of the original: native chatter lines are
dropped (counted; the debug log level shows them), native error lines are
logged as errors under ``safetyd.native``, anything else native is passed on
unchanged. Python's logging never goes through the pipe, so if the reader
ever failed, only native writes could stall, never the daemon's own log.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from typing import IO

log = logging.getLogger("safetyd.native")

# LiteRT/TFLite info lines ("INFO: [file.cc:12] ...", "INFO: Created TensorFlow Lite
# XNNPACK delegate for CPU.") and its located warnings ("WARNING: [file.cc:12] ..."),
# glog/absl info and warning lines ("I0000 00:00:17... 123 file.cc:45] ...",
# "W0000 ..."), and absl's one-time notice about logging before InitGoogle.
CHATTER = re.compile(
    r"^(?:INFO: |WARNING: \[[\w.]+:\d+\]"
    r"|[IW]\d{4} \d\d:\d\d:[\d.]+ +\d+ "
    r"|WARNING: Logging before InitGoogle\(\))"
)
ERROR = re.compile(r"^(?:[EF]\d{4} |ERROR|FATAL)")


class NativeStderr:
    def __init__(self) -> None:
        self.dropped = 0
        self._thread: threading.Thread | None = None
        self._saved: int | None = None
        self._stream: IO[str] | None = None

    def start(self) -> IO[str]:
        """Divert fd 2; returns the stream Python's logging should write to."""
        sys.stderr.flush()
        self._saved = os.dup(2)
        read, write = os.pipe()
        os.dup2(write, 2)
        os.close(write)
        self._stream = open(  # noqa: SIM115 - lives as long as the daemon
            os.dup(self._saved), "w", buffering=1, encoding="utf-8", errors="replace"
        )
        sys.stderr = self._stream
        self._thread = threading.Thread(
            target=self._pump, args=(read,), name="native-stderr", daemon=True
        )
        self._thread.start()
        return self._stream

    def _pump(self, fd: int) -> None:
        with open(fd, "rb", buffering=0) as pipe:
            pending = b""
            while True:
                try:
                    chunk = pipe.read(65536)
                except OSError:
                    return
                if not chunk:
                    return
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for raw in lines:
                    try:
                        self._line(raw.decode("utf-8", "replace"))
                    except Exception:  # never stop reading: writers would block
                        continue

    def _line(self, line: str) -> None:
        if not line.strip():
            return
        if CHATTER.match(line):
            self.dropped += 1
            log.debug("%s", line)
        elif ERROR.match(line):
            log.error("%s", line)
        elif self._stream is not None:
            self._stream.write(line + "\n")
            self._stream.flush()

    def stop(self) -> None:
        """Give fd 2 back (the reader ends when the pipe's last writer is gone)."""
        if self._saved is None:
            return
        sys.stderr.flush()
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._saved = None
        if self._thread:
            self._thread.join(1.0)
