"""Names of secrets, never secrets: the configuration names the systemd credential
(or environment variable) that holds one, and refuses what looks like the secret
itself pasted in its place."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

# What a pasted secret looks like: a Twilio auth token or API secret (32 hex), an
# Account or API key SID, or a long run of mixed letters and digits. Names are words.
SECRET_SHAPES = (
    re.compile(r"^[0-9a-fA-F]{32}$"),
    re.compile(r"^(AC|SK)[0-9a-fA-F]{32}$"),
    re.compile(r"^(?=.*[0-9])(?=.*[a-z])(?=.*[A-Z])[A-Za-z0-9]{20,}$"),
)


def _not_a_secret(value: str) -> str:
    if any(shape.match(value) for shape in SECRET_SHAPES):
        # Never quote the value: it is probably the secret, and messages get logged.
        raise ValueError(
            "this looks like the secret itself, not the name of the credential that holds "
            "it; put the secret in a systemd credential (LoadCredential=) or an environment "
            "variable and give its name here, e.g. 'twilio-auth-token' (and rotate the "
            "secret if this file was shared)"
        )
    return value


CredentialName = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9_.-]{1,128}$",
        description="the name of a systemd credential or environment variable (not the secret)",
    ),
    AfterValidator(_not_a_secret),
]
