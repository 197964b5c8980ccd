"""Every route's access decision, declared next to its handler.

A handler is wrapped by ``@access(...)``; the auth middleware reads the decision back with
``access_of`` and enforces it, and a test walks the route table so that a route without a
decision cannot ship. Roles are ordered: an admin may do what an operator may, and so on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
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
