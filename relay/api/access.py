"""Every route's access decision, declared next to its handler.

A handler is wrapped by ``@access(...)``; the auth middleware reads the decision back with
``access_of`` and enforces it, and a test walks the route table so that a route without a
decision cannot ship. Roles are ordered: an admin may do what an operator may, and so on.

The decision also says where the route finds the stream(s) it touches (``streams=``): in the
path, the query, the JSON body, by the handler (through relay.api.scope's helpers, which the
middleware insists were called), all streams, or none. Scope is a rule of the route table, not
a habit of each handler: see relay.api.scope.
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


Where = Literal["none", "path", "query", "body", "handler", "all"]


@dataclass(frozen=True)
class Streams:
    """Where a route finds the stream(s) it touches; `key` names the path key, query key or
    body field (a string or a list of strings there).

    none: touches no stream's pictures or data; all: needs every stream ("*"), as its answer
    names them all; handler: the handler finds them (an incident's, a file's) and must call
    relay.api.scope.require_streams or .visible_streams before it answers.
    """

    where: Where
    key: str = ""


NO_STREAM = Streams("none")
ALL_STREAMS = Streams("all")
BY_HANDLER = Streams("handler")


def in_path(key: str) -> Streams:
    return Streams("path", key)


def in_query(key: str) -> Streams:
    return Streams("query", key)


def in_body(field: str) -> Streams:
    return Streams("body", field)


@dataclass(frozen=True)
class Access:
    """A route's decision: who may call it, and which streams it touches.

    `need` "public" needs no identity; "viewer"/"operator"/"admin" need at least that role;
    "publish" needs the publish right on the stream. `streams` None means no scope decision:
    the route-table test refuses it. `stream_key` is the path key when the stream is in the
    path (kept for the role check below).
    """

    need: Need
    stream_key: str | None = None
    streams: Streams | None = None


ACCESS_ATTR = "__relay_access__"


def access(
    need: Need, stream_key: str | None = None, *, streams: Streams | None = None
) -> Callable[[Handler], Handler]:
    """Declares a handler's access decision (enforced by the auth middleware).

    `stream_key="x"` is short for `streams=in_path("x")`; a public route needs no identity,
    so it has no scope to decide."""
    if stream_key is not None and streams is None:
        streams = in_path(stream_key)
    elif streams is not None and streams.where == "path":
        stream_key = streams.key
    if need == "public" and streams is None:
        streams = NO_STREAM
    decision = Access(need, stream_key, streams)

    def declare(handler: Handler) -> Handler:
        setattr(handler, ACCESS_ATTR, decision)
        return handler

    return declare


def access_of(handler: object) -> Access | None:
    """The decision declared on a handler, or None when it has none (a defect)."""
    found = getattr(handler, ACCESS_ATTR, None)
    return found if isinstance(found, Access) else None


# The roles a route may need, by name (defined once, in relay.config.auth).
ROLE_OF_NEED: dict[str, Role] = ROLE_OF_LABEL


IDENTITY_KEY = web.RequestKey("identity", Identity)


def identity_of(request: web.Request) -> Identity | None:
    """The identity the auth middleware resolved for this request (None: anonymous)."""
    return request.get(IDENTITY_KEY)
