"""Waitress with bounds on slow clients, so /healthz answers under a slow-socket attack.

Waitress closes connections that are *silent* for ``channel_timeout``, but one
that sends a header byte every few seconds is never silent: 300 such sockets
filled its connection limit and /healthz went unanswered (round-2 attack). Three
rules on top of waitress, applied in its own event loop (no extra thread):

* **A request has a deadline**: a connection that started a request (sent its
  first byte) and has not finished its headers (and body) within
  ``request_deadline_s`` is closed, however steadily it drips.
* **Connections per address are bounded** (``per_address``), and so are
  connections in all (``total``).
* **At a bound, the newcomer gets a place**: the connection that has waited the
  longest for a whole request (the slow ones: they never finish one) is closed
  to make room. Only when every connection at that bound is being answered is
  the newcomer closed instead. A health probe sends its whole request at once,
  so it is answered even from the attacker's own address; waitress' own limit
  (which stops accepting, leaving newcomers in the listen backlog behind the
  slow ones) is never reached.
"""

from __future__ import annotations

import time
from typing import Any

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher


class _Channel(HTTPChannel):
    """A connection that knows since when it has waited for the rest of a request."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        # Since when it waits for a request: from the connection (nothing sent yet)
        # until its first request is whole; then from the first byte of each next one.
        self.waiting_since: float | None = self.creation_time

    def received(self, data: bytes) -> bool:
        if self.request is None and self.waiting_since is None and data:
            self.waiting_since = time.time()  # the first byte of a new request
        result = super().received(data)
        if self.request is None and self.requests:
            self.waiting_since = None  # whole: it is being answered
        return result

    def waiting(self) -> bool:
        """Waiting for (the rest of) a request, with nothing to answer or send."""
        return (
            self.waiting_since is not None
            and not self.requests
            and not self.total_outbufs_len
            and not self.will_close
        )


class GuardedServer(TcpWSGIServer):
    channel_class = _Channel

    def __init__(
        self,
        application: Any,
        *,
        map: dict,
        adj: Adjustments,
        request_deadline_s: float,
        per_address: int,
        total: int,
    ) -> None:
        dispatcher = ThreadedTaskDispatcher()
        dispatcher.set_thread_count(adj.threads)
        self.request_deadline_s = request_deadline_s
        self.per_address = per_address
        self.total = total
        self.evicted = 0  # slow connections closed to make room (a count for tests)
        self.refused = 0  # newcomers closed because everyone at the bound was served
        super().__init__(application, map, dispatcher=dispatcher, adj=adj, sockinfo=adj.listen[0])

    def maintenance(self, now: float) -> None:
        super().maintenance(now)  # the silent ones
        cutoff = now - self.request_deadline_s
        for channel in list(self.active_channels.values()):
            if channel.waiting() and channel.waiting_since < cutoff:
                channel.will_close = True

    def handle_accept(self) -> None:
        try:
            accepted = self.accept()
        except OSError:
            return  # the peer gave up before we got to it
        if accepted is None:
            return
        conn, addr = accepted
        host = addr[0] if isinstance(addr, tuple) else addr
        live = [c for c in self.active_channels.values() if not c.will_close]
        for bound, group in (
            (self.per_address, [c for c in live if _host(c) == host]),
            (self.total, live),
        ):
            if len(group) < bound:
                continue
            waiting = [c for c in group if c.waiting()]
            if not waiting:
                self.refused += 1
                conn.close()
                return
            oldest = min(waiting, key=lambda c: c.waiting_since)
            oldest.will_close = True  # closed by the loop on its next pass
            self.evicted += 1
        self.channel_class(self, conn, addr, self.adj, map=self._map)


def _host(channel: HTTPChannel) -> str:
    addr = channel.addr
    return addr[0] if isinstance(addr, tuple) else str(addr)
