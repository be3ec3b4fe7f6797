"""The topic tree (pure). Every box owns one subtree, so a broker ACL can give each
box exactly its own (``pattern readwrite safetyd/+/%u/#`` with the box as user)::

    <prefix>/<site>/<box>/status                  retained: online | offline (Last Will)
    <prefix>/<site>/<box>/cameras/<camera>        retained: online, fps, armed zones
    <prefix>/<site>/<box>/zones/<camera>/<zone>   retained: level and incident id
    <prefix>/<site>/<box>/posture/<camera>/<area> retained: this shift's posture exposure
    <prefix>/<site>/<box>/events/<camera>/<zone>  incident transitions (QoS 1, from the outbox)
    <prefix>/<site>/<box>/system/<kind>           system alarms (QoS 1, from the outbox)
    <prefix>/<site>/<box>/cmd                     commands to this box (subscribed)
    <prefix>/<site>/<box>/reply                   what each command did

The site's name is free text in safetyd.toml; in topics it is a slug.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

STATE_KINDS = ("status", "cameras", "zones")


def slug(text: str) -> str:
    """One topic level from free text, lower case: letters, digits, '_', '-', '.'
    (others become '-'): "Plant 1" is ``plant-1``."""
    out = re.sub(r"[^a-z0-9_.-]+", "-", text.strip().lower()).strip("-")
    return out[:64] or "site"


@dataclass(frozen=True)
class Topics:
    prefix: str
    site: str  # a slug
    box: str

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.site}/{self.box}"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    def camera(self, camera: str) -> str:
        return f"{self.base}/cameras/{camera}"

    def zone(self, camera: str, zone: str) -> str:
        return f"{self.base}/zones/{camera}/{zone}"

    def posture(self, camera: str, area: str) -> str:
        return f"{self.base}/posture/{camera}/{area}"

    def event(self, camera: str | None, zone: str | None) -> str:
        return f"{self.base}/events/{camera or '-'}/{zone or '-'}"

    def system(self, kind: str) -> str:
        return f"{self.base}/system/{kind}"

    @property
    def command(self) -> str:
        return f"{self.base}/cmd"

    @property
    def command_filter(self) -> str:
        """What the box subscribes to: its command topic and anything below it (which
        it refuses, loudly, rather than never hearing of it)."""
        return f"{self.base}/cmd/#"

    @property
    def reply(self) -> str:
        return f"{self.base}/reply"


@dataclass(frozen=True)
class StateTopic:
    """A retained state topic of some box, taken apart (the fleet view reads these)."""

    site: str
    box: str
    kind: str  # status | cameras | zones
    camera: str | None = None
    zone: str | None = None


def fleet_filters(prefix: str) -> list[str]:
    """Subscriptions that receive the retained state of every box under ``prefix``."""
    return [
        f"{prefix}/+/+/status",
        f"{prefix}/+/+/cameras/+",
        f"{prefix}/+/+/zones/+/+",
    ]


def parse_state(prefix: str, topic: str) -> StateTopic | None:
    """A state topic under ``prefix``, or None for anything else."""
    head = prefix + "/"
    if not topic.startswith(head):
        return None
    parts = topic[len(head) :].split("/")
    if len(parts) < 3 or parts[2] not in STATE_KINDS:
        return None
    site, box, kind, rest = parts[0], parts[1], parts[2], parts[3:]
    if kind == "status" and not rest:
        return StateTopic(site, box, kind)
    if kind == "cameras" and len(rest) == 1:
        return StateTopic(site, box, kind, camera=rest[0])
    if kind == "zones" and len(rest) == 2:
        return StateTopic(site, box, kind, camera=rest[0], zone=rest[1])
    return None
