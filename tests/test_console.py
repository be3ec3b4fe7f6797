"""The operator console: the real daemon (demo clip, looping incidents) serves it;
Debian's chromium with chromium-driver, driven by selenium, uses it as a person
would; a plain HTTP client checks what the server refuses by itself (roles and
CSRF are enforced on the server, not by hidden buttons).

Screenshots go to test-artifacts/console/ (kept by CI as artifacts).
"""

from __future__ import annotations

import http.client
import http.cookiejar
import json
import re
import sqlite3
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest
from browser import browser
from conftest import ROOT, SAFETYD, run_safetyd, wait_for, write_config
from daemon_harness import DaemonProcess, press_camera

ARTIFACTS = ROOT / "test-artifacts" / "console"
PASSWORDS = {"vera": "viewer-pass-1", "otto": "operator-pass-1", "erin": "engineer-pass-1",
             "emil": "engineer-pass-2"}  # fmt: skip
ROLES = {"vera": "viewer", "otto": "operator", "erin": "engineer", "emil": "engineer"}
XSS = "<script>alert('zone')</script>"


def add_user(users: Path, name: str, role: str, password: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*SAFETYD, "user", "add", name, "--role", role, "--users-file", str(users),
         "--password-stdin"],
        input=password + "\n", capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("console")
    users = tmp / "users.json"
    for name, password in PASSWORDS.items():
        assert add_user(users, name, ROLES[name], password).returncode == 0
    disabled = (
        press_camera()
        .replace('id = "press-line"', 'id = "spare"')
        .replace("loop = true", "loop = true\nenabled = false")
    )
    extra = f'\n[console]\nenabled = true\nport = 0\nusers_file = "{users}"\nlockout_s = 30\n'
    d = DaemonProcess(tmp, press_camera() + disabled, extra=extra)
    zones = json.loads((tmp / "press.geojson").read_text())
    zones["features"][0]["properties"]["name"] = f"Press {XSS}"
    (tmp / "press.geojson").write_text(json.dumps(zones))
    d.start()
    try:
        d.wait_ready(90)
        assert d.wait_log("console on http://", 10)
        port = int(re.search(r"console on http://127\.0\.0\.1:(\d+)", d.log())[1])
        d.console = f"http://127.0.0.1:{port}"
        yield d
    finally:
        d.stop()


def shot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 5000
    return path


def log_in(driver, d, name: str, password: str | None = None) -> None:
    """Fill in the login form and wait for the next page."""
    from selenium.webdriver.common.by import By

    driver.get(d.console + "/login")
    form = driver.find_element(By.ID, "login")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password or PASSWORDS[name])
    driver.find_element(By.ID, "submit").click()
    from selenium.common.exceptions import StaleElementReferenceException

    def left() -> bool:
        try:
            form.is_enabled()
        except StaleElementReferenceException:
            return True
        return False

    assert wait_for(left, 15), "the login form was not answered"


