"""The calibration page's server side (engineers): floor marks clicked on the
camera's frame, their positions in metres typed in; the fit, its reprojection
error per mark, the camera's metre zones on the floor plan and on the image;
and saving the calibration into safetyd.toml.

The file is edited with tomlkit, which keeps its comments and layout; the
edited configuration is loaded in full (zones included) before it replaces the
old one, atomically, with the previous version kept and an audit line; then
the ordinary reload takes it.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import tomlkit
from pydantic import ValidationError

from ..assembly.load import LoadedConfig
from ..assembly.load import load as load_config
from ..base.problems import InvalidConfig
from ..config.model import Calibration
from ..vision.calibration import FloorMap, degenerate_reason, floor_map_of
from .editor import atomic_write, audit

Points = list[tuple[float, float]]


def fit(image_points: Points, floor_points: Points) -> dict:
    """The fit's verdict: errors, or per-mark error (m) and the RMS."""
    try:
        cal = Calibration(image_points=image_points, floor_points=floor_points)
    except ValidationError as exc:
        return {"ok": False, "errors": [e["msg"].removeprefix("Value error, ") for e in
                                        exc.errors()]}  # fmt: skip
    reason = degenerate_reason(image_points, floor_points)
    if reason:
        return {"ok": False, "errors": [reason]}
    fm = floor_map_of(cal)
    projected = fm.floor(np.asarray(image_points, np.float64))
    errors = np.linalg.norm(projected - np.asarray(floor_points, np.float64), axis=1)
    return {
        "ok": True,
        "errors": [],
        "per_point_m": [round(float(e), 3) for e in errors],
        "rms_m": round(float(np.sqrt(np.mean(errors**2))), 3),
    }


def plan(loaded: LoadedConfig, camera: str) -> list[dict]:
    """The camera's zones in metres (floor plan polygons)."""
    out = []
    for z in loaded.zones.get(camera, ()):
        if z.units != "metres":
            continue
        for g in getattr(z.geometry, "geoms", [z.geometry]):
            out.append({"id": z.id, "points": [list(map(float, p)) for p in g.exterior.coords]})
    return out


def preview(frame: np.ndarray | None, loaded: LoadedConfig, camera: str, fm: FloorMap) -> bytes:
    """The frame with the metre zones drawn through this fit (and the pixel zones)."""
    from ..drawing.render import draw_zones

    cam = loaded.config.camera(camera)
    if frame is None:
        frame = np.full((cam.height or 360, cam.width or 640, 3), 90, np.uint8)
    image = frame.copy()
    draw_zones(image, loaded.zones.get(camera, ()), fm)
    ok, data = cv2.imencode(".png", image)
    return data.tobytes() if ok else b""


def save(
    loaded: LoadedConfig,
    camera: str,
    image_points: Points,
    floor_points: Points,
    user: str,
    audit_path: Path,
    reload,
) -> tuple[bool, list[str], str]:
    verdict = fit(image_points, floor_points)
    if not verdict["ok"]:
        return False, verdict["errors"], "not saved: the marks do not define the floor"
    path = loaded.path
    before = path.read_text(encoding="utf-8")
    doc = tomlkit.parse(before)
    table = next((c for c in doc.get("cameras", []) if c.get("id") == camera), None)
    if table is None:
        return False, [f"camera {camera!r} is not a [[cameras]] table of {path}"], "not saved"
    cal = tomlkit.table()
    cal["image_points"] = [[round(x, 1), round(y, 1)] for x, y in image_points]
    cal["floor_points"] = [[round(x, 3), round(y, 3)] for x, y in floor_points]
    table["calibration"] = cal
    text = tomlkit.dumps(doc)
    # The whole configuration as the daemon will load it, before it is written.
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".toml", delete=False,
                                     prefix=".calibration-", encoding="utf-8") as f:  # fmt: skip
        f.write(text)
        draft = Path(f.name)
    try:
        load_config(draft)
    except InvalidConfig as exc:
        return False, [str(p).replace(str(draft), str(path)) for p in exc.errors], "not saved"
    finally:
        draft.unlink(missing_ok=True)
    try:
        atomic_write(path.with_name(path.name + ".previous"), before)
        atomic_write(path, text)
    except OSError as exc:
        return False, [], f"cannot write {path}: {exc.strerror or exc}"
    ok, why = reload()
    entry = {
        "wall": round(time.time(), 3), "user": user, "action": "calibration.save",
        "camera": camera, "file": str(path), "points": len(image_points),
        "rms_m": verdict["rms_m"], "reload": "applied" if ok else f"refused: {why}",
    }  # fmt: skip
    audit(audit_path, entry)
    if not ok:
        return True, [], f"saved, but the reload was refused ({why})"
    return True, [], f"saved and reloaded: reprojection error {verdict['rms_m']} m (RMS)"
