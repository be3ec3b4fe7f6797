"""The daemon configuration, ``safetyd.toml``, as pydantic models.

Every model forbids unknown keys and every field says what it is and what
range is allowed, so a typo is reported instead of silently ignored. Relative
paths (zone files, model, state dir) are resolved against the directory that
holds the configuration file (``load.py``)."""

from __future__ import annotations

import re
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)

from .alerts import AlertSettings
from .body import BodySettings, CameraBody
from .console import ConsoleSettings
from .listen import BindAddress, is_loopback
from .mqtt import MqttSettings
from .plantio import Inputs, Outputs
from .secrets import CredentialName
from .types import Base, Ident


def _regions(value: object) -> object:
    """'auto', 'full', or [[x0, y0, x1, y1], ...] in frame pixels (one message for all
    the ways it can be wrong, not one per union branch)."""
    if isinstance(value, str):
        if value not in ("auto", "full"):
            raise ValueError(
                f"{value!r} is not a region mode; use 'auto', 'full' or a list of "
                "[x0, y0, x1, y1] pixel boxes"
            )
        return value
    if not isinstance(value, list) or not value:
        raise ValueError("use 'auto', 'full' or a non-empty list of [x0, y0, x1, y1] pixel boxes")
    boxes = []
    for i, box in enumerate(value):
        ok = isinstance(box, list | tuple) and len(box) == 4
        nums = ok and all(isinstance(v, int | float) and not isinstance(v, bool) for v in box)
        if not nums:
            raise ValueError(f"box {i + 1} ({box!r}) is not four numbers [x0, y0, x1, y1]")
        x0, y0, x1, y1 = (float(v) for v in box)
        if min(x0, y0) < 0 or x1 - x0 < 16 or y1 - y0 < 16:
            raise ValueError(
                f"box {i + 1} {list(box)} is not [x0, y0, x1, y1] with 0 <= x0, 0 <= y0, "
                "x1 > x0 and y1 > y0, at least 16 px each way"
            )
        boxes.append((x0, y0, x1, y1))
    return boxes


Regions = Annotated[
    Literal["auto", "full"] | list[tuple[float, float, float, float]],
    BeforeValidator(_regions),
]


class Calibration(Base):
    """Image-to-floor homography from at least four measured point pairs."""

    image_points: list[tuple[float, float]] = Field(
        min_length=4, description="at least 4 [x, y] pixel positions of floor marks"
    )
    floor_points: list[tuple[float, float]] = Field(
        min_length=4, description="the same marks' [x, y] floor positions in metres"
    )

    @model_validator(mode="after")
    def _pairs(self) -> Calibration:
        if len(self.image_points) != len(self.floor_points):
            raise ValueError(
                f"{len(self.image_points)} image_points but {len(self.floor_points)} "
                "floor_points; they are pairs and must have the same length"
            )
        # Whether the pairs fit one floor (a homography) is checked where the
        # configuration is assembled (assembly/load.py): the schema does no geometry.
        return self


