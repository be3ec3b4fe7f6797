"""Twilio SMS through the official ``twilio`` library.

Errors are sorted into three kinds:

* transient (retry with backoff): HTTP 429 / code 20429 (honouring Retry-After),
  5xx, timeouts, connection errors;
* permanent for this message (never retried): 21211 invalid To, 21610
  unsubscribed, 21408 region not enabled, 21612/21614 cannot reach or not a
  mobile number, and any other 4xx;
* a fault of the account (HTTP 401, 20003 authentication, 20005 account not
  active) or missing credentials: no message can go out, so the rows stay
  queued and the delivery worker alarms and waits for the credentials to change.

Both ``TwilioRestException`` and, since twilio 9.10, the RFC-9457
``TwilioServiceException`` derive from ``TwilioException``. Phone numbers in
Twilio's error texts are masked before they reach a log or the outbox.

Sends may run in parallel (alerts/sending.py): each takes a client of its own
from a small pool, so no two threads share a ``requests`` session.

``api_base_url`` replaces ``https://api.twilio.com`` for tests and proxies; it
is off unless configured.
"""

from __future__ import annotations

import hashlib
import logging
import threading

import requests
from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from ..base.alerts import Alert, DeliveryError, retry_after
from ..base.credentials import CredentialMissing, read_credential
from .messages import mask_numbers

TWILIO_API = "https://api.twilio.com"
PERMANENT_CODES = {21211, 21610, 21408, 21612, 21614}
ACCOUNT_FAULT_CODES = {20003, 20005}
TRANSIENT_CODES = {20429}

# The library logs requests at INFO; keep it quiet whatever the root level is.
logging.getLogger("twilio").setLevel(logging.WARNING)


class BaseUrlHttpClient(TwilioHttpClient):
    """TwilioHttpClient that sends to another base URL (a proxy or a test server) and
    keeps the headers of the last answer (for Retry-After)."""

    def __init__(self, base_url: str | None, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/") if base_url else None
        self.last_headers: dict[str, str] = {}

    def request(self, method, url, *args, **kwargs):  # noqa: ANN001, ANN201
        if self.base_url and url.startswith(TWILIO_API):
            url = self.base_url + url[len(TWILIO_API) :]
        self.last_headers = {}
        response = super().request(method, url, *args, **kwargs)
        self.last_headers = dict(response.headers or {})
        return response


def classify(exc: TwilioException, headers: dict[str, str] | None = None) -> DeliveryError:
    status = getattr(exc, "status", None)
    code = getattr(exc, "code", None)
    text = (
        getattr(exc, "msg", None)
        or getattr(exc, "detail", None)
        or getattr(exc, "title", None)
        or exc.__class__.__name__
    )
    message = mask_numbers(f"Twilio HTTP {status} code {code}: {text}")
    if code in TRANSIENT_CODES or status == 429 or (isinstance(status, int) and status >= 500):
        after = retry_after(headers or {}) if status == 429 or code == 20429 else None
        return DeliveryError(message, permanent=False, code=code, retry_after=after)
    if code in ACCOUNT_FAULT_CODES or status == 401:
        return DeliveryError(message, permanent=False, code=code, fault=True)
    if code in PERMANENT_CODES or (isinstance(status, int) and 400 <= status < 500):
        return DeliveryError(message, permanent=True, code=code)
    return DeliveryError(message, permanent=False, code=code)


def connect(s) -> Client:
    """A client with the credentials as installed now (``s``: TwilioSettings); raises
    DeliveryError(fault=True) when they are missing or empty."""
    try:
        account = read_credential(s.account_sid_credential)
        secret = read_credential(s.auth_token_credential)
        key = read_credential(s.api_key_credential) if s.api_key_credential else None
    except CredentialMissing as exc:
        # The alert stays in the outbox until the credential is installed; the
        # worker alarms and delivery health reports why.
        why = str(exc)
        if exc.empty:  # the README once advised empty files for boxes without SMS
            why += ", or take 'sms' out of [alerts] sinks if this box sends no SMS"
        raise DeliveryError(why, permanent=False, fault=True) from None
    return Client(
        username=key or account,
        password=secret,
        account_sid=account,
        http_client=BaseUrlHttpClient(s.api_base_url, s.timeout_s),
    )


class TwilioSms:
    name = "sms"
    addressed = True

    def __init__(self, settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._idle: list[Client] = []  # clients not in use by a send
        self._generation = 0  # bumped by reset(): clients of before are not reused

    def _names(self) -> list[str]:
        s = self.settings
        return [n for n in (s.account_sid_credential, s.auth_token_credential,
                            s.api_key_credential) if n]  # fmt: skip

    def credential_state(self) -> str:
        """A digest of the credentials as installed now (never the secrets): the
        delivery worker tries a faulted sink again when this changes."""
        digest = hashlib.sha256()
        for name in self._names():
            try:
                digest.update(read_credential(name).encode())
            except CredentialMissing:
                digest.update(b"\0missing")
            digest.update(b"\0")
        return digest.hexdigest()

    def reset(self) -> None:
        """Forget the clients (and the credentials they hold)."""
        with self._lock:
            self._idle.clear()
            self._generation += 1

    def _connect(self) -> Client:
        return connect(self.settings)

    def send(self, alert: Alert) -> str | None:
        with self._lock:
            client = self._idle.pop() if self._idle else None
            generation = self._generation
        if client is None:
            client = self._connect()
        sender = (
            {"from_": self.settings.from_number}
            if self.settings.from_number
            else {"messaging_service_sid": self.settings.messaging_service_sid}
        )
        try:
            message = client.messages.create(to=alert.recipient, body=alert.body, **sender)
        except TwilioException as exc:
            http = client.http_client
            headers = http.last_headers if isinstance(http, BaseUrlHttpClient) else {}
            raise classify(exc, headers) from None
        except requests.Timeout:
            raise DeliveryError(
                f"Twilio timed out after {self.settings.timeout_s:g}s", permanent=False
            ) from None
        except requests.RequestException as exc:
            raise DeliveryError(
                f"Twilio unreachable: {exc.__class__.__name__}", permanent=False
            ) from None
        with self._lock:
            if generation == self._generation:
                self._idle.append(client)
        return message.sid
