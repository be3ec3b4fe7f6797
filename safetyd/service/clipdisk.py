"""The incident clips on disk: where each goes, which incidents it shows, and the
bounds on what they use (``[clips] retention_days`` and ``max_gb``).

Clips live under ``<state_dir>/clips/<site day>/``; the ``clips`` table links
each incident to its clip and its offset in it (an incident that opened while
another's clip ran is seen in that clip). Retention deletes clips older than
``retention_days``, then the oldest until the rest fit in ``max_gb``; a clip
being recorded is never deleted. Before the quota forces clips out ahead of
their days, a warning says so (at ``warn_at`` of the quota), and the metrics
``safetyd_clip_bytes`` and ``safetyd_clip_limit_bytes`` show how close it is.
Only ``*.webm`` files under the clips folder are ever deleted.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from ..base.ratelog import RateLimitedLog
from ..base.timing import day
from ..config.model import ClipSettings
from ..hazard.clips import Joined
from ..storage import clips as clips_table
from ..storage.store import Store
from .metrics import Metrics

log = logging.getLogger("safetyd.clips")
GB = 1_000_000_000
SUFFIX = ".webm"


@dataclass(frozen=True)
class ClipUsage:
    """The clips folder after a retention pass."""

    bytes: int
    files: int
    limit_bytes: int
    removed_old: int  # older than retention_days
    removed_for_space: int  # younger, deleted because max_gb was reached

    @property
    def share(self) -> float:
        return self.bytes / self.limit_bytes if self.limit_bytes else 0.0


class ClipDisk:
    """Shared by every camera's clip writer and the retention job (thread-safe)."""

    def __init__(
        self,
        root: Path,
        settings: Callable[[], ClipSettings],
        store: Store,
        metrics: Metrics | None = None,
    ) -> None:
        self.root = root
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self._lock = threading.Lock()
        self._busy: set[Path] = set()
        self._ratelog = RateLimitedLog(log)
        store.ensure(clips_table.SCHEMA)

    # -- a clip's life ----------------------------------------------------------------

    def new_path(self, camera: str, wall: float, tz: ZoneInfo) -> Path:
        """A fresh file name, filed by the site's day; reserved until ``finished``."""
        clock = datetime.fromtimestamp(wall, tz).strftime("%H%M%S")
        path = self.root / day(wall, tz) / f"{camera}_{clock}_{uuid.uuid4().hex[:6]}{SUFFIX}"
        with self._lock:
            self._busy.add(path)
        return path

    def join(self, camera: str, path: Path, started: float, joined: list[Joined]) -> None:
        """Link incidents to a clip being recorded (the console says so until it ends)."""
        rows = [(j.incident, camera, str(path), j.offset_s, started) for j in joined]
        self._write(clips_table.JOIN, rows)

    def finished(self, path: Path, ok: bool) -> None:
        """The clip is closed: its size is recorded, or, if it failed, it is gone."""
        with self._lock:
            self._busy.discard(path)
        if ok and path.is_file():
            self._write(clips_table.ENDED, [(time.time(), path.stat().st_size, str(path))])
            return
        _unlink(path)
        self._write(clips_table.FORGET, [(str(path),)])

    # -- retention --------------------------------------------------------------------

    def enforce(self, now: float | None = None) -> ClipUsage:
        """Delete clips past their days, then the oldest beyond the quota; warn near it."""
        s = self.settings()
        now = time.time() if now is None else now
        limit = int(s.max_gb * GB)
        with self._lock:
            files = sorted(self._files(), key=lambda f: f[1])  # oldest first
            cutoff = now - s.retention_days * 86400
            old = [f for f in files if f[1] < cutoff]
            kept = [f for f in files if f[1] >= cutoff]
            total = sum(size for _, _, size in kept)
            full = []
            while kept and total > limit:
                f = kept.pop(0)
                full.append(f)
                total -= f[2]
            gone = [p for p, _, _ in old + full if _unlink(p)]
        if gone:
            self._write(clips_table.FORGET, [(str(p),) for p in gone])
        usage = ClipUsage(total, len(kept), limit, len(old), len(full))
        self._report(usage, s)
        return usage

    def _files(self) -> list[tuple[Path, float, int]]:
        out: list[tuple[Path, float, int]] = []
        if not self.root.is_dir():
            return out
        for path in self.root.rglob("*" + SUFFIX):
            if path in self._busy or not path.is_file():
                continue
            try:
                st = path.stat()
            except OSError:
                continue
            out.append((path, st.st_mtime, st.st_size))
        return out

    def _report(self, usage: ClipUsage, s: ClipSettings) -> None:
        if self.metrics is not None:
            self.metrics.clip_bytes.set(usage.bytes)
            self.metrics.clip_limit_bytes.set(usage.limit_bytes)
            self.metrics.clips_deleted.labels("age").inc(usage.removed_old)
            self.metrics.clips_deleted.labels("quota").inc(usage.removed_for_space)
        if usage.removed_for_space:
            log.warning(
                "clips: %d clip(s) deleted before their %d days because the clips reached "
                "[clips] max_gb = %g; raise max_gb or lower retention_days",
                usage.removed_for_space,
                s.retention_days,
                s.max_gb,
            )
        elif usage.share >= s.warn_at:
            self._ratelog.warning(
                "near",
                "clips: %.2f GB of [clips] max_gb = %g used (%.0f%%); beyond it the oldest "
                "clips are deleted before their %d days",
                usage.bytes / GB,
                s.max_gb,
                100 * usage.share,
                s.retention_days,
            )

    def _write(self, sql: str, rows: list[tuple]) -> None:
        """The links are for the console: a database that will not take them costs the
        link, never the clip or the camera."""
        if not rows:
            return
        try:
            with self.store.transaction() as db:
                db.executemany(sql, rows)
        except Exception as exc:
            self._ratelog.error("db", "clips: cannot record clip links: %s", exc)


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except (FileNotFoundError, NotADirectoryError):  # gone, or its folder never was
        return True
    except OSError as exc:
        log.error("clips: cannot delete %s: %s", path, exc)
        return False
    return True
