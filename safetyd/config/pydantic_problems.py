"""Turn pydantic validation errors into Problems a person can act on.

Pydantic's own messages are accurate but terse and name no alternatives; here
each error gets the key path written the way the file spells it, the bad
value, the field's description, and for unknown keys the keys that *are*
allowed (with a did-you-mean).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ValidationError

from ..base.problems import Problem, fmt_value, suggest

# Keys people try when they want to put a secret in the file; the answer is
# always the same, so say it.
SECRET_KEYS = {"auth_token", "account_sid", "api_key", "api_secret", "token", "password", "secret"}
SECRET_HINT = (
    "secrets are never read from this file; store them as a systemd credential or "
    "environment variable and give its name in the matching *_credential key"
)


def key_path(loc: tuple[int | str, ...], prefix: str = "") -> str:
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, list, tuple, dict, typing.Annotated) or origin:
        for arg in typing.get_args(annotation):
            yield from _models_in(arg)


def _model_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class whose fields apply at ``loc`` (the parent of an unknown key)."""
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None:
            return None
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part)
        if field is None:
            # A dict key (e.g. a recipient group name): stay on the value model.
            continue
        found = list(_models_in(field.annotation))
        current = found[0] if found else None
    return current


def _description(model: type[BaseModel], loc: tuple[int | str, ...]) -> str | None:
    parent = _model_at(model, loc[:-1]) if loc else None
    name = loc[-1] if loc else None
    if parent is None or not isinstance(name, str):
        return None
    field = parent.model_fields.get(name)
    return field.description if field else None


def problems_from(
    error: ValidationError, model: type[BaseModel], file: str, prefix: str = ""
) -> list[Problem]:
    problems: list[Problem] = []
    for err in error.errors(include_url=False):
        loc = tuple(err["loc"])
        where = key_path(loc, prefix)
        kind = err["type"]
        if kind == "extra_forbidden":
            key = str(loc[-1])
            if key.lower() in SECRET_KEYS:
                msg = f"unknown key {key!r}: {SECRET_HINT}"
            else:
                parent = _model_at(model, loc[:-1])
                allowed = sorted(parent.model_fields) if parent else []
                msg = f"unknown key {key!r}" + suggest(key, allowed)
                if allowed:
                    msg += f"; allowed here: {', '.join(allowed)}"
        elif kind == "missing":
            desc = _description(model, loc)
            msg = "required key is missing" + (f": {desc}" if desc else "")
        elif str(loc[-1]).endswith("_credential") if loc else False:
            # The value may be a pasted secret: explain without repeating it.
            text = err["msg"].removeprefix("Value error, ")
            if kind == "string_pattern_mismatch":
                text = "a credential name is 1-128 letters, digits, '_', '-' or '.'"
            msg = f"the value is not valid: {text}"
        else:
            text = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
            value = err.get("input")
            if isinstance(value, dict) or (kind == "value_error" and repr(value) in text):
                # A whole-table check explains itself (the table would be noise), and
                # our own messages that quote the value need no second copy of it.
                msg = text
            else:
                msg = f"{fmt_value(value)} is not valid: {text}"
            desc = _description(model, loc)
            if desc and kind != "value_error":
                msg += f" (expected {desc})"
        problems.append(Problem(file=file, where=where, message=msg))
    return problems
