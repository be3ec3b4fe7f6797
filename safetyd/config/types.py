"""What every table of the configuration is made of: the strict base model (unknown
keys refused, frozen, no NaN), identifiers, phone numbers."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

E164_RE = re.compile(r"^\+[1-9][0-9]{6,14}$")


def _e164(value: str) -> str:
    if not E164_RE.match(value):
        raise ValueError(
            f"{value!r} is not an E.164 phone number: write '+', the country code and the "
            "number, digits only, e.g. '+4915112345678'"
        )
    return value


E164 = Annotated[str, AfterValidator(_e164), Field(description="a phone number in E.164 form")]


ID_RE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


Ident = Annotated[
    str,
    Field(pattern=ID_RE, description="letters, digits, '_', '-' or '.', at most 64 characters"),
]


class Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