class Camera(Base):
    id: Ident = Field(description="camera id, used in zone files, alerts and metrics")
    source: str = Field(
        min_length=1,
        description=(
            "rtsp:// or http(s):// URL, a video file path, a device (/dev/video0) or a "
            "device index ('0')"
        ),
    )
    fps: float = Field(10.0, gt=0, le=120, description="frames per second processed, at most")
    width: int | None = Field(None, gt=0, le=16384, description="frame width in pixels (hint)")
    height: int | None = Field(None, gt=0, le=16384, description="frame height in pixels (hint)")
    zones: list[str] = Field(default_factory=list, description="GeoJSON zone files for this camera")
    calibration: Calibration | None = Field(
        None, description="image-to-floor calibration, needed for zones in metres"
    )
    stale_after_s: float = Field(
        5.0, gt=0, le=3600, description="seconds without a fresh frame before the camera is offline"
    )
    loop: bool = Field(False, description="restart a video file at its end (demos)")
    enabled: bool = Field(True, description="false keeps the camera configured but not opened")
    password_credential: CredentialName | None = Field(
        None,
        description="credential holding the stream's password, put into the URL when it is "
        "opened (write the user in source: rtsp://USER@host/...)",
    )
    regions: Regions = Field(
        "auto",
        description=(
            "where the pose model looks: 'auto' (around the armed zones, sized for the "
            "people there), 'full' (the whole frame), or pixel boxes [[x0, y0, x1, y1], ...]"
        ),
    )
    body: CameraBody = Field(
        default_factory=CameraBody, description="this camera's exceptions to [body]"
    )

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        if "://" in value:
            scheme = value.split("://", 1)[0].lower()
            if scheme not in ("rtsp", "rtsps", "http", "https", "file"):
                raise ValueError(
                    f"URL scheme {scheme!r} is not supported; use rtsp://, http(s)://, a file "
                    "path, /dev/videoN or a device index"
                )
        return value

    @property
    def url_userinfo(self) -> str | None:
        """The ``user[:password]`` part of a stream URL, if any."""
        if "://" not in self.source:
            return None
        authority = self.source.split("://", 1)[1].split("/", 1)[0]
        return authority.rsplit("@", 1)[0] if "@" in authority else None

    @model_validator(mode="after")
    def _password(self) -> Camera:
        if self.password_credential is None:
            return self
        info = self.url_userinfo
        if info is None:
            raise ValueError(
                "password_credential needs a stream URL with the user in it, e.g. "
                "source = 'rtsp://USER@192.0.2.10/stream'"
            )
        if ":" in info:
            # Never quote the URL: it holds the password this key is meant to hide.
            raise ValueError(
                "source already carries a password and password_credential names another; "
                "take the password out of the URL (rtsp://USER@host/...)"
            )
        return self


class Plausibility(Base):
    """What a detection must look like to count as a person (rejects "people" on machinery)."""

    min_height_frac: float = Field(
        0.08,
        ge=0,
        le=1,
        description="smallest person box height as a fraction of the height of the picture "
        "the model was given (the frame, or the region it looked at)",
    )
    max_aspect: float = Field(
        2.5, gt=0, le=20, description="largest box width/height ratio (bending over is wide)"
    )
    min_visible_landmarks: int = Field(
        8, ge=1, le=33, description="landmarks that must be visible in a detection"
    )
    min_mean_visibility: float = Field(
        0.5,
        ge=0,
        le=1,
        description="smallest mean visibility of a detection's upper-body landmarks (head, "
        "arms, hips: legs hidden behind a machine do not count against it)",
    )


class PoseSettings(Base):
    model: str | None = Field(
        None, description="path to an official pose_landmarker_*.task; default: the bundled one"
    )
    num_poses: int = Field(4, ge=1, le=16, description="most people detected per frame")
    min_detection_confidence: float = Field(0.5, ge=0, le=1, description="detector threshold")
    min_presence_confidence: float = Field(0.5, ge=0, le=1, description="presence threshold")
    min_tracking_confidence: float = Field(0.5, ge=0, le=1, description="tracking threshold")
    visibility_threshold: float = Field(
        0.5, ge=0, le=1, description="landmark visibility at which a body part counts as seen"
    )
    context_every_s: float = Field(
        2.0,
        ge=0,
        le=60,
        description="when the model looks at regions, also look at the whole frame this "
        "often (people outside the regions, sizes to learn from); 0: never",
    )
    plausibility: Plausibility = Field(default_factory=Plausibility)


class MotionGating(Base):
    """Skip inference on frames where nothing moves and nobody is tracked."""

    enabled: bool = Field(True, description="skip pose inference on still, empty scenes")
    min_changed_frac: float = Field(
        0.002, ge=0, le=1, description="fraction of changed pixels that counts as motion"
    )
    max_skip_s: float = Field(
        1.0, gt=0, le=60, description="infer at least this often even when nothing moves"
    )


class TrackingSettings(Base):
    confirm_hits: int = Field(3, ge=1, le=30, description="detections before a track is confirmed")
    max_lost_s: float = Field(
        2.0,
        gt=0,
        le=30,
        description="seconds a track survives unseen (the model missing someone for a while)",
    )
    max_cost: float = Field(
        0.8, gt=0, le=1, description="largest assignment cost (0 same pose, 1 unrelated)"
    )
    position_gain: float = Field(0.6, gt=0, le=1, description="filter gain on positions (alpha)")
    velocity_gain: float = Field(0.2, gt=0, le=1, description="filter gain on velocities (beta)")


