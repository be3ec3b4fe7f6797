"""Console sessions and the login limiter (pure: injected clock, no I/O).

A session is a random token in a cookie (HttpOnly, SameSite=Strict, Secure
behind TLS) that names a server-side entry: the user, a CSRF token for its
forms, and an expiry. Logging out, or the expiry, ends it; a restart of the
daemon ends all (they live in memory: nothing to steal from disk).

Failed logins are limited per user name and (more loosely) per client address:
after ``max_failures`` within the window, further attempts are refused until the
lockout has passed, right password or not.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..assembly.users import User


@dataclass
class Session:
    token: str
    user: User
    csrf: str
    expires: float

    def csrf_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf, str(token))


class Sessions:
    def __init__(self, hours: float, clock: Callable[[], float] = time.time) -> None:
        self.seconds = hours * 3600
        self.clock = clock
        self._lock = threading.Lock()
        self._by_token: dict[str, Session] = {}

    def create(self, user: User) -> Session:
        s = Session(secrets.token_urlsafe(32), user, secrets.token_urlsafe(24),
                    self.clock() + self.seconds)  # fmt: skip
        with self._lock:
            now = self.clock()
            self._by_token = {k: v for k, v in self._by_token.items() if v.expires > now}
            self._by_token[s.token] = s
        return s

    def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        with self._lock:
            s = self._by_token.get(token)
            if s is not None and s.expires <= self.clock():
                del self._by_token[token]
                return None
            return s

    def drop(self, token: str | None) -> None:
        with self._lock:
            self._by_token.pop(token or "", None)

    def drop_user(self, name: str) -> None:
        with self._lock:
            self._by_token = {k: v for k, v in self._by_token.items() if v.user.name != name}


MAX_KEYS = 10_000  # names or addresses with failures kept (an address sweep is bounded)
LOCKED_HARD_MAX = 100_000  # lockouts kept at most (memory, whatever the flood)


@dataclass
class _Failures:
    times: list[float] = field(default_factory=list)
    locked_until: float = 0.0


class LoginLimiter:
    def __init__(
        self,
        max_failures: int,
        lockout_s: float,
        window_s: float = 900.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self.window_s = window_s
        self.clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, _Failures] = {}

    def locked(self, *keys: str) -> float:
        """Seconds until a login may be tried again for these keys (0: now)."""
        now = self.clock()
        with self._lock:
            ends = [self._keys[k].locked_until for k in keys if k in self._keys]
        return max(0.0, max(ends, default=now) - now)

    def failed(self, *keys: str) -> None:
        now = self.clock()
        with self._lock:
            for k in keys:
                f = self._keys.setdefault(k, _Failures())
                f.times = [t for t in f.times if now - t < self.window_s] + [now]
                if len(f.times) >= self.max_failures:
                    f.locked_until = now + self.lockout_s
                    f.times = []
            if len(self._keys) > MAX_KEYS:
                self._forget(now)

    def _forget(self, now: float) -> None:
        """A sweep of names or addresses filled the table: forget what no longer
        counts, then the oldest entries that are not locked out. A lockout is never
        forgotten before it ends (flooding other names once erased a victim's), unless
        lockouts alone pass the hard bound: then those ending soonest go."""
        keys = self._keys
        for k in [k for k, f in keys.items() if f.locked_until <= now and not f.times]:
            del keys[k]
        for k in [k for k, f in keys.items() if f.locked_until <= now and
                  all(now - t >= self.window_s for t in f.times)]:  # fmt: skip
            del keys[k]
        if len(keys) > MAX_KEYS // 2:
            unlocked = sorted(
                (f.times[-1], k) for k, f in keys.items() if f.locked_until <= now and f.times
            )
            for _, k in unlocked[: len(keys) - MAX_KEYS // 2]:
                del keys[k]
        if len(keys) > LOCKED_HARD_MAX:
            ending = sorted((f.locked_until, k) for k, f in keys.items())
            for _, k in ending[: len(keys) - LOCKED_HARD_MAX]:
                del keys[k]

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for k in keys:
                self._keys.pop(k, None)
