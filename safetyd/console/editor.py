"""The zone editor's server side (engineers only): check, preview and save a
camera's zone file drawn in the browser.

* **Check**: the edited GeoJSON is checked exactly as the daemon loads it, with
  the configuration's context and the camera's other zone files, and answered
  with the same messages as ``safetyd zones check`` (about the real file name).
* **Preview**: the camera's current frame with the zones, their warn buffers
  and the regions the pose model would look at (``safetyd zones render``).
* **Save**: only a file without errors is written, and "without errors" means
  the *whole configuration* loads with it as the daemon would load it at its
  next start (a zone that an ``[[outputs.modbus]]`` map names cannot be renamed
  away, a camera cannot be left without zones): the editor never leaves a file
  on disk that would stop the daemon. The save names the version of the file
  the engineer started from (its SHA-256, the ``ETag`` of the file's page); a
  save from a version that is no longer on disk (somebody saved in between) is
  refused, so that no change is lost silently. Written atomically (a temporary
  file renamed over it), the previous version kept as ``<file>.previous``, an
  audit line (who, when, what changed) appended, then the daemon's ordinary
  reload takes it, which swaps the zones of that camera only. A reload that is
  still refused puts the previous file back: the old zones stay armed, and the
  file on disk is the one they came from.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..assembly.load import LoadedConfig, parse_config
from ..assembly.load import load as load_config
from ..base.problems import InvalidConfig, Problem, errors
from ..vision.calibration import floor_map_of
from ..zones.load import load_zone_files
from ..zones.model import ZoneContext, zone_schema

MAX_BYTES = 1_000_000


@dataclass(frozen=True)
class Checked:
    problems: list[str]  # as `safetyd zones check` prints them
    ok: bool
    zones: tuple  # the parsed zones when ok


def zone_files(loaded: LoadedConfig, camera: str) -> list[Path]:
    cam = loaded.config.camera(camera)
    return [loaded.resolve(z) for z in cam.zones]


def check(loaded: LoadedConfig, camera: str, index: int, text: str) -> Checked:
    """Check ``text`` as zone file ``index`` of ``camera`` (with its other files)."""
    files = zone_files(loaded, camera)
    target = files[index]
    if len(text.encode()) > MAX_BYTES:
        return Checked([f"{target}: larger than {MAX_BYTES} bytes"], False, ())
    parsed, problems = parse_config(loaded.path)
    context = ZoneContext.from_config(parsed) if parsed is not None else ZoneContext()
    with tempfile.TemporaryDirectory(prefix="safetyd-zones-") as tmp:
        draft = Path(tmp) / target.name
        draft.write_text(text, encoding="utf-8")
        listed = [draft if i == index else f for i, f in enumerate(files)]
        by_camera = {camera: listed}
        # A file other cameras list too is checked against them as well.
        for other in loaded.config.cameras:
            if other.id != camera and any(loaded.resolve(z) == target for z in other.zones):
                by_camera[other.id] = [draft if loaded.resolve(z) == target
                                       else loaded.resolve(z) for z in other.zones]  # fmt: skip
        zones, found = load_zone_files(by_camera, context)
        if not errors(found):
            # The whole configuration with this file, as the daemon would load it.
            try:
                load_config(loaded.path, {target: draft})
            except InvalidConfig as exc:
                found = [*found, *(p for p in exc.errors if p not in found)]
    messages = [_about(p, draft, target) for p in found]
    return Checked(messages, not errors(found), zones.get(camera, ()))


def version(text: str) -> str:
    """What a save names as the file it started from."""
    return hashlib.sha256(text.encode()).hexdigest()


def current(target: Path) -> str:
    return target.read_text(encoding="utf-8") if target.exists() else ""


def _about(problem: Problem, draft: Path, target: Path) -> str:
    """The message as it will read about the real file, not the draft."""
    return str(problem).replace(str(draft), str(target))


def preview(frame: np.ndarray | None, loaded: LoadedConfig, camera: str, zones) -> bytes:
    from ..drawing.render import zone_preview

    cam = loaded.config.camera(camera)
    if frame is None:
        w, h = cam.width or 640, cam.height or 360
        frame = np.full((h, w, 3), 90, np.uint8)
    image = frame.copy()
    floor_map = floor_map_of(cam.calibration) if cam.calibration else None
    zone_preview(image, list(zones), floor_map)
    ok, data = cv2.imencode(".png", image)
    return data.tobytes() if ok else b""


def atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _ids(text: str) -> dict[str, str]:
    """zone id -> a digest of its feature (what changed, for the audit)."""
    try:
        features = json.loads(text).get("features", [])
    except (ValueError, AttributeError):
        return {}
    out = {}
    for f in features if isinstance(features, list) else ():
        if isinstance(f, dict) and isinstance(f.get("properties"), dict):
            zid = str(f["properties"].get("id"))
            out[zid] = hashlib.sha256(json.dumps(f, sort_keys=True).encode()).hexdigest()[:12]
    return out


def audit(path: Path, entry: dict) -> None:
    """One line of the audit log: who changed what, when, and whether it took effect."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")


