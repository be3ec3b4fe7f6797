"""Do a camera's zones fit the picture it sends?

Pixel zones are drawn on a picture of one size (the camera's ``width`` and
``height`` in safetyd.toml, or the zone file's own ``image_size``), and so are
a calibration's image points. A camera reconfigured to another resolution, or
a stream that changes size, would put every zone in the wrong place while
everything looks healthy. So, per picture size:

* zones whose file declares the size it was drawn on are scaled to the
  picture (said once, in the log);
* otherwise, if the picture differs from the size the camera is configured
  for, the zones cannot be trusted: that is a fault of the camera (it counts as
  blind: alarm, /healthz 503) until the configuration or the stream is fixed;
* with no size known at all there is nothing to compare (check-config says so).

Pure: sizes and zones in, zones and words out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import shapely.affinity

from .model import Zone

Size = tuple[int, int]


@dataclass(frozen=True)
class Fit:
    zones: tuple[Zone, ...]
    scaled: str | None = None  # what was scaled, for the log
    fault: str | None = None  # why the zones cannot be used on this picture, and what to do
    short: str | None = None  # the fault in a few words (an SMS)


def fit_zones(
    zones: tuple[Zone, ...], configured: Size | None, picture: Size, calibrated: bool
) -> Fit:
    declared = [z for z in zones if z.units == "pixels" and z.drawn_on]
    undeclared = [z for z in zones if z.units == "pixels" and not z.drawn_on]
    w, h = picture
    if configured is not None and configured != picture:
        needs_config = [z.id for z in undeclared]
        if calibrated:
            needs_config.append("the calibration")
        if needs_config:
            cw, ch = configured
            return Fit(
                zones,
                fault=(
                    f"the picture is {w}x{h} but the camera is configured as {cw}x{ch}, the "
                    f"size {', '.join(needs_config)} were drawn for: they would be in the wrong "
                    f"place; set width/height to {w}x{h} and redraw them, or declare the size "
                    'in the zone file ("safetyd": {"image_size": '
                    f"[{cw}, {ch}]}}) to have them scaled"
                ),
                short=f"picture {w}x{h}, zones drawn for {cw}x{ch}",
            )
    out, scaled = [], []
    for zone in zones:
        if zone in declared and zone.drawn_on != picture:
            assert zone.drawn_on is not None
            out.append(_scaled(zone, zone.drawn_on, picture))
            scaled.append(zone.id)
        else:
            out.append(zone)
    note = None
    if scaled:
        sizes = sorted({f"{z.drawn_on[0]}x{z.drawn_on[1]}" for z in declared if z.drawn_on})
        note = (
            f"zone(s) {', '.join(scaled)} drawn on {', '.join(sizes)} scaled to the {w}x{h} picture"
        )
    return Fit(tuple(out), scaled=note)


def _scaled(zone: Zone, drawn_on: Size, picture: Size) -> Zone:
    sx, sy = picture[0] / drawn_on[0], picture[1] / drawn_on[1]
    return replace(
        zone,
        geometry=shapely.affinity.scale(zone.geometry, sx, sy, origin=(0, 0)),
        # A distance in pixels grows with the picture (the mean of the two factors:
        # equal unless the aspect ratio changed too).
        warn_distance=zone.warn_distance * (sx + sy) / 2,
        drawn_on=picture,
    )
