"""Auth: who a request is (Bearer token, password login, share link) and their sessions."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from pathlib import Path

from relay.audit import AuditLog
from relay.auth.bootstrap import ADMIN_TOKEN_FILE, BOOTSTRAP_NAME, admin_token
from relay.auth.failures import FailedLogins
from relay.auth.identity import Identity, Role
from relay.auth.logins import Kind, LoginSession, LoginSessions
from relay.auth.passwords import dummy_hash, verify_password
from relay.auth.ratelimit import RateLimiter
from relay.auth.settings import Grant, UserConfig
from relay.auth.shares import ShareError, ShareLinks
from relay.config import Config

log = logging.getLogger(__name__)


def _identity(grant: Grant, kind: Kind) -> Identity:
    return Identity(
        name=grant.name,
        role=Role.of(grant.role),
        streams=frozenset(grant.streams),
        publish=frozenset(grant.publish),
        kind=kind,
    )


class Auth:
    """The relay's identities, browser sessions, share links and rate limits."""

    def __init__(self, config: Config, audit: AuditLog) -> None:
        data_dir = Path(config.server.data_dir)
        self.audit = audit
        self.session_s = config.auth.session_hours * 3600
        self._tokens: list[tuple[bytes, Grant]] = [(t.sha256, t.grant) for t in config.auth.tokens]
        self._users: dict[str, UserConfig] = {u.grant.name: u for u in config.auth.users}
        self.bootstrap_token: str | None = None
        if not config.auth.configured:
            token, created = admin_token(data_dir)
            self.bootstrap_token = token
            self._tokens.append(
                (
                    hashlib.sha256(token.encode()).digest(),
                    Grant(BOOTSTRAP_NAME, "admin", ("*",), ("*",)),
                )
            )
            audit.append(
                "token_bootstrap",
                BOOTSTRAP_NAME,
                "",
                created=created,
                file=str(data_dir / ADMIN_TOKEN_FILE),
            )
            log.info(
                "[auth] no [auth] configured: %s admin token in %s",
                "created an" if created else "using the",
                data_dir / ADMIN_TOKEN_FILE,
            )
        self.sessions = LoginSessions(data_dir / "sessions.json")
        self.shares = ShareLinks(data_dir)
        self.failures = FailedLogins(audit)
        lim = config.limits
        # "login" counts every failed credential of an address alike: a password, a login
        # URL, a Bearer token, a share link (a guesser cannot switch kinds for more tries).
        self.limits = {
            "login": RateLimiter(lim.login_per_minute),
            "whep": RateLimiter(lim.whep_per_minute),
            "whip": RateLimiter(lim.whip_per_minute),
            "share": RateLimiter(lim.share_per_minute),
        }

    def by_token(self, token: str) -> Identity | None:
        """The identity of a Bearer token; every configured digest is compared in
        constant time, so the answer's timing says nothing about near misses."""
        digest = hashlib.sha256(token.encode("utf-8", "replace")).digest()
        found: Grant | None = None
        for sha, grant in self._tokens:
            if hmac.compare_digest(sha, digest):
                found = grant
        return _identity(found, "token") if found else None

    async def by_password(self, name: str, password: str) -> Identity | None:
        """The user's identity when the password matches (scrypt runs in a thread)."""
        user = self._users.get(name)

        def check() -> bool:
            return verify_password(password, user.password_hash if user else dummy_hash())

        ok = await asyncio.to_thread(check)
        return _identity(user.grant, "user") if ok and user else None

    def proof(self, kind: Kind, name: str) -> str:
        """The fingerprint of the credential `name` logs in with now (see LoginSession)."""
        if kind == "user" and name in self._users:
            secret = self._users[name].password_hash.encode()
        elif kind == "token":
            secret = next((sha for sha, g in self._tokens if g.name == name), b"")
        else:
            return ""
        return hashlib.sha256(b"proof:" + secret).hexdigest()[:32]

    def by_session(self, session_id: str) -> Identity | None:
        """The identity behind a session cookie; None when expired, ended, or when its
        token, user or share link is gone."""
        session = self.sessions.get(session_id)
        if session is None:
            return None
        found = self._principal(session)
        if found is None or not hmac.compare_digest(
            session.proof, self.proof(session.kind, session.name)
        ):
            return None
        return Identity(
            name=found.name,
            role=found.role,
            streams=found.streams,
            publish=found.publish,
            kind=session.kind,
            session=session_id,
            csrf=session.csrf,
            share_id=found.share_id,
        )

    def _principal(self, session: LoginSession) -> Identity | None:
        if session.kind == "user":
            user = self._users.get(session.name)
            return _identity(user.grant, "user") if user else None
        if session.kind == "token":
            grant = next((g for _, g in self._tokens if g.name == session.name), None)
            return _identity(grant, "token") if grant else None
        link = self.shares.get(session.name)
        if link is None:
            return None
        try:
            self.shares.check(link)
        except ShareError:
            return None
        return Identity(
            name=f"share:{link.id}",
            role=Role.VIEWER,
            streams=frozenset(link.watches()),
            kind="share",
            share_id=link.id,
        )

    def session_expiry(self, cap: float | None = None) -> float:
        expires = time.time() + self.session_s
        return min(expires, cap) if cap else expires
