"""What every command shares: exit codes, and how problems are printed."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ..problems import Problem, errors

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_SYSTEM, EXIT_STORAGE = 0, 1, 2, 3, 4
EXIT_PIPE = 128 + 13  # SIGPIPE, as a shell reports a tool killed by it


def print_problems(problems: Sequence[Problem], stream=None) -> None:
    stream = stream or sys.stderr
    for p in problems:
        print(str(p), file=stream)


def summary(problems: Sequence[Problem]) -> str:
    n_err = len(errors(problems))
    return f"{n_err} error(s), {len(problems) - n_err} warning(s)"
