"""The HTTP endpoint (default 127.0.0.1): /metrics, /healthz, a status page.

* ``/metrics``: Prometheus text format.
* ``/healthz``: 200 only when every camera with armed zones is fresh and alert
  delivery is healthy; otherwise 503. The JSON body says why.
* ``/``: cameras, their last frame with zones and skeletons drawn
  (``/camera/<id>.jpg``), open incidents; refreshes itself.
* ``/api/status``: the same as JSON.

Served by waitress (a kept WSGI server): a fixed pool of worker threads, a
bound on open connections in all and per address, an idle timeout and a
deadline for each request (service/httpguard.py), so neither many requests nor
many slow sockets can exhaust threads, file descriptors or memory, or keep
/healthz from answering.
"""

from __future__ import annotations

import html
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from .status import Status

log = logging.getLogger(__name__)
# "Task queue depth is 2" on every short burst of requests is noise, not news.
logging.getLogger("waitress.queue").setLevel(logging.ERROR)


@dataclass
class Endpoints:
    metrics: Callable[[], bytes]
    health: Callable[[], tuple[bool, dict[str, Any]]]
    status: Callable[[], dict[str, Any]]
    page: Callable[[], Status]
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
<h2>Acknowledgements</h2>
<table id="answers"><tr><th>code</th><th>camera</th><th>zone</th><th>level</th>
<th>opened</th><th>acknowledged</th><th>next escalation</th></tr>{answer_rows}</table>
<h2>Snoozed zones (warnings only; danger always alerts)</h2>
<table id="snoozes"><tr><th>zone</th><th>until</th><th>reason</th><th>by</th></tr>
{snooze_rows}</table>
{replies_error}
{mqtt}
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


def render_page(status: Status) -> str:
    esc = html.escape
    reasons = status.reasons()
    rows, figures = [], []
    for cam in status.cameras:
        state = '<span class="up">up</span>' if cam.up else '<span class="down">OFFLINE</span>'
        age = "-" if cam.frame_age_s is None else f"{cam.frame_age_s:.1f}s"
        armed = ", ".join(cam.armed) or "none"
        rows.append(
            f'<tr data-camera="{esc(cam.id)}"><td>{esc(cam.id)}</td><td>{state}</td>'
            f"<td>{cam.fps:.1f}</td><td>{age}</td><td>{esc(armed)}</td>"
            f"<td>{cam.reconnects}</td><td>{cam.frames_dropped}</td></tr>"
        )
        figures.append(
            f'<figure><img class="frame" alt="{esc(cam.id)}" '
            f'src="/camera/{esc(cam.id)}.jpg"><figcaption>{esc(cam.id)}</figcaption>'
            "</figure>"
        )
    incidents = [
        f'<tr class="{esc(i.level)}"><td>{esc(i.camera)}</td><td>{esc(i.zone)}</td>'
        f"<td>{esc(i.level)}</td><td>{i.track}</td><td>{esc(i.body_part)}</td>"
        f"<td>{esc(i.since)}</td></tr>"
        for i in status.incidents
    ]
    answers = [
        f'<tr class="{"" if a.acknowledged else "down"}"><td>{esc(a.code)}</td>'
        f"<td>{esc(a.camera)}</td><td>{esc(a.zone)}</td><td>{esc(a.level)}</td>"
        f"<td>{esc(a.opened)}</td><td>"
        + (
            esc(f"{a.acknowledged} by {a.acknowledged_by} via {a.via}")
            if a.acknowledged
            else "NOT YET"
        )
        + f"</td><td>{esc(a.next_step or '-')}</td></tr>"
        for a in status.answers
    ]
    snoozes = [
        f"<tr><td>{esc(s.zone)}</td><td>{esc(s.until)}</td><td>{esc(s.reason)}</td>"
        f"<td>{esc(s.by)}</td></tr>"
        for s in status.snoozes
    ]
    replies_error = (
        f'<p class="down">SMS replies cannot be read: {esc(status.replies_error)}</p>'
        if status.replies_error
        else ""
    )
    return PAGE.format(
        mqtt=_mqtt_html(status),
        answer_rows="".join(answers) or '<tr><td colspan="7">none</td></tr>',
        snooze_rows="".join(snoozes) or '<tr><td colspan="4">none</td></tr>',
        replies_error=replies_error,
        site=esc(status.site),
        health_class="up" if not reasons else "down",
        health_text="healthy" if not reasons else "UNHEALTHY: " + esc("; ".join(reasons)),
        camera_rows="".join(rows),
        figures="".join(figures),
        incident_rows="".join(incidents) or '<tr><td colspan="6">none</td></tr>',
        outbox=status.delivery.pending,
    )


