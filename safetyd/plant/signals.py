"""What the plant's outputs should show (pure): states of zones and cameras → the
value of every mapped coil and register.

The states, by priority (the highest of a signal's sources wins):

    danger > system_fault > camera_offline > warning > clear

Danger outranks everything: a hand in the press is shown even while another
camera is down. A blind camera outranks a warning because a warning proves the
camera sees, while an offline one cannot say whether anyone is there.
``stopped`` is not a state of the floor: it is what outputs show once safetyd
has stopped (its own values, written at shutdown).

A *signal* is one mapped address: a coil that is on while any of its sources is
in its state (one coil per lamp of a stack light), or a register that holds the
value of its sources' merged state (one register per andon).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..config.plantio import STATES

PRIORITY = {s: i for i, s in enumerate(STATES)}


def merge(states: Iterable[str]) -> str:
    """The state a signal shows for several sources: the highest priority."""
    return max(states, key=PRIORITY.__getitem__, default="clear")


@dataclass(frozen=True)
class Signal:
    """One mapped address. Sources: zone ids and camera ids (a camera's own state is
    camera_offline or clear; its zones are listed by zone id)."""

    kind: str  # "coil" or "register"
    address: int
    zones: tuple[str, ...] = ()
    cameras: tuple[str, ...] = ()
    system: bool = False  # shows system_fault
    state: str | None = None  # a coil: on while the merged state is this one
    values: Mapping[str, int] = field(default_factory=dict)  # a register: value per state
    stopped: int = 0  # what it shows once safetyd has stopped


@dataclass(frozen=True)
class FloorState:
    """What is known now: each zone's level (clear when no incident is open), each
    camera's health, and whether the system itself has a fault."""

    zones: Mapping[str, str] = field(default_factory=dict)  # zone id -> clear|warning|danger
    cameras_offline: frozenset[str] = frozenset()
    zone_cameras: Mapping[str, str] = field(default_factory=dict)  # zone id -> its camera
    system_fault: bool = False


def signal_state(sig: Signal, floor: FloorState) -> str:
    """The merged state of a signal's sources. A zone whose camera is offline shows
    camera_offline (its level is unknown, not clear)."""
    states = []
    for zone in sig.zones:
        if floor.zone_cameras.get(zone) in floor.cameras_offline:
            states.append("camera_offline")
        states.append(floor.zones.get(zone, "clear"))
    states += ["camera_offline" if c in floor.cameras_offline else "clear" for c in sig.cameras]
    if sig.system and floor.system_fault:
        states.append("system_fault")
    return merge(states)


def value_of(sig: Signal, floor: FloorState) -> int:
    """The value the signal's address should hold (coil: 0 or 1)."""
    state = signal_state(sig, floor)
    if sig.kind == "coil":
        return int(state == sig.state)
    return int(sig.values.get(state, sig.values.get("clear", 0)))


def desired(signals: Iterable[Signal], floor: FloorState) -> dict[tuple[str, int], int]:
    """Every mapped address and its value now. Two signals on one address: the
    higher value wins (a coil is on if any signal turns it on)."""
    out: dict[tuple[str, int], int] = {}
    for sig in signals:
        key = (sig.kind, sig.address)
        out[key] = max(out.get(key, 0), value_of(sig, floor))
    return out


def stopped(signals: Iterable[Signal]) -> dict[tuple[str, int], int]:
    """What the outputs show once safetyd has stopped."""
    out: dict[tuple[str, int], int] = {}
    for sig in signals:
        key = (sig.kind, sig.address)
        out[key] = max(out.get(key, 0), sig.stopped)
    return out
