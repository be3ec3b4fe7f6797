"""Table-driven corpus of malformed configurations and zone files.

Each row is one realistic mistake, and the exact message a safety engineer
gets for it: file, location (key path or feature), the bad value and what is
expected. The corpus runs through the real CLI (`safetyd check-config`) as a
subprocess, so a traceback anywhere would fail the row.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import BASE_TOML, SAFETYD, square, write_config, zone_collection, zone_feature

OPS = {"danger": ["operators"]}

TWILIO_OK = """
[alerts.twilio]
from_number = "+15555550100"
"""


def toml_with(replace: tuple[str, str] | None = None, append: str = "") -> str:
    text = BASE_TOML
    if replace:
        assert replace[0] in text, replace[0]
        text = text.replace(*replace)
    return text + append


# (case id, config text, zones (None: a valid default), expected "where: message")
CONFIG_CASES = [
    (
        "toml-syntax",
        toml_with(("[[cameras]]", "[[cameras]")),
        None,
        ": not valid TOML: Expected ']]' at the end of an array declaration (at line 2, column 10)",
    ),
    (
        "unknown-top-level-key",
        toml_with(append="\n[camras]\nid = 1\n"),
        None,
        ": camras: unknown key 'camras' (did you mean 'cameras'?); allowed here: alerts, "
        "analytics, body, cameras, clips, console, digest, hazards, http, inputs, motion, mqtt, "
        "outputs, pose, privacy, site, storage, tracking",
    ),
    (
        "unknown-camera-key",
        toml_with(("width = 640", "fsp = 5\nwidth = 640")),
        None,
        ": cameras[0].fsp: unknown key 'fsp' (did you mean 'fps'?); allowed here: body, "
        "calibration, enabled, fps, height, id, loop, password_credential, regions, source, "
        "stale_after_s, width, zones",
    ),
    (
        "body-unknown-key",
        toml_with(append="\n[body]\nman_down_after = 30\n"),
        None,
        ": body.man_down_after: unknown key 'man_down_after' (did you mean 'man_down_after_s'?); "
        "allowed here: fall, hold_s, man_down, man_down_after_s, posture",
    ),
    (
        "camera-body-too-short",
        toml_with(("width = 640", "width = 640\nbody = { man_down_after_s = 2 }")),
        None,
        ": cameras[0].body.man_down_after_s: 2 is not valid: Input should be greater than or "
        "equal to 5 (expected seconds a person lies still before it is a man down)",
    ),
    (
        "regions-unknown-word",
        toml_with(("width = 640", 'regions = "zones"\nwidth = 640')),
        None,
        ": cameras[0].regions: 'zones' is not a region mode; use 'auto', 'full' or a list of "
        "[x0, y0, x1, y1] pixel boxes",
    ),
    (
        "regions-box-upside-down",
        toml_with(("width = 640", "regions = [[100, 100, 50, 300]]\nwidth = 640")),
        None,
        ": cameras[0].regions: [[100, 100, 50, 300]] is not valid: box 1 [100, 100, 50, 300] "
        "is not [x0, y0, x1, y1] with 0 <= x0, 0 <= y0, x1 > x0 and y1 > y0, at least 16 px "
        "each way",
    ),
    (
        "fps-zero",
        toml_with(("width = 640", "fps = 0\nwidth = 640")),
        None,
        ": cameras[0].fps: 0 is not valid: Input should be greater than 0 "
        "(expected frames per second processed, at most)",
    ),
    (
        "fps-nan",
        toml_with(("width = 640", "fps = nan\nwidth = 640")),
        None,
        ": cameras[0].fps: nan is not valid: Input should be a finite number "
        "(expected frames per second processed, at most)",
    ),
    (
        "bad-phone-number",
        toml_with(('"+15555550101"', '"0151 2345678"')),
        None,
        ": alerts.groups.operators.numbers[0]: '0151 2345678' is not an E.164 phone number: "
        "write '+', the country code and the number, digits only, e.g. '+4915112345678'",
    ),
    (
        "token-pasted-as-credential-name",
        toml_with(
            append=TWILIO_OK + 'auth_token_credential = "f00dfeedcafe5ec7e70123456789abcd"\n'
        ),
        None,
        ": alerts.twilio.auth_token_credential: the value is not valid: this looks like the "
        "secret itself, not the name of the credential that holds it; put the secret in a "
        "systemd credential (LoadCredential=) or an environment variable and give its name "
        "here, e.g. 'twilio-auth-token' (and rotate the secret if this file was shared)",
    ),
    (
        "secret-with-symbols-as-credential-name",
        toml_with(append=TWILIO_OK + 'auth_token_credential = "s3cr3t/+pa55=="\n'),
        None,
        ": alerts.twilio.auth_token_credential: the value is not valid: a credential name is "
        "1-128 letters, digits, '_', '-' or '.'",
    ),
    (
        "http-bind-everywhere",
        toml_with(append='\n[http]\nbind = "0.0.0.0"\n'),
        None,
        ": http: bind = '0.0.0.0' would serve live camera frames of workers and incident data "
        "to anyone who can reach this machine, without a login; keep bind = '127.0.0.1' (and "
        "put an authenticating reverse proxy in front), or set allow_unauthenticated = true to "
        "accept that",
    ),
    (
        "camera-password-credential-without-user",
        toml_with(("width = 640", 'password_credential = "cam1-password"\nwidth = 640')),
        None,
        ": cameras[0]: password_credential needs a stream URL with the user in it, e.g. "
        "source = 'rtsp://USER@192.0.2.10/stream'",
    ),
    (
        "camera-password-twice",
        toml_with(
            (
                'source = "rtsp://127.0.0.1:8554/cam1"',
                'source = "rtsp://admin:hunter22@127.0.0.1:8554/cam1"\n'
                'password_credential = "cam1-password"',
            )
        ),
        None,
        ": cameras[0]: source already carries a password and password_credential names "
        "another; take the password out of the URL (rtsp://USER@host/...)",
    ),
    (
        "inline-secret",
        toml_with(append=TWILIO_OK + 'auth_token = "0123456789abcdef"\n'),
        None,
        ": alerts.twilio.auth_token: unknown key 'auth_token': secrets are never read from this "
        "file; store them as a systemd credential or environment variable and give its name in "
        "the matching *_credential key",
    ),
    (
        "sms-sink-without-twilio",
        toml_with(('sinks = ["log"]', 'sinks = ["log", "sms"]')),
        None,
        ": alerts: sinks include 'sms' but there is no [alerts.twilio] section",
    ),
    (
        "twilio-without-sender",
        toml_with(append="\n[alerts.twilio]\ntimeout_s = 5\n"),
        None,
        ": alerts.twilio: set exactly one of from_number or messaging_service_sid",
    ),
    (
        "duplicate-camera",
        toml_with(append='\n[[cameras]]\nid = "cam1"\nsource = "0"\n'),
        None,
        ": camera id 'cam1' is used twice; ids must be unique",
    ),
    (
        "unknown-timezone",
        toml_with(append='\n[site]\ntimezone = "Europe/Berlinn"\n'),
        None,
        ": site.timezone: unknown time zone 'Europe/Berlinn'; use an IANA name like "
        "'Europe/Berlin'",
    ),
    (
        "bind-not-an-ip",
        toml_with(append='\n[http]\nbind = "localhost"\n'),
        None,
        ": http.bind: 'localhost' does not appear to be an IPv4 or IPv6 address",
    ),
    (
        "calibration-three-points",
        toml_with(
            append="\n[cameras.calibration]\nimage_points = [[0,0],[1,0],[1,1]]\n"
            "floor_points = [[0,0],[1,0],[1,1]]\n"
        ),
        None,
        ": cameras[0].calibration.image_points: [[0, 0], [1, 0], [1, 1]] is not valid: List "
        "should have at least 4 items after validation, not 3 (expected at least 4 [x, y] pixel "
        "positions of floor marks)",
    ),
    (
        "calibration-collinear",
        toml_with(
            (
                "zones = [",
                "[cameras.calibration]\n"
                "image_points = [[0,0],[10,10],[20,20],[30,30]]\n"
                "floor_points = [[0,0],[1,0],[1,1],[0,1]]\n"
                "[[cameras]]\nid = 'cam2'\nsource = '1'\nzones = [",
            )
        ),
        None,
        ": cameras[0].calibration: image_points all lie on one line; choose marks spread over "
        "the floor",
    ),
    (
        "unsupported-url-scheme",
        toml_with(('source = "rtsp://127.0.0.1:8554/cam1"', 'source = "ftp://10.0.0.1/x"')),
        None,
        ": cameras[0].source: 'ftp://10.0.0.1/x' is not valid: URL scheme 'ftp' is not "
        "supported; use rtsp://, http(s)://, a file path, /dev/videoN or a device index",
    ),
    (
        "system-recipient-unknown",
        toml_with(('sinks = ["log"]', 'sinks = ["log"]\nsystem_recipients = ["maintenance"]')),
        None,
        ": alerts: system_recipients names unknown group(s) ['maintenance']; defined groups: "
        "['operators']",
    ),
    (
        "no-cameras",
        "[storage]\nstate_dir = 'x'\n",
        None,
        ": cameras: required key is missing: at least one [[cameras]] table",
    ),
    (
        "wrong-type",
        toml_with(append="\n[pose]\nnum_poses = 'four'\n"),
        None,
        ": pose.num_poses: 'four' is not valid: Input should be a valid integer, unable to parse "
        "string as an integer (expected most people detected per frame)",
    ),
    (
        "bad-digest-time",
        toml_with(append="\n[digest]\ntime = '7am'\n"),
        None,
        ": digest.time: '7am' is not valid: String should match pattern "
        "'^([01][0-9]|2[0-3]):[0-5][0-9]$' (expected local time HH:MM)",
    ),
]

ZONE_CASES = [
    (
        "invalid-json",
        '{"type": "FeatureCollection",\n "features": [,]}',
        ": line 2, column 15: not valid JSON: Expecting value",
    ),
    (
        "top-level-feature",
        zone_feature(),
        ": top level is 'Feature'; expected a GeoJSON FeatureCollection "
        '({"type": "FeatureCollection", "features": [...]})',
    ),
    (
        "top-level-list",
        [zone_feature()],
        ": top level is an array; expected a GeoJSON FeatureCollection "
        '({"type": "FeatureCollection", "features": [...]})',
    ),
    (
        # Used to validate as "OK: 0 zone(s)", and a reload then dropped every zone.
        "null-file",
        "null",
        ": top level is null; expected a GeoJSON FeatureCollection "
        '({"type": "FeatureCollection", "features": [...]})',
    ),
    (
        # Used to crash the parser (RecursionError) and with it a reload.
        "nested-5000-deep",
        "[" * 5000 + "]" * 5000,
        ": JSON nested 5000 levels deep; a zone file needs fewer than 64",
    ),
    (
        # Used to crash on float() (OverflowError).
        "400-digit-coordinate",
        zone_collection(
            zone_feature("p", [[[0, 0], [10**400, 0], [10, 10], [0, 0]]], recipients=OPS)
        ),
        ": features[0] (id 'p').geometry.coordinates[0][1]: coordinate a 401-digit number is "
        "beyond ±1e+09; is it a typo?",
    ),
    (
        # Used to pass as OK: a zone a fraction of a pixel wide in the top-left corner.
        "longitude-latitude",
        zone_collection(
            zone_feature(
                "geo",
                [[[8.5401, 47.3781], [8.5405, 47.3781], [8.5405, 47.3784], [8.5401, 47.3781]]],
                recipients=OPS,
            )
        ),
        ": features[0] (id 'geo').geometry: the zone is only 0.0004 x 0.0003 pixels: too small "
        "to hold a person; its numbers (8.5401, 47.3781) look like longitude/latitude, which "
        "safetyd does not use; draw it in image pixels of the camera",
    ),
    (
        "tiny-metres-zone",
        {
            **zone_collection(
                zone_feature("crumb", square(1, 1, 1.05, 1.05), recipients=OPS, body_parts=["feet"])
            ),
            "safetyd": {"units": "metres"},
        },
        ": features[0] (id 'crumb').geometry: the zone is only 0.05 x 0.05 m: too small to hold "
        'a person; draw it in floor metres ("safetyd": {"units": "metres"})',
    ),
    (
        # Used to be accepted silently, the last value winning.
        "duplicate-key",
        '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": '
        '{"id": "d", "warn_distance": 10, "warn_distance": 500, "recipients": '
        '{"danger": ["operators"]}}, "geometry": {"type": "Polygon", "coordinates": '
        "[[[0, 0], [100, 0], [100, 100], [0, 0]]]}}]}",
        ": features[0].properties: key 'warn_distance' appears more than once (10, then 500); "
        "keep one: JSON readers silently take the last",
    ),
    (
        "5000-digit-number",
        '{"type": "FeatureCollection", "features": [' + "1" * 5000 + "]}",
        ": not usable JSON: a number has thousands of digits; coordinates are at most ±1e9",
    ),
    (
        "point-geometry",
        zone_collection(
            {
                "type": "Feature",
                "properties": {"id": "p", "warn_distance": 1, "recipients": OPS},
                "geometry": {"type": "Point", "coordinates": [1, 2]},
            }
        ),
        ": features[0] (id 'p').geometry.type: Point is not supported; a hazard zone is an area: "
        "use Polygon or MultiPolygon (to guard a line, draw a thin polygon around it)",
    ),
    (
        "unclosed-ring",
        zone_collection(zone_feature("u", [[[0, 0], [10, 0], [10, 10], [0, 10]]], recipients=OPS)),
        ": features[0] (id 'u').geometry.coordinates[0]: ring is not closed: first position "
        "[0, 0] differs from last position [0, 10]; repeat the first position at the end",
    ),
    (
        "too-short-ring",
        zone_collection(zone_feature("t", [[[0, 0], [10, 0], [0, 0]]], recipients=OPS)),
        ": features[0] (id 't').geometry.coordinates[0]: ring has 3 position(s); a closed ring "
        "needs at least 4 (three corners and the first corner repeated at the end)",
    ),
    (
        "self-intersection",
        zone_collection(
            zone_feature("bow", [[[0, 0], [10, 10], [10, 0], [0, 10], [0, 0]]], recipients=OPS)
        ),
        ": features[0] (id 'bow').geometry: geometry is not a valid area: Self-intersection at "
        "(5, 5); the outline crosses itself; redraw it so edges do not cross",
    ),
    (
        "hole-outside-shell",
        zone_collection(
            zone_feature("h", square(0, 0, 10, 10) + square(20, 20, 30, 30), recipients=OPS)
        ),
        ": features[0] (id 'h').geometry: geometry is not a valid area: Hole lies outside shell "
        "at (20, 20); a hole must lie inside its outer ring",
    ),
    (
        "duplicate-id",
        zone_collection(zone_feature("a", recipients=OPS), zone_feature("a", recipients=OPS)),
        ": features[1] (id 'a'): id 'a' is already used by features[0]; zone ids must be unique",
    ),
    (
        "unknown-camera",
        zone_collection(zone_feature("c", camera="cam9", recipients=OPS)),
        ": features[0] (id 'c').properties.camera: unknown camera 'cam9' (did you mean 'cam1'?); "
        "cameras in the configuration: cam1",
    ),
    (
        "unknown-body-part",
        zone_collection(zone_feature("b", body_parts=["hand"], recipients=OPS)),
        ": features[0] (id 'b').properties.body_parts: ['hand'] is not valid: unknown body part "
        "'hand' (did you mean 'hands'?); use a group (feet, hands, head, torso, any) or a "
        "MediaPipe landmark name such as 'left_wrist'",
    ),
    (
        "unknown-recipient-group",
        zone_collection(zone_feature("r", recipients={"danger": ["operatorz"]})),
        ": features[0] (id 'r').properties.recipients.danger: unknown recipient group "
        "'operatorz' (did you mean 'operators'?); groups in [alerts.groups]: operators",
    ),
    (
        "negative-warn-distance",
        zone_collection(zone_feature("n", warn_distance=-5, recipients=OPS)),
        ": features[0] (id 'n').properties.warn_distance: -5 is not valid: Input should be "
        "greater than or equal to 0 (expected distance from the zone that warns, in the file's "
        "units)",
    ),
    (
        "nan-warn-ttc",
        '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"id":"x",'
        '"warn_distance":1,"warn_ttc_s":NaN,"recipients":{"danger":["operators"]}},'
        '"geometry":{"type":"Polygon","coordinates":[[[0,0],[9,0],[9,9],[0,0]]]}}]}',
        ": features[0] (id 'x').properties.warn_ttc_s: nan is not valid: Input should be a "
        "finite number (expected warn when contact is predicted within this many seconds)",
    ),
    (
        "infinite-coordinate",
        '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"id":"x",'
        '"warn_distance":1,"recipients":{"danger":["operators"]}},'
        '"geometry":{"type":"Polygon","coordinates":[[[0,0],[Infinity,0],[9,9],[0,0]]]}}]}',
        ": features[0] (id 'x').geometry.coordinates[0][1]: [inf, 0] contains inf; "
        "coordinates must be finite",
    ),
    (
        "empty-geometry",
        zone_collection(zone_feature("e", [], recipients=OPS)),
        ": features[0] (id 'e').geometry.coordinates: polygon has no rings: the geometry is "
        "empty; a zone needs an area",
    ),
    (
        "null-geometry",
        zone_collection(
            {
                "type": "Feature",
                "properties": {"id": "g", "warn_distance": 1, "recipients": OPS},
                "geometry": None,
            }
        ),
        ": features[0] (id 'g').geometry: geometry is null; expected a Polygon or MultiPolygon",
    ),
    (
        "bad-schedule-time",
        zone_collection(zone_feature("s", schedule=["mon-fri 06:00-25:00"], recipients=OPS)),
        ": features[0] (id 's').properties.schedule: ['mon-fri 06:00-25:00'] is not valid: time "
        "'25:00' is not a clock time "
        "(00:00 to 23:59; 24:00 only as an end)",
    ),
    (
        "bad-schedule-days",
        zone_collection(zone_feature("s", schedule="mon-fry 06:00-22:00", recipients=OPS)),
        ": features[0] (id 's').properties.schedule: 'mon-fry 06:00-22:00' is not valid: days "
        "'mon-fry' not understood; use '*', "
        "'daily', a day (mon, tue, wed, thu, fri, sat, sun), a range like 'mon-fri' or a list "
        "like 'mon,wed'",
    ),
    (
        "unknown-property",
        zone_collection(zone_feature("k", warn_dist=3, recipients=OPS)),
        ": features[0] (id 'k').properties.warn_dist: unknown key 'warn_dist' (did you mean "
        "'warn_distance'?); allowed here: armed_when, body_parts, camera, cooldown_s, "
        "danger_must_ack, enabled, escalate_after_s, escalation_chain, fall, id, kind, "
        "man_down, man_down_after_s, min_frames, name, posture, posture_notice_after, "
        "recipients, schedule, severity, warn_distance, warn_ttc_s",
    ),
    (
        "missing-id",
        zone_collection(
            {
                "type": "Feature",
                "properties": {"warn_distance": 1, "recipients": OPS},
                "geometry": {"type": "Polygon", "coordinates": square(0, 0, 9, 9)},
            }
        ),
        ": features[0].properties.id: required key is missing: every zone needs a unique id",
    ),
    (
        "missing-warn-distance",
        zone_collection(
            {
                "type": "Feature",
                "properties": {"id": "w", "recipients": OPS},
                "geometry": {"type": "Polygon", "coordinates": square(0, 0, 9, 9)},
            }
        ),
        ": features[0] (id 'w').properties.warn_distance: required key is missing: distance "
        'from the zone that warns, in the file\'s units (or "kind": "area" for an area '
        "watched for falls and posture)",
    ),
    (
        "area-with-warn-distance",
        zone_collection(
            {
                "type": "Feature",
                "properties": {"id": "a", "kind": "area", "warn_distance": 1, "recipients": OPS},
                "geometry": {"type": "Polygon", "coordinates": square(0, 0, 9, 9)},
            }
        ),
        ": features[0] (id 'a').properties.warn_distance: a hazard zone's setting; an area "
        "(kind 'area') has no distances: remove it",
    ),
    (
        "man-down-on-a-hazard-zone",
        zone_collection(
            {
                "type": "Feature",
                "properties": {"id": "h", "warn_distance": 1, "man_down": False, "recipients": OPS},
                "geometry": {"type": "Polygon", "coordinates": square(0, 0, 9, 9)},
            }
        ),
        ': features[0] (id \'h\').properties.man_down: an area\'s setting; add "kind": "area" '
        "or remove it",
    ),
    (
        "unknown-kind",
        zone_collection(
            {
                "type": "Feature",
                "properties": {"id": "k", "kind": "room", "recipients": OPS},
                "geometry": {"type": "Polygon", "coordinates": square(0, 0, 9, 9)},
            }
        ),
        ": features[0] (id 'k').properties.kind: 'room' is not valid: Input should be 'hazard' "
        "or 'area' (expected 'hazard': a zone people must not reach (warnings, danger); 'area': "
        "where falls, a man down and posture are watched ([body] in the configuration))",
    ),
    (
        "man-down-after-too-short",
        zone_collection(
            {
                "type": "Feature",
                "properties": {"id": "a", "kind": "area", "man_down_after_s": 1, "recipients": OPS},
                "geometry": {"type": "Polygon", "coordinates": square(0, 0, 9, 9)},
            }
        ),
        ": features[0] (id 'a').properties.man_down_after_s: 1 is not valid: Input should be "
        "greater than or equal to 5 (expected area: seconds lying still before it is a man down)",
    ),
    (
        "metres-without-calibration",
        zone_collection(
            zone_feature(
                "m", body_parts=["feet"], warn_distance=1, coords=square(0, 0, 2, 2), recipients=OPS
            ),
            units="metres",
        ),
        ": features[0] (id 'm'): zone is in metres but camera 'cam1' has no [calibration]; add "
        "image_points/floor_points to the camera or draw in pixels",
    ),
    (
        "metres-with-hands",
        zone_collection(
            zone_feature("m", body_parts=["hands"], warn_distance=1, recipients=OPS), units="metres"
        ),
        ": features[0] (id 'm').properties.body_parts: 'hands' cannot be checked in a "
        "floor-plane (metres) zone: only feet touch the floor, so only feet map to floor "
        "positions; use body_parts ['feet'] or draw this zone in pixels",
    ),
    (
        "bad-units",
        {**zone_collection(zone_feature("u", recipients=OPS)), "safetyd": {"units": "feet"}},
        ": safetyd.units: 'feet' is not valid: Input should be 'pixels' or 'metres' (expected "
        "coordinate units: image pixels or floor metres)",
    ),
    (
        "bad-position",
        zone_collection(zone_feature("p", [[[0, 0], [10, "0"], [10, 10], [0, 0]]], recipients=OPS)),
        ": features[0] (id 'p').geometry.coordinates[0][1]: [10, '0'] is not a position; "
        "expected [x, y] numbers",
    ),
]


def _run_check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*SAFETYD, "check-config", str(path)], capture_output=True, text=True, timeout=60
    )


def _assert_reported(result: subprocess.CompletedProcess, file: Path, expected: str) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert f"{file}{expected}" in lines, "\n".join(lines)


@pytest.mark.parametrize(
    ("toml", "zones", "expected"),
    [pytest.param(t, z, e, id=i) for i, t, z, e in CONFIG_CASES],
)
def test_bad_config_is_explained(tmp_path: Path, toml: str, zones, expected: str) -> None:
    path = write_config(tmp_path, toml, zones)
    result = _run_check(path)
    assert result.returncode == 1, result.stdout + result.stderr
    _assert_reported(result, path, expected)


@pytest.mark.parametrize(
    ("zones", "expected"),
    [pytest.param(z, e, id=i) for i, z, e in ZONE_CASES],
)
def test_bad_zone_file_is_explained(tmp_path: Path, zones, expected: str) -> None:
    path = write_config(tmp_path, zones=zones if isinstance(zones, str) else json.dumps(zones))
    result = _run_check(path)
    assert result.returncode == 1, result.stdout + result.stderr
    _assert_reported(result, path.parent / "zones.geojson", expected)


def test_a_pasted_secret_is_never_repeated(tmp_path: Path) -> None:
    for secret in ("f00dfeedcafe5ec7e70123456789abcd", "s3cr3t/+pa55=="):
        toml = toml_with(append=TWILIO_OK + f'auth_token_credential = "{secret}"\n')
        result = _run_check(write_config(tmp_path, toml))
        assert result.returncode == 1
        assert secret not in result.stdout + result.stderr


def test_an_exposed_endpoint_is_allowed_only_explicitly_and_then_warned_about(
    tmp_path: Path,
) -> None:
    toml = toml_with(append='\n[http]\nbind = "0.0.0.0"\nallow_unauthenticated = true\n')
    path = write_config(tmp_path, toml)
    result = _run_check(path)
    assert result.returncode == 0, result.stderr
    assert (
        f"{path}: http.bind: warning: '0.0.0.0': the status page, live camera frames and "
        "/metrics are served without a login to anyone who can reach this machine "
        "(allow_unauthenticated = true)"
    ) in result.stderr.splitlines(), result.stderr


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    """Windows editors write a UTF-8 BOM; it is not a problem."""
    zones = json.dumps(zone_collection(zone_feature("bom", recipients=OPS)))
    path = write_config(tmp_path, zones="\ufeff" + zones)
    assert (tmp_path / "zones.geojson").read_bytes().startswith(b"\xef\xbb\xbf")
    result = _run_check(path)
    assert result.returncode == 0, result.stderr


def test_a_camera_password_in_the_file_is_warned_about_and_never_printed(
    tmp_path: Path,
) -> None:
    toml = toml_with(
        (
            'source = "rtsp://127.0.0.1:8554/cam1"',
            'source = "rtsp://admin:hunter22@127.0.0.1:8554/cam1"',
        )
    )
    path = write_config(tmp_path, toml)
    result = subprocess.run(
        [*SAFETYD, "check-config", str(path), "-v"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert (
        f"{path}: cameras[0] (id 'cam1').source: warning: the URL carries a password, in a "
        "file anyone on this machine may read; move it to a systemd credential: write the URL "
        "without it (rtsp://USER@host/...) and set password_credential (see README)"
    ) in result.stderr.splitlines()
    assert "camera cam1: rtsp://***@127.0.0.1:8554/cam1" in result.stdout
    assert "hunter22" not in result.stdout + result.stderr


def test_corpus_is_large_enough() -> None:
    assert len(CONFIG_CASES) + len(ZONE_CASES) >= 25
