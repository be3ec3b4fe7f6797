"""The console's users: a JSON file of names, roles and argon2 password hashes
(argon2-cffi). ``safetyd user add`` writes it; the daemon reads it at each login,
so a user added or removed takes effect at once, without a reload.

The file holds hashes, never passwords; it is written atomically with mode 0600.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

ROLES = ("viewer", "operator", "engineer")  # each may do what the one before may, and more
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
MIN_PASSWORD = 10

_hasher = PasswordHasher()
# Verified against when the name is unknown, so that an unknown name costs as long
# as a wrong password (the response time does not tell which names exist).
_DUMMY = _hasher.hash("not a password of anybody")


class UserError(ValueError):
    """A user that cannot be (the text says why)."""


@dataclass(frozen=True)
class User:
    name: str
    role: str

    def may(self, role: str) -> bool:
        """Whether this user has ``role`` or a higher one."""
        return ROLES.index(self.role) >= ROLES.index(role)


def load(path: Path) -> dict[str, dict]:
    """name -> {"role", "hash"}; a missing file is no users."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read the users file {path}: {exc}") from None
    users = data.get("users") if isinstance(data, dict) else None
    if not isinstance(users, dict):
        raise UserError(f'{path} is not a safetyd users file (no "users" object)')
    return users


def _save(path: Path, users: dict[str, dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".users-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"users": users}, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        if os.geteuid() == 0:
            # Run as root for the service: the file belongs to whoever owns its directory
            # (the state directory: the service user), who alone may read it.
            st = path.parent.stat()
            os.chown(tmp, st.st_uid, st.st_gid)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def add(path: Path, name: str, role: str, password: str) -> bool:
    """Add or update a user; True when it is new."""
    if not NAME_RE.match(name):
        raise UserError(f"{name!r}: a user name is letters, digits, '_', '.', '@' or '-'")
    if role not in ROLES:
        raise UserError(f"{role!r} is not a role; roles: {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise UserError(f"a password has at least {MIN_PASSWORD} characters")
    users = load(path)
    new = name not in users
    users[name] = {"role": role, "hash": _hasher.hash(password)}
    _save(path, users)
    return new


def remove(path: Path, name: str) -> bool:
    users = load(path)
    if users.pop(name, None) is None:
        return False
    _save(path, users)
    return True


def verify(path: Path, name: str, password: str) -> User | None:
    """The user, if the name and password match."""
    entry = load(path).get(name)
    if not isinstance(entry, dict) or entry.get("role") not in ROLES:
        with contextlib.suppress(VerificationError):  # the time a wrong password costs
            _hasher.verify(_DUMMY, password + "x")
        return None
    try:
        _hasher.verify(str(entry.get("hash", "")), password)
    except (VerificationError, InvalidHashError):
        return None
    return User(name, entry["role"])


# The roles as last read, keyed by the file's identity: a session asks at every
# request (each step of a live stream too), and re-reading and parsing the file each
# time is wasted work. Saving replaces the file (a new inode), so a removed or
# demoted user is seen at his next request.
_roles: dict[Path, tuple[tuple[int, int, int], dict[str, str]]] = {}


def role_of(path: Path, name: str) -> str | None:
    """The user's role now (None: removed): a session asks at each request."""
    try:
        st = path.stat()
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
    except FileNotFoundError:
        return None
    cached = _roles.get(path)
    if cached is None or cached[0] != key:
        roles = {
            n: e["role"]
            for n, e in load(path).items()
            if isinstance(e, dict) and e.get("role") in ROLES
        }
        cached = _roles[path] = (key, roles)
    return cached[1].get(name)
