"""The ``[alerts]`` section of safetyd.toml: recipient groups, the channels (sinks)
and their tables, delivery limits, escalation chains, SMS replies."""

from __future__ import annotations

import re
from typing import Literal, get_args

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ..base.problems import suggest
from .secrets import CredentialName
from .types import E164, Base, Ident


class Group(Base):
    numbers: list[E164] = Field(default_factory=list, description="phone numbers (E.164)")
    webhook: bool = Field(True, description="also post this group's alerts to the webhook")


class TwilioSettings(Base):
    account_sid_credential: CredentialName = Field(
        "twilio-account-sid", description="credential holding the Account SID (AC…)"
    )
    auth_token_credential: CredentialName = Field(
        "twilio-auth-token", description="credential holding the auth token or API key secret"
    )
    api_key_credential: CredentialName | None = Field(
        None, description="credential holding an API key SID (SK…), used with the secret above"
    )
    from_number: E164 | None = Field(None, description="sending number (E.164)")
    messaging_service_sid: str | None = Field(
        None, pattern=r"^MG[0-9a-fA-F]{32}$", description="Messaging Service SID (MG…)"
    )
    api_base_url: str | None = Field(
        None,
        pattern=r"^https?://[^/]+$",
        description="replace https://api.twilio.com (tests and proxies only; off by default)",
    )
    timeout_s: float = Field(10.0, gt=0, le=120, description="HTTP timeout per request")

    @model_validator(mode="after")
    def _sender(self) -> TwilioSettings:
        if (self.from_number is None) == (self.messaging_service_sid is None):
            raise ValueError("set exactly one of from_number or messaging_service_sid")
        return self


class WebhookSettings(Base):
    url: str = Field(pattern=r"^https?://", description="http(s) URL that receives event JSON")
    timeout_s: float = Field(5.0, gt=0, le=120, description="HTTP timeout per request")


class DeliverySettings(Base):
    max_age_s: float = Field(
        6 * 3600, gt=0, description="give up on an alert this old and report it as failed"
    )
    backoff_initial_s: float = Field(2.0, gt=0, le=600, description="first retry delay")
    backoff_max_s: float = Field(300.0, gt=0, le=3600, description="longest retry delay")
    danger_backoff_max_s: float = Field(
        10.0, gt=0, le=300, description="longest retry delay of a danger alert"
    )
    send_deadline_s: float = Field(
        20.0, gt=0, le=300, description="a send not answered within this is retried"
    )
    parallel_sends: int = Field(4, ge=1, le=16, description="sends in flight per sink")
    backlog_alarm: int = Field(50, ge=1, description="pending alerts that make delivery unhealthy")


class StormSettings(Base):
    fold_window_s: float = Field(
        60.0, ge=0, le=3600, description="warnings per zone and recipient folded into one summary"
    )
    max_warnings_per_hour: int = Field(
        20, ge=1, description="warning SMS per recipient per hour (danger is never limited)"
    )


class ChainStep(Base):
    """One rung of an escalation chain: these groups, this long after danger began,
    while nobody has acknowledged."""

    after_s: float = Field(ge=0, le=86400, description="seconds after the incident reached danger")
    groups: list[str] = Field(min_length=1, description="recipient groups told at this step")


def check_chain(steps: list[ChainStep] | None) -> list[ChainStep] | None:
    """Steps in time order, each later than the one before (a chain, not a set)."""
    if steps is not None:
        times = [s.after_s for s in steps]
        if times != sorted(times) or len(set(times)) != len(times):
            raise ValueError(
                f"escalation_chain steps must come in order of after_s, each later than the "
                f"one before; got after_s {times}"
            )
    return steps


class ReplySettings(Base):
    enabled: bool = Field(True, description="read SMS replies to acknowledge incidents")
    poll_interval_s: float = Field(
        20.0, ge=5, le=600, description="how often Twilio is asked for new replies"
    )
    words: list[str] = Field(
        default_factory=lambda: ["OK", "ACK", "1"],
        min_length=1,
        description="a reply of one of these words acknowledges (any case)",
    )
    lookback_s: float = Field(
        3600.0, ge=0, le=7 * 86400, description="replies this old are still read at start"
    )

    @field_validator("words")
    @classmethod
    def _words(cls, words: list[str]) -> list[str]:
        bad = [w for w in words if not re.fullmatch(r"\w+", w)]
        if bad:
            raise ValueError(f"reply words are single words of letters or digits; got {bad}")
        return words