def _mqtt_html(status: Status) -> str:
    m = status.mqtt
    if m is None:
        return ""
    esc = html.escape
    state = (
        f'<span class="up">connected since {esc(m.since)}</span>'
        if m.connected
        else f'<span class="down">NOT CONNECTED ({esc(m.error or "?")}) since {esc(m.since)}</span>'
    )
    out = f'<p id="mqtt">MQTT {esc(m.broker)} as {esc(m.base_topic)}: {state}</p>'
    if m.fleet is None:
        return out
    rows = []
    for r in m.fleet:
        alarm = r.state != "online"
        state_text = "online" if not alarm else f"{r.state.upper()} {r.reason}".strip()
        seen = "-" if r.last_seen is None else f"{max(0.0, time.time() - r.last_seen):.0f}s ago"
        rows.append(
            f'<tr data-box="{esc(r.site)}/{esc(r.box)}"><td>{esc(r.site)}/{esc(r.box)}</td>'
            f'<td class="{"down" if alarm else "up"}">{esc(state_text)}</td>'
            f"<td>{r.cameras}</td><td>{esc(', '.join(r.cameras_offline) or '-')}</td>"
            f"<td>{r.open_incidents}</td><td>{esc(seen)}</td></tr>"
        )
    return (
        out + '<h2>Fleet</h2><table id="fleet"><tr><th>box</th><th>state</th><th>cameras</th>'
        "<th>cameras offline</th><th>open incidents</th><th>last seen</th></tr>"
        + ("".join(rows) or '<tr><td colspan="6">no box seen yet</td></tr>')
        + "</table>"
    )


# Bounds of the HTTP server. Requests are cheap (a status read, a JPEG), so a few
# worker threads are plenty; slow or idle clients wait in waitress' event loop,
# not in a thread, and are closed after IDLE_TIMEOUT_S of silence, or
# REQUEST_DEADLINE_S after the first byte of a request that is still not whole.
# At a bound on connections, the one that has waited longest for its request
# makes room for the newcomer (service/httpguard.py).
HTTP_THREADS = 4
MAX_CONNECTIONS = 200
MAX_PER_ADDRESS = 32  # a Prometheus, a probe and a few browsers need far fewer
IDLE_TIMEOUT_S = 10
REQUEST_DEADLINE_S = 5.0  # a real client sends its few hundred bytes at once
MAX_HEADER_BYTES = 16_384


def _path(environ: dict[str, Any]) -> str:
    return environ.get("PATH_INFO", "") or "/"


class WebServer:
    """The endpoints on waitress: a fixed pool of worker threads, bounded connections,
    idle connections closed, nothing read from the request but its path."""

    def __init__(self, bind: str, port: int, endpoints: Endpoints) -> None:
        from waitress.adjustments import Adjustments

        from .httpguard import GuardedServer

        self.endpoints = endpoints
        self._map: dict = {}
        adj = Adjustments(
            host=bind,
            port=port,
            threads=HTTP_THREADS,
            # Waitress' own limit stops accepting (newcomers wait in the backlog
            # behind the slow); ours makes room instead, so theirs must never bite.
            connection_limit=4 * MAX_CONNECTIONS,
            channel_timeout=IDLE_TIMEOUT_S,
            cleanup_interval=1,
            max_request_header_size=MAX_HEADER_BYTES,
            max_request_body_size=0,
            ident="safetyd",
            expose_tracebacks=False,
        )
        # Binding happens here, so a taken port is reported before cameras open.
        self._server = GuardedServer(
            self.app,
            map=self._map,
            adj=adj,
            request_deadline_s=REQUEST_DEADLINE_S,
            per_address=MAX_PER_ADDRESS,
            total=MAX_CONNECTIONS,
        )
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    def app(self, environ: dict[str, Any], start_response: Callable) -> list[bytes]:
        """The WSGI application: GET only, routes by path."""
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _respond(start_response, 405, b"GET only\n", "text/plain", [("Allow", "GET")])
        try:
            code, body, ctype = self._route(_path(environ))
        except Exception:
            log.exception("http %s failed", _path(environ))
            code, body, ctype = 500, b"internal error\n", "text/plain"
        return _respond(start_response, code, body, ctype)

    def _route(self, path: str) -> tuple[int, bytes, str]:
        e = self.endpoints
        if path == "/metrics":
            return 200, e.metrics(), "text/plain; version=0.0.4; charset=utf-8"
        if path == "/healthz":
            ok, body = e.health()
            return (200 if ok else 503), json.dumps(body, indent=1).encode(), "application/json"
        if path == "/api/status":
            return 200, json.dumps(e.status(), indent=1).encode(), "application/json"
        if path == "/":
            return 200, render_page(e.page()).encode(), "text/html; charset=utf-8"
        if path.startswith("/camera/") and path.endswith(".jpg"):
            jpeg = e.picture(path[len("/camera/") : -len(".jpg")])
            if jpeg is None:
                return 404, b"no frame yet\n", "text/plain"
            return 200, jpeg, "image/jpeg"
        return 404, b"not found\n", "text/plain"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.run, name="http", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        def close_everything() -> None:  # runs in the server's own loop thread
            for dispatcher in list(self._map.values()):
                dispatcher.close()

        if self._thread and self._thread.is_alive():
            self._server.trigger.pull_trigger(close_everything)
            self._thread.join(timeout)
        else:
            self.close()
        self._server.task_dispatcher.shutdown(timeout=timeout)

    def close(self) -> None:
        """Release the socket of a server that was never started."""
        for dispatcher in list(self._map.values()):
            dispatcher.close()

    @property
    def alive(self) -> bool:
        return bool(self._thread and self._thread.is_alive())


def _respond(
    start_response: Callable,
    code: int,
    body: bytes,
    ctype: str,
    extra: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    start_response(
        f"{code} {HTTPStatus(code).phrase}",
        [
            ("Content-Type", ctype),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            *(extra or []),
        ],
    )
    return [body]
