"""What stops a start outside the configuration file, explained: a port that cannot
be listened on (and the advice for its reason), the console's TLS credentials."""

from __future__ import annotations

import errno
import logging
import socket
from typing import TYPE_CHECKING

from ..assembly.load import LoadedConfig
from ..base.credentials import CredentialMissing

if TYPE_CHECKING:
    from ..console.backend import Backend
    from ..console.server import ConsoleServer

log = logging.getLogger("safetyd.daemon")


class StartupError(RuntimeError):
    """Something outside the configuration file stops the start (explained, no traceback)."""


def address(bind: str, port: int) -> str:
    return f"[{bind}]:{port}" if ":" in bind else f"{bind}:{port}"


def listen_error(bind: str, port: int, exc: OSError) -> str:
    """Why the endpoint cannot listen, and the advice that fits that reason."""
    where = address(bind, port)
    why = exc.strerror or str(exc)
    if exc.errno == errno.EADDRINUSE:
        advice = "another program uses the port: change [http] port or stop that program"
    elif exc.errno == errno.EADDRNOTAVAIL:
        advice = f"this machine has no address {bind}: use one of its own, e.g. 127.0.0.1"
    elif exc.errno == errno.EAFNOSUPPORT or isinstance(exc, socket.gaierror):
        advice = "IPv6 is not available on this machine: use bind = '127.0.0.1'"
    elif exc.errno == errno.EACCES:
        advice = "ports below 1024 need privileges: use a port above 1024 (default 9470)"
    else:
        advice = "check [http] bind and port"
    return f"cannot listen on {where}: {why}; {advice}"


def start_console(loaded: LoadedConfig, backend: Backend) -> ConsoleServer:
    """The operator console on its own port, started (or StartupError: why not)."""
    from ..console.server import ConsoleServer

    settings = loaded.config.console
    try:
        console = ConsoleServer(settings, loaded.users_path, backend).start()
    except OSError as exc:
        raise StartupError(
            listen_error(settings.bind, settings.port, exc).replace("[http]", "[console]")
        ) from None
    except CredentialMissing as exc:
        raise StartupError(f"console TLS: {exc}") from None
    log.info(
        "console on %s://%s, users from %s",
        console.scheme,
        address(settings.bind, console.port),
        loaded.users_path,
    )
    return console
