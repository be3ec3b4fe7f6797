"""Timed work on APScheduler 3 (BackgroundScheduler, UTC, in-memory job store).

The per-frame safety loop never runs here; these are the slow duties around
it: logging zone arming changes at minute edges, the blind-camera check, the
outbox retry sweep, the daily digest and retention. Every job coalesces
missed runs, never overlaps itself, and tolerates a short misfire; errors
and missed runs are logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

# The journal has named these lines "safetyd.scheduler" since v1; operators filter on it.
log = logging.getLogger("safetyd.scheduler")
# APScheduler logs every run at INFO ("Running job ..."): once a second is noise.
logging.getLogger("apscheduler").setLevel(logging.WARNING)

JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 30}
# A few threads are enough for a handful of short jobs; each thread that touches the
# database keeps a connection, so the pool is kept small and fixed.
JOB_THREADS = 3


class Scheduler:
    def __init__(self) -> None:
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults=JOB_DEFAULTS,
            executors={"default": ThreadPoolExecutor(JOB_THREADS)},
        )
        self._scheduler.add_listener(
            self._on_event,
            EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES,
        )
        self.heartbeat = time.monotonic()

    def _on_event(self, event) -> None:
        if event.code in (EVENT_JOB_EXECUTED, EVENT_JOB_ERROR):
            self.heartbeat = time.monotonic()  # jobs run: the scheduler is alive
        if event.code == EVENT_JOB_EXECUTED:
            return
        if event.code == EVENT_JOB_ERROR:
            # event.traceback is APScheduler's formatted text, not a traceback object;
            # the exception carries the real one.
            log.error(
                "scheduled job %s failed: %r",
                event.job_id,
                event.exception,
                exc_info=event.exception,
            )
        elif event.code == EVENT_JOB_MISSED:
            log.warning(
                "scheduled job %s missed its run at %s", event.job_id, event.scheduled_run_time
            )
        else:
            log.warning(
                "scheduled job %s still running at its next run time; skipped", event.job_id
            )

    def every(self, job_id: str, seconds: float, func: Callable[[], object]) -> None:
        self._scheduler.add_job(
            func, IntervalTrigger(seconds=seconds), id=job_id, replace_existing=True
        )

    def cron(self, job_id: str, func: Callable[[], object], tz: str, **fields) -> None:
        self._scheduler.add_job(
            func, CronTrigger(timezone=tz, **fields), id=job_id, replace_existing=True
        )

    def remove(self, job_id: str) -> None:
        if self._scheduler.get_job(job_id):
            self._scheduler.remove_job(job_id)

    def job_ids(self) -> list[str]:
        return sorted(j.id for j in self._scheduler.get_jobs())

    def start(self) -> None:
        self._scheduler.start()

    def stop(self) -> None:
        # wait=False: a job stuck in I/O must not hold up SIGTERM; jobs are idempotent.
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def stalled(self, now: float, limit_s: float = 10.0) -> list[str]:
        """Not running, or no job has finished for ``limit_s`` (one runs every second)."""
        if not self.running or now - self.heartbeat > limit_s:
            return ["scheduler stalled"]
        return []

    @property
    def running(self) -> bool:
        return self._scheduler.running
