"""Daily duties run by the scheduler: the digest and retention."""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from .alerts import messages
from .alerts.service import AlertService
from .store import Store


def send_digest(
    store: Store, alerts: AlertService, site: str, groups: Sequence[str], now: float | None = None
) -> int:
    """Per-zone incident counts of the last 24 hours to the digest groups."""
    now = time.time() if now is None else now
    rows = store.zone_counts(now - 86400, now)
    day = time.strftime("%Y-%m-%d", time.localtime(now - 3600))
    body = messages.digest_text(site, rows, day)
    return alerts.enqueue_system(
        f"digest:{day}", "digest", "info", body, {"zones": rows}, groups=groups
    )


def retention(store: Store, state_dir: Path, days: int, now: float | None = None) -> int:
    """Delete events, delivered alerts and snapshots older than ``days``.

    Only files under the state directory's snapshots folder are ever removed.
    Returns the number of snapshot files deleted.
    """
    now = time.time() if now is None else now
    cutoff = now - days * 86400
    snaps = store.delete_events_before(cutoff)
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
