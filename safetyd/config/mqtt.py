"""The ``[mqtt]`` section of safetyd.toml: the plant's broker, where events, live
state and commands go (safetyd/mqtt/). Secrets (user name, password) come from
systemd credentials, never from the file; TLS files are paths."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .secrets import CredentialName

# One topic level we write: no wildcards, no separators, no leading '$' (reserved).
LEVEL_RE = r"^[A-Za-z0-9_.-]{1,64}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Broker(_Strict):
    """Where a URL points (parsed once, by the validator)."""

    host: str
    port: int
    tls: bool


def parse_url(url: str) -> Broker:
    """``mqtt://host[:port]`` (1883) or ``mqtts://host[:port]`` (8883, TLS)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ValueError(
            f"{url!r}: use mqtt://host:1883, or mqtts://host:8883 for TLS "
            f"(not {parts.scheme + '://' if parts.scheme else 'a bare host'})"
        )
    if parts.username or parts.password:
        raise ValueError(
            "put no user name or password in the URL (it gets logged); name their systemd "
            "credentials in username_credential and password_credential"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{url!r}: a broker URL is scheme://host:port, nothing after it")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{url!r}: the port is not a number from 1 to 65535") from None
    if not parts.hostname:
        raise ValueError(f"{url!r} names no host")
    tls = parts.scheme == "mqtts"
    return Broker(host=parts.hostname, port=port or (8883 if tls else 1883), tls=tls)


class FleetSettings(_Strict):
    enabled: bool = Field(
        False,
        description="watch every box under the prefix (retained state): the status page "
        "shows the fleet, and a box that goes offline raises a system alarm",
    )
    alarm_groups: list[str] = Field(
        default_factory=list,
        description="groups told when a box goes offline, besides the system recipients",
    )


class MqttSettings(_Strict):
    url: str = Field(description="the broker: mqtt://host:1883 or mqtts://host:8883")
    username_credential: CredentialName | None = Field(
        None, description="credential holding the broker user name"
    )
    password_credential: CredentialName | None = Field(
        None, description="credential holding the broker password"
    )
    client_id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_.:-]{1,64}$",
        description="MQTT client id (default: safetyd-<box>); unique on the broker",
    )
    box: str | None = Field(
        None, pattern=LEVEL_RE, description="this box's name in topics (default: the host name)"
    )
    prefix: str = Field(
        "safetyd",
        description="first topic levels, e.g. 'safetyd' or 'plant7/safety'; topics are "
        "<prefix>/<site>/<box>/…",
    )
    qos: Literal[1, 2] = Field(
        1, description="QoS of events and state (1: at least once, acknowledged by PUBACK)"
    )
    keepalive_s: int = Field(
        30,
        ge=2,
        le=3600,
        description="seconds between pings; the broker publishes the box's Last Will "
        "('offline') about 1.5 times this long after the box goes silent",
    )
    publish_timeout_s: float = Field(
        5.0, gt=0, le=120, description="how long an event waits for the broker's PUBACK"
    )
    state_every_s: float = Field(
        10.0,
        ge=1,
        le=3600,
        description="how often the box republishes its status (fps, last seen); changes "
        "of level or online state go out at once",
    )
    ca_file: str | None = Field(
        None, description="CA certificate(s) of the broker (mqtts; default: the system's)"
    )
    cert_file: str | None = Field(None, description="client certificate (mqtts)")
    key_file: str | None = Field(None, description="client certificate's key (mqtts)")
    discovery: bool = Field(False, description="publish Home Assistant MQTT discovery")
    discovery_prefix: str = Field(
        "homeassistant", pattern=LEVEL_RE, description="Home Assistant's discovery prefix"
    )
    fleet: FleetSettings = Field(default_factory=FleetSettings)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parse_url(value)
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        levels = value.split("/")
        bad = [lv for lv in levels if not re.match(LEVEL_RE, lv)]
        if bad or len(levels) > 4:
            raise ValueError(
                f"{value!r} is not a topic prefix: 1 to 4 levels separated by '/', each of "
                "letters, digits, '_', '-' or '.' (no '+', '#', '$' or empty levels)"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> MqttSettings:
        if self.password_credential is not None and self.username_credential is None:
            raise ValueError("password_credential needs username_credential")
        tls = parse_url(self.url).tls
        if not tls and any((self.ca_file, self.cert_file, self.key_file)):
            raise ValueError(
                "ca_file, cert_file and key_file are for TLS: use an mqtts:// URL, or remove them"
            )
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("a client certificate needs both cert_file and key_file")
        return self

    @property
    def broker(self) -> Broker:
        return parse_url(self.url)
