"""``safetyd user``: the console's users (add, remove, list), in the users file
named by [console] users_file (or --users-file). Passwords are read from the
terminal, or from stdin with --password-stdin (scripts); the file keeps argon2
hashes only."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from ..assembly import users
from ..assembly.load import load as load_config
from .common import EXIT_INVALID, EXIT_OK


def _path(args: argparse.Namespace) -> Path | None:
    if args.users_file:
        return Path(args.users_file)
    if args.config:
        # The daemon's own rule (assembly/load.py): [console] users_file, else users.json in
        # the state directory, which --state-dir replaces, as it does for the daemon.
        return load_config(args.config, state_dir=args.state_dir).users_path
    print("give --config (its [console] users_file) or --users-file", file=sys.stderr)
    return None


def _password(args: argparse.Namespace) -> str | None:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        print("no terminal to ask for the password: use --password-stdin", file=sys.stderr)
        return None
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        print("the two passwords differ", file=sys.stderr)
        return None
    return first


def run(args: argparse.Namespace) -> int:
    path = _path(args)
    if path is None:
        return EXIT_INVALID
    try:
        if args.action == "list":
            for name, entry in sorted(users.load(path).items()):
                print(f"{name:24} {entry.get('role')}")
            return EXIT_OK
        if args.name is None:
            print(f"user {args.action} needs a NAME", file=sys.stderr)
            return EXIT_INVALID
        if args.action == "remove":
            if not users.remove(path, args.name):
                print(f"{args.name}: no such user in {path}", file=sys.stderr)
                return EXIT_INVALID
            print(f"{args.name} removed from {path}; their sessions end at their next request")
            return EXIT_OK
        password = _password(args)
        if password is None:
            return EXIT_INVALID
        new = users.add(path, args.name, args.role, password)
    except users.UserError as exc:
        print(f"safetyd user: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except OSError as exc:
        print(f"safetyd user: cannot write {path}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_INVALID
    print(f"{args.name} {'added' if new else 'updated'} as {args.role} in {path}")
    return EXIT_OK


def add_parser(sub) -> None:
    p = sub.add_parser(
        "user",
        help="manage the console's users (add, remove, list)",
        description=(
            "Users of the operator console and their roles: viewer (sees), operator (also "
            "acknowledges and snoozes), engineer (also edits zones and calibration). The users "
            "file holds argon2 hashes; changes take effect at once."
        ),
    )
    p.add_argument("action", choices=["add", "remove", "list"])
    p.add_argument("name", nargs="?", help="user name")
    p.add_argument("--role", choices=list(users.ROLES), default="viewer")
    p.add_argument(
        "--config", type=Path, help="safetyd.toml (its [console] users_file, or the state dir's)"
    )
    p.add_argument(
        "--state-dir",
        help="the state directory the daemon runs with, if it runs with --state-dir (the "
        "users file is there unless [console] users_file names one)",
    )
    p.add_argument("--users-file", help="the users file itself")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.set_defaults(func=run)
