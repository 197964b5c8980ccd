"""Live annotations over a stream's picture (docs/annotations.md): operators mark, every
viewer of the stream follows the marks as server-sent events.

SSE, as the telemetry (relay.api.routes_telemetry): the same login, token, TLS and access
rule as the page, EventSource reconnects by itself, and the viewer's peer connection stays
as it is. Share links (the city's screen, kiosks) get only the marks made `public`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from relay.annotations.board import MAX_PER_STREAM, AnnotationBoard, BoardFull
from relay.annotations.model import AnnotationBody
from relay.annotations.record import audit, entry, keep
from relay.api.access import BY_HANDLER, access, identity_of, in_path
from relay.api.body import check_body, read_json
from relay.api.errors import SECURITY_HEADERS, json_error
from relay.api.incident_http import json_errors, manager, who
from relay.api.keys import RELAY
from relay.api.public_rung import public_only
from relay.api.routes_telemetry import _still_allowed as still_allowed
from relay.api.scope import require_streams, visible_streams
from relay.recording.incident import Incident

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

BOARD = web.AppKey("annotations", AnnotationBoard)
CHECK_S = 1.0  # an event stream looks at its viewer's access at least this often
KEEPALIVE_S = 15.0  # a comment line: a viewer that went away is noticed by the write


def install(app: web.Application) -> AnnotationBoard:
    """The board (one per app, for the relay's streams), its routes and its shutdown.
    The integrator sets `board.ground_position` (relay.annotations.ground) when the
    camera footprint's projection is there."""
    board = AnnotationBoard(app[RELAY].streams)
    app[BOARD] = board

    async def end_followers(app: web.Application) -> None:
        board.close()

    app.on_shutdown.append(end_followers)
    app.add_routes(routes)
    return board


OnBoard = Callable[[web.Request, AnnotationBoard, str], Awaitable[web.StreamResponse]]


def on_board(handler: OnBoard) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Calls `handler` with the board and the path's stream; 404 for a stream this relay
    does not have (under @access: the scope check comes first)."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        board, name = request.app[BOARD], request.match_info["name"]
        if not board.knows(name):
            return json_error(404, "unknown_stream", f"no stream named {name!r}")
        return await handler(request, board, name)

    return wrapped


def _views(request: web.Request, board: AnnotationBoard, stream: str) -> list[dict[str, Any]]:
    """The live marks this identity may see: share links only the public ones."""
    identity = identity_of(request)
    only_public = identity is None or public_only(identity)
    now = board.clock()
    return [m.view(now) for m in board.current(stream) if m.public or not only_public]


@routes.post("/api/streams/{name}/annotations")
@access("operator", streams=in_path("name"))
@on_board
async def create_annotation(
    request: web.Request, board: AnnotationBoard, stream: str
) -> web.Response:
    """A mark (relay.annotations.model.AnnotationBody) -> 201 with it; 409 when the stream
    has its maximum of marks."""
    body = check_body(await read_json(request), AnnotationBody)
    name, where = who(request)
    try:
        mark = board.add(stream, body, name, request.app[RELAY].streams[stream].telemetry.last)
    except BoardFull as exc:
        return json_error(409, "too_many_annotations", str(exc))
    # Viewers were told before the disk is asked: the fsyncs below do not delay the mark.
    item = entry("create", stream, name, [mark])
    incidents = await keep(manager(request), item)
    audit(request.app[RELAY].audit, "annotation_created", name, where, item, incidents)
    view = mark.view(board.clock())
    view["incidents"] = incidents
    return web.json_response(view, status=201)


@routes.get("/api/streams/{name}/annotations")
@access("viewer", streams=in_path("name"))
@on_board
async def list_annotations(
    request: web.Request, board: AnnotationBoard, stream: str
) -> web.Response:
    return web.json_response({"annotations": _views(request, board, stream), "max": MAX_PER_STREAM})


@routes.delete("/api/streams/{name}/annotations/{id}")
@access("operator", streams=in_path("name"))
@on_board
async def delete_annotation(
    request: web.Request, board: AnnotationBoard, stream: str
) -> web.Response:
    mark_id = request.match_info["id"][:64]
    mark = board.remove(stream, mark_id)
    if mark is None:
        return json_error(404, "unknown_annotation", f"no live mark {mark_id!r} on {stream!r}")
    await _changed(request, "delete", "annotation_deleted", stream, [mark])
    return web.Response(status=204)


@routes.delete("/api/streams/{name}/annotations")
@access("operator", streams=in_path("name"))
@on_board
async def clear_annotations(
    request: web.Request, board: AnnotationBoard, stream: str
) -> web.Response:
    """Removes every live mark of the stream -> 200 {"cleared": n}."""
    removed = board.clear(stream)
    await _changed(request, "clear", "annotation_cleared", stream, removed)
    return web.json_response({"cleared": len(removed)})


async def _changed(
    request: web.Request, action: str, event: str, stream: str, marks: list[Any]
) -> None:
    name, where = who(request)
    item = entry(action, stream, name, marks)
    incidents = await keep(manager(request), item)
    audit(request.app[RELAY].audit, event, name, where, item, incidents)


def _event(marks: list[dict[str, Any]]) -> bytes:
    return b"data: " + msgspec.json.encode({"annotations": marks}) + b"\n\n"


@routes.get("/api/streams/{name}/annotations/events")
@access("viewer", streams=in_path("name"))
@on_board
async def annotation_events(
    request: web.Request, board: AnnotationBoard, stream: str
) -> web.StreamResponse:
    """text/event-stream: the stream's visible marks now, then again on every change (a
    new mark, a deletion, a clear, an expiry), each event the whole set."""
    try:
        follower = board.follow(stream)
    except BoardFull as exc:
        return json_error(503, "too_many_followers", str(exc))
    response = web.StreamResponse(
        headers={
            **SECURITY_HEADERS,  # set now: an event stream's headers are sent before it ends
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # a reverse proxy must not hold events back
        }
    )
    try:
        await response.prepare(request)
        sent = _views(request, board, stream)
        await response.write(_event(sent))
        quiet = 0.0
        while not follower.closed:
            expiry = board.next_expiry_in(stream)
            wait = CHECK_S if expiry is None else min(CHECK_S, expiry + 0.01)
            started = board.clock()
            await follower.wait(wait)
            if follower.closed or not still_allowed(request):
                break
            marks = _views(request, board, stream)
            if _ids(marks) != _ids(sent):
                await response.write(_event(marks))
                sent, quiet = marks, 0.0
                continue
            quiet += board.clock() - started
            if quiet >= KEEPALIVE_S:
                await response.write(b": keepalive\n\n")
                quiet = 0.0
    except ConnectionError:  # the viewer went away
        pass
    finally:
        board.unfollow(stream, follower)
    return response


def _ids(marks: list[dict[str, Any]]) -> list[str]:
    return [m["id"] for m in marks]


def _kept(incident: Incident) -> tuple[list[dict[str, Any]], int]:
    with incident.lock:  # copied under the lock a saving thread holds
        kept = list(incident.manifest.get("annotations", []))
        return kept, int(incident.manifest.get("annotations_dropped", 0))


@routes.get("/api/incidents/{id}/annotations")
@access("operator", streams=BY_HANDLER)
@json_errors
async def incident_annotations(request: web.Request) -> web.Response:
    """The marks kept with an incident (create, delete, clear), of the streams the identity
    may watch; 403 when it may watch none of the incident's streams."""
    incident = manager(request).get(request.match_info["id"])
    recorded = list(incident.manifest["recordings"])
    visible = visible_streams(request, recorded)
    if not visible:
        require_streams(request, recorded)  # raises the 403
    kept, dropped = await asyncio.to_thread(_kept, incident)
    shown = [e for e in kept if e.get("stream") in visible]
    return web.json_response({"annotations": shown, "dropped": dropped})
