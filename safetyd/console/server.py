"""The console's HTTP server: uvicorn (a kept ASGI server) on a thread of its own,
on a socket bound at start (a taken port is reported before any camera opens).

TLS is built in when [console] names a certificate and key credential (files
from systemd's LoadCredential=), or comes from a reverse proxy in front."""

from __future__ import annotations

import logging
import socket
import threading
from pathlib import Path

import uvicorn

from ..base.credentials import CredentialMissing
from ..config.console import ConsoleSettings
from .app import Backend, Console

log = logging.getLogger(__name__)


def credential_file(name: str) -> Path:
    """The file systemd passed in for a credential (TLS files are files, not text)."""
    import os

    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    path = Path(directory) / name if directory else None
    if path is None or not path.is_file():
        raise CredentialMissing(
            f"credential {name!r} not found: add 'LoadCredential={name}:/etc/safetyd/"
            f"credentials/{name}' to the service"
        )
    return path


class ConsoleServer:
    def __init__(self, settings: ConsoleSettings, users_path: Path, backend: Backend) -> None:
        self.console = Console(
            backend, users_path, settings.session_hours, settings.max_failed_logins,
            settings.lockout_s, secure=settings.secure_cookies or settings.tls,
        )  # fmt: skip
        family = socket.AF_INET6 if ":" in settings.bind else socket.AF_INET
        self.sock = socket.create_server((settings.bind, settings.port), family=family)
        tls = {}
        if settings.tls_cert_credential and settings.tls_key_credential:
            tls = {
                "ssl_certfile": str(credential_file(settings.tls_cert_credential)),
                "ssl_keyfile": str(credential_file(settings.tls_key_credential)),
            }
        # Forwarded headers name the client only when a proxy we know sent them:
        # uvicorn believes them from 127.0.0.1 by default, which let anyone on the box
        # pick a new address per login try and escape the per-address limit.
        proxies = list(settings.trusted_proxies)
        config = uvicorn.Config(
            self.console.app, log_level="warning", access_log=False, lifespan="off",
            limit_concurrency=200, timeout_keep_alive=10, timeout_graceful_shutdown=1,
            proxy_headers=bool(proxies), forwarded_allow_ips=proxies or None,
            **tls,  # type: ignore[arg-type]
        )  # fmt: skip
        self.server = uvicorn.Server(config)
        self.scheme = "https" if tls else "http"
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def start(self) -> ConsoleServer:
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, name="console", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 3.0) -> None:
        self.server.should_exit = True
        if self._thread:
            self._thread.join(timeout)
        self.sock.close()

    @property
    def alive(self) -> bool:
        return self._thread is None or self._thread.is_alive()