class Client:
    """A plain HTTP client with cookies (what a script or an attacker would use)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect()
        )

    def request(
        self, path: str, form: dict | None = None, accept: str = "text/html"
    ) -> tuple[int, str, dict]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        req = urllib.request.Request(self.base + path, data=data, headers={"Accept": accept})
        try:
            with self.opener.open(req, timeout=20) as r:
                return r.status, r.read().decode(errors="replace"), dict(r.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace"), dict(exc.headers)

    def log_in(self, name: str, password: str | None = None) -> int:
        _, page, _ = self.request("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)[1]
        code, _, _ = self.request("/login", {"csrf": csrf, "name": name,
                                             "password": password or PASSWORDS[name]})  # fmt: skip
        return code

    def csrf(self) -> str:
        _, page, _ = self.request("/")
        return re.search(r'name="csrf" value="([^"]+)"', page)[1]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        return None


def waiting_incident(d) -> dict:
    db = d.tmp / "state" / "safetyd.db"
    assert wait_for(lambda: _rows(db, "SELECT * FROM incidents WHERE acked_wall IS NULL"), 60)
    return _rows(db, "SELECT * FROM incidents WHERE acked_wall IS NULL ORDER BY opened_wall")[0]


def _rows(db: Path, sql: str) -> list[dict]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        con.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in con.execute(sql)]
        except sqlite3.OperationalError:
            return []


# -- users and configuration -----------------------------------------------------------------


def test_user_add_keeps_a_hash_and_refuses_weak_input(tmp_path) -> None:
    users = tmp_path / "users.json"
    assert add_user(users, "ann", "operator", "correct horse").returncode == 0
    text = users.read_text()
    assert "correct horse" not in text and "$argon2" in text
    assert oct(users.stat().st_mode & 0o777) == "0o600"
    short = add_user(users, "bob", "viewer", "short")
    assert short.returncode == 1 and "at least 10 characters" in short.stderr
    bad = add_user(users, "<bob>", "viewer", "long enough pw")
    assert bad.returncode == 1 and "a user name is" in bad.stderr
    listed = run_safetyd("user", "list", "--users-file", str(users))
    assert listed.stdout.split() == ["ann", "operator"]
    assert run_safetyd("user", "remove", "ann", "--users-file", str(users)).returncode == 0
    assert run_safetyd("user", "remove", "ann", "--users-file", str(users)).returncode == 1


def test_a_removed_or_demoted_user_is_seen_at_his_next_request(tmp_path) -> None:
    """The role a session checks at each request is cached by the file's identity:
    every change made by `safetyd user` (another process) is seen at once."""
    from safetyd.assembly import users as users_file

    users = tmp_path / "users.json"
    assert users_file.role_of(users, "ann") is None  # no file: nobody
    assert add_user(users, "ann", "engineer", "correct horse").returncode == 0
    assert users_file.role_of(users, "ann") == "engineer"
    assert add_user(users, "ann", "viewer", "correct horse").returncode == 0  # demoted
    assert users_file.role_of(users, "ann") == "viewer"
    assert run_safetyd("user", "remove", "ann", "--users-file", str(users)).returncode == 0
    assert users_file.role_of(users, "ann") is None


def test_a_console_beyond_loopback_without_users_is_refused(tmp_path) -> None:
    from conftest import BASE_TOML

    path = write_config(tmp_path, BASE_TOML + "\n[console]\nenabled = true\nbind = '0.0.0.0'\n"
                        f"users_file = '{tmp_path / 'none.json'}'\n")  # fmt: skip
    result = run_safetyd("check-config", str(path))
    assert result.returncode == 1
    assert "serves the console beyond this machine, but login is not set up" in result.stderr
    path = write_config(tmp_path, BASE_TOML + "\n[console]\nenabled = true\n"
                        f"users_file = '{tmp_path / 'none.json'}'\n")  # fmt: skip
    result = run_safetyd("check-config", str(path))
    assert result.returncode == 0 and "nobody can log in to the console" in result.stderr


def test_the_users_file_follows_the_state_dir_the_daemon_runs_with(tmp_path) -> None:
    """Round 2: `safetyd user add --config` wrote the configured state dir's users file
    while the daemon, started with --state-dir, read another: login failed without a
    word. One rule (assembly/load.py): [console] users_file, else users.json in the state
    directory, which --state-dir replaces for the daemon and for `safetyd user` alike;
    check-config and the start name the file."""
    from conftest import BASE_TOML

    from safetyd.assembly import load as cfg

    configured, trial = tmp_path / "configured", tmp_path / "trial"
    configured.mkdir()
    path = write_config(tmp_path, BASE_TOML + "\n[console]\nenabled = true\n")
    path.write_text(
        path.read_text().replace("state_dir = ", f"state_dir = '{configured}'\n# was: ", 1)
    )
    result = subprocess.run(
        [*SAFETYD, "user", "add", "vera", "--role", "viewer", "--config", str(path),
         "--state-dir", str(trial), "--password-stdin"],
        input=PASSWORDS["vera"] + "\n", capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert str(trial / "users.json") in result.stdout
    assert (trial / "users.json").is_file() and not (configured / "users.json").exists()
    # The daemon with --state-dir reads that very file, and sees its user.
    loaded = cfg.load(path, state_dir=trial)
    assert loaded.users_path == trial / "users.json"
    assert not any("nobody can log in" in p.message for p in loaded.warnings)
    # Without --state-dir: the configured one, which has nobody; the hint says how.
    plain = cfg.load(path)
    assert plain.users_path == configured / "users.json"
    result = run_safetyd("check-config", str(path))
    assert f"console users: {configured / 'users.json'}" in result.stdout
    assert "nobody can log in to the console" in result.stderr


def test_a_camera_cannot_be_named_script(tmp_path) -> None:
    from conftest import BASE_TOML

    path = write_config(tmp_path, BASE_TOML.replace('id = "cam1"', 'id = "<script>"'))
    result = run_safetyd("check-config", str(path))
    assert result.returncode == 1 and "cameras[0].id" in result.stderr


# -- login, logout, lockout --------------------------------------------------------------------


def test_login_wrong_password_and_logout_in_the_browser(daemon) -> None:
    from selenium.webdriver.common.by import By

    driver = browser()
    try:
        log_in(driver, daemon, "vera", "not her password")
        assert "wrong name or password" in driver.find_element(By.ID, "error").text
        assert driver.get_cookie("safetyd_session") is None
        log_in(driver, daemon, "vera")
        assert wait_for(lambda: driver.current_url == daemon.console + "/", 10)
        cookie = driver.get_cookie("safetyd_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert "vera (viewer)" in driver.find_element(By.TAG_NAME, "header").text
        driver.find_element(By.ID, "logout").click()
        assert wait_for(lambda: driver.current_url == daemon.console + "/login", 10)
        driver.get(daemon.console + "/history")
        assert driver.current_url == daemon.console + "/login"  # the session is gone
    finally:
        driver.quit()


def test_failed_logins_lock_the_name_out(daemon) -> None:
    c = Client(daemon.console)
    codes = [c.log_in("erin", "wrong password") for _ in range(5)]
    assert codes == [401] * 5
    assert c.log_in("erin") == 429  # locked: even the right password
    code, _, headers = c.request("/")
    assert code == 303 and headers["location"] == "/login"
    assert Client(daemon.console).log_in("vera") == 303  # others from this address may


# -- roles and CSRF, on the server ---------------------------------------------------------------


def test_roles_and_csrf_are_checked_by_the_server(daemon) -> None:
    inc = waiting_incident(daemon)
    anonymous = Client(daemon.console)
    assert anonymous.request("/api/live", accept="application/json")[0] == 401
    assert anonymous.request("/ack", {"incident": inc["incident"], "csrf": "x"})[0] == 401
    viewer = Client(daemon.console)
    assert viewer.log_in("vera") == 303
    code, body, _ = viewer.request("/ack", {"incident": inc["incident"], "csrf": viewer.csrf()})
    assert code == 403 and "needs the role operator" in body
    code, body, _ = viewer.request("/snooze", {"zone": "press-3-guard", "until": "10m",
                                               "reason": "x", "csrf": viewer.csrf()})  # fmt: skip
    assert code == 403
    operator = Client(daemon.console)
    assert operator.log_in("otto") == 303
    code, body, _ = operator.request("/ack", {"incident": inc["incident"]})
    assert code == 403 and "CSRF" in body
    code, body, _ = operator.request("/ack", {"incident": inc["incident"], "csrf": "forged"})
    assert code == 403
    code, body, _ = operator.request("/snooze", {"zone": "press-3-guard", "until": "10m",
                                                 "reason": "x", "level": "danger",
                                                 "csrf": operator.csrf()})  # fmt: skip
    assert code == 400 and "danger is never snoozed" in body
    db = daemon.tmp / "state" / "safetyd.db"
    row = _rows(db, f"SELECT * FROM incidents WHERE incident = '{inc['incident']}'")[0]
    assert row["acked_wall"] is None  # none of the refused requests changed anything
    _, _, headers = operator.request("/")
    assert "script-src 'self'" in headers["content-security-policy"]


# -- live view: banner, acknowledge, NOT MONITORED ------------------------------------------------


def test_the_danger_banner_shows_within_a_second_and_an_operator_acknowledges(daemon) -> None:
    from selenium.webdriver.common.by import By

    driver = browser()
    try:
        log_in(driver, daemon, "otto")
        states = driver.execute_script(  # one read: the table is redrawn at each update
            "return Object.fromEntries([...document.querySelectorAll('#cameras tbody tr')]"
            ".map(r => [r.dataset.camera, r.innerText]))"
        )
        assert "NOT MONITORED" in states["spare"] and "up" in states["press-line"]
        # Time the banner in the page itself, then compare with the incident's opening.
        # Time the banner in the page (hidden -> shown), then compare with the danger
        # transition that showed it: the latest one before it appeared.
        driver.execute_script("""
            window.bannerTimes = [];
            const b = document.getElementById('banner');
            let wasHidden = b.hidden;
            new MutationObserver(() => {
              if (wasHidden && !b.hidden) window.bannerTimes.push(Date.now());
              wasHidden = b.hidden;
            }).observe(b, {attributes: true, childList: true});""")
        db = daemon.tmp / "state" / "safetyd.db"
        assert wait_for(lambda: driver.execute_script("return window.bannerTimes.length"), 90)
        shown = driver.execute_script("return window.bannerTimes[0]") / 1000.0
        walls = [r["wall"] for r in _rows(db, "SELECT wall FROM events WHERE level = 'danger'")]
        before = [w for w in walls if w <= shown + 0.05]
        assert before, "no danger transition before the banner"
        assert shown - max(before) <= 1.0, (shown, max(before))
        banner = driver.find_element(By.ID, "banner").text
        assert banner.startswith("DANGER: press-3-guard (camera press-line)")
        shot(driver, "live-1366x768")
        # Acknowledge from the page.
        # The table is redrawn at each update: find and press the button in one step.
        assert wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#answers .ack-button"), 30)
        incident = driver.execute_script("""
            const b = document.querySelector('#answers .ack-button');
            const id = b.closest('tr').dataset.incident;
            b.click();
            return id;""")
        assert wait_for(lambda: _rows(db, "SELECT acked_by, acked_channel FROM incidents WHERE "
                                          f"incident = '{incident}' AND acked_wall IS NOT NULL"),
                        10)  # fmt: skip
        row = _rows(db, f"SELECT acked_by, acked_channel FROM incidents WHERE incident = "
                        f"'{incident}'")[0]  # fmt: skip
        assert (row["acked_by"], row["acked_channel"]) == ("console:otto", "console")
    finally:
        driver.quit()


def test_a_viewer_sees_no_acknowledge_button_and_the_phone_layout_fits(daemon) -> None:
    from selenium.webdriver.common.by import By

    waiting_incident(daemon)
    driver = browser(390, 844)
    try:
        log_in(driver, daemon, "vera")
        assert wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#answers tr[data-incident]"),
                        60)  # fmt: skip
        assert not driver.find_elements(By.CSS_SELECTOR, ".ack-button")
        wide = driver.execute_script(
            "return document.documentElement.scrollWidth - window.innerWidth"
        )
        assert wide <= 1, f"the page is {wide}px wider than a phone"
        shot(driver, "live-phone")
    finally:
        driver.quit()


# -- history, CSV, XSS ------------------------------------------------------------------------


def test_history_filters_incident_page_and_csv(daemon) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    db = daemon.tmp / "state" / "safetyd.db"
    assert wait_for(lambda: _rows(db, "SELECT 1 FROM events WHERE event = 'cleared'"), 90)
    driver = browser()
    try:
        log_in(driver, daemon, "vera")
        driver.get(daemon.console + "/history")
        rows = driver.find_elements(By.CSS_SELECTOR, "#history tr[data-incident]")
        assert rows
        Select(driver.find_element(By.ID, "f-level")).select_by_visible_text("danger")
        driver.find_element(By.ID, "f-apply").click()
        assert wait_for(lambda: "level=danger" in driver.current_url, 10)
        levels = {
            r.find_elements(By.TAG_NAME, "td")[4].text
            for r in driver.find_elements(By.CSS_SELECTOR, "#history tr[data-incident]")
        }
        assert levels == {"danger"}
        Select(driver.find_element(By.ID, "f-zone")).select_by_visible_text("press-3-guard")
        driver.find_element(By.ID, "f-apply").click()
        assert wait_for(lambda: "zone=press-3-guard" in driver.current_url, 10)
        assert driver.find_elements(By.CSS_SELECTOR, "#history tr[data-incident]")
        # The zone's name is a script: shown as text, never run.
        assert XSS in driver.find_element(By.ID, "history").text
        assert driver.execute_script("return typeof window.__xss") == "undefined"
        assert "&lt;script&gt;" in driver.page_source
        # One incident: timeline, snapshot, deliveries.
        driver.find_element(By.CSS_SELECTOR, "#history tr[data-incident] a").click()
        assert wait_for(lambda: "/incident/" in driver.current_url, 10)
        timeline = driver.find_element(By.ID, "timeline").text
        assert "opened" in timeline
        assert driver.find_elements(By.CSS_SELECTOR, "#deliveries td")
        images = driver.find_elements(By.CSS_SELECTOR, "img.snapshot")
        assert images and driver.execute_script(
            "return arguments[0].naturalWidth", images[0]) > 0  # fmt: skip
        shot(driver, "incident-1366x768")
        # CSV export with the same filters.
        c = Client(daemon.console)
        c.log_in("vera")
        code, body, headers = c.request("/history.csv?level=danger&zone=press-3-guard")
        assert code == 200 and headers["content-type"].startswith("text/csv")
        lines = body.strip().splitlines()
        assert lines[0].startswith("when,incident,event,level,camera,zone")
        assert len(lines) > 1 and all(",press-3-guard," in line for line in lines[1:])
        # Every row is a near miss, not an injury (the history is what safetyd saw).
        assert lines[0].endswith(",record_type")
        assert all(
            line.endswith(",near miss (no injury recorded by safetyd)") for line in lines[1:]
        )
    finally:
        driver.quit()


def test_an_incident_clip_plays_in_the_browser_from_its_opening(daemon) -> None:
    """The daemon records a clip per incident (default [clips]); the incident page plays
    it in Chromium, from where the incident opened; it is served in byte ranges, only
    to a session, and an incident without one has none."""
    from selenium.webdriver.common.by import By

    db = daemon.tmp / "state" / "safetyd.db"
    assert wait_for(lambda: _rows(db, "SELECT 1 FROM clips WHERE ended IS NOT NULL"), 90)
    row = _rows(db, "SELECT * FROM clips WHERE ended IS NOT NULL ORDER BY started")[0]
    assert row["offset_s"] > 1.0  # the pre-roll: what led up to it
    driver = browser()
    try:
        log_in(driver, daemon, "vera")
        driver.get(f"{daemon.console}/incident/{row['incident']}")
        video = driver.find_element(By.ID, "clip")
        driver.execute_script("arguments[0].play()", video)
        playing = (
            "const v = arguments[0]; return v.error === null && v.readyState >= 2 && "
            "v.currentTime > arguments[1] + 0.3"
        )
        assert wait_for(lambda: driver.execute_script(playing, video, row["offset_s"]), 20), (
            driver.execute_script(
                "const v = arguments[0]; return [v.error && v.error.code, "
                "v.readyState, v.currentTime]",
                video,
            )  # fmt: skip
        )
        assert driver.execute_script("return arguments[0].videoWidth", video) == 640
        shot(driver, "incident-clip")
    finally:
        driver.quit()
    c = Client(daemon.console)
    code, _, _ = c.request(f"/clip/{row['incident']}.webm")
    assert code in (302, 303, 401)  # no session, no clip
    c.log_in("vera")
    req = urllib.request.Request(
        f"{daemon.console}/clip/{row['incident']}.webm", headers={"Range": "bytes=0-99"}
    )
    with c.opener.open(req, timeout=20) as r:
        assert r.status == 206 and r.headers["Content-Type"] == "video/webm"
        assert r.read()[:4] == bytes.fromhex("1a45dfa3")  # the EBML header of a WebM file
    assert c.request("/clip/no-such-incident.webm")[0] == 404


# -- the zone editor (these change the daemon's zones: they run last) ------------------------


def draw_polygon(driver, corners: list[tuple[float, float]]) -> None:
    """Click New zone, the corners (fractions of the picture), Finish."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, "new-zone").click()
    svg = driver.find_element(By.ID, "overlay")
    w, h = svg.size["width"], svg.size["height"]
    for fx, fy in corners:
        ActionChains(driver).move_to_element_with_offset(
            svg, int(fx * w - w / 2), int(fy * h - h / 2)).click().perform()  # fmt: skip
    driver.find_element(By.ID, "finish").click()


