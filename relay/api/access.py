"""Every route's access decision, declared next to its handler.

A handler is wrapped by ``@access(...)``; the auth middleware reads the decision back with
``access_of`` and enforces it, and a test walks the route table so that a route without a
decision cannot ship. Roles are ordered: an admin may do what an operator may, and so on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Literal, TypeVar

from aiohttp import web

Handler = TypeVar("Handler", bound=Callable[..., Awaitable[web.StreamResponse]])

Need = Literal["public", "viewer", "operator", "admin", "publish"]


class Role(IntEnum):
    """What an identity may do; a higher role includes the lower ones."""

    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3


@dataclass(frozen=True)
class Access:
    """A route's decision: who may call it, and which match_info key names its stream.

    `need` "public" needs no identity; "viewer"/"operator"/"admin" need at least that role;
    "publish" needs the publish right on the stream. With `stream_key` set, a viewer or
    operator must also be allowed that stream.
    """

    need: Need
    stream_key: str | None = None


ACCESS_ATTR = "__relay_access__"


def access(need: Need, stream_key: str | None = None) -> Callable[[Handler], Handler]:
    """Declares a handler's access decision (enforced by the auth middleware)."""

    def declare(handler: Handler) -> Handler:
        setattr(handler, ACCESS_ATTR, Access(need, stream_key))
        return handler

    return declare


def access_of(handler: object) -> Access | None:
    """The decision declared on a handler, or None when it has none (a defect)."""
    found = getattr(handler, ACCESS_ATTR, None)
    return found if isinstance(found, Access) else None


ROLE_OF_NEED: dict[str, Role] = {
    "viewer": Role.VIEWER,
    "operator": Role.OPERATOR,
    "admin": Role.ADMIN,
}


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

    def allows(self, decision: Access, match_info: Mapping[str, str]) -> bool:
        """Whether this identity may call a route with `decision` and these path values."""
        if decision.need == "public":
            return True
        stream = match_info.get(decision.stream_key) if decision.stream_key else None
        if decision.need == "publish":
            # Publishing is its own right per stream; a route without a stream grants none.
            return stream is not None and self.may_publish(stream)
        if self.role < ROLE_OF_NEED[decision.need]:
            return False
        return stream is None or self.may_watch(stream)


IDENTITY_KEY = web.RequestKey("identity", Identity)


def identity_of(request: web.Request) -> Identity | None:
    """The identity the auth middleware resolved for this request (None: anonymous)."""
    return request.get(IDENTITY_KEY)
