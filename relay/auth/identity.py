"""Who calls and what it may do (roles are defined once, in relay.config.auth).

Below the HTTP layer: the auth service makes identities, the API's access decisions
(relay.api.access) ask them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from relay.config.auth import ROLE_LABELS, ROLE_OF_LABEL, Role

__all__ = ["ROLE_LABELS", "ROLE_OF_LABEL", "Decision", "Identity", "Role"]


class Decision(Protocol):
    """A route's access decision (relay.api.access.Access), as an identity reads it."""

    @property
    def need(self) -> str: ...

    @property
    def stream_key(self) -> str | None: ...


@dataclass(frozen=True)
class Identity:
    """Who calls: a token, a logged-in user or a share link, and what it may do.

    `streams` and `publish` hold stream names or "*". A browser identity (from the session
    cookie) carries its session id and the CSRF token its state changes must echo.
    """

    name: str
    role: Role
    streams: frozenset[str]
    publish: frozenset[str] = frozenset()
    kind: Literal["token", "user", "share"] = "token"
    session: str | None = None
    csrf: str | None = None
    share_id: str | None = None

    def may_watch(self, stream: str) -> bool:
        return "*" in self.streams or stream in self.streams

    def may_publish(self, stream: str) -> bool:
        return "*" in self.publish or stream in self.publish

    def allows(self, decision: Decision, match_info: Mapping[str, str]) -> bool:
        """Whether this identity may call a route with `decision` and these path values."""
        if decision.need == "public":
            return True
        stream = match_info.get(decision.stream_key) if decision.stream_key else None
        if decision.need == "publish":
            # Publishing is its own right per stream; a route without a stream grants none.
            return stream is not None and self.may_publish(stream)
        if self.role < ROLE_OF_LABEL[decision.need]:
            return False
        return stream is None or self.may_watch(stream)
