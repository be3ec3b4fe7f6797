"""Twilio SMS through the official ``twilio`` library.

Errors are sorted into transient (retry with backoff: HTTP 429 / code 20429,
5xx, timeouts, connection errors) and permanent (never retried: 21211 invalid
To, 21610 unsubscribed, 21408 region not enabled, 21612/21614 cannot reach or
not a mobile number, 20003 authentication, and any other 4xx). Both
``TwilioRestException`` and, since twilio 9.10, the RFC-9457
``TwilioServiceException`` derive from ``TwilioException``.

``api_base_url`` replaces ``https://api.twilio.com`` for tests and proxies; it
is off unless configured.
"""

from __future__ import annotations

import logging

import requests
from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from .base import Alert, DeliveryError
from .credentials import CredentialMissing, read_credential

TWILIO_API = "https://api.twilio.com"
PERMANENT_CODES = {21211, 21610, 21408, 21612, 21614, 20003}
TRANSIENT_CODES = {20429}

# The library logs requests at INFO; keep it quiet whatever the root level is.
logging.getLogger("twilio").setLevel(logging.WARNING)


class BaseUrlHttpClient(TwilioHttpClient):
    """TwilioHttpClient that sends to another base URL (a proxy or a test server)."""

    def __init__(self, base_url: str | None, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/") if base_url else None

    def request(self, method, url, *args, **kwargs):  # noqa: ANN001, ANN201
        if self.base_url and url.startswith(TWILIO_API):
            url = self.base_url + url[len(TWILIO_API) :]
        return super().request(method, url, *args, **kwargs)


def classify(exc: TwilioException) -> DeliveryError:
    status = getattr(exc, "status", None)
    code = getattr(exc, "code", None)
    text = (
        getattr(exc, "msg", None)
        or getattr(exc, "detail", None)
        or getattr(exc, "title", None)
        or exc.__class__.__name__
    )
    message = f"Twilio HTTP {status} code {code}: {text}"
    if code in TRANSIENT_CODES or status == 429 or (isinstance(status, int) and status >= 500):
        return DeliveryError(message, permanent=False, code=code)
    if code in PERMANENT_CODES or (isinstance(status, int) and 400 <= status < 500):
        return DeliveryError(message, permanent=True, code=code)
    return DeliveryError(message, permanent=False, code=code)


class TwilioSms:
    name = "sms"

    def __init__(self, settings) -> None:
        self.settings = settings
        self._client: Client | None = None

    def _connect(self) -> Client:
        s = self.settings
        try:
            account = read_credential(s.account_sid_credential)
            secret = read_credential(s.auth_token_credential)
            key = read_credential(s.api_key_credential) if s.api_key_credential else None
        except CredentialMissing as exc:
            # Transient on purpose: the alert stays in the outbox until the
            # credential is installed, and delivery health reports why.
            raise DeliveryError(str(exc), permanent=False) from None
        return Client(
            username=key or account,
            password=secret,
            account_sid=account,
            http_client=BaseUrlHttpClient(s.api_base_url, s.timeout_s),
        )

    def send(self, alert: Alert) -> str | None:
        if self._client is None:
            self._client = self._connect()
        sender = (
            {"from_": self.settings.from_number}
            if self.settings.from_number
            else {"messaging_service_sid": self.settings.messaging_service_sid}
        )
        try:
            message = self._client.messages.create(to=alert.recipient, body=alert.body, **sender)
        except TwilioException as exc:
            raise classify(exc) from None
        except requests.Timeout:
            raise DeliveryError(
                f"Twilio timed out after {self.settings.timeout_s:g}s", permanent=False
            ) from None
        except requests.RequestException as exc:
            raise DeliveryError(
                f"Twilio unreachable: {exc.__class__.__name__}", permanent=False
            ) from None
        return message.sid
