"""The incident page's timeline (pure): each transition with what decided it.

For an operator asking "why did it fire?": the body part, whether a landmark
showed it or it was estimated (and from what), its distance to the zone and the
predicted time to contact, and why it cleared or was folded; the acknowledgement
in its place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from ..alerts.messages import mask_number, part_name
from ..base.alerts import DOWN_WORDS
from ..base.bodyparts import ESTIMATED_FROM, Fallback
from ..base.timing import stamp
from ..hazard.lifecycle import Tracked


def how_seen(event: Mapping[str, Any]) -> str:
    """How the deciding part was known: seen by the model, or estimated from what."""
    if not event.get("estimated"):
        return "landmark seen"
    try:
        source = ESTIMATED_FROM[Fallback(event.get("estimate") or "")]
    except ValueError:
        return "estimated from the person's box"  # recorded before the method was
    return f"estimated from {source} (no landmark of it was visible)"


def measured(event: Mapping[str, Any]) -> str:
    """Distance to the zone and time to contact, in the zone's units; for a man down,
    how long he had lain still (a fall or man down has no distance: he is in the area)."""
    if event.get("kind") in DOWN_WORDS:
        still = event.get("still_s")
        return f"lying still {still:.0f} s" if still is not None else ""
    distance = event.get("distance")
    if distance is None:
        return ""
    if distance <= 0:
        return "inside"
    units = "m" if event.get("units") == "metres" else "px"
    text = f"{distance:.2f} {units}" if units == "m" else f"{distance:.0f} {units}"
    ttc = event.get("ttc_s")
    return text + (f", {ttc:.1f} s to contact" if ttc is not None else ", not approaching")


def timeline(
    events: Sequence[Mapping[str, Any]], tracked: Tracked | None, tz: ZoneInfo
) -> list[dict[str, Any]]:
    """Rows for the page, oldest first."""
    rows: list[dict[str, Any]] = []
    for e in events:
        notes = [f"reason: {e['reason']}" if e.get("reason") else ""]
        if e.get("folded"):
            notes.append(f"SMS folded ({e['folded']})")
        rows.append({
            "when": stamp(e["wall"], tz), "what": e["event"], "level": e["level"],
            "part": DOWN_WORDS[e["kind"]].lower() if e.get("kind") in DOWN_WORDS
            else part_name(e["body_part"]),
            "how": how_seen(e), "measured": measured(e),
            "note": "; ".join(n for n in notes if n),
            "snapshot": e["id"] if e.get("snapshot") else None,
        })  # fmt: skip
    if tracked is not None and tracked.acked_wall is not None:
        rows.append({
            "when": stamp(tracked.acked_wall, tz), "what": "acknowledged", "level": "",
            "part": "", "how": "", "measured": "",
            "note": f"by {mask_number(tracked.acked_by or '')} via {tracked.acked_channel}",
            "snapshot": None,
        })  # fmt: skip
        rows.sort(key=lambda t: t["when"])
    return rows