def save(
    loaded: LoadedConfig,
    camera: str,
    index: int,
    text: str,
    user: str,
    audit_path: Path,
    reload: Callable[[], tuple[bool, str]],
    started_from: str | None = None,
) -> tuple[bool, list[str], str]:
    """(saved?, problems, what happened). Nothing is written when the check fails, or
    when ``started_from`` (a version()) is not the file on disk any more."""
    checked = check(loaded, camera, index, text)
    if not checked.ok:
        return False, checked.problems, "not saved: the zone file has errors"
    target = zone_files(loaded, camera)[index]
    with _saving:
        return _save(target, camera, checked, text, user, audit_path, reload, started_from)


# One save at a time: comparing the version, writing and reloading are one step.
_saving = threading.Lock()


def _save(
    target: Path,
    camera: str,
    checked: Checked,
    text: str,
    user: str,
    audit_path: Path,
    reload: Callable[[], tuple[bool, str]],
    started_from: str | None,
) -> tuple[bool, list[str], str]:
    before = current(target)
    if started_from is None or started_from != version(before):
        return (
            False,
            [],
            "not saved: the zone file changed since this editor loaded it (somebody saved "
            "in between: see the audit log); reload the page and make your change again"
            if started_from is not None
            else "not saved: the request does not say which version of the file it changes",
        )
    try:
        if before:
            atomic_write(target.with_name(target.name + ".previous"), before)
        atomic_write(target, text)
    except OSError as exc:
        return (
            False,
            [],
            (
                f"cannot write {target}: {exc.strerror or exc}; the service must be able to write "
                "its zone files (keep them in the state directory, or grant write access)"
            ),
        )
    old, new = _ids(before), _ids(text)
    entry = {
        "wall": round(time.time(), 3), "user": user, "action": "zones.save",
        "camera": camera, "file": str(target),
        "before_sha256": hashlib.sha256(before.encode()).hexdigest(),
        "after_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "added": sorted(set(new) - set(old)), "removed": sorted(set(old) - set(new)),
        "changed": sorted(z for z in set(old) & set(new) if old[z] != new[z]),
    }  # fmt: skip
    ok, why = reload()
    if ok:
        entry["reload"] = "applied"
        audit(audit_path, entry)
        return True, checked.problems, f"saved and reloaded: {len(checked.zones)} zone(s) armed"
    # Never leave a file the daemon refuses: the previous one goes back.
    try:
        if before:
            atomic_write(target, before)
        else:
            target.unlink(missing_ok=True)
        restored = "the previous file was put back"
    except OSError as exc:
        restored = f"the previous file could NOT be put back ({exc.strerror or exc})"
    entry["reload"] = f"refused: {why}; {restored}"
    audit(audit_path, entry)
    return (
        False,
        checked.problems,
        f"not saved: the daemon refused the reload ({why}); {restored}, and its zones stay armed",
    )


def schema_fields() -> list[dict[str, Any]]:
    """The properties form, from the zone JSON Schema: one field per property, with
    its type, choices, default and description (objects and lists as JSON text)."""
    schema = zone_schema()
    defs = schema.get("$defs", {})
    required = set(schema.get("required", []))
    out = []
    for name, prop in schema.get("properties", {}).items():
        kind, choices = _kind(prop, defs)
        out.append({
            "name": name, "kind": kind, "choices": choices,
            "default": prop.get("default"), "required": name in required,
            "placeholder": "" if prop.get("default") is None else json.dumps(prop["default"]),
            "description": prop.get("description", ""),
        })  # fmt: skip
    return out


def _kind(prop: dict, defs: dict) -> tuple[str, list]:
    options = prop.get("anyOf") or prop.get("oneOf") or [prop]
    types = []
    for o in options:
        if "$ref" in o:
            o = defs.get(o["$ref"].split("/")[-1], {})
        if "enum" in o:
            return "choice", list(o["enum"])
        if "const" in o:
            return "choice", [o["const"]]
        types.append(o.get("type"))
    types = [t for t in types if t and t != "null"]
    if types and all(t in ("number", "integer") for t in types):
        return "number", []
    if types == ["boolean"]:
        return "boolean", []
    if types == ["string"]:
        return "text", []
    return "json", []
