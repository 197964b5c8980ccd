"""Password hashes: scrypt with a random salt, stored as one self-describing string.

Format ``scrypt$N$r$p$SALT$HASH`` (salt and hash base64url without padding), so that the
cost can be raised later while older hashes still verify.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

from relay.config.auth import parse_hash

__all__ = ["dummy_hash", "hash_password", "parse_hash", "verify_password"]

N, R, P = 2**15, 8, 1  # ~32 MiB and some 50-100 ms per try: slow for a guesser, fine at login
MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # scrypt on a megabyte "password" is a denial of service


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        dklen=32,
        maxmem=256 * r * n + 1024 * 1024,
    )


def hash_password(password: str) -> str:
    """A new hash string for `password` (random 16-byte salt)."""
    salt = secrets.token_bytes(16)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(_scrypt(password, salt, N, R, P))}"


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches the stored hash (constant-time comparison). Slow: call
    it in a thread."""
    if len(password) > MAX_PASSWORD:
        return False
    n, r, p, salt, digest = parse_hash(stored)
    return hmac.compare_digest(_scrypt(password, salt, n, r, p)[: len(digest)], digest)


@functools.cache
def dummy_hash() -> str:
    """Verified against when the user name is unknown, so that a wrong name takes as long as
    a wrong password and names cannot be probed by timing."""
    return hash_password(secrets.token_urlsafe(16))