class HazardSettings(Base):
    clear_margin: float = Field(
        0.25,
        ge=0,
        le=5,
        description="hysteresis: a warning clears beyond warn_distance × (1 + clear_margin)",
    )
    clear_frames: int = Field(5, ge=1, le=300, description="clear frames before an incident ends")
    handover_s: float = Field(
        2.0, ge=0, le=60, description="seconds a new track id can inherit a lost track's incident"
    )
    max_ttc_speed: float = Field(
        0.0,
        ge=0,
        description="ignore closing speeds above this for time-to-contact (0: no limit)",
    )


class StorageSettings(Base):
    state_dir: str = Field("/var/lib/safetyd", description="database and snapshots directory")
    retention_days: int = Field(90, ge=1, le=3650, description="days events and snapshots are kept")
    snapshots: bool = Field(True, description="save a JPEG per opened/escalated incident")


class ClipSettings(Base):
    """A short video per incident, for review: from ``pre_roll_s`` before it opened to
    ``post_roll_s`` after it (and every incident that joined it) cleared."""

    enabled: bool = Field(True, description="keep a video clip of each incident")
    pre_roll_s: float = Field(5.0, ge=0, le=30, description="seconds kept before the opening")
    post_roll_s: float = Field(5.0, ge=0, le=60, description="seconds kept after the clearing")
    max_s: float = Field(30.0, ge=5, le=600, description="a clip ends at this length")
    width: int = Field(640, ge=160, le=1920, description="clip width in pixels (height follows)")
    blur_faces: bool = Field(
        True, description="pixelate every person's head in clips (independent of [privacy])"
    )
    retention_days: int = Field(30, ge=1, le=3650, description="days a clip is kept")
    max_gb: float = Field(
        5.0, gt=0, le=10_000, description="disk the clips may use; the oldest go first beyond it"
    )
    warn_at: float = Field(
        0.8, ge=0.1, le=1.0, description="warn when clips use this share of max_gb"
    )


class HttpSettings(Base):
    enabled: bool = Field(True, description="serve /metrics, /healthz and the status page")
    bind: BindAddress = Field(
        "127.0.0.1", description="IP address to listen on (IPv4 or IPv6, e.g. 127.0.0.1 or ::1)"
    )
    port: int = Field(9470, ge=0, le=65535, description="TCP port (0: any free port)")
    allow_unauthenticated: bool = Field(
        False,
        description="allow a non-loopback bind although the endpoint has no login "
        "(it serves live camera frames of workers)",
    )

    @property
    def loopback(self) -> bool:
        return is_loopback(self.bind)

    @model_validator(mode="after")
    def _exposed(self) -> HttpSettings:
        if self.enabled and not self.loopback and not self.allow_unauthenticated:
            raise ValueError(
                f"bind = {self.bind!r} would serve live camera frames of workers and incident "
                "data to anyone who can reach this machine, without a login; keep bind = "
                "'127.0.0.1' (and put an authenticating reverse proxy in front), or set "
                "allow_unauthenticated = true to accept that"
            )
        return self


class SiteSettings(Base):
    name: str = Field("factory", min_length=1, max_length=40, description="site name in messages")
    timezone: str = Field("UTC", description="IANA time zone of zone schedules and messages")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name like 'Europe/Berlin'"
            ) from None
        return value


class PrivacySettings(Base):
    blur_faces: bool = Field(False, description="blur faces in snapshots and the status page")


class DigestSettings(Base):
    enabled: bool = Field(False, description="send a summary to the recipients")
    every: Literal["day", "week"] = Field(
        "day",
        description="day: per-zone counts of the last 24 hours; week: the week against the "
        "week before, top zones, unacknowledged dangers, blind cameras",
    )
    weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = Field(
        "mon", description="the weekly digest's day (site time)"
    )
    time: str = Field(
        "07:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="local time HH:MM"
    )
    recipients: list[str] = Field(default_factory=list, description="groups that get the digest")
    link: str | None = Field(
        None,
        pattern=r"^https?://\S+$",
        max_length=200,
        description="the console's address as people reach it (e.g. https://safety.plant.example"
        "), for a link to the analytics page in the weekly digest",
    )


