"""Outputs and alert channels added in a folder of their own, registered here.

An output (OPC UA, a second PLC protocol, a dashboard feed) is shown each frame's
zone levels; a sink (Slack, a pager) delivers alert messages. Each lives in its
own folder under safetyd/extensions/ with the schema of its configuration table,
and is named once, by one line below. From that line alone the configuration
loader accepts and checks its table (``[opcua]``, ``[alerts.slack]``; unknown keys
are named like everywhere else), the daemon starts, reloads and stops an output,
and alert delivery builds and routes to a sink listed in ``[alerts] sinks``.

This package sits below the configuration loader (docs/ARCHITECTURE.md), so an
extension may import abc, base, config, zones and vision, and nothing above: an
output is handed what it shows (abc.ZoneView), a sink what it sends (base.alerts).
The outputs and sinks that predate this registry (plant I/O, MQTT, SMS, webhook,
the log) have schemas of their own in config/.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ..abc import RunningOutput, Sink


@dataclass(frozen=True)
class OutputKind:
    """An output: its top-level table, the table's schema, how it starts."""

    section: str  # its table in safetyd.toml: "opcua" for [opcua]
    settings: type[BaseModel]  # the table's schema (config.types.Base: unknown keys refused)
    start: Callable[[Any], RunningOutput]  # from its validated settings; started, never blocks


@dataclass(frozen=True)
class SinkKind:
    """An alert channel: its name in ``[alerts] sinks``, its table's schema, its sink."""

    name: str  # "slack": listed in [alerts] sinks, configured in [alerts.slack]
    settings: type[BaseModel]  # the [alerts.<name>] table's schema
    build: Callable[[Any], Sink]  # from its validated settings; send() is thread-safe

    @property
    def section(self) -> str:
        return f"alerts.{self.name}"


# The registration lines: one per extension.
OUTPUTS: tuple[OutputKind, ...] = ()
SINKS: tuple[SinkKind, ...] = ()
