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

from ..base.alerts import DeliveryError
from ..config.alerts import TwilioSettings
from .twilio_sms import classify, connect


@dataclass(frozen=True)
class Inbound:
    sid: str
    sender: str
    body: str
    wall: float  # when Twilio received it


# A poll reads at most this many pages of PAGE_SIZE messages: a list that pages on
# forever (a proxy or provider fault) costs a few requests, not hundreds. More
# replies than that within one poll window are left for the next poll's overlap.
PAGE_SIZE = 50
MAX_PAGES = 4


class TwilioInbox:
    def __init__(
        self, settings: TwilioSettings, page_size: int = PAGE_SIZE, max_pages: int = MAX_PAGES
    ) -> None:
        self.settings = settings
        self.page_size = page_size
        self.max_pages = max_pages

    def fetch(self, since: float) -> list[Inbound]:
        """Replies to our number received since ``since`` (epoch seconds), oldest first.
        Raises DeliveryError (as a send would) when Twilio cannot be asked, or answers
        with something that is not a message list."""
        number = self.settings.from_number
        if number is None:  # the config refuses replies without a number; be sure
            return []
        client = connect(self.settings)
        messages: list = []
        try:
            page = client.messages.page(
                to=number,
                date_sent_after=datetime.fromtimestamp(since, UTC),
                page_size=self.page_size,
            )
            for k in range(self.max_pages):
                messages.extend(page)
                if k + 1 < self.max_pages:
                    page = page.next_page()
                    if page is None:
                        break
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
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # Not JSON, or JSON without a message list: whatever answered is not Twilio
            # as we know it (a captive proxy, a fault). A failed poll, said as one.
            raise DeliveryError(
                f"Twilio's reply list is unreadable ({exc.__class__.__name__})", permanent=False
            ) from None
        out = []
        for m in messages:
            try:
                if str(m.direction) == "inbound" and m.sid and m.from_:
                    wall = m.date_sent.timestamp() if m.date_sent else since
                    out.append(Inbound(str(m.sid), str(m.from_), str(m.body or ""), wall))
            except (AttributeError, TypeError, ValueError):
                continue  # one malformed message; the others stand
        return sorted(out, key=lambda m: m.wall)
