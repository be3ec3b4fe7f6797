"""Home Assistant MQTT discovery (pure): the config messages that make a box's
cameras and zones appear in Home Assistant without YAML.

One HA *device* per camera (a camera is what a user walks up to), named
"<site> <camera>"; its entities:

* per zone ``binary_sensor`` "<zone> danger" (device_class ``safety``: on = unsafe),
* per zone ``sensor`` "<zone> level" (enum: clear, warning, danger),
* ``binary_sensor`` "online" (device_class ``connectivity``).

All read the box's retained state topics (safetyd/mqtt/topics.py) and share
its status topic as availability, so a dead box shows "unavailable", not a
stale "clear". Messages are retained and sent at every (re)connect and
reload; an entity whose zone was deleted stays in Home Assistant until it is
deleted there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from .. import __version__
from .topics import Topics

LEVELS = ["clear", "warning", "danger"]


def _object_id(*parts: str) -> str:
    """Discovery topic levels allow [a-zA-Z0-9_-] only."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", "_".join(parts))


def _device(t: Topics, site_name: str, camera: str) -> dict:
    return {
        "identifiers": [_object_id("safetyd", t.site, t.box, camera)],
        "name": f"{site_name} {camera}",
        "manufacturer": "safetyd",
        "model": "safety camera",
        "sw_version": __version__,
    }


def _common(t: Topics, site_name: str, camera: str, unique: str) -> dict:
    return {
        "unique_id": unique,
        "object_id": unique,
        "device": _device(t, site_name, camera),
        "availability": [
            {
                "topic": t.status,
                "value_template": "{{ value_json.state }}",
                "payload_available": "online",
                "payload_not_available": "offline",
            }
        ],
        "qos": 1,
        "origin": {"name": "safetyd", "sw_version": __version__},
    }


def configs(
    t: Topics, site_name: str, prefix: str, cameras: Mapping[str, Iterable[str]]
) -> dict[str, dict]:
    """discovery topic -> config, for ``cameras`` (camera id -> its zone ids)."""
    out: dict[str, dict] = {}
    node = _object_id(t.site, t.box)
    for camera, zones in cameras.items():
        unique = _object_id("safetyd", t.site, t.box, camera, "online")
        out[f"{prefix}/binary_sensor/{node}/{unique}/config"] = {
            **_common(t, site_name, camera, unique),
            "name": "online",
            "state_topic": t.camera(camera),
            "value_template": "{{ 'ON' if value_json.online else 'OFF' }}",
            "payload_on": "ON",
            "payload_off": "OFF",
            "device_class": "connectivity",
            "entity_category": "diagnostic",
        }
        for zone in zones:
            unique = _object_id("safetyd", t.site, t.box, camera, zone, "danger")
            out[f"{prefix}/binary_sensor/{node}/{unique}/config"] = {
                **_common(t, site_name, camera, unique),
                "name": f"{zone} danger",
                "state_topic": t.zone(camera, zone),
                "value_template": "{{ 'ON' if value_json.level == 'danger' else 'OFF' }}",
                "payload_on": "ON",
                "payload_off": "OFF",
                "device_class": "safety",
                "json_attributes_topic": t.zone(camera, zone),
            }
            unique = _object_id("safetyd", t.site, t.box, camera, zone, "level")
            out[f"{prefix}/sensor/{node}/{unique}/config"] = {
                **_common(t, site_name, camera, unique),
                "name": f"{zone} level",
                "state_topic": t.zone(camera, zone),
                "value_template": "{{ value_json.level }}",
                "device_class": "enum",
                "options": LEVELS,
                "icon": "mdi:alert-octagon",
            }
    return out
