"""Browser sessions: a random id in an HttpOnly cookie, the state kept here with an expiry.

The store is persisted (``<data_dir>/sessions.json``, 0600, ids only as sha256 digests), so
that a relay restart does not log out the tablets and the city-hall screen at an incident.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from relay.auth.files import read_json, write_json

log = logging.getLogger(__name__)

Kind = Literal["token", "user", "share"]
# Two pools, so that anyone holding a share link (they mint sessions by opening it) can
# never push the control room's logins out: tokens and users share MAX_SESSIONS; share
# links have their own, a link at most MAX_PER_LINK of it (a new one replaces that link's
# oldest), and a full share pool refuses new share sessions.
MAX_SESSIONS = 10_000
MAX_SHARE_SESSIONS = 5_000
MAX_PER_LINK = 100


class SessionsFull(Exception):
    """No room for another share-link session (the message says so)."""


@dataclass(frozen=True)
class LoginSession:
    """One browser's login: who (a token or user name, or a share link id) and until when."""

    kind: Kind
    name: str
    csrf: str
    expires: float  # Unix time
    # A fingerprint of the credential that logged in (token digest, password hash): a new
    # token or password for the same name ends the sessions the old one opened.
    proof: str = ""


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class LoginSessions:
    """Creates, finds and ends browser sessions; save() persists them off the event loop."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._sessions: dict[str, LoginSession] = {}
        self._lock = asyncio.Lock()
        now = time.time()
        for key, raw in read_json(path, {}).items():
            try:
                session = LoginSession(**raw)
            except TypeError:
                continue
            if session.expires > now:
                self._sessions[key] = session

    def create(
        self, kind: Kind, name: str, expires: float, proof: str = ""
    ) -> tuple[str, LoginSession]:
        """A new session id (the cookie's value) and its state; SessionsFull when the share
        links' pool is full."""
        self._prune()
        if kind == "share":
            self._make_room_for_share(name)
        else:
            pool = [k for k, x in self._sessions.items() if x.kind != "share"]
            if len(pool) >= MAX_SESSIONS:  # the oldest-expiring logins give way
                for key in sorted(pool, key=lambda k: self._sessions[k].expires)[:100]:
                    del self._sessions[key]
        session_id = secrets.token_urlsafe(32)
        session = LoginSession(kind, name, secrets.token_urlsafe(24), expires, proof)
        self._sessions[_digest(session_id)] = session
        return session_id, session

    def _make_room_for_share(self, link_id: str) -> None:
        shares = [k for k, x in self._sessions.items() if x.kind == "share"]
        own = [k for k in shares if self._sessions[k].name == link_id]
        if len(own) >= MAX_PER_LINK:
            del self._sessions[own[0]]  # the link's oldest (the dict keeps creation order)
        elif len(shares) >= MAX_SHARE_SESSIONS:
            raise SessionsFull(f"{MAX_SHARE_SESSIONS} share-link sessions are open; try later")

    def get(self, session_id: str) -> LoginSession | None:
        session = self._sessions.get(_digest(session_id))
        if session is None or session.expires <= time.time():
            return None
        return session

    def end(self, session_id: str) -> LoginSession | None:
        return self._sessions.pop(_digest(session_id), None)

    def end_all(self, kind: Kind, name: str) -> int:
        """Ends every session of one principal (a revoked share link); returns how many."""
        keys = [k for k, s in self._sessions.items() if s.kind == kind and s.name == name]
        for key in keys:
            del self._sessions[key]
        return len(keys)

    def _prune(self) -> None:
        now = time.time()
        for key in [k for k, s in self._sessions.items() if s.expires <= now]:
            del self._sessions[key]

    async def save(self) -> None:
        """Writes the store (0600) in a thread; failures are logged: sessions still work."""
        async with self._lock:
            snapshot = {k: asdict(s) for k, s in self._sessions.items()}
            try:
                await asyncio.to_thread(write_json, self.path, snapshot)
            except OSError as exc:
                log.error("[auth] cannot save sessions to %s: %s", self.path, exc)
