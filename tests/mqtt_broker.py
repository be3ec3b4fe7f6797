"""A real Mosquitto broker on 127.0.0.1 for the MQTT tests: Debian's ``mosquitto``
binary (installed by .ci/run) with a test configuration that, like a plant's,
refuses anonymous clients and has a password file and an ACL.

Users (password = the name + "-pw"):

* ``box-a``, ``box-b``: a safetyd box each; may write only its own subtree
  ``safetyd/+/<user>/#`` (the topic tree is ACL-friendly: the box is the user)
  and Home Assistant discovery, and read every box's state (the fleet).
* ``operator``: reads everything, writes commands to any box.
* ``viewer``: reads only.

``stop()`` and ``start()`` again on the same port stand for a broker outage.
``Listener`` collects what arrives on a subscription, with its retain flag.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from streams import free_port

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
USERS = ("box-a", "box-b", "operator", "viewer")

ACL = """\
user operator
topic readwrite safetyd/#
topic read homeassistant/#

user viewer
topic read safetyd/#
topic read homeassistant/#

# Every box: its own subtree, discovery, and the fleet's state (read).
pattern readwrite safetyd/+/%u/#
pattern write homeassistant/#
pattern read safetyd/+/+/status
pattern read safetyd/+/+/cameras/+
pattern read safetyd/+/+/zones/+/+
"""


def need_mosquitto() -> None:
    if os.path.exists(MOSQUITTO) and shutil.which("mosquitto_passwd"):
        return
    reason = "mosquitto is not installed (Debian package mosquitto; .ci/run installs it)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: {result.stderr}")


def make_certificates(directory: Path, clients: tuple[str, ...]) -> None:
    """A throwaway CA, the broker's certificate for 127.0.0.1, and a client certificate
    per name (``<name>.pem``/``<name>.key``, CN = the name)."""
    if shutil.which("openssl") is None:
        reason = "openssl is not installed (Debian package openssl; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    d = directory
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
             "-out", "ca.pem", "-days", "2", "-subj", "/CN=safetyd test CA", cwd=d)  # fmt: skip
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name, ext in (("server", ["-extfile", "san.ext"]), *((c, []) for c in clients)):
        cn = "127.0.0.1" if name == "server" else name
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
                 "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=d)  # fmt: skip
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", *ext, cwd=d)  # fmt: skip


def password(user: str) -> str:
    return f"{user}-pw"


@dataclass
class Broker:
    directory: Path
    port: int = field(default_factory=free_port)
    users: tuple[str, ...] = USERS
    tls: bool = False  # also a TLS listener that wants client certificates (tls_port)

    def __post_init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.directory.mkdir(parents=True, exist_ok=True)
        pw = self.directory / "passwd"
        pw.write_text("")
        for user in self.users:
            subprocess.run(
                ["mosquitto_passwd", "-b", str(pw), user, password(user)],
                check=True, capture_output=True,
            )  # fmt: skip
        pw.chmod(0o600)
        (self.directory / "acl").write_text(ACL)
        (self.directory / "acl").chmod(0o600)
        conf = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous false",
            f"password_file {pw}",
            f"acl_file {self.directory / 'acl'}",
            # Sessions of clean_session=False clients (and their queued QoS 1 messages)
            # survive a restart of the broker, as on a plant's broker.
            "persistence true",
            f"persistence_location {self.directory}/",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
        ]
        if self.tls:
            self.tls_port = free_port()
            d = self.directory
            make_certificates(d, ("box-a",))
            conf += [
                f"listener {self.tls_port} 127.0.0.1",
                f"cafile {d / 'ca.pem'}",
                f"certfile {d / 'server.pem'}",
                f"keyfile {d / 'server.key'}",
                "require_certificate true",
                # The certificate's CN is the user: the same ACL applies.
                "use_identity_as_username true",
            ]
        if os.geteuid() == 0:
            conf.append("user root")  # else it drops to 'mosquitto', who cannot read these
        (self.directory / "mosquitto.conf").write_text("\n".join(conf) + "\n")

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> Broker:
        log = open(self.directory / "mosquitto.log", "ab")  # noqa: SIM115 (the process owns it)
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.directory / "mosquitto.conf")],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log()[-2000:]}")
            import socket

            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on {self.port}: {self.log()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def log(self) -> str:
        path = self.directory / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def client(
        self, user: str = "operator", client_id: str | None = None, durable: bool = False
    ) -> Listener:
        """``durable``: a persistent session (clean_session off): the broker keeps what
        arrives for it while it is away, even across a broker restart."""
        return Listener(self, user, client_id or f"test-{user}-{time.monotonic_ns()}", durable)


class Listener:
    """A plain paho client of the test: subscribe, collect, publish."""

    def __init__(self, broker: Broker, user: str, client_id: str, durable: bool = False) -> None:
        self.messages: list[tuple[str, bytes, bool, float]] = []  # topic, payload, retain, t
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._filters: list[str] = []
        # MQTT 5, as the box speaks: PUBACKs carry the broker's reason (ACL refusals).
        c = self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5
        )
        c.username_pw_set(user, password(user))
        c.reconnect_delay_set(0.2, 1)
        c.on_connect = self._on_connect
        c.on_publish = self._on_publish
        self.refused: dict[int, str] = {}  # mid -> reason (MQTT 5 PUBACK reason codes)
        c.on_message = self._message
        props = Properties(PacketTypes.CONNECT)
        if durable:  # the session (and what is queued for it) outlives a disconnect
            props.SessionExpiryInterval = 3600
        c.connect("127.0.0.1", broker.port, keepalive=30, clean_start=not durable,
                  properties=props)  # fmt: skip
        c.loop_start()
        if not self._connected.wait(10):
            raise RuntimeError("test client could not connect to mosquitto")

    def _on_connect(self, client, *_args) -> None:
        for f in self._filters:  # again after a reconnect
            client.subscribe(f, qos=1)
        self._connected.set()

    def _on_publish(self, _c, _u, mid, reason_code, _props) -> None:
        if reason_code.is_failure:
            self.refused[mid] = str(reason_code)

    def _message(self, _c, _u, msg) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain), time.time()))

    def subscribe(self, topic_filter: str) -> Listener:
        self._filters.append(topic_filter)
        result, mid = self.client.subscribe(topic_filter, qos=1)
        assert result == paho.MQTT_ERR_SUCCESS
        time.sleep(0.2)  # the SUBACK (and the retained messages) come back on paho's thread
        return self

    def publish(self, topic: str, payload: bytes | str, retain: bool = False) -> str | None:
        """Publish at QoS 1; the broker's refusal (e.g. "Not authorized"), or None."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(5)
        return self.refused.get(info.mid)

    def got(self, prefix: str = "") -> list[tuple[str, bytes, bool, float]]:
        with self._lock:
            return [m for m in self.messages if m[0].startswith(prefix)]

    def wait_for(self, predicate, timeout: float = 10.0):
        """The first collected message (topic, payload, retain, t) matching ``predicate``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in self.got():
                if predicate(m):
                    return m
            time.sleep(0.02)
        raise AssertionError(f"no matching MQTT message within {timeout}s; got {self.got()[-10:]}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
