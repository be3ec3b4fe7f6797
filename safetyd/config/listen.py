"""An address to listen on, for the endpoints that serve HTTP ([http], [console])."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import AfterValidator


def _ip(value: str) -> str:
    ipaddress.ip_address(value)  # ValueError names the bad address
    return value


BindAddress = Annotated[str, AfterValidator(_ip)]


def is_loopback(bind: str) -> bool:
    return ipaddress.ip_address(bind).is_loopback
