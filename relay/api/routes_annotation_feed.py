"""Several streams' marks on one event stream: the wall (up to nine tiles) and the map follow
every stream they show (docs/annotations.md).

One connection for all of them, as /api/map/events does for telemetry: a browser opens at
most six HTTP/1.1 connections to a host, and one event stream per tile would take them all.
Each event is one stream's whole set of visible marks (share links: the public ones), sent
when that set changes, so a slow viewer skips states instead of queueing them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import web

from relay.annotations.board import AnnotationBoard, BoardFull, Follower
from relay.api.access import access, in_query
from relay.api.errors import SECURITY_HEADERS, json_error
from relay.api.routes_annotations import BOARD, CHECK_S, KEEPALIVE_S
from relay.api.routes_annotations import _ids as ids
from relay.api.routes_annotations import _views as views
from relay.api.routes_telemetry import _event as event
from relay.api.routes_telemetry import _still_allowed as still_allowed

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

MAX_STREAMS = 64  # as /api/map/events


async def _relay_changes(follower: Follower, wake: asyncio.Event) -> None:
    """One stream's change signal onto the connection's shared one."""
    while not follower.closed:
        await follower.wait(3600.0)
        wake.set()


def _wait_s(board: AnnotationBoard, names: list[str]) -> float:
    """Until the next expiry among the streams (an expiry tells nobody by itself), at most
    CHECK_S (the viewer's access is looked at that often)."""
    expiries = [e for e in (board.next_expiry_in(n) for n in names) if e is not None]
    return min([CHECK_S, *(e + 0.01 for e in expiries)])


@routes.get("/api/annotations/events")
@access("viewer", streams=in_query("stream"))
async def annotation_feed(request: web.Request) -> web.StreamResponse:
    """?stream=a&stream=b: text/event-stream of {"stream", "annotations"}: each stream's
    visible marks now, then again whenever they change (a new mark, a deletion, a clear, an
    expiry)."""
    board = request.app[BOARD]
    names = list(dict.fromkeys(request.query.getall("stream", [])))
    if not 1 <= len(names) <= MAX_STREAMS:
        return json_error(400, "bad_stream", f"name 1 to {MAX_STREAMS} streams (?stream=)")
    unknown = [n for n in names if not board.knows(n)]
    if unknown:
        return json_error(404, "unknown_stream", f"no stream named {unknown[0]!r}")
    followers: dict[str, Follower] = {}
    try:
        for name in names:
            followers[name] = board.follow(name)
    except BoardFull as exc:
        for name, follower in followers.items():
            board.unfollow(name, follower)
        return json_error(503, "too_many_followers", str(exc))
    wake = asyncio.Event()
    tasks = [asyncio.create_task(_relay_changes(f, wake)) for f in followers.values()]
    response = web.StreamResponse(
        headers={
            **SECURITY_HEADERS,  # set now: an event stream's headers are sent before it ends
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # a reverse proxy must not hold events back
        }
    )
    sent: dict[str, list[dict[str, Any]]] = {}
    try:
        await response.prepare(request)
        written = time.monotonic()  # a comment line after KEEPALIVE_S without an event
        while not any(f.closed for f in followers.values()):
            for name in names:
                marks = views(request, board, name)
                if name not in sent or ids(marks) != ids(sent[name]):
                    await response.write(event({"stream": name, "annotations": marks}))
                    sent[name], written = marks, time.monotonic()
            try:
                await asyncio.wait_for(wake.wait(), _wait_s(board, names))
            except TimeoutError:
                pass
            wake.clear()
            if not still_allowed(request):
                break
            if time.monotonic() - written >= KEEPALIVE_S:
                await response.write(b": keepalive\n\n")
                written = time.monotonic()
    except ConnectionError:  # the viewer went away
        pass
    finally:
        for task in tasks:
            task.cancel()
        for name, follower in followers.items():
            board.unfollow(name, follower)
        await asyncio.gather(*tasks, return_exceptions=True)
    return response
