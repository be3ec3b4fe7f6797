"""A fake Twilio REST API on 127.0.0.1 for the delivery tests.

Implements ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` with
Twilio's response and error bodies. ``script`` decides each answer: a list of
modes consumed one per request (then ``default``), or set ``default`` for
everything: ``ok`` (201), ``invalid_to`` (400/21211), ``unsubscribed``
(400/21610), ``rate_limited`` (429/20429), ``error`` (500), ``hang`` (no
answer until ``release()``), ``rfc9457`` (an RFC-9457 problem body, 503),
``ok_slow`` (accepted at once, answered 3 s later), ``ok_after_release`` (accepted,
answered 201 only when ``release()`` is called), ``trickle`` (accepted, the 201
answer dribbled out one byte every ``trickle_s``: each socket read is quick, the
whole answer takes minutes), ``rate_limited_retry_after`` (429 with a
``Retry-After: {retry_after}`` header).
Every request is recorded, with its Basic-auth credentials and form fields.

``GET /2010-04-01/Accounts/{AccountSid}/Messages.json`` lists messages as
Twilio does (its ``To`` and ``DateSent>`` filters, one page): the inbound ones
added with ``reply(from_, body)``, as a phone's answer to an alert would
arrive. Each list request is recorded in ``polls`` (not in ``requests``, which
are the sends); ``list_mode = "error"`` answers them 500, ``"garbage"`` 200 with a
body that is not JSON, ``"endless"`` empty pages that each name a next one.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from streams import free_port

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "f00dfeedcafe5ec7e7" + "0" * 14  # 32 characters, the shape of a real token
PATH = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-f]{32})/Messages\.json$")

ERRORS = {
    # Twilio names the number in this one: "The 'To' number +1... is not a valid ..."
    "invalid_to": (400, 21211, "The 'To' number {to} is not a valid phone number."),
    "unsubscribed": (400, 21610, "Attempt to send to unsubscribed recipient"),
    "rate_limited": (429, 20429, "Too Many Requests"),
    "error": (500, 20500, "Internal Server Error"),
    "auth": (401, 20003, "Authenticate"),
}


@dataclass
class Request:
    at: float  # time.time() when received
    account: str
    user: str
    password: str
    form: dict[str, str]
    answered: str = ""


@dataclass
class FakeTwilio:
    port: int = field(default_factory=free_port)
    default: str = "ok"
    script: list[str] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    trickle_s: float = 4.0
    refuse: set[str] = field(default_factory=set)  # numbers answered as invalid_to
    retry_after: int = 3
    inbound: list[dict] = field(default_factory=list)  # replies, as Twilio lists them
    polls: list[dict[str, str]] = field(default_factory=list)  # list requests' filters
    list_mode: str = "ok"
    number: str = "+15555550100"  # our sending number (the example's): replies go to it

    def reply(self, from_: str, body: str, at: float | None = None, to: str | None = None) -> str:
        """A phone answers: an inbound message to our number, listed from now on."""
        sid = "SM" + uuid.uuid4().hex
        sent = datetime.fromtimestamp(time.time() if at is None else at, UTC)
        with self._lock:
            self.inbound.append({
                "sid": sid, "account_sid": ACCOUNT_SID, "from": from_, "to": to or self.number,
                "body": body, "direction": "inbound", "status": "received",
                "date_sent": format_datetime(sent), "_at": sent.timestamp(),
                "api_version": "2010-04-01", "num_segments": "1",
            })  # fmt: skip
        return sid

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def delivered(self) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.answered == "ok"]

    def release(self) -> None:
        self._release.set()

    def _mode(self) -> str:
        with self._lock:
            return self.script.pop(0) if self.script else self.default

    def start(self) -> FakeTwilio:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _reply(
                self, status: int, body: dict, headers: dict | None = None, trickle: bool = False
            ) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                ctype = "application/problem+json" if "type" in body else "application/json"
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if not trickle:
                    self.wfile.write(data)
                    return
                self.wfile.flush()
                for i in range(len(data)):
                    if fake._release.wait(fake.trickle_s):
                        self.wfile.write(data[i:])  # released: the rest at once
                        return
                    self.wfile.write(data[i : i + 1])
                    self.wfile.flush()

            def do_GET(self) -> None:  # noqa: N802
                url = urlsplit(self.path)
                match = PATH.match(url.path)
                if not match:
                    self._reply(404, {"code": 20404, "message": "Not Found", "status": 404})
                    return
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                with fake._lock:
                    fake.polls.append(query)
                    listed = list(fake.inbound)
                if fake.list_mode == "error":
                    self._reply(500, {"code": 20500, "message": "Internal Server Error",
                                      "status": 500})  # fmt: skip
                    return
                if fake.list_mode == "garbage":  # 200, but not JSON (a captive proxy)
                    body = b"<html>{not json"
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if fake.list_mode == "endless":  # every page names a next one
                    page = int(query.get("Page", "0")) + 1
                    self._reply(200, {
                        "messages": [], "end": 0, "first_page_uri": url.path,
                        "next_page_uri": f"{url.path}?Page={page}&PageSize=50", "page": page,
                        "page_size": 50, "previous_page_uri": None, "start": 0, "uri": self.path,
                    })  # fmt: skip
                    return
                after = query.get("DateSent>")
                since = datetime.fromisoformat(after.replace("Z", "+00:00")) if after else None
                out = [
                    {k: v for k, v in m.items() if not k.startswith("_")}
                    for m in listed
                    if (query.get("To") in (None, m["to"]))
                    and (since is None or m["_at"] >= since.timestamp())
                ]
                out.reverse()  # Twilio lists the newest first
                self._reply(200, {
                    "messages": out, "end": max(len(out) - 1, 0), "first_page_uri": url.path,
                    "next_page_uri": None, "page": 0, "page_size": 50, "previous_page_uri": None,
                    "start": 0, "uri": self.path,
                })  # fmt: skip

            def do_POST(self) -> None:  # noqa: N802
                match = PATH.match(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if not match:
                    self._reply(404, {"code": 20404, "message": "Not Found", "status": 404})
                    return
                auth = self.headers.get("Authorization", "")
                user, _, password = (
                    base64.b64decode(auth[6:]).decode().partition(":")
                    if auth.startswith("Basic ")
                    else ("", "", "")
                )
                req = Request(time.time(), match[1], user, password, form)
                with fake._lock:
                    fake.requests.append(req)
                mode = fake._mode()
                # The account SID or an API key (SK…) as user, and the secret.
                if password != AUTH_TOKEN or not (user == ACCOUNT_SID or user.startswith("SK")):
                    mode = "auth"
                if form.get("To") in fake.refuse and mode != "auth":
                    mode = "invalid_to"
                if mode == "hang":
                    fake._release.wait(120)
                    mode = "error"
                if mode == "ok_after_release":
                    req.answered = "held"
                    fake._release.wait(120)
                    mode = "ok"
                if mode == "ok_slow":
                    # Accepted (the phone will buzz), but the answer comes late: a client
                    # killed meanwhile never learns that it was sent.
                    req.answered = "ok"
                    time.sleep(3)
                    mode = "ok"
                trickle = mode == "trickle"
                if trickle:
                    mode = "ok"  # the message is accepted; the client hears of it slowly
                req.answered = mode
                if mode == "rate_limited_retry_after":
                    self._reply(
                        429,
                        {"code": 20429, "message": "Too Many Requests", "status": 429},
                        {"Retry-After": str(fake.retry_after)},
                    )
                elif mode == "ok":
                    self._reply(
                        201,
                        {
                            "sid": "SM" + uuid.uuid4().hex,
                            "account_sid": match[1],
                            "to": form.get("To"),
                            "from": form.get("From"),
                            "body": form.get("Body"),
                            "messaging_service_sid": form.get("MessagingServiceSid"),
                            "status": "queued",
                            "num_segments": "1",
                            "direction": "outbound-api",
                            "api_version": "2010-04-01",
                            "price": None,
                            "error_code": None,
                            "uri": f"/2010-04-01/Accounts/{match[1]}/Messages/x.json",
                        },
                        trickle=trickle,
                    )
                elif mode == "rfc9457":
                    self._reply(
                        503,
                        {
                            "type": "https://www.twilio.com/docs/errors/20503",
                            "title": "Service Unavailable",
                            "status": 503,
                            "code": 20503,
                            "detail": "try again later",
                        },
                    )
                else:
                    status, code, message = ERRORS[mode]
                    message = message.format(to=form.get("To"))
                    self._reply(
                        status,
                        {
                            "code": code,
                            "message": message,
                            "status": status,
                            "more_info": f"https://www.twilio.com/docs/errors/{code}",
                        },
                    )

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._release.set()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
