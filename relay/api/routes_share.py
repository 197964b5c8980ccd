"""Share links: operators make, list and revoke links that let someone watch one stream."""

from __future__ import annotations

from aiohttp import web

from relay.api.access import BY_HANDLER, access, identity_of, in_body
from relay.api.body import check_body, read_json
from relay.api.errors import json_error
from relay.api.keys import AUTH, RELAY
from relay.api.public_rung import unshareable as why_unshareable
from relay.api.schemas import ShareBody
from relay.api.scope import require_streams, visible_streams
from relay.auth.shares import ShareError

routes = web.RouteTableDef()


@routes.post("/api/share")
@access("operator", streams=in_body("stream"))
async def create_share(request: web.Request) -> web.Response:
    """{"stream", "expires_in_s"} → 201 {"id", "url", "expires"}; {"kind": "kiosk", "streams":
    [...], "title"?, "cycle_s"?} makes a kiosk link (relay/api/routes_kiosk.py)."""
    identity = identity_of(request)
    assert identity is not None
    body = check_body(await read_json(request), ShareBody)
    relay = request.app[RELAY]
    denied = [s for s in body.streams if not identity.may_watch(s)]
    if denied:  # a kiosk's other streams (the scope check saw "stream" only)
        return json_error(
            403, "forbidden", f"{identity.name} may not watch {denied[0]!r}, so it cannot share it"
        )
    for stream in body.streams:
        if stream not in relay.streams:
            return json_error(404, "unknown_stream", f"no stream named {stream!r}")
        unshareable = why_unshareable(relay.streams[stream].config)
        if unshareable:
            return json_error(409, "no_public_rendition", unshareable)
    shares = request.app[AUTH].shares
    try:
        link = shares.create(
            body.streams[0],
            body.expires_in_s,
            identity.name,
            kind=body.kind,
            streams=tuple(body.streams),
            title=body.title,
            cycle_s=body.cycle_s,
        )
    except ShareError as exc:
        return json_error(409, "too_many_links", str(exc))
    if not await shares.save():
        return json_error(500, "not_saved", "the link could not be stored; try again")
    await relay.audit.record(
        "share_created",
        identity.name,
        request.remote or "?",
        share=link.id,
        kind=link.kind,
        stream=link.stream,
        streams=list(link.watches()),
        expires=link.expires,
    )
    url = f"{request.url.origin()}{link.path(shares.token(link))}"
    return web.json_response(
        {
            "id": link.id,
            "kind": link.kind,
            "url": url,
            "expires": link.expires,
            "stream": link.stream,
            "streams": list(link.watches()),
        },
        status=201,
    )


@routes.get("/api/share")
@access("operator", streams=BY_HANDLER)
async def list_shares(request: web.Request) -> web.Response:
    """The links not yet expired, for the streams this identity may watch."""
    identity = identity_of(request)
    assert identity is not None
    shares = request.app[AUTH].shares
    active = shares.active()
    allowed = set(visible_streams(request, {s for x in active for s in x.watches()}))
    links = [x.public(shares.token(x)) for x in active if allowed.issuperset(x.watches())]
    return web.json_response({"links": links}, headers={"Cache-Control": "no-store"})


@routes.delete("/api/share/{id}")
@access("operator", streams=BY_HANDLER)
async def revoke_share(request: web.Request) -> web.Response:
    """Revokes a link: its browser sessions end and its viewers are disconnected now."""
    identity = identity_of(request)
    assert identity is not None
    auth, relay = request.app[AUTH], request.app[RELAY]
    link = auth.shares.get(request.match_info["id"])
    if link is None:
        return json_error(404, "unknown_share", "no such share link")
    require_streams(request, link.watches())
    auth.shares.revoke(link.id)
    if not await auth.shares.save():
        return json_error(500, "not_saved", "the revocation could not be stored; try again")
    ended = auth.sessions.end_all("share", link.id)
    await auth.sessions.save()
    who = f"share:{link.id}"
    for session_id in [s.id for s in relay.sessions.sessions.values() if s.who == who]:
        await relay.sessions.close(session_id, "share link revoked")
    await relay.audit.record(
        "share_revoked",
        identity.name,
        request.remote or "?",
        share=link.id,
        stream=link.stream,
        streams=list(link.watches()),
        sessions_ended=ended,
    )
    return web.json_response({"id": link.id, "revoked": True})
