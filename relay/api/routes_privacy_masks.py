"""Privacy masks drawn by operators in the player (docs/privacy.md): list, draw, delete.

A POST names one rung with privacy processing, or none: then the mask covers every such
rung of the stream (the public screen and any other privacy rung alike). The mask is handed
to the rungs' privacy stages first (the next frame each of them processes is masked), then
written to the data folder; the answer comes after both. Every change is audited
(mask_created, mask_deleted).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, ClassVar

import msgspec
from aiohttp import web

from relay.api.access import access, in_path
from relay.api.body import check_body, read_json
from relay.api.errors import json_error
from relay.api.incident_http import who
from relay.api.keys import RELAY
from relay.api.schemas import Body
from relay.config.base import Invalid
from relay.config.privacy import MAX_MASKS, MAX_POINTS
from relay.privacy_store import DrawnMask, MaskStore, new_id
from relay.stream import Stream

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

STORE = web.AppKey("privacy_masks", MaskStore)
WRITING = web.AppKey("privacy_masks_writing", asyncio.Lock)
MAX_BODY = 8 * 1024  # 64 points of two long floats are about 3 KiB

Coordinate = Annotated[float, msgspec.Meta(ge=0, le=1)]


class MaskBody(Body):
    """POST /api/streams/{name}/privacy/masks: {"points": [[x, y], ...], "rung": "360p"}."""

    points: Annotated[
        list[tuple[Coordinate, Coordinate]], msgspec.Meta(min_length=3, max_length=MAX_POINTS)
    ]
    rung: Annotated[str, msgspec.Meta(min_length=1, max_length=32)] | None = None
    codes: ClassVar[dict[str, str]] = {"points": "bad_points", "rung": "bad_rung"}

    def __post_init__(self) -> None:
        for i, (x, y) in enumerate(self.points):
            if not (math.isfinite(x) and math.isfinite(y)):  # NaN passes ge/le
                raise Invalid(f"points[{i}]", "x and y must be numbers 0..1")


def install(app: web.Application) -> MaskStore:
    """The store (loaded from the data folder) handed to every privacy rung, and the routes."""
    relay = app[RELAY]
    store = MaskStore(relay.data_dir)
    store.load(set(relay.streams))
    app[STORE] = store
    app[WRITING] = asyncio.Lock()
    for stream in relay.streams.values():
        hand_over(store, stream)
    app.add_routes(routes)
    return store


def privacy_rungs(stream: Stream) -> list[str]:
    return [e.rung.name for e in stream.encoders if e.privacy is not None]


def hand_over(store: MaskStore, stream: Stream) -> None:
    """Each privacy stage of `stream` gets its drawn polygons (a new tuple: swapped in by
    its encoder thread at its next frame)."""
    for encoder in stream.encoders:
        if encoder.privacy is not None:
            encoder.privacy.draw(store.polygons(stream.name, encoder.rung.name))


OnStream = Callable[[web.Request, Stream], Awaitable[web.Response]]


def on_stream(handler: OnStream) -> Callable[[web.Request], Awaitable[web.Response]]:
    """404 for a stream this relay does not have (the scope check came first)."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        stream = request.app[RELAY].streams.get(name)
        if stream is None:
            return json_error(404, "unknown_stream", f"no stream named {name!r}")
        return await handler(request, stream)

    return wrapped


async def _saved(request: web.Request, stream: Stream, answer: web.Response) -> web.Response:
    """`answer` once the store is on disk (snapshots in the order of the changes, one writer
    at a time); 500 not_saved when the data folder cannot be written. The change applies
    either way: a mask hides from the next frame even when it cannot be kept."""
    store = request.app[STORE]
    async with request.app[WRITING]:
        try:
            await asyncio.to_thread(store.save, store.snapshot())
        except OSError as exc:
            log.error("[stream %s] privacy masks not saved to %s: %s", stream.name, store.path, exc)
            why = f"applied now, but not saved ({exc.strerror or exc}): a restart would undo it"
            return json_error(500, "not_saved", why)
    return answer


@routes.get("/api/streams/{name}/privacy/masks")
@access("operator", streams=in_path("name"))
@on_stream
async def list_masks(request: web.Request, stream: Stream) -> web.Response:
    """{"masks": [...], "rungs": {"360p": [ids of the masks on it]}, limits}."""
    masks = request.app[STORE].masks(stream.name)
    rungs = {r: [m.id for m in masks if m.applies_to(r)] for r in privacy_rungs(stream)}
    return web.json_response(
        {
            "masks": [m.view() for m in masks],
            "rungs": rungs,
            "max_masks": MAX_MASKS,
            "max_points": MAX_POINTS,
        }
    )


@routes.post("/api/streams/{name}/privacy/masks")
@access("operator", streams=in_path("name"))
@on_stream
async def create_mask(request: web.Request, stream: Stream) -> web.Response:
    """A polygon -> 201 with the mask once it is saved and the rungs mask with it."""
    if (request.content_length or 0) > MAX_BODY:
        return json_error(413, "body_too_large", f"a mask's body is at most {MAX_BODY} bytes")
    body = check_body(await read_json(request), MaskBody)
    rungs = privacy_rungs(stream)
    if not rungs:
        why = f"{stream.name!r} has no rung with privacy processing (config: privacy = {{...}})"
        return json_error(409, "no_privacy_rung", why)
    if body.rung is not None and body.rung not in rungs:
        why = f"rung {body.rung!r} of {stream.name!r} has no privacy processing; one of: "
        return json_error(409, "no_privacy_rung", why + ", ".join(rungs))
    store = request.app[STORE]
    for rung in rungs if body.rung is None else [body.rung]:
        config = stream.config.privacy(rung)
        count = len(store.polygons(stream.name, rung)) + (len(config.masks) if config else 0)
        if count >= MAX_MASKS:
            why = f"rung {rung!r} has {count} masks already (at most {MAX_MASKS}): delete one"
            return json_error(400, "too_many_masks", why)
    author, where = who(request)
    created = datetime.now(UTC).isoformat(timespec="milliseconds")
    points = tuple((x, y) for x, y in body.points)
    mask = DrawnMask(new_id(), stream.name, body.rung, author, created, points)
    store.add(mask)
    hand_over(store, stream)
    _audit(request, "mask_created", mask, author, where)
    return await _saved(request, stream, web.json_response(mask.view(), status=201))


@routes.delete("/api/streams/{name}/privacy/masks/{id}")
@access("operator", streams=in_path("name"))
@on_stream
async def delete_mask(request: web.Request, stream: Stream) -> web.Response:
    mask_id = request.match_info["id"][:64]
    store = request.app[STORE]
    mask = store.remove(stream.name, mask_id)
    if mask is None:
        return json_error(404, "unknown_mask", f"no drawn mask {mask_id!r} on {stream.name!r}")
    hand_over(store, stream)
    author, where = who(request)
    _audit(request, "mask_deleted", mask, author, where)
    return await _saved(request, stream, web.Response(status=204))


def _audit(request: web.Request, event: str, mask: DrawnMask, author: str, where: str) -> None:
    request.app[RELAY].audit.append(
        event,
        author,
        where,
        stream=mask.stream,
        rung=mask.rung,
        id=mask.id,
        author=mask.author,
        points=[list(p) for p in mask.points],
    )
