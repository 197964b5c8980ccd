"""The [auth] table: tokens and users with their role, streams and publish rights, and the
roles themselves (defined here once; relay.auth builds identities from them).

Each check raises Invalid naming the key, so the message reads ``auth.tokens[0].role``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from enum import IntEnum
from typing import Annotated

import msgspec

from relay.config.base import Invalid, Table

PRINCIPAL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
MIN_TOKEN = 16  # a token is a password that is never typed: it can be long
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
MAX_SCRYPT_N = 2**20


class Role(IntEnum):
    """What an identity may do; a higher role includes the lower ones."""

    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        """The role's name in the config and the API ("viewer", ...)."""
        return self.name.lower()

    @classmethod
    def of(cls, label: str) -> Role:
        """The role named `label` in the config; KeyError for an unknown one."""
        return ROLE_OF_LABEL[label]


ROLE_OF_LABEL: dict[str, Role] = {role.name.lower(): role for role in Role}
ROLE_LABELS: tuple[str, ...] = tuple(ROLE_OF_LABEL)  # lowest first


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_hash(text: str) -> tuple[int, int, int, bytes, bytes]:
    """(n, r, p, salt, hash) of a ``scrypt$N$r$p$SALT$HASH`` string; ValueError says what is
    wrong (relay.auth.passwords makes and verifies them)."""
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
    if not (2**10 <= n <= MAX_SCRYPT_N and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16):
        raise ValueError("scrypt cost out of range (N a power of two 2^10..2^20, r 1..32, p 1..16)")
    if len(salt) < 8 or len(digest) < 16:
        raise ValueError("salt or hash too short")
    return n, r, p, salt, digest


class Grant(Table, frozen=True):
    """What one configured principal may do: its role, streams and publish rights."""

    name: str
    role: str  # one of ROLE_LABELS
    # Stream names or "*" (required: a principal that sees every stream says so); the
    # config checks the names against its streams.
    streams: tuple[str, ...]
    publish: tuple[str, ...] = ()  # names or "*"

    def __post_init__(self) -> None:
        if not PRINCIPAL_NAME.match(self.name):
            raise Invalid(
                "name",
                f"{self.name!r}: use 1-64 of A-Z a-z 0-9 _ . @ - (it shows up in the audit log)",
            )
        if self.role not in ROLE_LABELS:
            raise Invalid("role", f"{self.role!r} is not one of {', '.join(ROLE_LABELS)}")

    @property
    def grant(self) -> Grant:
        return self


class TokenConfig(Grant, frozen=True):
    token: str = ""
    token_sha256: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        if bool(self.token) == bool(self.token_sha256):
            raise Invalid("token", "set exactly one of token or token_sha256")
        if self.token and len(self.token) < MIN_TOKEN:
            raise Invalid("token", f"too short: use at least {MIN_TOKEN} random characters")
        if self.token_sha256 and not SHA256_HEX.match(self.token_sha256):
            raise Invalid("token_sha256", "expected 64 lowercase hex digits (sha256 of the token)")

    @property
    def sha256(self) -> bytes:
        """Digest of the token: the relay compares digests, never the plaintext."""
        if self.token:
            return hashlib.sha256(self.token.encode()).digest()
        return bytes.fromhex(self.token_sha256)


class UserConfig(Grant, frozen=True):
    password_hash: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        try:
            parse_hash(self.password_hash)
        except ValueError as exc:
            raise Invalid("password_hash", str(exc)) from None


class AuthConfig(Table, frozen=True):
    tokens: tuple[TokenConfig, ...] = ()
    users: tuple[UserConfig, ...] = ()
    session_hours: Annotated[float, msgspec.Meta(ge=0.1, le=720)] = 12.0  # one shift

    @property
    def configured(self) -> bool:
        """False: nobody is configured, and the relay makes its own admin token."""
        return bool(self.tokens or self.users)

    def check(self, streams: set[str]) -> None:
        """Cross-field rules: names unique, streams named exist (raises Invalid)."""
        seen: dict[str, str] = {}
        for kind, principals in (("tokens", self.tokens), ("users", self.users)):
            for i, p in enumerate(principals):
                where = f"auth.{kind}[{i}]"
                if p.name in seen:
                    raise Invalid(
                        f"{where}.name",
                        f"{p.name!r} is used twice (also {seen[p.name]}): names must be unique",
                    )
                seen[p.name] = f"{kind}[{i}]"
                for key in ("streams", "publish"):
                    for j, name in enumerate(getattr(p, key)):
                        if name != "*" and name not in streams:
                            raise Invalid(
                                f"{where}.{key}[{j}]",
                                f'{name!r} is not a configured stream (names or "*")',
                            )