def fill(driver, **props: str) -> None:
    from selenium.webdriver.common.by import By

    for name, value in props.items():
        field = driver.find_element(By.CSS_SELECTOR, f'#props [data-prop="{name}"]')
        field.clear()
        field.send_keys(value)
    driver.find_element(By.CSS_SELECTOR, "#props label").click()  # leave the field: change


def status_zones(d) -> dict:
    code, body = d.get("/api/status")
    cams = {c["id"]: c for c in json.loads(body)["cameras"]}
    return cams["press-line"]["zones"]


def test_only_engineers_reach_the_zone_editor(daemon) -> None:
    operator = Client(daemon.console)
    assert operator.log_in("otto") == 303
    code, body, _ = operator.request("/zones/press-line")
    assert code == 403 and "needs the role engineer" in body
    engineer = Client(daemon.console)
    assert engineer.log_in("emil") == 303
    csrf = engineer.csrf()
    req = urllib.request.Request(daemon.console + "/zones/press-line/0/save", data=b"{}",
                                 headers={"X-CSRF-Token": "forged"})  # fmt: skip
    try:
        engineer.opener.open(req, timeout=20)
        raise AssertionError("a forged CSRF token was accepted")
    except urllib.error.HTTPError as exc:
        assert exc.code == 403
    assert csrf


