"""The alert lifecycle (pure): acknowledgement, the escalation chain, snoozes.

This module decides; it neither stores nor sends. Every way in calls it: the
daemon's lifecycle job (chain steps, snooze expiry), the SMS reply poller, the
command line (``safetyd ack``, ``safetyd snooze``), and later MQTT commands
and the console. None of them carries rules of its own.

The rules, and why:

* An incident is *unacknowledged* until somebody acknowledges it: who, when,
  through which channel. The first acknowledgement counts; a second one is
  answered, not recorded again.
* **Escalation chain**: steps ``(after_s, groups)`` counted from the moment the
  incident reached danger. A step is due once that long has passed while the
  incident is unacknowledged and still open, or cleared in a zone that says
  danger must always be acknowledged (``danger_must_ack``: a hand that was in
  the press and came out still needs a person to look). Steps fire in order,
  once each. Acknowledging stops the chain.
* The old ``escalate_after_s`` with a zone's ``escalation`` groups is the
  simplest chain: one step.
* **Snooze**: a zone's *warnings* can be snoozed until a time, with a reason.
  **Danger is never snoozed or muted**: a request to snooze danger is refused,
  and a snoozed zone's danger alerts go out as ever. A snooze is bounded
  (``MAX_SNOOZE_S``) so a typo cannot silence a zone for a week.
* **Replies**: one of the acknowledge words (``OK``, ``ACK``, ``1`` by
  default, any case) acknowledges the sender's latest open incident;
  ``ACK <code>`` a given one (every alert SMS carries its incident's code). Only
  numbers of the recipient groups may acknowledge; other senders are ignored.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ..zones.model import Step

MAX_SNOOZE_S = 12 * 3600.0
# The one window for every way in (SMS reply, console, MQTT, the command line): an
# acknowledgement may name an incident opened at most this long ago, or any incident
# still waiting for an answer (an unanswered danger is never too old to acknowledge).
ACK_WINDOW_S = 7 * 86400.0
DEFAULT_WORDS = ("OK", "ACK", "1")


def chain_for(
    chain: Sequence[Step] | None,
    default_chain: Sequence[Step] | None,
    escalation_groups: Sequence[str],
    escalate_after_s: float,
) -> tuple[Step, ...]:
    """A zone's chain: its own, else its old form (its ``escalation`` groups after
    ``escalate_after_s``: what the zone says beats the site's default), else the
    configured default, else none."""
    if chain is not None:
        return tuple(chain)
    if escalation_groups:
        return (Step(escalate_after_s, tuple(escalation_groups)),)
    if default_chain is not None:
        return tuple(default_chain)
    return ()


def code_of(incident_id: str) -> str:
    """The short code an alert SMS carries, to acknowledge that very incident."""
    return incident_id[:4].upper()


@dataclass(frozen=True)
class Tracked:
    """An incident as the lifecycle sees it (one row of the ledger)."""

    incident: str
    camera: str
    zone: str
    zone_name: str
    level: str  # the latest: warning | danger | clear
    opened_wall: float
    danger_wall: float | None = None  # when it first reached danger
    cleared_wall: float | None = None
    must_ack: bool = False  # the zone's danger_must_ack, when it opened
    steps_fired: int = 0
    acked_wall: float | None = None
    acked_by: str | None = None
    acked_channel: str | None = None
    kind: str = "hazard"  # or fall | man_down (hazard/body.py)

    @property
    def code(self) -> str:
        return code_of(self.incident)

    @property
    def acknowledged(self) -> bool:
        return self.acked_wall is not None

    @property
    def needs_answer(self) -> bool:
        """Somebody should still acknowledge it: open, or cleared danger that must be."""
        if self.acknowledged:
            return False
        return self.cleared_wall is None or (self.must_ack and self.danger_wall is not None)


def due_steps(inc: Tracked, chain: Sequence[Step], now: float) -> list[int]:
    """Indices of the chain steps to fire now (in order; empty when none is due)."""
    if inc.danger_wall is None or not inc.needs_answer:
        return []
    held = now - inc.danger_wall
    return [i for i in range(inc.steps_fired, len(chain)) if chain[i].after_s <= held]


def next_step_at(inc: Tracked, chain: Sequence[Step]) -> float | None:
    """Wall time the next step falls due (None: the chain is done or stopped)."""
    if inc.danger_wall is None or not inc.needs_answer or inc.steps_fired >= len(chain):
        return None
    return inc.danger_wall + chain[inc.steps_fired].after_s


# -- acknowledgement ---------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """An SMS that acknowledges: ``code`` names the incident, or None for the latest."""

    code: str | None


def parse_reply(body: str, words: Iterable[str] = DEFAULT_WORDS) -> Reply | None:
    """``OK`` / ``ack`` / ``1`` → Reply(None); ``ACK 3FA2`` → Reply("3FA2"); else None.
    Punctuation around the word (``OK.``, ``"ack"``) is forgiven, other text is not:
    "not ok" must not acknowledge anything."""
    parts = re.sub(r"[^\w\s]", " ", body).split()
    if not parts:
        return None
    wanted = {w.upper() for w in words}
    if parts[0].upper() not in wanted:
        return None
    if len(parts) == 1:
        return Reply(None)
    if len(parts) == 2 and re.fullmatch(r"[0-9A-Fa-f]{4}", parts[1]):
        return Reply(parts[1].upper())
    return None


@dataclass(frozen=True)
class AckDecision:
    incident: str | None  # the incident to mark acknowledged (None: nothing to record)
    answer: str  # what the person is told (the confirmation SMS, the CLI's output)
    ok: bool


def acknowledge(candidates: Sequence[Tracked], code: str | None) -> AckDecision:
    """Which incident an acknowledgement names. ``candidates``: the incidents this
    person may acknowledge, newest first (for a reply: those they were alerted about)."""
    if code is not None:
        match = [c for c in candidates if c.code == code.upper()]
        if not match:
            return AckDecision(None, f"no incident with code {code.upper()} to acknowledge", False)
        inc = match[0]
        if inc.acknowledged:
            return AckDecision(
                None,
                f"{inc.code} {inc.zone_name} was already acknowledged by {inc.acked_by}",
                True,
            )
        return AckDecision(inc.incident, f"acknowledged {inc.code} {inc.zone_name}", True)
    waiting = [c for c in candidates if c.needs_answer]
    if not waiting:
        return AckDecision(None, "no open incident of yours to acknowledge", False)
    inc = waiting[0]
    more = f"; {len(waiting) - 1} more open: reply ACK <code>" if len(waiting) > 1 else ""
    return AckDecision(inc.incident, f"acknowledged {inc.code} {inc.zone_name}{more}", True)


def acknowledge_named(candidates: Sequence[Tracked], wanted: str) -> AckDecision:
    """What acknowledging the incident named ``wanted`` does: its code (4 characters,
    as every alert carries) or its full id (exactly that incident). ``candidates``:
    the incidents within ACK_WINDOW_S, newest first. The console, MQTT and the
    command line all come here; an SMS reply, which may name none, goes through
    acknowledge_reply."""
    wanted = wanted.strip()
    if not wanted:
        return AckDecision(None, "no incident named to acknowledge", False)
    if len(wanted) > 4:
        candidates = [c for c in candidates if c.incident == wanted]
        if not candidates:
            return AckDecision(None, "no such incident to acknowledge", False)
        wanted = code_of(wanted)
    return acknowledge(candidates, wanted)


def acknowledge_reply(
    before: Sequence[Tracked], after: Sequence[Tracked], code: str | None
) -> AckDecision:
    """What an SMS reply acknowledges. ``before``: the incidents whose alert reached the
    sender before the reply was sent (only those can be what it answers); ``after``:
    those whose alert went out only later. A reply written before the alert it would
    acknowledge is stale: it acknowledges nothing, and says why."""
    decision = acknowledge(before, code)
    if decision.incident is not None:
        return decision
    seen = {c.incident for c in before}
    later = [c for c in after if c.incident not in seen and c.needs_answer]
    if code is not None:
        later = [c for c in later if c.code == code.upper()]
    if not later:
        return decision
    inc = later[0]
    return AckDecision(
        None,
        f"nothing acknowledged: your reply was sent before the alert about {inc.code} "
        f"{inc.zone_name} reached you; reply again to acknowledge it",
        False,
    )


def may_acknowledge(number: str, groups: Mapping[str, Sequence[str]]) -> bool:
    """Only the numbers of the recipient groups (name -> numbers) may acknowledge."""
    return any(number in numbers for numbers in groups.values())


# -- snoozes ------------------------------------------------------------------------


class SnoozeRefused(ValueError):
    """A snooze that must not be (its text says why)."""


@dataclass(frozen=True)
class Snooze:
    zone: str
    until: float
    reason: str
    by: str
    created: float
    id: int | None = None


def request_snooze(
    zone: str,
    known_zones: Iterable[str],
    until: float,
    reason: str,
    by: str,
    now: float,
    level: str = "warning",
) -> Snooze:
    """A valid snooze of a zone's warnings, or SnoozeRefused saying why not."""
    if level != "warning":
        raise SnoozeRefused(
            f"{level} is never snoozed: only warnings can be; danger alerts always go out"
        )
    known = sorted(set(known_zones))
    if zone not in known:
        raise SnoozeRefused(f"no zone {zone!r}; zones: {', '.join(known) or 'none'}")
    if not reason.strip():
        raise SnoozeRefused("say why (--reason): the status page and the log show it")
    if not math.isfinite(until):
        raise SnoozeRefused("that is not a time: give one still to come")
    if until <= now:
        raise SnoozeRefused("that time has passed: give a time still to come")
    if until - now > MAX_SNOOZE_S:
        raise SnoozeRefused(
            f"a snooze lasts at most {MAX_SNOOZE_S / 3600:g} h; that one would last "
            f"{(until - now) / 3600:.1f} h"
        )
    return Snooze(zone, until, reason.strip(), by, now)


