"""The box's one connection to the plant's broker (paho-mqtt 2.x).

paho runs its network loop on a thread of its own and reconnects by itself
(1 s, doubling to 30 s). Nothing here blocks a caller on the network except
``publish_acked``, which the outbox's send threads use: it waits for the
broker's PUBACK, so an event is marked sent only once the broker has it.

* The Last Will is the box's status ``offline`` (retained): the broker
  publishes it when the box vanishes (killed, cable pulled, keepalive missed).
* On every (re)connect the box says ``online`` again, republishes its retained
  state and subscribes to its command topic (hooks registered with ``on_connect``).
* While not connected, nothing is queued inside paho: an event is refused (its
  outbox row is retried), state is left for the republish at reconnect. So a
  broker outage costs memory nowhere but in the SQLite outbox.
"""

from __future__ import annotations

import contextlib
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from ..base.credentials import CredentialMissing, read_credential
from ..config.mqtt import MqttSettings
from .topics import Topics

log = logging.getLogger(__name__)
MAX_QUEUED = 1000  # messages paho may hold (in flight) at once
PubackHook = Callable[[int, float], None]  # (mid, monotonic time of the PUBACK)


class NotConnected(RuntimeError):
    """The broker is not connected now (the reason says why, when known)."""


class Refused(RuntimeError):
    """The broker answered the message with a failure (e.g. an ACL: Not authorized)."""


def status_payload(state: str, reason: str, **facts) -> bytes:
    return json.dumps({"state": state, "reason": reason, **facts}, separators=(",", ":")).encode()


