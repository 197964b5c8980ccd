"""Every route's access decision, declared next to its handler.

A handler is wrapped by ``@access(...)``; the auth middleware reads the decision back with
``access_of`` and enforces it, and a test walks the route table so that a route without a
decision cannot ship. Roles are ordered: an admin may do what an operator may, and so on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from aiohttp import web

from relay.auth.identity import ROLE_OF_LABEL, Identity, Role

__all__ = ["Access", "Identity", "Role", "access", "access_of", "identity_of"]

Handler = TypeVar("Handler", bound=Callable[..., Awaitable[web.StreamResponse]])

Need = Literal["public", "viewer", "operator", "admin", "publish"]


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


# The roles a route may need, by name (defined once, in relay.auth.identity).
ROLE_OF_NEED: dict[str, Role] = ROLE_OF_LABEL


IDENTITY_KEY = web.RequestKey("identity", Identity)


def identity_of(request: web.Request) -> Identity | None:
    """The identity the auth middleware resolved for this request (None: anonymous)."""
    return request.get(IDENTITY_KEY)
