"""The timed work around the per-frame loop, run by the scheduler (APScheduler):
the blind-camera check and the alert lifecycle (escalation steps, snoozes that
ended) every second, SMS replies when configured, the storage check (with a
test write) every few seconds, the outbox sweep, arming changes logged at
minute edges, the daily digest, retention and the clips' disk.

``Jobs`` reads the running parts through the app; each duty is a method, and
the daily ones are plain functions of their inputs, tested alone.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ..alerts import messages
from ..alerts.escalation import Escalations
from ..alerts.outbox import Outbox
from ..alerts.service import AlertService
from ..analytics import read as analytics
from ..analytics.digest import weekly_text
from ..analytics.figures import Figures, compute, shift_starts
from ..assembly.load import LoadedConfig
from ..base.alerts import AlertKind
from ..base.timing import day as site_day
from ..config.model import Config
from ..plant.service import Plant
from ..storage import posture
from ..storage.store import Store
from ..zones.arming import arming_changes
from . import memory
from .blind import BlindCameras, StorageWatch
from .camera import Cameras
from .clipdisk import ClipDisk
from .scheduler import Scheduler

# The journal has named these lines "safetyd.daemon" since v1; operators filter on it.
log = logging.getLogger("safetyd.daemon")
STORAGE_PROBE_S = 5.0  # a test write this often finds a full disk while nothing happens
TRIM_EVERY_S = 300.0  # freed memory back to the system (service/memory.py)
# Clip retention runs after every clip too; this catches a lowered max_gb, days
# passing, and files added by hand.
CLIP_CHECK_S = 600.0


def send_digest(
    store: Store,
    alerts: AlertService,
    site: str,
    groups: Sequence[str],
    now: float | None = None,
) -> int:
    """Per-zone incident counts of the last 24 hours to the digest groups, dated by
    the site's calendar (not the machine's time zone)."""
    now = time.time() if now is None else now
    rows = store.zone_counts(now - 86400, now)
    day = site_day(now - 3600, alerts.tz)
    body = messages.digest_text(site, rows, day)
    return alerts.enqueue_system(
        f"digest:{day}", AlertKind.DIGEST, "info", body, {"zones": rows}, groups=groups
    )


def send_weekly_digest(
    store: Store,
    alerts: AlertService,
    config: Config,
    now: float | None = None,
) -> int:
    """The last 7 days against the 7 before (analytics/digest.py), to the digest groups."""
    now = time.time() if now is None else now
    week, shifts = 7 * 86400.0, shift_starts(config.analytics)

    def figures(since: float, until: float) -> Figures:
        return compute(analytics.incidents(store, since, until), since, until, alerts.tz, shifts)

    this, before = figures(now - week, now), figures(now - 2 * week, now - week)
    blind = analytics.blind_seconds(store, now - week, now)
    last_day = site_day(now - 3600, alerts.tz)
    link = config.digest.link
    body = weekly_text(
        config.site.name, last_day, this, before, blind,
        f"{link.rstrip('/')}/analytics?days=7" if link else None,
    )  # fmt: skip
    payload = {"figures": this.as_json(), "week_before": before.as_json(), "blind_s": blind}
    return alerts.enqueue_system(
        f"digest-week:{last_day}", AlertKind.DIGEST, "info", body, payload,
        groups=config.digest.recipients,
    )  # fmt: skip


def retention(
    store: Store,
    state_dir: Path,
    days: int,
    now: float | None = None,
    outbox: Outbox | None = None,
) -> int:
    """Delete events, posture figures, delivered alerts and snapshots older than ``days``.

    Only files under the state directory's snapshots folder are ever removed.
    Returns the number of snapshot files deleted.
    """
    now = time.time() if now is None else now
    cutoff = now - days * 86400
    snaps = store.delete_events_before(cutoff)
    store.ensure(posture.SCHEMA)
    with store.transaction() as db:
        posture.delete_before(db, cutoff)
    if outbox is not None:
        outbox.delete_before(cutoff)
    root = (state_dir / "snapshots").resolve()
    removed = 0
    for snap in snaps:
        path = Path(snap).resolve()
        if root in path.parents and path.exists():
            path.unlink()
            removed += 1
    if root.exists():
        oldest_kept = time.strftime("%Y-%m-%d", time.gmtime(cutoff))
        for folder in root.iterdir():
            if folder.is_dir() and folder.name < oldest_kept:
                shutil.rmtree(folder, ignore_errors=True)
    return removed


class Jobs:
    def __init__(
        self,
        config: Callable[[], LoadedConfig],
        store: Store,
        alerts: AlertService,
        cameras: Cameras,
        scheduler: Scheduler,
        on_acknowledged: Callable[[float, str], object] | None = None,
        plant: Callable[[], Plant | None] = lambda: None,
        clip_disk: ClipDisk | None = None,
    ) -> None:
        """``on_acknowledged(seconds, via)``: for the time-to-acknowledge metric;
        ``plant``: the running plant I/O (camera and system health shown, alarms);
        ``clip_disk``: the incident clips kept within their days and disk."""
        self.plant = plant
        self.clip_disk = clip_disk
        self.config = config
        self.store = store
        self.alerts = alerts
        self.cameras = cameras
        self.scheduler = scheduler
        self.blind = BlindCameras()
        self.storage = StorageWatch()
        self.lifecycle = Escalations(config, alerts)
        self.on_acknowledged = on_acknowledged
        self._armed: dict[tuple[str, str], bool] = {}

    def schedule(self) -> None:
        """(Re)schedule every duty from the current configuration (also on reload)."""
        c = self.config().config
        s = self.scheduler
        s.every("camera-health", 1.0, self.check_cameras)
        s.every("lifecycle", 1.0, self.lifecycle_tick)
        replies = c.alerts.replies
        if replies is not None and replies.enabled:
            s.every("sms-replies", replies.poll_interval_s, self.lifecycle.poll_replies)
        else:
            s.remove("sms-replies")
        s.every("storage-health", STORAGE_PROBE_S, self.check_storage)
        s.every("outbox-sweep", 30.0, self.sweep_outbox)
        s.every("memory-trim", TRIM_EVERY_S, memory.trim)
        s.cron("zone-arming", self.log_arming, c.site.timezone, second=0)
        s.cron("retention", self.retention, c.site.timezone, hour=3, minute=17)
        if self.clip_disk is not None:
            s.every("clip-retention", CLIP_CHECK_S, self.clip_disk.enforce)
            self.clip_disk.enforce()  # at start and on reload: a lowered max_gb applies now
        if c.digest.enabled and c.digest.recipients:
            hour, minute = (int(x) for x in c.digest.time.split(":"))
            days = c.digest.weekday if c.digest.every == "week" else "*"
            s.cron("digest", self.digest, c.site.timezone, day_of_week=days, hour=hour,
                   minute=minute)  # fmt: skip
        else:
            s.remove("digest")

    def check_cameras(self) -> None:
        states = self.cameras.states()
        for alarm in self.blind.check(states, time.time()):
            self.alerts.raise_alarm(alarm)
        plant = self.plant()
        if plant is not None and not plant.empty:
            offline = [s.id for s in states if not s.up]
            fault = not self.store.status().ok or not self.alerts.health().ok
            plant.show_health(offline, fault)
            for alarm in plant.alarms(time.time()):
                self.alerts.raise_alarm(alarm)

    def lifecycle_tick(self) -> None:
        report = self.lifecycle.tick()
        if self.on_acknowledged is not None:
            for inc in report.acknowledged:
                wall = inc.acked_wall if inc.acked_wall is not None else inc.opened_wall
                self.on_acknowledged(wall - inc.opened_wall, inc.acked_channel or "?")

    def check_storage(self) -> None:
        with contextlib.suppress(Exception):  # a failure is recorded in store.status()
            self.store.probe()
        for alarm in self.storage.check(self.store.status(), time.time()):
            self.alerts.raise_alarm(alarm)

    def sweep_outbox(self) -> None:
        self.alerts.dispatcher.wake()
        health = self.alerts.health()
        if not health.ok:
            log.warning("alert delivery unhealthy: %s", "; ".join(health.reasons))

    def log_arming(self, initial: bool = False) -> None:
        now = time.time()
        for runner in list(self.cameras.runners.values()):
            setup = runner.pipeline.setup
            for zone, is_armed in arming_changes(
                runner.id, setup.zones, setup.arming, now, self._armed, runner.pipeline.machine
            ):
                if not initial or not is_armed:  # at start, only the disarmed are news
                    log.info(
                        "zone %s camera=%s zone=%s schedule=%r",
                        "armed" if is_armed else "disarmed",
                        runner.id,
                        zone.id,
                        "; ".join(zone.schedule.text),
                    )

    def digest(self) -> None:
        c = self.config().config
        if c.digest.every == "week":
            send_weekly_digest(self.store, self.alerts, c)
        else:
            send_digest(self.store, self.alerts, c.site.name, c.digest.recipients)

    def retention(self) -> None:
        loaded = self.config()
        days = loaded.config.storage.retention_days
        removed = retention(self.store, loaded.state_dir, days, outbox=self.alerts.outbox)
        log.info("retention: removed events and %d snapshot(s) older than %d days", removed, days)
