"""Incident events on their way from the frame that made them to the database.

Each frame's transitions are held here, then committed with their alerts, oldest
first. Normally a batch is held for the few milliseconds of its commit; only a
batch whose commit *failed* is unrecorded in the health sense (/healthz, the
metric): counting the one in flight made /healthz answer 503 now and then in
normal running (15 of 10,000 requests in the round-2 attack).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from ..hazard.incidents import Transition
from ..zones.model import Zone


@dataclass
class Held:
    """Incident transitions not yet committed, with what routing them needs."""

    transitions: list[Transition]
    capture_mono: float | None
    zones: tuple[Zone, ...]
    from_memory: bool = False  # a commit failed; their alerts went to the memory queue


class HeldEvents:
    """Appended by the inference thread and, on reload, the main thread."""

    def __init__(self, limit: int) -> None:
        self.limit = limit  # batches held at most while the database fails
        self.dropped = 0  # events dropped from the record past the limit
        self._queue: deque[Held] = deque()
        self._lock = threading.Lock()

    def hold(self, entry: Held) -> None:
        with self._lock:
            self._queue.append(entry)

    def first(self) -> Held | None:
        with self._lock:
            return self._queue[0] if self._queue else None

    def committed(self) -> None:
        with self._lock:
            self._queue.popleft()

    def failed(self) -> tuple[list[Held], list[Held], int]:
        """A commit failed: every batch held is unrecorded now. Returns the batches
        whose alerts must go from memory (not handed over before), those dropped
        past the limit, and how many events stay held."""
        with self._lock:
            todo = [e for e in self._queue if not e.from_memory]
            for e in todo:
                e.from_memory = True
            dropped = []
            while len(self._queue) > self.limit:
                dropped.append(self._queue.popleft())
            self.dropped += sum(len(e.transitions) for e in dropped)
            held = sum(len(e.transitions) for e in self._queue)
        return todo, dropped, held

    def unrecorded(self) -> int:
        """Events whose commit failed and that are not recorded yet."""
        with self._lock:
            return sum(len(e.transitions) for e in self._queue if e.from_memory)

    def events(self) -> list[Transition]:
        """Every event still held (at stop: those that will be lost)."""
        with self._lock:
            return [tr for e in self._queue for tr in e.transitions]
