"""What the console reads and changes in the running daemon, and the refusal every
route raises when the session may not do what it asks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


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
