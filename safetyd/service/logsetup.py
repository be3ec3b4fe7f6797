"""Logging for people and for journald.

Under systemd (``$JOURNAL_STREAM`` set) each line starts with its syslog
priority (``<3>`` error … ``<7>`` debug), which journald turns into the
entry's priority, and carries no timestamp (journald adds one). Elsewhere lines
carry a timestamp with its zone: the machine's until the configuration is read,
then the site's (``use_timezone``), like every other time safetyd shows.
Events are logged as ``key=value`` pairs so that ``journalctl -g zone=press-3``
finds them.
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import datetime, tzinfo

PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


class JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prio = PRIORITY.get(record.levelno, 6)
        text = f"{record.name}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        # Continuation lines keep the priority, so a traceback is not logged at <6>.
        return "\n".join(f"<{prio}>{line}" for line in text.splitlines())


class ZonedFormatter(logging.Formatter):
    """Timestamps in one time zone, with the zone written out."""

    tz: tzinfo | None = None  # None: the machine's

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        when = datetime.fromtimestamp(record.created, self.tz).astimezone(self.tz)
        return when.strftime("%Y-%m-%d %H:%M:%S %Z")


def use_timezone(tz: tzinfo) -> None:
    """Write log timestamps in the site's time (the daemon calls this once configured)."""
    ZonedFormatter.tz = tz


def use_stream(stream) -> None:
    """Write the log to ``stream`` (the daemon's copy of stderr, see nativelog.py)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(stream)


def under_journald() -> bool:
    return bool(os.environ.get("JOURNAL_STREAM"))


def setup(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if under_journald():
        handler.setFormatter(JournalFormatter())
    else:
        handler.setFormatter(ZonedFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
