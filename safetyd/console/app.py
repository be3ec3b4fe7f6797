"""The console as a Starlette application: login, live view (server-sent events),
acknowledge and snooze; the incident history (history.py), the near-miss analytics
(analytics.py) and the engineers' zone editor and calibration (engineering.py) are
route groups of their own.

Every route checks the session's role on the server; hidden buttons are a
courtesy, not the control. Forms carry the session's CSRF token (the login form
a double-submit cookie). Pages are Jinja2 templates (autoescaped) with one
script file and a Content-Security-Policy that allows no inline script, so a
zone named ``<script>`` is text, never code.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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

from ..assembly import users as users_file
from ..assembly.users import User
from ..hazard import lifecycle
from .analytics import AnalyticsPages
from .backend import Backend, Forbidden
from .engineering import EngineerPages
from .ergonomics import ErgonomicsPages
from .history import HistoryPages
from .live import live_state
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
                *HistoryPages(self).routes(),
                *AnalyticsPages(self).routes(),
                *ErgonomicsPages(self).routes(),
                Route("/ack", self.ack, methods=["POST"]),
                Route("/snooze", self.snooze, methods=["POST"]),
                *EngineerPages(self).routes(),
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

    def need(self, request: Request, role: str = "viewer") -> Session:
        s = self._session(request)
        if s is None:
            raise Forbidden("login")
        if not s.user.may(role):
            raise Forbidden(f"this needs the role {role}; {s.user.name} is {s.user.role}")
        return s

    async def _need_form(self, request: Request, role: str) -> tuple[Session, Any]:
        s = self.need(request, role)
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

    def page(self, request: Request, name: str, s: Session | None, **ctx) -> Response:
        tz = self.backend.alerts.tz
        return self.templates.TemplateResponse(
            request, name, {"session": s, "site": self.backend.loaded().config.site.name,
                            "tz": str(tz), **ctx},
        )  # fmt: skip

    # -- login ------------------------------------------------------------------------

    async def login_page(self, request: Request) -> Response:
        token = secrets.token_urlsafe(24)
        response = self.page(request, "login.html", None, csrf=token, error=None)
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
        response = self.page(request, "login.html", None, csrf=token, error=error)
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
        s = self.need(request)
        state = await asyncio.to_thread(self.live_now)
        return self.page(request, "live.html", s, live=state, initial=json.dumps(state))

    async def live_json(self, request: Request) -> Response:
        self.need(request)
        return JSONResponse(await asyncio.to_thread(self.live_now))

    async def stream(self, request: Request) -> Response:
        """Server-sent events: the live state whenever it changes (checked every
        PUSH_EVERY_S), and a comment every 10 s to keep proxies from closing it."""
        self.need(request)

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
        self.need(request)
        data = await asyncio.to_thread(self.backend.picture, request.path_params["camera"])
        if data is None:
            return PlainTextResponse("no picture", 404)
        return Response(data, media_type="image/jpeg")

    # -- history ------------------------------------------------------------------------

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

    def camera_id(self, request: Request) -> str:
        camera = request.path_params["camera"]
        if camera not in {c.id for c in self.backend.loaded().config.cameras}:
            raise Forbidden(f"no camera {camera!r}")
        return camera


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
