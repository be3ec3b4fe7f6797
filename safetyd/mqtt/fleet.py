"""The fleet: every box under a prefix, seen through the broker's retained state.

``FleetView`` is pure: it is fed (topic, payload) pairs and answers one table
(boxes, cameras, open incidents, offline cameras, last seen) and which boxes
changed between online and offline. ``FleetWatcher`` subscribes a link to the
state topics and feeds the view. Nothing is replicated: a fresh watcher knows
the whole fleet from the retained messages within moments of connecting.

A box is *offline* when its status says so: its Last Will (the broker saw it
vanish) or its own goodbye (stopped). Its camera and zone topics keep their
last values, which are then stale: the table counts them for online boxes only.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .link import MqttLink
from .topics import fleet_filters, parse_state


@dataclass
class BoxView:
    site: str
    box: str
    status: dict = field(default_factory=dict)
    cameras: dict[str, dict] = field(default_factory=dict)
    zones: dict[tuple[str, str], dict] = field(default_factory=dict)
    heard: float = 0.0  # wall time of the last message from it

    @property
    def online(self) -> bool:
        return self.status.get("state") == "online"


@dataclass(frozen=True)
class FleetRow:
    site: str
    box: str
    state: str  # online | offline | unknown (no status yet)
    reason: str  # of an offline box: "connection lost" (Last Will), "stopped", …
    cameras: int
    cameras_offline: tuple[str, ...]
    not_monitored: tuple[str, ...]
    open_incidents: int
    danger: int
    last_seen: float | None  # wall

    @property
    def alarm(self) -> bool:
        return self.state == "offline" and self.reason != "stopped"


@dataclass(frozen=True)
class BoxChange:
    site: str
    box: str
    online: bool
    reason: str
    connection: str  # which connection of the box (an alarm's dedup key)


def _load(payload: bytes) -> dict | None:
    if not payload:
        return None  # a cleared retained message
    try:
        value = json.loads(payload)
    except ValueError:
        return {"state": payload.decode("utf-8", "replace")[:32]}
    return value if isinstance(value, dict) else None


class FleetView:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.boxes: dict[tuple[str, str], BoxView] = {}

    def feed(self, topic: str, payload: bytes, now: float) -> BoxChange | None:
        """Take one message; a box that went online or offline is returned."""
        st = parse_state(self.prefix, topic)
        if st is None:
            return None
        key = (st.site, st.box)
        value = _load(payload)
        box = self.boxes.get(key)
        if box is None:
            if value is None:
                return None
            box = self.boxes[key] = BoxView(st.site, st.box)
        box.heard = now
        if st.kind == "status":
            was = box.status.get("state") if box.status else None
            box.status = value or {}
            state = box.status.get("state")
            # Offline is news whenever it is seen (also a box already dead when the
            # watcher starts: the alarm's key makes a repeat harmless); online only
            # after offline.
            if state == "offline" and was != "offline":
                return BoxChange(
                    st.site,
                    st.box,
                    False,
                    str(box.status.get("reason", "")),
                    str(box.status.get("connection", "")),
                )
            if state == "online" and was == "offline":
                return BoxChange(st.site, st.box, True, "", str(box.status.get("connection", "")))
        elif st.kind == "cameras" and st.camera:
            if value is None:
                box.cameras.pop(st.camera, None)
            else:
                box.cameras[st.camera] = value
        elif st.kind == "zones" and st.camera and st.zone:
            if value is None:
                box.zones.pop((st.camera, st.zone), None)
            else:
                box.zones[(st.camera, st.zone)] = value
        return None

    def rows(self) -> list[FleetRow]:
        out = []
        for (site, name), box in sorted(self.boxes.items()):
            state = box.status.get("state", "unknown")
            live = box.online
            offline = tuple(
                sorted(c for c, v in box.cameras.items() if v.get("monitored", True)
                       and not v.get("online"))
            ) if live else ()  # fmt: skip
            unmonitored = tuple(
                sorted(c for c, v in box.cameras.items() if not v.get("monitored", True))
            )
            levels = [z.get("level") for z in box.zones.values()] if live else []
            updated = box.status.get("updated")
            seen = max(box.heard, float(updated)) if isinstance(updated, int | float) else box.heard
            out.append(
                FleetRow(
                    site=site,
                    box=name,
                    state=state if state in ("online", "offline") else "unknown",
                    reason=str(box.status.get("reason", "")) if state == "offline" else "",
                    cameras=len(box.cameras),
                    cameras_offline=offline,
                    not_monitored=unmonitored,
                    open_incidents=sum(1 for lv in levels if lv in ("warning", "danger")),
                    danger=sum(1 for lv in levels if lv == "danger"),
                    last_seen=seen or None,
                )
            )
        return out


class FleetWatcher:
    """Feeds a FleetView from a link; ``on_change`` hears boxes going on/offline."""

    def __init__(
        self,
        link: MqttLink,
        prefix: str,
        on_change: Callable[[BoxChange], object] | None = None,
    ) -> None:
        self.link = link
        self.view = FleetView(prefix)
        self.on_change = on_change
        self._lock = threading.Lock()
        self.messages = 0
        for topic_filter in fleet_filters(prefix):
            link.subscribe(topic_filter, self._message)

    def _message(self, message) -> None:
        with self._lock:
            self.messages += 1
            change = self.view.feed(message.topic, message.payload, time.time())
        if change is not None and self.on_change is not None:
            self.on_change(change)

    def rows(self) -> list[FleetRow]:
        with self._lock:
            return self.view.rows()
