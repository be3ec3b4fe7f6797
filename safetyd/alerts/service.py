"""Alert delivery, wired: routing (routing.py) → outbox rows → dispatcher → sinks.

The service owns the outbox, the lifecycle ledger (alerts/ledger.py) and the
delivery worker, takes reloaded settings, and reports delivery health. Rows
are added inside the caller's transaction (the incident's, which also records
the incident in the ledger), or from memory when the outbox cannot be written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from .. import extensions
from ..abc import Reloaded, Sink
from ..assembly.load import LoadedConfig
from ..base.alerts import Alert, AlertKind, OutboxStatus, SystemAlert
from ..hazard.incidents import Transition
from ..hazard.lifecycle import snoozed
from ..storage.store import Store, is_storage_failure
from ..zones.model import Zone
from . import messages
from .dispatcher import Dispatcher
from .health import DeliveryHealth, delivery_health
from .ledger import Ledger
from .log import LogSink
from .outbox import NewAlert, Outbox
from .routing import Routes

if TYPE_CHECKING:
    from ..mqtt.link import MqttLink

log = logging.getLogger(__name__)
NOTICE_WINDOW_S = 600.0  # one NOT DELIVERED notice per failing number per this long


def _log(loaded: LoadedConfig, mqtt: MqttLink | None) -> Sink:
    return LogSink()


def _sms(loaded: LoadedConfig, mqtt: MqttLink | None) -> Sink | None:
    from .twilio_sms import TwilioSms

    twilio = loaded.config.alerts.twilio
    return TwilioSms(twilio) if twilio is not None else None


def _webhook(loaded: LoadedConfig, mqtt: MqttLink | None) -> Sink | None:
    from .webhook import Webhook

    webhook = loaded.config.alerts.webhook
    return Webhook(webhook) if webhook is not None else None


def _mqtt(loaded: LoadedConfig, mqtt: MqttLink | None) -> Sink | None:
    from ..mqtt.sink import MqttSink

    return MqttSink(mqtt, loaded.config.site.name) if mqtt is not None else None


# Every alert channel, named once: how it is built from the configuration (None: its
# section is missing, and config validation says so). Routing asks each built sink
# how it is addressed (abc.Sink.addressed), so a channel added here gets its messages.
SINKS: dict[str, Callable[[LoadedConfig, MqttLink | None], Sink | None]] = {
    "log": _log,
    "sms": _sms,
    "webhook": _webhook,
    "mqtt": _mqtt,
}


def _extension(kind: extensions.SinkKind) -> Callable[[LoadedConfig, MqttLink | None], Sink | None]:
    def build(loaded: LoadedConfig, mqtt: MqttLink | None) -> Sink | None:
        settings = loaded.sections.get(kind.section)
        return kind.build(settings) if settings is not None else None

    return build


def registered_sinks() -> dict[str, Callable[[LoadedConfig, MqttLink | None], Sink | None]]:
    """SINKS and the channels registered in safetyd/extensions/."""
    return SINKS | {kind.name: _extension(kind) for kind in extensions.SINKS}


def build_sinks(loaded: LoadedConfig, mqtt: MqttLink | None = None) -> dict[str, Sink]:
    """The configured sinks (``alerts.sinks``), in the registry's order. ``mqtt``: the
    box's broker connection (the mqtt sink publishes through it)."""
    chosen = loaded.config.alerts.sinks
    made = registered_sinks().items()
    built = {name: make(loaded, mqtt) for name, make in made if name in chosen}
    return {name: sink for name, sink in built.items() if sink is not None}


def _routes(loaded: LoadedConfig, sinks: Mapping[str, Sink]) -> Routes:
    c = loaded.config
    return Routes(
        groups=c.alerts.groups,
        system_recipients=tuple(c.alerts.system_recipients),
        sinks={name: sink.addressed for name, sink in sinks.items()},
        tz=ZoneInfo(c.site.timezone),
        site=c.site.name,
    )


