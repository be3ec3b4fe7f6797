"""Loading ``safetyd.toml``: parse and validate it, then every zone file it names.

Pure: reads files, never opens a camera or touches running state; a reload
validates the new configuration completely before anything changes.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ValidationError

from .. import extensions
from ..base.problems import InvalidConfig, Problem, errors, suggest
from ..config.alerts import EXTENSION_SINKS
from ..config.model import Config
from ..config.pydantic_problems import problems_from
from ..vision.calibration import degenerate_reason
from ..zones.load import load_zone_files
from ..zones.model import Zone, ZoneContext


@dataclass(frozen=True)
class LoadedConfig:
    """A validated configuration with its zones, ready to run."""

    path: Path
    config: Config
    zones: dict[str, tuple[Zone, ...]]  # camera id -> its zones
    warnings: tuple[Problem, ...] = field(default=())
    # The tables of safetyd/extensions/' outputs and sinks that the file has, by their
    # section ("opcua", "alerts.slack"), each validated against its own schema.
    sections: Mapping[str, BaseModel] = field(default_factory=dict)

    def resolve(self, value: str) -> Path:
        return resolve_path(self.path, value)

    @property
    def users_path(self) -> Path:
        """The console's users file (default: in the state directory)."""
        named = self.config.console.users_file
        return self.resolve(named) if named else self.state_dir / "users.json"

    @property
    def state_dir(self) -> Path:
        return self.resolve(self.config.storage.state_dir)


def resolve_path(config_path: Path, value: str) -> Path:
    path = Path(value).expanduser()
    # normpath, not resolve(): "systemd/../zones/x" reads better as "zones/x" in
    # messages, and symlinks (e.g. /etc/safetyd) stay as the operator wrote them.
    return Path(os.path.normpath(path if path.is_absolute() else config_path.parent / path))


MAX_CONFIG_BYTES = 1_000_000


def parse_config(path: Path) -> tuple[Config | None, list[Problem]]:
    """Parse and validate the TOML file alone (no zone files)."""
    config, _sections, problems = parse_config_sections(path)
    return config, problems


def _extension_tables(data: dict, file: str) -> tuple[dict[str, BaseModel], list[Problem]]:
    """Take each registered extension's table out of ``data`` (config/'s schema does
    not know them) and validate it against its own schema."""
    found: dict[str, BaseModel] = {}
    problems: list[Problem] = []
    alerts = data.get("alerts")
    tables: list[tuple[dict, str, str, type[BaseModel]]] = [
        (data, kind.section, kind.section, kind.settings) for kind in extensions.OUTPUTS
    ]
    if isinstance(alerts, dict):
        tables += [(alerts, k.name, k.section, k.settings) for k in extensions.SINKS]
    for holder, key, section, schema in tables:
        if key not in holder:
            continue
        try:
            found[section] = schema.model_validate(holder.pop(key))
        except ValidationError as exc:
            problems += problems_from(exc, schema, file, prefix=section)
    return found, problems