class ShiftSettings(Base):
    name: str = Field(min_length=1, max_length=20, description="shift name in figures")
    start: str = Field(
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="local start time HH:MM"
    )


def _default_shifts() -> list[ShiftSettings]:
    return [
        ShiftSettings(name="early", start="06:00"),
        ShiftSettings(name="late", start="14:00"),
        ShiftSettings(name="night", start="22:00"),
    ]


class AnalyticsSettings(Base):
    shifts: list[ShiftSettings] = Field(
        default_factory=_default_shifts,
        min_length=1,
        max_length=8,
        description="shifts by their local start times; each runs until the next starts",
    )

    @model_validator(mode="after")
    def _distinct(self) -> AnalyticsSettings:
        for what, values in (("name", [s.name for s in self.shifts]),
                             ("start", [s.start for s in self.shifts])):  # fmt: skip
            twice = sorted({v for v in values if values.count(v) > 1})
            if twice:
                raise ValueError(f"analytics.shifts: {what} {twice} used twice")
        return self


class Config(Base):
    site: SiteSettings = Field(default_factory=SiteSettings)
    cameras: list[Camera] = Field(min_length=1, description="at least one [[cameras]] table")
    pose: PoseSettings = Field(default_factory=PoseSettings)
    motion: MotionGating = Field(default_factory=MotionGating)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    hazards: HazardSettings = Field(default_factory=HazardSettings)
    body: BodySettings = Field(
        default_factory=BodySettings, description="falls, man down and posture, in areas"
    )
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    clips: ClipSettings = Field(default_factory=ClipSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    digest: DigestSettings = Field(default_factory=DigestSettings)
    analytics: AnalyticsSettings = Field(default_factory=AnalyticsSettings)
    outputs: Outputs = Field(default_factory=Outputs, description="[[outputs.modbus]] devices")
    inputs: Inputs = Field(default_factory=Inputs, description="[[inputs.modbus]] machine states")
    mqtt: MqttSettings | None = Field(None, description="the plant's MQTT broker")
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)

    @model_validator(mode="after")
    def _unique_cameras(self) -> Config:
        seen: set[str] = set()
        for cam in self.cameras:
            if cam.id in seen:
                raise ValueError(f"camera id {cam.id!r} is used twice; ids must be unique")
            seen.add(cam.id)
        unknown = [g for g in self.digest.recipients if g not in self.alerts.groups]
        if unknown:
            raise ValueError(f"digest.recipients names unknown group(s) {unknown}")
        if (self.console.tls_cert_credential is None) != (self.console.tls_key_credential is None):
            raise ValueError("console TLS needs both tls_cert_credential and tls_key_credential")
        if "mqtt" in self.alerts.sinks and self.mqtt is None:
            raise ValueError("alerts.sinks include 'mqtt' but there is no [mqtt] section")
        if self.mqtt is not None:
            unknown = [g for g in self.mqtt.fleet.alarm_groups if g not in self.alerts.groups]
            if unknown:
                raise ValueError(f"mqtt.fleet.alarm_groups names unknown group(s) {unknown}")
            deadline = self.alerts.delivery.send_deadline_s
            if self.mqtt.publish_timeout_s > deadline:
                raise ValueError(
                    f"[mqtt] publish_timeout_s ({self.mqtt.publish_timeout_s:g}) is longer than "
                    f"[alerts.delivery] send_deadline_s ({deadline:g}); lower it"
                )
        ids = [d.id for d in (*self.outputs.modbus, *self.inputs.modbus)]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"modbus device/input id(s) {twice} used twice; ids must be unique")
        cameras = {c.id for c in self.cameras}
        for o in self.outputs.modbus:
            for m in o.map:
                unknown = [c for c in m.cameras if c not in cameras]
                if unknown:
                    raise ValueError(
                        f"outputs.modbus {o.id!r}: map names unknown camera(s) {unknown}; "
                        f"cameras: {', '.join(sorted(cameras))}"
                    )
        return self

    def camera(self, camera_id: str) -> Camera:
        for cam in self.cameras:
            if cam.id == camera_id:
                return cam
        raise KeyError(camera_id)


def is_device(source: str) -> bool:
    return source.isdigit() or bool(re.match(r"^/dev/video[0-9]+$", source))
