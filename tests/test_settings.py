"""One mapping from the configuration to the runtime (assembly/settings.py), checked
key by key over the configuration model itself: a key added to the model and
forgotten in the mapping fails here.

For every key that reaches a camera, a config differing only in that key must
restart the camera ("run": its run settings differ) or be swapped in live
("live": run settings equal, live settings differ); every other key must leave
the camera's settings alone and be declared for its consumer.
"""

from __future__ import annotations

import copy
import tomllib
import types
import typing
from pathlib import Path

import pytest
from conftest import BASE_TOML, write_config, zone_collection, zone_feature
from pydantic import BaseModel

from safetyd.assembly.load import load
from safetyd.assembly.settings import CONSUMERS, CameraSettings, consumer
from safetyd.config.model import Config
from safetyd.service.reload import plan_reload

# The suite's usual configuration, with a site (its time zone is a live setting).
BASE = '[site]\nname = "Plant"\ntimezone = "UTC"\n' + BASE_TOML


def _models_in(annotation) -> list[type[BaseModel]]:
    args = typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if typing.get_origin(annotation) in (list, typing.Union, types.UnionType):
        return [m for a in args for m in _models_in(a)]
    return []


def leaf_keys(model: type[BaseModel] = Config, prefix: str = "") -> list[str]:
    """Every leaf of the configuration model as a dotted key (list items unnamed)."""
    keys = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        nested = _models_in(field.annotation)
        if nested and typing.get_origin(field.annotation) is not dict:
            keys += [k for m in nested for k in leaf_keys(m, key + ".")]
        else:
            keys.append(key)
    return sorted(set(keys))


def test_every_configuration_key_has_a_consumer() -> None:
    missing = [k for k in leaf_keys() if consumer(k) is None]
    assert missing == [], f"add these keys to safetyd.assembly.settings.CONSUMERS: {missing}"
    # ...and nothing is declared that the model does not have.
    stale = [k for k in CONSUMERS if not any(leaf == k or leaf.startswith(k + ".")
                                             for leaf in leaf_keys())]  # fmt: skip
    assert stale == []


# A valid other value for every key that reaches a camera (key: TOML table path, value).
CAMERA_CHANGES: dict[str, object] = {
    "site.timezone": "Europe/Berlin",
    "cameras.source": "rtsp://127.0.0.1:8554/other",
    "cameras.fps": 5.0,
    "cameras.width": 1280,
    "cameras.height": 720,
    "cameras.stale_after_s": 9.0,
    "cameras.loop": True,
    "cameras.regions": "full",
    "cameras.zones": ["other.geojson"],
    "cameras.calibration.image_points": [[0, 360], [640, 360], [600, 100], [40, 100]],
    "cameras.calibration.floor_points": [[0, 0], [8, 0], [8, 12], [0, 12]],
    "pose.model": "model.task",
    "pose.num_poses": 2,
    "pose.min_detection_confidence": 0.6,
    "pose.min_presence_confidence": 0.6,
    "pose.min_tracking_confidence": 0.6,
    "pose.visibility_threshold": 0.6,
    "pose.context_every_s": 5.0,
    "pose.plausibility.min_height_frac": 0.1,
    "pose.plausibility.max_aspect": 3.0,
    "pose.plausibility.min_visible_landmarks": 9,
    "pose.plausibility.min_mean_visibility": 0.6,
    "motion.enabled": False,
    "motion.min_changed_frac": 0.01,
    "motion.max_skip_s": 2.0,
    "tracking.confirm_hits": 4,
    "tracking.max_lost_s": 3.0,
    "tracking.max_cost": 0.7,
    "tracking.position_gain": 0.5,
    "tracking.velocity_gain": 0.3,
    "body.fall": False,
    "body.man_down": False,
    "body.man_down_after_s": 30.0,
    "body.posture": False,
    "body.hold_s": 4.0,
    "cameras.body.fall": False,
    "cameras.body.man_down": False,
    "cameras.body.man_down_after_s": 30.0,
    "cameras.body.posture": False,
    "hazards.clear_margin": 0.5,
    "hazards.clear_frames": 7,
    "hazards.handover_s": 3.0,
    "hazards.max_ttc_speed": 500.0,
    "storage.snapshots": False,
    "privacy.blur_faces": True,
    "clips.enabled": False,
    "clips.pre_roll_s": 2.0,
    "clips.post_roll_s": 8.0,
    "clips.max_s": 60.0,
    "clips.width": 960,
    "clips.blur_faces": False,
}
CAMERA_KEYS_SKIPPED = {
    "cameras.id": "a new id is a new camera: started and stopped, not changed",
    "cameras.enabled": "a disabled camera is stopped (tested in the reload plan below)",
    "cameras.password_credential": "needs a source with a user in it; the password is read "
    "at every open of the stream (test_daemon: the camera password from a credential)",
}


def _changed(data: dict, key: str, value: object) -> dict:
    data = copy.deepcopy(data)
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        node = node["cameras"][0] if part == "cameras" else node.setdefault(part, {})
    node[parts[-1]] = value
    return data


