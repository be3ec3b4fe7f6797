"""SMS replies, read by polling Twilio (outbound HTTPS only).

Twilio hands replies to a webhook, which needs an inbound connection that a
factory network rarely allows. Instead the daemon asks Twilio's Messages list
API, every ``[alerts.replies] poll_interval_s``, for the messages sent *to* our
number since a little before the last look, and keeps the inbound ones. Each
reply is handled once: its SID is recorded (alerts/ledger.py), so overlapping
windows and restarts read nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import requests
from twilio.base.exceptions import TwilioException

from ..config.model import TwilioSettings
from .base import DeliveryError
from .twilio_sms import classify, connect


@dataclass(frozen=True)
class Inbound:
    sid: str
    sender: str
    body: str
    wall: float  # when Twilio received it


class TwilioInbox:
    def __init__(self, settings: TwilioSettings, max_messages: int = 200) -> None:
        self.settings = settings
        self.max_messages = max_messages

    def fetch(self, since: float) -> list[Inbound]:
        """Replies to our number received since ``since`` (epoch seconds), oldest first.
        Raises DeliveryError (as a send would) when Twilio cannot be asked."""
        number = self.settings.from_number
        if number is None:  # the config refuses replies without a number; be sure
            return []
        client = connect(self.settings)
        try:
            messages = client.messages.list(
                to=number,
                date_sent_after=datetime.fromtimestamp(since, UTC),
                limit=self.max_messages,
            )
        except TwilioException as exc:
            # A page that cannot be fetched is a bare TwilioException carrying the
            # response, without the status and code a refused send has.
            response = exc.args[1] if len(exc.args) > 1 else None
            status = getattr(response, "status_code", None)
            if getattr(exc, "status", None) is None and status is not None:
                fault = status in (401, 403)
                raise DeliveryError(
                    f"Twilio HTTP {status}: cannot list the replies", permanent=False, fault=fault
                ) from None
            raise classify(exc) from None
        except requests.RequestException as exc:
            raise DeliveryError(
                f"Twilio unreachable: {exc.__class__.__name__}", permanent=False
            ) from None
        out = [
            Inbound(
                str(m.sid),
                str(m.from_),
                m.body or "",
                m.date_sent.timestamp() if m.date_sent else since,
            )
            for m in messages
            if str(m.direction) == "inbound" and m.sid and m.from_
        ]
        return sorted(out, key=lambda m: m.wall)
