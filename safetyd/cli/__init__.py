"""The ``safetyd`` command line: one module per command, one mapping of errors to
exit codes (here).

Exit codes: 0 success, 1 invalid input or a failed operation (explained on
stderr), 2 usage error (argparse), 3 the machine lacks a system library, 4 the
database cannot be used (corrupt, full, read-only: restarting will not help,
so the unit file's RestartPreventExitStatus=4 stops the restart loop), 141 the
reader of the output went away (a closed pipe, as Unix tools report it).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .. import __version__
from ..base.problems import InvalidConfig
from . import (
    ack,
    check_config,
    events,
    fleet,
    io,
    replay,
    report,
    run,
    snapshot,
    snooze,
    test_alert,
    user,
    zones,
)
from .common import EXIT_INVALID, EXIT_PIPE, EXIT_STORAGE, EXIT_SYSTEM, print_problems, summary

COMMANDS = (
    check_config, zones, snapshot, replay, run, events, report, ack, snooze, test_alert, io, fleet,
    user,
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="safetyd",
        description=(
            "Factory safety daemon: finds people in camera frames, checks their feet, hands "
            "and heads against hazard zones, and alerts before contact."
        ),
        epilog="Run 'safetyd COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"safetyd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    for leaf in _leaves(parser):
        leaf.add_argument(
            "--log-level",
            choices=["debug", "info", "warning", "error"],
            help="log verbosity (default: info for 'run', warning for the other commands)",
        )
    return parser


def _leaves(parser: argparse.ArgumentParser):
    """Every command parser that has no subcommands of its own."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield parser
    for action in subs:
        for child in dict.fromkeys(action.choices.values()):
            yield from _leaves(child)


def main(argv: Sequence[str] | None = None) -> int:
    from ..service import logsetup
    from ..service.app import StartupError
    from ..storage.store import StorageUnusable
    from ..vision.pose import ModelError
    from .syslibs import MissingSystemLibrary, explained

    parser = build_parser()
    args = parser.parse_args(argv)
    logsetup.setup(args.log_level or getattr(args, "default_log_level", "warning"))
    try:
        with explained():
            return int(args.func(args))
    except InvalidConfig as exc:
        # Every command that reads a configuration explains a bad one the same way.
        print_problems(exc.problems)
        print(f"{exc.source or 'configuration'}: invalid: {summary(exc.problems)}", file=sys.stderr)
        return EXIT_INVALID
    except (ModelError, StartupError) as exc:
        print(f"safetyd: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except StorageUnusable as exc:
        print(f"safetyd: {exc}", file=sys.stderr)
        return EXIT_STORAGE
    except MissingSystemLibrary as exc:
        print(f"safetyd: {exc}", file=sys.stderr)
        return EXIT_SYSTEM
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`safetyd events | head`): stop quietly, as Unix tools do,
        # and keep Python from complaining again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_PIPE


if __name__ == "__main__":
    sys.exit(main())
