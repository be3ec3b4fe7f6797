"""Live state on the broker, retained: per camera, per zone, per box.

The inference thread hands a camera's zone levels over after every frame
(``show_zones``); that call compares, stores and wakes the publisher thread,
and never touches the network, so a slow or absent broker cannot hold up a
frame. The publisher sends what changed (the newest value per topic: a
backlog coalesces instead of growing) and, after each reconnect, everything.
Capture-to-PUBACK time of each level change is reported to ``on_latency``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .link import MqttLink

log = logging.getLogger(__name__)
STALL_S = 30.0


@dataclass(frozen=True)
class ZoneLevel:
    level: str  # clear | warning | danger
    incident: str | None


def _json(value: dict) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


class StatePublisher:
    def __init__(self, link: MqttLink, on_latency: Callable[[float], object] | None = None) -> None:
        self.link = link
        self.on_latency = on_latency
        self._lock = threading.Lock()
        self._held: dict[str, bytes] = {}  # every retained topic's newest payload
        self._keys: dict[str, object] = {}  # what each payload says, without timestamps
        self._due: dict[str, float | None] = {}  # topics to send, with their capture time
        # mid -> capture time (monotonic) until its PUBACK; a PUBACK that beats the
        # bookkeeping (loopback is fast) waits in _early. Never held across a publish:
        # paho calls _acked holding its own lock, which publish also takes.
        self._mids = threading.Lock()
        self._captured: dict[int, float] = {}
        self._early: dict[int, float] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.heartbeat = time.monotonic()
        self.published = 0
        link.on_connect(self.republish)
        link.on_puback(self._acked)

    # -- what the box says ------------------------------------------------------------

    def set(
        self, topic: str, key: object, payload: dict, captured_mono: float | None = None
    ) -> bool:
        """Hold ``payload`` for ``topic``; send it if ``key`` (what it says) changed."""
        with self._lock:
            if self._keys.get(topic) == key and topic in self._held:
                return False
            self._keys[topic] = key
            self._held[topic] = _json(payload)
            self._due[topic] = captured_mono
        self._wake.set()
        return True

    def show_zones(
        self,
        camera: str,
        zones: Mapping[str, ZoneLevel],
        armed: frozenset[str] | None = None,
        captured_mono: float | None = None,
    ) -> None:
        """A camera's zones after a frame: every zone of the camera, by id."""
        now = time.time()
        for zone, z in zones.items():
            key = (z.level, z.incident, None if armed is None else zone in armed)
            payload = {"camera": camera, "zone": zone, "level": z.level, "incident": z.incident,
                       "changed": round(now, 3)}  # fmt: skip
            if armed is not None:
                payload["armed"] = zone in armed
            self.set(self.link.topics.zone(camera, zone), key, payload, captured_mono)

    def held(self) -> dict[str, bytes]:
        with self._lock:
            return dict(self._held)

    def republish(self) -> None:
        """Everything again (after a reconnect, or a status request)."""
        with self._lock:
            for topic in self._held:
                self._due.setdefault(topic, None)
        self._wake.set()

    # -- the thread ---------------------------------------------------------------------

    def start(self) -> StatePublisher:
        self._thread = threading.Thread(target=self._run, name="mqtt-state", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout)

    def stalled(self, now: float) -> list[str]:
        if self._thread is None:
            return []
        if not self._thread.is_alive():
            return ["mqtt state publisher ended"]
        if now - self.heartbeat > STALL_S:
            return [f"mqtt state publisher silent for {now - self.heartbeat:.0f}s"]
        return []

    def _run(self) -> None:
        while not self._stop.is_set():
            self.heartbeat = time.monotonic()
            self._wake.wait(1.0)
            self._wake.clear()
            if not self.link.connected:
                continue  # everything is republished at the reconnect
            with self._lock:
                due, self._due = self._due, {}
                out = [(t, self._held[t], c) for t, c in due.items() if t in self._held]
            for topic, payload, captured in out:
                mid = self.link.publish_nowait(topic, payload, retain=True)
                if mid is None:  # lost the connection meanwhile: the reconnect sends all
                    break
                self.published += 1
                if captured is not None:
                    with self._mids:
                        acked = self._early.pop(mid, None)
                        if acked is not None and time.monotonic() - acked > 5.0:
                            acked = None  # a stale entry of an earlier use of this mid
                        if acked is None:
                            self._captured[mid] = captured
                    if acked is not None:
                        self._latency(acked - captured)

    def _acked(self, mid: int, when: float) -> None:
        with self._mids:
            captured = self._captured.pop(mid, None)
            if captured is None:
                self._early[mid] = when  # an event's, or a state's not yet booked
                while len(self._early) > 256:
                    self._early.pop(next(iter(self._early)))
            if len(self._captured) > 10000:  # PUBACKs lost with a connection
                self._captured.clear()
        if captured is not None:
            self._latency(when - captured)

    def _latency(self, seconds: float) -> None:
        if self.on_latency is not None:
            self.on_latency(seconds)
