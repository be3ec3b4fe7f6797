"""Short, useful alert texts (one SMS segment when names allow).

``DANGER Press 3 guard (cam line-2) 14:03:12 right wrist inside``
``WARNING Press 3 guard (cam line-2) 14:03:11 left index 0.6s to contact``

Pure functions of the event and the site's time zone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from ..base.alerts import DOWN_WORDS, AlertKind, SystemAlert
from ..base.timing import clock
from ..hazard.incidents import Transition
from ..hazard.lifecycle import Tracked, code_of

SMS_SEGMENT = 160


PHONE = re.compile(r"\+\d{7,15}\b")


def mask_number(recipient: str) -> str:
    """Phone numbers in logs: enough digits to tell them apart, not to dial them."""
    if recipient.startswith("+") and len(recipient) > 6:
        return recipient[:4] + "…" + recipient[-3:]
    return recipient


def mask_numbers(text: str) -> str:
    """Every E.164 number in a text (a provider's error message), masked."""
    return PHONE.sub(lambda m: mask_number(m[0]), text)


def part_name(body_part: str) -> str:
    return body_part.replace("_", " ")


def _where(tr: Transition) -> str:
    return f"{tr.zone_name} (cam {tr.camera})"


def proximity(tr: Transition) -> str:
    part = part_name(tr.body_part)
    if tr.distance <= 0:
        return f"{part} inside"
    if tr.ttc_s is not None and tr.ttc_s > 0:
        return f"{part} {tr.ttc_s:.1f}s to contact"
    if tr.units == "metres":
        return f"{part} {tr.distance:.1f}m away"
    return f"{part} near"


def incident_text(tr: Transition, tz: ZoneInfo) -> str:
    """The alert of a transition; an opening or escalation ends with the code that
    acknowledges it (``ACK 3FA2``)."""
    when = clock(tr.wall, tz)
    if tr.kind in DOWN_WORDS:
        return down_text(tr, when)
    if tr.event == "cleared":
        return f"CLEAR {_where(tr)} {when}"
    return f"{tr.level.upper()} {_where(tr)} {when} {proximity(tr)} ACK {code_of(tr.incident_id)}"


CLEARED_BECAUSE = {
    "up": "he is up again",
    "track_lost": "he is no longer seen",
    "phantom": "it was not a person",
    "disarmed": "the area was disarmed",
    "zone_removed": "the area was removed",
}


def down_text(tr: Transition, when: str) -> str:
    """A fall or man down (hazard/body.py): what happened, where, and the code; its
    clearing says why, and that it still needs acknowledging."""
    word = DOWN_WORDS[tr.kind]
    code = code_of(tr.incident_id)
    if tr.event == "cleared":
        why = CLEARED_BECAUSE.get(tr.reason, tr.reason)
        return f"{word} ENDED {_where(tr)} {when}: {why}; ACK {code} once checked"
    if tr.kind == "man_down":
        still = f" for {_held(tr.still_s)}" if tr.still_s else ""
        return f"{word} {_where(tr)} {when} person lying still{still} ACK {code}"
    return f"{word} {_where(tr)} {when} person fell ACK {code}"


def _held(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def escalation_text(inc: Tracked, step: int, steps: int, now: float, tz: ZoneInfo) -> str:
    """A chain step: danger nobody has acknowledged."""
    since = inc.danger_wall if inc.danger_wall is not None else inc.opened_wall
    state = "cleared, not acknowledged" if inc.cleared_wall is not None else "NOT acknowledged"
    word = DOWN_WORDS.get(inc.kind, "DANGER")
    return (
        f"ESCALATION {step}/{steps} {word} {inc.zone_name} (cam {inc.camera}) since "
        f"{clock(since, tz)}, {_held(now - since)} {state} ACK {inc.code}"
    )


def fold_text(payloads: Sequence[str], tz: ZoneInfo) -> str:
    """One summary for a burst of warnings in the same zone."""
    events = [json.loads(p) for p in payloads]
    first, last = events[0], events[-1]
    start, end = clock(first["wall"], tz), clock(last["wall"], tz)
    # "14:03-14:04 CET", or the one time when the burst is within a minute
    span = end if start[:5] == end[:5] else f"{start[:5]}-{end[:5]} {end.split()[-1]}"
    tail = ""
    if last.get("distance") is not None:
        part = part_name(last["body_part"])
        if last["distance"] <= 0:
            tail = f"; last {part} inside"
        elif last.get("ttc_s"):
            tail = f"; last {part} {last['ttc_s']:.1f}s to contact"
    return f"WARNING x{len(events)} {last['zone_name']} (cam {last['camera']}) {span}{tail}"


def system_text(alert: SystemAlert, site: str, tz: ZoneInfo) -> str:
    """The text of a system alarm (service/blind.py)."""
    f = alert.facts
    if alert.kind == AlertKind.CAMERA_OFFLINE:
        zones = f.get("armed_zones") or ()
        return camera_offline_text(
            str(alert.camera),
            alert.wall,
            float(f["stale_s"]),
            len(zones),
            str(f["reason"]),
            tz,
        )
    if alert.kind == AlertKind.CAMERA_RESTORED:
        return camera_restored_text(str(alert.camera), alert.wall, float(f["offline_s"]), tz)
    if alert.kind == AlertKind.STORAGE_FAILED:
        return storage_failed_text(site, str(f["path"]), str(f.get("error") or "?"), alert.wall, tz)
    if alert.kind == AlertKind.STORAGE_RESTORED:
        return storage_restored_text(site, alert.wall, float(f["failed_s"]), tz)
    if alert.kind == AlertKind.SINK_FAILED:
        return sink_failed_text(site, str(f["sink"]), str(f["error"]), alert.wall, tz)
    if alert.kind == AlertKind.PLANT_IO_FAILED:
        return (
            f"PLANT I/O DOWN safetyd {site} {clock(alert.wall, tz)}: modbus {f['kind']} "
            f"{f['device']} unreachable for {f['down_s']}s ({f['error']}); {f['effect']}"
        )[:300]
    if alert.kind == AlertKind.PLANT_IO_RESTORED:
        return f"PLANT I/O BACK safetyd {site} {clock(alert.wall, tz)}: modbus {f['device']} works"
    if alert.kind == AlertKind.BOX_OFFLINE:
        return (
            f"SAFETY BOX OFFLINE {f['site']}/{f['box']} {clock(alert.wall, tz)} "
            f"(seen by safetyd {site}): {f['reason'] or 'gone'}; its cameras are not watched"
        )[:300]
    if alert.kind == AlertKind.BOX_RESTORED:
        return f"SAFETY BOX BACK {f['site']}/{f['box']} {clock(alert.wall, tz)}: online again"
    if alert.kind == AlertKind.SINK_RESTORED:
        return f"ALERTS FLOWING AGAIN safetyd {site} {clock(alert.wall, tz)}: {f['sink']} works"
    raise ValueError(f"no text for system alert {alert.kind}")


def camera_offline_text(
    camera: str, wall: float, stale_s: float, zones: int, reason: str, tz: ZoneInfo
) -> str:
    return (
        f"CAMERA OFFLINE {camera} {clock(wall, tz)}: {reason} for {stale_s:.0f}s, "
        f"{zones} armed zone(s) unwatched"
    )


def camera_restored_text(camera: str, wall: float, offline_s: float, tz: ZoneInfo) -> str:
    minutes, seconds = divmod(int(offline_s), 60)
    return f"CAMERA RESTORED {camera} {clock(wall, tz)} after {minutes}m{seconds:02d}s"


def storage_failed_text(site: str, path: str, error: str, wall: float, tz: ZoneInfo) -> str:
    return (
        f"STORAGE FAILURE safetyd {site} {clock(wall, tz)}: cannot write {path} ({error}); "
        "alerts are sent from memory, events are not recorded"
    )[:300]


def storage_restored_text(site: str, wall: float, failed_s: float, tz: ZoneInfo) -> str:
    minutes, seconds = divmod(int(failed_s), 60)
    return f"STORAGE RESTORED safetyd {site} {clock(wall, tz)} after {minutes}m{seconds:02d}s"


def sink_failed_text(site: str, sink: str, error: str, wall: float, tz: ZoneInfo) -> str:
    return (
        f"ALERTS NOT GOING OUT safetyd {site} {clock(wall, tz)}: {sink} is broken ({error}); "
        "its alerts are queued until it is fixed"
    )[:300]


def delivery_failed_text(recipient: str, error: str, body: str) -> str:
    text = f"ALERT NOT DELIVERED to {mask_number(recipient)}: {mask_numbers(error)} | {body}"
    return text[:300]


def test_text(site: str, group: str, wall: float, tz: ZoneInfo) -> str:
    return f"TEST safetyd {site}: test alert for group {group} {clock(wall, tz)}"


def digest_text(site: str, rows: Sequence[dict], day: str) -> str:
    if not rows:
        return f"safetyd {site} {day}: no incidents"
    parts = [
        f"{r['zone_name']} {r['incidents']}" + (f" ({r['danger']} danger)" if r["danger"] else "")
        for r in rows
    ]
    return f"safetyd {site} {day}: " + ", ".join(parts)
