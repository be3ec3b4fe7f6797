"""SQLite state: incident events and the alert outbox, in one WAL database.

One connection per thread (sqlite3 objects are not shared across threads);
WAL lets the delivery worker, the HTTP endpoint and the inference threads
read while another thread writes. ``synchronous=FULL`` makes a committed
alert survive a power cut as well as a crash; alerts are few, so the fsync
per commit costs nothing that matters.

A connection belongs to the thread that opened it and is closed once that
thread has ended (checked whenever a thread opens one), so servers that run
a thread per request cannot pile up connections. Every write goes through
``transaction()``, which also keeps the storage health: a failing write (disk
full, I/O error, read-only or vanished file) marks storage unhealthy until the
next write succeeds, and the daemon turns that into an alarm.

The file is the one opened at start, for good: later connections open it
without creating it, and every write first checks that the path still names
the same file. If the state directory is deleted (or the file replaced) while
running, writes would otherwise go on "succeeding" into a deleted file and be
lost at the next start, and new connections would create an empty database
beside it. Instead the store is *lost*: every write fails as a storage fault
(the daemon alarms and delivers from memory), reads of the open file still
work (so what is pending can still be sent), and only a restart clears it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..hazard.incidents import Transition
from ..hazard.records import EVENTS_SCHEMA, INSERT_EVENT, added_columns, event_row

SCHEMA_VERSION = 1
# Each table's DDL lives with the code that owns its rows: the events table is
# made from records.FIELDS, the outbox's is in alerts/outbox.py (Outbox.SCHEMA).
HEARTBEAT_SCHEMA = """
CREATE TABLE IF NOT EXISTS heartbeat (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    wall REAL NOT NULL
);
"""


def is_storage_failure(exc: BaseException) -> bool:
    """A fault of the database file or the disk, not of our SQL: full, I/O error,
    read-only, locked too long, corrupt, vanished."""
    return isinstance(exc, sqlite3.DatabaseError | OSError) and not isinstance(
        exc, sqlite3.IntegrityError | sqlite3.ProgrammingError
    )


class StorageLost(sqlite3.OperationalError):
    """The database file was deleted or replaced while it was open."""


class StorageUnusable(RuntimeError):
    """The database cannot be opened at start (explained; see ``open_store``)."""


@dataclass(frozen=True)
class StorageStatus:
    ok: bool
    path: str
    error: str | None  # the last failure, while failing
    since: float | None  # wall time of the first failure of this outage
    failures: int  # failed writes since start
    lost: bool = False  # the file was deleted or replaced: nothing more is recorded


def open_store(path: Path) -> Store:
    """Open the daemon's database, or raise StorageUnusable saying which file, what is
    wrong with it and what to do (never a traceback, and never a restart loop: the
    CLI exits with its own code, which the unit file does not restart)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return Store(path)
    except (sqlite3.Error, OSError, SchemaTooNew) as exc:
        raise StorageUnusable(_unusable(path, exc)) from None


def _unusable(path: Path, exc: BaseException) -> str:
    text = str(exc)
    low = text.lower()
    if isinstance(exc, SchemaTooNew):
        return text
    if "not a database" in low or "malformed" in low:
        advice = (
            "it is not a SQLite database or it is corrupt; move it aside (it keeps the "
            f"incidents recorded so far), e.g. mv {path} {path}.bad, and start safetyd again"
        )
    elif "full" in low or "i/o" in low or (isinstance(exc, OSError) and exc.errno == 28):
        advice = (
            "the disk is full or failing; free space on the file system that holds it "
            f"(df {path.parent}), then start safetyd again"
        )
    elif (
        "readonly" in low
        or "read-only" in low
        or "unable to open" in low
        or (isinstance(exc, PermissionError))
    ):
        advice = (
            "it cannot be written; the service user must own the state directory (the unit "
            "file's StateDirectory=safetyd does this), and the file system must be mounted "
            "read-write"
        )
    else:
        advice = "see the error; fix it or move the file aside, then start safetyd again"
    return f"cannot use the database {path} ({exc.__class__.__name__}: {text}): {advice}"


class SchemaTooNew(RuntimeError):
    """The database was written by a newer safetyd."""


