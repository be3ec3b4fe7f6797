"""The HTTP endpoint (default 127.0.0.1): /metrics, /healthz, a status page.

* ``/metrics``: Prometheus text format.
* ``/healthz``: 200 only when every camera with armed zones is fresh and alert
  delivery is healthy; otherwise 503. The JSON body says why.
* ``/``: cameras, their last frame with zones and skeletons drawn
  (``/camera/<id>.jpg``), open incidents; refreshes itself.
* ``/api/status``: the same as JSON.
"""

from __future__ import annotations

import html
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class Endpoints:
    metrics: Callable[[], bytes]
    health: Callable[[], tuple[bool, dict[str, Any]]]
    status: Callable[[], dict[str, Any]]
    picture: Callable[[str], bytes | None]


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="5">
<title>safetyd: {site}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }}
h1 {{ font-size: 1.3em; }} table {{ border-collapse: collapse; margin: .5em 0 1.5em; }}
td, th {{ border: 1px solid #ccc; padding: .3em .6em; text-align: left; }}
.up {{ color: #070; }} .down {{ color: #b00; font-weight: bold; }}
.danger {{ background: #fdd; }} .warning {{ background: #ffe8c0; }}
.cams {{ display: flex; flex-wrap: wrap; gap: 1em; }} figure {{ margin: 0; }}
img {{ max-width: 480px; border: 1px solid #999; }}
</style></head>
<body data-frames-loaded="0">
<h1>safetyd — {site}</h1>
<p id="health" class="{health_class}">{health_text}</p>
<h2>Cameras</h2>
<table id="cameras"><tr><th>camera</th><th>state</th><th>fps</th><th>frame age</th>
<th>armed zones</th><th>reconnects</th><th>dropped</th></tr>{camera_rows}</table>
<div class="cams">{figures}</div>
<h2>Open incidents</h2>
<table id="incidents"><tr><th>camera</th><th>zone</th><th>level</th><th>track</th>
<th>body part</th><th>since</th></tr>{incident_rows}</table>
<p>Alerts waiting for delivery: <span id="outbox">{outbox}</span></p>
<script>
// Marks the page once every camera picture has loaded (used by the browser test).
const imgs = Array.from(document.querySelectorAll("img.frame"));
let loaded = 0;
const mark = () => {{ document.body.dataset.framesLoaded = String(loaded); }};
imgs.forEach(img => {{
  if (img.complete && img.naturalWidth > 0) {{ loaded++; mark(); }}
  else img.addEventListener("load", () => {{ loaded++; mark(); }});
}});
</script>
</body></html>
"""


def render_page(status: dict[str, Any], healthy: bool, reasons: list[str]) -> str:
    esc = html.escape
    rows, figures = [], []
    for cam in status["cameras"]:
        state = '<span class="up">up</span>' if cam["up"] else '<span class="down">OFFLINE</span>'
        age = "-" if cam["frame_age_s"] is None else f"{cam['frame_age_s']:.1f}s"
        armed = ", ".join(z for z, a in cam["zones"].items() if a) or "none"
        rows.append(
            f'<tr data-camera="{esc(cam["id"])}"><td>{esc(cam["id"])}</td><td>{state}</td>'
            f"<td>{cam['fps']:.1f}</td><td>{age}</td><td>{esc(armed)}</td>"
            f"<td>{cam['reconnects']}</td><td>{cam['frames_dropped']}</td></tr>"
        )
        figures.append(
            f'<figure><img class="frame" alt="{esc(cam["id"])}" '
            f'src="/camera/{esc(cam["id"])}.jpg"><figcaption>{esc(cam["id"])}</figcaption>'
            "</figure>"
        )
    incidents = [
        f'<tr class="{esc(i["level"])}"><td>{esc(i["camera"])}</td><td>{esc(i["zone"])}</td>'
        f"<td>{esc(i['level'])}</td><td>{i['track']}</td><td>{esc(i['body_part'])}</td>"
        f"<td>{esc(i['since'])}</td></tr>"
        for i in status["incidents"]
    ]
    return PAGE.format(
        site=esc(status["site"]),
        health_class="up" if healthy else "down",
        health_text="healthy" if healthy else "UNHEALTHY: " + esc("; ".join(reasons)),
        camera_rows="".join(rows),
        figures="".join(figures),
        incident_rows="".join(incidents) or '<tr><td colspan="6">none</td></tr>',
        outbox=status["delivery"]["pending"],
    )


class WebServer:
    def __init__(self, bind: str, port: int, endpoints: Endpoints) -> None:
        self.endpoints = endpoints
        outer = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "safetyd"

            def log_message(self, fmt: str, *args: object) -> None:
                log.debug("http %s", fmt % args)

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802
                try:
                    outer._route(self)
                except BrokenPipeError:
                    pass
                except Exception:
                    log.exception("http %s failed", self.path)
                    self._send(500, b"internal error\n", "text/plain")

        self._server = ThreadingHTTPServer((bind, port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def _route(self, h) -> None:
        path = h.path.split("?", 1)[0]
        e = self.endpoints
        if path == "/metrics":
            h._send(200, e.metrics(), "text/plain; version=0.0.4; charset=utf-8")
        elif path == "/healthz":
            ok, body = e.health()
            h._send(200 if ok else 503, json.dumps(body, indent=1).encode(), "application/json")
        elif path == "/api/status":
            h._send(200, json.dumps(e.status(), indent=1).encode(), "application/json")
        elif path == "/":
            ok, body = e.health()
            page = render_page(e.status(), ok, body.get("reasons", []))
            h._send(200, page.encode(), "text/html; charset=utf-8")
        elif path.startswith("/camera/") and path.endswith(".jpg"):
            jpeg = e.picture(path[len("/camera/") : -len(".jpg")])
            if jpeg is None:
                h._send(404, b"no frame yet\n", "text/plain")
            else:
                h._send(200, jpeg, "image/jpeg")
        else:
            h._send(404, b"not found\n", "text/plain")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, name="http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def close(self) -> None:
        """Release the socket of a server that was never started."""
        self._server.server_close()

    @property
    def alive(self) -> bool:
        return bool(self._thread and self._thread.is_alive())
