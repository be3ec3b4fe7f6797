"""Real stream servers on loopback for the source tests.

* ``MjpegServer``: an HTTP MJPEG server (multipart/x-mixed-replace), the way
  many IP cameras serve ``/video.mjpg``. It can be stopped and restarted on
  the same port, made to hang mid-stream (socket open, no bytes), or to send
  the same frame forever (a frozen camera).
* ``RtspServer``: GStreamer's RTSP server run by the system python3 (Debian
  packages python3-gi and gir1.2-gst-rtsp-server-1.0), H.264 from
  ``videotestsrc``.
"""

from __future__ import annotations

import base64
import contextlib
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np

BOUNDARY = "safetydframe"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_pattern(index: int, size=(320, 240)) -> np.ndarray:
    """A frame that changes every time: a moving bar and the frame number."""
    w, h = size
    img = np.full((h, w, 3), 60, np.uint8)
    x = (index * 7) % w
    cv2.rectangle(img, (x, 0), (x + 20, h), (0, 200, 255), -1)
    cv2.putText(img, str(index), (10, h - 20), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
    return img


class MjpegServer:
    def __init__(
        self, port: int | None = None, fps: float = 20.0, auth: tuple[str, str] | None = None
    ) -> None:
        self.port = port or free_port()
        self.fps = fps
        self.auth = auth  # (user, password): HTTP Basic authentication required
        self.refused = 0  # requests without the right credentials
        self.mode = "live"  # live | hang | frozen
        self.frames_sent = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._clients: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/video.mjpg"

    def start(self) -> MjpegServer:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                if outer.auth is not None:
                    token = base64.b64encode(":".join(outer.auth).encode()).decode()
                    if self.headers.get("Authorization") != f"Basic {token}":
                        outer.refused += 1
                        self.send_response(401)
                        self.send_header("WWW-Authenticate", 'Basic realm="camera"')
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                with outer._lock:
                    outer._clients.append(self.connection)
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                frozen = cv2.imencode(".jpg", test_pattern(0))[1].tobytes()
                index = 0
                try:
                    while outer._server is not None:
                        if outer.mode == "hang":
                            time.sleep(0.05)
                            continue
                        jpg = (
                            frozen
                            if outer.mode == "frozen"
                            else cv2.imencode(".jpg", test_pattern(index))[1].tobytes()
                        )
                        self.wfile.write(
                            f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                            f"Content-Length: {len(jpg)}\r\n\r\n".encode()
                            + jpg
                            + b"\r\n"
                        )
                        self.wfile.flush()
                        index += 1
                        outer.frames_sent += 1
                        time.sleep(1.0 / outer.fps)
                except (BrokenPipeError, ConnectionResetError, OSError):
                    return

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            for conn in self._clients:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self._clients.clear()

    def __enter__(self) -> MjpegServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


RTSP_SCRIPT = Path(__file__).with_name("rtsp_server.py")
SYSTEM_PYTHON = "/usr/bin/python3"


def rtsp_unavailable() -> str | None:
    """Why the RTSP server cannot run here, or None when it can."""
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} not found (the RTSP test server uses the system Python)"
    probe = subprocess.run(
        [
            SYSTEM_PYTHON,
            "-c",
            "import gi; gi.require_version('GstRtspServer', '1.0'); "
            "from gi.repository import GstRtspServer, Gst; Gst.init(None); "
            "assert Gst.ElementFactory.find('x264enc'), 'x264enc missing'",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if probe.returncode != 0:
        return (
            "GStreamer RTSP server not available (apt-get install python3-gi "
            "gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-ugly): "
            + probe.stderr.strip().splitlines()[-1]
        )
    return None


class RtspServer:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/test"

    def start(self) -> RtspServer:
        assert shutil.which(SYSTEM_PYTHON)
        self._proc = subprocess.Popen(
            [SYSTEM_PYTHON, str(RTSP_SCRIPT), str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        line = self._proc.stdout.readline()  # "ready" once it listens
        if "ready" not in line:
            raise RuntimeError(f"RTSP server did not start: {line}")
        return self

    def stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(10)
        self._proc = None

    def __enter__(self) -> RtspServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
