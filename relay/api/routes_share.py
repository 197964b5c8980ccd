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
    """{"stream", "expires_in_s"} → 201 {"id", "url", "expires"}."""
    identity = identity_of(request)
    assert identity is not None
    body = check_body(await read_json(request), ShareBody)
    stream, expires_in = body.stream, body.expires_in_s
    if stream not in request.app[RELAY].streams:
        return json_error(404, "unknown_stream", f"no stream named {stream!r}")
    unshareable = why_unshareable(request.app[RELAY].streams[stream].config)
    if unshareable:
        return json_error(409, "no_public_rendition", unshareable)
    if not identity.may_watch(stream):
        return json_error(
            403, "forbidden", f"{identity.name} may not watch {stream!r}, so it cannot share it"
        )
    shares = request.app[AUTH].shares
    try:
        link = shares.create(stream, expires_in, identity.name)
    except ShareError as exc:
        return json_error(409, "too_many_links", str(exc))
    if not await shares.save():
        return json_error(500, "not_saved", "the link could not be stored; try again")
    await request.app[RELAY].audit.record(
        "share_created",
        identity.name,
        request.remote or "?",
        share=link.id,
        stream=stream,
        expires=link.expires,
    )
    token = shares.token(link)
    url = f"{request.url.origin()}/s/{token}"
    return web.json_response(
        {"id": link.id, "url": url, "expires": link.expires, "stream": stream}, status=201
    )


@routes.get("/api/share")
@access("operator", streams=BY_HANDLER)
async def list_shares(request: web.Request) -> web.Response:
    """The links not yet expired, for the streams this identity may watch."""
    identity = identity_of(request)
    assert identity is not None
    shares = request.app[AUTH].shares
    active = shares.active()
    allowed = set(visible_streams(request, {x.stream for x in active}))
    links = [x.public(shares.token(x)) for x in active if x.stream in allowed]
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
    require_streams(request, [link.stream])
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
        sessions_ended=ended,
    )
    return web.json_response({"id": link.id, "revoked": True})
