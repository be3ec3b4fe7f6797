"""Webhook sink: HTTP POST of the event JSON (stdlib urllib, with a timeout)."""

from __future__ import annotations

import urllib.error
import urllib.request

from ..base.alerts import Alert, DeliveryError, retry_after


class Webhook:
    name = "webhook"
    addressed = False

    def __init__(self, settings) -> None:
        self.url = settings.url
        self.timeout_s = settings.timeout_s

    def send(self, alert: Alert) -> str | None:
        request = urllib.request.Request(
            self.url,
            data=alert.payload.encode(),
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "safetyd",
                "Idempotency-Key": str(alert.id),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read(65536)
                return None
        except urllib.error.HTTPError as exc:
            permanent = 400 <= exc.code < 500 and exc.code not in (408, 429)
            headers = dict(exc.headers.items()) if exc.headers else {}
            after = retry_after(headers) if exc.code in (429, 503) else None
            raise DeliveryError(
                f"webhook HTTP {exc.code}", permanent=permanent, code=exc.code, retry_after=after
            ) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeliveryError(f"webhook unreachable: {reason}", permanent=False) from None
