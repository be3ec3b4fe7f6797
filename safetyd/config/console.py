"""The ``[console]`` section of safetyd.toml: the operator console (login, live
view, history, acknowledge). It has its own port; /metrics and /healthz stay on
[http], cheap and without login."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from .listen import BindAddress, is_loopback
from .secrets import CredentialName


class ConsoleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    enabled: bool = Field(False, description="serve the operator console")
    bind: BindAddress = Field("127.0.0.1", description="IP address to listen on")
    port: int = Field(9471, ge=0, le=65535, description="TCP port (0: any free port)")
    users_file: str | None = Field(
        None,
        description="user names, roles and password hashes (safetyd user add); default: "
        "users.json in the state directory, which the service user owns",
    )
    session_hours: float = Field(12.0, gt=0, le=168, description="a login lasts this long")
    max_failed_logins: int = Field(
        5, ge=1, le=100, description="failed logins (per user and per address) before lockout"
    )
    lockout_s: float = Field(300.0, ge=1, le=86400, description="how long a lockout lasts")
    tls_cert_credential: CredentialName | None = Field(
        None, description="credential holding the TLS certificate (PEM) for https"
    )
    tls_key_credential: CredentialName | None = Field(
        None, description="credential holding the TLS key (PEM)"
    )
    secure_cookies: bool = Field(
        False,
        description="mark cookies Secure (https only); on by itself with built-in TLS, set it "
        "behind a TLS reverse proxy",
    )
    trusted_proxies: tuple[BindAddress, ...] = Field(
        (),
        max_length=16,
        description="addresses of reverse proxies whose X-Forwarded-For / X-Forwarded-Proto "
        "are believed (the client's address for the per-address login limit); from anyone "
        "else those headers are ignored. Empty (default): believed from nobody",
    )

    @property
    def loopback(self) -> bool:
        return is_loopback(self.bind)

    @property
    def tls(self) -> bool:
        return self.tls_cert_credential is not None
