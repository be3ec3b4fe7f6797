"""Reload planning (pure): what a new configuration changes for the running daemon.

Cameras are compared by their ``CameraSettings`` (config/settings.py), the same
value their pipelines are built from: a camera whose ``run`` settings differ is
restarted, one whose ``run`` settings are equal takes the new ``live`` ones
between two frames, a camera no longer enabled is stopped, a new one started.
Settings only a restart can change ([http], [console], [mqtt], the state
directory) are kept as they are, and each changed key is named.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import BaseModel

from ..assembly.load import LoadedConfig
from ..assembly.settings import CameraSettings


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
    daemon = [
        *changed_keys("http", old.config.http, new.config.http),
        *changed_keys("console", old.config.console, new.config.console),
        *changed_keys("mqtt", old.config.mqtt, new.config.mqtt),
    ]
    if new.state_dir != old.state_dir:
        daemon.append("storage.state_dir")
    return ReloadPlan(stop, start, restart, apply, tuple(daemon)), wanted


# Sections whose servers and connections are made once, at start: a reload keeps
# them as they are, and names each key that changed.
RESTART_SECTIONS = ("http", "console", "mqtt")


def changed_keys(section: str, old: BaseModel | None, new: BaseModel | None) -> list[str]:
    """The keys of a restart-only section that differ, as ``[section] key`` (or the
    section added or removed)."""
    if old == new:
        return []
    if old is None:
        return [f"[{section}] (added)"]
    if new is None:
        return [f"[{section}] (removed)"]
    a, b = old.model_dump(), new.model_dump()
    return [f"[{section}] {k}" for k in a if a[k] != b.get(k)]
