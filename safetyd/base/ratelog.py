"""Rate-limited logging for failures that repeat every frame or every request.

A full disk makes every commit fail, about 20 times a second per camera. The
first failure of a kind is logged in full (with its traceback); repeats within
``window_s`` are counted and summed up in one line when the window ends, so the
journal says "still failing, 1,204 times in the last minute" instead of
drowning the messages that matter.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Window:
    started: float
    suppressed: int = 0


class RateLimitedLog:
    def __init__(
        self,
        logger: logging.Logger,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.window_s = window_s
        self.clock = clock
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def log(
        self,
        level: int,
        key: str,
        msg: str,
        *args: object,
        exc_info: BaseException | bool | None = None,
    ) -> bool:
        """Log ``msg`` unless ``key`` was logged less than ``window_s`` ago; True if logged."""
        now = self.clock()
        with self._lock:
            window = self._windows.get(key)
            if window is not None and now - window.started < self.window_s:
                window.suppressed += 1
                return False
            repeated = window.suppressed if window else 0
            self._windows[key] = _Window(now)
        if repeated:
            msg += f" (and {repeated} more like it in the last {self.window_s:.0f}s)"
        self.logger.log(level, msg, *args, exc_info=exc_info)
        return True

    def error(self, key: str, msg: str, *args: object, exc_info: object = None) -> bool:
        return self.log(logging.ERROR, key, msg, *args, exc_info=exc_info)  # type: ignore[arg-type]

    def warning(self, key: str, msg: str, *args: object) -> bool:
        return self.log(logging.WARNING, key, msg, *args)

    def clear(self, key: str) -> int:
        """Forget ``key`` (the failure is over); return how many repeats went unlogged."""
        with self._lock:
            window = self._windows.pop(key, None)
        return window.suppressed if window else 0