def test_an_engineer_draws_a_zone_and_the_daemon_arms_it_a_broken_one_is_refused(
    daemon,
) -> None:
    from selenium.webdriver.common.by import By

    zone_file = daemon.tmp / "press.geojson"
    original = zone_file.read_text()
    audit = daemon.tmp / "state" / "audit.jsonl"
    driver = browser()
    try:
        log_in(driver, daemon, "emil")
        driver.get(daemon.console + "/zones/press-line")
        assert wait_for(lambda: driver.find_element(By.ID, "editor").get_attribute(
            "data-ready") == "yes" and driver.execute_script(
            "return document.getElementById('frame').naturalWidth") > 0, 20)  # fmt: skip
        assert [b.text for b in driver.find_elements(By.CSS_SELECTOR, "#zone-list button")] == [
            "press-3-guard"]  # fmt: skip
        draw_polygon(driver, [(0.05, 0.1), (0.3, 0.1), (0.3, 0.35), (0.05, 0.35)])
        fill(driver, id="aisle-1", name="Aisle 1", body_parts='["feet"]', warn_distance="20",
             recipients='{"danger": ["operators"]}')  # fmt: skip
        # Edit: drag the first corner a little.
        from selenium.webdriver.common.action_chains import ActionChains

        corner = driver.find_element(By.CSS_SELECTOR, '#overlay circle[data-vertex="0"]')
        was = (corner.get_attribute("cx"), corner.get_attribute("cy"))
        ActionChains(driver).click_and_hold(corner).move_by_offset(15, 12).release().perform()
        corner = driver.find_element(By.CSS_SELECTOR, '#overlay circle[data-vertex="0"]')
        moved = [int(corner.get_attribute("cx")), int(corner.get_attribute("cy"))]
        assert moved != [int(v) for v in was]
        driver.find_element(By.ID, "preview").click()
        assert wait_for(lambda: driver.execute_script(
            "const i = document.getElementById('preview-img');"
            "return !i.hidden && i.naturalWidth > 0"), 20)  # fmt: skip
        driver.find_element(By.ID, "save").click()
        assert wait_for(lambda: "saved and reloaded" in driver.find_element(By.ID, "status").text,
                        40), driver.find_element(By.ID, "status").text  # fmt: skip
        shot(driver, "zone-editor-1366x768")
        assert wait_for(lambda: status_zones(daemon).get("aisle-1") is True, 10)
        saved = json.loads(zone_file.read_text())
        ring = next(f for f in saved["features"] if f["properties"]["id"] == "aisle-1")[
            "geometry"]["coordinates"][0]  # fmt: skip
        assert len(ring) == 5 and ring[0] == ring[-1] == moved
        assert (daemon.tmp / "press.geojson.previous").read_text() == original
        entry = json.loads(audit.read_text().splitlines()[-1])
        assert (entry["user"], entry["camera"], entry["added"], entry["reload"]) == (
            "emil", "press-line", ["aisle-1"], "applied")  # fmt: skip
        # A zone whose outline crosses itself: refused with zones check's message.
        before, lines = zone_file.read_text(), len(audit.read_text().splitlines())
        draw_polygon(driver, [(0.5, 0.5), (0.7, 0.7), (0.7, 0.5), (0.5, 0.7)])
        fill(driver, id="bowtie", name="Bowtie", body_parts='["feet"]', warn_distance="20")
        driver.find_element(By.ID, "save").click()
        assert wait_for(lambda: "not saved" in driver.find_element(By.ID, "status").text, 20)
        messages = driver.find_element(By.ID, "messages").text
        assert "geometry is not a valid area: Self-intersection" in messages
        assert f"{zone_file}:" in messages  # about the real file, as zones check says it
        shot(driver, "zone-editor-refused")
        assert zone_file.read_text() == before
        assert len(audit.read_text().splitlines()) == lines
        assert "bowtie" not in status_zones(daemon)
    finally:
        driver.quit()


