"""The zone model: a validated hazard zone with its rules, the properties a zone
file may give it (pydantic, unknown keys rejected), and what files are checked
against (cameras, recipient groups, image sizes)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import shapely
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from shapely.geometry.base import BaseGeometry

from ..base import bodyparts
from ..base.problems import suggest
from ..config.alerts import ChainStep, check_chain
from ..config.model import Config
from ..config.types import ID_RE
from . import schedule as schedules


@dataclass(frozen=True)
class Step:
    """One rung of an escalation chain (a zone's rule; hazard/lifecycle.py runs it)."""

    after_s: float  # since the incident reached danger
    groups: tuple[str, ...]

    @classmethod
    def of(cls, step: ChainStep) -> Step:
        return cls(step.after_s, tuple(step.groups))


Units = Literal["pixels", "metres"]


Level = Literal["warning", "danger"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Recipients(_Strict):
    """Recipient group names per alert level."""

    warning: list[str] = Field(default_factory=list, description="groups told about warnings")
    danger: list[str] = Field(default_factory=list, description="groups told about danger")
    escalation: list[str] = Field(
        default_factory=list,
        description="the old one-step chain: groups told when danger stays unacknowledged "
        "longer than escalate_after_s (use escalation_chain)",
    )

    def all_groups(self) -> set[str]:  # the levels' groups (chain steps: ZoneProperties)
        return set(self.warning) | set(self.danger) | set(self.escalation)


class ZoneProperties(_Strict):
    """The ``properties`` of one zone Feature (documented in zones/README.md)."""

    id: str | None = Field(
        None,
        pattern=ID_RE,
        description="unique zone id (letters, digits, '_', '-', '.'); may be the Feature's id",
    )
    name: str | None = Field(None, min_length=1, max_length=60, description="name used in alerts")
    camera: str | None = Field(
        None, description="camera id; default: every camera that lists this file"
    )
    severity: Literal["low", "medium", "high", "critical"] = Field(
        "high", description="how bad contact would be (reported, not used for levels)"
    )
    body_parts: list[str] = Field(
        default_factory=lambda: ["any"],
        min_length=1,
        description="feet, hands, head, torso, any, or MediaPipe landmark names",
    )
    kind: Literal["hazard", "area"] = Field(
        "hazard",
        description="'hazard': a zone people must not reach (warnings, danger); 'area': where "
        "falls, a man down and posture are watched ([body] in the configuration)",
    )
    warn_distance: float | None = Field(
        None,
        ge=0,
        description="distance from the zone that warns, in the file's units",
    )
    warn_ttc_s: float = Field(
        1.5, ge=0, le=30, description="warn when contact is predicted within this many seconds"
    )
    min_frames: int = Field(
        3, ge=1, le=100, description="consecutive frames a level must hold before it alerts"
    )
    cooldown_s: float = Field(
        60.0,
        ge=0,
        le=86400,
        description="warning SMS within this time after the zone's last incident are folded "
        "(the incident still opens, is recorded and shown); danger is never folded",
    )
    escalate_after_s: float | None = Field(
        None, gt=0, description="override of alerts.escalate_after_s for this zone"
    )
    escalation_chain: list[ChainStep] | None = Field(
        None,
        description="who is told while danger stays unacknowledged: steps {after_s, groups}; "
        "default: [alerts] escalation_chain",
    )
    danger_must_ack: bool = Field(
        False,
        description="a danger incident's chain goes on after it clears, until acknowledged",
    )
    armed_when: str | None = Field(
        None,
        description="id of an [[inputs.modbus]] machine state: the zone is armed only while "
        "it reads its value (and while it cannot be read: fail-safe), within its schedule",
    )
    schedule: str | list[str] = Field(
        "always", description="when the zone is armed: 'always' or windows 'mon-fri 06:00-22:00'"
    )
    recipients: Recipients = Field(
        default_factory=Recipients, description="recipient group names per level"
    )
    enabled: bool = Field(True, description="false keeps the zone in the file but never arms it")
    # An area's exceptions to [body] and [cameras.body] (unset: the camera's).
    fall: bool | None = Field(None, description="area: raise 'fall' incidents here")
    man_down: bool | None = Field(
        None, description="area: raise 'man_down' incidents here (false where work is done lying)"
    )
    man_down_after_s: float | None = Field(
        None, ge=5, le=3600, description="area: seconds lying still before it is a man down"
    )
    posture: bool | None = Field(None, description="area: measure posture exposure here")
    posture_notice_after: int | None = Field(
        None,
        ge=1,
        le=10000,
        description="area: risky posture events in one shift after which a low-priority notice "
        "goes to recipients.warning (once per shift; never an SMS alarm)",
    )

    @field_validator("body_parts")
    @classmethod
    def _parts(cls, parts: list[str]) -> list[str]:
        bad = [p for p in parts if p not in bodyparts.VALID_NAMES]
        if bad:
            hint = suggest(bad[0], bodyparts.VALID_NAMES)
            raise ValueError(
                f"unknown body part {bad[0]!r}{hint}; use a group (feet, hands, head, torso, "
                "any) or a MediaPipe landmark name such as 'left_wrist'"
            )
        return parts

    @field_validator("escalation_chain")
    @classmethod
    def _chain(cls, steps: list[ChainStep] | None) -> list[ChainStep] | None:
        return check_chain(steps)

    @model_validator(mode="after")
    def _one_chain(self) -> ZoneProperties:
        if self.escalation_chain is not None and self.recipients.escalation:
            raise ValueError(
                "both escalation_chain and recipients.escalation are set: the chain replaces "
                "recipients.escalation; move those groups into a chain step"
            )
        return self

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | list[str]) -> str | list[str]:
        try:
            schedules.parse(value)
        except schedules.ScheduleError as exc:
            raise ValueError(str(exc)) from None
        return value


AREA_ONLY = ("fall", "man_down", "man_down_after_s", "posture", "posture_notice_after")
HAZARD_ONLY = ("body_parts", "warn_distance", "warn_ttc_s", "min_frames", "cooldown_s",
               "armed_when")  # fmt: skip


@dataclass(frozen=True)
class AreaRules:
    """An area's exceptions to the camera's [body] settings (None: the camera's)."""

    fall: bool | None = None
    man_down: bool | None = None
    man_down_after_s: float | None = None
    posture: bool | None = None
    notice_after: int | None = None


Side = Annotated[int, Field(gt=0, le=16384)]


class FileOptions(_Strict):
    """The file-level ``"safetyd"`` member."""

    units: Units = Field("pixels", description="coordinate units: image pixels or floor metres")
    image_size: tuple[Side, Side] | None = Field(
        None,
        description="[width, height] of the picture the pixel zones were drawn on; when the "
        "camera's picture has another size the zones are scaled to it (and that is logged)",
    )

    @model_validator(mode="after")
    def _pixels_only(self) -> FileOptions:
        if self.image_size is not None and self.units != "pixels":
            raise ValueError(
                "image_size is for zones drawn in pixels; zones in metres follow the "
                "camera's calibration"
            )
        return self


@dataclass(frozen=True, eq=False)
class Zone:
    id: str
    name: str
    camera: str | None
    severity: str
    body_parts: tuple[str, ...]
    landmarks: tuple[int, ...]
    fallback: bodyparts.Fallback
    warn_distance: float
    warn_ttc_s: float
    min_frames: int
    cooldown_s: float
    escalate_after_s: float | None
    schedule: schedules.Schedule
    recipients: Recipients
    enabled: bool
    geometry: BaseGeometry
    units: Units
    file: str
    file_hash: str
    index: int
    drawn_on: tuple[int, int] | None = None  # the file's image_size: scaled to the picture
    escalation_chain: tuple | None = None  # of lifecycle.Step; None: the configured default
    danger_must_ack: bool = False
    armed_when: str | None = None  # an [[inputs.modbus]] id (plant/modbus.py)
    kind: str = "hazard"  # or "area": watched for falls, man down, posture (hazard/body.py)
    rules: AreaRules = AreaRules()  # an area's own [body] exceptions

    @property
    def hazard(self) -> bool:
        return self.kind == "hazard"

    def __post_init__(self) -> None:
        # A prepared geometry makes the per-frame contains_xy calls fast.
        shapely.prepare(self.geometry)

    def recipients_for(self, level: str) -> tuple[str, ...]:
        return tuple(getattr(self.recipients, level, ()))


@dataclass(frozen=True)
class CameraInfo:
    width: int | None
    height: int | None
    calibrated: bool


@dataclass(frozen=True)
class ZoneContext:
    """What zone files are checked against; None fields are not checked."""

    cameras: Mapping[str, CameraInfo] | None = None
    groups: frozenset[str] | None = None
    escalate_after_s: float | None = None  # [alerts], for the migration hint
    inputs: frozenset[str] | None = None  # [[inputs.modbus]] ids

    @classmethod
    def from_config(cls, config: Config) -> ZoneContext:
        return cls(
            cameras={
                c.id: CameraInfo(c.width, c.height, c.calibration is not None)
                for c in config.cameras
            },
            groups=frozenset(config.alerts.groups),
            escalate_after_s=config.alerts.escalate_after_s,
            inputs=frozenset(i.id for i in config.inputs.modbus),
        )


def zone_schema() -> dict[str, Any]:
    """JSON Schema of zone Feature properties (zones/zone-properties.schema.json)."""
    schema = ZoneProperties.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "safetyd zone properties"
    return schema
