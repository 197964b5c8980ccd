"""`drone-relay hash-password`: a password hash for [[auth.users]], never from argv."""

from __future__ import annotations

import getpass
import sys

from relay.auth.passwords import MAX_PASSWORD, MIN_PASSWORD, hash_password


def _read_password() -> str | None:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            print("drone-relay: the two passwords differ", file=sys.stderr)
            return None
        return first
    # Piped: the first line (so `printf '%s\n' "$PW" | drone-relay hash-password` works).
    return sys.stdin.readline().rstrip("\r\n")


def hash_password_command() -> int:
    """Prints one hash line; exit 2 on a missing, short or over-long password."""
    try:
        password = _read_password()
    except (EOFError, KeyboardInterrupt):
        password = None
    if password is None:
        return 2
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        print(
            f"drone-relay: a password needs {MIN_PASSWORD}..{MAX_PASSWORD} characters",
            file=sys.stderr,
        )
        return 2
    print(hash_password(password))
    return 0
