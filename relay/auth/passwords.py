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

N, R, P = 2**15, 8, 1  # ~32 MiB and some 50-100 ms per try: slow for a guesser, fine at login
MAX_N = 2**20
MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # scrypt on a megabyte "password" is a denial of service


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


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


def parse_hash(text: str) -> tuple[int, int, int, bytes, bytes]:
    """(n, r, p, salt, hash) of a hash string; ValueError says what is wrong."""
    parts = text.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError(
            "not a scrypt$N$r$p$salt$hash string (make one with `drone-relay hash-password`)"
        )
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, digest = _unb64(parts[4]), _unb64(parts[5])
    except ValueError:
        raise ValueError("scrypt parameters or base64 parts are malformed") from None
    if not (2**10 <= n <= MAX_N and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16):
        raise ValueError("scrypt cost out of range (N a power of two 2^10..2^20, r 1..32, p 1..16)")
    if len(salt) < 8 or len(digest) < 16:
        raise ValueError("salt or hash too short")
    return n, r, p, salt, digest


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
