"""Scheduler jobs and their daily duties: digest, retention, error/miss logging."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from conftest import EXAMPLE_CONFIG, wait_for
from fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from test_alerts import alert_config, transition

from safetyd.alerts.service import AlertService
from safetyd.assembly import load as cfg
from safetyd.service import jobs as housekeeping
from safetyd.service.scheduler import JOB_DEFAULTS, Scheduler
from safetyd.storage.store import Store

DAY = 86400.0


def test_retention_deletes_old_events_and_their_snapshots_only(tmp_path: Path) -> None:
    store = Store(tmp_path / "safetyd.db")
    snaps = tmp_path / "snapshots"
    now = time.time()
    old_dir, new_dir = snaps / "2020-01-01", snaps / time.strftime("%Y-%m-%d")
    old_dir.mkdir(parents=True)
    new_dir.mkdir(parents=True)
    old_snap, new_snap = old_dir / "a.jpg", new_dir / "b.jpg"
    outside = tmp_path / "keep-me.jpg"  # a path outside the snapshots folder
    for f in (old_snap, new_snap, outside):
        f.write_bytes(b"jpeg")
    with store.transaction() as db:
        store.add_events(
            db,
            [
                transition(incident="old", wall=now - 100 * DAY, snapshot=str(old_snap)),
                transition(incident="odd", wall=now - 100 * DAY, snapshot=str(outside)),
                transition(incident="new", wall=now - DAY, snapshot=str(new_snap)),
            ],
        )
    removed = housekeeping.retention(store, tmp_path, days=90, now=now)
    assert removed == 1
    assert [e["incident"] for e in store.events()] == ["new"]
    assert not old_snap.exists() and not old_dir.exists()
    assert new_snap.exists() and outside.exists()


def test_digest_counts_incidents_per_zone(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    with FakeTwilio() as fake:
        loaded = cfg.load(alert_config(tmp_path, fake))
        store = Store(tmp_path / "o.db")
        service = AlertService.from_config(loaded, store)
        now = time.time()
        with store.transaction() as db:
            store.add_events(
                db,
                [
                    transition("opened", "warning", incident="a", wall=now - 3600),
                    transition("escalated", "danger", incident="a", wall=now - 3500),
                    transition("opened", "danger", incident="b", wall=now - 60),
                    transition("opened", "warning", incident="c", wall=now - 2 * DAY),
                ],
            )
        assert housekeeping.send_digest(store, service, "Plant 1", ["safety"], now=now) >= 1
        service.start()
        try:
            assert wait_for(lambda: fake.delivered(), 10)
        finally:
            service.stop()
    (req,) = fake.delivered()
    assert req.form["To"] == "+15555550121"
    assert req.form["Body"].endswith(": Press 3 guard 2 (2 danger)")
    assert req.form["Body"].startswith("safetyd Plant 1 ")


def test_the_weekly_digest_compares_weeks_names_zones_unacknowledged_and_blind_cameras(
    tmp_path: Path, monkeypatch
) -> None:
    """[digest] every = "week": real SMS through the twilio library to the fake Twilio."""
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    with FakeTwilio() as fake:
        path = alert_config(tmp_path, fake)
        text = path.read_text().replace(
            'time = "07:00"',
            'time = "07:00"\nevery = "week"\nlink = "https://safety.plant.example/"',
        )
        path.write_text(text)
        loaded = cfg.load(path)
        store = Store(tmp_path / "o.db")
        service = AlertService.from_config(loaded, store)
        now = time.time()
        lane = {"zone_id": "lane", "zone_name": "Forklift lane", "camera": "dock"}
        with store.transaction() as db:
            store.add_events(db, [
                # This week: three warnings, two of them escalated; one more in the lane.
                transition("opened", "warning", incident="a", wall=now - 3 * DAY),
                transition("escalated", "danger", incident="a", wall=now - 3 * DAY + 2),
                transition("opened", "warning", incident="b", wall=now - 2 * DAY),
                transition("escalated", "danger", incident="b", wall=now - 2 * DAY + 1),
                transition("opened", "warning", incident="c", wall=now - DAY),
                transition("opened", "warning", incident="d", wall=now - DAY, **lane),
                # The week before: one warning. Older: not counted at all.
                transition("opened", "warning", incident="e", wall=now - 9 * DAY),
                transition("opened", "danger", incident="f", wall=now - 20 * DAY),
            ])  # fmt: skip
        # Danger "a" was acknowledged by Vera after 90 s; "b" never was.
        service.ledger.store.db.execute(
            "INSERT INTO incidents (incident, camera, zone, zone_name, level, opened_wall, "
            "acked_wall, acked_by, acked_channel) VALUES ('a', 'press-line', 'press', "
            "'Press 3 guard', 'danger', ?, ?, 'vera', 'console')",
            (now - 3 * DAY, now - 3 * DAY + 90),
        )
        service.ledger.store.db.commit()
        # The dock camera was blind for 1 h 30 min (alarm to restored), twice over
        # recipients (one period, however many were told).
        for kind, at in (("camera_offline", now - DAY - 5400), ("camera_restored", now - DAY)):
            for to in ("+15555550121", "+15555550122"):
                store.db.execute(
                    "INSERT INTO outbox (dedup_key, kind, sink, recipient, level, camera, body, "
                    "payload, created, next_attempt, status) VALUES (?, ?, 'log', ?, 'danger', "
                    "'dock', '', '{}', ?, ?, 'sent')",
                    (f"{kind}{to}", kind, to, at, at),
                )
        store.db.commit()
        assert housekeeping.send_weekly_digest(store, service, loaded.config, now=now) >= 1
        service.start()
        try:
            assert wait_for(lambda: fake.delivered(), 10)
        finally:
            service.stop()
    (req,) = fake.delivered()
    body = req.form["Body"]
    assert req.form["To"] == "+15555550121"
    assert ": 4 warnings (1 the week before), 2 dangers (0)." in body
    assert "Top zones: Press 3 guard 5, Forklift lane 1." in body
    assert "Unacknowledged dangers: 1." in body
    assert "Blind cameras: dock 1h30m." in body
    assert body.endswith("Report: https://safety.plant.example/analytics?days=7")
    assert body.startswith("safetyd ")


def test_the_digest_runs_daily_or_on_its_weekday_at_its_time_in_site_time(tmp_path) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    base = EXAMPLE_CONFIG.read_text().replace('"../', f'"{EXAMPLE_CONFIG.parent}/../')
    for every, weekday, want in (("day", "mon", "*"), ("week", "fri", "fri")):
        path = tmp_path / f"{every}.toml"
        when = f'time = "06:30"\nevery = "{every}"\nweekday = "{weekday}"'
        path.write_text(base.replace('time = "07:00"', when))
        loaded = cfg.load(path)
        scheduler = Scheduler()
        store = Store(tmp_path / f"{every}.db")
        alerts = AlertService.from_config(loaded, store)
        cameras = None  # the digest's schedule reads no camera
        jobs = housekeeping.Jobs(lambda c=loaded: c, store, alerts, cameras, scheduler)  # type: ignore[arg-type]
        jobs.schedule()
        trigger = scheduler._scheduler.get_job("digest").trigger
        fields = {f.name: str(f) for f in trigger.fields}
        assert (fields["day_of_week"], fields["hour"], fields["minute"]) == (want, "6", "30")
        tz = ZoneInfo(loaded.config.site.timezone)
        start = datetime(2026, 12, 7, 12, 0, tzinfo=tz)  # a Monday
        fire = trigger.get_next_fire_time(None, start)
        assert (fire.hour, fire.minute, fire.utcoffset()) == (6, 30, start.utcoffset())
        assert fire.strftime("%a") == ("Tue" if every == "day" else "Fri")


def test_scheduler_jobs_coalesce_and_failures_are_logged(caplog) -> None:
    assert JOB_DEFAULTS == {"coalesce": True, "max_instances": 1, "misfire_grace_time": 30}
    scheduler = Scheduler()
    calls = []

    def boom() -> None:
        calls.append(1)
        raise RuntimeError("disk on fire")

    scheduler.every("boom", 0.2, boom)
    with caplog.at_level(logging.ERROR, logger="safetyd.scheduler"):
        scheduler.start()
        try:
            assert scheduler.job_ids() == ["boom"]
            assert wait_for(lambda: calls, 5)
            time.sleep(0.3)
        finally:
            scheduler.stop()
    failed = [r for r in caplog.records if "scheduled job boom failed" in r.getMessage()]
    assert failed and "RuntimeError('disk on fire')" in failed[0].getMessage()
    # The real traceback, formatted (the text once given as exc_info made logging
    # print "--- Logging error --- 'str' object has no attribute 'tb_frame'" instead).
    text = logging.Formatter().format(failed[0])
    assert "Traceback (most recent call last)" in text and "in boom" in text


def test_the_digest_is_dated_by_the_site_calendar_not_the_machine(
    tmp_path: Path, monkeypatch
) -> None:
    """The example site is in Europe/Berlin; a machine set to UTC+14 used to date the
    digest of the evening of the 26th as the 27th."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    monkeypatch.setenv("TZ", "Pacific/Kiritimati")  # UTC+14
    time.tzset()
    try:
        with FakeTwilio() as fake:
            loaded = cfg.load(alert_config(tmp_path, fake, sinks='"log"'))
            store = Store(tmp_path / "o.db")
            service = AlertService.from_config(loaded, store)
            now = datetime(2026, 11, 26, 23, 30, tzinfo=ZoneInfo("Europe/Berlin")).timestamp()
            assert time.strftime("%Y-%m-%d", time.localtime(now - 3600)) == "2026-11-27"
            housekeeping.send_digest(store, service, "Plant 1", ["safety"], now=now)
            (row,) = service.outbox.rows(kind="digest")
            assert row["body"] == "safetyd Plant 1 2026-11-26: no incidents"
            store.close()
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_an_events_table_from_an_older_safetyd_gains_the_new_columns(tmp_path: Path) -> None:
    """A database written before the events had ``folded``, ``part_x``, ``part_y`` and
    ``estimate``: opening it adds them (its old rows have none), and new events are
    stored with them."""
    import sqlite3

    from safetyd.hazard.records import EVENTS_SCHEMA

    old_schema = EVENTS_SCHEMA
    for column in ("folded", "part_x", "part_y", "estimate"):
        old_schema = "\n".join(line for line in old_schema.splitlines()
                               if not line.strip().startswith(column + " "))  # fmt: skip
    path = tmp_path / "safetyd.db"
    with sqlite3.connect(path) as db:
        db.executescript(old_schema)
        db.execute("PRAGMA user_version = 1")
        before = {row[1] for row in db.execute("PRAGMA table_info(events)")}
    assert "folded" not in before and "estimate" not in before
    store = Store(path)
    try:
        with store.transaction() as db:
            store.add_events(db, [transition(folded="cooldown", estimate="bbox_centre",
                                             part_x=12.5, part_y=40.0)])  # fmt: skip
        row = store.db.execute("SELECT folded, estimate, part_x, part_y FROM events").fetchone()
        assert tuple(row) == ("cooldown", "bbox_centre", 12.5, 40.0)
    finally:
        store.close()
