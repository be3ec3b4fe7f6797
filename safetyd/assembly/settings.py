"""What each camera runs with: THE mapping from the configuration to the runtime.

``CameraSettings.of(loaded, camera_id)`` is built here and nowhere else. It is
the camera pipeline's and runner's only input, and it is the reload key:

* ``run`` — what a running camera cannot change without restarting (its
  source, the pose model and its settings, tracking, motion gating,
  snapshots, face blurring, where it keeps what it learned);
* ``live`` — what is swapped in between two frames (zones, calibration, the
  hazard and incident rules, the site's time zone for schedules, the [body]
  rules of falls, man down and posture).

A reload restarts a camera when its ``run`` part differs and swaps its
``live`` part otherwise, so what the pipeline reads and what a reload
compares cannot drift apart (``escalate_after_s`` once was read by the
pipeline and missing from the reload's hand-written list of keys).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config.body import BodySettings, CameraBody
from ..config.model import (
    Camera,
    ClipSettings,
    HazardSettings,
    MotionGating,
    PoseSettings,
    TrackingSettings,
)
from ..vision.calibration import FloorMap, floor_map_of
from ..vision.sources import kind_of
from ..zones.model import Zone
from .load import LoadedConfig


@dataclass(frozen=True)
class ClipRecording:
    """How a camera records its incident clips (``[clips]``; retention is the jobs')."""

    pre_roll_s: float
    post_roll_s: float
    max_s: float
    width: int
    blur_faces: bool

    @classmethod
    def of(cls, clips: ClipSettings) -> ClipRecording | None:
        if not clips.enabled:
            return None
        return cls(clips.pre_roll_s, clips.post_roll_s, clips.max_s, clips.width, clips.blur_faces)


@dataclass(frozen=True)
class RunSettings:
    """Changing any of these restarts the camera (a new reader and new models)."""

    camera: Camera  # with its zone files, calibration and body rules left out (they are live)
    source: str  # a file path resolved against the configuration's directory
    pose: PoseSettings
    model_path: Path | None
    motion: MotionGating
    tracking: TrackingSettings
    blur_faces: bool
    snapshots_dir: Path | None
    sizes_path: Path
    clips: ClipRecording | None  # None: no clips


@dataclass(frozen=True, eq=False)
class LiveSettings:
    """Swapped into a running camera between two frames."""

    zones: tuple[Zone, ...]
    floor_map: FloorMap | None
    hazards: HazardSettings
    timezone: str
    body: BodySettings = BodySettings()  # [body] with this camera's exceptions (areas: theirs)


@dataclass(frozen=True, eq=False)
class CameraSettings:
    run: RunSettings
    live: LiveSettings

    @property
    def id(self) -> str:
        return self.run.camera.id

    @classmethod
    def of(cls, loaded: LoadedConfig, camera_id: str) -> CameraSettings:
        c = loaded.config
        cam = c.camera(camera_id)
        state = loaded.state_dir
        cal = cam.calibration
        return cls(
            run=RunSettings(
                camera=cam.model_copy(
                    update={"zones": [], "calibration": None, "body": CameraBody()}
                ),
                source=str(loaded.resolve(cam.source)) if _is_path(cam.source) else cam.source,
                pose=c.pose,
                model_path=loaded.resolve(c.pose.model) if c.pose.model else None,
                motion=c.motion,
                tracking=c.tracking,
                blur_faces=c.privacy.blur_faces,
                snapshots_dir=state / "snapshots" if c.storage.snapshots else None,
                sizes_path=state / "sizes" / f"{cam.id}.json",
                clips=ClipRecording.of(c.clips),
            ),
            live=LiveSettings(
                zones=tuple(loaded.zones.get(camera_id, ())),
                floor_map=floor_map_of(cal) if cal else None,
                hazards=c.hazards,
                timezone=c.site.timezone,
                body=cam.body.over(c.body),
            ),
        )


def _is_path(source: str) -> bool:
    return kind_of(source) == "file" and not source.startswith("file://")


# Where every configuration key takes effect: "run" (a camera restarts), "live"
# (swapped into running cameras), "alerts" (the alert service is reconfigured),
# "jobs" (timed jobs are rescheduled or read it when they run), "plant" (the plant
# I/O is restarted with it), "restart" (the daemon must be restarted; a reload
# says so). tests/test_settings.py walks the
# configuration model and fails on any key missing here.
CONSUMERS: dict[str, str] = {
    "site.name": "alerts",
    "site.timezone": "live",
    "cameras.id": "run",
    "cameras.source": "run",
    "cameras.fps": "run",
    "cameras.width": "run",
    "cameras.height": "run",
    "cameras.stale_after_s": "run",
    "cameras.loop": "run",
    "cameras.enabled": "run",
    "cameras.regions": "run",
    "cameras.password_credential": "run",
    "cameras.zones": "live",
    "cameras.calibration": "live",
    "cameras.body": "live",
    "body": "live",
    "pose": "run",
    "motion": "run",
    "tracking": "run",
    "hazards": "live",
    "alerts": "alerts",
    "storage.state_dir": "restart",
    "storage.retention_days": "jobs",
    "storage.snapshots": "run",
    "clips.enabled": "run",
    "clips.pre_roll_s": "run",
    "clips.post_roll_s": "run",
    "clips.max_s": "run",
    "clips.width": "run",
    "clips.blur_faces": "run",
    "clips.retention_days": "jobs",
    "clips.max_gb": "jobs",
    "clips.warn_at": "jobs",
    "http": "restart",
    "privacy.blur_faces": "run",
    "digest": "jobs",
    "analytics": "jobs",
    "outputs": "plant",
    "inputs": "plant",
    "mqtt": "restart",
    "console": "restart",
}


def consumer(key: str) -> str | None:
    """The consumer of a dotted key (list indices dropped): the longest entry that is
    the key or a prefix of it."""
    parts = key.split(".")
    for n in range(len(parts), 0, -1):
        found = CONSUMERS.get(".".join(parts[:n]))
        if found:
            return found
    return None
