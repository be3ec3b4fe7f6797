"""The near-miss record: one row per incident, as a safety manager files it.

safetyd sees people come close to hazards; it does not see injuries. Every row is
marked as a near miss ("no injury recorded by safetyd"), never as a recordable
injury, and carries what an incident report asks for: site, area (the camera's
view), time, zone, the body part, how close, how soon contact was predicted,
who acknowledged it and how long that took.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from ..hazard.lifecycle import code_of
from .figures import Incident

RECORD_TYPE = "near miss (no injury recorded by safetyd)"
# A person down in an area (hazard/body.py) is not a near miss: whether he was hurt is
# for the people who went to him to record.
DOWN_RECORD_TYPES = {
    "fall": "fall seen by safetyd (not a near miss; injury not known to safetyd)",
    "man_down": "man down seen by safetyd (not a near miss; injury not known to safetyd)",
}


def record_type(kind: str | None) -> str:
    """What a history row is, by its incident's kind (None: a hazard zone's, or an
    event recorded before kinds were)."""
    return DOWN_RECORD_TYPES.get(kind or "hazard", RECORD_TYPE)


COLUMNS = (
    "record_type", "site", "area", "incident", "opened", "zone", "zone_name", "highest_level",
    "body_part", "closest_distance", "units", "ttc_s", "acknowledged_by", "acknowledged_via",
    "time_to_acknowledge_s",
)  # fmt: skip


def near_miss_rows(site: str, incidents: Sequence[Incident], tz: ZoneInfo) -> list[dict]:
    return [
        {
            "record_type": RECORD_TYPE,
            "site": site,
            "area": inc.camera,
            "incident": code_of(inc.id),
            "opened": datetime.fromtimestamp(inc.opened, tz).isoformat(timespec="seconds"),
            "zone": inc.zone,
            "zone_name": inc.zone_name,
            "highest_level": "danger" if inc.danger else "warning",
            "body_part": inc.body_part,
            "closest_distance": None if inc.min_distance is None else round(inc.min_distance, 3),
            "units": inc.units,
            "ttc_s": None if inc.ttc_s is None else round(inc.ttc_s, 2),
            "acknowledged_by": inc.acked_by or "",
            "acknowledged_via": inc.acked_via or "",
            "time_to_acknowledge_s": None if inc.acked_s is None else round(inc.acked_s, 1),
        }
        for inc in incidents
    ]