# -- floor calibration ------------------------------------------------------------------------


def test_calibration_fit_plan_and_preview_on_the_example_dock_camera() -> None:
    """The example configuration's dock camera: calibrated, with a forklift lane in
    metres. Its marks fit; the lane is on the plan in metres and drawn on the image."""
    import cv2
    import numpy as np

    from safetyd.assembly import load as cfg
    from safetyd.console import calibrate
    from safetyd.vision.calibration import floor_map_of

    loaded = cfg.load(ROOT / "systemd" / "safetyd.toml")
    cam = loaded.config.camera("dock")
    verdict = calibrate.fit(cam.calibration.image_points, cam.calibration.floor_points)
    assert verdict["ok"] and verdict["rms_m"] < 0.1
    assert len(verdict["per_point_m"]) == len(cam.calibration.image_points)
    lanes = calibrate.plan(loaded, "dock")
    assert lanes and all(len(z["points"]) >= 4 for z in lanes)
    png = calibrate.preview(None, loaded, "dock", floor_map_of(cam.calibration))
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert (image != 90).any()  # the lane was drawn on the blank frame
    collinear = calibrate.fit([(0, 0), (10, 0), (20, 0), (30, 0)], [(0, 0), (1, 0), (2, 0), (3, 0)])
    assert not collinear["ok"] and "lie on one line" in collinear["errors"][0]