class Store:
    def __init__(
        self,
        path: str | Path,
        clock: Callable[[], float] = time.time,
        busy_timeout_s: float = 30.0,
    ) -> None:
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._error: str | None = None
        self._since: float | None = None
        self._failures = 0
        self._identity: tuple[int, int] | None = None  # (device, inode) of the file opened
        self._lost: str | None = None
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"{self.path} was written by a newer safetyd (schema {version}); "
                "upgrade safetyd or move the database aside"
            )
        self.ensure(EVENTS_SCHEMA + HEARTBEAT_SCHEMA)
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(events)")}
        for statement in added_columns(columns):
            self.db.execute(statement)
        self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        st = os.stat(self.path)
        self._identity = (st.st_dev, st.st_ino)

    def ensure(self, schema: str) -> None:
        """Create tables and indexes that do not exist yet (their owners' DDL)."""
        # executescript commits by itself, so the schema is its own transaction.
        self.db.executescript(f"BEGIN IMMEDIATE;\n{schema}\nCOMMIT;")

    @property
    def db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # Only the first connection may create the file: a later one must fail
            # rather than start an empty database where the real one was deleted.
            target = self.path if self._identity is None else self._uri("rw")
            conn = sqlite3.connect(
                target,
                timeout=self.busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
                uri=self._identity is not None,
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            self._local.conn = conn
            with self._lock:
                self._close_orphans()
                self._open.append((threading.current_thread(), conn))
        return conn

    def _uri(self, mode: str) -> str:
        return f"{self.path.absolute().as_uri()}?mode={mode}"

    def _check_file(self) -> None:
        """Raise StorageLost if the path no longer names the file that was opened."""
        if self._lost is None and self._identity is not None:
            try:
                st = os.stat(self.path)
                same = (st.st_dev, st.st_ino) == self._identity
            except FileNotFoundError:
                same = False
            if not same:
                self._lost = (
                    f"{self.path} was deleted or replaced while running; restart safetyd to "
                    "start a new database"
                )
        if self._lost is not None:
            raise StorageLost(self._lost)

    def _close_orphans(self) -> None:
        """Close the connections of threads that have ended (caller holds the lock)."""
        alive = []
        for thread, conn in self._open:
            if thread.is_alive():
                alive.append((thread, conn))
            else:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
        self._open = alive

    def connections(self) -> int:
        """Connections open now (threads that ended are not counted)."""
        with self._lock:
            self._close_orphans()
            return len(self._open)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self._check_file()
            db = self.db
        except BaseException as exc:
            if is_storage_failure(exc):  # the file cannot even be opened
                self._failed(exc)
            raise
        self._local.after = []
        try:
            db.execute("BEGIN IMMEDIATE")
            yield db
            db.execute("COMMIT")
        except BaseException as exc:
            # SQLite may already have rolled back by itself (a full disk, an I/O
            # error): only roll back what is still open, or the next BEGIN fails.
            if db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            self._local.after = []
            if is_storage_failure(exc):
                self._failed(exc)
            raise
        self._succeeded()
        callbacks, self._local.after = self._local.after, []
        for callback in callbacks:
            callback()

    def after_commit(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` once the current transaction of this thread has committed
        (at once outside a transaction): other threads only see rows after that."""
        pending = getattr(self._local, "after", None)
        if pending is None or not self.db.in_transaction:
            callback()
        else:
            pending.append(callback)

    # -- health -------------------------------------------------------------------

    def _failed(self, exc: BaseException) -> None:
        with self._lock:
            self._failures += 1
            self._error = f"{exc.__class__.__name__}: {exc}"
            if self._since is None:
                self._since = self._clock()

    def _succeeded(self) -> None:
        if self._since is not None:
            with self._lock:
                self._since = self._error = None

    def status(self) -> StorageStatus:
        with self._lock:
            return StorageStatus(
                ok=self._since is None,
                path=str(self.path),
                error=self._error,
                since=self._since,
                failures=self._failures,
                lost=self._lost is not None,
            )

    def probe(self) -> None:
        """A small real write (one row, one fsync): finds a full or broken disk while
        no incident is being written. Raises what the write raised."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO heartbeat (id, wall) VALUES (1, ?)", (self._clock(),)
            )

    def close(self) -> None:
        with self._lock:
            for _, conn in self._open:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._open.clear()
        self._local = threading.local()

    # -- events -----------------------------------------------------------------

    def add_events(self, db: sqlite3.Connection, transitions: Iterable[Transition]) -> None:
        db.executemany(INSERT_EVENT, [event_row(t) for t in transitions])

    def events(
        self,
        since: float | None = None,
        zone: str | None = None,
        level: str | None = None,
        camera: str | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        where, args = [], []
        for column, op, value in (
            ("wall", ">=", since),
            ("zone", "=", zone),
            ("level", "=", level),
            ("camera", "=", camera),
        ):
            if value is not None:
                where.append(f"{column} {op} ?")
                args.append(value)
        sql = "SELECT * FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY wall, id LIMIT ?"
        return [dict(r) for r in self.db.execute(sql, (*args, limit))]

    def zone_counts(self, since: float, until: float) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT camera, zone, zone_name, "
            "SUM(event = 'opened') AS incidents, "
            "SUM(event = 'escalated' OR (event = 'opened' AND level = 'danger')) AS danger "
            "FROM events WHERE wall >= ? AND wall < ? GROUP BY camera, zone ORDER BY camera, zone",
            (since, until),
        )
        return [dict(r) for r in rows]

    def delete_events_before(self, wall: float) -> Sequence[str]:
        """Delete old events; return their snapshot paths for the caller to remove."""
        with self.transaction() as db:
            snaps = [
                r[0]
                for r in db.execute(
                    "SELECT snapshot FROM events WHERE wall < ? AND snapshot IS NOT NULL", (wall,)
                )
            ]
            db.execute("DELETE FROM events WHERE wall < ?", (wall,))
        return snaps
