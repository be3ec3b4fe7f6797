"""The zone editor never writes a file the daemon would refuse, and never loses a change
silently: the real daemon with its console (HTTP, as a script or the page's own
fetch() would call it), a Modbus output map that names the press zone, and
check-config run on what is left on disk."""

from __future__ import annotations

import hashlib
import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import run_safetyd
from daemon_harness import DaemonProcess, press_camera
from streams import free_port
from test_console import PASSWORDS, ROLES, Client, add_user

from safetyd.assembly import load as cfg
from safetyd.console import editor

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("editor")
    users = tmp / "users.json"
    assert add_user(users, "erin", ROLES["erin"], PASSWORDS["erin"]).returncode == 0
    # A stack light that shows the press zone (its device need not answer for the
    # configuration to hold: an absent device is an alarm, not a refused start).
    tower = (
        f'\n[[outputs.modbus]]\nid = "tower"\nhost = "127.0.0.1"\nport = {free_port()}\n'
        '[[outputs.modbus.map]]\ncoil = 0\nstate = "danger"\nzones = ["press-3-guard"]\n'
    )
    extra = f'\n[console]\nenabled = true\nport = 0\nusers_file = "{users}"\n' + tower
    d = DaemonProcess(tmp, press_camera(), extra=extra)
    d.start()
    try:
        d.wait_ready(90)
        assert d.wait_log("console on http://", 10)
        port = int(re.search(r"console on http://127\.0\.0\.1:(\d+)", d.log())[1])
        d.console = f"http://127.0.0.1:{port}"
        yield d
    finally:
        d.stop()


def _session(d) -> tuple[Client, str]:
    c = Client(d.console)
    assert c.log_in("erin") in (200, 303)
    return c, c.csrf()


def _open(c: Client) -> tuple[str, str]:
    """What the editor loads: the file's text and its version (ETag)."""
    code, body, headers = c.request("/zones/press-line/file/0", accept="application/geo+json")
    assert code == 200
    return body, headers["etag"].strip('"')


def _save(c: Client, csrf: str, text: str, version: str | None) -> tuple[int, dict]:
    headers = {"X-CSRF-Token": csrf, "Content-Type": "application/geo+json"}
    if version is not None:
        headers["If-Match"] = f'"{version}"'
    req = urllib.request.Request(
        c.base + "/zones/press-line/0/save", data=text.encode(), headers=headers, method="POST"
    )
    try:
        with c.opener.open(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _renamed(text: str, new_id: str) -> str:
    doc = json.loads(text)
    doc["features"][0]["properties"]["id"] = new_id
    return json.dumps(doc, indent=2)


def test_renaming_a_zone_an_output_names_is_refused_and_nothing_is_written(daemon) -> None:
    c, csrf = _session(daemon)
    text, version = _open(c)
    code, answer = _save(c, csrf, _renamed(text, "press-4-guard"), version)
    assert code == 422 and not answer["ok"]
    assert any("outputs.modbus[0] (id 'tower').map[0].zones: unknown zone 'press-3-guard'" in p
               for p in answer["problems"]), answer  # fmt: skip
    assert (daemon.tmp / "press.geojson").read_text() == text  # not written
    assert run_safetyd("check-config", str(daemon.config)).returncode == 0  # it still starts


def test_an_empty_zone_file_is_refused_and_nothing_is_written(daemon) -> None:
    c, csrf = _session(daemon)
    text, version = _open(c)
    code, answer = _save(c, csrf, '{"type": "FeatureCollection", "features": []}', version)
    assert code == 422 and not answer["ok"], answer
    assert (daemon.tmp / "press.geojson").read_text() == text
    assert run_safetyd("check-config", str(daemon.config)).returncode == 0


def test_a_save_from_a_version_no_longer_on_disk_is_refused(daemon) -> None:
    """Two engineers open the same file; the first saves; the second's save names the
    version both started from: refused (409), not written over the first one's."""
    first, csrf1 = _session(daemon)
    second, csrf2 = _session(daemon)
    text, version = _open(first)
    _, version2 = _open(second)
    assert version == version2 == hashlib.sha256(text.encode()).hexdigest()
    doc = json.loads(text)
    doc["features"][0]["properties"]["warn_distance"] = 55
    mine = json.dumps(doc, indent=2)
    code, answer = _save(first, csrf1, mine, version)
    assert code == 200 and answer["ok"], answer
    doc["features"][0]["properties"]["warn_distance"] = 25
    code, answer = _save(second, csrf2, json.dumps(doc, indent=2), version2)
    assert code == 409 and "changed since this editor loaded it" in answer["message"]
    assert (daemon.tmp / "press.geojson").read_text() == mine
    code, answer = _save(second, csrf2, json.dumps(doc, indent=2), None)  # no version at all
    assert code == 422 and "does not say which version" in answer["message"]
    # The audit chain stays one line: each save starts from the one before.
    lines = [json.loads(x) for x in (daemon.tmp / "state" / "audit.jsonl").read_text().splitlines()
             if '"zones.save"' in x]  # fmt: skip
    for before, after in zip(lines, lines[1:], strict=False):
        assert after["before_sha256"] == before["after_sha256"]


def test_a_reload_refused_after_writing_puts_the_previous_file_back(tmp_path: Path) -> None:
    """Whatever makes the daemon refuse a reload that the check did not foresee (the
    configuration edited by hand in between): the file on disk goes back to the one
    the running zones came from."""
    from conftest import write_config

    config = write_config(tmp_path)
    loaded = cfg.load(config)
    target = editor.zone_files(loaded, "cam1")[0]
    before = target.read_text()
    draft = _renamed(before, "press-3-renamed")
    saved, _, message = editor.save(
        loaded, "cam1", 0, draft, "erin", tmp_path / "audit.jsonl",
        lambda: (False, "camera press-line: something the check did not see"),
        editor.version(before),
    )  # fmt: skip
    assert not saved and "the previous file was put back" in message
    assert target.read_text() == before
    (entry,) = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert entry["reload"].startswith("refused: camera press-line: something the check")


def test_a_huge_snapshot_id_and_a_deeply_nested_body_are_refused_not_500(daemon) -> None:
    """Round 2: both answered 500 with a traceback in the journal (SQLite cannot take
    the number; the JSON parser ran out of stack)."""
    c, csrf = _session(daemon)
    code, body, _ = c.request("/snapshot/" + "9" * 40 + ".jpg")
    assert code == 404 and "no snapshot" in body
    deep = b"[" * 100_000 + b"]" * 100_000
    for data, want in ((deep[:60_000], 400), (deep, 413)):
        req = urllib.request.Request(
            c.base + "/calibration/press-line/check", data=data, method="POST",
            headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
        )  # fmt: skip
        try:
            with c.opener.open(req, timeout=60) as r:
                code = r.status
        except urllib.error.HTTPError as exc:
            code, answer = exc.code, json.loads(exc.read())
        assert code == want and answer["ok"] is False
    assert "Traceback" not in daemon.log()
