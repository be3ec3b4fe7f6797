"""The live view's data, as plain values for the page and its stream."""

from __future__ import annotations

import time

from ..base.timing import stamp
from .backend import Backend


def live_state(backend: Backend) -> dict:
    """The live view's data: every configured camera (disabled ones NOT MONITORED),
    open incidents, whether danger is open. Plain values, for the page and the stream."""
    st = backend.status()
    loaded = backend.loaded()
    now = time.time()
    running = {c.id: c for c in st.cameras}
    cameras = []
    for cfg in loaded.config.cameras:
        c = running.get(cfg.id)
        if c is None:
            cameras.append({"id": cfg.id, "state": "NOT MONITORED", "fps": 0.0, "armed": [],
                            "reason": "disabled in the configuration", "since": ""})  # fmt: skip
            continue
        since = ""
        if not c.up:
            since = (
                stamp(now - c.frame_age_s, backend.alerts.tz)
                if c.frame_age_s is not None
                else "start"
            )
        cameras.append({
            "id": c.id, "state": "up" if c.up else "OFFLINE", "fps": round(c.fps, 1),
            "armed": list(c.armed), "reason": "" if c.up else (c.error or "no fresh frames"),
            "since": since,
        })  # fmt: skip
    incidents = [
        {"camera": i.camera, "zone": i.zone, "level": i.level, "since": i.since,
         "body_part": i.body_part}
        for i in st.incidents
    ]  # fmt: skip
    waiting = [
        {"code": a.code, "incident": a.incident, "camera": a.camera, "zone": a.zone,
         "level": a.level, "opened": a.opened, "acknowledged": a.acknowledged,
         "by": a.acknowledged_by}
        for a in st.answers
    ]  # fmt: skip
    return {
        "site": st.site,
        "danger": [i for i in incidents if i["level"] == "danger"],
        "cameras": cameras,
        "incidents": incidents,
        "answers": waiting,
        "healthy": not st.reasons(),
        "reasons": st.reasons(),
    }
