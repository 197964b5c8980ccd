"""Scope, enforced as a rule: an identity touches only the streams it may watch (publish, for
publishing routes), wherever the route finds them.

Every route declares where its streams are (relay.api.access.Streams). The auth middleware
calls `refusal` before the handler: streams in the path, the query or the JSON body are
checked there; "all" needs an identity allowed every stream. For objects that belong to
streams (an incident, a recording file, a share link) the handler finds the streams and calls
`require_streams` or `visible_streams`; `unchecked` after the handler turns a success that
never asked into a 500, so forgetting the call fails loudly instead of leaking.

Incidents span streams: an identity sees an incident when it may watch at least one of them,
and then only those streams' recordings, clips, snapshots and audit events; it may change the
incident as a whole (stop, hold) only when it may watch all of them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TypeVar

from aiohttp import web

from relay.api.access import Access, Identity, identity_of
from relay.api.body import BodyError, read_json
from relay.api.errors import json_error

T = TypeVar("T")

log = logging.getLogger(__name__)

CHECKED = web.RequestKey("scope_checked", bool)


def _allowed(identity: Identity, decision: Access, stream: str) -> bool:
    if decision.need == "publish":
        return identity.may_publish(stream)
    return identity.may_watch(stream)


def _names(value: object) -> list[str]:
    """The stream names in a path/query/body value; anything else is the handler's to refuse."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


class _Unreadable(Exception):
    """A body the scope check cannot read: answered 4xx, never let through unchecked."""

    def __init__(self, status: int, error: str, reason: str) -> None:
        super().__init__(reason)
        self.answer = json_error(status, error, reason)


async def _body_field(request: web.Request, field: str) -> object:
    """The JSON body's `field` (None without a body or field: the handler refuses that).

    Read by the one body reader the handlers use (relay/api/body.py), so the check and the
    handler can never see different streams; what it cannot read is refused here (4xx).
    """
    if not request.can_read_body:
        return None
    try:
        body = await read_json(request)
    except BodyError as exc:
        raise _Unreadable(exc.status, exc.code, exc.reason) from None
    return body.get(field)


async def refusal(
    request: web.Request, identity: Identity, decision: Access
) -> web.StreamResponse | None:
    """The 403 answer when the identity may not touch a stream the route names (a 4xx for a
    body that cannot be read), else None."""
    scope = decision.streams
    if scope is None or scope.where in ("none", "handler"):
        return None
    if scope.where == "all":
        if "*" in identity.streams:
            return None
        return json_error(
            403, "forbidden", f"{identity.name} may not watch every stream; this names them all"
        )
    if scope.where == "path":
        names = _names(request.match_info.get(scope.key))
    elif scope.where == "query":
        names = request.query.getall(scope.key, [])
    else:
        try:
            names = _names(await _body_field(request, scope.key))
        except _Unreadable as exc:
            return exc.answer
    denied = [n for n in names if not _allowed(identity, decision, n)]
    if not denied:
        return None
    verb = "publish to" if decision.need == "publish" else "watch"
    return json_error(403, "forbidden", f"{identity.name} may not {verb} the stream {denied[0]!r}")


def require_streams(request: web.Request, streams: Iterable[str]) -> None:
    """For a handler whose object belongs to `streams`: 403 unless the identity may watch
    every one of them."""
    request[CHECKED] = True
    identity = identity_of(request)
    names = list(streams)
    denied = [n for n in names if identity is None or not identity.may_watch(n)]
    if denied:
        who = identity.name if identity else "anonymous"
        raise web.HTTPForbidden(text=f"{who} may not watch the stream {denied[0]!r}")


def visible_streams(request: web.Request, streams: Iterable[str]) -> list[str]:
    """The part of `streams` the identity may watch (for lists and partial views)."""
    request[CHECKED] = True
    identity = identity_of(request)
    return [s for s in streams if identity is not None and identity.may_watch(s)]


def visible_items(
    request: web.Request, items: Iterable[T], streams_of: Callable[[T], Iterable[str]]
) -> list[tuple[T, list[str]]]:
    """For list routes: each item with the part of its streams the identity may watch; items
    with none are left out. An empty list counts as checked too (it names no stream)."""
    request[CHECKED] = True
    shown = ((item, visible_streams(request, streams_of(item))) for item in items)
    return [(item, visible) for item, visible in shown if visible]


def unchecked(request: web.Request, decision: Access, response: web.StreamResponse) -> bool:
    """True when a handler-scoped route answered success without asking about its streams."""
    if decision.streams is None or decision.streams.where != "handler":
        return False
    if request.get(CHECKED) or response.status >= 400:
        return False
    log.error(
        "[auth] %s %s: the handler never checked its streams (relay.api.scope): refused",
        request.method,
        request.match_info.route.resource and request.match_info.route.resource.canonical,
    )
    return True
