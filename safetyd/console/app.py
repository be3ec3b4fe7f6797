"""The console as a Starlette application: login, live view (server-sent events),
incident history with CSV export, acknowledge and snooze.

Every route checks the session's role on the server; hidden buttons are a
courtesy, not the control. Forms carry the session's CSRF token (the login form
a double-submit cookie). Pages are Jinja2 templates (autoescaped) with one
script file and a Content-Security-Policy that allows no inline script, so a
zone named ``<script>`` is text, never code.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ..alerts.messages import mask_number
from ..assembly import users as users_file
from ..assembly.users import User
from ..base.timing import stamp
from ..hazard import lifecycle
from . import calibrate, editor
from . import incident as incident_page
from .sessions import LoginLimiter, Session, Sessions

HERE = Path(__file__).parent
COOKIE = "safetyd_session"
LOGIN_COOKIE = "safetyd_login"
PUSH_EVERY_S = 0.25  # the live view's server-side poll; the banner shows within this
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
    "style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


SQLITE_INT_MAX = 2**63 - 1
MAX_MARKS_BYTES = 65_536  # 64 pairs of marks are a few kB


def spreadsheet_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet will not run: text that starts, after any blanks, with
    = + - @ (a formula), or with a tab or carriage return (which spreadsheets skip
    before reading a formula), gets a leading apostrophe."""
    if not isinstance(value, str) or not value:
        return value
    if value[0] in "\t\r" or value.lstrip(" \t\r\n")[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


@dataclass
class Backend:
    """What the console reads and changes in the running daemon."""

    status: Callable[[], Any]  # service.status.Status
    loaded: Callable[[], Any]  # config.load.LoadedConfig
    picture: Callable[[str], bytes | None]
    store: Any  # store.Store: the events
    alerts: Any  # alerts.service.AlertService: ledger, outbox, time zone
    frame: Callable[[str], Any] = lambda camera: None  # the raw last frame (numpy BGR)
    # Ask the daemon for its ordinary reload and wait for it: (applied?, why not).
    reload: Callable[[], tuple[bool, str]] = lambda: (False, "no daemon")


class Forbidden(Exception):
    pass


def live_state(backend: Backend) -> dict:
    """The live view's data: every configured camera (disabled ones NOT MONITORED),
    open incidents, whether danger is open. Plain values, for the page and the stream."""
    st = backend.status()
    loaded = backend.loaded()
    now = time.time()
    running = {c.id: c for c in st.cameras}
    cameras = []
    for cfg in loaded.config.cameras:
        c = running.get(cfg.id)
        if c is None:
            cameras.append({"id": cfg.id, "state": "NOT MONITORED", "fps": 0.0, "armed": [],
                            "reason": "disabled in the configuration", "since": ""})  # fmt: skip
            continue
        since = ""
        if not c.up:
            since = (
                stamp(now - c.frame_age_s, backend.alerts.tz)
                if c.frame_age_s is not None
                else "start"
            )
        cameras.append({
            "id": c.id, "state": "up" if c.up else "OFFLINE", "fps": round(c.fps, 1),
            "armed": list(c.armed), "reason": "" if c.up else (c.error or "no fresh frames"),
            "since": since,
        })  # fmt: skip
    incidents = [
        {"camera": i.camera, "zone": i.zone, "level": i.level, "since": i.since,
         "body_part": i.body_part}
        for i in st.incidents
    ]  # fmt: skip
    waiting = [
        {"code": a.code, "incident": a.incident, "camera": a.camera, "zone": a.zone,
         "level": a.level, "opened": a.opened, "acknowledged": a.acknowledged,
         "by": a.acknowledged_by}
        for a in st.answers
    ]  # fmt: skip
    return {
        "site": st.site,
        "danger": [i for i in incidents if i["level"] == "danger"],
        "cameras": cameras,
        "incidents": incidents,
        "answers": waiting,
        "healthy": not st.reasons(),
        "reasons": st.reasons(),
    }


def _when(text: str | None, tz: ZoneInfo) -> float | None:
    """A history filter's date or time (site time) as wall seconds."""
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (at if at.tzinfo else at.replace(tzinfo=tz)).timestamp()


class Console:
    def __init__(
        self,
        backend: Backend,
        users_path: Path,
        session_hours: float,
        max_failures: int,
        lockout_s: float,
        secure: bool,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.users_path = users_path
        self.sessions = Sessions(session_hours, clock)
        self.limiter = LoginLimiter(max_failures, lockout_s, clock=clock)  # per user name
        # Per client address, looser: several people may share one (a shop-floor PC).
        self.addresses = LoginLimiter(4 * max_failures, lockout_s, clock=clock)
        self.secure = secure
        # One live state per push interval, shared by every open page: the cost of the
        # live view does not grow with the number of people watching it.
        self._live: tuple[float, dict] | None = None
        self._live_lock = threading.Lock()
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.app = Starlette(
            routes=[
                Route("/login", self.login_page, methods=["GET"]),
                Route("/login", self.login, methods=["POST"]),
                Route("/logout", self.logout, methods=["POST"]),
                Route("/", self.live),
                Route("/stream", self.stream),
                Route("/api/live", self.live_json),
                Route("/camera/{camera}.jpg", self.camera),
                Route("/history", self.history),
                Route("/history.csv", self.history_csv),
                Route("/incident/{incident}", self.incident),
                Route("/snapshot/{event_id:int}.jpg", self.snapshot),
                Route("/ack", self.ack, methods=["POST"]),
                Route("/snooze", self.snooze, methods=["POST"]),
                Route("/calibration/{camera}", self.calibration_page),
                Route("/calibration/{camera}/{action}", self.calibration_act, methods=["POST"]),
                Route("/zones/{camera}", self.zones_page),
                Route("/zones/{camera}/frame.jpg", self.zones_frame),
                Route("/zones/{camera}/file/{index:int}", self.zones_file),
                Route("/zones/{camera}/{index:int}/{action}", self.zones_act, methods=["POST"]),
                Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
            ],
            exception_handlers={Forbidden: self._forbidden},
        )
        self.app.add_middleware(_Headers)

    # -- sessions -------------------------------------------------------------------

    def _session(self, request: Request) -> Session | None:
        s = self.sessions.get(request.cookies.get(COOKIE))
        if s is None:
            return None
        role = users_file.role_of(self.users_path, s.user.name)  # removed or demoted: now
        if role is None:
            self.sessions.drop(s.token)
            return None
        if role != s.user.role:
            s.user = User(s.user.name, role)
        return s

    def _need(self, request: Request, role: str = "viewer") -> Session:
        s = self._session(request)
        if s is None:
            raise Forbidden("login")
        if not s.user.may(role):
            raise Forbidden(f"this needs the role {role}; {s.user.name} is {s.user.role}")
        return s

    async def _need_form(self, request: Request, role: str) -> tuple[Session, Any]:
        s = self._need(request, role)
        form = await request.form()
        if not s.csrf_ok(str(form.get("csrf") or "")):
            raise Forbidden("the form's CSRF token is missing or wrong: reload the page")
        return s, form

    def _forbidden(self, request: Request, exc: Exception) -> Response:
        if str(exc) == "login":
            if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
                return RedirectResponse("/login", 303)
            return PlainTextResponse("login required", 401)
        return PlainTextResponse(f"refused: {exc}", 403)

    def _page(self, request: Request, name: str, s: Session | None, **ctx) -> Response:
        tz = self.backend.alerts.tz
        return self.templates.TemplateResponse(
            request, name, {"session": s, "site": self.backend.loaded().config.site.name,
                            "tz": str(tz), **ctx},
        )  # fmt: skip

    # -- login ------------------------------------------------------------------------

    async def login_page(self, request: Request) -> Response:
        token = secrets.token_urlsafe(24)
        response = self._page(request, "login.html", None, csrf=token, error=None)
        response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict",
                            secure=self.secure, max_age=3600)  # fmt: skip
        return response

    async def login(self, request: Request) -> Response:
        form = await request.form()
        cookie = request.cookies.get(LOGIN_COOKIE, "")
        if not cookie or not secrets.compare_digest(cookie, str(form.get("csrf") or "")):
            return PlainTextResponse("refused: the login form's CSRF token is wrong", 403)
        name = str(form.get("name") or "")[:64]
        password = str(form.get("password") or "")[:1024]
        address = request.client.host if request.client else "?"
        wait = max(self.limiter.locked(name), self.addresses.locked(address))
        if wait > 0:
            return self._login_error(request, f"too many failed logins: try again in "
                                              f"{wait:.0f} s", 429)  # fmt: skip
        user = await asyncio.to_thread(users_file.verify, self.users_path, name, password)
        if user is None:
            self.limiter.failed(name)
            self.addresses.failed(address)
            return self._login_error(request, "wrong name or password", 401)
        self.limiter.succeeded(name)
        s = self.sessions.create(user)
        response = RedirectResponse("/", 303)
        response.set_cookie(COOKIE, s.token, httponly=True, samesite="strict",
                            secure=self.secure, max_age=int(self.sessions.seconds))  # fmt: skip
        response.delete_cookie(LOGIN_COOKIE)
        return response

    def _login_error(self, request: Request, error: str, code: int) -> Response:
        token = secrets.token_urlsafe(24)
        response = self._page(request, "login.html", None, csrf=token, error=error)
        response.status_code = code
        response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict",
                            secure=self.secure, max_age=3600)  # fmt: skip
        return response

    async def logout(self, request: Request) -> Response:
        s, _ = await self._need_form(request, "viewer")
        self.sessions.drop(s.token)
        response = RedirectResponse("/login", 303)
        response.delete_cookie(COOKIE)
        return response

    # -- live -------------------------------------------------------------------------

    def live_now(self) -> dict:
        with self._live_lock:
            now = time.monotonic()
            if self._live is None or now - self._live[0] >= PUSH_EVERY_S * 0.8:
                self._live = (now, live_state(self.backend))
            return self._live[1]

    async def live(self, request: Request) -> Response:
        s = self._need(request)
        state = await asyncio.to_thread(self.live_now)
        return self._page(request, "live.html", s, live=state, initial=json.dumps(state))

    async def live_json(self, request: Request) -> Response:
        self._need(request)
        return JSONResponse(await asyncio.to_thread(self.live_now))

    async def stream(self, request: Request) -> Response:
        """Server-sent events: the live state whenever it changes (checked every
        PUSH_EVERY_S), and a comment every 10 s to keep proxies from closing it."""
        self._need(request)

        async def events():
            last, quiet = None, 0.0
            while not await request.is_disconnected():
                if self._session(request) is None:  # logged out or removed meanwhile
                    yield "event: logout\ndata: {}\n\n"
                    return
                state = json.dumps(await asyncio.to_thread(self.live_now))
                if state != last:
                    last, quiet = state, 0.0
                    yield f"data: {state}\n\n"
                elif quiet >= 10:
                    quiet = 0.0
                    yield ": keepalive\n\n"
                await asyncio.sleep(PUSH_EVERY_S)
                quiet += PUSH_EVERY_S

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"X-Accel-Buffering": "no"})  # fmt: skip

    async def camera(self, request: Request) -> Response:
        self._need(request)
        data = await asyncio.to_thread(self.backend.picture, request.path_params["camera"])
        if data is None:
            return PlainTextResponse("no picture", 404)
        return Response(data, media_type="image/jpeg")

    # -- history ------------------------------------------------------------------------

    def _events(self, request: Request) -> tuple[list[dict], dict]:
        q = request.query_params
        tz = self.backend.alerts.tz
        filters = {k: q.get(k) or "" for k in ("camera", "zone", "level", "since", "until")}
        since = _when(filters["since"], tz)
        until = _when(filters["until"], tz)
        rows = self.backend.store.events(
            since=since if since is not None else time.time() - 7 * 86400,
            zone=filters["zone"] or None, camera=filters["camera"] or None, limit=5000,
        )  # fmt: skip
        if until is not None:
            rows = [r for r in rows if r["wall"] < until]
        if filters["level"]:
            # An incident matches by the highest level it reached.
            top: dict[str, str] = {}
            for r in rows:
                if r["level"] == "danger" or r["incident"] not in top:
                    top[r["incident"]] = r["level"]
            rows = [r for r in rows if top.get(r["incident"]) == filters["level"]]
        for r in rows:
            r["when"] = stamp(r["wall"], tz)
        return rows, filters

    async def history(self, request: Request) -> Response:
        s = self._need(request)
        rows, filters = await asyncio.to_thread(self._events, request)
        incidents: dict[str, dict] = {}
        for r in rows:
            inc = incidents.setdefault(r["incident"], {
                "incident": r["incident"], "code": lifecycle.code_of(r["incident"]),
                "camera": r["camera"], "zone": r["zone"], "zone_name": r["zone_name"],
                "level": r["level"], "opened": r["when"], "events": []})  # fmt: skip
            if r["level"] == "danger":
                inc["level"] = "danger"
            inc["events"].append(r["event"])
        loaded = self.backend.loaded()
        zones = sorted({z.id for zs in loaded.zones.values() for z in zs})
        cameras = [c.id for c in loaded.config.cameras]
        return self._page(request, "history.html", s, incidents=list(incidents.values())[::-1],
                          filters=filters, zones=zones, cameras=cameras,
                          query=request.url.query)  # fmt: skip

    async def history_csv(self, request: Request) -> Response:
        self._need(request)
        rows, _ = await asyncio.to_thread(self._events, request)
        out = io.StringIO()
        columns = ["when", "incident", "event", "level", "camera", "zone", "zone_name",
                   "body_part", "estimate", "distance", "ttc_s", "reason", "folded"]  # fmt: skip
        writer = csv.writer(out)
        writer.writerow(columns)
        for r in rows:
            writer.writerow([spreadsheet_cell(r.get(c)) for c in columns])
        return Response(out.getvalue(), media_type="text/csv", headers={
            "Content-Disposition": 'attachment; filename="safetyd-incidents.csv"'})  # fmt: skip

    async def incident(self, request: Request) -> Response:
        s = self._need(request)
        incident = request.path_params["incident"]

        def read() -> tuple[list[dict], list[dict], Any]:
            events = [
                dict(r)
                for r in self.backend.store.db.execute(
                    "SELECT * FROM events WHERE incident = ? ORDER BY wall, id", (incident,)
                )
            ]
            deliveries = self.backend.alerts.outbox.rows(incident=incident)
            tracked = next((i for i in self.backend.alerts.ledger.recent(0)
                            if i.incident == incident), None)  # fmt: skip
            return events, deliveries, tracked

        events, deliveries, tracked = await asyncio.to_thread(read)
        if not events:
            return PlainTextResponse("no such incident", 404)
        tz = self.backend.alerts.tz
        timeline = incident_page.timeline(events, tracked, tz)
        sent = [{"sink": d["sink"], "to": mask_number(d["recipient"]), "status": d["status"],
                 "attempts": d["attempts"], "when": stamp(d["sent"] or d["created"], tz),
                 "error": d["last_error"] or "", "body": d["body"]}
                for d in deliveries]  # fmt: skip
        return self._page(request, "incident.html", s, incident=incident,
                          code=lifecycle.code_of(incident), first=events[0], timeline=timeline,
                          deliveries=sent, tracked=tracked)  # fmt: skip

    async def snapshot(self, request: Request) -> Response:
        self._need(request)
        event_id = request.path_params["event_id"]
        if event_id > SQLITE_INT_MAX:  # no such row; SQLite cannot even take the number
            return PlainTextResponse("no snapshot", 404)
        row = self.backend.store.db.execute(
            "SELECT snapshot FROM events WHERE id = ?", (event_id,)).fetchone()  # fmt: skip
        if row is None or not row[0]:
            return PlainTextResponse("no snapshot", 404)
        path = Path(row[0])
        snapshots = (self.backend.loaded().state_dir / "snapshots").resolve()
        if not path.resolve().is_relative_to(snapshots) or not path.is_file():
            return PlainTextResponse("no snapshot", 404)
        return Response(path.read_bytes(), media_type="image/jpeg")

    # -- acting -------------------------------------------------------------------------

    async def ack(self, request: Request) -> Response:
        s, form = await self._need_form(request, "operator")
        incident = str(form.get("incident") or "")

        def act() -> lifecycle.AckDecision:
            if len(incident.strip()) <= 4:  # the form names a whole id, never a code
                return lifecycle.AckDecision(None, "no such incident to acknowledge", False)
            return self.backend.alerts.ledger.acknowledge_named(
                incident, f"console:{s.user.name}", "console", time.time()
            )

        decision = await asyncio.to_thread(act)
        back = str(form.get("back") or "/")
        if not back.startswith("/") or back.startswith("//"):
            back = "/"
        if not decision.ok:
            return PlainTextResponse(decision.answer, 409)
        return RedirectResponse(back, 303)

    async def snooze(self, request: Request) -> Response:
        s, form = await self._need_form(request, "operator")
        tz = self.backend.alerts.tz
        loaded = self.backend.loaded()
        zones = {z.id for cam in loaded.zones.values() for z in cam}
        now = time.time()
        try:
            until = lifecycle.parse_until(str(form.get("until") or ""), now, tz)
            snooze = lifecycle.request_snooze(
                str(form.get("zone") or ""), zones, until, str(form.get("reason") or ""),
                f"console:{s.user.name}", now, level=str(form.get("level") or "warning"),
            )  # fmt: skip
        except lifecycle.SnoozeRefused as exc:
            return PlainTextResponse(f"not snoozed: {exc}", 400)
        await asyncio.to_thread(self.backend.alerts.ledger.add_snooze, snooze)
        return RedirectResponse("/", 303)

    # -- the zone editor (engineers) -------------------------------------------------------

    def _camera(self, request: Request) -> str:
        camera = request.path_params["camera"]
        if camera not in {c.id for c in self.backend.loaded().config.cameras}:
            raise Forbidden(f"no camera {camera!r}")
        return camera

    async def zones_page(self, request: Request) -> Response:
        s = self._need(request, "engineer")
        camera = self._camera(request)
        loaded = self.backend.loaded()
        files = [str(f) for f in editor.zone_files(loaded, camera)]
        cam = loaded.config.camera(camera)
        return self._page(request, "zones.html", s, camera=camera, files=files,
                          fields=editor.schema_fields(), width=cam.width or 0,
                          height=cam.height or 0)  # fmt: skip

    async def zones_frame(self, request: Request) -> Response:
        self._need(request, "engineer")
        camera = self._camera(request)
        frame = await asyncio.to_thread(self.backend.frame, camera)
        if frame is None:
            return PlainTextResponse("no frame yet", 404)
        import cv2

        ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])
        return Response(data.tobytes(), media_type="image/jpeg")

    async def zones_file(self, request: Request) -> Response:
        self._need(request, "engineer")
        camera = self._camera(request)
        files = editor.zone_files(self.backend.loaded(), camera)
        index = request.path_params["index"]
        if not 0 <= index < len(files):
            return PlainTextResponse("no such zone file", 404)
        text = editor.current(files[index])
        return Response(text or '{"type": "FeatureCollection", "features": []}',
                        media_type="application/geo+json",
                        headers={"ETag": f'"{editor.version(text)}"'})  # fmt: skip

    async def zones_act(self, request: Request) -> Response:
        """check | preview | save, with the edited GeoJSON as the body; the CSRF token
        in the X-CSRF-Token header."""
        s = self._need(request, "engineer")
        if not s.csrf_ok(request.headers.get("x-csrf-token")):
            raise Forbidden("the request's CSRF token is missing or wrong: reload the page")
        camera = self._camera(request)
        loaded = self.backend.loaded()
        index = request.path_params["index"]
        if not 0 <= index < len(editor.zone_files(loaded, camera)):
            return PlainTextResponse("no such zone file", 404)
        body = await request.body()
        if len(body) > editor.MAX_BYTES:
            return PlainTextResponse("too large", 413)
        text = body.decode("utf-8", "replace")
        action = request.path_params["action"]
        if action == "check":
            checked = await asyncio.to_thread(editor.check, loaded, camera, index, text)
            return JSONResponse({"ok": checked.ok, "problems": checked.problems})
        if action == "preview":
            checked = await asyncio.to_thread(editor.check, loaded, camera, index, text)
            if not checked.ok:
                return JSONResponse({"ok": False, "problems": checked.problems}, 422)
            frame = await asyncio.to_thread(self.backend.frame, camera)
            png = await asyncio.to_thread(editor.preview, frame, loaded, camera, checked.zones)
            return Response(png, media_type="image/png")
        if action == "save":
            started_from = (request.headers.get("if-match") or "").strip('"') or None
            saved, problems, message = await asyncio.to_thread(
                editor.save, loaded, camera, index, text, s.user.name,
                loaded.state_dir / "audit.jsonl", self.backend.reload, started_from,
            )  # fmt: skip
            stale = not saved and message.startswith("not saved: the zone file changed")
            return JSONResponse({"ok": saved, "problems": problems, "message": message},
                                200 if saved else 409 if stale else 422)  # fmt: skip
        return PlainTextResponse("unknown action", 404)

    # -- floor calibration (engineers) ---------------------------------------------------

    async def calibration_page(self, request: Request) -> Response:
        s = self._need(request, "engineer")
        camera = self._camera(request)
        loaded = self.backend.loaded()
        cal = loaded.config.camera(camera).calibration
        marks = (
            [{"x": x, "y": y, "fx": fx, "fy": fy}
             for (x, y), (fx, fy) in zip(cal.image_points, cal.floor_points, strict=True)]
            if cal else []
        )  # fmt: skip
        return self._page(request, "calibration.html", s, camera=camera,
                          marks=json.dumps(marks),
                          plan=json.dumps(calibrate.plan(loaded, camera)))  # fmt: skip

    async def calibration_act(self, request: Request) -> Response:
        """check | preview | save; body {"image_points": [[x, y]…], "floor_points": […]}."""
        s = self._need(request, "engineer")
        if not s.csrf_ok(request.headers.get("x-csrf-token")):
            raise Forbidden("the request's CSRF token is missing or wrong: reload the page")
        camera = self._camera(request)
        raw = await request.body()
        if len(raw) > MAX_MARKS_BYTES:
            return JSONResponse({"ok": False, "errors": ["marks: the body is too large"]}, 413)
        try:
            body = json.loads(raw)
            image = [(float(x), float(y)) for x, y in body["image_points"]][:64]
            floor = [(float(x), float(y)) for x, y in body["floor_points"]][:64]
        except (ValueError, KeyError, TypeError, RecursionError):
            # RecursionError: JSON nested deeper than the parser's stack (an attack).
            return JSONResponse({"ok": False, "errors": ["marks: pairs of numbers expected"]},
                                400)  # fmt: skip
        loaded = self.backend.loaded()
        action = request.path_params["action"]
        if action == "check":
            return JSONResponse(calibrate.fit(image, floor))
        if action == "preview":
            verdict = calibrate.fit(image, floor)
            if not verdict["ok"]:
                return JSONResponse(verdict, 422)
            from ..vision.calibration import FloorMap

            frame = await asyncio.to_thread(self.backend.frame, camera)
            png = await asyncio.to_thread(calibrate.preview, frame, loaded, camera,
                                          FloorMap.from_points(image, floor))  # fmt: skip
            return Response(png, media_type="image/png")
        if action == "save":
            saved, problems, message = await asyncio.to_thread(
                calibrate.save, loaded, camera, image, floor, s.user.name,
                loaded.state_dir / "audit.jsonl", self.backend.reload,
            )  # fmt: skip
            return JSONResponse({"ok": saved, "errors": problems, "message": message},
                                200 if saved else 422)  # fmt: skip
        return PlainTextResponse("unknown action", 404)


class _Headers:
    """Security headers on every response."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()
                         if k.lower().encode() not in names]  # fmt: skip
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, with_headers)