def parse_config_sections(
    path: Path,
) -> tuple[Config | None, dict[str, BaseModel], list[Problem]]:
    """``parse_config`` with the extensions' tables (``LoadedConfig.sections``)."""
    name = str(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        return None, {}, [Problem(name, "", f"cannot read the file: {exc.strerror}")]
    if size > MAX_CONFIG_BYTES:
        why = f"file is {size} bytes; a configuration is under 1 MB"
        return None, {}, [Problem(name, "", why)]
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        why = f"not UTF-8 text ({exc.reason} at byte {exc.start})"
        return None, {}, [Problem(name, "", why)]
    except tomllib.TOMLDecodeError as exc:
        return None, {}, [Problem(name, "", f"not valid TOML: {exc}")]
    sections, problems = _extension_tables(data, name)
    context = {EXTENSION_SINKS: [kind.name for kind in extensions.SINKS]}
    try:
        config = Config.model_validate(data, context=context)
    except ValidationError as exc:
        return None, sections, problems + problems_from(exc, Config, name)
    problems += [
        Problem(name, "alerts.sinks", f"sinks include {kind.name!r} but there is no "
                f"[{kind.section}] section")
        for kind in extensions.SINKS
        if kind.name in config.alerts.sinks and kind.section not in sections
    ]  # fmt: skip
    # The schema holds calibration marks; whether they fit one floor is geometry.
    unfit = [
        Problem(name, f"cameras[{i}].calibration", reason)
        for i, cam in enumerate(config.cameras)
        if cam.calibration is not None
        and (reason := degenerate_reason(cam.calibration.image_points,
                                         cam.calibration.floor_points))
    ]  # fmt: skip
    problems += unfit
    return (None, sections, problems) if problems else (config, sections, [])


def load(
    path: str | Path,
    drafts: Mapping[Path, Path] | None = None,
    state_dir: str | Path | None = None,
) -> LoadedConfig:
    """Load the configuration and every zone file it names, or raise InvalidConfig.
    ``drafts``: zone files read from elsewhere (the zone editor's draft, checked as
    the daemon would load the whole configuration with it). ``state_dir``: in place
    of [storage] state_dir (``--state-dir``): everything found there follows it,
    the users file included, unless [console] users_file names one.

    Nothing else escapes, whatever the files hold: a reload must be able to keep
    the running configuration, and the CLI to explain instead of a traceback."""
    path = Path(path)
    try:
        return _load(path, drafts or {}, state_dir)
    except InvalidConfig:
        raise
    except Exception as exc:
        why = f"{exc.__class__.__name__}: {str(exc)[:120]}"
        message = f"cannot be loaded ({why}); please report this to safetyd's developers"
        raise InvalidConfig([Problem(str(path), "", message)], str(path)) from None


def _mqtt_warnings(path: Path, config: Config) -> list[Problem]:
    """What an [mqtt] section allows but probably does not mean."""
    m = config.mqtt
    if m is None:
        return []
    out = []
    if "mqtt" not in config.alerts.sinks:
        out.append(Problem(
            str(path), "alerts.sinks",
            "[mqtt] is set but 'mqtt' is not in sinks: live state and commands use the "
            "broker, events (incidents, system alarms) do not; add \"mqtt\" to sinks",
            "warning",
        ))  # fmt: skip
    if m.username_credential is None and not m.cert_file:
        out.append(Problem(
            str(path), "mqtt",
            "no username_credential or client certificate: the broker must accept anonymous "
            "clients, and then anybody on the network may send this box commands; use a "
            "broker login and an ACL (docs/MQTT.md)",
            "warning",
        ))  # fmt: skip
    if not m.broker.tls and not ipaddress.ip_address(_host_ip(m.broker.host)).is_loopback:
        out.append(Problem(
            str(path), "mqtt.url",
            f"{m.url} is not TLS: the broker password and commands cross the network in "
            "clear text; use mqtts:// (and ca_file) unless the network is trusted",
            "warning",
        ))  # fmt: skip
    return out


def _console_problems(path: Path, config: Config, state_dir: str | Path | None) -> list[Problem]:
    """A console nobody can log in to; beyond loopback that is refused, since the
    console serves live frames of workers and acknowledges incidents."""
    from .users import UserError
    from .users import load as load_users

    c = config.console
    if not c.enabled:
        return []
    named = c.users_file
    users_path = resolve_path(path, named or str(Path(config.storage.state_dir) / "users.json"))
    try:
        users = load_users(users_path)
    except UserError as exc:
        users, why = {}, str(exc)
    else:
        why = f"{users_path} has no users yet"
    if users:
        return []
    fix = f"add one: safetyd user add NAME --role engineer --config {path}" + (
        f" --state-dir {state_dir}" if state_dir is not None and not named else ""
    )
    if not c.loopback:
        return [Problem(str(path), "console.bind",
                        f"{c.bind!r} serves the console beyond this machine, but login is not "
                        f"set up ({why}); {fix}", "error")]  # fmt: skip
    return [Problem(str(path), "console.users_file",
                    f"nobody can log in to the console: {why}; {fix}", "warning")]  # fmt: skip


def _host_ip(host: str) -> str:
    """The host if it is an IP address, else a non-loopback stand-in (names: not local)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return "127.0.0.1" if host == "localhost" else "192.0.2.1"
    return host


def _plant_zones(path: Path, config: Config, zones: dict[str, tuple[Zone, ...]]) -> list[Problem]:
    """Zone ids in [[outputs.modbus]] maps must be zones of the configuration."""
    known = sorted({z.id for zs in zones.values() for z in zs})
    out = []
    for i, o in enumerate(config.outputs.modbus):
        for j, m in enumerate(o.map):
            for zone in m.zones:
                if zone not in known:
                    out.append(Problem(
                        str(path), f"outputs.modbus[{i}] (id {o.id!r}).map[{j}].zones",
                        f"unknown zone {zone!r}{suggest(zone, known)}; zones: "
                        f"{', '.join(known) or 'none'}",
                    ))  # fmt: skip
    return out


def _load(path: Path, drafts: Mapping[Path, Path], state_dir: str | Path | None) -> LoadedConfig:
    config, sections, problems = parse_config_sections(path)
    if config is None:
        raise InvalidConfig(problems, str(path))
    if state_dir is not None:
        storage = config.storage.model_copy(update={"state_dir": str(Path(state_dir).resolve())})
        config = config.model_copy(update={"storage": storage})
    context = ZoneContext.from_config(config)
    zones: dict[str, tuple[Zone, ...]] = {}

    def zone_file(name: str) -> Path:
        resolved = resolve_path(path, name)
        return drafts.get(resolved, resolved)

    files_by_camera = {cam.id: [zone_file(z) for z in cam.zones] for cam in config.cameras}
    loaded, zone_problems = load_zone_files(files_by_camera, context)
    problems.extend(zone_problems)
    zones.update(loaded)
    if config.pose.model:
        model = resolve_path(path, config.pose.model)
        if not model.is_file():
            problems.append(
                Problem(str(path), "pose.model", f"{str(model)!r} does not exist or is not a file")
            )
    for i, cam in enumerate(config.cameras):
        if cam.url_userinfo and ":" in cam.url_userinfo:
            problems.append(
                Problem(
                    str(path),
                    f"cameras[{i}] (id {cam.id!r}).source",
                    "the URL carries a password, in a file anyone on this machine may read; "
                    "move it to a systemd credential: write the URL without it "
                    "(rtsp://USER@host/...) and set password_credential (see README)",
                    "warning",
                )
            )
        unsized = [z.id for z in zones.get(cam.id, ()) if z.units == "pixels" and not z.drawn_on]
        if unsized and not (cam.width and cam.height):
            problems.append(
                Problem(
                    str(path),
                    f"cameras[{i}] (id {cam.id!r})",
                    "no width/height, so nothing says what picture the pixel zones "
                    f"({', '.join(unsized)}) were drawn on: if the stream's size ever differs, "
                    "every zone would be in the wrong place unnoticed; set width and height",
                    "warning",
                )
            )
    problems += _plant_zones(path, config, zones)
    alerts = config.alerts
    numbers = sum(len(g.numbers) for g in alerts.groups.values())
    if numbers and "sms" not in alerts.sinks:
        problems.append(
            Problem(
                str(path),
                "alerts.sinks",
                f"no SMS will be sent: sinks are {', '.join(alerts.sinks) or 'none'}, so the "
                f'{numbers} number(s) in [alerts.groups] get nothing; add "sms" to sinks '
                "(with [alerts.twilio] and its credentials) to text them",
                "warning",
            )
        )
    problems += _mqtt_warnings(path, config)
    problems += _console_problems(path, config, state_dir)
    http = config.http
    if http.enabled and not http.loopback:
        problems.append(
            Problem(
                str(path),
                "http.bind",
                f"{http.bind!r}: the status page, live camera frames and /metrics are served "
                "without a login to anyone who can reach this machine (allow_unauthenticated "
                "= true)",
                "warning",
            )
        )
    if errors(problems):
        raise InvalidConfig(problems, str(path))
    return LoadedConfig(
        path=path, config=config, zones=zones, warnings=tuple(problems), sections=sections
    )
