"""System alarms: a camera gone blind, a database that cannot be written.

Pure watchers: each ``check`` takes the current state and returns typed
``SystemAlert`` values, once per outage and once when it ends; the alert
service turns them into texts and outbox rows (alerts/messages.py). Nothing
here formats a message or touches a sink.

* **Blind cameras**: a camera with armed zones that has delivered no fresh,
  processed frame for its ``stale_after_s`` (a frozen picture counts), or whose
  zones do not fit the size of its picture, is
  ``camera_offline``, to maintenance and to the people who rely on its armed
  zones; ``camera_restored`` when it is back.
* **Storage**: a failing database is ``storage_failed`` to maintenance (the
  alert itself goes out from memory, since the outbox cannot take it);
  ``storage_restored`` when writes succeed again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..base.alerts import AlertKind, SystemAlert
from ..storage.store import StorageStatus
from ..vision.sources import SourceStatus


@dataclass(frozen=True)
class CameraState:
    id: str
    source: SourceStatus
    processed_age_s: float | None  # since the last frame went through the pipeline
    processed_fps: float
    armed: frozenset[str]
    zones: tuple[str, ...]
    stale_after_s: float
    running_s: float  # since the camera was (re)started
    danger_groups: tuple[str, ...] = ()  # of its armed zones: who relies on it
    fault: str | None = None  # its zones do not fit its picture (zones/fit.py), briefly

    @property
    def fresh_age_s(self) -> float | None:
        """How old the newest fresh frame that was also processed is."""
        ages = [self.source.last_fresh_age_s, self.processed_age_s]
        return None if any(a is None for a in ages) else max(a for a in ages if a is not None)

    @property
    def up(self) -> bool:
        age = self.fresh_age_s
        return age is not None and age <= self.stale_after_s and self.fault is None

    @property
    def blind_reason(self) -> str:
        if self.fault:
            return self.fault
        src = self.source
        if (
            not src.connected
            or src.last_frame_age_s is None
            or src.last_frame_age_s > self.stale_after_s
        ):
            return f"no frames ({src.error})" if src.error else "no frames"
        if src.last_fresh_age_s is None or src.last_fresh_age_s > self.stale_after_s:
            return "frozen picture"
        return "frames not processed"


class BlindCameras:
    def __init__(self) -> None:
        self._offline: dict[str, float] = {}  # camera -> wall time it went blind

    def forget(self, camera: str) -> None:
        """A camera stopped on purpose (reload) is not an outage."""
        self._offline.pop(camera, None)

    def offline(self) -> dict[str, float]:
        return dict(self._offline)

    def check(self, cameras: Sequence[CameraState], now: float) -> list[SystemAlert]:
        out = []
        for st in cameras:
            if st.running_s < st.stale_after_s:
                continue  # still starting up
            groups = st.danger_groups  # besides the system recipients
            if st.up:
                since = self._offline.pop(st.id, None)
                if since is not None:
                    out.append(SystemAlert(
                        AlertKind.CAMERA_RESTORED, f"camera_restored:{st.id}:{since:.0f}", "info",
                        now, st.id, groups, {"offline_s": round(now - since, 1)},
                    ))  # fmt: skip
                continue
            if not st.armed or st.id in self._offline:
                continue
            self._offline[st.id] = now
            age = st.fresh_age_s
            stale = age if age is not None else st.running_s
            out.append(SystemAlert(
                AlertKind.CAMERA_OFFLINE, f"camera_offline:{st.id}:{now:.0f}", "danger", now,
                st.id, groups, {"reason": st.blind_reason, "stale_s": round(stale, 1),
                                "armed_zones": sorted(st.armed)},
            ))  # fmt: skip
        return out


class StorageWatch:
    def __init__(self) -> None:
        self._failing_since: float | None = None

    def check(self, status: StorageStatus, now: float) -> list[SystemAlert]:
        if not status.ok and self._failing_since is None and status.since is not None:
            self._failing_since = status.since
            return [SystemAlert(
                AlertKind.STORAGE_FAILED, f"storage_failed:{status.since:.0f}", "danger",
                status.since, facts={"path": status.path, "error": status.error},
            )]  # fmt: skip
        if status.ok and self._failing_since is not None:
            since, self._failing_since = self._failing_since, None
            return [SystemAlert(
                AlertKind.STORAGE_RESTORED, f"storage_restored:{since:.0f}", "info", now,
                facts={"path": status.path, "failed_s": round(now - since, 1)},
            )]  # fmt: skip
        return []
