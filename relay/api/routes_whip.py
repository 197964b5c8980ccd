"""WHIP publishing: POST an SDP offer to a whip: stream, get the answer and a session Location;
DELETE ends publishing."""

from __future__ import annotations

from aiohttp import web

from relay.api.access import access
from relay.api.errors import json_error
from relay.api.keys import RELAY
from relay.api.sdp_exchange import answer_created, busy, caller_name, read_offer, session_routes
from relay.sources.redact import redact_url
from relay.sources.whip import AlreadyPublishing
from relay.webrtc.peers import BusyError, OfferError

routes = web.RouteTableDef()


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
    offer = await read_offer(request)
    if isinstance(offer, web.Response):
        return offer
    remote = request.remote or "?"
    try:
        session, answer = await relay.publishers.create_publisher(
            stream, stream.whip, offer, remote
        )
    except AlreadyPublishing as exc:
        return json_error(409, "already_publishing", f"{exc}; DELETE its session first")
    except BusyError as exc:
        return busy(exc)
    except OfferError as exc:
        return json_error(400, "bad_offer", str(exc))
    relay.audit.append(
        "publish_start", caller_name(request), remote, stream=name, session=session.id[:6]
    )
    return answer_created(request, "whip", name, session.id, answer)


# DELETE needs the same right as publishing: the WHIP draft authenticates DELETE like the
# POST, and ending a live picture is as weighty as starting one.
session_routes(
    routes,
    "whip",
    "publish",
    manager=lambda relay: relay.publishers,
    may_end=lambda request, session: True,
)