def snoozed(snoozes: Iterable[Snooze], zone: str, level: str, now: float) -> Snooze | None:
    """The snooze that quiets this zone's alert at this level now (never danger)."""
    if level != "warning":
        return None
    live = [s for s in snoozes if s.zone == zone and s.created <= now < s.until]
    return max(live, key=lambda s: s.until) if live else None


def parse_until(text: str, now: float, tz: ZoneInfo) -> float:
    """``14:30`` (the next 14:30 in site time), ``45m``, ``2h``, or an ISO time."""
    text = text.strip()
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(m|min|h)", text)
    if m:
        return now + float(m[1]) * (3600 if m[2] == "h" else 60)
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
    if m:
        local = datetime.fromtimestamp(now, tz)
        hour, minute = int(m[1]), int(m[2])
        if hour > 23 or minute > 59:
            raise SnoozeRefused(f"{text!r} is not a time of day")
        at = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if at.timestamp() <= now:
            at = (local + timedelta(days=1)).replace(
                hour=hour, minute=minute, second=0, microsecond=0
            )
        return at.timestamp()
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise SnoozeRefused(
            f"{text!r}: give a time of day (14:30), a duration (45m, 2h) or an ISO time"
        ) from None
    return (at if at.tzinfo else at.replace(tzinfo=tz)).timestamp()
