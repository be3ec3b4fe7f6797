"""Problems found while validating configuration and zone files.

Validation never raises on bad input: it collects every problem in a file so
that a safety engineer fixes them all in one pass, and each problem names the
file, where in it, what is wrong and what would be right.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One finding: ``file: where: message``."""

    file: str
    where: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        head = f"{self.file}: {self.where}: " if self.where else f"{self.file}: "
        tag = "" if self.severity == "error" else "warning: "
        return f"{head}{tag}{self.message}"


class InvalidConfig(Exception):
    """Raised by loaders when a file has at least one error-level problem."""

    def __init__(self, problems: Iterable[Problem], source: str | None = None):
        self.problems = tuple(problems)
        self.source = source  # the file the user named (a zone file may hold the errors)
        super().__init__("\n".join(str(p) for p in self.problems))

    @property
    def errors(self) -> list[Problem]:
        return errors(self.problems)


def errors(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def suggest(word: str, choices: Iterable[str]) -> str:
    """A `` (did you mean 'x'?)`` suffix, or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def fmt_value(value: object, limit: int = 60) -> str:
    """Render a bad value for a message, short enough to read on one line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
