"""An MQTT command's effect: acknowledge or snooze through the lifecycle core (the
same function and window as SMS, the console and the command line). Raises
CommandRefused or SnoozeRefused with the answer for the reply topic."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from ..assembly.load import LoadedConfig
from ..hazard import lifecycle
from . import commands

if TYPE_CHECKING:
    from ..alerts.ledger import Ledger

log = logging.getLogger("safetyd.mqtt.service")  # the lines kept their logger name


def act(
    cmd: commands.Command, ledger: Ledger, loaded: LoadedConfig, tz: ZoneInfo, now: float
) -> dict:
    """``ack`` or ``snooze`` (``status`` is the service's own: it republishes)."""
    if cmd.verb == "ack":
        wanted = str(cmd.incident)
        decision = ledger.acknowledge_named(wanted, cmd.by, "mqtt", now)
        log.info("mqtt command ack %s by %s: %s", wanted.strip(), cmd.by, decision.answer)
        if not decision.ok:
            raise commands.CommandRefused(decision.answer, cmd.request_id)
        return {"ok": True, "answer": decision.answer, "incident": decision.incident}
    # snooze
    zones = {z.id for cam in loaded.zones.values() for z in cam}
    until = (
        float(cmd.until)
        if isinstance(cmd.until, int | float)
        else lifecycle.parse_until(str(cmd.until), now, tz)
    )
    snooze = lifecycle.request_snooze(
        str(cmd.zone), zones, until, cmd.reason, cmd.by, now, level=cmd.level
    )
    ledger.add_snooze(snooze)
    log.info("mqtt command: %s warnings snoozed until %s by %s (%s); danger still alerts",
             snooze.zone, until, cmd.by, snooze.reason)  # fmt: skip
    return {"ok": True, "answer": f"{snooze.zone}: warnings snoozed; danger still alerts",
            "until": until}  # fmt: skip
