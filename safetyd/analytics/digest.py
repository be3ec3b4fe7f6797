"""The weekly digest: a short text for people who never open the console.

Counts against the week before, the zones with the most incidents, dangers
nobody acknowledged, cameras that were blind and for how long, and where the
full report is (``[digest] link``)."""

from __future__ import annotations

from collections.abc import Mapping

from .figures import Figures

TOP_ZONES = 3


def duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes}m"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def weekly_text(
    site: str,
    week: str,
    this: Figures,
    before: Figures,
    blind: Mapping[str, float],
    link: str | None = None,
) -> str:
    """``week``: how the week is named (its last day); ``blind``: seconds per camera."""
    parts = [
        f"safetyd {site}, week to {week}: {this.warnings} warnings ({before.warnings} the "
        f"week before), {this.dangers} dangers ({before.dangers})."
    ]
    if this.zones:
        top = ", ".join(f"{z.zone_name} {z.warnings + z.dangers}" for z in this.zones[:TOP_ZONES])
        parts.append(f"Top zones: {top}.")
    parts.append(f"Unacknowledged dangers: {this.unacknowledged_dangers}.")
    seen = {camera: s for camera, s in sorted(blind.items()) if s >= 60}
    if seen:
        parts.append(
            "Blind cameras: " + ", ".join(f"{c} {duration(s)}" for c, s in seen.items()) + "."
        )
    else:
        parts.append("No camera was blind.")
    if link:
        parts.append(f"Report: {link}")
    return " ".join(parts)
