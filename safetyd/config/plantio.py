"""The plant I/O sections of safetyd.toml: ``[[outputs.modbus]]`` (stack lights,
andons, PLC inputs driven by the floor's state) and ``[[inputs.modbus]]``
(machine states that arm zones). Validated like the rest: unknown keys are
errors and each message names the exact problem."""

from __future__ import annotations

import warnings
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# What an output can show, lowest priority first (plant/signals.py merges by it).
STATES = ("clear", "warning", "camera_offline", "system_fault", "danger")

# "register" is the word the Modbus world uses; as a field it shadows ABCMeta.register
# on the model class, which nothing here calls. Say nothing about it.
warnings.filterwarnings("ignore", message='Field name "register" in ', category=UserWarning)

Address = Annotated[int, Field(ge=0, le=65535, description="Modbus address (0-based)")]
Word = Annotated[int, Field(ge=0, le=65535, description="a 16-bit register value")]
Host = Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:\-\[\]]+$")]
ID_RE = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class _Device(_Strict):
    id: str = Field(pattern=ID_RE, description="a name for logs, alarms and metrics")
    host: Host = Field(description="the Modbus TCP server (tower, I/O module, PLC)")
    port: int = Field(502, ge=1, le=65535)
    unit: int = Field(1, ge=0, le=255, description="unit (device) id")
    timeout_s: float = Field(0.5, gt=0, le=10, description="per request")
    alarm_after_s: float = Field(
        30.0, ge=0, le=3600, description="unreachable this long raises a system alarm"
    )


class Heartbeat(_Strict):
    """A coil that toggles, or a register that counts, while safetyd is healthy."""

    coil: Address | None = None
    register: Address | None = None
    every_s: float = Field(1.0, ge=0.1, le=60, description="how often it advances")

    @model_validator(mode="after")
    def _one(self) -> Heartbeat:
        if (self.coil is None) == (self.register is None):
            raise ValueError("a heartbeat is either a coil (toggles) or a register (counts)")
        return self


class OutputMap(_Strict):
    """One mapped address and what drives it."""

    coil: Address | None = Field(None, description="on while the sources' state is `state`")
    register: Address | None = Field(None, description="holds `values` of the sources' state")
    state: Literal["clear", "warning", "danger", "camera_offline", "system_fault"] | None = None
    values: dict[str, Word] | None = Field(
        None, description="register value per state (clear, warning, danger, ...)"
    )
    zones: list[str] = Field(default_factory=list, description="zone ids whose level it shows")
    cameras: list[str] = Field(default_factory=list, description="camera ids: offline or not")
    system: bool = Field(False, description="also shows system_fault (storage, delivery)")
    stopped: Word = Field(0, description="what it shows once safetyd has stopped")

    @model_validator(mode="after")
    def _shape(self) -> OutputMap:
        if (self.coil is None) == (self.register is None):
            raise ValueError("each map entry drives either a coil or a register")
        if self.coil is not None:
            if self.state is None:
                raise ValueError(
                    f'coil {self.coil}: say which state turns it on (state = "danger", ...)'
                )
            if self.values is not None:
                raise ValueError(f"coil {self.coil}: values are for registers; use state")
            if self.stopped > 1:
                raise ValueError(f"coil {self.coil}: stopped is 0 or 1")
        else:
            if not self.values:
                raise ValueError(
                    f"register {self.register}: give values per state, e.g. values = "
                    "{ clear = 1, warning = 2, danger = 3, camera_offline = 4 }"
                )
            unknown = sorted(set(self.values) - set(STATES))
            if unknown:
                raise ValueError(
                    f"register {self.register}: unknown state(s) {unknown} in values; states: "
                    f"{', '.join(STATES)}"
                )
            if self.state is not None:
                raise ValueError(f"register {self.register}: state is for coils; use values")
        if not (self.zones or self.cameras or self.system):
            raise ValueError("nothing drives this entry: give zones, cameras or system = true")
        return self


