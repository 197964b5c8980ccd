"""The WebSocket/MSE fallback: GET /api/streams/{name}/mse upgraded to a WebSocket that
carries the rung as fragmented MP4 (docs/fallback.md).

For viewers whose network lets no WebRTC through (UDP blocked, no TURN). The same access
decision as a WHEP offer (a viewer of the stream), the same rendition rule (share links get
the public rendition, relay.api.public_rung), the same start rung for "auto", the same
limits; the browser authenticates with its session cookie (a WebSocket cannot set headers),
other clients with a Bearer token. Messages to the browser: one JSON text {"type": "init",
"codec", "width", "height", "rendition"} before each init segment, then binary: the init
segment, then one fragment per frame. The browser sends nothing; it closes when done.
"""

from __future__ import annotations

import asyncio
import logging
import time
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from relay.api.access import Identity, access, identity_of
from relay.api.errors import json_error
from relay.api.keys import AUTH, RELAY
from relay.api.public_rung import pick_rendition
from relay.auth.shares import ShareError
from relay.fanout.start import client_key, start_rung
from relay.mse.hub import MseHub
from relay.mse.viewer import MseViewer

log = logging.getLogger(__name__)

routes = web.RouteTableDef()
MSE = web.AppKey("mse", MseHub)
SOCKETS = web.AppKey("mse_sockets", set[web.WebSocketResponse])
HEARTBEAT_S = 10.0  # a browser that vanished without a close is noticed within this
CHECK_EVERY_S = 1.0  # a share link that expired or was revoked ends its viewers this fast
SHARE_PREFIX = "share:"


def install(app: web.Application) -> None:
    """Adds the route, the viewers' hub and their closing at shutdown."""
    app[MSE] = MseHub()
    app[SOCKETS] = set()
    app.add_routes(routes)
    app.on_shutdown.append(_close_all)


async def _close_all(app: web.Application) -> None:
    sockets: set[web.WebSocketResponse] = app[SOCKETS]
    await asyncio.gather(*(ws.close() for ws in list(sockets)), return_exceptions=True)


@routes.get("/api/streams/{name}/mse")
@access("viewer", stream_key="name")
async def mse_viewer(request: web.Request) -> web.StreamResponse:
    relay, hub = request.app[RELAY], request.app[MSE]
    identity = identity_of(request)
    assert identity is not None
    name = request.match_info["name"]
    stream = relay.streams.get(name)
    if stream is None:
        return json_error(404, "unknown_stream", f"no stream named {name!r}")
    origin = request.headers.get("Origin")
    if origin and urlsplit(origin).netloc != request.host:
        # A page of another site would ride on the viewer's cookie (cross-site WebSocket).
        return json_error(403, "cross_origin", f"a WebSocket from {origin} may not watch")
    picked = pick_rendition(stream, identity, request.query.get("rendition", "auto"))
    if isinstance(picked, web.Response):
        return picked
    rendition, ladder = picked
    if len(ladder) > 1:  # "auto": where this client's link carried it last time, as WHEP
        try:
            key = client_key(identity.name, request.remote or "?", request.query.get("client"))
        except ValueError as exc:
            return json_error(400, "bad_client", str(exc))
        rendition = start_rung(ladder, relay.sessions.estimates.recall(key))
    too_many = _over_limits(request, name, identity.name)
    if too_many:
        return too_many
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, max_msg_size=4096)
    if not ws.can_prepare(request).ok:
        return json_error(400, "websocket_required", "this route speaks WebSocket only")
    await ws.prepare(request)
    remote = request.remote or "?"
    viewer = hub.join(name, rendition, identity.name, remote)
    request.app[SOCKETS].add(ws)
    relay.audit.append(
        "watch_start", identity.name, remote, stream=name, rendition=rendition.name,
        session=viewer.name, kind=identity.kind, transport="mse",
    )  # fmt: skip
    reason = await _serve(request, ws, viewer, identity)
    request.app[SOCKETS].discard(ws)
    hub.leave(viewer)
    relay.audit.append(
        "watch_stop", identity.name, remote, stream=name, rendition=rendition.name,
        session=viewer.name, reason=reason, transport="mse",
        seconds=round(time.monotonic() - viewer.created, 1),
    )  # fmt: skip
    log.info(
        "[mse %s] closed: %s (%d packets sent, %d dropped)",
        viewer.name, reason, viewer.delivered, viewer.dropped,
    )  # fmt: skip
    return ws


async def _serve(
    request: web.Request, ws: web.WebSocketResponse, viewer: MseViewer, identity: Identity
) -> str:
    """Runs the viewer until the browser closes, a send fails or the right to watch ends;
    returns why it ended."""
    sender = asyncio.ensure_future(viewer.run(ws.send_bytes, ws.send_json))
    watch = asyncio.ensure_future(_while_allowed(request, identity))
    reader = asyncio.ensure_future(_drain(ws))
    done, _ = await asyncio.wait({sender, watch, reader}, return_when=asyncio.FIRST_COMPLETED)
    for task in (sender, watch, reader):
        task.cancel()
    viewer.close()
    reason = "closed by viewer"
    if watch in done and not watch.cancelled():
        reason = watch.result()
    elif sender in done and not sender.cancelled():
        failed = sender.exception()
        reason = f"send failed: {failed}" if failed else "rendition ended"
    await ws.close()
    return reason


async def _drain(ws: web.WebSocketResponse) -> None:
    """Reads what the browser sends (nothing is expected) until it closes."""
    async for msg in ws:
        if msg.type == WSMsgType.ERROR:
            return


async def _while_allowed(request: web.Request, identity: Identity) -> str:
    """Returns when a share link's viewer may watch no more (expired, revoked)."""
    if not identity.name.startswith(SHARE_PREFIX):
        await asyncio.Event().wait()  # other identities end with their WebSocket
    shares = request.app[AUTH].shares
    while True:
        await asyncio.sleep(CHECK_EVERY_S)
        link = shares.get(identity.name.removeprefix(SHARE_PREFIX))
        try:
            if link is None:
                raise ShareError("this share link is gone")
            shares.check(link)
        except ShareError as exc:
            return f"share link: {exc}"


def _over_limits(request: web.Request, stream: str, who: str) -> web.Response | None:
    """The limits of WHEP viewers, counted over both transports."""
    relay, hub = request.app[RELAY], request.app[MSE]
    limits = relay.config.limits
    if relay.sessions.count(stream) + hub.count(stream) >= limits.max_viewers_per_stream:
        return json_error(503, "full", f"stream {stream!r} has its maximum of viewers")
    if relay.sessions.count() + hub.count() >= limits.max_viewers:
        return json_error(503, "full", "the relay has its maximum of viewers")
    own = sum(1 for s in relay.sessions.sessions.values() if s.who == who) + hub.count(who=who)
    if own >= limits.max_viewers_per_identity:
        return json_error(
            429, "too_many_viewers", f"{who} watches with {own} viewers already",
            headers={"Retry-After": "10"},
        )  # fmt: skip
    return None
