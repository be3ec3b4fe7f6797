"""Log sink: the alert as a key=value line in the journal (phone numbers masked)."""

from __future__ import annotations

import logging

from ..base.alerts import Alert
from .messages import mask_numbers

log = logging.getLogger("safetyd.alert")
LEVELS = {"danger": logging.ERROR, "warning": logging.WARNING}


class LogSink:
    name = "log"
    addressed = False

    def send(self, alert: Alert) -> str | None:
        log.log(
            LEVELS.get(alert.level, logging.INFO),
            "alert kind=%s level=%s camera=%s zone=%s incident=%s text=%r",
            alert.kind,
            alert.level,
            alert.camera,
            alert.zone,
            alert.incident,
            mask_numbers(alert.body),
        )
        return None
