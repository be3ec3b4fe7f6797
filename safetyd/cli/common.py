"""What every command shares: exit codes, and how problems are printed."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from ..assembly.load import LoadedConfig
from ..assembly.load import load as load_config
from ..base.problems import Problem, errors
from ..storage.store import Store, open_store

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_SYSTEM, EXIT_STORAGE = 0, 1, 2, 3, 4
EXIT_PIPE = 128 + 13  # SIGPIPE, as a shell reports a tool killed by it


# What the daemon writes (the database, the audit log, snapshots of workers, the users
# file) is its own and nobody else's, whatever umask it was started with: systemd's
# UMask=0077 is not there when it runs by hand or under another supervisor.
PRIVATE_UMASK = 0o077


def print_problems(problems: Sequence[Problem], stream=None) -> None:
    stream = stream or sys.stderr
    for p in problems:
        print(str(p), file=stream)


def summary(problems: Sequence[Problem]) -> str:
    n_err = len(errors(problems))
    return f"{n_err} error(s), {len(problems) - n_err} warning(s)"


def state_db(loaded: LoadedConfig, state_dir: str | None) -> Path | None:
    """The daemon's database for a command that reads or writes it, or None (said on
    stderr) when there is none yet: a command never creates it, since one made by
    root would lock the service user out of its own state."""
    db = (Path(state_dir) if state_dir else loaded.state_dir) / "safetyd.db"
    if db.exists():
        return db
    hint = (
        ""
        if state_dir
        else "; if the daemon ran with --state-dir (or replay with --state-dir), pass the "
        "same --state-dir here"
    )
    print(f"{db}: no event database yet (safetyd has not run with this state dir){hint}",
          file=sys.stderr)  # fmt: skip
    return None


def open_state(args) -> tuple[LoadedConfig, Store] | None:
    """The configuration and the daemon's database (``--config``, ``--state-dir``)."""
    loaded = load_config(args.config)  # InvalidConfig is explained by the CLI
    db = state_db(loaded, args.state_dir)
    return None if db is None else (loaded, open_store(db))


def add_state_args(p) -> None:
    """--config and --state-dir, for the commands that use the daemon's database."""
    p.add_argument("--config", type=Path, required=True, help="safetyd.toml (for the state dir)")
    p.add_argument("--state-dir", help="use this state directory instead of the configured one")