class ModbusOutput(_Device):
    reassert_s: float = Field(
        5.0, ge=0.5, le=600, description="every output is written again this often"
    )
    heartbeat: Heartbeat | None = None
    map: list[OutputMap] = Field(min_length=1, description="[[outputs.modbus.map]] entries")

    @model_validator(mode="after")
    def _addresses(self) -> ModbusOutput:
        if self.heartbeat is not None:
            hb = ("coil", self.heartbeat.coil) if self.heartbeat.coil is not None else (
                "register", self.heartbeat.register)  # fmt: skip
            for m in self.map:
                if (m.coil is not None and hb == ("coil", m.coil)) or (
                    m.register is not None and hb == ("register", m.register)
                ):
                    raise ValueError(
                        f"the heartbeat's {hb[0]} {hb[1]} is also mapped to a state; give it "
                        "an address of its own"
                    )
        return self


class ModbusInput(_Device):
    """A machine state read from the plant: zones name it in ``armed_when``."""

    discrete_input: Address | None = None
    coil: Address | None = None
    register: Address | None = Field(None, description="a holding register")
    input_register: Address | None = None
    equals: Word = Field(1, description="the zone is armed while the input reads this")
    disarmed_values: tuple[Word, ...] | None = Field(
        None,
        max_length=64,
        description="the readings that mean the machine is stopped (its zones may disarm); "
        "any reading other than equals or these is out of range and treated as unreadable: "
        "zones stay armed, and an alarm follows. Default: the other bit for a coil or "
        "discrete input, 0 for a register",
    )
    disarm_after_s: float = Field(
        2.0,
        ge=0,
        le=600,
        description="zones disarm only after the input has read stopped this long without a "
        "break (arming is at once)",
    )
    flapping_changes: int = Field(
        6,
        ge=2,
        le=1000,
        description="this many changes within 60 s is a flapping input: its zones stay "
        "armed and an alarm is raised until it has been steady for 60 s",
    )
    poll_hz: float = Field(5.0, gt=0, le=50, description="reads per second")
    alarm_after_s: float = Field(
        5.0,
        ge=0,
        le=3600,
        description="unreadable (or out of range, or flapping) this long raises a system alarm",
    )

    @model_validator(mode="after")
    def _one(self) -> ModbusInput:
        given = [k for k in ("discrete_input", "coil", "register", "input_register")
                 if getattr(self, k) is not None]  # fmt: skip
        if len(given) != 1:
            raise ValueError(
                "give exactly one of discrete_input, coil, register, input_register"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if given[0] in ("discrete_input", "coil") and self.equals > 1:
            raise ValueError(f"a {given[0]} reads 0 or 1; equals = {self.equals} never matches")
        if self.disarmed_values is not None and self.equals in self.disarmed_values:
            raise ValueError(
                f"equals = {self.equals} is also in disarmed_values: a reading cannot mean both "
                "running and stopped"
            )
        if self.disarmed_values is None and given[0].endswith("register") and self.equals == 0:
            raise ValueError(
                "equals = 0 on a register: say which readings mean stopped "
                "(disarmed_values = [...])"
            )
        return self

    @property
    def stopped_values(self) -> frozenset[int]:
        """The readings that mean stopped (disarmed_values, or its default)."""
        if self.disarmed_values is not None:
            return frozenset(self.disarmed_values)
        if self.kind in ("discrete_input", "coil"):
            return frozenset({1 - self.equals})
        return frozenset({0})

    @property
    def kind(self) -> str:
        for k in ("discrete_input", "coil", "register", "input_register"):
            if getattr(self, k) is not None:
                return k
        raise AssertionError("validated")

    @property
    def address(self) -> int:
        return int(getattr(self, self.kind))


class Outputs(_Strict):
    modbus: list[ModbusOutput] = Field(default_factory=list)


class Inputs(_Strict):
    modbus: list[ModbusInput] = Field(default_factory=list)
