"""WHIP publishing: POST an SDP offer to a whip: stream, get the answer and a session Location;
DELETE ends publishing."""

from __future__ import annotations

from aiohttp import web

from relay.api.access import access, identity_of
from relay.api.body import read_text
from relay.api.errors import json_error
from relay.api.keys import RELAY
from relay.api.sdp_exchange import SDP, candidate_problem, preflight, trickle_not_supported
from relay.sources.redact import redact_url
from relay.sources.whip import AlreadyPublishing
from relay.webrtc.sessions import OfferError

routes = web.RouteTableDef()


def _who(request: web.Request) -> str:
    """The publisher's name for the audit log (its token's name)."""
    identity = identity_of(request)
    return identity.name if identity is not None else "anonymous"


@routes.post("/whip/{stream}")
@access("publish", stream_key="stream")
async def whip_offer(request: web.Request) -> web.Response:
    relay = request.app[RELAY]
    name = request.match_info["stream"]
    stream = relay.streams.get(name)
    if stream is None:
        return json_error(404, "unknown_stream", f"no stream named {name!r}")
    if stream.whip is None:
        return json_error(
            409,
            "not_a_whip_stream",
            f"stream {name!r} takes its pictures from {redact_url(stream.config.source)!r}; "
            'only a stream configured with source = "whip:" accepts publishers',
        )
    offer = await read_text(request, SDP)
    problem = candidate_problem(offer)
    if problem is not None:
        return json_error(400, "bad_offer", problem)
    remote = request.remote or "?"
    try:
        session, answer = await relay.publishers.create_publisher(
            stream, stream.whip, offer, remote
        )
    except AlreadyPublishing as exc:
        return json_error(409, "already_publishing", f"{exc}; DELETE its session first")
    except OfferError as exc:
        return json_error(400, "bad_offer", str(exc))
    relay.audit.append("publish_start", _who(request), remote, stream=name, session=session.id[:6])
    location = f"/whip/{name}/{session.id}"
    return web.Response(
        status=201,
        text=answer,
        content_type=SDP,
        headers={"Location": location, "ETag": f'"{session.id}"'},
    )


@routes.delete("/whip/{stream}/{session}")
@access("publish", stream_key="stream")
async def whip_delete(request: web.Request) -> web.Response:
    # The same right as publishing: the WHIP draft authenticates DELETE like the POST, and
    # ending a live picture is as weighty as starting one.
    relay = request.app[RELAY]
    session_id = request.match_info["session"]
    session = relay.publishers.sessions.get(session_id)
    if session is None or session.stream != request.match_info["stream"]:
        return json_error(404, "unknown_session", "no such session (ended already?)")
    await relay.publishers.close(session_id, "DELETE by client", who=_who(request))
    return web.Response(status=200)


@routes.patch("/whip/{stream}/{session}")
@access("publish", stream_key="stream")
async def whip_patch(request: web.Request) -> web.Response:
    return trickle_not_supported()


@routes.options("/whip/{stream}")
@access("public")
async def whip_options(request: web.Request) -> web.Response:
    # Public: a browser's CORS preflight carries no credentials.
    return preflight()
