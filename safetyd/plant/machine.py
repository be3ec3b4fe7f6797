"""What a machine-state input says about arming (pure: readings and times in).

A zone that names an input in ``armed_when`` may disarm only on a reading that is
*trusted* to mean "stopped". The round-2 attack toggled the input every 0.4 s:
each drop disarmed the zone at once and closed live danger incidents. So:

* **Arm at once, disarm late**: the input must read a stopped value for
  ``disarm_after_s`` without a break before its zones disarm.
* **Out of range is unreadable**: a reading that is neither ``equals`` nor a
  stopped value (a register holding 37) says nothing trustworthy: zones stay armed
  (fail-safe) and the input is faulty, which the plant's alarm reports.
* **Flapping is a fault**: ``flapping_changes`` changes within ``FLAP_WINDOW_S``
  make the input flapping: zones stay armed and it is faulty until it has been
  steady for a whole window.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

FLAP_WINDOW_S = 60.0


@dataclass
class MachineInput:
    equals: int
    stopped: frozenset[int]
    disarm_after_s: float
    flapping_changes: int
    value: int | None = None  # the last reading (None: unreadable)
    fault: str | None = None  # why the reading is not trusted now (None: trusted)
    flapping: bool = False
    _kind: str = "unknown"  # running | stopped | unknown (unreadable or out of range)
    _stopped_since: float | None = None
    _changes: deque[float] = field(default_factory=deque)

    def read(self, value: int | None, now: float) -> None:
        """One poll: ``value`` None when the device could not be read (monotonic
        ``now``)."""
        self.value = value
        if value is None:
            kind = "unknown"
        elif value == self.equals:
            kind = "running"
        elif value in self.stopped:
            kind = "stopped"
        else:
            kind = "unknown"
        if kind != self._kind and {kind, self._kind} == {"running", "stopped"}:
            self._changes.append(now)
        while self._changes and self._changes[0] < now - FLAP_WINDOW_S:
            self._changes.popleft()
        if len(self._changes) >= self.flapping_changes:
            self.flapping = True
        elif self.flapping and not self._changes:
            self.flapping = False  # steady for a whole window
        if kind == "stopped" and self._kind != "stopped":
            self._stopped_since = now
        elif kind != "stopped":
            self._stopped_since = None
        self._kind = kind
        if self.flapping:
            self.fault = (
                f"flapping: {len(self._changes)} changes between running and stopped within "
                f"{FLAP_WINDOW_S:.0f} s"
            )
        elif value is not None and kind == "unknown":
            self.fault = (
                f"reads {value}, out of range: neither running ({self.equals}) nor stopped "
                f"({', '.join(str(v) for v in sorted(self.stopped))})"
            )
        else:
            self.fault = None

    def allows(self, now: float) -> bool:
        """Whether zones naming this input may be armed: unless it has read stopped
        for disarm_after_s without a break and is not flapping."""
        return not (
            self._kind == "stopped"
            and not self.flapping
            and self._stopped_since is not None
            and now - self._stopped_since >= self.disarm_after_s
        )
