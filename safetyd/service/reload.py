"""Reload planning (pure): what a new configuration changes for the running daemon.

Cameras are compared by their ``CameraSettings`` (assembly/settings.py), the same
value their pipelines are built from: a camera whose ``run`` settings differ is
restarted, one whose ``run`` settings are equal takes the new ``live`` ones
between two frames, a camera no longer enabled is stopped, a new one started.
Settings only a restart can change ([http], [console], [mqtt], the state
directory) are kept as they are, and each changed key is named by the part that
keeps it (assembly/changes.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..assembly.load import LoadedConfig
from ..assembly.settings import CameraSettings


@dataclass(frozen=True)
class ReloadPlan:
    stop: tuple[str, ...]  # cameras removed or disabled
    start: tuple[str, ...]  # cameras added or enabled
    restart: tuple[str, ...]  # run settings changed
    apply: tuple[str, ...]  # live settings swapped in, the camera keeps running


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
    return ReloadPlan(stop, start, restart, apply), wanted
