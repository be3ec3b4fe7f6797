"""Secrets come from systemd credentials or the environment, never from safetyd.toml.

A credential named ``twilio-auth-token`` is read from
``$CREDENTIALS_DIRECTORY/twilio-auth-token`` (systemd ``LoadCredential=``),
else from the environment variable ``TWILIO_AUTH_TOKEN``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


class CredentialMissing(RuntimeError):
    def __init__(self, message: str, *, empty: bool = False) -> None:
        super().__init__(message)
        self.empty = empty  # the file exists but holds nothing


def env_name(name: str) -> str:
    return name.upper().replace("-", "_").replace(".", "_")


def read_credential(name: str, environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    directory = environ.get("CREDENTIALS_DIRECTORY")
    empty: Path | None = None
    if directory:
        path = Path(directory) / name
        try:
            value = path.read_text(encoding="utf-8").strip() if path.is_file() else ""
        except OSError as exc:
            raise CredentialMissing(f"cannot read credential {name!r}: {exc.strerror}") from None
        if value:
            return value
        if path.is_file():
            empty = path
    value = environ.get(env_name(name), "").strip()
    if value:
        return value
    if empty is not None:
        # Not the same mistake as a missing file: the unit passed a file, it is empty.
        raise CredentialMissing(
            f"credential {name!r} is empty (the file systemd passed in, from "
            f"LoadCredential={name}:…, has no content): write the secret into "
            f"/etc/safetyd/credentials/{name}",
            empty=True,
        )
    raise CredentialMissing(
        f"credential {name!r} not found: add 'LoadCredential={name}:/etc/safetyd/credentials/"
        f"{name}' to the service, or set the environment variable {env_name(name)}"
    )
