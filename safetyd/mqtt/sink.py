"""MQTT as an alert sink of the outbox: every event (incident transitions and
system alarms) published at QoS 1 and marked sent only on the broker's PUBACK.

The message is the outbox row's event JSON (the record ``safetyd events`` and
replay use) plus ``site`` (as in the topic), ``site_name``, ``box`` and
``alert_id``. The outbox retries what the broker did not acknowledge, through
an outage and across a restart; a retry after an acknowledgement that got lost
on the way back is a duplicate, and carries the same ``alert_id`` (consumers
drop what they have seen).
"""

from __future__ import annotations

import json

from ..base.alerts import Alert, AlertKind, DeliveryError
from .link import MqttLink, NotConnected, Refused


def event_message(alert: Alert, site: str, site_name: str, box: str) -> bytes:
    """What goes on the wire for one outbox row."""
    try:
        record = json.loads(alert.payload)
    except ValueError:
        record = {"text": alert.payload}
    if not isinstance(record, dict):
        record = {"value": record}
    record.update(
        site=site, site_name=site_name, box=box, alert_id=alert.id,
        alert_kind=str(alert.kind), level_sent=alert.level,
    )  # fmt: skip
    return json.dumps(record, separators=(",", ":")).encode()


class MqttSink:
    name = "mqtt"
    addressed = False

    def __init__(self, link: MqttLink, site_name: str) -> None:
        self.link = link
        self.site_name = site_name

    def topic(self, alert: Alert) -> str:
        t = self.link.topics
        if alert.kind == AlertKind.INCIDENT:
            return t.event(alert.camera, alert.zone)
        return t.system(str(alert.kind))

    def send(self, alert: Alert) -> str | None:
        if self.link.unusable:
            # Missing credentials or unreadable TLS files: the channel, not this message.
            raise DeliveryError(f"mqtt: {self.link.error}", permanent=False, fault=True)
        t = self.link.topics
        payload = event_message(alert, t.site, self.site_name, t.box)
        try:
            mid = self.link.publish_acked(
                self.topic(alert), payload, self.link.settings.publish_timeout_s
            )
        except NotConnected as exc:
            raise DeliveryError(f"mqtt broker not connected: {exc}", permanent=False) from None
        except (TimeoutError, Refused) as exc:
            # A refusal (the broker's ACL) is a setting to fix on the broker: retried with
            # backoff, reported by delivery health, expired after max_age_s like any other.
            raise DeliveryError(f"mqtt: {exc}", permanent=False) from None
        return f"mid:{mid}"
