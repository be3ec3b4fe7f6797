"""What the skeleton tells besides hazard distances: falls, a man down, posture
exposure (``[body]``, overridden per camera by ``[cameras.body]`` and per area
by the area's properties in its zone file).

They apply inside *areas*: zone-file Features with ``"kind": "area"``. A camera
with no area watches nobody's body (a fall detector that looks everywhere would
run the pose model on the whole picture all the time: an area says where it is
worth the cost)."""

from __future__ import annotations

from pydantic import Field

from .types import Base

FALL = "raise a 'fall' incident when a person goes from upright to lying within about a second"
MAN_DOWN = "raise a 'man_down' incident when a person lies still for man_down_after_s"
MAN_DOWN_AFTER = "seconds a person lies still before it is a man down"
POSTURE = "measure posture exposure (trunk lean, arms raised, knees bent) for ergonomic review"


class BodySettings(Base):
    """``[body]``: the site's defaults."""

    fall: bool = Field(True, description=FALL)
    man_down: bool = Field(True, description=MAN_DOWN)
    man_down_after_s: float = Field(60.0, ge=5, le=3600, description=MAN_DOWN_AFTER)
    posture: bool = Field(True, description=POSTURE)
    hold_s: float = Field(
        2.0,
        ge=0.5,
        le=60,
        description="a risky posture (trunk beyond 60°, hands above the head, arm beyond 90°, "
        "knee beyond 60°) held this long counts as one risky posture event",
    )


class CameraBody(Base):
    """``[cameras.body]``: this camera's exceptions to ``[body]`` (unset: the site's)."""

    fall: bool | None = Field(None, description=FALL)
    man_down: bool | None = Field(None, description=MAN_DOWN)
    man_down_after_s: float | None = Field(None, ge=5, le=3600, description=MAN_DOWN_AFTER)
    posture: bool | None = Field(None, description=POSTURE)

    def over(self, site: BodySettings) -> BodySettings:
        """The site's settings with this camera's exceptions."""
        return site.model_copy(update=self.model_dump(exclude_none=True))