SinkName = Literal["sms", "webhook", "log", "mqtt"]
# The channels registered in safetyd/extensions/ are accepted too: the loader names
# them in the validation context (this schema imports nothing above it).
EXTENSION_SINKS = "extension_sinks"


class AlertSettings(Base):
    sinks: list[str] = Field(
        default_factory=lambda: ["log"],
        description="where alerts go: sms, webhook, log, mqtt (needs an [mqtt] section), "
        "or a channel from safetyd/extensions/",
    )
    groups: dict[Ident, Group] = Field(default_factory=dict, description="recipient groups")
    system_recipients: list[str] = Field(
        default_factory=list,
        description="groups told about blind cameras and failed alert delivery",
    )
    escalate_after_s: float = Field(
        30.0,
        gt=0,
        description="the old one-step chain: danger unacknowledged this long alerts a zone's "
        "recipients.escalation groups (use escalation_chain)",
    )
    escalation_chain: list[ChainStep] | None = Field(
        None,
        description="default escalation chain of every zone without its own: steps "
        "{after_s, groups} while danger stays unacknowledged",
    )
    replies: ReplySettings | None = Field(
        None, description="acknowledge by SMS reply (polls Twilio; outbound HTTPS only)"
    )
    twilio: TwilioSettings | None = None
    webhook: WebhookSettings | None = None
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    storm: StormSettings = Field(default_factory=StormSettings)

    @field_validator("sinks")
    @classmethod
    def _known_sinks(cls, sinks: list[str], info: ValidationInfo) -> list[str]:
        known = [*get_args(SinkName), *(info.context or {}).get(EXTENSION_SINKS, ())]
        for name in sinks:
            if name not in known:
                raise ValueError(
                    f"unknown sink {name!r}{suggest(name, known)}; sinks: {', '.join(known)}"
                )
        return sinks

    @model_validator(mode="after")
    def _consistent(self) -> AlertSettings:
        if "sms" in self.sinks and self.twilio is None:
            raise ValueError("sinks include 'sms' but there is no [alerts.twilio] section")
        if "webhook" in self.sinks and self.webhook is None:
            raise ValueError("sinks include 'webhook' but there is no [alerts.webhook] section")
        deadline = self.delivery.send_deadline_s
        for name, sink in (("twilio", self.twilio), ("webhook", self.webhook)):
            if sink is not None and sink.timeout_s > deadline:
                raise ValueError(
                    f"[alerts.{name}] timeout_s ({sink.timeout_s:g}) is longer than "
                    f"[alerts.delivery] send_deadline_s ({deadline:g}): every slow send would "
                    "be abandoned before its own timeout; raise send_deadline_s or lower timeout_s"
                )
        unknown = [g for g in self.system_recipients if g not in self.groups]
        if unknown:
            raise ValueError(
                f"system_recipients names unknown group(s) {unknown}; "
                f"defined groups: {sorted(self.groups) or 'none'}"
            )
        check_chain(self.escalation_chain)
        chained = [g for s in self.escalation_chain or () for g in s.groups]
        unknown = [g for g in dict.fromkeys(chained) if g not in self.groups]
        if unknown:
            raise ValueError(
                f"escalation_chain names unknown group(s) {unknown}; "
                f"defined groups: {sorted(self.groups) or 'none'}"
            )
        if self.replies is not None and self.replies.enabled:
            if "sms" not in self.sinks or self.twilio is None:
                raise ValueError(
                    "[alerts.replies] reads SMS replies, but no SMS is sent: add 'sms' to "
                    "sinks with an [alerts.twilio] section, or remove [alerts.replies]"
                )
            if self.twilio.from_number is None:
                raise ValueError(
                    "[alerts.replies] needs [alerts.twilio] from_number: replies are read as "
                    "the messages sent to that number"
                )
        return self
