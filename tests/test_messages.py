"""Alert texts: short, useful, one SMS segment for ordinary names."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from test_alerts import transition

from safetyd.alerts import messages

TZ = ZoneInfo("Europe/Berlin")
AT = datetime(2026, 11, 26, 14, 3, 12, tzinfo=TZ).timestamp()


@pytest.mark.parametrize(
    ("kw", "text"),
    [
        (
            dict(event="opened", level="danger", body_part="left_wrist"),
            "DANGER Press 3 guard (cam press-line) 14:03:12 CET left wrist inside ACK 3FA2",
        ),
        (
            dict(event="escalated", level="danger", body_part="hands (estimated)"),
            "DANGER Press 3 guard (cam press-line) 14:03:12 CET hands (estimated) inside ACK 3FA2",
        ),
        (
            dict(event="opened", level="warning", ttc_s=0.64),
            "WARNING Press 3 guard (cam press-line) 14:03:12 CET right wrist 0.6s to contact "
            "ACK 3FA2",
        ),
        (
            dict(
                event="opened",
                level="warning",
                ttc_s=None,
                units="metres",
                distance=1.25,
                body_part="left_ankle",
            ),
            "WARNING Press 3 guard (cam press-line) 14:03:12 CET left ankle 1.2m away ACK 3FA2",
        ),
        (
            dict(event="opened", level="warning", ttc_s=None),
            "WARNING Press 3 guard (cam press-line) 14:03:12 CET right wrist near ACK 3FA2",
        ),
        (
            dict(event="cleared", level="clear"),
            "CLEAR Press 3 guard (cam press-line) 14:03:12 CET",
        ),
    ],
)
def test_incident_texts(kw, text) -> None:
    """An opening or escalation carries the code that acknowledges it."""
    tr = transition(wall=AT, incident="3fa2c0ffee000001", **{"opened_wall": AT, **kw})
    got = messages.incident_text(tr, TZ)
    assert got == text
    assert len(got) <= messages.SMS_SEGMENT


def test_escalation_texts() -> None:
    from safetyd.hazard.lifecycle import Tracked

    inc = Tracked("3fa2c0ffee000001", "press-line", "press-3-guard", "Press 3 guard",
                  "danger", opened_wall=AT - 100, danger_wall=AT - 95)  # fmt: skip
    got = messages.escalation_text(inc, 2, 3, AT, TZ)
    assert got == (
        "ESCALATION 2/3 DANGER Press 3 guard (cam press-line) since 14:01:37 CET, 1m35s NOT "
        "acknowledged ACK 3FA2"
    )
    assert len(got) <= messages.SMS_SEGMENT
    cleared = Tracked("3fa2c0ffee000001", "press-line", "press-3-guard", "Press 3 guard",
                      "clear", opened_wall=AT - 100, danger_wall=AT - 95, cleared_wall=AT - 90,
                      must_ack=True)  # fmt: skip
    assert "1m35s cleared, not acknowledged ACK 3FA2" in messages.escalation_text(
        cleared, 1, 1, AT, TZ
    )


def test_fold_summary() -> None:
    from safetyd.hazard.records import event_record

    payloads = [json.dumps(event_record(transition(wall=AT + k * 20))) for k in range(4)]
    assert messages.fold_text(payloads, TZ) == (
        "WARNING x4 Press 3 guard (cam press-line) 14:03-14:04 CET; "
        "last right wrist 0.6s to contact"
    )


def test_system_texts() -> None:
    assert messages.camera_offline_text("dock", AT, 6.2, 2, "no frames", TZ) == (
        "CAMERA OFFLINE dock 14:03:12 CET: no frames for 6s, 2 armed zone(s) unwatched"
    )
    assert messages.camera_restored_text("dock", AT, 148, TZ) == (
        "CAMERA RESTORED dock 14:03:12 CET after 2m28s"
    )
    assert messages.test_text("Plant 1", "operators", AT, TZ) == (
        "TEST safetyd Plant 1: test alert for group operators 14:03:12 CET"
    )
