"""The [auth] config: tokens and users with their role, streams and publish rights.

Parsed by relay.config with its strict reader, so every error names the key
(``auth.tokens[0].role``) and the file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from relay.auth.passwords import parse_hash

if TYPE_CHECKING:
    from relay.config import _Reader

PRINCIPAL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
ROLES = ("viewer", "operator", "admin")
MIN_TOKEN = 16  # a token is a password that is never typed: it can be long
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Grant:
    """What one configured principal may do: its role, streams and publish rights."""

    name: str
    role: str  # viewer | operator | admin
    streams: tuple[str, ...]  # names or "*"
    publish: tuple[str, ...] = ()  # names or "*"


@dataclass(frozen=True)
class TokenConfig:
    grant: Grant
    sha256: bytes  # digest of the token: the plaintext is never kept


@dataclass(frozen=True)
class UserConfig:
    grant: Grant
    password_hash: str


@dataclass(frozen=True)
class AuthConfig:
    tokens: tuple[TokenConfig, ...] = ()
    users: tuple[UserConfig, ...] = ()
    session_hours: float = 12.0  # a browser login lasts one shift

    @property
    def configured(self) -> bool:
        """False: nobody is configured, and the relay makes its own admin token."""
        return bool(self.tokens or self.users)


def _names(
    r: _Reader, key: str, known: set[str], default: tuple[str, ...] | None
) -> tuple[str, ...]:
    if key not in r.table and default is None:
        r.seen.add(key)
        raise r.fail(key, 'missing: list the streams by name, or ["*"] for all')
    values = r.str_list(key, default or ())
    for i, v in enumerate(values):
        if v != "*" and v not in known:
            raise r.fail(f"{key}[{i}]", f'{v!r} is not a configured stream (names or "*")')
    return values


def _grant(r: _Reader, streams: set[str]) -> Grant:
    name: str = r.get("name", str, "")
    if not PRINCIPAL_NAME.match(name):
        raise r.fail(
            "name", f"{name!r}: use 1-64 of A-Z a-z 0-9 _ . @ - (it shows up in the audit log)"
        )
    role: str = r.get("role", str, "")
    if role not in ROLES:
        raise r.fail("role", f"{role!r} is not one of {', '.join(ROLES)}")
    return Grant(
        name=name,
        role=role,
        streams=_names(r, "streams", streams, None),
        publish=_names(r, "publish", streams, ()),
    )


def _token(r: _Reader, streams: set[str]) -> TokenConfig:
    grant = _grant(r, streams)
    token: str = r.get("token", str, "")
    digest: str = r.get("token_sha256", str, "")
    if bool(token) == bool(digest):
        raise r.fail("token", "set exactly one of token or token_sha256")
    if token and len(token) < MIN_TOKEN:
        raise r.fail("token", f"too short: use at least {MIN_TOKEN} random characters")
    if digest and not SHA256_HEX.match(digest):
        raise r.fail("token_sha256", "expected 64 lowercase hex digits (sha256 of the token)")
    r.done()
    sha = hashlib.sha256(token.encode()).digest() if token else bytes.fromhex(digest)
    return TokenConfig(grant=grant, sha256=sha)


def _user(r: _Reader, streams: set[str]) -> UserConfig:
    grant = _grant(r, streams)
    password_hash: str = r.get("password_hash", str, "")
    try:
        parse_hash(password_hash)
    except ValueError as exc:
        raise r.fail("password_hash", str(exc)) from None
    r.done()
    return UserConfig(grant=grant, password_hash=password_hash)


def parse_auth(auth: _Reader, streams: set[str]) -> AuthConfig:
    """The [auth] table; `streams` are the configured stream names."""
    from relay.config import _Reader

    auth.seen.add("session_hours")
    hours = auth.table.get("session_hours", 12)
    if isinstance(hours, bool) or not isinstance(hours, int | float) or not 0.1 <= hours <= 720:
        raise auth.fail("session_hours", "must be within 0.1..720")
    parsed: dict[str, list[Any]] = {"tokens": [], "users": []}
    seen: dict[str, str] = {}
    for key, parse in (("tokens", _token), ("users", _user)):
        for i, table in enumerate(auth.get(key, list, [])):
            if not isinstance(table, dict):
                raise auth.fail(f"{key}[{i}]", f"expected a table ([[auth.{key}]])")
            item = parse(_Reader(table, f"{auth.path}.{key}[{i}]", auth.origin), streams)
            if item.grant.name in seen:
                raise auth.fail(
                    f"{key}[{i}].name",
                    f"{item.grant.name!r} is used twice "
                    f"(also {seen[item.grant.name]}): names must be unique",
                )
            seen[item.grant.name] = f"{key}[{i}]"
            parsed[key].append(item)
    auth.done()
    return AuthConfig(
        tokens=tuple(parsed["tokens"]), users=tuple(parsed["users"]), session_hours=float(hours)
    )