def _load(tmp: Path, data: dict, name: str):
    (tmp / "model.task").write_bytes(b"")
    (tmp / "other.geojson").write_text((tmp / "zones.geojson").read_text())
    path = tmp / name
    path.write_text(_toml(data))
    return load(path)


def _toml(data: dict, prefix: str = "") -> str:
    """Enough of a TOML writer for these configurations."""
    import json

    scalars, tables = [], []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for item in value:
                tables.append(("[" + key + "]", item))
        else:
            scalars.append(f"{key} = {json.dumps(value)}")
    out = "\n".join(scalars) + "\n"
    for key, value in tables:
        name = key.strip("[]")
        full = f"{prefix}{name}"
        header = f"[[{full}]]" if key.startswith("[") else f"[{full}]"
        out += f"\n{header}\n" + _toml(value, full + ".")
    return out


@pytest.fixture
def base(tmp_path: Path):
    write_config(
        tmp_path, BASE, zone_collection(zone_feature(recipients={"danger": ["operators"]}))
    )
    data = tomllib.loads(BASE)
    old = _load(tmp_path, data, "old.toml")
    return tmp_path, data, old


@pytest.mark.parametrize("key", sorted(set(leaf_keys()) - set(CAMERA_KEYS_SKIPPED)))
def test_a_changed_key_restarts_swaps_or_leaves_the_camera_as_declared(base, key: str) -> None:
    tmp, data, old = base
    kind = consumer(key)
    if kind not in ("run", "live"):
        assert key not in CAMERA_CHANGES
        return  # not the camera's (its consumers have their own tests)
    assert key in CAMERA_CHANGES, f"give {key} a changed value in CAMERA_CHANGES"
    changed = _changed(data, key, CAMERA_CHANGES[key])
    if key.startswith("cameras.calibration."):  # the pair only makes sense together
        other = "floor_points" if key.endswith("image_points") else "image_points"
        changed = _changed(changed, f"cameras.calibration.{other}",
                           CAMERA_CHANGES[f"cameras.calibration.{other}"])  # fmt: skip
    new = _load(tmp, changed, "new.toml")
    before, after = CameraSettings.of(old, "cam1"), CameraSettings.of(new, "cam1")
    plan, _ = plan_reload({"cam1": before}, old, new)
    if kind == "run":
        assert before.run != after.run
        assert plan.restart == ("cam1",) and plan.apply == ()
    else:
        assert before.run == after.run
        assert plan.apply == ("cam1",) and plan.restart == ()
        assert _live(before) != _live(after)


def _live(s: CameraSettings) -> tuple:
    live = s.live
    zones = tuple((z.id, z.file) for z in live.zones)
    floor = None if live.floor_map is None else live.floor_map.to_floor.tobytes()
    return (zones, floor, live.hazards, live.timezone, live.body)


def test_disabling_and_adding_cameras_stop_and_start_them(base) -> None:
    tmp, data, old = base
    second = copy.deepcopy(data["cameras"][0]) | {"id": "cam2"}
    both = copy.deepcopy(data) | {"cameras": [data["cameras"][0], second]}
    new = _load(tmp, both, "new.toml")
    plan, wanted = plan_reload({"cam1": CameraSettings.of(old, "cam1")}, old, new)
    assert (plan.start, plan.stop, plan.apply) == (("cam2",), (), ("cam1",))
    off = copy.deepcopy(data)
    off["cameras"][0]["enabled"] = False
    plan, _ = plan_reload({"cam1": CameraSettings.of(old, "cam1")}, old, _load(tmp, off, "o.toml"))
    assert plan.stop == ("cam1",) and plan.start == ()
    http = _load(tmp, _changed(data, "http.port", 9999), "h.toml")
    plan, _ = plan_reload({"cam1": CameraSettings.of(old, "cam1")}, old, http)
    assert plan.apply == ("cam1",)  # the cameras keep running; the http part names its key


def test_a_server_part_names_its_changed_keys_and_keeps_them() -> None:
    """[http] and [console] are made once at start: a reload keeps them, and the part
    that owns each says which of its keys changed (the daemon logs them together)."""
    from safetyd.assembly.changes import changed_keys
    from safetyd.config.model import HttpSettings
    from safetyd.service.parts import ServerPart

    class Old:
        config = type("C", (), {"http": HttpSettings()})()

    class New:
        config = type("C", (), {"http": HttpSettings(port=9999, enabled=False)})()

    class Alive:
        alive, stopped = True, False

        def stop(self) -> None:
            self.stopped = True

    part = ServerPart("http", Alive(), "http")
    reloaded = part.reload(Old(), New())  # type: ignore[arg-type]
    assert reloaded.what == "unchanged"
    assert set(reloaded.restart_keys) == {"[http] port", "[http] enabled"}
    assert part.reload(Old(), Old()).restart_keys == ()  # type: ignore[arg-type]
    assert changed_keys("mqtt", None, HttpSettings()) == ["[mqtt] (added)"]
