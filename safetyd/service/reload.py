"""Reload planning (pure): what a new configuration changes for the running daemon.

Cameras are compared by their ``CameraSettings`` (config/settings.py), the same
value their pipelines are built from: a camera whose ``run`` settings differ is
restarted, one whose ``run`` settings are equal takes the new ``live`` ones
between two frames, a camera no longer enabled is stopped, a new one started.
Settings only a restart can change ([http], the state directory) are named.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..config.load import LoadedConfig
from ..config.settings import CameraSettings


@dataclass(frozen=True)
class ReloadPlan:
    stop: tuple[str, ...]  # cameras removed or disabled
    start: tuple[str, ...]  # cameras added or enabled
    restart: tuple[str, ...]  # run settings changed
    apply: tuple[str, ...]  # live settings swapped in, the camera keeps running
    restart_daemon: tuple[str, ...]  # what only a daemon restart changes


def enabled_settings(loaded: LoadedConfig) -> dict[str, CameraSettings]:
    return {c.id: CameraSettings.of(loaded, c.id) for c in loaded.config.cameras if c.enabled}


def plan_reload(
    running: Mapping[str, CameraSettings], old: LoadedConfig, new: LoadedConfig
) -> tuple[ReloadPlan, dict[str, CameraSettings]]:
    wanted = enabled_settings(new)
    stop = tuple(i for i in running if i not in wanted)
    start = tuple(i for i in wanted if i not in running)
    restart = tuple(i for i in wanted if i in running and running[i].run != wanted[i].run)
    apply = tuple(i for i in wanted if i in running and running[i].run == wanted[i].run)
    daemon = []
    if new.config.http != old.config.http:
        daemon.append("[http]")
    if new.state_dir != old.state_dir:
        daemon.append("storage.state_dir")
    return ReloadPlan(stop, start, restart, apply, tuple(daemon)), wanted
