"""The lifecycle at work (I/O around safetyd/hazard/lifecycle.py): escalation steps sent
when nobody answers, acknowledgements by SMS reply, snoozes that run out.

``tick()`` runs every second from the scheduler: it reads the incidents still
waiting for an answer from the database (so an acknowledgement written by
``safetyd ack`` in another process counts at once), sends the chain steps that
fell due, and reports snoozes that ended. A step's rows are keyed by (incident,
step, sink, recipient) and added in the same transaction that records the step
as fired: a restart in the middle of a chain resumes it, and nothing goes out
twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..assembly.load import LoadedConfig
from ..base.alerts import AlertKind, DeliveryError
from ..hazard import lifecycle
from ..hazard.lifecycle import AckDecision, Step, Tracked
from ..zones.model import Zone
from . import messages
from .ledger import Ledger
from .replies import Inbound, TwilioInbox
from .service import AlertService

log = logging.getLogger("safetyd.hazard.lifecycle")
REPLY_LOOKBACK_S = 300.0  # each poll also reads this far before the last one (clock skew)
# A reply answers only alerts that went out to its sender before Twilio received it:
# Twilio's time of the reply against this box's time of the send (taken when Twilio
# accepted it). Twilio gives whole seconds, rounded down, so a reply stamped 12:00:05
# arrived before 12:00:06: alerts sent before the end of that second count. The box
# keeps NTP time, and nobody reads a text and answers it within a second.
REPLY_TIME_RESOLUTION_S = 1.0


def zone_chain(loaded: LoadedConfig, zone: Zone | None) -> tuple[Step, ...]:
    """The escalation chain of a zone (of the default when the zone is gone)."""
    a = loaded.config.alerts
    default = None if a.escalation_chain is None else [Step.of(s) for s in a.escalation_chain]
    if zone is None:
        return lifecycle.chain_for(None, default, (), a.escalate_after_s)
    return lifecycle.chain_for(
        zone.escalation_chain,
        default,
        zone.recipients.escalation,
        zone.escalate_after_s or a.escalate_after_s,
    )


@dataclass(frozen=True)
class TickReport:
    steps: int  # escalation steps sent
    acknowledged: tuple[Tracked, ...]  # acknowledgements recorded since the last tick
    snoozes_ended: int


class Escalations:
    def __init__(
        self,
        config: Callable[[], LoadedConfig],
        alerts: AlertService,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.alerts = alerts
        self.ledger: Ledger = alerts.ledger
        self.clock = clock
        self._last_ack_check = clock()
        self._last_poll: float | None = None
        self.poll_error: str | None = None
        # Steps sent in this run: when the database cannot record a step (its rows went
        # out from memory), this keeps the next tick from sending it again.
        self._sent: set[tuple[str, int]] = set()

    # -- the chain ---------------------------------------------------------------------

    def _zones(self) -> dict[tuple[str, str], Zone]:
        return {(cam, z.id): z for cam, zones in self.config().zones.items() for z in zones}

    def tick(self) -> TickReport:
        now = self.clock()
        loaded = self.config()
        zones = self._zones()
        steps = 0
        waiting = self.ledger.waiting()
        self._sent = {k for k in self._sent if k[0] in {i.incident for i in waiting}}
        for inc in waiting:
            chain = zone_chain(loaded, zones.get((inc.camera, inc.zone)))
            due = [i for i in lifecycle.due_steps(inc, chain, now)
                   if (inc.incident, i) not in self._sent]  # fmt: skip
            if due:
                steps += self._fire(inc, chain, due, now)
        acked = self.ledger.acknowledged_since(self._last_ack_check)
        self._last_ack_check = now
        for inc in acked:
            log.info(
                "incident acknowledged incident=%s code=%s zone=%s by=%s via=%s after=%.0fs",
                inc.incident, inc.code, inc.zone, messages.mask_number(inc.acked_by or "?"),
                inc.acked_channel, (inc.acked_wall or now) - inc.opened_wall,
            )  # fmt: skip
        ended = self.ledger.ended_snoozes(now)
        for s in ended:
            log.info("snooze ended zone=%s reason=%r (set by %s)", s.zone, s.reason, s.by)
        if ended:
            self.ledger.end([s.id for s in ended if s.id is not None], now)
        return TickReport(steps, tuple(acked), len(ended))

    def _fire(self, inc: Tracked, chain: tuple[Step, ...], due: list[int], now: float) -> int:
        routes = self.alerts.routes
        rows = []
        for i in due:
            step = chain[i]
            body = messages.escalation_text(inc, i + 1, len(chain), now, routes.tz)
            payload = {
                "incident": inc.incident, "code": inc.code, "camera": inc.camera,
                "zone": inc.zone, "step": i + 1, "steps": len(chain),
                "groups": list(step.groups), "unacknowledged_s": round(now - (inc.danger_wall
                or now), 1),
            }  # fmt: skip
            rows += routes.rows(
                f"{inc.incident}:step{i + 1}", AlertKind.ESCALATION, "danger", body, payload,
                step.groups, self.alerts.clock(), camera=inc.camera, zone=inc.zone,
                incident=inc.incident,
            )  # fmt: skip
            log.warning(
                "escalation step %d/%d incident=%s code=%s zone=%s groups=%s "
                "unacknowledged for %.0fs",
                i + 1, len(chain), inc.incident, inc.code, inc.zone, ",".join(step.groups),
                now - (inc.danger_wall or now),
            )  # fmt: skip
        self._sent.update((inc.incident, i) for i in due)
        self.alerts.add_rows(rows, AlertKind.ESCALATION, after=lambda db: self.ledger.fired(
            db, inc.incident, due[-1] + 1))  # fmt: skip
        return len(due)

    # -- acknowledgement ------------------------------------------------------------------

    def acknowledge_reply(self, msg: Inbound) -> str:
        """Handle one inbound SMS; returns what became of it (also recorded)."""
        replies = self.config().config.alerts.replies
        words = replies.words if replies is not None else lifecycle.DEFAULT_WORDS
        groups = {name: g.numbers for name, g in self.config().config.alerts.groups.items()}
        who = messages.mask_number(msg.sender)
        if not lifecycle.may_acknowledge(msg.sender, groups):
            outcome = "ignored: the sender is in no recipient group"
            log.warning("SMS reply from %s ignored: not in any recipient group", who)
        elif (reply := lifecycle.parse_reply(msg.body, words)) is None:
            outcome = "ignored: not an acknowledgement"
            log.info("SMS reply from %s is not an acknowledgement: %r", who, msg.body[:40])
        else:
            now = self.clock()
            since = now - lifecycle.ACK_WINDOW_S
            decision = lifecycle.acknowledge_reply(
                self.ledger.alerted(msg.sender, since, msg.wall + REPLY_TIME_RESOLUTION_S),
                self.ledger.alerted(msg.sender, since),
                reply.code,
            )
            outcome = self._record(decision, msg.sender, "sms", now)
            self._confirm(msg, decision)
        self.ledger.record_reply(msg.sid, msg.sender, msg.body, msg.wall, outcome)
        return outcome

    def _record(self, decision: AckDecision, by: str, channel: str, now: float) -> str:
        if decision.incident is not None:
            self.ledger.acknowledge(decision.incident, by, channel, now)
        return decision.answer

    def _confirm(self, msg: Inbound, decision: AckDecision) -> None:
        site = self.config().config.site.name
        self.alerts.enqueue_reply(
            f"reply:{msg.sid}", msg.sender, f"safetyd {site}: {decision.answer}"
        )

    def poll_replies(self, inbox: TwilioInbox | None = None) -> int:
        """Read new SMS replies and act on them; returns how many were new."""
        c = self.config().config.alerts
        if c.replies is None or not c.replies.enabled or c.twilio is None:
            return 0
        inbox = inbox or TwilioInbox(c.twilio)
        now = self.clock()
        since = self._last_poll if self._last_poll is not None else now - c.replies.lookback_s
        try:
            inbound = inbox.fetch(since - REPLY_LOOKBACK_S)
        except DeliveryError as exc:
            if self.poll_error != str(exc):
                log.error("cannot read SMS replies from Twilio: %s", exc)
            self.poll_error = str(exc)
            return 0
        if self.poll_error is not None:
            log.info("SMS replies can be read again")
        self.poll_error = None
        self._last_poll = now
        new = [m for m in inbound if not self.ledger.replied(m.sid)]
        for msg in new:
            self.acknowledge_reply(msg)
        return len(new)