def test_an_engineer_calibrates_the_floor_in_the_browser_and_it_is_saved(daemon) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver = browser()
    config_before = daemon.config.read_text()
    try:
        log_in(driver, daemon, "emil")
        driver.get(daemon.console + "/calibration/press-line")
        assert wait_for(lambda: driver.find_element(By.ID, "calibration").get_attribute(
            "data-ready") == "yes" and driver.execute_script(
            "return document.getElementById('frame').naturalWidth") > 0, 20)  # fmt: skip
        svg = driver.find_element(By.ID, "overlay")
        w, h = svg.size["width"], svg.size["height"]
        for fx, fy in [(0.0625, 0.97), (0.9375, 0.97), (0.656, 0.556), (0.344, 0.556)]:
            ActionChains(driver).move_to_element_with_offset(
                svg, int(fx * w - w / 2), int(fy * h - h / 2)).click().perform()  # fmt: skip
        assert len(driver.find_elements(By.CSS_SELECTOR, "#marks tbody tr")) == 4

        def metres(points) -> None:
            for i, (x, y) in enumerate(points):
                for key, v in (("fx", x), ("fy", y)):
                    field = driver.find_element(
                        By.CSS_SELECTOR, f'#marks input[data-mark="{i}"][data-key="{key}"]'
                    )
                    field.clear()
                    field.send_keys(str(v))
                    field.send_keys("\t")

        metres([(0, 0), (4, 0), (8, 0), (12, 0)])  # all on one line: no floor
        driver.find_element(By.ID, "compute").click()
        assert wait_for(lambda: "lie on one line" in driver.find_element(By.ID, "messages").text,
                        10)  # fmt: skip
        metres([(0, 0), (4, 0), (4, 6), (0, 6)])
        driver.find_element(By.ID, "compute").click()
        assert wait_for(lambda: "reprojection error" in driver.find_element(By.ID, "status").text,
                        10)  # fmt: skip
        assert len(driver.find_elements(By.CSS_SELECTOR, "#plan circle")) == 4
        assert wait_for(lambda: driver.execute_script(
            "const i = document.getElementById('preview-img');"
            "return !i.hidden && i.naturalWidth > 0"), 20)  # fmt: skip
        shot(driver, "calibration-1366x768")
        driver.find_element(By.ID, "save-calibration").click()
        assert wait_for(lambda: "saved and reloaded" in driver.find_element(By.ID, "status").text,
                        40), driver.find_element(By.ID, "status").text  # fmt: skip
        import tomllib

        saved = tomllib.loads(daemon.config.read_text())
        cam = next(c for c in saved["cameras"] if c["id"] == "press-line")
        assert cam["calibration"]["floor_points"] == [[0, 0], [4, 0], [4, 6], [0, 6]]
        assert len(cam["calibration"]["image_points"]) == 4
        assert (daemon.tmp / "safetyd.toml.previous").read_text() == config_before
        audit = daemon.tmp / "state" / "audit.jsonl"
        entry = json.loads(audit.read_text().splitlines()[-1])
        assert (entry["action"], entry["user"], entry["reload"]) == (
            "calibration.save", "emil", "applied")  # fmt: skip
    finally:
        driver.quit()


