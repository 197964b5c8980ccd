"""The kiosk: a screen in public (the city hall, a press room) that a kiosk link opens.

A kiosk link is a share link of kind "kiosk" (relay/api/routes_share.py): long-lived,
revocable, for one or several streams, and like every share link it gets each stream's
public rendition only (relay/api/public_rung.py). Its address ``/kiosk/<token>`` is the page
itself, so a screen that reboots, or whose browser session ran out, logs itself in again by
reloading the page it shows; a revoked or expired link gets 401 and the page goes dark.
"""

from __future__ import annotations

from aiohttp import web

from relay.api.access import NO_STREAM, access, identity_of
from relay.api.errors import json_error
from relay.api.keys import AUTH, RELAY
from relay.api.routes_auth import _landing, _start_session, landing_throttled
from relay.api.routes_web import web_dir
from relay.auth.logins import SessionsFull
from relay.auth.shares import ShareError, ShareLink

routes = web.RouteTableDef()


@routes.get("/kiosk/{token}")
@access("public")
async def kiosk_page(request: web.Request) -> web.StreamResponse:
    """The kiosk page for the link's own session; anyone else first gets a session of the
    link (a page that reloads itself, as /s/{token} does), if the link still grants one."""
    auth = request.app[AUTH]
    token = request.match_info["token"]
    try:
        link = auth.shares.verify(token)
    except ShareError as exc:
        auth.failures.failed("share", request.remote or "?", str(exc), who="share:?")
        return json_error(401, "share_link_invalid", str(exc))
    if link.kind != "kiosk":
        return json_error(404, "not_a_kiosk", "this share link opens the player: /s/<token>")
    identity = identity_of(request)
    if identity is not None and identity.kind == "share" and identity.share_id == link.id:
        return web.FileResponse(web_dir() / "kiosk.html", headers={"Cache-Control": "no-store"})
    throttled = landing_throttled(request)
    if throttled is not None:
        return throttled
    response = _landing(link.path(token))
    try:
        await _start_session(
            request,
            response,
            "share",
            link.id,
            "kiosk",
            cap=link.expires,
            streams=list(link.watches()),
        )
    except SessionsFull as exc:
        return json_error(503, "full", str(exc), headers={"Retry-After": "60"})
    return response


@routes.get("/api/kiosk")
@access("viewer", streams=NO_STREAM)  # names only the link's own streams
async def kiosk_config(request: web.Request) -> web.Response:
    """What the kiosk page shows: title, brigade, the streams with their public rendition,
    the cycle. 404 for anyone but a kiosk link's session."""
    identity = identity_of(request)
    link = _kiosk_link(request)
    if identity is None or link is None:
        return json_error(404, "not_a_kiosk", "only a kiosk link's screen has a kiosk")
    relay = request.app[RELAY]
    streams = [
        {"name": name, "rendition": relay.streams[name].config.public_rendition or "auto"}
        for name in link.watches()
        if name in relay.streams
    ]
    body = {
        "id": link.id,
        "title": link.title,
        "brigade": relay.config.server.brigade,
        "streams": streams,
        "cycle_s": link.cycle_s,
        "expires": link.expires,
    }
    return web.json_response(body, headers={"Cache-Control": "no-store"})


def _kiosk_link(request: web.Request) -> ShareLink | None:
    identity = identity_of(request)
    if identity is None or identity.kind != "share" or identity.share_id is None:
        return None
    link = request.app[AUTH].shares.get(identity.share_id)
    return link if link is not None and link.kind == "kiosk" else None