class AlertService:
    def __init__(
        self,
        loaded: LoadedConfig,
        store: Store,
        sinks: Mapping[str, Sink],
        clock=time.time,
        alarms: bool = True,
        mqtt: MqttLink | None = None,
    ) -> None:
        """``alarms``: tell the system recipients about failed deliveries and broken
        channels (the daemon); off for a one-shot ``test-alert``, which reports itself.
        ``mqtt``: the broker connection the sinks are rebuilt with on reload."""
        self.alerts = loaded.config.alerts
        self.mqtt = mqtt
        self._own_mqtt = False
        self.store = store
        self.outbox = Outbox(store)
        self.ledger = Ledger(store)
        self.clock = clock
        self.sinks = dict(sinks)
        self.routes = _routes(loaded, self.sinks)
        self.dispatcher = Dispatcher(
            self.outbox,
            self.sinks,
            self.alerts.delivery,
            self.alerts.storm,
            self.tz,
            self._delivery_failed if alarms else None,
            clock,
            on_sink_fault=self._sink_fault if alarms else None,
        )

    @property
    def tz(self) -> ZoneInfo:
        return self.routes.tz

    @classmethod
    def from_config(
        cls,
        loaded: LoadedConfig,
        store: Store,
        alarms: bool = True,
        mqtt: MqttLink | None = None,
    ) -> AlertService:
        """``mqtt`` None with an mqtt sink configured: a connection of its own (a
        one-shot command), closed by ``stop``."""
        settings = loaded.config.mqtt
        own = mqtt is None and "mqtt" in loaded.config.alerts.sinks and settings is not None
        if own and settings is not None:
            from ..mqtt.service import link_of

            mqtt = link_of(loaded)
            mqtt.start().wait_connected(settings.publish_timeout_s)
        service = cls(loaded, store, build_sinks(loaded, mqtt), alarms=alarms, mqtt=mqtt)
        service._own_mqtt = bool(own)
        return service

    name = "alerts"

    def reload(self, old: LoadedConfig, new: LoadedConfig) -> Reloaded:
        """Part: recipients, sinks and limits from the reloaded configuration."""
        self.reconfigure(new)
        return Reloaded("applied")

    def reconfigure(self, loaded: LoadedConfig) -> None:
        """Take a reloaded configuration: recipients, sinks, limits. Queued rows stay."""
        self.alerts = loaded.config.alerts
        self.sinks = build_sinks(loaded, self.mqtt)
        self.routes = _routes(loaded, self.sinks)
        d = self.dispatcher
        d.sinks, d.delivery, d.storm, d.tz = (
            dict(self.sinks),
            self.alerts.delivery,
            self.alerts.storm,
            self.tz,
        )
        d.sends.parallel = self.alerts.delivery.parallel_sends
        d.sends.deadline_s = self.alerts.delivery.send_deadline_s
        d.wake()

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        self.dispatcher.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.dispatcher.stop(timeout)
        if self._own_mqtt and self.mqtt is not None:
            self.mqtt.stop()

    def stalled(self, now: float) -> list[str]:
        """The delivery worker ended or has not come round (``now``: monotonic, for
        the common signature of the parts; the worker keeps its own clock)."""
        return self.dispatcher.stalled()

    def drain(self, timeout: float) -> bool:
        done = self.dispatcher.drain(timeout)
        if not done:
            log.warning("%d alert(s) still pending after %.0fs", self.outbox.depth(), timeout)
        return done

    # -- adding alerts -------------------------------------------------------------------

    def enqueue(
        self,
        db,
        transitions: Sequence[Transition],
        zones: Sequence[Zone],
        capture_mono: float | None = None,
        status: OutboxStatus = OutboxStatus.PENDING,
    ) -> int:
        """Add the alerts for these transitions inside the caller's transaction.

        ``status=MEMORY``: they were already sent from memory (see
        ``send_from_memory``); the rows are the record, not a second delivery."""
        now = self.clock()
        by_id = {z.id: z for z in zones}
        self.ledger.track(
            db, transitions, lambda z: by_id[z].danger_must_ack if z in by_id else False
        )
        quiet = self._snoozed(db, transitions, now)
        rows = self.routes.incident_rows(transitions, zones, now, capture_mono, quiet)
        added = self.outbox.add(db, rows, status)
        if added and status == OutboxStatus.PENDING:
            # Waking the worker before the commit would let it look, find nothing
            # yet, and sleep: the rows must be visible first.
            self.store.after_commit(self.dispatcher.wake)
        return added

    def _snoozed(self, db, transitions: Sequence[Transition], now: float) -> set[str]:
        """Zones of these transitions whose warnings are snoozed now."""
        if not any(tr.level == "warning" for tr in transitions):
            return set()
        active = self.ledger.snoozes(now, db)
        return {tr.zone_id for tr in transitions if snoozed(active, tr.zone_id, tr.level, now)}

    def send_from_memory(
        self,
        transitions: Sequence[Transition],
        zones: Sequence[Zone],
        capture_mono: float | None = None,
    ) -> None:
        """Deliver these transitions' alerts without the outbox (it cannot be written)."""
        self.dispatcher.send_from_memory(
            self.routes.incident_rows(transitions, zones, self.clock(), capture_mono)
        )

    def enqueue_system(
        self,
        key: str,
        kind: AlertKind,
        level: str,
        body: str,
        payload: dict,
        groups: Sequence[str] | None = None,
        camera: str | None = None,
    ) -> int:
        """Queue a message of the system's own (``groups`` None: the system recipients);
        when the outbox cannot be written, send it from memory (a storage alarm must
        get out precisely when storage fails)."""
        rows = self.routes.system_rows(
            key, kind, level, body, payload, groups, self.clock(), camera
        )
        return self._add_now(rows, kind)

    def raise_alarm(self, alert: SystemAlert) -> int:
        """A system alarm (service/blind.py) to its recipients, as text."""
        log.log(
            logging.ERROR if alert.level == "danger" else logging.WARNING,
            "%s camera=%s %s",
            alert.kind,
            alert.camera,
            " ".join(f"{k}={v!r}" for k, v in alert.facts.items()),
        )
        return self._add_now(self.routes.alarm_rows(alert, self.clock()), alert.kind)

    def enqueue_reply(self, key: str, number: str, body: str) -> int:
        """Answer one person's SMS (an acknowledgement's confirmation)."""
        return self._add_now(
            self.routes.reply_rows(key, number, body, self.clock()), AlertKind.REPLY
        )

    def add_rows(self, rows: Sequence[NewAlert], kind: AlertKind, after=None) -> int:
        """Queue prepared rows; ``after(db)`` runs in the same transaction (the
        lifecycle records an escalation step as sent with its rows)."""
        return self._add_now(rows, kind, after)

    def _add_now(self, rows, kind: AlertKind, after=None) -> int:
        try:
            with self.store.transaction() as db:
                added = self.outbox.add(db, rows)
                if after is not None:
                    after(db)
        except Exception as exc:
            if not is_storage_failure(exc):
                raise
            log.error("%s alert cannot be stored (%s); sending it from memory", kind, exc)
            self.dispatcher.send_from_memory(rows)
            return len(rows)
        self.dispatcher.wake()
        return added

    def _delivery_failed(self, alert: Alert, error: str) -> None:
        """Tell the system recipients (but not the number that failed) that an alert
        did not get through: one notice per number per ``NOTICE_WINDOW_S``, however
        many alerts to it fail meanwhile (each is in the log)."""
        now = self.clock()
        key = f"delivery_failed:{alert.sink}:{alert.recipient}:"
        try:
            told = self.outbox.has_key_since(key, now - NOTICE_WINDOW_S)
        except Exception as exc:  # cannot tell: better a second notice than none
            log.warning("cannot look up earlier NOT DELIVERED notices: %s", exc)
            told = False
        if told:
            log.warning(
                "no second NOT DELIVERED notice for %s within %.0fs (alert %d)",
                messages.mask_number(alert.recipient),
                NOTICE_WINDOW_S,
                alert.id,
            )
            return
        body = messages.delivery_failed_text(alert.recipient, error, alert.body)
        groups = [
            g
            for g in self.routes.system_recipients
            if alert.recipient not in self.routes.numbers([g])
        ]
        self.enqueue_system(
            f"{key}{now:.3f}",
            AlertKind.DELIVERY_FAILED,
            "warning",
            body,
            {
                "alert_id": alert.id,
                "recipient": messages.mask_number(alert.recipient),
                "error": messages.mask_numbers(error),
            },
            groups=groups,
            camera=alert.camera,
        )

    def _sink_fault(self, sink: str, error: str | None) -> None:
        """A channel broke (``error``) or works again (None): alarm on all channels;
        the broken one's copies wait in the outbox like everything else on it."""
        now = self.clock()
        if error is not None:
            alert = SystemAlert(
                AlertKind.SINK_FAILED, f"sink_failed:{sink}:{now:.0f}", "danger", now,
                facts={"sink": sink, "error": messages.mask_numbers(error)},
            )  # fmt: skip
        else:
            alert = SystemAlert(
                AlertKind.SINK_RESTORED, f"sink_restored:{sink}:{now:.0f}", "info", now,
                facts={"sink": sink},
            )  # fmt: skip
        self.raise_alarm(alert)

    # -- health --------------------------------------------------------------------------

    def health(self) -> DeliveryHealth:
        return delivery_health(self.outbox, self.dispatcher, self.alerts, self.clock())