def test_built_in_tls_serves_https_with_secure_cookies(tmp_path, monkeypatch) -> None:
    """[console] tls_cert_credential/tls_key_credential: uvicorn serves https with the
    files systemd passes in; cookies are marked Secure."""
    import shutil as sh
    import ssl
    import types
    from zoneinfo import ZoneInfo

    from mqtt_broker import make_certificates

    from safetyd.config.console import ConsoleSettings
    from safetyd.console.backend import Backend
    from safetyd.console.server import ConsoleServer
    from safetyd.service.status import DeliveryStatus, Status
    from safetyd.storage.store import StorageStatus

    make_certificates(tmp_path, ())
    creds = tmp_path / "credentials"
    creds.mkdir()
    sh.copy(tmp_path / "server.pem", creds / "console-cert")
    sh.copy(tmp_path / "server.key", creds / "console-key")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    status = Status(site="TLS plant", cameras=(), delivery=DeliveryStatus(0, True, (), ()),
                    storage=StorageStatus(True, "/x", None, None, 0))  # fmt: skip
    loaded = types.SimpleNamespace(config=types.SimpleNamespace(
        site=types.SimpleNamespace(name="TLS plant")))  # fmt: skip
    backend = Backend(status=lambda: status, loaded=lambda: loaded, picture=lambda c: None,
                      store=None, alerts=types.SimpleNamespace(tz=ZoneInfo("UTC")))  # fmt: skip
    settings = ConsoleSettings(enabled=True, port=0, tls_cert_credential="console-cert",
                               tls_key_credential="console-key")  # fmt: skip
    server = ConsoleServer(settings, tmp_path / "users.json", backend).start()
    try:
        context = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
        url = f"https://127.0.0.1:{server.port}/login"
        assert wait_for(lambda: _https_ok(url, context), 10)
        with urllib.request.urlopen(url, context=context, timeout=10) as r:
            assert r.status == 200 and b"TLS plant" in r.read()
            cookie = r.headers["set-cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
        with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/login", timeout=5).read()
    finally:
        server.stop()


def _https_ok(url: str, context) -> bool:
    try:
        with urllib.request.urlopen(url, context=context, timeout=5):
            return True
    except (urllib.error.URLError, ConnectionError):
        return False


def test_the_live_state_says_why_and_since_when_a_camera_is_offline() -> None:
    import types
    from zoneinfo import ZoneInfo

    from safetyd.assembly import load as cfg
    from safetyd.console.backend import Backend
    from safetyd.console.live import live_state
    from safetyd.service.status import CameraStatus, DeliveryStatus, Status
    from safetyd.storage.store import StorageStatus

    loaded = cfg.load(ROOT / "systemd" / "safetyd.toml")  # cameras walkway, press-line, dock
    down = CameraStatus(id="walkway", up=False, connected=False, fps=0.0, frame_age_s=90.0,
                        frames_read=10, frames_dropped=0, reconnects=3,
                        error="rtsp://cam-walkway/stream: connection refused", zones=(),
                        incidents=())  # fmt: skip
    never = CameraStatus(id="press-line", up=False, connected=False, fps=0.0, frame_age_s=None,
                         frames_read=0, frames_dropped=0, reconnects=0, error=None, zones=(),
                         incidents=())  # fmt: skip
    status = Status(site="P", cameras=(down, never), delivery=DeliveryStatus(0, True, (), ()),
                    storage=StorageStatus(True, "/x", None, None, 0))  # fmt: skip
    tz = types.SimpleNamespace(tz=ZoneInfo("Europe/Berlin"))
    backend = Backend(status=lambda: status, loaded=lambda: loaded, picture=lambda c: None,
                      store=None, alerts=tz)  # fmt: skip
    before = time.time()
    cams = {c["id"]: c for c in live_state(backend)["cameras"]}
    assert cams["walkway"]["state"] == "OFFLINE"
    assert cams["walkway"]["reason"] == "rtsp://cam-walkway/stream: connection refused"
    since = datetime.strptime(cams["walkway"]["since"][:19], "%Y-%m-%d %H:%M:%S")
    expected = datetime.fromtimestamp(before - 90, ZoneInfo("Europe/Berlin")).replace(tzinfo=None)
    assert abs((since - expected).total_seconds()) <= 2
    assert cams["walkway"]["since"].endswith(("CET", "CEST"))
    assert (cams["press-line"]["reason"], cams["press-line"]["since"]) == (
        "no fresh frames", "start")  # fmt: skip
    assert cams["dock"]["state"] == "NOT MONITORED"  # configured, not running


def test_sessions_expire_and_the_limiter_forgives_after_the_lockout() -> None:
    from safetyd.assembly.users import User
    from safetyd.console.sessions import LoginLimiter, Sessions

    now = [1000.0]
    sessions = Sessions(hours=1, clock=lambda: now[0])
    s = sessions.create(User("ann", "operator"))
    assert sessions.get(s.token) is s and s.csrf_ok(s.csrf) and not s.csrf_ok("x")
    now[0] += 3599
    assert sessions.get(s.token) is s
    now[0] += 2
    assert sessions.get(s.token) is None  # expired: gone for good
    limiter = LoginLimiter(3, lockout_s=60, window_s=900, clock=lambda: now[0])
    for _ in range(2):
        limiter.failed("ann")
    assert limiter.locked("ann") == 0
    limiter.failed("ann")
    assert limiter.locked("ann") == 60 and limiter.locked("bob") == 0
    now[0] += 61
    assert limiter.locked("ann") == 0


def test_flooding_other_names_does_not_erase_a_lockout() -> None:
    """Round 2: past 10,000 names the limiter forgot the oldest half, lockouts
    included: failing once with 20,000 other names unlocked the victim."""
    from safetyd.console.sessions import MAX_KEYS, LoginLimiter

    now = [1000.0]
    limiter = LoginLimiter(3, lockout_s=300, window_s=900, clock=lambda: now[0])
    for _ in range(3):
        limiter.failed("victim")
    assert limiter.locked("victim") == 300
    for k in range(2 * MAX_KEYS):
        now[0] += 0.001
        limiter.failed(f"flood{k}")
    assert limiter.locked("victim") > 250
    assert len(limiter._keys) <= MAX_KEYS + 1  # still bounded


def _console_alone(tmp_path: Path, **settings):
    """A console server in this process with one user, and what it reads."""
    import types
    from zoneinfo import ZoneInfo

    from safetyd.config.console import ConsoleSettings
    from safetyd.console.backend import Backend
    from safetyd.console.server import ConsoleServer
    from safetyd.service.status import DeliveryStatus, Status
    from safetyd.storage.store import StorageStatus

    assert add_user(tmp_path / "users.json", "vera", "viewer", PASSWORDS["vera"]).returncode == 0
    status = Status(site="Proxy plant", cameras=(), delivery=DeliveryStatus(0, True, (), ()),
                    storage=StorageStatus(True, "/x", None, None, 0))  # fmt: skip
    loaded = types.SimpleNamespace(config=types.SimpleNamespace(
        site=types.SimpleNamespace(name="Proxy plant")))  # fmt: skip
    backend = Backend(status=lambda: status, loaded=lambda: loaded, picture=lambda c: None,
                      store=None, alerts=types.SimpleNamespace(tz=ZoneInfo("UTC")))  # fmt: skip
    config = ConsoleSettings(enabled=True, port=0, **settings)
    return ConsoleServer(config, tmp_path / "users.json", backend).start()


class _ForwardedClient(Client):
    """A client that claims to be somewhere else (X-Forwarded-For)."""

    def __init__(self, base: str, claims: str) -> None:
        super().__init__(base)
        self.opener.addheaders = [("X-Forwarded-For", claims)]


def test_forwarded_addresses_are_believed_only_from_configured_proxies(tmp_path) -> None:
    """Round 2: uvicorn believed X-Forwarded-For from 127.0.0.1 by default, so a local
    attacker claiming a new address per try was never locked out. By default nobody's
    forwarded headers count; a configured proxy's do (each user behind it is counted
    apart)."""
    server = _console_alone(tmp_path, max_failed_logins=2)  # per address: 4 x 2 = 8
    base = f"http://127.0.0.1:{server.port}"
    assert wait_for(lambda: Client(base).request("/login")[0] == 200, 10)
    try:
        codes = [
            _ForwardedClient(base, f"10.9.0.{k}").log_in(f"name{k}", "wrong") for k in range(8)
        ]
        assert codes == [401] * 8
        # The ninth try, from yet another claimed address, is locked: the address is ours.
        assert _ForwardedClient(base, "10.9.0.99").log_in("vera") == 429
    finally:
        server.stop()
    proxied = tmp_path / "proxied"
    proxied.mkdir()
    server = _console_alone(proxied, max_failed_logins=2, trusted_proxies=["127.0.0.1"])
    base = f"http://127.0.0.1:{server.port}"
    assert wait_for(lambda: Client(base).request("/login")[0] == 200, 10)
    try:
        codes = [_ForwardedClient(base, "10.9.0.1").log_in(f"n{k}", "wrong") for k in range(8)]
        assert codes == [401] * 8
        assert _ForwardedClient(base, "10.9.0.1").log_in("vera") == 429
        assert _ForwardedClient(base, "10.9.0.2").log_in("vera") == 303  # someone else
    finally:
        server.stop()


def test_csv_cells_never_start_a_formula() -> None:
    """Round 2: a formula after a leading tab or carriage return went through (the
    check looked at the first character only)."""
    from safetyd.console.history import spreadsheet_cell

    for text in ("=1+1", "+1", "-1+1", "@SUM(A1)", "\t=cmd|' /C calc'!A0", "\r=1", " =1"):
        assert spreadsheet_cell(text) == "'" + text, text
    for value in ("press guard", "", None, 12.5, -3.0, "right wrist (estimated)"):
        assert spreadsheet_cell(value) == value
