"""What a reload changes in a section made once at start (pure)."""

from __future__ import annotations

from pydantic import BaseModel


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