class MqttLink:
    def __init__(
        self,
        settings: MqttSettings,
        topics: Topics,
        resolve: Callable[[str], Path] = Path,
        *,
        will: bool = True,
        client_id: str | None = None,
    ) -> None:
        """``resolve``: TLS file names relative to the configuration's directory.
        ``will``: register the box's Last Will (a box; not a fleet viewer)."""
        self.settings = settings
        self.topics = topics
        self.broker = settings.broker
        cid = client_id or settings.client_id or f"safetyd-{topics.box}"
        # MQTT 5: a PUBACK says whether the broker took the message (an ACL that denies
        # it answers "Not authorized"; under 3.1.1 it is acknowledged and dropped).
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=cid, protocol=paho.MQTTv5)
        self.client.max_queued_messages_set(MAX_QUEUED)
        self.client.reconnect_delay_set(1, 30)
        self.client.on_connect = self._connected_cb
        self.client.on_disconnect = self._disconnected_cb
        self.client.on_publish = self._published_cb
        self.client.on_message = self._message_cb
        self.error: str | None = "not connected yet"
        self.since = time.time()  # of the current state (connected or not)
        self.connects = 0
        self._connected = threading.Event()
        self._lock = threading.Lock()
        self._on_connect: list[Callable[[], None]] = []
        self._subscriptions: dict[str, Callable[[paho.MQTTMessage], None]] = {}
        self._puback: list[PubackHook] = []
        self._refused: dict[int, str] = {}  # mid -> the broker's reason, for publish_acked
        self._started = False
        self._stopping = False
        try:
            self._credentials()
            self._tls(resolve)
        except (CredentialMissing, OSError, ssl.SSLError) as exc:
            self.error = str(exc)
            self.unusable = True
        else:
            self.unusable = False
        self._will = will
        self._started_wall = time.time()
        self._set_will()

    @property
    def connection(self) -> str:
        """Which connection of this run (its Last Will names it: one alarm per loss)."""
        return f"{self._started_wall:.0f}-{self.connects}"

    def _set_will(self) -> None:
        """The Last Will of the next connection (paho sends it with each CONNECT)."""
        if self._will:
            self.client.will_set(
                self.topics.status,
                status_payload("offline", "connection lost", box=self.topics.box,
                               site=self.topics.site, connection=self.next_connection),
                qos=self.settings.qos,
                retain=True,
            )  # fmt: skip

    @property
    def next_connection(self) -> str:
        return f"{self._started_wall:.0f}-{self.connects + 1}"

    def _credentials(self) -> None:
        s = self.settings
        if s.username_credential is None:
            return
        password = read_credential(s.password_credential) if s.password_credential else None
        self.client.username_pw_set(read_credential(s.username_credential), password)

    def _tls(self, resolve: Callable[[str], Path]) -> None:
        s = self.settings
        if not self.broker.tls:
            return
        self.client.tls_set(
            ca_certs=str(resolve(s.ca_file)) if s.ca_file else None,
            certfile=str(resolve(s.cert_file)) if s.cert_file else None,
            keyfile=str(resolve(s.key_file)) if s.key_file else None,
            cert_reqs=ssl.CERT_REQUIRED,
        )

    # -- lifecycle -------------------------------------------------------------------

    def on_connect(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` on paho's thread after every successful (re)connect."""
        self._on_connect.append(hook)

    def on_puback(self, hook: PubackHook) -> None:
        self._puback.append(hook)

    def subscribe(self, topic_filter: str, handler: Callable[[paho.MQTTMessage], None]) -> None:
        """Subscribed now and after every reconnect; ``handler`` runs on paho's thread
        (it must not block)."""
        with self._lock:
            self._subscriptions[topic_filter] = handler
        if self.connected:
            self.client.subscribe(topic_filter, qos=1)

    def start(self) -> MqttLink:
        """Connect in the background (an absent broker is retried, never waited for)."""
        if self.unusable:
            log.error("mqtt: cannot connect to %s: %s", self.settings.url, self.error)
            return self
        self.client.connect_async(
            self.broker.host, self.broker.port, self.settings.keepalive_s, clean_start=True
        )
        self.client.loop_start()
        self._started = True
        return self

    def stop(self, goodbye: bytes | None = None, timeout: float = 1.0) -> None:
        """Say ``goodbye`` (the status, retained) if connected, then disconnect: a
        clean disconnect does not trigger the Last Will, so a stopped box says why."""
        if not self._started:
            return
        if goodbye is not None and self.connected:
            info = self.client.publish(self.topics.status, goodbye, qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):  # said what it could
                info.wait_for_publish(timeout)
        self._stopping = True
        self.client.disconnect()
        self.client.loop_stop()
        self._started = False
        self._connected.clear()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    @property
    def alive(self) -> bool:
        """paho's network thread runs (or was never meant to)."""
        thread = getattr(self.client, "_thread", None)
        return not self._started or (thread is not None and thread.is_alive())

    # -- publishing ---------------------------------------------------------------------

    def publish_acked(
        self, topic: str, payload: bytes, timeout: float, retain: bool = False
    ) -> int:
        """Publish and wait for the broker's acknowledgement; return the mid. Raises
        NotConnected, or TimeoutError when no PUBACK came within ``timeout``."""
        if not self.connected:
            raise NotConnected(self.error or "not connected")
        info = self.client.publish(topic, payload, qos=self.settings.qos, retain=retain)
        if info.rc == paho.MQTT_ERR_NO_CONN:
            raise NotConnected(self.error or "connection lost while publishing")
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise NotConnected(paho.error_string(info.rc))
        try:
            info.wait_for_publish(timeout)
        except (RuntimeError, ValueError) as exc:
            raise NotConnected(str(exc)) from None
        if not info.is_published():
            raise TimeoutError(f"no PUBACK from the broker within {timeout:g}s")
        with self._lock:
            refused = self._refused.pop(info.mid, None)
        if refused is not None:
            raise Refused(f"the broker refused {topic}: {refused}")
        return info.mid

    def publish_nowait(self, topic: str, payload: bytes, retain: bool = True) -> int | None:
        """Hand a message to paho's thread (the mid), or None when not connected."""
        if not self.connected:
            return None
        info = self.client.publish(topic, payload, qos=self.settings.qos, retain=retain)
        return info.mid if info.rc == paho.MQTT_ERR_SUCCESS else None

    # -- paho's callbacks (its network thread) ------------------------------------------

    def _connected_cb(self, client, _userdata, _flags, reason_code, _properties) -> None:
        if reason_code.is_failure:
            self.error = f"the broker refused the connection: {reason_code}"
            log.error("mqtt: %s (%s)", self.error, self.settings.url)
            return
        self.connects += 1
        self.error = None
        self.since = time.time()
        self._connected.set()
        log.info("mqtt: connected to %s as %s", self.settings.url, self.topics.box)
        with self._lock:
            filters = list(self._subscriptions)
        for topic_filter in filters:
            client.subscribe(topic_filter, qos=1)
        for hook in list(self._on_connect):
            try:
                hook()
            except Exception:
                log.exception("mqtt: on-connect step failed")

    def _disconnected_cb(self, _client, _userdata, _flags, reason_code, _properties) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        self.since = time.time()
        self._set_will()  # the reconnect is another connection
        if self.error is None or was:
            self.error = f"disconnected from the broker ({reason_code})"
        if was and not self._stopping:
            log.warning("mqtt: %s; reconnecting", self.error)

    def _published_cb(self, _client, _userdata, mid, reason_code, _properties) -> None:
        now = time.monotonic()
        if reason_code.is_failure:
            log.error("mqtt: the broker refused message %d: %s", mid, reason_code)
            with self._lock:
                self._refused[mid] = str(reason_code)
                while len(self._refused) > 1000:
                    self._refused.pop(next(iter(self._refused)))
        for hook in self._puback:
            hook(mid, now)

    def _message_cb(self, _client, _userdata, message: paho.MQTTMessage) -> None:
        with self._lock:
            subs = self._subscriptions.items()
            handlers = [h for f, h in subs if paho.topic_matches_sub(f, message.topic)]
        for handler in handlers:
            try:
                handler(message)
            except Exception:
                log.exception("mqtt: handling a message on %s failed", message.topic)
